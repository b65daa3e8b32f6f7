//! How much the link holds: channel windows sized from the TCP receive buffer.
//!
//! A channel's window caps what the peer may have in flight towards us, so a window smaller
//! than the path's bandwidth-delay product caps the transfer below the link's rate (OpenSSH's
//! 2 MiB window holds a 50 ms path to ~40 MiB/s). Linux sizes a TCP socket's receive buffer
//! from what the connection delivered per round trip (receive-buffer auto-tuning), so the
//! buffer is the kernel's own measure of the bandwidth-delay product, and it grows as long as
//! more arrives per round trip. The connection task reads it every [`LOOK_EVERY`] while data
//! arrive and widens the windows of the channels the peer sends to in bulk to twice that
//! ([`ConnectionProtocol::widen_windows`], bounded per channel and per connection by
//! [`nacre_connection::ConnectionConfig`], and for all connections of the process together by
//! [`SHARED_WIDENING`]): the window then never limits before TCP does, and idle channels keep
//! the configured window.
//!
//! The buffer's size is read through the connection's own socket ([`Probed`], as data arrive):
//! no second descriptor per connection, which would halve how many sessions a server holds
//! under its open-files limit.

use std::any::Any;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use nacre_connection::ConnectionProtocol;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How often the receive buffer is looked at while data arrive.
pub(crate) const LOOK_EVERY: Duration = Duration::from_millis(50);

/// Most bytes the windows of all connections of this process may be widened by, together:
/// what a stalled consumer could leave buffered beyond the configured windows.
pub(crate) const SHARED_WIDENING: u64 = 1 << 30;

/// Bytes by which the connections' windows are widened now, all together.
static WIDENED: AtomicU64 = AtomicU64::new(0);

/// A connection's part of a bound shared by all connections.
pub(crate) struct Share {
    total: &'static AtomicU64,
    cap: u64,
    mine: u64,
}

impl Share {
    pub(crate) fn new(total: &'static AtomicU64, cap: u64) -> Share {
        Share {
            total,
            cap,
            mine: 0,
        }
    }

    /// This connection now holds `mine`.
    pub(crate) fn set(&mut self, mine: u64) {
        if mine >= self.mine {
            self.total.fetch_add(mine - self.mine, Ordering::Relaxed);
        } else {
            self.total.fetch_sub(self.mine - mine, Ordering::Relaxed);
        }
        self.mine = mine;
    }

    /// What this connection may add.
    pub(crate) fn room(&self) -> u64 {
        self.cap.saturating_sub(self.total.load(Ordering::Relaxed))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.set(0);
    }
}

/// The receive buffer size of `stream`'s TCP socket; `None` for any other stream.
fn receive_buffer<S: 'static>(stream: &S) -> Option<u64> {
    let tcp = (stream as &dyn Any).downcast_ref::<tokio::net::TcpStream>()?;
    let size = socket2::SockRef::from(tcp).recv_buffer_size().ok()?;
    u64::try_from(size).ok()
}

/// What the connection task knows of its TCP socket's receive buffer, and its part of the
/// process-wide widening bound.
pub(crate) struct LinkProbe {
    /// The receive buffer's size as last read by the stream's [`Probed`] wrapper.
    rcvbuf: Arc<AtomicU64>,
    last: Option<Instant>,
    share: Share,
}

impl LinkProbe {
    /// The probe of `stream` when it is a TCP socket; `None` for any other stream (pipes,
    /// in-memory pairs): their windows stay as configured. Wrap the stream in [`Probed`] with
    /// it so that the size it reads follows the socket.
    pub(crate) fn of<S: 'static>(stream: &S) -> Option<LinkProbe> {
        let size = receive_buffer(stream)?;
        Some(LinkProbe {
            rcvbuf: Arc::new(AtomicU64::new(size)),
            last: None,
            share: Share::new(&WIDENED, SHARED_WIDENING),
        })
    }

    /// Twice the socket's receive buffer, in bytes.
    pub(crate) fn window_target(&self) -> Option<u64> {
        let rcvbuf = self.rcvbuf.load(Ordering::Relaxed);
        (rcvbuf > 0).then(|| rcvbuf.saturating_mul(2))
    }

    /// Data arrived: at most every [`LOOK_EVERY`], widens the busy channels' windows.
    pub(crate) fn on_data(&mut self, now: Instant, proto: Option<&mut ConnectionProtocol>) {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < LOOK_EVERY)
        {
            return;
        }
        self.last = Some(now);
        let Some(proto) = proto else {
            return;
        };
        // Channels closed since the last look gave their widening back.
        self.share.set(proto.widened_bytes());
        if let Some(target) = self.window_target() {
            let added = proto.widen_windows(target, self.share.room());
            if added > 0 {
                self.share.set(proto.widened_bytes());
                tracing::trace!(target, added, "channel windows widened to the link");
            }
        }
    }
}

