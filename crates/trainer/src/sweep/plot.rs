//! Plots as self-contained SVG (no font system, no extra crate): a metric per variant with its seed spread, and
//! learning curves per variant.

use std::fmt::Write;

const W: f64 = 760.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// (min, max) of `values` with a margin; a flat range is widened.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    (lo - pad, hi + pad)
}

fn frame(title: &str, y_label: &str, (lo, hi): (f64, f64), svg: &mut String) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(svg, r#"<text x="{}" y="22" font-size="14">{}</text>"#, LEFT, escape(title));
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, TOP, H - BOTTOM);
    let _ = write!(svg, r#"<path d="M{x0},{y0} V{y1} H{x1}" stroke="black" fill="none"/>"#);
    for i in 0..=4 {
        let v = lo + (hi - lo) * i as f64 / 4.0;
        let y = y1 - (y1 - y0) * i as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<path d="M{x0},{y} H{x1}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{v:.3}</text>"##,
            x0 - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        svg,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})">{}</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(y_label)
    );
}

fn y_of(v: f64, (lo, hi): (f64, f64)) -> f64 {
    (H - BOTTOM) - (H - BOTTOM - TOP) * (v - lo) / (hi - lo)
}

/// One dot (mean) and error bar (± std) per label; the first label (the baseline) also as a dashed line.
pub fn error_bars(title: &str, metric: &str, points: &[(String, f64, f64)]) -> String {
    let span = range(points.iter().flat_map(|(_, m, s)| [m - s, m + s]));
    let mut svg = String::new();
    frame(title, metric, span, &mut svg);
    let step = (W - LEFT - RIGHT) / points.len().max(1) as f64;
    for (i, (label, mean, std)) in points.iter().enumerate() {
        let x = LEFT + step * (i as f64 + 0.5);
        let (y, lo, hi) = (y_of(*mean, span), y_of(mean - std, span), y_of(mean + std, span));
        let c = COLOURS[i % COLOURS.len()];
        if i == 0 {
            let _ = write!(svg, r#"<path d="M{LEFT},{y} H{}" stroke="{c}" stroke-dasharray="4 3"/>"#, W - RIGHT);
        }
        let _ = write!(
            svg,
            r#"<path d="M{x},{lo} V{hi} M{},{lo} H{} M{},{hi} H{}" stroke="{c}"/>"#,
            x - 5.0,
            x + 5.0,
            x - 5.0,
            x + 5.0
        );
        let _ = write!(svg, r#"<circle cx="{x}" cy="{y}" r="4" fill="{c}"/>"#);
        let _ = write!(
            svg,
            r#"<text x="{x}" y="{}" text-anchor="end" transform="rotate(-30 {x} {})">{}</text>"#,
            H - BOTTOM + 14.0,
            H - BOTTOM + 14.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One polyline per series of (step, value) points, with a legend.
pub fn curves(title: &str, y_label: &str, series: &[(String, Vec<(f64, f64)>)]) -> String {
    let span = range(series.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.1)));
    let max_x = series.iter().flat_map(|(_, pts)| pts.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let mut svg = String::new();
    frame(title, y_label, span, &mut svg);
    let x_of = |x: f64| LEFT + (W - LEFT - RIGHT) * x / max_x;
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">step (max {max_x})</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 20.0
    );
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let path: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y, span))).collect();
        if !path.is_empty() {
            let _ =
                write!(svg, r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="1.5"/>"#, path.join(" "));
        }
        let ly = TOP + 16.0 * i as f64;
        let _ = write!(
            svg,
            r#"<rect x="{}" y="{}" width="10" height="10" fill="{c}"/><text x="{}" y="{}">{}</text>"#,
            W - RIGHT + 10.0,
            ly,
            W - RIGHT + 25.0,
            ly + 9.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}
