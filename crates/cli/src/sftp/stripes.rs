//! Large puts striped over several SFTP sessions of the connection when the server's channel
//! window holds one session below the link ([`nacre_sftp::SftpClient::upload_striped`]).
//!
//! An upload on one SFTP session moves at most the server's window for its channel per round
//! trip. OpenSSH's sshd opens 2 MiB per session channel and never widens it: about 40 MiB/s at
//! 50 ms, whatever the link; nacre serve opens 8 MiB and widens it with the path. Before a put
//! of at least [`MIN_SIZE`] bytes, the round trip is measured (the shorter of two REALPATHs)
//! and the window the server left the main session is read; when window ÷ round trip, what
//! one session can move, is below [`WANTED_RATE`], the put goes over as many sessions as
//! reach it, at most `--stripes` (default [`DEFAULT_SESSIONS`]). The extra sessions open at
//! the first such put and stay for the ones after; a server that refuses some (sshd's
//! MaxSessions) leaves fewer. Over a short path (loopback, a LAN), or to a server with a wide
//! window, a put stays on one session, so no server process is started for nothing.

use std::time::{Duration, Instant};

use nacre::connection::ChannelId;
use nacre::ChannelOpener;
use nacre_sftp::{ClientConfig, SftpClient};
use tokio::sync::OnceCell;

use crate::status;

/// Smallest file striped.
pub const MIN_SIZE: u64 = 64 << 20;
/// What a put should be able to move per second (a gigabit link's 119 MiB/s, and a little).
pub const WANTED_RATE: f64 = 128.0 * 1024.0 * 1024.0;
/// The most sessions a striped put uses, the main one included, unless `--stripes` says.
pub const DEFAULT_SESSIONS: u8 = 4;

/// The extra sessions of a `nacre sftp` session, opened when first needed.
pub struct Stripes {
    opener: ChannelOpener,
    config: ClientConfig,
    /// The main session's channel, whose window is read.
    main: ChannelId,
    most: u8,
    lanes: OnceCell<Vec<SftpClient>>,
}

impl Stripes {
    /// At most `most` sessions in all: the main one (on channel `main`) and lanes opened
    /// through `opener` with `config`.
    pub fn new(opener: ChannelOpener, config: ClientConfig, main: ChannelId, most: u8) -> Self {
        Stripes {
            opener,
            config,
            main,
            most,
            lanes: OnceCell::new(),
        }
    }

    /// The lanes a put of `size` bytes on `client` (the main session) should use besides it:
    /// none for a small file, when one session moves enough, or when striping is off.
    pub async fn lanes_for(&self, client: &SftpClient, size: u64) -> &[SftpClient] {
        if self.most < 2 || size < MIN_SIZE {
            return &[];
        }
        let rtt = round_trip(client).await;
        let window = self.window().await;
        let sessions = sessions_needed(window, rtt, self.most);
        if sessions < 2 {
            return &[];
        }
        let lanes = self.lanes.get_or_init(|| self.open()).await;
        let lanes = lanes.get(..sessions - 1).unwrap_or(lanes);
        if lanes.is_empty() {
            return lanes;
        }
        status::status(format_args!(
            "Striping the upload over {} sessions (round trip {} ms, the server's window {} KiB)",
            lanes.len() + 1,
            rtt.as_millis(),
            window / 1024
        ));
        lanes
    }

    /// What the server lets the main session send now (its channel window as it stands).
    async fn window(&self) -> u64 {
        let channels = self.opener.channels().await.unwrap_or_default();
        channels
            .iter()
            .find(|c| c.id == self.main)
            .map_or(u64::MAX, |c| u64::from(c.windows.1))
    }

    /// Opens the lanes, as many as the server allows.
    async fn open(&self) -> Vec<SftpClient> {
        let mut lanes = Vec::new();
        for _ in 1..self.most {
            match self.opener.sftp_with(self.config.clone()).await {
                Ok(lane) => lanes.push(lane),
                Err(e) => {
                    status::status(format_args!("Another SFTP session was refused: {e}"));
                    break;
                }
            }
        }
        lanes
    }
}

/// Sessions that together move [`WANTED_RATE`] when each moves `window` bytes per `rtt`, at
/// most `most`, at least 1.
fn sessions_needed(window: u64, rtt: Duration, most: u8) -> usize {
    let per_session = window as f64 / rtt.as_secs_f64().max(1e-6);
    let wanted = (WANTED_RATE / per_session).ceil();
    if wanted.is_nan() || wanted < 1.0 {
        return 1;
    }
    (wanted.min(f64::from(most)) as usize).max(1)
}

/// The shorter of two REALPATH round trips of `client`; zero when both failed (the put then
/// stays on one session, which reports the error).
async fn round_trip(client: &SftpClient) -> Duration {
    let mut best: Option<Duration> = None;
    for _ in 0..2 {
        let start = Instant::now();
        if client.realpath(".").await.is_ok() {
            let took = start.elapsed();
            best = Some(best.map_or(took, |b| b.min(took)));
        }
    }
    best.unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_follow_window_and_round_trip() {
        let ms = Duration::from_millis;
        // sshd's 2 MiB: one session at 50 ms moves 40 MiB/s; four reach 128.
        assert_eq!(sessions_needed(2 << 20, ms(50), 4), 4);
        assert_eq!(sessions_needed(2 << 20, ms(50), 8), 4);
        assert_eq!(sessions_needed(2 << 20, ms(20), 8), 2);
        // nacre serve's 8 MiB at 50 ms: 160 MiB/s on one session.
        assert_eq!(sessions_needed(8 << 20, ms(50), 4), 1);
        // Loopback.
        assert_eq!(sessions_needed(2 << 20, Duration::from_micros(80), 4), 1);
        assert_eq!(sessions_needed(2 << 20, Duration::ZERO, 4), 1);
        // No window known: one session.
        assert_eq!(sessions_needed(u64::MAX, ms(50), 4), 1);
        // A closed window: as many as allowed.
        assert_eq!(sessions_needed(0, ms(50), 4), 4);
    }
}
