//! The two ends of an SFTP byte stream, shared by the server and the client: [`PacketStream`]
//! reads packets, a [`FrameSink`] takes whole frames.

use std::future::Future;
use std::io;

use bytes::{Bytes, BytesMut};
use nacre_sftp_codec::parse_frame;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};

/// Takes frames (server replies or client requests), whole, owned and in order. [`WriteSink`]
/// writes them to any `AsyncWrite`; a stream that can keep a frame's buffer instead of copying it
/// (nacre's channel writer) implements this itself, and [`crate::serve_framed`] and
/// [`crate::SftpClient::with_sink`] hand it every frame.
pub trait FrameSink: Send + 'static {
    /// Queues one frame (it may wait while the stream's queue is full).
    fn send_frame(&mut self, frame: Vec<u8>) -> impl Future<Output = io::Result<()>> + Send;
    /// Waits until every queued frame is on its way.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Ends the stream: no frame follows.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send;
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

/// Room made for one read while packets are small or rare.
const SMALL_READ: usize = 16 * 1024;
/// Room made for one read while large packets (READ data, WRITEs) stream in.
const LARGE_READ: usize = 256 * 1024;

/// Reads SFTP packets from a byte stream: the stream is read straight into one buffer and each
/// packet is split off it as a view (no copy per packet). A length field above `max_len` (or of
/// 0) is refused as soon as its four bytes are in, so the buffer holds at most one packet and one
/// read.
pub(crate) struct PacketStream<R> {
    reader: R,
    pending: BytesMut,
    read_size: usize,
    max_len: usize,
}

impl<R: AsyncRead + Unpin> PacketStream<R> {
    pub(crate) fn new(reader: R, max_len: usize) -> Self {
        PacketStream {
            reader,
            pending: BytesMut::new(),
            read_size: SMALL_READ,
            max_len,
        }
    }

    /// The next packet, from its type byte on (never empty); `None` when the stream ends.
    pub(crate) async fn next_packet(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let parsed = parse_frame(&self.pending, self.max_len)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if let Some((_, used)) = parsed {
                return Ok(Some(self.pending.split_to(used).freeze().slice(4..)));
            }
            self.pending.reserve(self.read_size);
            let n = self.reader.read_buf(&mut self.pending).await?;
            if n == 0 {
                return Ok(None);
            }
            self.read_size = if n >= SMALL_READ {
                LARGE_READ
            } else {
                SMALL_READ
            };
        }
    }
}
