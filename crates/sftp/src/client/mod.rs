//! The SFTP client: [`SftpClient`] over any `AsyncRead`/`AsyncWrite` pair.
//!
//! [`SftpClient::new`] sends INIT, reads VERSION and, when offered, asks `limits@openssh.com`
//! for the server's packet, read and write limits. Then a reader task matches replies to
//! requests by id and a writer task coalesces outgoing requests, so any number of calls may be
//! in flight at once from any number of tasks (the client is a cheap `Clone`).
//!
//! The type is not generic over the stream: the stream halves are owned by those two tasks, so
//! one `SftpClient` type serves an SSH channel, a child's pipes or an in-memory duplex alike.
//! Dropping every clone (and every [`File`]) closes the writing side; the server then ends the
//! session.
//!
//! Transfers ([`SftpClient::download`], [`SftpClient::upload`], their resuming forms and the
//! recursive ones) are pipelined: requests of up to 255 KiB (as the server's limits allow), a
//! window that starts at one request and grows by one per full reply (doubling every round
//! trip, as OpenSSH's client does) up to [`ClientConfig::max_in_flight`] (64), and replies
//! reassembled by offset.

mod error;
mod file;
mod local_io;
mod ops;
pub(crate) mod recursive;
mod transfer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::stream::{ChunkRead, FrameSink, PacketStream, ReadChunks, WriteSink};
use bytes::Bytes;
use nacre_sftp_codec::ext::names;
use nacre_sftp_codec::{
    encode_frame, Frame, Init, Limits, LimitsReply, Response, Status, StatusCode,
    DEFAULT_MAX_PACKET_LEN,
};
use nacre_wire::Encode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};

pub use error::{Error, Result};
pub use file::File;
pub use ops::ReadDir;

/// Default [`ClientConfig::max_request_len`]: 255 KiB less 128 bytes. A READ's DATA reply and a
/// WRITE (headers and a handle of up to 100 bytes included) then fit in one SSH channel packet of
/// 255 KiB, nacre's default maximum: the receiver takes each from its channel packet in place
/// ([`crate::ChunkRead`]) instead of assembling it from two.
pub const DEFAULT_MAX_REQUEST_LEN: usize = 255 * 1024 - 128;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest READ/WRITE request (further capped by the server's limits; 32 KiB when the
    /// server announces none, like OpenSSH).
    pub max_request_len: usize,
    /// Requests in flight per transfer, at most.
    pub max_in_flight: usize,
    /// Requests in flight when a transfer starts (slow start).
    pub initial_in_flight: usize,
    /// Largest packet accepted from the server; a longer one ends the session.
    pub max_packet_len: usize,
    /// How long one request may wait for its reply (`None`: forever, the default). A request
    /// past it fails with [`Error::Timeout`] and the session goes on (a late reply is dropped);
    /// in a transfer, no reply for that long fails the transfer.
    pub request_timeout: Option<Duration>,
    /// Most entries one directory listing may hold ([`SftpClient::list_dir`], recursive
    /// downloads); more is [`Error::TooManyEntries`], so a server that never ends a listing
    /// cannot exhaust the client's memory.
    pub max_listing_entries: usize,
    /// Most bytes one listing may hold (names and long names, plus 128 per entry for the rest);
    /// more is [`Error::TooManyEntries`].
    pub max_listing_bytes: usize,
}

/// Default [`ClientConfig::max_listing_entries`]: a million.
pub const DEFAULT_MAX_LISTING_ENTRIES: usize = 1_000_000;
/// Default [`ClientConfig::max_listing_bytes`]: 64 MiB.
pub const DEFAULT_MAX_LISTING_BYTES: usize = 64 << 20;

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_request_len: DEFAULT_MAX_REQUEST_LEN,
            max_in_flight: 64,
            initial_in_flight: 1,
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            request_timeout: None,
            max_listing_entries: DEFAULT_MAX_LISTING_ENTRIES,
            max_listing_bytes: DEFAULT_MAX_LISTING_BYTES,
        }
    }
}

