//! Vendor extensions (draft-ietf-secsh-filexfer-02 §8): the raw SSH_FXP_EXTENDED request and
//! the typed requests and replies of the 11 SFTP extensions of OpenSSH (its `PROTOCOL` file,
//! section "SFTP protocol changes").
//!
//! | request                          | reply                                  |
//! |----------------------------------|----------------------------------------|
//! | [`PosixRename`]                  | STATUS                                 |
//! | [`Statvfs`], [`Fstatvfs`]        | [`StatvfsReply`] (EXTENDED_REPLY) or STATUS |
//! | [`Hardlink`]                     | STATUS                                 |
//! | [`Fsync`]                        | STATUS                                 |
//! | [`Lsetstat`]                     | STATUS                                 |
//! | [`Limits`]                       | [`LimitsReply`] (EXTENDED_REPLY)       |
//! | [`ExpandPath`]                   | NAME (one entry, like REALPATH) or STATUS |
//! | [`CopyData`]                     | STATUS                                 |
//! | [`HomeDirectory`]                | NAME (one entry, like REALPATH) or STATUS |
//! | [`UsersGroupsById`]              | [`UsersGroupsByIdReply`] (EXTENDED_REPLY) or STATUS |
//!
//! [`crate::Request`] decodes EXTENDED packets carrying these names into the typed structs and
//! keeps any other name as [`Extended`]. EXTENDED_REPLY does not name its request, so
//! [`crate::Response`] keeps it raw ([`crate::ExtendedReply`]); parse it with
//! [`ExtensionReply::from_reply`] of the type the request expects.

mod replies;
mod requests;

use nacre_wire::{put, Reader, WireError};

use crate::codes::PacketType;
use crate::field::slen;
use crate::init::ExtensionPair;
use crate::message::{impl_codec, Message};
use crate::replies::ExtendedReply;

pub use replies::{LimitsReply, StatvfsReply, UsersGroupsByIdReply};
pub use requests::{
    CopyData, ExpandPath, Fstatvfs, Fsync, Hardlink, HomeDirectory, Limits, Lsetstat, PosixRename,
    Statvfs, UsersGroupsById,
};

/// Names of the OpenSSH SFTP extensions.
pub mod names {
    /// `posix-rename@openssh.com`: rename with POSIX semantics (replaces the target).
    pub const POSIX_RENAME: &str = "posix-rename@openssh.com";
    /// `statvfs@openssh.com`: file system statistics of a path.
    pub const STATVFS: &str = "statvfs@openssh.com";
    /// `fstatvfs@openssh.com`: file system statistics of an open handle.
    pub const FSTATVFS: &str = "fstatvfs@openssh.com";
    /// `hardlink@openssh.com`: create a hard link.
    pub const HARDLINK: &str = "hardlink@openssh.com";
    /// `fsync@openssh.com`: fsync an open handle.
    pub const FSYNC: &str = "fsync@openssh.com";
    /// `lsetstat@openssh.com`: setstat without following symbolic links.
    pub const LSETSTAT: &str = "lsetstat@openssh.com";
    /// `limits@openssh.com`: the server's packet, read, write and handle limits.
    pub const LIMITS: &str = "limits@openssh.com";
    /// `expand-path@openssh.com`: REALPATH with `~` and `~user` expansion.
    pub const EXPAND_PATH: &str = "expand-path@openssh.com";
    /// `copy-data`: server-side copy between two open handles.
    pub const COPY_DATA: &str = "copy-data";
    /// `home-directory`: a user's home directory.
    pub const HOME_DIRECTORY: &str = "home-directory";
    /// `users-groups-by-id@openssh.com`: user and group names of numeric ids.
    pub const USERS_GROUPS_BY_ID: &str = "users-groups-by-id@openssh.com";
}

/// The 11 extensions OpenSSH's sftp-server (9.x) announces in SSH_FXP_VERSION, in its order and
/// with its versions: what a server offering all of them sends.
pub const OPENSSH_EXTENSIONS: [ExtensionPair<'static>; 11] = [
    ExtensionPair::new(names::POSIX_RENAME, "1"),
    ExtensionPair::new(names::STATVFS, "2"),
    ExtensionPair::new(names::FSTATVFS, "2"),
    ExtensionPair::new(names::HARDLINK, "1"),
    ExtensionPair::new(names::FSYNC, "1"),
    ExtensionPair::new(names::LSETSTAT, "1"),
    ExtensionPair::new(names::LIMITS, "1"),
    ExtensionPair::new(names::EXPAND_PATH, "1"),
    ExtensionPair::new(names::COPY_DATA, "1"),
    ExtensionPair::new(names::HOME_DIRECTORY, "1"),
    ExtensionPair::new(names::USERS_GROUPS_BY_ID, "1"),
];

