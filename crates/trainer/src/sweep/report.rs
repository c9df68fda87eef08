//! A sweep's results, rebuilt from whatever runs have finished: `results.csv` (one row per run), `ablation.md`
//! (per variant: mean ± std over seeds, the paired difference from the baseline and whether it is within seed
//! noise) and `plots/` (the headline metric per variant, and learning curves).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use model::hf::write_atomic;
use serde_json::Value;

use super::plan::{RunSpec, Sweep, run_identity, slug};
use super::plot;
use crate::train::records::{RunSummary, read_summary};

/// Mean of `xs` (NaN when empty).
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (n − 1); 0 for fewer than two values.
pub fn std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The paired difference of `values` from `baseline` over the seeds both have: (mean, std, n).
pub fn paired_delta(values: &BTreeMap<u64, f64>, baseline: &BTreeMap<u64, f64>) -> Option<(f64, f64, usize)> {
    let diffs: Vec<f64> = values.iter().filter_map(|(s, v)| baseline.get(s).map(|b| v - b)).collect();
    (!diffs.is_empty()).then(|| (mean(&diffs), std(&diffs), diffs.len()))
}

/// A paired difference as "Δ ± sd (rel %)", with `~` when |Δ| < 2·SE (or fewer than two pairs).
fn delta_cell(delta: Option<(f64, f64, usize)>, relative_to: Option<f64>) -> String {
    let Some((d, sd, k)) = delta else { return "—".into() };
    let noise = if k < 2 || d.abs() < 2.0 * sd / (k as f64).sqrt() { " ~" } else { "" };
    match relative_to {
        Some(base) => format!("{d:+.4} ± {sd:.4} ({:+.0} %){noise}", 100.0 * d / base),
        None => format!("{d:+.4} ± {sd:.4}{noise}"),
    }
}

/// "m ± s" (or "—" without values).
fn cell(values: &[f64]) -> String {
    if values.is_empty() { "—".into() } else { format!("{:.4} ± {:.4}", mean(values), std(values)) }
}

/// A CSV field, quoted when it needs to be.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// One variant row: its runs' metric values by seed.
struct Group<'a> {
    label: &'a str,
    variant: &'a str,
    changes: &'a [String],
    runs: Vec<(&'a RunSpec, Option<RunSummary>)>,
}

impl Group<'_> {
    fn values(&self, metric: &str) -> BTreeMap<u64, f64> {
        self.runs.iter().filter_map(|(r, s)| metric_value(s.as_ref()?, metric).map(|v| (r.seed, v))).collect()
    }
}

/// Every metric of a finished run: `<set>/<measure>` after the last enabled stage and `<stage>/<set>/<measure>`
/// after each stage (e.g. `contrastive/test/ndcg@10`: what stage 3 started from).
pub fn all_metrics(summary: &RunSummary) -> BTreeMap<String, f64> {
    let mut out = summary.metrics.clone();
    for stage in &summary.stages {
        for (set, ndcg, recall, mrr) in &stage.evals {
            for (measure, v) in [("ndcg@10", ndcg), ("recall@10", recall), ("mrr", mrr)] {
                out.insert(format!("{}/{set}/{measure}", stage.name), *v);
            }
        }
    }
    out
}

/// One metric of a finished run (see [`all_metrics`]).
pub fn metric_value(summary: &RunSummary, metric: &str) -> Option<f64> {
    all_metrics(summary).get(metric).copied()
}

fn groups(sweep: &Sweep) -> Vec<Group<'_>> {
    let mut out: Vec<Group> = Vec::new();
    for run in &sweep.runs {
        let dir = sweep.run_dir(&run.id);
        let summary = read_summary(&dir).filter(|_| run_identity(&dir).as_ref() == Some(&run.recipe_sha256));
        match out.iter_mut().find(|g| g.label == run.label) {
            Some(g) => g.runs.push((run, summary)),
            None => out.push(Group {
                label: &run.label,
                variant: &run.variant,
                changes: &run.changes,
                runs: vec![(run, summary)],
            }),
        }
    }
    out
}