/// The connection's stream; while data arrive it reads its TCP socket's receive buffer size,
/// at most every [`LOOK_EVERY`], into the cell of the connection's [`LinkProbe`].
pub(crate) struct Probed<S> {
    inner: S,
    cell: Option<Arc<AtomicU64>>,
    last: Option<Instant>,
}

impl<S: 'static> Probed<S> {
    /// `inner`, feeding `probe` (none: the stream as it is).
    pub(crate) fn new(inner: S, probe: Option<&LinkProbe>) -> Self {
        Probed {
            inner,
            cell: probe.map(|p| p.rcvbuf.clone()),
            last: None,
        }
    }

    fn look(&mut self) {
        let Some(cell) = &self.cell else {
            return;
        };
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < LOOK_EVERY)
        {
            return;
        }
        self.last = Some(now);
        if let Some(size) = receive_buffer(&self.inner) {
            cell.store(size, Ordering::Relaxed);
        }
    }
}

impl<S: AsyncRead + Unpin + 'static> AsyncRead for Probed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.look();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Probed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Only TCP streams have a probe; the kernel's receive buffer grows as a bulk transfer runs
    /// (auto-tuning), and so does the target the windows are widened to.
    #[tokio::test]
    async fn the_target_follows_the_tcp_receive_buffer() {
        let (a, _b) = tokio::io::duplex(64);
        assert!(LinkProbe::of(&a).is_none(), "not TCP: no probe");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // The sender writes until the receiver hangs up.
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let chunk = vec![0u8; 1 << 20];
            while s.write_all(&chunk).await.is_ok() {}
        });
        let rx = tokio::net::TcpStream::connect(addr).await.unwrap();
        let probe = LinkProbe::of(&rx).expect("a TCP stream has a probe");
        let mut rx = Probed::new(rx, Some(&probe));
        let before = probe.window_target().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let deadline = Instant::now() + Duration::from_secs(20);
        // The stream looks at the buffer at most every LOOK_EVERY while data arrive.
        while probe.window_target().unwrap() <= before && Instant::now() < deadline {
            let n = rx.read(&mut buf).await.unwrap();
            assert!(n > 0);
        }
        let after = probe.window_target().unwrap();
        assert!(after > before, "receive buffer grew: {before} → {after}");
    }

    /// The probe reads the buffer through the connection's own socket: no descriptor of its
    /// own (10 000 sessions must not need 20 000 descriptors).
    #[tokio::test]
    async fn the_probe_holds_no_descriptor() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rx = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let open = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        // Other tests of this process may open a few at the same time: a descriptor per
        // probe would add 16.
        let before = open();
        let probes: Vec<LinkProbe> = (0..16).map(|_| LinkProbe::of(&rx).unwrap()).collect();
        let rx = Probed::new(rx, probes.first());
        let after = open();
        assert!(
            after < before + 16,
            "a descriptor per probe: {before} → {after}"
        );
        drop((rx, probes));
    }

    /// Connections share one bound: what one holds, another cannot take; dropping gives it back.
    #[test]
    fn connections_share_one_bound() {
        static TOTAL: AtomicU64 = AtomicU64::new(0);
        let mut a = Share::new(&TOTAL, 100);
        let mut b = Share::new(&TOTAL, 100);
        a.set(70);
        assert_eq!(b.room(), 30);
        b.set(30);
        assert_eq!(a.room(), 0);
        a.set(20);
        assert_eq!(b.room(), 50);
        drop(a);
        assert_eq!((b.room(), TOTAL.load(Ordering::Relaxed)), (70, 30));
    }

    /// Data arriving widens busy channels at most every LOOK_EVERY.
    #[tokio::test]
    async fn widening_is_rate_limited() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rx = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let mut probe = LinkProbe::of(&rx).unwrap();
        let t0 = Instant::now();
        probe.on_data(t0, None);
        assert_eq!(probe.last, Some(t0));
        probe.on_data(t0 + LOOK_EVERY / 2, None);
        assert_eq!(probe.last, Some(t0), "too soon: not looked at");
        probe.on_data(t0 + LOOK_EVERY, None);
        assert_eq!(probe.last, Some(t0 + LOOK_EVERY));
    }
}