/// A typed EXTENDED request: `uint32 id || string NAME || payload`.
pub trait ExtensionRequest<'a>: Message<'a> {
    /// The `extended-request` name.
    const NAME: &'static str;
    /// The version OpenSSH announces for it in SSH_FXP_VERSION.
    const VERSION: &'static str;
    /// Decodes the payload that follows the name.
    fn decode_payload(id: u32, r: &mut Reader<'a>) -> Result<Self, WireError>;
}

/// A typed EXTENDED_REPLY payload.
pub trait ExtensionReply<'a>: Message<'a> {
    /// Parses the data of a decoded EXTENDED_REPLY (which must be consumed exactly).
    fn from_reply(reply: &ExtendedReply<'a>) -> Result<Self, WireError>;
    /// Parses the data of a decoded EXTENDED_REPLY as a client does: bytes after the last field
    /// are ignored, as OpenSSH's sftp client ignores them (docs/TOLERANCE.md). Returns the value
    /// and the number of bytes ignored.
    fn from_reply_tolerant(reply: &ExtendedReply<'a>) -> Result<(Self, usize), WireError>;
}

/// Implements [`Message`] (type EXTENDED), `Decode`, `Encode` and [`ExtensionRequest`] for a
/// struct declared with `sftp_struct!` (without a type).
macro_rules! ext_request {
    ($name:ident $(<$lt:lifetime>)?, $ext:expr, $version:expr) => {
        impl<'a> $crate::message::Message<'a> for $name $(<$lt>)? {
            const TYPE: $crate::codes::PacketType = $crate::codes::PacketType::EXTENDED;

            fn decode_body(
                r: &mut nacre_wire::Reader<'a>,
            ) -> Result<Self, nacre_wire::WireError> {
                let id = r.u32()?;
                if r.string()? != $ext.as_bytes() {
                    return Err(nacre_wire::WireError::InvalidValue("extended-request name"));
                }
                Self::decode_fields(id, r)
            }
            fn body_len(&self) -> usize {
                4 + 4 + $ext.len() + self.fields_len()
            }
            fn encode_body(&self, out: &mut Vec<u8>) {
                nacre_wire::put::uint32(out, self.id);
                nacre_wire::put::string(out, $ext.as_bytes());
                self.encode_fields(out);
            }
        }

        impl<'a> $crate::ext::ExtensionRequest<'a> for $name $(<$lt>)? {
            const NAME: &'static str = $ext;
            const VERSION: &'static str = $version;
            fn decode_payload(
                id: u32,
                r: &mut nacre_wire::Reader<'a>,
            ) -> Result<Self, nacre_wire::WireError> {
                Self::decode_fields(id, r)
            }
        }

        $crate::message::impl_codec!($name $(<$lt>)?);
    };
}

/// Implements [`ExtensionReply`] for a struct declared with `sftp_struct!` (type
/// EXTENDED_REPLY).
macro_rules! ext_reply {
    ($name:ident $(<$lt:lifetime>)?) => {
        impl<'a> $crate::ext::ExtensionReply<'a> for $name $(<$lt>)? {
            fn from_reply(
                reply: &$crate::replies::ExtendedReply<'a>,
            ) -> Result<Self, nacre_wire::WireError> {
                let mut r = nacre_wire::Reader::new(reply.data);
                let value = Self::decode_fields(reply.id, &mut r)?;
                r.finish()?;
                Ok(value)
            }
            fn from_reply_tolerant(
                reply: &$crate::replies::ExtendedReply<'a>,
            ) -> Result<(Self, usize), nacre_wire::WireError> {
                let mut r = nacre_wire::Reader::new(reply.data);
                let value = Self::decode_fields(reply.id, &mut r)?;
                Ok((value, r.remaining().len()))
            }
        }
    };
}

pub(crate) use {ext_reply, ext_request};

/// SSH_FXP_EXTENDED (draft-ietf-secsh-filexfer-02 §8) with an extension name this crate has no
/// type for; the payload stays raw. A server that does not know the name answers STATUS with
/// SSH_FX_OP_UNSUPPORTED.
///
/// ```text
/// byte   SSH_FXP_EXTENDED
/// uint32 id
/// string extended-request
/// ...    any request-specific data
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extended<'a> {
    /// Request identifier.
    pub id: u32,
    /// The `extended-request` name, e.g. `vendor-op@example.com`.
    pub name: &'a [u8],
    /// The request-specific data (the rest of the packet).
    pub data: &'a [u8],
}

impl<'a> Extended<'a> {
    /// The name as text, if it is UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.name).ok()
    }
}

impl<'a> Message<'a> for Extended<'a> {
    const TYPE: PacketType = PacketType::EXTENDED;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Ok(Extended {
            id: r.u32()?,
            name: r.string()?,
            data: r.take_rest(),
        })
    }
    fn body_len(&self) -> usize {
        4 + slen(self.name.len()) + self.data.len()
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.id);
        put::string(out, self.name);
        out.extend_from_slice(self.data);
    }
}

impl_codec!(Extended<'a>);
