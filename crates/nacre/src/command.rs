//! The one command type of a connection, and its queue: what the application's handle
//! ([`crate::Connection`]), the channel handles, the forwarders and the SFTP server ask of the
//! connection task. The queue is bounded by the connection's state rather than by how often
//! handles call: flushes and window credits of one channel coalesce into one entry each (a busy
//! writer or reader adds nothing while its entry waits), raw payloads ([`Command::Send`]) wait
//! while [`MAX_RAW_QUEUED`] bytes of them are queued, and every other command is one per
//! protocol event (a channel's EOF, CLOSE and open answer, one reply per request of the peer,
//! one open, request or authentication answer per call of the application). Handles call it from
//! synchronous code (`poll_write`, `poll_read`, `Drop`), so it never blocks: the connection task
//! takes everything at once when woken.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use nacre_connection::{ChannelId, ChannelKind, LivenessConfig, ReplyToken, RequestKind};
use nacre_wire::{ChannelOpenFailureReason, DisconnectReason};
use tokio::sync::{oneshot, Notify};

use crate::channel::Channel;
use crate::error::Error;
use crate::machine::{ClientAuthCmd, ServerAuthCmd};

/// Raw payloads queued at most before [`CommandTx::send_raw`] waits.
pub const MAX_RAW_QUEUED: usize = 1024 * 1024;

/// What a handle asks the connection task to do.
pub(crate) enum Command {
    // The connection's handle.
    /// Raw service payload (conformance use; see `Connection::send`).
    Send(Bytes),
    Rekey,
    /// Raw mode: the caller authenticated by its own exchange.
    Authenticated,
    /// Raw mode: service packets go to the handle as they are.
    Raw,
    Disconnect(DisconnectReason, String),
    /// A global request; with a reply sender, the answer and its data come back there.
    Global(String, Vec<u8>, Option<oneshot::Sender<(bool, Vec<u8>)>>),
    Liveness(LivenessConfig),
    ClientAuth(ClientAuthCmd),
    ServerAuth(ServerAuthCmd),
    /// The connection's channels and their state.
    Channels(oneshot::Sender<Vec<nacre_connection::ChannelStatus>>),
    /// Client: SSH2_MSG_PING with this data; the PONG's data comes back on the sender.
    Ping(Vec<u8>, oneshot::Sender<Result<Vec<u8>, Error>>),
    /// Client: update known_hosts from the server's host key list.
    HostKeysUpdate(Box<crate::host_keys_update::HostKeysUpdate>),
    /// The application's verdict on the server's host key (an async verifier).
    HostKeyAnswer(nacre_session::AnswerId, bool),
    /// The application dropped its [`crate::Connection`]: the connection ends.
    HandleDropped,
    // Any holder of the queue: the handle, a forwarder, a server's agent forwarding.
    /// Open a channel of this kind; the channel (or the refusal) comes back on the sender.
    Open(ChannelKind, oneshot::Sender<Result<Channel, Error>>),
    // The channel handles.
    /// Data was queued in the channel's `outgoing`.
    Flush(ChannelId),
    /// The application read `n` bytes.
    Consume(ChannelId, usize),
    Eof(ChannelId),
    Close(ChannelId),
    Request(ChannelId, RequestKind, Option<oneshot::Sender<bool>>),
    Reply(ChannelId, ReplyToken, bool),
    Accept(ChannelId),
    Reject(ChannelId, ChannelOpenFailureReason, String),
    /// Answer to the peer's global request `token`: success and response data.
    GlobalReply(ReplyToken, bool, Vec<u8>),
}

#[derive(Default)]
struct Queue {
    order: VecDeque<Command>,
    /// Channels with a `Flush` in `order`.
    flushing: HashSet<ChannelId>,
    /// Bytes read per channel since its `Consume` entry was queued.
    consumed: HashMap<ChannelId, usize>,
    /// Bytes of the `Send` payloads in `order`.
    raw_bytes: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    notify: Notify,
    /// The task took raw payloads: a waiting `send_raw` may go on; also notified when the task
    /// is gone (`CommandTx::closed`).
    raw_room: Notify,
    closed: AtomicBool,
}

