//! The SFTP client: the sans-IO machine [`proto::ClientProto`], and over it (feature `tokio`)
//! [`SftpClient`] for any `AsyncRead`/`AsyncWrite` pair.
//!
//! [`proto::ClientProto`] owns the session: INIT, VERSION and, when offered,
//! `limits@openssh.com`; request ids, reply matching, deadlines; listings with their limits;
//! the pipelines of whole-file transfers: requests of up to 255 KiB (as the server's limits
//! allow), a window that starts at one request and grows by one per full reply (doubling every
//! round trip, as OpenSSH's client does) up to [`ClientConfig::max_in_flight`] (64), and replies
//! reassembled by offset.

mod error;
pub mod proto;
pub(crate) mod recursive;
#[cfg(feature = "tokio")]
mod tree;

#[cfg(feature = "tokio")]
mod driver;
#[cfg(feature = "tokio")]
mod file;
#[cfg(feature = "tokio")]
mod local_io;
#[cfg(feature = "tokio")]
mod ops;
#[cfg(feature = "tokio")]
mod striped;
#[cfg(feature = "tokio")]
mod transfer;

use std::time::Duration;

use bytes::Bytes;
use nacre_sftp_codec::{
    ExtendedReply, ExtensionReply, Name, Response, Status, StatusCode, DEFAULT_MAX_PACKET_LEN,
};

use crate::attrs::DirEntry;
pub use error::{Error, Result};

#[cfg(feature = "tokio")]
pub use driver::SftpClient;
#[cfg(feature = "tokio")]
pub use file::File;
#[cfg(feature = "tokio")]
pub use ops::ReadDir;
#[cfg(feature = "tokio")]
pub use striped::STRIPE_BLOCK;
#[cfg(feature = "tokio")]
pub use transfer::DownloadOptions;

/// Default [`ClientConfig::max_request_len`]: 255 KiB less 128 bytes. A READ's DATA reply and a
/// WRITE (headers and a handle of up to 100 bytes included) then fit in one SSH channel packet of
/// 255 KiB, nacre's default maximum: the receiver takes each from its channel packet in place
/// instead of assembling it from two.
pub const DEFAULT_MAX_REQUEST_LEN: usize = 255 * 1024 - 128;

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Largest READ/WRITE request (further capped by the server's limits; 32 KiB when the
    /// server announces none, like OpenSSH).
    pub max_request_len: usize,
    /// Requests in flight per transfer, at most.
    pub max_in_flight: usize,
    /// Bytes of READ and WRITE requests in flight, all transfers together (each transfer may
    /// always have one): what bounds the memory of many files moved at once.
    pub max_bytes_in_flight: usize,
    /// Files a recursive transfer moves at once (each holds one remote handle; further capped
    /// by the server's `max-open-handles`).
    pub max_files_in_flight: usize,
    /// Requests in flight when a transfer starts (slow start).
    pub initial_in_flight: usize,
    /// Largest packet accepted from the server; a longer one ends the session.
    pub max_packet_len: usize,
    /// How long one request may wait for its reply (`None`: forever, the default). A request
    /// past it fails with [`Error::Timeout`] and the session goes on (a late reply is dropped);
    /// in a transfer, a request unanswered for that long fails the transfer.
    pub request_timeout: Option<Duration>,
    /// Most entries one directory listing may hold (`list_dir`, recursive downloads); more is
    /// [`Error::TooManyEntries`], so a server that never ends a listing cannot exhaust the
    /// client's memory.
    pub max_listing_entries: usize,
    /// Most bytes one listing may hold (names and long names, plus 128 per entry for the rest);
    /// more is [`Error::TooManyEntries`].
    pub max_listing_bytes: usize,
    /// Whether [`SftpClient::download`] and [`SftpClient::reget`] flush the local file to
    /// stable storage (fsync) before they return (default `true`). OpenSSH's `sftp` does so only
    /// with `-f`; the files of a recursive download are flushed one by one only when asked
    /// ([`SftpClient::download_dir_with`]), and [`SftpClient::download_with`] says it per call.
    pub sync_downloads: bool,
}

/// Default [`ClientConfig::max_bytes_in_flight`]: 64 MiB.
pub const DEFAULT_MAX_BYTES_IN_FLIGHT: usize = 64 << 20;
/// Default [`ClientConfig::max_files_in_flight`].
pub const DEFAULT_MAX_FILES_IN_FLIGHT: usize = 32;
/// Default [`ClientConfig::max_listing_entries`]: a million.
pub const DEFAULT_MAX_LISTING_ENTRIES: usize = 1_000_000;
/// Default [`ClientConfig::max_listing_bytes`]: 64 MiB.
pub const DEFAULT_MAX_LISTING_BYTES: usize = 64 << 20;

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_request_len: DEFAULT_MAX_REQUEST_LEN,
            max_in_flight: 64,
            max_bytes_in_flight: DEFAULT_MAX_BYTES_IN_FLIGHT,
            max_files_in_flight: DEFAULT_MAX_FILES_IN_FLIGHT,
            initial_in_flight: 1,
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            request_timeout: None,
            max_listing_entries: DEFAULT_MAX_LISTING_ENTRIES,
            max_listing_bytes: DEFAULT_MAX_LISTING_BYTES,
            sync_downloads: true,
        }
    }
}

