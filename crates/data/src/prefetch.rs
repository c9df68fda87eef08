//! Background preparation (e.g. tokenization) of streamed rows, in the original order.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Origin, Result};
use crate::schema::FromBatch;
use crate::state::DataState;
use crate::stream::Stream;

/// Worker threads and queue size of a [`Prefetch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrefetchConfig {
    /// Threads running the preparation closure. Default 2.
    pub workers: usize,
    /// Most items read ahead of the consumer (queued, in preparation or waiting to be
    /// returned in order). Default 64.
    pub capacity: usize,
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        Self { workers: 2, capacity: 64 }
    }
}

/// A prepared item with the stream position after its row.
#[derive(Clone, Debug)]
pub struct Prepared<T> {
    /// The closure's output.
    pub item: T,
    /// The stream state after this item's row: checkpoint the state of the last item the
    /// trainer consumed, not of items still queued.
    pub state: DataState,
    /// Where the row came from.
    pub origin: Origin,
}

struct Job<R> {
    seq: u64,
    row: R,
    origin: Origin,
    state: DataState,
}

enum Message<T> {
    Item(Result<Prepared<T>>),
    End,
}

/// Runs a closure over a [`Stream`]'s rows on worker threads and yields the results in the
/// stream's order, whatever the thread timing.
///
/// At most `capacity` rows are in flight. Closure errors and panics become errors naming the
/// row's origin; after the first error the iterator ends. Dropping it stops the threads.
pub struct Prefetch<T> {
    results: Receiver<(u64, Message<T>)>,
    pending: BTreeMap<u64, Message<T>>,
    next_seq: u64,
    credits: Option<SyncSender<()>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    done: bool,
}

impl<T: Send + 'static> Prefetch<T> {
    /// Starts the reader thread and `config.workers` workers running `prepare`.
    ///
    /// For an infallible closure return `Ok::<_, std::convert::Infallible>(..)`.
    pub fn new<R, F, E>(stream: Stream<R>, config: PrefetchConfig, prepare: F) -> Result<Self>
    where
        R: FromBatch,
        F: Fn(R) -> std::result::Result<T, E> + Send + Sync + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if config.workers == 0 || config.capacity == 0 {
            return Err(DataError::Config(format!(
                "prefetch needs at least one worker and a capacity of at least one (got {} and {})",
                config.workers, config.capacity
            )));
        }
        let (credit_tx, credit_rx) = sync_channel(config.capacity);
        for _ in 0..config.capacity {
            let _ = credit_tx.try_send(());
        }
        let (work_tx, work_rx) = sync_channel::<Job<R>>(config.capacity);
        let (result_tx, results) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let work_rx = Arc::new(Mutex::new(work_rx));
        let prepare = Arc::new(prepare);

        // A thread the OS refuses is an error, not a panic (the threads already started end with the channels).
        let spawn = |name: String, body: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(body)
                .map_err(|e| DataError::Config(format!("cannot start a prefetch thread ({e}): lower data.workers")))
        };
        let mut threads = Vec::with_capacity(config.workers + 1);
        for i in 0..config.workers {
            let (rx, tx, stop, prepare) =
                (Arc::clone(&work_rx), result_tx.clone(), Arc::clone(&stop), Arc::clone(&prepare));
            threads.push(spawn(format!("prefetch-{i}"), Box::new(move || work(&rx, &tx, &stop, &*prepare)))?);
        }
        let stop_reader = Arc::clone(&stop);
        let reader = move || read(stream, &credit_rx, &work_tx, &result_tx, &stop_reader);
        threads.push(spawn("prefetch-reader".into(), Box::new(reader))?);
        Ok(Self {
            results,
            pending: BTreeMap::new(),
            next_seq: 0,
            credits: Some(credit_tx),
            stop,
            threads,
            done: false,
        })
    }
}

/// The reader thread: pulls rows while it holds credits and hands them to the workers.
fn read<R: FromBatch, T>(
    mut stream: Stream<R>,
    credits: &Receiver<()>,
    work: &SyncSender<Job<R>>,
    results: &Sender<(u64, Message<T>)>,
    stop: &AtomicBool,
) {
    let mut seq = 0;
    while credits.recv().is_ok() && !stop.load(Ordering::Relaxed) {
        match stream.next_with_origin() {
            Some(Ok((row, origin))) => {
                let state = stream.state();
                let job = Job { seq, row, origin, state };
                if work.send(job).is_err() {
                    return;
                }
            }
            Some(Err(e)) => {
                let _ = results.send((seq, Message::Item(Err(e))));
                return;
            }
            None => {
                let _ = results.send((seq, Message::End));
                return;
            }
        }
        seq += 1;
    }
}

/// A worker thread: prepares jobs until the queue closes.
fn work<R, T, F, E>(jobs: &Mutex<Receiver<Job<R>>>, results: &Sender<(u64, Message<T>)>, stop: &AtomicBool, prepare: &F)
where
    F: Fn(R) -> std::result::Result<T, E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Job { seq, row, origin, state } = job;
        let outcome = match catch_unwind(AssertUnwindSafe(|| prepare(row))) {
            Ok(Ok(item)) => Ok(Prepared { item, state, origin }),
            Ok(Err(e)) => Err(DataError::Prepare { at: origin, source: e.into() }),
            Err(payload) => Err(DataError::PreparePanicked { at: origin, message: panic_message(payload.as_ref()) }),
        };
        if results.send((seq, Message::Item(outcome))).is_err() {
            return;
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

impl<T> Iterator for Prefetch<T> {
    type Item = Result<Prepared<T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if let Some(message) = self.pending.remove(&self.next_seq) {
                self.next_seq += 1;
                return match message {
                    Message::End => {
                        self.done = true;
                        None
                    }
                    Message::Item(item) => {
                        self.done = item.is_err();
                        if let Some(credits) = &self.credits {
                            let _ = credits.try_send(());
                        }
                        Some(item)
                    }
                };
            }
            match self.results.recv() {
                Ok((seq, message)) => {
                    self.pending.insert(seq, message);
                }
                Err(_) => {
                    self.done = true;
                    return Some(Err(DataError::Prefetch("reader thread stopped before the end of the stream".into())));
                }
            }
        }
    }
}

impl<T> Drop for Prefetch<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.credits = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
