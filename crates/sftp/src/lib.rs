//! nacre-sftp: an SFTP version 3 client and server over any byte stream.
//!
//! SFTP is a byte-stream protocol, so nothing here knows SSH: the same server and client run
//! over an SSH channel (the `nacre` runtime crate wires them to `sftp` subsystems and
//! `Connection::sftp`), over stdin/stdout (`nacre sftp-server`) or over an in-memory pipe in
//! tests. The packets come from `nacre-sftp-codec`.
//!
//! * **Server**: [`serve`] runs one session over an `AsyncRead`/`AsyncWrite` pair, dispatching
//!   to a [`Filesystem`] — a small *synchronous* trait run on tokio's blocking pool (see its
//!   docs for why). [`LocalFs`] serves a local folder confined by a directory handle
//!   (`cap-std`), with virtual paths (`/` is the root), chroot semantics for symbolic links,
//!   and all of OpenSSH's extensions the local file system can do.
//! * **Client**: [`SftpClient`] over an `AsyncRead`/`AsyncWrite` pair: every request, OpenSSH's
//!   extensions, pipelined whole-file transfers with OpenSSH-style slow start and resume,
//!   recursive transfers that refuse hostile names, and [`File`] (`AsyncRead` + `AsyncWrite` +
//!   `AsyncSeek`).
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
#[cfg(feature = "fuzzing")]
mod memfs;
mod server;
mod status;
mod stream;

pub use attrs::{Attributes, DirEntry, FsStats};
pub use client::recursive::{check_remote_name, TreeStats, MAX_DEPTH};
pub use client::{
    ClientConfig, Error, File, ReadDir, Result, ServerLimits, SftpClient,
    DEFAULT_MAX_LISTING_BYTES, DEFAULT_MAX_LISTING_ENTRIES, DEFAULT_MAX_REQUEST_LEN,
};
pub use local::{is_root, AccountThreads, Credentials, LocalDir, LocalFile, LocalFs};
pub use longname::{long_name, mode_string, Accounts};
pub use server::{
    serve, serve_chunked, serve_framed, serve_with, Filesystem, HandleBudget, ServerConfig,
    Session, DEFAULT_MAX_HANDLES, DEFAULT_MAX_IN_FLIGHT, MAX_PACKET_LEN, MAX_READ_LEN,
    MAX_WRITE_LEN,
};
pub use status::status_for_io;
pub use stream::{ChunkRead, FrameSink, ReadChunks, WriteSink};

pub use nacre_sftp_codec as codec;
