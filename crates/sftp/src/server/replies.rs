//! Replies of the server loop (feature `tokio`), in request order, straight from the thread that
//! made each one into the stream's queue ([`DirectSink`]): a request crosses three task
//! boundaries at most (the connection task wakes the loop, the loop hands the request to
//! [`super::Filesystem::spawn_blocking`], the job queues its reply and wakes the connection task).
//! A stream without a direct handle gets one here: [`TaskSink`], a writer task in between.

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::mpsc;

use crate::stream::{DirectSink, FrameSink};

/// Frames a [`TaskSink`] holds before [`DirectSink::poll_room`] says wait.
const TASK_SINK_BOUND: usize = 4 * 1024 * 1024;

/// Replies that finished before an earlier request's, held until their turn; the others go out
/// at once. At most `max_in_flight` requests run at once, which bounds what is held.
struct Order {
    held: BTreeMap<u64, Option<Vec<u8>>>,
    next: u64,
    /// The stream failed: later replies are dropped.
    broken: Option<io::ErrorKind>,
}

/// The ordered way out of one session's replies, shared by the loop and the jobs.
pub(crate) struct Replies {
    order: Mutex<Order>,
    sink: Arc<dyn DirectSink>,
}

impl Replies {
    pub(crate) fn new(sink: Arc<dyn DirectSink>) -> Arc<Self> {
        Arc::new(Replies {
            order: Mutex::new(Order {
                held: BTreeMap::new(),
                next: 0,
                broken: None,
            }),
            sink,
        })
    }

    /// The reply (or no reply) of the request that arrived `seq`-th: queued now if every earlier
    /// one is out, else held until they are.
    pub(crate) fn deliver(&self, seq: u64, reply: Option<Vec<u8>>) {
        let mut order = self
            .order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        order.held.insert(seq, reply);
        let mut next = order.next;
        while let Some(reply) = order.held.remove(&next) {
            next += 1;
            if let (Some(frame), None) = (reply, order.broken) {
                if let Err(e) = self.sink.push_frame(frame) {
                    order.broken = Some(e.kind());
                }
            }
        }
        order.next = next;
    }

    /// Waits until the stream has room for more replies.
    pub(crate) async fn room(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.sink.poll_room(cx)).await
    }

    /// The stream failed while replies were queued.
    pub(crate) fn broken(&self) -> Option<io::Error> {
        let order = self
            .order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        order
            .broken
            .map(|k| io::Error::new(k, "the SFTP stream failed"))
    }
}

/// A [`DirectSink`] for any [`FrameSink`]: frames go through a channel to a writer task, which
/// hands them to the sink and flushes when the channel runs dry.
pub(crate) struct TaskSink {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    state: Arc<TaskState>,
}

struct TaskState {
    queued: AtomicUsize,
    /// The loop waiting for room (one waiter: the session's loop).
    waiter: Mutex<Option<Waker>>,
    gone: AtomicBool,
}

impl TaskState {
    fn wake(&self) {
        let waker = self
            .waiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl TaskSink {
    /// The sink's writer task, and the handle that feeds it. The task ends once every handle is
    /// dropped and the frames are written, with the sink flushed and shut down.
    pub(crate) fn spawn<S: FrameSink>(
        sink: S,
    ) -> (Arc<Self>, tokio::task::JoinHandle<io::Result<()>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(TaskState {
            queued: AtomicUsize::new(0),
            waiter: Mutex::new(None),
            gone: AtomicBool::new(false),
        });
        let task = tokio::spawn(write_frames(sink, rx, state.clone()));
        (Arc::new(TaskSink { tx, state }), task)
    }
}

impl DirectSink for TaskSink {
    fn push_frame(&self, frame: Vec<u8>) -> io::Result<()> {
        let n = frame.len();
        self.state.queued.fetch_add(n, Ordering::AcqRel);
        self.tx
            .send(frame)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the SFTP writer is gone"))
    }

    fn poll_room(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let ready = |s: &TaskState| {
            if s.gone.load(Ordering::Acquire) {
                Some(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the SFTP writer is gone",
                )))
            } else if s.queued.load(Ordering::Acquire) < TASK_SINK_BOUND {
                Some(Ok(()))
            } else {
                None
            }
        };
        if let Some(r) = ready(&self.state) {
            return Poll::Ready(r);
        }
        *self
            .state
            .waiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cx.waker().clone());
        // A second look after registering: a frame written in between would not wake us.
        match ready(&self.state) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// The writer task of a [`TaskSink`].
async fn write_frames<S: FrameSink>(
    mut sink: S,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    state: Arc<TaskState>,
) -> io::Result<()> {
    let result = async {
        while let Some(frame) = rx.recv().await {
            write_one(&mut sink, frame, &state).await?;
            while let Ok(frame) = rx.try_recv() {
                write_one(&mut sink, frame, &state).await?;
            }
            sink.flush().await?;
        }
        sink.flush().await?;
        let _ = sink.shutdown().await;
        Ok(())
    }
    .await;
    state.gone.store(true, Ordering::Release);
    state.wake();
    result
}

async fn write_one<S: FrameSink>(
    sink: &mut S,
    frame: Vec<u8>,
    state: &TaskState,
) -> io::Result<()> {
    let n = frame.len();
    let r = sink.send_frame(frame).await;
    state.queued.fetch_sub(n, Ordering::AcqRel);
    state.wake();
    r
}
