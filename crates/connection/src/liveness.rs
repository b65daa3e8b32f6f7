//! Liveness: keepalive probes (OpenSSH's ServerAliveInterval/ClientAliveInterval with
//! `keepalive@openssh.com`) and the unused-connection timeout, driven by the time passed in.

use std::time::{Duration, Instant};

/// Keepalive and idle settings. Everything off by default.
///
/// Set with [`ConnectionProtocol::set_liveness`](crate::ConnectionProtocol::set_liveness); the
/// probes go out from `handle_timeout`, driven by the time the caller passes in:
///
/// ```
/// use std::time::{Duration, Instant};
/// use nacre_connection::{ConnectionConfig, ConnectionError, ConnectionProtocol, LivenessConfig};
///
/// let mut conn = ConnectionProtocol::new(ConnectionConfig::default());
/// let every = Duration::from_secs(15);
/// conn.set_liveness(LivenessConfig {
///     keepalive_interval: Some(every),
///     keepalive_max: 2, // OpenSSH's ServerAliveCountMax
///     unused_timeout: None,
/// });
/// let start = Instant::now();
/// conn.handle_timeout(start)?; // arms the timer
/// assert_eq!(conn.poll_timeout(), Some(start + every));
///
/// conn.handle_timeout(start + every)?; // the peer said nothing for 15 s: probe
/// let probe = conn.poll_transmit().expect("a keepalive");
/// assert_eq!(probe[0], 80); // SSH_MSG_GLOBAL_REQUEST
/// assert!(probe.windows(21).any(|w| w == b"keepalive@openssh.com"));
///
/// conn.handle_timeout(start + 2 * every)?; // second probe, still tolerated
/// let dead = conn.handle_timeout(start + 3 * every);
/// assert_eq!(dead, Err(ConnectionError::KeepaliveTimeout(2)));
/// # Ok::<(), ConnectionError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LivenessConfig {
    /// Probe after this long without a packet from the peer.
    pub keepalive_interval: Option<Duration>,
    /// Unanswered probes tolerated before the connection is declared dead (OpenSSH's
    /// *AliveCountMax, 3).
    pub keepalive_max: u32,
    /// Close the connection after it had no channel open for this long.
    pub unused_timeout: Option<Duration>,
}

/// What the timer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing to do.
    Idle,
    /// Send a keepalive probe.
    Probe,
    /// Too many probes unanswered.
    Dead(u32),
    /// No channel for too long.
    Unused,
}

#[derive(Debug, Default)]
pub(crate) struct Liveness {
    pub config: LivenessConfig,
    /// A packet arrived since the last tick.
    activity: bool,
    missed: u32,
    next_probe: Option<Instant>,
    unused_since: Option<Instant>,
}

impl Liveness {
    pub fn new(config: LivenessConfig) -> Self {
        Liveness {
            config,
            ..Liveness::default()
        }
    }

    pub fn on_packet(&mut self) {
        self.activity = true;
    }

    pub fn tick(&mut self, now: Instant, channels: usize) -> Tick {
        if channels > 0 {
            self.unused_since = None;
        } else if let Some(limit) = self.config.unused_timeout {
            let since = *self.unused_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= limit {
                return Tick::Unused;
            }
        }
        let Some(interval) = self.config.keepalive_interval else {
            return Tick::Idle;
        };
        if std::mem::take(&mut self.activity) {
            self.missed = 0;
            self.next_probe = Some(now + interval);
            return Tick::Idle;
        }
        let due = *self.next_probe.get_or_insert(now + interval);
        if now < due {
            return Tick::Idle;
        }
        self.next_probe = Some(now + interval);
        self.missed += 1;
        if self.missed > self.config.keepalive_max {
            return Tick::Dead(self.missed - 1);
        }
        Tick::Probe
    }

    pub fn deadline(&self) -> Option<Instant> {
        let unused = self
            .unused_since
            .zip(self.config.unused_timeout)
            .map(|(s, d)| s + d);
        match (self.next_probe, unused) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
