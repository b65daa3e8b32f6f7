//! One large upload over several SFTP sessions at once: [`SftpClient::upload_striped`].
//!
//! The server's channel window bounds what one SFTP session has in flight towards it: OpenSSH's
//! sshd opens 2 MiB per session channel and never widens it, so one session moves at most 2 MiB
//! per round trip into it (about 40 MiB/s over a 50 ms path) whatever the client does. Several
//! sessions of the same connection each have a window of their own (with sshd, an sftp-server
//! of their own too), so a file cut in blocks dealt among them in turn moves that many times
//! faster over such a path, as lftp's `pget -n` and rclone's multi-thread streams do. Every
//! lane writes its blocks in order and the blocks are dealt in turn, so the file fills from its
//! start and its size on the server follows the transfer.

use std::path::Path;

use nacre_sftp_codec::OpenFlags;

use super::local_io::LocalReader;
use super::proto::Lane;
use super::transfer::OpenHandle;
use super::tree::Pool;
use super::{Result, SftpClient};
use crate::attrs::Attributes;

/// Bytes per block of a striped upload: large enough that each server writes long runs, small
/// enough that the lanes finish together (a 64 MiB file still gives every one of four lanes
/// two blocks).
pub const STRIPE_BLOCK: u64 = 8 << 20;

impl SftpClient {
    /// Uploads `local` to `remote` (created or truncated) over this session and the sessions
    /// `lanes` at once (other SFTP sessions, usually of the same connection), the file dealt
    /// among them in blocks of [`STRIPE_BLOCK`] bytes. Returns the bytes transferred.
    ///
    /// This session creates and truncates the file; then every lane opens it for writing, and
    /// each writes its blocks through its own pipeline. What a lane writes ends where the file
    /// ended when the upload began. When a lane cannot open the file (a server that locks open
    /// files, a file created read-only), this session sends the whole file alone. Without
    /// lanes, or for a file that is not a regular one (a pipe), this is
    /// [`SftpClient::upload`]. The first error ends the upload: the other lanes stop and their
    /// handles are closed; the remote file is then incomplete, as after a failed
    /// [`SftpClient::upload`].
    pub async fn upload_striped(
        &self,
        lanes: &[SftpClient],
        local: impl AsRef<Path>,
        remote: impl AsRef<[u8]>,
    ) -> Result<u64> {
        self.upload_inner(local.as_ref(), remote.as_ref(), false, lanes)
            .await
    }

    /// Sends `input` (`end` bytes) into `first`, this session's handle on the new `remote`,
    /// and the same file opened on each of `lanes`, their blocks in turn; `first` alone when a
    /// lane cannot open it. Every handle is closed at the end.
    pub(super) async fn push_striped(
        &self,
        first: OpenHandle<'_>,
        lanes: &[SftpClient],
        remote: &[u8],
        end: u64,
        input: &LocalReader,
    ) -> Result<u64> {
        let Some(opened) = open_lanes(lanes, remote).await else {
            let sent = self.push(first.bytes(), 0, input).await;
            return first.close_after(sent).await;
        };
        let count = lanes.len() as u64 + 1;
        let lane = |index: u64| Lane {
            block: STRIPE_BLOCK,
            lanes: count,
            index,
            end,
        };
        let mut pool = Pool::new();
        for (index, handle) in (0..).zip(std::iter::once(first).chain(opened)) {
            pool.push(async move {
                let client = handle.client();
                let sent = client.push_lane(handle.bytes(), lane(index), input).await;
                handle.close_after(sent).await
            });
        }
        let mut total = 0;
        while let Some(sent) = pool.next().await {
            total += sent?;
        }
        Ok(total)
    }

    /// Writes `lane`'s blocks of `input` into the open `handle`, pipelined.
    async fn push_lane(&self, handle: &[u8], lane: Lane, input: &LocalReader) -> Result<u64> {
        let job = self.with_proto(|p| p.upload_lane(handle, lane));
        self.push_job(job, input).await
    }
}

/// Opens `remote` for writing on every lane at once, in the lanes' order; `None` (those that
/// opened closed again) when one cannot.
async fn open_lanes<'a>(lanes: &'a [SftpClient], remote: &'a [u8]) -> Option<Vec<OpenHandle<'a>>> {
    let mut pool = Pool::new();
    for (index, client) in lanes.iter().enumerate() {
        pool.push(async move {
            let handle = client
                .open(remote, OpenFlags::WRITE, &Attributes::EMPTY)
                .await;
            (index, handle.map(|h| OpenHandle::new(client, h)))
        });
    }
    let mut opened = Vec::new();
    let mut refused = false;
    while let Some((index, handle)) = pool.next().await {
        match handle {
            Ok(h) => opened.push((index, h)),
            Err(_) => refused = true,
        }
    }
    if refused {
        for (_, handle) in opened {
            let _ = handle.close().await;
        }
        return None;
    }
    opened.sort_by_key(|(index, _)| *index);
    Some(opened.into_iter().map(|(_, h)| h).collect())
}
