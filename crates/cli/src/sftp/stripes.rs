//! Large puts over a long path striped over several SFTP sessions of the connection
//! ([`nacre_sftp::SftpClient::upload_striped`]).
//!
//! A server that keeps each channel's window small (OpenSSH's sshd: 2 MiB per session channel)
//! holds one SFTP session's upload to a window per round trip: about 40 MiB/s at 50 ms, whatever
//! the link. A file of at least [`MIN_SIZE`] bytes put over a path whose round trip is at least
//! [`MIN_ROUND_TRIP`] therefore goes over [`DEFAULT_SESSIONS`] sessions at once (`--stripes N`
//! sets how many; 1 turns it off), each with its own window. The extra sessions are opened at
//! the first such put and kept for the ones after; a server that refuses some (sshd's
//! MaxSessions) leaves fewer. Over a short path (loopback, a LAN) a put stays on one session:
//! there the window is no limit and the extra sessions would only cost the server processes.

use std::time::{Duration, Instant};

use nacre::ChannelOpener;
use nacre_sftp::{ClientConfig, SftpClient};
use tokio::sync::OnceCell;

use crate::status;

/// Smallest file striped.
pub const MIN_SIZE: u64 = 64 << 20;
/// Shortest round trip over which a put is striped.
pub const MIN_ROUND_TRIP: Duration = Duration::from_millis(5);
/// Sessions a striped put uses, the main one included, unless `--stripes` says otherwise.
pub const DEFAULT_SESSIONS: u8 = 4;

/// The extra sessions of a `nacre sftp` session, opened when first needed.
pub struct Stripes {
    opener: ChannelOpener,
    config: ClientConfig,
    sessions: u8,
    lanes: OnceCell<Vec<SftpClient>>,
}

impl Stripes {
    /// Up to `sessions` sessions in all (the main one and `sessions - 1` lanes) opened through
    /// `opener` with `config`.
    pub fn new(opener: ChannelOpener, config: ClientConfig, sessions: u8) -> Self {
        Stripes {
            opener,
            config,
            sessions,
            lanes: OnceCell::new(),
        }
    }

    /// The lanes a put of `size` bytes should use besides `main`: none for a small file, for a
    /// short path (measured with `main`: the shorter of two REALPATH round trips), or when
    /// striping is off.
    pub async fn lanes_for(&self, main: &SftpClient, size: u64) -> &[SftpClient] {
        if self.sessions < 2 || size < MIN_SIZE {
            return &[];
        }
        let rtt = round_trip(main).await;
        if rtt < MIN_ROUND_TRIP {
            return &[];
        }
        let lanes = self.lanes.get_or_init(|| self.open()).await;
        status::status(format_args!(
            "Striping the upload over {} sessions (round trip {} ms)",
            lanes.len() + 1,
            rtt.as_millis()
        ));
        lanes
    }

    /// Opens the lanes, as many as the server allows.
    async fn open(&self) -> Vec<SftpClient> {
        let mut lanes = Vec::new();
        for _ in 1..self.sessions {
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
