//! The two ends of an SFTP byte stream, shared by the server and the client: [`PacketStream`]
//! reads packets, a [`FrameSink`] takes whole frames.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};

use crate::client::proto::PacketBuf;

/// Takes frames (server replies or client requests), whole, owned and in order. [`WriteSink`]
/// writes them to any `AsyncWrite`; a stream that can keep a frame's buffer instead of copying it
/// (nacre's channel writer) implements this itself, and [`crate::serve`] and
/// [`crate::SftpClient::new`] hand it every frame.
pub trait FrameSink: Send + 'static {
    /// A handle that queues frames from any thread without waiting, if the stream has one
    /// (nacre's channel writer does): the server then sends each reply from the thread that
    /// made it, with no task in between. `None` (the default) puts a writer task between the
    /// server and the sink.
    fn direct(&self) -> Option<Arc<dyn DirectSink>> {
        None
    }

    /// Queues one frame (it may wait while the stream's queue is full).
    fn send_frame(&mut self, frame: Vec<u8>) -> impl Future<Output = io::Result<()>> + Send;
    /// Waits until every queued frame is on its way.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Ends the stream: no frame follows.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

/// Takes frames from any thread, at once: what [`FrameSink::direct`] hands out. The server
/// queues each reply through it from the thread that made the reply (in request order: it
/// holds its own ordering lock while it pushes), and waits for [`DirectSink::poll_room`] before
/// it takes another request, so the queue stays bounded by the requests in flight.
pub trait DirectSink: Send + Sync + 'static {
    /// Queues `frame` whole, now (the queue may go over its bound by this frame), and wakes the
    /// stream's writer. An error means the stream is gone.
    fn push_frame(&self, frame: Vec<u8>) -> io::Result<()>;
    /// Ready once the queue is below its bound (or the stream is gone: then an error).
    fn poll_room(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// A [`FrameSink`] over any `AsyncWrite`: frames go through a 256 KiB buffer, so that many small
/// ones leave in one write.
pub struct WriteSink<W: AsyncWrite>(BufWriter<W>);

impl<W: AsyncWrite> WriteSink<W> {
    /// A sink writing to `writer`.
    pub fn new(writer: W) -> Self {
        WriteSink(BufWriter::with_capacity(256 * 1024, writer))
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> FrameSink for WriteSink<W> {
    async fn send_frame(&mut self, frame: Vec<u8>) -> io::Result<()> {
        self.0.write_all(&frame).await
    }

    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        self.0.flush()
    }

    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        self.0.shutdown()
    }
}

/// A byte stream that hands over the buffers it received as they are (nacre's SSH channel
/// queues each data packet as one): the packet reader uses an SFTP packet that lies whole in one
/// buffer in place, and copies only a packet that spans buffers. [`ReadChunks`] makes any
/// `AsyncRead` one.
pub trait ChunkRead: Send {
    /// The next buffer (never empty); `None` at the end of the stream.
    fn read_chunk(&mut self) -> impl Future<Output = io::Result<Option<Bytes>>> + Send;
}

/// Room made for one read while packets are small or rare.
const SMALL_READ: usize = 16 * 1024;
/// Room made for one read while large packets (READ data, WRITEs) stream in.
const LARGE_READ: usize = 256 * 1024;

/// [`ChunkRead`] over any `AsyncRead`: each read goes into one buffer, split off as the chunk
/// (no copy); 16 KiB of room while reads are small, 256 KiB once they are large.
pub struct ReadChunks<R> {
    reader: R,
    buffer: BytesMut,
    read_size: usize,
}

impl<R> ReadChunks<R> {
    /// Chunks of `reader`.
    pub fn new(reader: R) -> Self {
        ReadChunks {
            reader,
            buffer: BytesMut::new(),
            read_size: SMALL_READ,
        }
    }
}

impl<R: AsyncRead + Unpin + Send> ChunkRead for ReadChunks<R> {
    async fn read_chunk(&mut self) -> io::Result<Option<Bytes>> {
        self.buffer.reserve(self.read_size);
        let n = self.reader.read_buf(&mut self.buffer).await?;
        if n == 0 {
            return Ok(None);
        }
        self.read_size = if n >= SMALL_READ {
            LARGE_READ
        } else {
            SMALL_READ
        };
        Ok(Some(self.buffer.split().freeze()))
    }
}

/// Reads SFTP packets from a [`ChunkRead`] stream, through the sans-IO [`PacketBuf`]: a packet
/// that lies whole in one chunk is split off it as a view; one that spans chunks is assembled
/// (only its own bytes are copied). A length field above `max_len` (or of 0) is refused as soon
/// as its four bytes are in, so at most one packet is assembled at a time.
pub(crate) struct PacketStream<C> {
    source: C,
    packets: PacketBuf,
}

impl<C: ChunkRead> PacketStream<C> {
    pub(crate) fn new(source: C, max_len: usize) -> Self {
        PacketStream {
            source,
            packets: PacketBuf::new(max_len),
        }
    }

    /// The next packet, from its type byte on (never empty); `None` when the stream ends.
    pub(crate) async fn next_packet(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let next = self
                .packets
                .next_packet()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some(p) = next {
                return Ok(Some(p));
            }
            match self.source.read_chunk().await? {
                Some(chunk) => self.packets.push(chunk),
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Chunks handed out as given.
    struct Chunks(VecDeque<Bytes>);

    impl ChunkRead for Chunks {
        async fn read_chunk(&mut self) -> io::Result<Option<Bytes>> {
            Ok(self.0.pop_front())
        }
    }

    #[tokio::test]
    async fn a_stream_of_chunks_yields_its_packets_and_refuses_an_oversize_one() {
        let chunks = vec![
            Bytes::from_static(&[0, 0, 0, 2, 101]),
            Bytes::from_static(&[7, 0, 0]),
            Bytes::from_static(&[0x20, 0, 9]),
        ];
        let mut s = PacketStream::new(Chunks(chunks.into()), 4096);
        assert_eq!(
            s.next_packet().await.unwrap().unwrap().to_vec(),
            vec![101, 7]
        );
        let err = s.next_packet().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
