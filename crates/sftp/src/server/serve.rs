//! The tokio driver of the server (feature `tokio`): [`serve`] and its forms run one session
//! over a byte stream, handing each request to the dispatcher ([`Session`]) through
//! [`Filesystem::spawn_blocking`] (see the module docs of `server`); replies leave in request
//! order through the `replies` module.

use std::io;
use std::sync::Arc;

use nacre_sftp_codec::{Frame, PacketType, StatusCode};
use tokio::sync::{RwLock, Semaphore};

use super::dispatch::status_frame;
use super::replies::{Replies, TaskSink};
use super::{decode_request, Filesystem, ServerConfig, Session, MAX_PACKET_LEN};
use crate::stream::{ChunkRead, FrameSink, PacketStream};

/// Serves one SFTP session: requests from `source`, replies to `sink`, files from `fs`. Returns
/// when the client closes its side (after every reply was written), or with an error on a
/// broken stream or a packet over [`MAX_PACKET_LEN`].
///
/// Over any byte stream: `serve(ReadChunks::new(reader), WriteSink::new(writer), fs, config)`.
/// A request that lies whole in one of the source's buffers (an SSH channel's data packet) is
/// used in place, not copied; a sink that keeps whole frames (nacre's channel writer) saves a
/// copy of every byte served, and with a [`crate::DirectSink`] each reply is queued by the
/// thread that made it: a request costs at most three task transitions from its arrival to
/// its reply on the way out (`replies` module).
pub async fn serve<C, S, F>(source: C, sink: S, fs: Arc<F>, config: ServerConfig) -> io::Result<()>
where
    C: ChunkRead,
    S: FrameSink,
    F: Filesystem,
{
    let in_flight = config.max_in_flight.max(1);
    let session = Arc::new(Session::new(fs, config));
    let (direct, mut sink, writer_task) = match sink.direct() {
        Some(direct) => (direct, Some(sink), None),
        None => {
            let (direct, task) = TaskSink::spawn(sink);
            (direct as Arc<dyn crate::DirectSink>, None, Some(task))
        }
    };
    let replies = Replies::new(direct);
    let order = Arc::new(RwLock::new(()));
    let permits = Arc::new(Semaphore::new(in_flight));
    let mut packets = PacketStream::new(source, MAX_PACKET_LEN);
    let mut next_seq: u64 = 0;
    let mut initialized = false;
    let result = loop {
        // Replies the client does not read keep the stream's queue full: take no more
        // requests until it drains.
        if let Err(e) = replies.room().await {
            break Err(e);
        }
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
        let seq = next_seq;
        next_seq += 1;
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
            replies.deliver(seq, Some(session.version_frame()));
            continue;
        }
        let id = frame.request_id();
        tracing::trace!(?kind, ?id, "SFTP request");
        let permit = permits.clone().acquire_owned().await.ok();
        // READs share the order lock; everything else holds it alone, in arrival order.
        let guard = if kind == PacketType::READ {
            Guard::Shared(order.clone().read_owned().await)
        } else {
            Guard::Exclusive(order.clone().write_owned().await)
        };
        // A READ of data already in memory is answered here; anything else, and a READ that
        // would wait for a device, goes to the blocking pool.
        if kind == PacketType::READ {
            let fast = decode_request(&packet)
                .ok()
                .and_then(|req| session.handle_read_nowait(&req));
            if let Some(reply) = fast {
                replies.deliver(seq, Some(reply));
                drop((guard, permit));
                continue;
            }
        }
        let job = Job {
            replies: replies.clone(),
            seq,
            id,
            answered: false,
            _held: (guard, permit),
        };
        let session2 = session.clone();
        session.fs.spawn_blocking(Box::new(move || {
            let reply = session2.handle_packet(&packet);
            job.answer(reply);
        }));
    };
    // Wait for every running request, then let the stream drain and finish.
    let _ = permits.acquire_many(in_flight as u32).await;
    let broken = replies.broken();
    drop(replies);
    let written = match (sink.as_mut(), writer_task) {
        (Some(sink), _) => match sink.flush().await {
            Ok(()) => {
                let _ = sink.shutdown().await;
                Ok(())
            }
            Err(e) => Err(e),
        },
        (None, Some(task)) => task.await.map_err(io::Error::other)?,
        (None, None) => Ok(()),
    };
    result.and(written).and(broken.map_or(Ok(()), Err))
}

/// Holds the order lock for one request.
#[allow(dead_code)]
enum Guard {
    Shared(tokio::sync::OwnedRwLockReadGuard<()>),
    Exclusive(tokio::sync::OwnedRwLockWriteGuard<()>),
}

/// One request handed to the blocking pool: its place in the reply order, and the order lock
/// and in-flight permit it holds until its reply is queued (a request that must wait for this
/// one also answers after it: clients such as paramiko match pipelined WRITE answers in order).
struct Job {
    replies: Arc<Replies>,
    seq: u64,
    id: Option<u32>,
    answered: bool,
    _held: (Guard, Option<tokio::sync::OwnedSemaphorePermit>),
}

impl Job {
    fn answer(mut self, reply: Option<Vec<u8>>) {
        tracing::trace!(id = ?self.id, "SFTP reply ready");
        self.answered = true;
        self.replies.deliver(self.seq, reply);
        // The lock and the permit go with `self`, after the reply is queued.
    }
}

impl Drop for Job {
    /// A job dropped unrun (or one whose dispatcher panicked) still answers its request, so the
    /// replies after it are not held back forever.
    fn drop(&mut self) {
        if !self.answered {
            let reply = self.id.map(|id| status_frame(id, StatusCode::FAILURE));
            self.replies.deliver(self.seq, reply);
        }
    }
}
