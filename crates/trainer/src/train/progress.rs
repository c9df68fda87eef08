//! What a person watching sees: a progress bar per stage on a terminal, plain log lines otherwise (CI, cluster
//! logs).

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of one stage.
pub struct StageProgress {
    bar: Option<ProgressBar>,
    name: String,
    total: usize,
    started: Instant,
    every: usize,
}

impl StageProgress {
    /// A display for stage `name` of `total` steps, starting at `start`; plain lines every `every` steps.
    pub fn new(name: &str, total: usize, start: usize, every: usize, enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]")
                    .expect("template"),
            );
            bar.set_prefix(name.to_string());
            bar.set_position(start as u64);
            bar
        });
        Self { bar, name: name.into(), total, started: Instant::now(), every: every.max(1) }
    }

    /// Reports a finished step (1-based `step`).
    pub fn step(&self, step: usize, loss: f64, lr: f64, tokens_per_s: f64, enabled: bool) {
        let msg = format!("loss {loss:.4} lr {lr:.2e} {tokens_per_s:.0} tok/s");
        match &self.bar {
            Some(bar) => {
                bar.set_position(step as u64);
                bar.set_message(msg);
            }
            None if enabled && (step.is_multiple_of(self.every) || step == self.total) => {
                eprintln!(
                    "[{}] step {step}/{} {msg} ({:.0}s)",
                    self.name,
                    self.total,
                    self.started.elapsed().as_secs_f64()
                );
            }
            None => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