/// The server's limits (`limits@openssh.com`); 0 means no specific limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerLimits {
    /// Largest packet.
    pub max_packet_length: u64,
    /// Largest READ answered in full.
    pub max_read_length: u64,
    /// Largest WRITE accepted.
    pub max_write_length: u64,
    /// Most open handles.
    pub max_open_handles: u64,
}

/// A reply: the frame from its type byte on.
#[derive(Debug)]
pub(crate) struct Reply(pub Bytes);

impl Reply {
    /// Decodes the reply; bytes after its last field are ignored (counted in a debug log), as
    /// OpenSSH's sftp client ignores them (docs/TOLERANCE.md).
    pub fn decode(&self) -> Result<Response<'_>> {
        let (response, ignored) = Response::decode_tolerant(&self.0)
            .map_err(|e| Error::protocol(format!("bad reply: {e}")))?;
        if ignored > 0 {
            tracing::debug!(id = ?response.id(), ignored, "SFTP reply: bytes after its fields ignored");
        }
        Ok(response)
    }
}

/// Where the reply of one request goes.
enum Waiter {
    Once(oneshot::Sender<Result<Reply>>),
    Stream(mpsc::UnboundedSender<(u32, Result<Reply>)>),
}

impl Waiter {
    fn deliver(self, id: u32, reply: Result<Reply>) {
        match self {
            Waiter::Once(tx) => {
                let _ = tx.send(reply);
            }
            Waiter::Stream(tx) => {
                let _ = tx.send((id, reply));
            }
        }
    }
}

#[derive(Default)]
struct Pending {
    waiters: HashMap<u32, Waiter>,
    lost: Option<String>,
}

