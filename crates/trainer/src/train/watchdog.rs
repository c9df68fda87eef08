//! The per-rank watchdog: MPI notices a rank that dies (the launcher ends the job) but not one that hangs, and the
//! others would wait for it forever. Every collective arms the watchdog with a deadline; a thread checks it, and a
//! wait past the deadline ends this process with [`EXIT_CODE`], which makes the launcher end the whole job.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The exit code of a process the watchdog ends.
pub const EXIT_CODE: i32 = 86;

/// What the ranks are waiting for, since when, and for how long at most.
type Armed = Option<(String, Instant, Duration)>;

/// A watchdog thread and the state it watches.
pub struct Watchdog {
    armed: Arc<Mutex<Armed>>,
}

impl Watchdog {
    /// Starts the watching thread for rank `rank`.
    pub fn start(rank: usize) -> Self {
        let armed: Arc<Mutex<Armed>> = Arc::new(Mutex::new(None));
        let watched = armed.clone();
        std::thread::Builder::new()
            .name("collective-watchdog".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(200));
                    let guard = watched.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some((what, since, deadline)) = guard.as_ref()
                        && since.elapsed() > *deadline
                    {
                        eprintln!(
                            "error: rank {rank} waited {:.0} s in `{what}` (deadline {:.0} s, run.collective_timeout_s): \
                             another rank died or hung; ending this process (exit code {EXIT_CODE}) so the launcher \
                             ends the job",
                            since.elapsed().as_secs_f64(),
                            deadline.as_secs_f64()
                        );
                        std::process::exit(EXIT_CODE);
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Self { armed }
    }

    /// Runs `wait` (one collective) under `deadline`.
    pub fn watch<T>(&self, what: &str, deadline: Duration, wait: impl FnOnce() -> T) -> T {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some((what.to_string(), Instant::now(), deadline));
        let out = wait();
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        out
    }
}
