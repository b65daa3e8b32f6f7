//! The tokio driver of the server (feature `tokio`): [`serve`] and its forms run one session
//! over a byte stream, handing each request to the dispatcher ([`Session`]) through
//! [`Filesystem::spawn_blocking`] (see the module docs of `server`).

use std::io;
use std::sync::Arc;

use nacre_sftp_codec::{Frame, PacketType, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, RwLock, Semaphore};

use super::dispatch::status_frame;
use super::{decode_request, Filesystem, ServerConfig, Session, MAX_PACKET_LEN};
use crate::stream::{ChunkRead, FrameSink, PacketStream, ReadChunks, WriteSink};

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
                .send((next_seq, Some(session.version_frame())))
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
                let reply = session.handle_packet(&bytes);
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
