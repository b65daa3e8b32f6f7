//! SFTP version 3 codec: the packets of draft-ietf-secsh-filexfer-02 and the SFTP extensions of
//! OpenSSH (its `PROTOCOL` file, section "SFTP protocol changes").
//!
//! SFTP is a byte-stream protocol: this crate knows nothing of SSH channels. Every packet is
//!
//! ```text
//! uint32    length              (of everything after this field)
//! byte      type                (SSH_FXP_*)
//! uint32    request-id          (absent in SSH_FXP_INIT and SSH_FXP_VERSION)
//! ...       type-specific data
//! ```
//!
//! * [`FrameDecoder`] accumulates bytes in any split and yields whole [`Frame`]s, refusing a
//!   declared length above its cap (256 KiB by default, [`DEFAULT_MAX_PACKET_LEN`]) before
//!   buffering anything for it; [`parse_frame`] does the same over a caller's buffer.
//! * [`Request`] and [`Response`] decode a frame into one struct per message, borrowing paths,
//!   handles and data from the input (no payload copies). Unknown packet types and unknown
//!   extensions stay representable ([`Unknown`], [`Extended`]).
//! * Every message implements [`nacre_wire::Encode`]; [`encode_frame`] writes the length prefix
//!   and the message straight into the caller's output buffer.
//!
//! Decoding never panics and never allocates what the peer asks for: every count and length is
//! checked against the bytes that remain first. Decoding errors are [`nacre_wire::WireError`]s; a
//! server answers them with [`StatusCode::BAD_MESSAGE`] (see [`status_for_error`]).
//!
//! Module map (one module per message family):
//! [`init`] (INIT, VERSION), [`files`] (OPEN, CLOSE, READ, WRITE, FSTAT, FSETSTAT),
//! [`dirs`] (OPENDIR, READDIR, MKDIR, RMDIR), [`paths`] (REMOVE, RENAME, STAT, LSTAT, SETSTAT,
//! REALPATH, READLINK, SYMLINK), [`replies`] (STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED_REPLY),
//! [`attrs`] (file attributes), [`ext`] (EXTENDED and the OpenSSH extensions).
#![warn(missing_docs)]

mod codes;
mod field;
mod frame;
mod message;
mod request;
mod response;
mod seq;

pub mod attrs;
pub mod dirs;
pub mod ext;
pub mod files;
pub mod init;
pub mod paths;
pub mod replies;

pub use attrs::{AcModTime, FileAttributes, FileType, UidGid};
pub use codes::{status_for_error, OpenFlags, PacketType, StatusCode};
pub use dirs::{Mkdir, Opendir, Readdir, Rmdir};
pub use ext::{
    CopyData, ExpandPath, Extended, ExtensionReply, ExtensionRequest, Fstatvfs, Fsync, Hardlink,
    HomeDirectory, Limits, LimitsReply, Lsetstat, PosixRename, Statvfs, StatvfsReply,
    UsersGroupsById, UsersGroupsByIdReply,
};
pub use field::Field;
pub use files::{Close, Fsetstat, Fstat, Open, Read, Write};
pub use frame::{encode_frame, frame_len, parse_frame, Frame, FrameDecoder};
pub use init::{ExtensionPair, Init, Version};
pub use message::Message;
pub use paths::{Lstat, Readlink, Realpath, Remove, Rename, Setstat, Stat, Symlink, SymlinkOrder};
pub use replies::{Attrs, Data, ExtendedReply, Handle, Name, NameEntry, Status};
pub use request::Request;
pub use response::{Response, Unknown};
pub use seq::{Item, Seq, SeqIter};

/// Entry points of the fuzz targets (docs/FUZZING.md).
#[cfg(feature = "fuzzing")]
pub mod fuzzing;

/// The protocol version this crate speaks (draft-ietf-secsh-filexfer-02 §4).
pub const SFTP_VERSION: u32 = 3;

/// Default cap on the `length` field of a packet: 256 KiB, OpenSSH's `SFTP_MAX_MSG_LENGTH`.
pub const DEFAULT_MAX_PACKET_LEN: usize = 256 * 1024;

/// Longest handle a server may send (draft-ietf-secsh-filexfer-02 §7: the handle string MUST NOT
/// exceed 256 bytes). [`Handle`] replies with longer handles are refused.
pub const MAX_HANDLE_LEN: usize = 256;
