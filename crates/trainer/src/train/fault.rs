//! Test-only switches, read from the environment, that let the data-parallel tests prove what they claim:
//!
//! - `T1_TEST_FAULT=hang:rank=R:step=S` — rank R stops answering before optimizer step S (1-based, per stage);
//!   `exit:rank=R:step=S` — rank R exits with code 3 there (a crash);
//! - `T1_TEST_FAULT=local-normaliser` — token normalisers count this rank's tokens only (the known-wrong variant
//!   the equivalence test must catch);
//! - `T1_TEST_FAULT=kill:at=PHASE:n=N` — the process SIGKILLs itself the N-th time (1-based, counted in this
//!   process) it reaches the kill point PHASE (see [`KillPoint`]); the kill-torture test uses it to land kills
//!   inside checkpoint saves, pruning, exports and evaluations;
//! - `T1_DUMP_GRADS=DIR` — rank 0 writes each optimizer step's reduced gradient, before clipping, as
//!   `DIR/step-NNNNN.npy` (one row, parameters in model order).
//!
//! Nothing here is set in normal runs; the recipe reference does not list them.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// (kill point, occurrence) at which the process kills itself.
    pub kill: Option<(String, usize)>,
}

/// The moments a kill can be aimed at: the middle of each piece of work that writes files a resume relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillPoint {
    /// A checkpoint's weights are written into its temporary folder; the rest is not.
    CheckpointSave,
    /// A checkpoint was published; older ones are not yet pruned.
    CheckpointPublished,
    /// Pruning has set one old checkpoint aside and not yet deleted it.
    Prune,
    /// A stage's HF export is written into its staging folder; its evaluations, card and publication are not.
    Export,
    /// An evaluation set was scored and logged; later sets (and the stage record) are not.
    Eval,
    /// A stage's export and evaluations are done; its record is not written.
    StageRecord,
}

impl KillPoint {
    /// The name used in `T1_TEST_FAULT=kill:at=NAME`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CheckpointSave => "checkpoint-save",
            Self::CheckpointPublished => "checkpoint-published",
            Self::Prune => "prune",
            Self::Export => "export",
            Self::Eval => "eval",
            Self::StageRecord => "stage-record",
        }
    }
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
        let mut point = String::new();
        let mut occurrence = 1;
        for kv in fields {
            match kv.split_once('=') {
                Some(("rank", v)) => at.0 = v.parse().unwrap_or(usize::MAX),
                Some(("step", v)) => at.1 = v.parse().unwrap_or(usize::MAX),
                Some(("at", v)) => point = v.to_string(),
                Some(("n", v)) => occurrence = v.parse().unwrap_or(usize::MAX),
                _ => {}
            }
        }
        match kind {
            "hang" => f.hang = Some(at),
            "exit" => f.exit = Some(at),
            "kill" => f.kill = Some((point, occurrence)),
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

/// Kills this process with SIGKILL when `T1_TEST_FAULT` aims a kill at this occurrence of `point`.
pub fn kill_point(point: KillPoint) {
    static SEEN: [AtomicUsize; 6] = [const { AtomicUsize::new(0) }; 6];
    let Some((name, occurrence)) = &faults().kill else { return };
    if name != point.name() {
        return;
    }
    let seen = SEEN[point as usize].fetch_add(1, Ordering::SeqCst) + 1;
    if seen == *occurrence {
        eprintln!("T1_TEST_FAULT: killed at {name} #{seen}");
        let _ = std::process::Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
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
        assert_eq!(parse("kill:at=prune:n=2").kill, Some(("prune".to_string(), 2)));
    }
}
