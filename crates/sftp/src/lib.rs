//! nacre-sftp: an SFTP version 3 client and server over any byte stream.
//!
//! SFTP is a byte-stream protocol, so nothing here knows SSH: the same server and client run
//! over an SSH channel (the `nacre` runtime crate wires them to `sftp` subsystems and
//! `Connection::sftp`), over stdin/stdout (`nacre sftp-server`) or over an in-memory pipe in
//! tests. The packets come from `nacre-sftp-codec`.
//!
//! The protocol core is sans-IO and runtime-free; the tokio adapters are the feature `tokio` (off
//! by default; the `nacre` runtime crate turns it on).
//!
//! * **Server**: [`Session`] dispatches one decoded request to a [`Filesystem`] — a small
//!   *synchronous* trait (see its docs for why) — and returns the reply frame. [`LocalFs`]
//!   serves a local folder confined by a directory handle (`cap-std`), with virtual paths (`/`
//!   is the root), chroot semantics for symbolic links, and all of OpenSSH's extensions the
//!   local file system can do. With `tokio`: `serve` runs one session over an
//!   `AsyncRead`/`AsyncWrite` pair, each request through [`Filesystem::spawn_blocking`].
//! * **Client**: [`proto::ClientProto`], the sans-IO machine: request ids, reply matching,
//!   deadlines, bounded listings, pipelined whole-file transfers with OpenSSH-style slow start
//!   and resume. With `tokio`: `SftpClient` over an `AsyncRead`/`AsyncWrite` pair drives it
//!   (every request, OpenSSH's extensions, transfers, recursive transfers that refuse hostile
//!   names) and `File` (`AsyncRead` + `AsyncWrite` + `AsyncSeek`).
#![warn(missing_docs)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod attrs;
mod client;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod local;
mod longname;
#[cfg(any(test, feature = "fuzzing"))]
#[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
mod memfs;
mod server;
mod status;
#[cfg(feature = "tokio")]
mod stream;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod testing;

pub use attrs::{Attributes, DirEntry, FsStats};
pub use client::proto;
pub use client::proto::ClientProto;
pub use client::recursive::{check_remote_name, TreeStats, MAX_DEPTH};
pub use client::{
    ClientConfig, Error, Reply, Result, ServerLimits, DEFAULT_MAX_BYTES_IN_FLIGHT,
    DEFAULT_MAX_FILES_IN_FLIGHT, DEFAULT_MAX_LISTING_BYTES, DEFAULT_MAX_LISTING_ENTRIES,
    DEFAULT_MAX_REQUEST_LEN,
};
#[cfg(feature = "tokio")]
pub use client::{DownloadOptions, File, ReadDir, SftpClient, STRIPE_BLOCK};
pub use local::{is_root, AccountThreads, Credentials, LocalDir, LocalFile, LocalFs};
pub use longname::{long_name, mode_string, Accounts};
pub use server::oplog::TARGET as OPLOG_TARGET;
#[cfg(feature = "tokio")]
pub use server::serve;
pub use server::{
    Filesystem, HandleBudget, ServerConfig, Session, DEFAULT_MAX_HANDLES, DEFAULT_MAX_IN_FLIGHT,
    MAX_PACKET_LEN, MAX_READ_LEN, MAX_WRITE_LEN,
};
pub use status::status_for_io;
#[cfg(feature = "tokio")]
pub use stream::{ChunkRead, DirectSink, FrameSink, ReadChunks, WriteSink};

pub use nacre_sftp_codec as codec;