/// The handles' side (cloned into every channel handle).
#[derive(Clone)]
pub(crate) struct CommandTx(Arc<Shared>);

/// The connection task's side.
pub(crate) struct CommandRx(Arc<Shared>);

/// The connection task is gone.
#[derive(Debug)]
pub(crate) struct Closed;

/// A queue between the handles and the connection task.
pub(crate) fn command_queue() -> (CommandTx, CommandRx) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue::default()),
        notify: Notify::new(),
        raw_room: Notify::new(),
        closed: AtomicBool::new(false),
    });
    (CommandTx(shared.clone()), CommandRx(shared))
}

fn lock(s: &Shared) -> MutexGuard<'_, Queue> {
    s.queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl CommandTx {
    /// Queues `cmd` (coalescing flushes and window credits) and wakes the connection task.
    pub fn send(&self, cmd: Command) -> Result<(), Closed> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(Closed);
        }
        {
            let mut q = lock(&self.0);
            match cmd {
                Command::Flush(id) => {
                    if q.flushing.insert(id) {
                        q.order.push_back(Command::Flush(id));
                    }
                }
                Command::Consume(id, n) => match q.consumed.get_mut(&id) {
                    Some(total) => *total += n,
                    None => {
                        q.consumed.insert(id, n);
                        q.order.push_back(Command::Consume(id, 0));
                    }
                },
                Command::Send(p) => {
                    q.raw_bytes += p.len();
                    q.order.push_back(Command::Send(p));
                }
                other => q.order.push_back(other),
            }
        }
        self.0.notify.notify_one();
        Ok(())
    }

    /// Opens a channel of `kind` and waits for the peer's answer (the one way every holder of
    /// the queue opens channels: the handle, forwarders, a server's agent forwarding).
    pub async fn open(&self, kind: ChannelKind) -> Result<Channel, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Open(kind, tx))
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Queues a raw payload once fewer than [`MAX_RAW_QUEUED`] bytes of them wait (a caller
    /// that sends in a loop is held back here, not by memory).
    pub async fn send_raw(&self, payload: Bytes) -> Result<(), Closed> {
        loop {
            let room = self.0.raw_room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.0.closed.load(Ordering::Acquire) {
                return Err(Closed);
            }
            if lock(&self.0).raw_bytes < MAX_RAW_QUEUED {
                return self.send(Command::Send(payload));
            }
            room.await;
        }
    }
}

impl CommandTx {
    /// Waits until the connection task is gone (its side of the queue dropped).
    pub async fn closed(&self) {
        loop {
            let woken = self.0.raw_room.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.0.closed.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    }
}

impl CommandRx {
    /// Everything queued, in order, once there is something.
    pub async fn recv_all(&self) -> Vec<Command> {
        loop {
            let batch = self.try_recv_all();
            if !batch.is_empty() {
                return batch;
            }
            self.0.notify.notified().await;
        }
    }

    /// Everything queued now, in order (flushes and credits as they are at this moment).
    pub fn try_recv_all(&self) -> Vec<Command> {
        let mut q = lock(&self.0);
        let Queue {
            order,
            flushing,
            consumed,
            raw_bytes,
        } = &mut *q;
        flushing.clear();
        let had_raw = *raw_bytes > 0;
        *raw_bytes = 0;
        let batch = order
            .drain(..)
            .map(|cmd| match cmd {
                Command::Consume(id, _) => Command::Consume(id, consumed.remove(&id).unwrap_or(0)),
                other => other,
            })
            .collect();
        drop(q);
        if had_raw {
            self.0.raw_room.notify_waiters();
        }
        batch
    }
}

#[cfg(test)]
impl CommandRx {
    /// The oldest command, for unit tests of the handles.
    pub fn try_recv(&self) -> Result<Command, Closed> {
        let mut q = lock(&self.0);
        match q.order.pop_front() {
            Some(Command::Flush(id)) => {
                q.flushing.remove(&id);
                Ok(Command::Flush(id))
            }
            Some(Command::Consume(id, _)) => {
                Ok(Command::Consume(id, q.consumed.remove(&id).unwrap_or(0)))
            }
            Some(cmd) => Ok(cmd),
            None => Err(Closed),
        }
    }
}

impl Drop for CommandRx {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.raw_room.notify_waiters();
    }
}

