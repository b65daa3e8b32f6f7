//! What channel handles ask of the connection task, in a queue bounded by the connection's state
//! rather than by how often handles call: flushes and window credits of one channel coalesce into
//! one entry each (a busy writer or reader adds nothing while its entry waits), and every other
//! command is one per protocol event (a channel's EOF, CLOSE and open answer, one reply per
//! request of the peer, one open or request per call of the application). Handles call it from
//! synchronous code (`poll_write`, `poll_read`, `Drop`), so it never blocks: the connection task
//! takes everything at once when woken.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nacre_connection::ChannelId;
use tokio::sync::Notify;

use crate::channel::ChanCmd;

#[derive(Default)]
struct Queue {
    order: VecDeque<ChanCmd>,
    /// Channels with a `Flush` in `order`.
    flushing: HashSet<ChannelId>,
    /// Bytes read per channel since its `Consume` entry was queued.
    consumed: HashMap<ChannelId, usize>,
}

struct Shared {
    queue: Mutex<Queue>,
    notify: Notify,
    closed: AtomicBool,
}

/// The handles' side (cloned into every channel handle).
#[derive(Clone)]
pub(crate) struct ChanTx(Arc<Shared>);

/// The connection task's side.
pub(crate) struct ChanRx(Arc<Shared>);

/// The connection task is gone.
#[derive(Debug)]
pub(crate) struct Closed;

/// A queue between the channel handles and the connection task.
pub(crate) fn chan_queue() -> (ChanTx, ChanRx) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        notify: Notify::new(),
        closed: AtomicBool::new(false),
    });
    (ChanTx(shared.clone()), ChanRx(shared))
}

fn lock(s: &Shared) -> MutexGuard<'_, Queue> {
    s.queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ChanTx {
    /// Queues `cmd` (coalescing flushes and window credits) and wakes the connection task.
    pub fn send(&self, cmd: ChanCmd) -> Result<(), Closed> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        {
            let mut q = lock(&self.0);
            match cmd {
                ChanCmd::Flush(id) => {
                    if q.flushing.insert(id) {
                        q.order.push_back(ChanCmd::Flush(id));
                    }
                }
                ChanCmd::Consume(id, n) => match q.consumed.get_mut(&id) {
                    Some(total) => *total += n,
                    None => {
                        q.consumed.insert(id, n);
                        q.order.push_back(ChanCmd::Consume(id, 0));
                    }
                },
                other => q.order.push_back(other),
            }
        }
        self.0.notify.notify_one();
        Ok(())
    }
}

impl ChanRx {
    /// Everything queued, in order, once there is something.
    pub async fn recv_all(&self) -> Vec<ChanCmd> {
        loop {
            let batch = self.try_recv_all();
            if !batch.is_empty() {
                return batch;
            }
            self.0.notify.notified().await;
        }
    }

    /// Everything queued now, in order (flushes and credits as they are at this moment).
    pub fn try_recv_all(&self) -> Vec<ChanCmd> {
        let mut q = lock(&self.0);
        let Queue {
            order,
            flushing,
            consumed,
        } = &mut *q;
        flushing.clear();
        order
            .drain(..)
            .map(|cmd| match cmd {
                ChanCmd::Consume(id, _) => ChanCmd::Consume(id, consumed.remove(&id).unwrap_or(0)),
                other => other,
            })
            .collect()
    }
}

#[cfg(test)]
impl ChanRx {
    /// The oldest command, for unit tests of the handles.
    pub fn try_recv(&self) -> Result<ChanCmd, Closed> {
        let mut q = lock(&self.0);
        match q.order.pop_front() {
            Some(ChanCmd::Flush(id)) => {
                q.flushing.remove(&id);
                Ok(ChanCmd::Flush(id))
            }
            Some(ChanCmd::Consume(id, _)) => {
                Ok(ChanCmd::Consume(id, q.consumed.remove(&id).unwrap_or(0)))
            }
            Some(cmd) => Ok(cmd),
            None => Err(Closed),
        }
    }
}

impl Drop for ChanRx {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn flushes_and_credits_coalesce_and_the_rest_keeps_its_order() {
        let (tx, rx) = chan_queue();
        for _ in 0..1000 {
            tx.send(ChanCmd::Flush(1)).unwrap();
            tx.send(ChanCmd::Consume(1, 10)).unwrap();
        }
        tx.send(ChanCmd::Eof(1)).unwrap();
        tx.send(ChanCmd::Consume(1, 5)).unwrap();
        let batch = rx.try_recv_all();
        assert_eq!(batch.len(), 3, "one flush, one credit, one EOF");
        assert!(matches!(batch[0], ChanCmd::Flush(1)));
        assert!(matches!(batch[1], ChanCmd::Consume(1, 10_005)));
        assert!(matches!(batch[2], ChanCmd::Eof(1)));
        // After a drain, new entries again.
        tx.send(ChanCmd::Flush(1)).unwrap();
        assert_eq!(rx.try_recv_all().len(), 1);
        drop(rx);
        assert!(tx.send(ChanCmd::Flush(1)).is_err(), "the task is gone");
    }
}
