//! [`SftpClient`]: the tokio driver of [`ClientProto`] over any byte stream.
//!
//! The machine sits behind one mutex with the callers' wakers. Three tasks drive it: the reader
//! feeds it the stream's buffers ([`ChunkRead`]) and hands out the events (a reply to its
//! caller's oneshot, job progress to the job's waker); the writer hands the frames it transmits
//! to the [`FrameSink`], coalesced; with [`ClientConfig::request_timeout`] set, the timer feeds it
//! time at its earliest deadline. Calls register a request and await its reply from any number
//! of tasks at once (the client is a cheap `Clone`).
//!
//! The type is not generic over the stream: the stream halves are owned by those tasks, so one
//! `SftpClient` type serves an SSH channel, a child's pipes or an in-memory duplex alike.
//! Dropping every clone (and every [`crate::File`]) closes the writing side once every queued
//! request is written; the server then ends the session.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use nacre_sftp_codec::{Close, Response};
use nacre_wire::Encode;

use tokio::sync::{oneshot, Notify};

use super::proto::{ClientProto, Event, JobId, RequestId};
use super::{ClientConfig, Error, Reply, Result, ServerLimits};
use crate::stream::{ChunkRead, FrameSink};

/// The present, for the machine (tokio's clock, so paused time in tests applies).
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The machine and who waits on it.
struct Shared {
    proto: ClientProto,
    waiters: HashMap<RequestId, oneshot::Sender<Result<Reply>>>,
    jobs: HashMap<JobId, Waker>,
    handshake: Option<Result<()>>,
    handshake_waker: Option<Waker>,
    /// Every [`SftpClient`] is gone: the writer ends the stream once its queue is empty.
    released: bool,
    /// The deadline the timer task sleeps until.
    timer_at: Option<Instant>,
}

/// What the tasks share with the clients.
struct Core {
    shared: Mutex<Shared>,
    writer: Notify,
    timer: Notify,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// After the machine moved: hands out its events, wakes the writer when frames wait and
    /// the timer when a deadline is earlier than the one it sleeps to.
    fn after(&self, s: &mut Shared) {
        while let Some(event) = s.proto.poll_event() {
            match event {
                Event::Handshake(r) => {
                    s.handshake = Some(r);
                    if let Some(w) = s.handshake_waker.take() {
                        w.wake();
                    }
                }
                Event::Reply { id, reply } => {
                    if let Some(tx) = s.waiters.remove(&id) {
                        if let Err(Ok(reply)) = tx.send(reply) {
                            close_orphan(&mut s.proto, &reply);
                        }
                    }
                }
                Event::Job(job) => {
                    if let Some(w) = s.jobs.remove(&job) {
                        w.wake();
                    }
                }
            }
        }
        if s.proto.has_transmit() {
            self.writer.notify_one();
        }
        if let Some(at) = s.proto.poll_timeout() {
            if s.timer_at.is_none_or(|t| at < t) {
                s.timer_at = Some(at);
                self.timer.notify_one();
            }
        }
    }
}

/// A reply whose caller stopped waiting (its future was dropped: a cancelled transfer, an
/// `open` given up): a handle it brings is closed at once (the answer not awaited), or the
/// server would keep it open until the session ends.
fn close_orphan(proto: &mut ClientProto, reply: &Reply) {
    if let Ok(Response::Handle(h)) = reply.decode() {
        if let Ok(id) = proto.request(now(), |id| Close {
            id,
            handle: h.handle,
        }) {
            proto.forget(id);
        }
    }
}

struct Inner {
    core: Arc<Core>,
    version: u32,
    extensions: Vec<(String, String)>,
    limits: Option<ServerLimits>,
    config: ClientConfig,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.core.lock().released = true;
        self.core.writer.notify_one();
        self.core.timer.notify_one();
    }
}