/// The server's limits (`limits@openssh.com`); 0 means no specific limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerLimits {
    /// Largest packet.
    pub max_packet_length: u64,
    /// Largest READ answered in full.
    pub max_read_length: u64,
    /// Largest WRITE accepted.
    pub max_write_length: u64,
    /// Most open handles.
    pub max_open_handles: u64,
}

/// A reply: the packet from its type byte on (a view of the received bytes).
#[derive(Debug, Clone)]
pub struct Reply(pub(crate) Bytes);

impl Reply {
    /// The packet from its type byte on.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Decodes the reply; bytes after its last field are ignored (counted in a debug log), as
    /// OpenSSH's sftp client ignores them (docs/TOLERANCE.md).
    pub fn decode(&self) -> Result<Response<'_>> {
        let (response, ignored) = Response::decode_tolerant(&self.0)
            .map_err(|e| Error::protocol(format!("bad reply: {e}")))?;
        if ignored > 0 {
            tracing::debug!(id = ?response.id(), ignored, "SFTP reply: bytes after its fields ignored");
        }
        Ok(response)
    }
}

/// Bytes per READ request: the configured size within the server's limits (32 KiB without
/// limits) and within our packet cap.
pub(crate) fn read_len(cfg: &ClientConfig, limits: Option<ServerLimits>) -> usize {
    let mut len = cfg.max_request_len;
    match limits {
        Some(l) if l.max_read_length > 0 => len = len.min(to_usize(l.max_read_length)),
        Some(_) => {}
        None => len = len.min(32 * 1024),
    }
    len.min(cfg.max_packet_len.saturating_sub(64)).max(1)
}

/// Bytes per WRITE request for a handle of `handle_len` bytes.
pub(crate) fn write_len(
    cfg: &ClientConfig,
    limits: Option<ServerLimits>,
    handle_len: usize,
) -> usize {
    let mut len = cfg.max_request_len;
    match limits {
        Some(l) => {
            if l.max_write_length > 0 {
                len = len.min(to_usize(l.max_write_length));
            }
            if l.max_packet_length > 0 {
                let overhead = 1 + 4 + 4 + handle_len + 8 + 4;
                len = len.min(to_usize(l.max_packet_length).saturating_sub(overhead));
            }
        }
        None => len = len.min(32 * 1024),
    }
    len.max(1)
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The error for a STATUS reply (OK included: callers check for it first).
pub(crate) fn status_error(s: &Status<'_>) -> Error {
    Error::Status {
        code: s.code,
        message: s.message.clone().into_owned(),
    }
}

/// The error for a reply of an unexpected type: a non-OK status is the server's answer, any
/// other type is a protocol violation.
pub(crate) fn unexpected(r: &Response<'_>) -> Error {
    match r {
        Response::Status(s) => status_error(s),
        other => Error::protocol(format!("unexpected reply {:?}", other.packet_type())),
    }
}

/// `Ok(())` for STATUS OK, the error otherwise.
pub(crate) fn expect_ok(reply: &Reply) -> Result<()> {
    match reply.decode()? {
        Response::Status(s) if s.code == StatusCode::OK => Ok(()),
        other => Err(unexpected(&other)),
    }
}

/// Parses a typed EXTENDED_REPLY; bytes after its fields are ignored (counted in a debug log), as
/// OpenSSH's sftp client ignores them (docs/TOLERANCE.md).
pub(crate) fn from_reply<'a, T: ExtensionReply<'a>>(r: &ExtendedReply<'a>) -> Result<T> {
    let (value, ignored) = T::from_reply_tolerant(r)
        .map_err(|e| Error::protocol(format!("bad extended reply: {e}")))?;
    if ignored > 0 {
        tracing::debug!(
            id = r.id,
            ignored,
            "SFTP extended reply: bytes after its fields ignored"
        );
    }
    Ok(value)
}

/// The entries of a NAME reply.
pub(crate) fn dir_entries(n: &Name<'_>) -> Vec<DirEntry> {
    n.entries
        .iter()
        .map(|e| DirEntry {
            name: e.filename.to_vec(),
            longname: e.longname.to_vec(),
            attrs: e.attrs.into(),
            nlink: 0,
        })
        .collect()
}
