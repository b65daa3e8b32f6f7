//! The verification pool: the few long-lived threads that check passwords (and
//! keyboard-interactive responses) before authentication, for every connection of the process.
//!
//! Password hashes are made to be costly: argon2id with sshd-like settings takes ~19 MiB and tens
//! of milliseconds per check. Run on tokio's blocking pool (up to 512 threads, each with its own
//! malloc arena that keeps what it freed), unauthenticated clients could make the server hash
//! hundreds of passwords at once and keep hundreds of MiB after they left. Here at most
//! [`threads`] checks run at once (one per core, up to [`MAX_THREADS`]), whatever the number of
//! connections, shards or runtimes; each thread keeps one argon2 work area it reuses (see
//! `policy.rs`), so the memory of password checks is `threads() x m_cost` at most, allocated
//! once. Waiting checks queue in arrival order; a check whose connection went away before its
//! turn is skipped.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The process's pool: a queue and the threads that take from it.
struct Pool {
    queue: mpsc::Sender<Job>,
    threads: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Most verification threads, however many cores: a storm of password guesses can take at most
/// this many cores and `MAX_THREADS x m_cost` of memory (4 x 19 MiB with argon2id's default),
/// and 4 threads still check well over 100 passwords a second.
pub const MAX_THREADS: usize = 4;

/// Number of verification threads: one per available core, at most [`MAX_THREADS`] (at least
/// one).
pub fn threads() -> usize {
    pool().threads.max(1)
}

/// Whether the calling thread is one of the pool's (its work areas are kept for reuse).
pub(crate) fn on_worker_thread() -> bool {
    ON_WORKER.with(Cell::get)
}

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let want = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_THREADS);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let started = (0..want)
            .filter(|i| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("nacre-auth-{i}"))
                    .spawn(move || work(&rx))
                    .map_err(|e| tracing::warn!(error = %e, "cannot start a verification thread"))
                    .is_ok()
            })
            .count();
        Pool {
            queue: tx,
            threads: started,
        }
    })
}

/// A worker: runs jobs until the queue is gone. A panicking job is contained (its caller sees
/// its answer channel closed).
fn work(rx: &Mutex<mpsc::Receiver<Job>>) {
    ON_WORKER.with(|w| w.set(true));
    loop {
        let job = {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Runs `f` on the pool and waits for its result; `None` if it panicked. When no pool thread
/// could be started, `f` runs on tokio's blocking pool instead.
pub(crate) async fn run<R, F>(f: F) -> Option<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let pool = pool();
    if pool.threads == 0 {
        return tokio::task::spawn_blocking(f).await.ok();
    }
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        // The connection gave up waiting (closed, grace time over): nothing to do.
        if tx.is_closed() {
            return;
        }
        let _ = tx.send(f());
    });
    pool.queue.send(job).ok()?;
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_one_job_per_thread_and_panics_are_contained() {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..4 * threads() + 4).map(|_| {
            let (now, most) = (now.clone(), most.clone());
            tokio::spawn(run(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                now.fetch_sub(1, Ordering::SeqCst);
                assert!(on_worker_thread());
                n
            }))
        });
        for j in jobs.collect::<Vec<_>>() {
            assert!(j.await.ok().flatten().is_some());
        }
        assert!(most.load(Ordering::SeqCst) <= threads());
        #[allow(clippy::panic)]
        let panicked = run(|| -> u8 { panic!("contained") }).await;
        assert_eq!(panicked, None);
        assert_eq!(run(|| 7).await, Some(7), "the pool still works");
        assert!(!on_worker_thread());
    }
}