/// Writes `results.csv`, `ablation.md` and the plots; returns the table.
pub fn write(sweep: &Sweep) -> anyhow::Result<String> {
    std::fs::create_dir_all(sweep.out.join("plots")).with_context(|| format!("creating {}", sweep.out.display()))?;
    let groups = groups(sweep);
    write_atomic(&sweep.out.join("results.csv"), results_csv(&groups).as_bytes())?;
    let table = ablation_table(sweep, &groups);
    write_atomic(&sweep.out.join("ablation.md"), table.as_bytes())?;
    write_plots(sweep, &groups)?;
    Ok(table)
}

fn results_csv(groups: &[Group]) -> String {
    let mut keys: Vec<String> = groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter_map(|(_, s)| s.as_ref())
        .flat_map(|s| all_metrics(s).into_keys())
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("id,variant,label,seed,status,seconds,overrides");
    for k in &keys {
        out.push(',');
        out.push_str(&csv_field(k));
    }
    out.push('\n');
    for g in groups {
        for (run, summary) in &g.runs {
            let status = if summary.is_some() { "done" } else { "not done" };
            let seconds = summary.as_ref().map_or(String::new(), |s| format!("{:.1}", s.seconds));
            let fields = [&run.id, g.variant, g.label, &run.seed.to_string(), status, &seconds, &g.changes.join(" ")];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            for k in &keys {
                out.push(',');
                if let Some(v) = summary.as_ref().and_then(|s| metric_value(s, k)) {
                    out.push_str(&v.to_string());
                }
            }
            out.push('\n');
        }
    }
    out
}

fn ablation_table(sweep: &Sweep, groups: &[Group]) -> String {
    let s = &sweep.spec.sweep;
    let metric = &s.metric;
    let base_name = sweep.baseline();
    let baseline = groups.iter().find(|g| g.variant == base_name);
    let base_values = baseline.map(|b| b.values(metric)).unwrap_or_default();
    let mut out = format!(
        "# Sweep `{}`: {metric} after the last enabled stage\n\nBase recipe `{}`, seeds {:?}; ± is the sample std over \
         seeds; Δ is the mean of per-seed differences from `{base_name}` with their std (paired by seed); `~` marks \
         |Δ| < 2·SE, within seed noise. Made by `trainer sweep {}`.\n\n",
        s.name,
        sweep.recipe.display(),
        s.seeds,
        sweep.file.display()
    );
    out.push_str(&format!("| variant | overrides | n | {metric} | Δ vs {base_name} |"));
    if let Some(from) = &s.delta_from {
        out.push_str(&format!(" Δ vs {from} (same runs) |"));
    }
    for c in &s.columns {
        out.push_str(&format!(" {c} |"));
    }
    out.push_str("\n| --- | --- | --- | --- | --- |");
    out.push_str(&" --- |".repeat(s.columns.len() + s.delta_from.is_some() as usize));
    out.push('\n');
    for g in groups {
        let values = g.values(metric);
        let v: Vec<f64> = values.values().copied().collect();
        let done = g.runs.iter().filter(|(_, s)| s.is_some()).count();
        let n = if done == g.runs.len() { done.to_string() } else { format!("{done}/{}", g.runs.len()) };
        let delta = if Some(g.label) == baseline.map(|b| b.label) {
            "—".to_string()
        } else {
            let base_mean = mean(&base_values.values().copied().collect::<Vec<_>>());
            delta_cell(paired_delta(&values, &base_values), Some(base_mean))
        };
        let changes = if g.changes.is_empty() { "—".to_string() } else { format!("`{}`", g.changes.join("` `")) };
        out.push_str(&format!("| {} | {changes} | {n} | {} | {delta} |", g.label, cell(&v)));
        if let Some(from) = &s.delta_from {
            out.push_str(&format!(" {} |", delta_cell(paired_delta(&values, &g.values(from)), None)));
        }
        for c in &s.columns {
            out.push_str(&format!(" {} |", cell(&g.values(c).values().copied().collect::<Vec<_>>())));
        }
        out.push('\n');
    }
    let best = groups
        .iter()
        .flat_map(|g| &g.runs)
        .filter_map(|(r, s)| Some((r, s.as_ref()?, metric_value(s.as_ref()?, metric)?)))
        .max_by(|a, b| a.2.total_cmp(&b.2));
    if let Some((run, summary, value)) = best {
        let export = summary.stages.last().map_or(String::new(), |st| st.export.display().to_string());
        out.push_str(&format!("\nBest single run: `{}` ({metric} {value:.4}), model `{export}`.\n", run.id));
    }
    let seconds: f64 = groups.iter().flat_map(|g| &g.runs).filter_map(|(_, s)| Some(s.as_ref()?.seconds)).sum();
    out.push_str(&format!("Training time of the finished runs: {:.1} min (sum over runs).\n", seconds / 60.0));
    out
}

