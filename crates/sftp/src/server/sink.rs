//! Where the server's reply frames go.

use std::future::Future;
use std::io;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

/// Takes the server's reply frames, whole, owned and in order. [`WriteSink`] writes them to any
/// `AsyncWrite`; a stream that can keep a frame's buffer instead of copying it (nacre's channel
/// writer) implements this itself, and [`crate::serve_framed`] hands it every frame.
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
