//! `nacre sftp -l limit`: the bandwidth limit of OpenSSH's sftp, in Kbit/s. As OpenSSH's
//! (`bandwidth_limit` on each read and write of the sftp stream), every byte of the SFTP
//! session is counted, each direction on its own: requests and uploaded data on the way out,
//! replies and downloaded data on the way in. The way out waits before it sends; the way in
//! waits before it takes the next buffer from the channel, so the server is held back by the
//! channel's window.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nacre_sftp::{ChunkRead, FrameSink};

/// How far behind its schedule a stream may fall before the schedule starts again: an idle
/// session does not save up a burst to send at full speed later.
const SLACK: Duration = Duration::from_secs(1);

/// When each buffer may go: `bits_per_second` from the first byte on, counted in bytes
/// (`delay` takes the clock as an argument, so the schedule is tested without waiting).
#[derive(Debug)]
pub struct Schedule {
    bits_per_second: u64,
    /// When the schedule started, and the bytes counted since.
    start: Option<(Instant, u64)>,
}

impl Schedule {
    /// A schedule of `kbit` Kbit/s (1024 bits, as OpenSSH's `-l`); at least 1.
    pub fn kbit(kbit: u64) -> Schedule {
        Schedule {
            bits_per_second: kbit.saturating_mul(1024).max(1),
            start: None,
        }
    }

    /// How long a buffer of `len` bytes, ready at `now`, waits before it goes: until the bytes
    /// counted before it would have gone at the rate.
    pub fn delay(&mut self, now: Instant, len: usize) -> Duration {
        let (start, counted) = match self.start {
            Some((start, counted)) if now <= self.due(start, counted) + SLACK => (start, counted),
            // First use, or idle for long: the schedule starts again now.
            _ => (now, 0),
        };
        let due = self.due(start, counted);
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        self.start = Some((start, counted.saturating_add(len)));
        due.saturating_duration_since(now)
    }

    /// When `counted` bytes from `start` on are all sent at the rate.
    fn due(&self, start: Instant, counted: u64) -> Instant {
        let bits = u128::from(counted) * 8;
        let nanos = bits * 1_000_000_000 / u128::from(self.bits_per_second);
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        start + Duration::from_nanos(nanos)
    }
}

async fn wait(schedule: &mut Schedule, len: usize) {
    let delay = schedule.delay(Instant::now(), len);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The way in: buffers of the channel taken no faster than the schedule.
pub struct LimitedSource<C> {
    inner: C,
    schedule: Schedule,
}

impl<C> LimitedSource<C> {
    /// `inner` at `kbit` Kbit/s.
    pub fn new(inner: C, kbit: u64) -> Self {
        LimitedSource {
            inner,
            schedule: Schedule::kbit(kbit),
        }
    }
}

impl<C: ChunkRead> ChunkRead for LimitedSource<C> {
    async fn read_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let chunk = self.inner.read_chunk().await?;
        if let Some(c) = &chunk {
            wait(&mut self.schedule, c.len()).await;
        }
        Ok(chunk)
    }
}

/// The way out: frames sent no faster than the schedule.
pub struct LimitedSink<S> {
    inner: S,
    schedule: Schedule,
}

impl<S> LimitedSink<S> {
    /// `inner` at `kbit` Kbit/s.
    pub fn new(inner: S, kbit: u64) -> Self {
        LimitedSink {
            inner,
            schedule: Schedule::kbit(kbit),
        }
    }
}

impl<S: FrameSink> FrameSink for LimitedSink<S> {
    async fn send_frame(&mut self, frame: Vec<u8>) -> io::Result<()> {
        wait(&mut self.schedule, frame.len()).await;
        self.inner.send_frame(frame).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().await
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        self.inner.shutdown().await
    }
}

/// `-l`'s value as OpenSSH's sftp reads it: 1 to 100 Gbit/s, in Kbit/s.
pub fn parse_limit(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(v) if (1..=100 * 1024 * 1024).contains(&v) => Ok(v),
        _ => Err(format!("Invalid bandwidth limit \"{text}\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 Kbit/s is 1024 bytes a second: each buffer waits for the ones before it.
    #[test]
    fn buffers_wait_for_the_ones_before_them() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut s = Schedule::kbit(8);
        assert_eq!(s.delay(at(0), 512), Duration::ZERO);
        assert_eq!(s.delay(at(0), 512), Duration::from_millis(500));
        // Ready later than due: no wait, and the schedule keeps its start.
        assert_eq!(s.delay(at(1200), 1024), Duration::ZERO);
        assert_eq!(s.delay(at(1200), 1), Duration::from_millis(800));
        // 2049 bytes counted: the next is due at 2049/1024 s.
        let d = s.delay(at(2000), 100);
        assert_eq!(d, Duration::from_nanos(976_562));
    }

    /// A stream idle for long starts its schedule again rather than sending a saved-up burst.
    #[test]
    fn an_idle_stream_saves_no_burst() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut s = Schedule::kbit(8);
        assert_eq!(s.delay(at(0), 1024), Duration::ZERO);
        assert_eq!(s.delay(at(60), 4096), Duration::ZERO);
        assert_eq!(s.delay(at(60), 1024), Duration::from_secs(4));
    }

    #[test]
    fn rates_and_limits() {
        let t0 = Instant::now();
        // 1 Mbit/s (1024 Kbit/s): 128 KiB a second.
        let mut s = Schedule::kbit(1024);
        assert_eq!(s.delay(t0, 128 * 1024), Duration::ZERO);
        assert_eq!(s.delay(t0, 1), Duration::from_secs(1));
        assert_eq!(parse_limit("100"), Ok(100));
        assert!(parse_limit("0").is_err() && parse_limit("x").is_err());
        assert!(parse_limit("104857601").is_err());
    }
}
