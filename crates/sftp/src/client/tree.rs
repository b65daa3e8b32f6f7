//! Many files at once: the engine behind [`SftpClient::download_dir`] and
//! [`SftpClient::upload_dir`](super::SftpClient::upload_dir).
//!
//! One file after another, a recursive transfer over a link with latency is slow whatever the
//! bandwidth: every file costs round trips (OPEN, READ or WRITE, CLOSE) in which nothing else
//! moves, which is how OpenSSH's sftp copies a tree. Here up to
//! [`ClientConfig::max_files_in_flight`](crate::ClientConfig::max_files_in_flight) files and
//! folders are in progress at once, all in the calling task. A folder found in a listing is
//! listed (downloading) or created (uploading) ahead of the files already waiting, so the walk
//! runs in front of the transfers instead of between them.
//!
//! Bounds: each item in progress holds at most one remote handle, so handles are bounded by
//! the items in flight (and by the server's `max-open-handles`); the data of all their
//! pipelines together by
//! [`ClientConfig::max_bytes_in_flight`](crate::ClientConfig::max_bytes_in_flight); the items
//! waiting are names and paths only.
//!
//! Errors keep their order: every item has its place in the walk (the indexes of its folders
//! and of itself in their listings). When one fails, no item after it in walk order starts;
//! those before it still run (an earlier error wins) and those in progress finish. So the
//! error returned, and the files moved before it, are those of a transfer of one file after
//! another.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Error, Result};

/// Where an item lies in walk order: the indexes of its folders and of itself in their
/// listings. Comparing two places compares them in a depth-first walk.
pub(super) type Place = Vec<u32>;

type Running<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Futures polled together by the task that awaits [`Pool::next`].
pub(super) struct Pool<'a, T> {
    running: Vec<Running<'a, T>>,
}