/// The application's hold on a connection: while one [`HandleRef`] lives (the
/// [`crate::Connection`], or a forwarder that upgraded its [`WeakHandle`] for a moment), the
/// connection stands; when the last goes, the task hears [`Command::HandleDropped`].
pub(crate) struct Handle {
    tx: CommandTx,
}

/// A counted hold on the connection (see [`Handle`]).
pub(crate) type HandleRef = Arc<Handle>;
/// A hold that does not keep the connection alive (forwarders).
pub(crate) type WeakHandle = Weak<Handle>;

impl Handle {
    pub(crate) fn new(tx: CommandTx) -> HandleRef {
        Arc::new(Handle { tx })
    }

    /// Queues `cmd`; an error once the connection task is gone.
    pub(crate) fn send(&self, cmd: Command) -> Result<(), Error> {
        self.tx.send(cmd).map_err(|_| Error::Closed)
    }

    /// The queue itself (channel handles hold it without holding the connection).
    pub(crate) fn queue(&self) -> &CommandTx {
        &self.tx
    }

    /// Opens a channel of `kind` and waits for the peer's answer.
    pub(crate) async fn open(&self, kind: ChannelKind) -> Result<Channel, Error> {
        self.tx.open(kind).await
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::HandleDropped);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn flushes_and_credits_coalesce_and_the_rest_keeps_its_order() {
        let (tx, rx) = command_queue();
        for _ in 0..1000 {
            tx.send(Command::Flush(1)).unwrap();
            tx.send(Command::Consume(1, 10)).unwrap();
        }
        tx.send(Command::Eof(1)).unwrap();
        tx.send(Command::Consume(1, 5)).unwrap();
        let batch = rx.try_recv_all();
        assert_eq!(batch.len(), 3, "one flush, one credit, one EOF");
        assert!(matches!(batch[0], Command::Flush(1)));
        assert!(matches!(batch[1], Command::Consume(1, 10_005)));
        assert!(matches!(batch[2], Command::Eof(1)));
        // After a drain, new entries again.
        tx.send(Command::Flush(1)).unwrap();
        assert_eq!(rx.try_recv_all().len(), 1);
        drop(rx);
        assert!(tx.send(Command::Flush(1)).is_err(), "the task is gone");
    }

    #[tokio::test]
    async fn raw_payloads_wait_while_a_megabyte_of_them_is_queued() {
        let (tx, rx) = command_queue();
        let chunk = Bytes::from(vec![0u8; 256 * 1024]);
        for _ in 0..4 {
            tx.send_raw(chunk.clone()).await.unwrap();
        }
        let mut fifth = Box::pin(tx.send_raw(chunk.clone()));
        assert!(
            futures_poll_once(fifth.as_mut()).is_none(),
            "a fifth quarter-megabyte waits"
        );
        assert_eq!(rx.try_recv_all().len(), 4);
        fifth.await.unwrap();
        assert!(matches!(rx.try_recv_all()[..], [Command::Send(_)]));
        drop(rx);
        assert!(tx.send_raw(chunk).await.is_err(), "the task is gone");
    }

    #[test]
    fn dropping_the_last_handle_tells_the_task() {
        let (tx, rx) = command_queue();
        let handle = Handle::new(tx);
        let weak = Arc::downgrade(&handle);
        let again = weak.upgrade().unwrap();
        drop(handle);
        assert!(rx.try_recv_all().is_empty(), "a forwarder still holds it");
        drop(again);
        assert!(matches!(rx.try_recv_all()[..], [Command::HandleDropped]));
        assert!(weak.upgrade().is_none());
    }

    #[tokio::test]
    async fn closed_resolves_once_the_task_side_is_gone() {
        let (tx, rx) = command_queue();
        let waiting = tx.closed();
        tokio::pin!(waiting);
        assert!(futures_poll_once(waiting.as_mut()).is_none());
        drop(rx);
        waiting.await;
    }

    /// Polls a future once with a no-op waker: `Some` if it finished.
    fn futures_poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        match f.poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
