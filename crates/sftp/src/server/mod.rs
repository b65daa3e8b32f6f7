//! The SFTP server: [`serve`] runs one session over any byte stream pair (an SSH channel,
//! stdin/stdout, an in-memory pipe) with a [`Filesystem`] backend.
//!
//! The connection task reads requests in large chunks, decodes every complete frame and hands
//! each request to tokio's blocking pool (a READ whose data the backend has at hand without
//! waiting, [`Filesystem::read_at_into_nowait`], it answers itself); replies go to a writer task
//! that coalesces them into few writes. READs run concurrently, but every reply goes out in request order (PuTTY's pscp
//! requires it for READs; paramiko for WRITEs);
//! every other request waits for the requests before it and runs alone, so a WRITE followed by
//! a READ, a CLOSE or a STAT of the same file is always seen in order. At most
//! [`ServerConfig::max_in_flight`] requests run at once: beyond that the server stops reading
//! and the transport's flow control holds the client back.

mod dispatch;
pub(crate) mod extensions;
pub(crate) mod filesystem;
mod handles;

use std::io;
use std::sync::Arc;

use nacre_sftp_codec::{Frame, PacketType, Request, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, RwLock, Semaphore};

pub use dispatch::Session;
pub use filesystem::Filesystem;
pub use handles::HandleBudget;

use crate::longname::Accounts;
use crate::stream::{ChunkRead, FrameSink, PacketStream, ReadChunks, WriteSink};
use dispatch::status_frame;

/// Largest packet the server accepts and announces (`limits@openssh.com`): 256 KiB, OpenSSH's
/// `SFTP_MAX_MSG_LENGTH`. A longer one ends the session.
pub const MAX_PACKET_LEN: usize = 256 * 1024;
/// Largest READ answered in full (longer ones are clamped) and announced: 255 KiB, which keeps
/// a DATA reply under [`MAX_PACKET_LEN`].
pub const MAX_READ_LEN: usize = 255 * 1024;
/// Largest WRITE announced: 255 KiB.
pub const MAX_WRITE_LEN: usize = 255 * 1024;
/// Default cap on open handles.
pub const DEFAULT_MAX_HANDLES: usize = 512;
/// Default number of requests served at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Refuse every request that would change anything (PERMISSION_DENIED).
    pub read_only: bool,
    /// Open handles at most in this session; OPEN and OPENDIR beyond get FAILURE.
    pub max_handles: usize,
    /// Budgets this session's handles also count against, shared with other sessions (the
    /// connection's, the user's, the server's: [`HandleBudget`]); OPEN and OPENDIR get FAILURE
    /// ("too many open handles") when any is spent. Empty by default.
    pub handle_budgets: Vec<Arc<HandleBudget>>,
    /// Requests served at once.
    pub max_in_flight: usize,
    /// User and group names for long names and `users-groups-by-id@openssh.com`.
    pub accounts: Arc<Accounts>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            read_only: false,
            max_handles: DEFAULT_MAX_HANDLES,
            handle_budgets: Vec::new(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            accounts: Arc::new(Accounts::load()),
        }
    }
}

/// Serves one SFTP session with the default settings until the client closes its side.
pub async fn serve<R, W, F>(reader: R, writer: W, fs: F) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
    F: Filesystem,
{
    serve_with(reader, writer, Arc::new(fs), ServerConfig::default()).await
}

/// Serves one SFTP session. Returns when the client closes its side (after every reply was
/// written), or with an error on a broken stream or a packet over [`MAX_PACKET_LEN`].
pub async fn serve_with<R, W, F>(
    reader: R,
    writer: W,
    fs: Arc<F>,
    config: ServerConfig,
) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
    F: Filesystem,
{
    serve_framed(reader, WriteSink::new(writer), fs, config).await
}

/// [`serve_with`] handing each reply frame to `sink` whole (a stream that queues buffers
/// without copying them saves a copy of every byte served).
pub async fn serve_framed<R, S, F>(
    reader: R,
    sink: S,
    fs: Arc<F>,
    config: ServerConfig,
) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send,
    S: FrameSink,
    F: Filesystem,
{
    serve_chunked(ReadChunks::new(reader), sink, fs, config).await
}