impl<'a, T> Pool<'a, T> {
    pub(super) fn new() -> Self {
        Pool {
            running: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.running.len()
    }

    pub(super) fn push(&mut self, f: impl Future<Output = T> + Send + 'a) {
        self.running.push(Box::pin(f));
    }

    /// The output of whichever finishes first; `None` when none is running.
    pub(super) async fn next(&mut self) -> Option<T> {
        if self.running.is_empty() {
            return None;
        }
        Some(std::future::poll_fn(|cx| self.poll_any(cx)).await)
    }

    fn poll_any(&mut self, cx: &mut Context<'_>) -> Poll<T> {
        let ready =
            self.running
                .iter_mut()
                .enumerate()
                .find_map(|(i, f)| match f.as_mut().poll(cx) {
                    Poll::Ready(out) => Some((i, out)),
                    Poll::Pending => None,
                });
        match ready {
            Some((i, out)) => {
                drop(self.running.swap_remove(i));
                Poll::Ready(out)
            }
            None => Poll::Pending,
        }
    }
}

/// What finishing an item found: more items, folders among them.
pub(super) struct Found<I> {
    /// The item.
    pub item: I,
    /// Whether it is a folder (started ahead of the files waiting).
    pub folder: bool,
}

/// Runs `root` and everything its results lead to, `at_once` items at a time: `start` makes an
/// item's future; `done` takes a finished item's place and output and returns the items it
/// found, in walk order. Returns the first error in walk order, after everything before it
/// has run and the items in progress have finished.
pub(super) async fn walk<'a, I, D, F>(
    at_once: usize,
    root: I,
    start: impl Fn(I) -> F,
    mut done: impl FnMut(&Place, D) -> Vec<Found<I>>,
) -> Result<()>
where
    F: Future<Output = Result<D>> + Send + 'a,
    D: Send + 'a,
{
    let mut waiting: VecDeque<(Place, I)> = VecDeque::from([(Vec::new(), root)]);
    let mut pool: Pool<'a, (Place, Result<D>)> = Pool::new();
    let mut first_error: Option<(Place, Error)> = None;
    loop {
        while pool.len() < at_once.max(1) {
            let Some((place, item)) = waiting.pop_front() else {
                break;
            };
            // After an error only what comes before it in walk order still runs.
            if first_error.as_ref().is_some_and(|(p, _)| place > *p) {
                continue;
            }
            let running = start(item);
            pool.push(async move { (place, running.await) });
        }
        let Some((place, result)) = pool.next().await else {
            break;
        };
        match result {
            Ok(out) => queue_found(&mut waiting, &place, done(&place, out)),
            Err(e) => {
                if first_error.as_ref().is_none_or(|(p, _)| place < *p) {
                    first_error = Some((place, e));
                }
            }
        }
    }
    match first_error {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Queues what an item found: folders at the front (in order), files at the back.
fn queue_found<I>(waiting: &mut VecDeque<(Place, I)>, place: &Place, found: Vec<Found<I>>) {
    let mut folders = Vec::new();
    for (i, f) in found.into_iter().enumerate() {
        let mut at = place.clone();
        at.push(u32::try_from(i).unwrap_or(u32::MAX));
        if f.folder {
            folders.push((at, f.item));
        } else {
            waiting.push_back((at, f.item));
        }
    }
    for f in folders.into_iter().rev() {
        waiting.push_front(f);
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A tree of `width` folders of `width` files, two levels; each file takes `ms` to "move".
    #[tokio::test]
    async fn runs_at_most_at_once_and_reports_the_first_error_in_walk_order() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut seen = Vec::new();
        let result = walk(
            4,
            (0u32, false),
            |(n, is_file): (u32, bool)| {
                let (running, most) = (running.clone(), most.clone());
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Later items finish first: the order of finishing is not walk order.
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(50 - n % 50)))
                        .await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    match (is_file, n) {
                        (true, 23 | 31) => Err(Error::protocol(format!("file {n}"))),
                        _ => Ok((n, is_file)),
                    }
                }
            },
            |place: &Place, (n, is_file): (u32, bool)| {
                seen.push(place.clone());
                match (is_file, n) {
                    (false, 0) => (1..=3)
                        .map(|d| Found {
                            item: (d, false),
                            folder: true,
                        })
                        .collect(),
                    (false, d) => (0..8)
                        .map(|f| Found {
                            item: (d * 10 + f, true),
                            folder: false,
                        })
                        .collect(),
                    _ => Vec::new(),
                }
            },
        )
        .await;
        // Files 23 (folder 2) and 31 (folder 3) fail; 23 comes first in walk order.
        let Err(Error::Protocol(why)) = result else {
            panic!("expected the first error, got {result:?}");
        };
        assert_eq!(why, "file 23");
        assert_eq!(most.load(Ordering::SeqCst), 4, "never more than 4 at once");
        assert_eq!(
            running.load(Ordering::SeqCst),
            0,
            "all finished before the return"
        );
        // Everything before file 23 in walk order was moved, as one file after another would.
        for f in 0..8 {
            assert!(seen.contains(&vec![0, f]), "folder 1's file {f} moved");
        }
        for f in 0..3 {
            assert!(seen.contains(&vec![1, f]), "folder 2's file {f} moved");
        }
        assert!(!seen.contains(&vec![1, 3]), "file 23 failed");
    }

    #[tokio::test]
    async fn folders_start_before_the_files_waiting() {
        let order = std::sync::Mutex::new(Vec::new());
        walk(
            1,
            0u32,
            |n: u32| {
                order.lock().map(|mut o| o.push(n)).ok();
                async move { Ok(n) }
            },
            |_: &Place, n: u32| match n {
                // The root finds file 1, folder 2, file 3; folder 2 finds file 4.
                0 => vec![
                    Found {
                        item: 1,
                        folder: false,
                    },
                    Found {
                        item: 2,
                        folder: true,
                    },
                    Found {
                        item: 3,
                        folder: false,
                    },
                ],
                2 => vec![Found {
                    item: 4,
                    folder: false,
                }],
                _ => Vec::new(),
            },
        )
        .await
        .ok();
        assert_eq!(*order.lock().unwrap(), vec![0, 2, 1, 3, 4]);
    }
}
