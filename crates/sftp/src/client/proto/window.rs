//! A transfer's window of requests in flight: slow start, up to what the path holds.
//!
//! The window starts at [`ClientConfig::initial_in_flight`] requests and grows by one per full
//! reply (doubling every round trip, OpenSSH's slow start). It may always reach
//! [`ClientConfig::max_in_flight`]; beyond that it follows the path: each reply's round trip
//! is timed (the smallest is the path's delay) and the bytes answered per round trip give the
//! rate, so `rate × delay` is the bandwidth-delay product as this transfer sees it, and the
//! window may grow to twice that in requests of this transfer's size. A fast, long path with
//! small requests (a server that announces no limits gets 32 KiB requests) then still fills;
//! a short one never holds more than it needs. All transfers together stay within
//! [`ClientConfig::max_bytes_in_flight`] (checked where requests are sent).

use std::time::{Duration, Instant};

use crate::client::ClientConfig;

/// Requests one transfer never exceeds, whatever the path.
const MOST_REQUESTS: usize = 4096;

/// The slow-start window.
#[derive(Debug)]
pub(super) struct Window {
    /// Requests allowed in flight now.
    pub(super) size: usize,
    /// What it may always grow to: the configured maximum.
    configured: usize,
    /// Bytes per request.
    chunk: u64,
    /// Shortest round trip seen.
    min_rtt: Option<Duration>,
    /// Bytes answered in full so far.
    answered: u64,
    /// Start of the current rate sample: when, and `answered` then.
    mark: Option<(Instant, u64)>,
    /// Bytes the path holds, last measured (rate × shortest round trip).
    path_bytes: u64,
}

impl Window {
    pub(super) fn new(cfg: &ClientConfig, chunk: usize) -> Window {
        let configured = cfg.max_in_flight.max(1);
        Window {
            size: cfg.initial_in_flight.clamp(1, configured),
            configured,
            chunk: u64::try_from(chunk.max(1)).unwrap_or(u64::MAX),
            min_rtt: None,
            answered: 0,
            mark: None,
            path_bytes: 0,
        }
    }

    /// Most requests in flight: the configured count, or twice the measured path in requests.
    pub(super) fn max(&self) -> usize {
        let path = usize::try_from(self.path_bytes.saturating_mul(2).div_ceil(self.chunk))
            .unwrap_or(MOST_REQUESTS);
        self.configured.max(path).min(MOST_REQUESTS)
    }

    /// The bytes the path holds as measured so far.
    pub(super) fn path_bytes(&self) -> u64 {
        self.path_bytes
    }

    /// A full reply of `bytes` came at `now` to a request sent at `sent`: one more request.
    pub(super) fn grow(&mut self, now: Instant, sent: Instant, bytes: usize) {
        let rtt = now.saturating_duration_since(sent);
        let min_rtt = self.min_rtt.map_or(rtt, |m| m.min(rtt));
        self.min_rtt = Some(min_rtt);
        self.answered = self
            .answered
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
        match self.mark {
            None => self.mark = Some((now, self.answered)),
            Some((since, at)) => {
                let elapsed = now.saturating_duration_since(since);
                if elapsed >= min_rtt.max(Duration::from_millis(1)) {
                    // rate × delay = bytes × delay / elapsed.
                    let bytes = u128::from(self.answered - at);
                    let path = bytes * min_rtt.as_nanos() / elapsed.as_nanos().max(1);
                    self.path_bytes = u64::try_from(path).unwrap_or(u64::MAX);
                    self.mark = Some((now, self.answered));
                }
            }
        }
        self.size = (self.size + 1).min(self.max());
    }
}
