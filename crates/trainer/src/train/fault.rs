//! Test-only switches, read from the environment, that let the data-parallel tests prove what they claim:
//!
//! - `T1_TEST_FAULT=hang:rank=R:step=S` — rank R stops answering before optimizer step S (1-based, per stage);
//!   `exit:rank=R:step=S` — rank R exits with code 3 there (a crash);
//! - `T1_TEST_FAULT=local-normaliser` — token normalisers count this rank's tokens only (the known-wrong variant
//!   the equivalence test must catch);
//! - `T1_DUMP_GRADS=DIR` — rank 0 writes each optimizer step's reduced gradient, before clipping, as
//!   `DIR/step-NNNNN.npy` (one row, parameters in model order).
//!
//! Nothing here is set in normal runs; the recipe reference does not list them.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The parsed switches.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Faults {
    /// (rank, step) at which the rank hangs.
    pub hang: Option<(usize, usize)>,
    /// (rank, step) at which the rank exits.
    pub exit: Option<(usize, usize)>,
    /// Normalise by this rank's token count.
    pub local_normaliser: bool,
    /// Where rank 0 dumps reduced gradients.
    pub dump_grads: Option<PathBuf>,
}

/// The switches of this process (read once).
pub fn faults() -> &'static Faults {
    static FAULTS: OnceLock<Faults> = OnceLock::new();
    FAULTS.get_or_init(|| {
        let mut f = parse(&std::env::var("T1_TEST_FAULT").unwrap_or_default());
        f.dump_grads = std::env::var_os("T1_DUMP_GRADS").map(PathBuf::from);
        f
    })
}

fn parse(spec: &str) -> Faults {
    let mut f = Faults::default();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let mut fields = part.split(':');
        let kind = fields.next().unwrap_or_default();
        let mut at = (usize::MAX, usize::MAX);
        for kv in fields {
            match kv.split_once('=') {
                Some(("rank", v)) => at.0 = v.parse().unwrap_or(usize::MAX),
                Some(("step", v)) => at.1 = v.parse().unwrap_or(usize::MAX),
                _ => {}
            }
        }
        match kind {
            "hang" => f.hang = Some(at),
            "exit" => f.exit = Some(at),
            "local-normaliser" => f.local_normaliser = true,
            _ => eprintln!("warning: T1_TEST_FAULT: unknown switch `{part}` ignored"),
        }
    }
    f
}

/// Acts on a `hang` or `exit` switch for `rank` before its optimizer step `step` (1-based).
pub fn before_step(rank: usize, step: usize) {
    let f = faults();
    if f.exit == Some((rank, step)) {
        eprintln!("T1_TEST_FAULT: rank {rank} exits before step {step}");
        std::process::exit(3);
    }
    if f.hang == Some((rank, step)) {
        eprintln!("T1_TEST_FAULT: rank {rank} hangs before step {step}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_parse() {
        let f = parse("hang:rank=1:step=2,local-normaliser");
        assert_eq!((f.hang, f.exit, f.local_normaliser), (Some((1, 2)), None, true));
        assert_eq!(parse("exit:step=3:rank=0").exit, Some((0, 3)));
        assert_eq!(parse(""), Faults::default());
    }
}
