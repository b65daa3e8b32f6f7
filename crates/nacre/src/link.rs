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

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nacre_connection::ConnectionProtocol;

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

/// A handle on the connection's TCP socket for reading its receive buffer size.
pub(crate) struct LinkProbe {
    socket: socket2::Socket,
    last: Option<Instant>,
    share: Share,
}

impl LinkProbe {
    /// The probe of `stream` when it is a TCP socket (a duplicate of its descriptor); `None`
    /// for any other stream (pipes, in-memory pairs): their windows stay as configured.
    pub(crate) fn of<S: 'static>(stream: &S) -> Option<LinkProbe> {
        let tcp = (stream as &dyn std::any::Any).downcast_ref::<tokio::net::TcpStream>()?;
        let fd = tcp.as_fd().try_clone_to_owned().ok()?;
        Some(LinkProbe {
            socket: socket2::Socket::from(fd),
            last: None,
            share: Share::new(&WIDENED, SHARED_WIDENING),
        })
    }

    /// Twice the socket's receive buffer, in bytes.
    pub(crate) fn window_target(&self) -> Option<u64> {
        let rcvbuf = self.socket.recv_buffer_size().ok()?;
        u64::try_from(rcvbuf).ok().map(|b| b.saturating_mul(2))
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
        let sender = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..256 {
                s.write_all(&chunk).await.unwrap();
            }
        });
        let mut rx = tokio::net::TcpStream::connect(addr).await.unwrap();
        let probe = LinkProbe::of(&rx).expect("a TCP stream has a probe");
        let before = probe.window_target().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < 256 << 20 {
            let n = rx.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got += n;
        }
        sender.await.unwrap();
        let after = probe.window_target().unwrap();
        assert!(after > before, "receive buffer grew: {before} → {after}");
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
