//! Shards for [`crate::Server::run_sharded`]: threads that each drive a single-threaded tokio
//! runtime, so that every task of one connection runs on one thread.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// One thread and its runtime. Dropping it stops the runtime (its remaining tasks are dropped,
/// which closes their connections).
struct Shard {
    handle: Handle,
    /// Connections being served on this shard.
    load: Arc<AtomicUsize>,
    _stop: oneshot::Sender<()>,
}

/// A fixed set of shards; new work goes to the least loaded.
pub(crate) struct Shards {
    shards: Vec<Shard>,
}

impl Shards {
    /// Starts `threads` shards (0: one per available core).
    pub(crate) fn start(threads: usize) -> io::Result<Shards> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let shards = (0..threads)
            .map(Shard::start)
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Shards { shards })
    }

    /// Runs `task` on the least loaded shard.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(shard) = self
            .shards
            .iter()
            .min_by_key(|s| s.load.load(Ordering::Relaxed))
        else {
            return;
        };
        let load = LoadGuard::new(shard.load.clone());
        shard.handle.spawn(async move {
            let _load = load;
            task.await;
        });
    }
}

impl Shard {
    fn start(index: usize) -> io::Result<Shard> {
        let runtime = Builder::new_current_thread().enable_all().build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(format!("nacre-shard-{index}"))
            .spawn(move || {
                // Tasks run while this thread waits for the stop signal (the sender dropped).
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Shard {
            handle,
            load: Arc::new(AtomicUsize::new(0)),
            _stop: stop,
        })
    }
}

/// Counts one connection on a shard for as long as its task lives.
struct LoadGuard(Arc<AtomicUsize>);

impl LoadGuard {
    fn new(load: Arc<AtomicUsize>) -> LoadGuard {
        load.fetch_add(1, Ordering::Relaxed);
        LoadGuard(load)
    }
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
