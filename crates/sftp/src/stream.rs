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

/// A byte stream that hands over the buffers it received as they are (nacre's SSH channel
/// queues each data packet as one): [`PacketStream`] uses an SFTP packet that lies whole in one
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

/// Reads SFTP packets from a [`ChunkRead`] stream: a packet that lies whole in one chunk is split
/// off it as a view; one that spans chunks is assembled in a buffer (only its own bytes are
/// copied). A length field above `max_len` (or of 0) is refused as soon as its four bytes are in,
/// so at most one packet is assembled at a time.
pub(crate) struct PacketStream<C> {
    source: C,
    /// The rest of the last chunk (empty while a packet is being assembled).
    current: Bytes,
    /// A packet that spans chunks, being assembled.
    pending: BytesMut,
    max_len: usize,
}

impl<C: ChunkRead> PacketStream<C> {
    pub(crate) fn new(source: C, max_len: usize) -> Self {
        PacketStream {
            source,
            current: Bytes::new(),
            pending: BytesMut::new(),
            max_len,
        }
    }

    /// The next packet, from its type byte on (never empty); `None` when the stream ends.
    pub(crate) async fn next_packet(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if self.pending.is_empty() {
                if let Some(used) = self.whole_frame(&self.current)? {
                    return Ok(Some(self.current.split_to(used).slice(4..)));
                }
                // The start of a packet that continues in the next chunk (or nothing).
                self.pending.extend_from_slice(&self.current);
                self.current.clear();
            } else {
                if let Some(used) = self.whole_frame(&self.pending)? {
                    return Ok(Some(self.pending.split_to(used).freeze().slice(4..)));
                }
                if !self.current.is_empty() {
                    // Only what the pending packet still needs is copied; the rest stays a view.
                    let take = self.still_needed().min(self.current.len());
                    self.pending.extend_from_slice(&self.current.split_to(take));
                    continue;
                }
            }
            match self.source.read_chunk().await? {
                Some(chunk) => self.current = chunk,
                None => return Ok(None),
            }
        }
    }

    /// The length of the whole frame at the start of `buf`, if it is all there.
    fn whole_frame(&self, buf: &[u8]) -> io::Result<Option<usize>> {
        let parsed = parse_frame(buf, self.max_len)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(parsed.map(|(_, used)| used))
    }

    /// Bytes the pending packet lacks: up to its length field, then up to its end.
    fn still_needed(&self) -> usize {
        match self
            .pending
            .get(..4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
        {
            Some(len) => {
                let len = u32::from_be_bytes(len) as usize;
                (4 + len).saturating_sub(self.pending.len()).max(1)
            }
            None => 4usize.saturating_sub(self.pending.len()),
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

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    async fn packets(chunks: Vec<Bytes>, max_len: usize) -> io::Result<Vec<Bytes>> {
        let mut s = PacketStream::new(Chunks(chunks.into()), max_len);
        let mut out = Vec::new();
        while let Some(p) = s.next_packet().await? {
            out.push(p);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn packets_whole_in_a_chunk_are_views_and_split_ones_are_assembled() {
        let bodies: Vec<Vec<u8>> =
            vec![vec![101; 10], vec![102; 3000], vec![103; 1], vec![104; 70]];
        let stream: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
        // Every way of cutting the stream in two, then byte by byte.
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let chunks = vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)];
            let got = packets(chunks, 4096).await.unwrap();
            assert_eq!(
                got.iter().map(|p| p.to_vec()).collect::<Vec<_>>(),
                bodies,
                "cut {cut}"
            );
        }
        let bytewise = stream
            .iter()
            .map(|b| Bytes::copy_from_slice(&[*b]))
            .collect();
        let got = packets(bytewise, 4096).await.unwrap();
        assert_eq!(got.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), bodies);
        // One chunk per packet: each packet is a view of its chunk, nothing copied.
        let chunks: Vec<Bytes> = bodies.iter().map(|b| Bytes::from(frame(b))).collect();
        let got = packets(chunks.clone(), 4096).await.unwrap();
        for (p, c) in got.iter().zip(&chunks) {
            assert_eq!(p.as_ptr(), c[4..].as_ptr());
        }
    }

    #[tokio::test]
    async fn a_length_over_the_limit_is_refused_before_its_body_arrives() {
        let chunks = vec![
            Bytes::from_static(&[0, 0]),
            Bytes::from_static(&[0x20, 0, 9]),
        ];
        let err = packets(chunks, 4096).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