/// [`serve_framed`] reading requests from a [`ChunkRead`] stream: a request that lies whole in
/// one of its buffers (an SSH channel's data packet) is used in place, not copied.
pub async fn serve_chunked<C, S, F>(
    source: C,
    sink: S,
    fs: Arc<F>,
    config: ServerConfig,
) -> io::Result<()>
where
    C: ChunkRead,
    S: FrameSink,
    F: Filesystem,
{
    let in_flight = config.max_in_flight.max(1);
    let session = Arc::new(Session::new(fs, config));
    // Replies carry their request's arrival number: the writer sends them in that order.
    let (tx, rx) = mpsc::channel::<(u64, Option<Vec<u8>>)>(in_flight * 2);
    let mut next_seq: u64 = 0;
    let writer_task = tokio::spawn(write_replies(sink, rx));
    let order = Arc::new(RwLock::new(()));
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut packets = PacketStream::new(source, MAX_PACKET_LEN);
    let mut initialized = false;
    let result = loop {
        let packet = match packets.next_packet().await {
            Ok(Some(p)) => p,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let frame = match Frame::new(&packet) {
            Ok(f) => f,
            Err(e) => break Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        let kind = frame.packet_type();
        // A later INIT is answered with VERSION again, as OpenSSH's sftp-server answers every
        // INIT (`process()` calls `process_init()` each time; docs/TOLERANCE.md).
        if !initialized || kind == PacketType::INIT {
            if kind != PacketType::INIT {
                break Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the first SFTP packet is not INIT",
                ));
            }
            initialized = true;
            if tx
                .send((next_seq, Some(extensions::version_frame(&*session.fs))))
                .await
                .is_err()
            {
                break Ok(());
            }
            next_seq += 1;
            continue;
        }
        let bytes = packet.clone();
        let id = frame.request_id();
        let seq = next_seq;
        next_seq += 1;
        tracing::trace!(?kind, ?id, "SFTP request");
        let permit = permits.clone().acquire_owned().await;
        // READs share the order lock; everything else holds it alone, in arrival order.
        let guard = if kind == PacketType::READ {
            Guard::Shared(order.clone().read_owned().await)
        } else {
            Guard::Exclusive(order.clone().write_owned().await)
        };
        // A READ of data already in memory is answered here; anything else, and a READ that
        // would wait for a device, goes to the blocking pool.
        if kind == PacketType::READ {
            let fast = decode_request(&bytes)
                .ok()
                .and_then(|req| session.handle_read_nowait(&req));
            if let Some(reply) = fast {
                let _ = tx.send((seq, Some(reply))).await;
                drop((guard, permit));
                continue;
            }
        }
        let (session, tx) = (session.clone(), tx.clone());
        tokio::spawn(async move {
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            let fs = session.fs.clone();
            fs.spawn_blocking(Box::new(move || {
                let reply = match decode_request(&bytes) {
                    Ok(req) => Some(session.handle(&req)),
                    Err(_) => id.map(|id| status_frame(id, StatusCode::BAD_MESSAGE)),
                };
                let _ = done_tx.send((reply, guard));
            }));
            let done = done_rx.await;
            tracing::trace!(?id, "SFTP reply ready");
            match done {
                Ok((reply, guard)) => {
                    let _ = tx.send((seq, reply)).await;
                    // Released only once the reply is queued: a request that must wait for
                    // this one also answers after it (clients such as paramiko match pipelined
                    // WRITE answers in order).
                    drop(guard);
                }
                // The job was dropped unrun or failed: the request still gets its answer,
                // so the replies after it are not held back forever.
                Err(_) => {
                    let reply = id.map(|id| status_frame(id, StatusCode::FAILURE));
                    let _ = tx.send((seq, reply)).await;
                }
            }
            drop(permit);
        });
    };
    // Wait for every running request, then let the writer drain and finish.
    let _ = permits.acquire_many(in_flight as u32).await;
    drop(tx);
    let written = writer_task.await.map_err(io::Error::other)?;
    result.and(written)
}

/// Decodes a request the way OpenSSH's sftp-server reads one: bytes after its last field are
/// ignored (counted in a debug log), not refused (docs/TOLERANCE.md).
pub(crate) fn decode_request(bytes: &[u8]) -> Result<Request<'_>, nacre_wire::WireError> {
    let (request, ignored) = Request::decode_tolerant(bytes)?;
    if ignored > 0 {
        tracing::debug!(
            id = ?request.id(),
            kind = ?request.packet_type(),
            ignored,
            "SFTP request: bytes after its fields ignored"
        );
    }
    Ok(request)
}

/// Holds the order lock for one request.
#[allow(dead_code)]
enum Guard {
    Shared(tokio::sync::OwnedRwLockReadGuard<()>),
    Exclusive(tokio::sync::OwnedRwLockWriteGuard<()>),
}

/// Hands reply frames to the sink in request order, each whole (no copy into a coalescing
/// buffer), and flushes when the queue runs dry.
async fn write_replies<S: FrameSink>(
    mut sink: S,
    mut rx: mpsc::Receiver<(u64, Option<Vec<u8>>)>,
) -> io::Result<()> {
    // Replies that finished before an earlier request's: held until their turn. At most
    // `max_in_flight` requests run at once, which bounds this.
    let mut pending: std::collections::BTreeMap<u64, Option<Vec<u8>>> =
        std::collections::BTreeMap::new();
    let mut expected: u64 = 0;
    while let Some((seq, reply)) = rx.recv().await {
        pending.insert(seq, reply);
        loop {
            while let Some(reply) = pending.remove(&expected) {
                expected += 1;
                if let Some(r) = reply {
                    sink.send_frame(r).await?;
                }
            }
            match rx.try_recv() {
                Ok((seq, reply)) => {
                    pending.insert(seq, reply);
                }
                Err(_) => break,
            }
        }
        sink.flush().await?;
        tracing::trace!("SFTP replies flushed");
    }
    sink.flush().await?;
    let _ = sink.shutdown().await;
    Ok(())
}