/// An SFTP session's client side. Cheap to clone; every clone shares the session.
#[derive(Clone)]
pub struct SftpClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SftpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpClient")
            .field("version", &self.inner.version)
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl SftpClient {
    /// Starts a session over `source` (replies) and `sink` (requests): INIT, VERSION, then
    /// `limits@openssh.com` when offered. Over any byte stream:
    /// `SftpClient::new(ReadChunks::new(reader), WriteSink::new(writer), ClientConfig::default())`;
    /// a source that hands over whole buffers (an SSH channel's data packets) has replies used
    /// in place, and a sink that keeps whole frames (nacre's channel writer) saves a copy of
    /// every byte uploaded. Over SSH, `nacre::Connection::sftp` does all this.
    pub async fn new<C, S>(source: C, sink: S, config: ClientConfig) -> Result<SftpClient>
    where
        C: ChunkRead + 'static,
        S: FrameSink,
    {
        let core = Arc::new(Core {
            shared: Mutex::new(Shared {
                proto: ClientProto::new(config.clone()),
                waiters: HashMap::new(),
                jobs: HashMap::new(),
                handshake: None,
                handshake_waker: None,
                released: false,
                timer_at: None,
            }),
            writer: Notify::new(),
            timer: Notify::new(),
        });
        core.writer.notify_one();
        tokio::spawn(write_requests(sink, core.clone()));
        tokio::spawn(read_replies(source, core.clone()));
        if config.request_timeout.is_some() {
            tokio::spawn(run_timer(core.clone()));
        }
        let shook = poll_fn(|cx| {
            let mut s = core.lock();
            match s.handshake.take() {
                Some(r) => Poll::Ready(r),
                None => {
                    s.handshake_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let (version, extensions, limits) = {
            let s = core.lock();
            (
                s.proto.version(),
                s.proto.extensions().to_vec(),
                s.proto.limits(),
            )
        };
        // From here on, dropping the last client ends the session (on failure: at once).
        let client = SftpClient {
            inner: Arc::new(Inner {
                core,
                version,
                extensions,
                limits,
                config,
            }),
        };
        shook.map(|()| client)
    }

    /// The protocol version the server announced.
    pub fn version(&self) -> u32 {
        self.inner.version
    }

    /// The extensions the server announced: (name, data).
    pub fn extensions(&self) -> &[(String, String)] {
        &self.inner.extensions
    }

    /// True when the server announced extension `name` with `version`.
    pub fn supports(&self, name: &str, version: &str) -> bool {
        self.inner
            .extensions
            .iter()
            .any(|(n, v)| n == name && v == version)
    }

    /// The server's limits, when it announced `limits@openssh.com`.
    pub fn limits(&self) -> Option<ServerLimits> {
        self.inner.limits
    }

    /// The client settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Bytes per READ request: the configured size within the server's limits (32 KiB without
    /// limits) and within our packet cap.
    pub fn read_len(&self) -> usize {
        super::read_len(&self.inner.config, self.inner.limits)
    }

    /// Bytes per WRITE request for a handle of `handle_len` bytes.
    pub fn write_len(&self, handle_len: usize) -> usize {
        super::write_len(&self.inner.config, self.inner.limits, handle_len)
    }

    /// Runs `f` on the machine, then hands out what it produced.
    pub(crate) fn with_proto<T>(&self, f: impl FnOnce(&mut ClientProto) -> T) -> T {
        let core = &self.inner.core;
        let mut s = core.lock();
        let out = f(&mut s.proto);
        core.after(&mut s);
        out
    }

    /// Sends the request `build(id)`; its reply (or its failure: timeout, connection lost)
    /// arrives on the returned receiver.
    pub(crate) fn send_once<M: Encode>(
        &self,
        build: impl FnOnce(u32) -> M,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        let core = &self.inner.core;
        let mut s = core.lock();
        let id = s.proto.request(now(), build)?;
        let (tx, rx) = oneshot::channel();
        s.waiters.insert(id, tx);
        core.after(&mut s);
        Ok(rx)
    }

    /// Sends the request `build(id)` and waits for its reply (at most
    /// [`ClientConfig::request_timeout`]: then the request is forgotten and fails).
    pub(crate) async fn call<M: Encode>(&self, build: impl FnOnce(u32) -> M) -> Result<Reply> {
        let rx = self.send_once(build)?;
        rx.await
            .map_err(|_| Error::ConnectionLost("the reader has stopped".into()))?
    }

    /// Closes a handle without waiting for the answer.
    pub(crate) fn close_later(&self, handle: &[u8]) {
        let _ = self.send_once(|id| Close { id, handle });
    }

    /// Polls job `job` with `step` (`None`: not yet, the job's next event wakes this task).
    pub(crate) fn poll_job<T>(
        &self,
        cx: &mut Context<'_>,
        job: JobId,
        step: impl FnOnce(&mut ClientProto) -> Option<T>,
    ) -> Poll<T> {
        let core = &self.inner.core;
        let mut s = core.lock();
        let out = step(&mut s.proto);
        if out.is_none() {
            s.jobs.insert(job, cx.waker().clone());
        }
        core.after(&mut s);
        match out {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }

    /// A guard over job `job` to wait on it; it cancels the job if the caller stops waiting.
    pub(crate) fn job(&self, job: JobId) -> JobGuard<'_> {
        JobGuard {
            client: self,
            job,
            live: true,
        }
    }
}

/// A job of the machine that is cancelled if its future is dropped before it ends.
pub(crate) struct JobGuard<'a> {
    client: &'a SftpClient,
    job: JobId,
    live: bool,
}

impl JobGuard<'_> {
    /// The job.
    pub(crate) fn id(&self) -> JobId {
        self.job
    }

    /// The next value of `step` (`None`: wait for the job's next event).
    pub(crate) async fn next<T>(
        &mut self,
        mut step: impl FnMut(&mut ClientProto) -> Option<T>,
    ) -> T {
        let (client, job) = (self.client, self.job);
        poll_fn(|cx| client.poll_job(cx, job, &mut step)).await
    }

    /// The job ended inside the machine: nothing to cancel.
    pub(crate) fn finished(&mut self) {
        self.live = false;
    }
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        if self.live {
            let job = self.job;
            self.client.with_proto(|p| p.job_cancel(now(), job));
        }
    }
}

/// Feeds the stream to the machine until it ends or the machine closes.
async fn read_replies<C: ChunkRead>(mut source: C, core: Arc<Core>) {
    loop {
        let chunk = source.read_chunk().await;
        let mut s = core.lock();
        match chunk {
            Ok(Some(c)) => s.proto.handle_input_bytes(now(), c),
            Ok(None) => s.proto.handle_eof(),
            Err(e) => s.proto.handle_error(e.to_string()),
        }
        let closed = s.proto.closed().is_some();
        core.after(&mut s);
        if closed {
            return;
        }
    }
}

/// Hands the machine's frames to the sink, flushing when the queue runs dry; ends the stream
/// once every client is gone (or the session is over) and nothing is left to write.
async fn write_requests<S: FrameSink>(mut sink: S, core: Arc<Core>) {
    loop {
        core.writer.notified().await;
        loop {
            let (frames, done) = {
                let mut s = core.lock();
                let mut frames = Vec::new();
                while let Some(f) = s.proto.poll_transmit_frame() {
                    frames.push(f);
                }
                (frames, s.released || s.proto.closed().is_some())
            };
            if frames.is_empty() {
                if done {
                    let _ = sink.shutdown().await;
                    return;
                }
                break;
            }
            let sent = async {
                for f in frames {
                    sink.send_frame(f).await?;
                }
                sink.flush().await
            };
            if let Err(e) = sent.await {
                let mut s = core.lock();
                s.proto.handle_error(format!("writing to the server: {e}"));
                core.after(&mut s);
                return;
            }
        }
    }
}

/// Feeds time to the machine at its deadlines, while any client lives.
async fn run_timer(core: Arc<Core>) {
    loop {
        let at = {
            let mut s = core.lock();
            if s.released || s.proto.closed().is_some() {
                return;
            }
            s.proto.handle_timeout(now());
            let at = s.proto.poll_timeout();
            s.timer_at = at;
            core.after(&mut s);
            at
        };
        match at {
            Some(at) => {
                let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(at));
                tokio::select! {
                    () = sleep => {}
                    () = core.timer.notified() => {}
                }
            }
            None => core.timer.notified().await,
        }
    }
}