/// `(step, value)` of `tag` in a run's `metrics.jsonl` (the last value per step).
fn curve(run_dir: &Path, tag: &str) -> BTreeMap<u64, f64> {
    let text = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if let (Some(step), Some(value)) = (v["step"].as_u64(), v.get(tag).and_then(Value::as_f64)) {
            out.insert(step, value);
        }
    }
    out
}

fn write_plots(sweep: &Sweep, groups: &[Group]) -> anyhow::Result<()> {
    let metric = &sweep.spec.sweep.metric;
    let mut points: Vec<(String, f64, f64)> = Vec::new();
    for g in groups {
        let v: Vec<f64> = g.values(metric).values().copied().collect();
        if !v.is_empty() {
            points.push((g.label.to_string(), mean(&v), std(&v)));
        }
    }
    let name = &sweep.spec.sweep.name;
    let svg = plot::error_bars(&format!("{name}: {metric} (mean ± std over seeds)"), metric, &points);
    write_atomic(&sweep.out.join("plots").join(format!("{}.svg", slug(metric))), svg.as_bytes())?;
    let eval_tag = format!("eval/{metric}");
    for (tag, file) in
        [("train/loss", "curves_train-loss.svg".to_string()), (&eval_tag, format!("curves_{}.svg", slug(metric)))]
    {
        let mut series = Vec::new();
        for g in groups {
            let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
            for (run, _) in &g.runs {
                for (step, v) in curve(&sweep.run_dir(&run.id), tag) {
                    by_step.entry(step).or_default().push(v);
                }
            }
            let pts: Vec<(f64, f64)> = by_step.into_iter().map(|(s, v)| (s as f64, mean(&v))).collect();
            series.push((g.label.to_string(), pts));
        }
        let svg = plot::curves(&format!("{name}: {tag} (mean over seeds)"), tag, &series);
        write_atomic(&sweep.out.join("plots").join(file), svg.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_hand_computed_values() {
        assert!((mean(&[1.0, 2.0, 6.0]) - 3.0).abs() < 1e-12);
        // Sample std of 1, 2, 6: sqrt(((−2)² + (−1)² + 3²) / 2) = sqrt(7).
        assert!((std(&[1.0, 2.0, 6.0]) - 7f64.sqrt()).abs() < 1e-12);
        assert_eq!(std(&[5.0]), 0.0);
        let a = BTreeMap::from([(0, 0.30), (1, 0.40), (2, 0.35)]);
        let b = BTreeMap::from([(0, 0.25), (1, 0.30), (3, 0.9)]);
        let (d, sd, n) = paired_delta(&a, &b).unwrap();
        assert_eq!(n, 2, "only seeds both have are paired");
        assert!((d - 0.075).abs() < 1e-12);
        assert!((sd - ((0.05f64 - 0.075).powi(2) + (0.10f64 - 0.075).powi(2)).sqrt()).abs() < 1e-12);
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