fn lock(p: &Mutex<Pending>) -> MutexGuard<'_, Pending> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Inner {
    out: mpsc::UnboundedSender<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU32,
    version: u32,
    extensions: Vec<(String, String)>,
    limits: Option<ServerLimits>,
    config: ClientConfig,
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
    /// Starts a session with the default settings.
    pub async fn new<R, W>(reader: R, writer: W) -> Result<SftpClient>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::with_config(reader, writer, ClientConfig::default()).await
    }

    /// Starts a session: INIT, VERSION, then `limits@openssh.com` when offered.
    pub async fn with_config<R, W>(reader: R, writer: W, config: ClientConfig) -> Result<SftpClient>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        SftpClient::with_sink(reader, WriteSink::new(writer), config).await
    }

    /// [`SftpClient::with_config`] handing each request frame to `sink` whole (a stream that
    /// queues buffers without copying them, such as nacre's channel writer, saves a copy of every
    /// byte uploaded).
    pub async fn with_sink<R, S>(reader: R, sink: S, config: ClientConfig) -> Result<SftpClient>
    where
        R: AsyncRead + Unpin + Send + 'static,
        S: FrameSink,
    {
        SftpClient::with_chunks(ReadChunks::new(reader), sink, config).await
    }

    /// [`SftpClient::with_sink`] reading replies from a [`ChunkRead`] stream: a reply that lies
    /// whole in one of its buffers (an SSH channel's data packet) is used in place, not copied.
    pub async fn with_chunks<C, S>(
        source: C,
        mut sink: S,
        config: ClientConfig,
    ) -> Result<SftpClient>
    where
        C: ChunkRead + 'static,
        S: FrameSink,
    {
        let mut init = Vec::new();
        encode_frame(&Init::v3(), &mut init);
        sink.send_frame(init).await.map_err(lost)?;
        sink.flush().await.map_err(lost)?;
        let mut packets = PacketStream::new(source, config.max_packet_len);
        let first = packets
            .next_packet()
            .await
            .map_err(lost)?
            .ok_or_else(|| lost("the server closed the stream before VERSION"))?;
        let (version, extensions) = match Response::decode_bytes(&first) {
            Ok(Response::Version(v)) => {
                let ext = v
                    .extensions
                    .iter()
                    .map(|p| {
                        (
                            String::from_utf8_lossy(p.name).into_owned(),
                            String::from_utf8_lossy(p.data).into_owned(),
                        )
                    })
                    .collect::<Vec<_>>();
                (v.version, ext)
            }
            _ => return Err(Error::protocol("the server's first packet is not VERSION")),
        };
        if version < 3 {
            return Err(Error::protocol(format!(
                "the server speaks SFTP version {version}, not 3"
            )));
        }
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (out, out_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_replies(packets, pending.clone()));
        tokio::spawn(write_requests(sink, out_rx, pending.clone()));
        let mut client = SftpClient {
            inner: Arc::new(Inner {
                out,
                pending,
                next_id: AtomicU32::new(1),
                version,
                extensions,
                limits: None,
                config,
            }),
        };
        if client.supports(names::LIMITS, "1") {
            let reply = client.call(|id| Limits { id }).await?;
            let limits = match reply.decode()? {
                Response::ExtendedReply(r) => ops::from_reply::<LimitsReply>(&r)?,
                other => return Err(unexpected(&other)),
            };
            if let Some(inner) = Arc::get_mut(&mut client.inner) {
                inner.limits = Some(ServerLimits {
                    max_packet_length: limits.max_packet_length,
                    max_read_length: limits.max_read_length,
                    max_write_length: limits.max_write_length,
                    max_open_handles: limits.max_open_handles,
                });
            }
        }
        Ok(client)
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
        let cfg = &self.inner.config;
        let mut len = cfg.max_request_len;
        match self.inner.limits {
            Some(l) if l.max_read_length > 0 => len = len.min(to_usize(l.max_read_length)),
            Some(_) => {}
            None => len = len.min(32 * 1024),
        }
        len.min(cfg.max_packet_len.saturating_sub(64)).max(1)
    }

    /// Bytes per WRITE request for a handle of `handle_len` bytes.
    pub fn write_len(&self, handle_len: usize) -> usize {
        let cfg = &self.inner.config;
        let mut len = cfg.max_request_len;
        match self.inner.limits {
            Some(l) => {
                if l.max_write_length > 0 {
                    len = len.min(to_usize(l.max_write_length));
                }
                if l.max_packet_length > 0 {
                    let overhead = 1 + 4 + 4 + handle_len + 8 + 4;
                    len = len.min(to_usize(l.max_packet_length).saturating_sub(overhead));
                }
            }
            None => len = len.min(32 * 1024),
        }
        len.max(1)
    }

    fn next_id(&self) -> u32 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers `waiter` and queues the frame `encode(id)` writes. Returns the id.
    fn send_raw(&self, waiter: Waiter, encode: impl FnOnce(u32, &mut Vec<u8>)) -> Result<u32> {
        let id = self.next_id();
        {
            let mut p = lock(&self.inner.pending);
            if let Some(why) = &p.lost {
                return Err(Error::ConnectionLost(why.clone()));
            }
            p.waiters.insert(id, waiter);
        }
        let mut frame = Vec::new();
        encode(id, &mut frame);
        if self.inner.out.send(frame).is_err() {
            lock(&self.inner.pending).waiters.remove(&id);
            return Err(lost("the writer has stopped"));
        }
        Ok(id)
    }

    /// Sends the request `build(id)`; its reply arrives on the returned receiver.
    pub(crate) fn send_once<M: Encode>(
        &self,
        build: impl FnOnce(u32) -> M,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        let (tx, rx) = oneshot::channel();
        self.send_raw(Waiter::Once(tx), |id, out| {
            encode_frame(&build(id), out);
        })?;
        Ok(rx)
    }

    /// Sends a request whose reply goes to `stream` with its id.
    pub(crate) fn send_stream(
        &self,
        stream: &mpsc::UnboundedSender<(u32, Result<Reply>)>,
        encode: impl FnOnce(u32, &mut Vec<u8>),
    ) -> Result<u32> {
        self.send_raw(Waiter::Stream(stream.clone()), encode)
    }

    /// Sends the request `build(id)` and waits for its reply (at most
    /// [`ClientConfig::request_timeout`]: then the request is forgotten and fails).
    pub(crate) async fn call<M: Encode>(&self, build: impl FnOnce(u32) -> M) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        let id = self.send_raw(Waiter::Once(tx), |id, out| {
            encode_frame(&build(id), out);
        })?;
        let reply = match self.inner.config.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, rx).await {
                Ok(r) => r,
                Err(_) => {
                    self.forget(id);
                    return Err(Error::Timeout(limit));
                }
            },
            None => rx.await,
        };
        reply.map_err(|_| lost("the reader has stopped"))?
    }

    /// Drops the waiter of request `id` (a reply that still comes is ignored).
    pub(crate) fn forget(&self, id: u32) {
        lock(&self.inner.pending).waiters.remove(&id);
    }

    /// Waits for the next reply of a transfer's stream, at most
    /// [`ClientConfig::request_timeout`].
    pub(crate) async fn next_streamed(
        &self,
        rx: &mut mpsc::UnboundedReceiver<(u32, Result<Reply>)>,
    ) -> Result<(u32, Result<Reply>)> {
        let next = match self.inner.config.request_timeout {
            Some(limit) => tokio::time::timeout(limit, rx.recv())
                .await
                .map_err(|_| Error::Timeout(limit))?,
            None => rx.recv().await,
        };
        next.ok_or_else(|| Error::ConnectionLost("the reader has stopped".into()))
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn lost(e: impl ToString) -> Error {
    Error::ConnectionLost(e.to_string())
}

/// The error for a STATUS reply (OK included: callers check for it first).
pub(crate) fn status_error(s: &Status<'_>) -> Error {
    Error::Status {
        code: s.code,
        message: s.message.clone().into_owned(),
    }
}

/// The error for a reply of an unexpected type: a non-OK status is the server's answer, any
/// other type is a protocol violation.
pub(crate) fn unexpected(r: &Response<'_>) -> Error {
    match r {
        Response::Status(s) => status_error(s),
        other => Error::protocol(format!("unexpected reply {:?}", other.packet_type())),
    }
}

/// `Ok(())` for STATUS OK, the error otherwise.
pub(crate) fn expect_ok(reply: &Reply) -> Result<()> {
    match reply.decode()? {
        Response::Status(s) if s.code == StatusCode::OK => Ok(()),
        other => Err(unexpected(&other)),
    }
}

async fn read_replies<C: ChunkRead>(mut packets: PacketStream<C>, pending: Arc<Mutex<Pending>>) {
    let why = loop {
        let packet = match packets.next_packet().await {
            Ok(Some(p)) => p,
            Ok(None) => break "the server closed the stream".to_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                break format!("bad packet from the server: {e}")
            }
            Err(e) => break e.to_string(),
        };
        let Ok(Some(id)) = Frame::new(&packet).map(|f| f.request_id()) else {
            break "the server sent a packet without a request id".to_owned();
        };
        let waiter = lock(&pending).waiters.remove(&id);
        match waiter {
            Some(w) => w.deliver(id, Ok(Reply(packet))),
            None => tracing::debug!(id, "SFTP reply to no pending request"),
        }
    };
    fail_all(&pending, why);
}

fn fail_all(pending: &Mutex<Pending>, why: String) {
    let waiters = {
        let mut p = lock(pending);
        if p.lost.is_none() {
            p.lost = Some(why.clone());
        }
        std::mem::take(&mut p.waiters)
    };
    for (id, w) in waiters {
        w.deliver(id, Err(Error::ConnectionLost(why.clone())));
    }
}

async fn write_requests<S: FrameSink>(
    mut sink: S,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
) {
    while let Some(first) = rx.recv().await {
        let sent = async {
            sink.send_frame(first).await?;
            while let Ok(more) = rx.try_recv() {
                sink.send_frame(more).await?;
            }
            sink.flush().await
        };
        if let Err(e) = sent.await {
            fail_all(&pending, format!("writing to the server: {e}"));
            return;
        }
    }
    let _ = sink.shutdown().await;
}
