//! [`Request`]: every packet a client sends.

use nacre_wire::{Decode, Encode, Reader, WireError};

use crate::codes::PacketType;
use crate::dirs::{Mkdir, Opendir, Readdir, Rmdir};
use crate::ext::{
    names, CopyData, ExpandPath, Extended, ExtensionRequest, Fstatvfs, Fsync, Hardlink,
    HomeDirectory, Limits, Lsetstat, PosixRename, Statvfs, UsersGroupsById,
};
use crate::files::{Close, Fsetstat, Fstat, Open, Read, Write};
use crate::init::Init;
use crate::message::Message;
use crate::paths::{Lstat, Readlink, Realpath, Remove, Rename, Setstat, Stat, Symlink};
use crate::response::Unknown;

/// A packet from client to server (draft-ietf-secsh-filexfer-02 §4, §6 and §8), decoded from
/// the bytes of a frame (type byte onwards, see [`crate::Frame`]).
///
/// EXTENDED packets naming one of OpenSSH's extensions decode into their typed variant; other
/// names stay [`Request::Extended`]. Packet types that are not requests decode as
/// [`Request::Unknown`] with their request id, so a server can answer them with
/// SSH_FX_OP_UNSUPPORTED. SYMLINK is read in OpenSSH's argument order (see [`Symlink`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// SSH_FXP_INIT.
    Init(Init<'a>),
    /// SSH_FXP_OPEN.
    Open(Open<'a>),
    /// SSH_FXP_CLOSE.
    Close(Close<'a>),
    /// SSH_FXP_READ.
    Read(Read<'a>),
    /// SSH_FXP_WRITE.
    Write(Write<'a>),
    /// SSH_FXP_LSTAT.
    Lstat(Lstat<'a>),
    /// SSH_FXP_FSTAT.
    Fstat(Fstat<'a>),
    /// SSH_FXP_SETSTAT.
    Setstat(Setstat<'a>),
    /// SSH_FXP_FSETSTAT.
    Fsetstat(Fsetstat<'a>),
    /// SSH_FXP_OPENDIR.
    Opendir(Opendir<'a>),
    /// SSH_FXP_READDIR.
    Readdir(Readdir<'a>),
    /// SSH_FXP_REMOVE.
    Remove(Remove<'a>),
    /// SSH_FXP_MKDIR.
    Mkdir(Mkdir<'a>),
    /// SSH_FXP_RMDIR.
    Rmdir(Rmdir<'a>),
    /// SSH_FXP_REALPATH.
    Realpath(Realpath<'a>),
    /// SSH_FXP_STAT.
    Stat(Stat<'a>),
    /// SSH_FXP_RENAME.
    Rename(Rename<'a>),
    /// SSH_FXP_READLINK.
    Readlink(Readlink<'a>),
    /// SSH_FXP_SYMLINK (OpenSSH order).
    Symlink(Symlink<'a>),
    /// `posix-rename@openssh.com`.
    PosixRename(PosixRename<'a>),
    /// `statvfs@openssh.com`.
    Statvfs(Statvfs<'a>),
    /// `fstatvfs@openssh.com`.
    Fstatvfs(Fstatvfs<'a>),
    /// `hardlink@openssh.com`.
    Hardlink(Hardlink<'a>),
    /// `fsync@openssh.com`.
    Fsync(Fsync<'a>),
    /// `lsetstat@openssh.com`.
    Lsetstat(Lsetstat<'a>),
    /// `limits@openssh.com`.
    Limits(Limits),
    /// `expand-path@openssh.com`.
    ExpandPath(ExpandPath<'a>),
    /// `copy-data`.
    CopyData(CopyData<'a>),
    /// `home-directory`.
    HomeDirectory(HomeDirectory<'a>),
    /// `users-groups-by-id@openssh.com`.
    UsersGroupsById(UsersGroupsById<'a>),
    /// SSH_FXP_EXTENDED with an extension name not listed above.
    Extended(Extended<'a>),
    /// A packet type that is not a request.
    Unknown(Unknown<'a>),
}

/// Calls `$body` with the message inside any variant bound to `$m`.
macro_rules! each_request {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            Request::Init($m) => $body,
            Request::Open($m) => $body,
            Request::Close($m) => $body,
            Request::Read($m) => $body,
            Request::Write($m) => $body,
            Request::Lstat($m) => $body,
            Request::Fstat($m) => $body,
            Request::Setstat($m) => $body,
            Request::Fsetstat($m) => $body,
            Request::Opendir($m) => $body,
            Request::Readdir($m) => $body,
            Request::Remove($m) => $body,
            Request::Mkdir($m) => $body,
            Request::Rmdir($m) => $body,
            Request::Realpath($m) => $body,
            Request::Stat($m) => $body,
            Request::Rename($m) => $body,
            Request::Readlink($m) => $body,
            Request::Symlink($m) => $body,
            Request::PosixRename($m) => $body,
            Request::Statvfs($m) => $body,
            Request::Fstatvfs($m) => $body,
            Request::Hardlink($m) => $body,
            Request::Fsync($m) => $body,
            Request::Lsetstat($m) => $body,
            Request::Limits($m) => $body,
            Request::ExpandPath($m) => $body,
            Request::CopyData($m) => $body,
            Request::HomeDirectory($m) => $body,
            Request::UsersGroupsById($m) => $body,
            Request::Extended($m) => $body,
            Request::Unknown($m) => $body,
        }
    };
}

fn typed<'a, T: ExtensionRequest<'a>>(
    id: u32,
    r: &mut Reader<'a>,
    wrap: fn(T) -> Request<'a>,
) -> Result<Request<'a>, WireError> {
    T::decode_payload(id, r).map(wrap)
}

impl<'a> Request<'a> {
    /// Decodes a whole request (type byte onwards); trailing bytes are an error.
    ///
    /// This is the strict decoder: whatever it accepts re-encodes to the same bytes. A server
    /// decodes with [`Request::decode_tolerant`] instead.
    pub fn decode_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        nacre_wire::decode_exact(bytes)
    }

    /// Decodes a request as a server does: like [`Request::decode_bytes`], but bytes after the
    /// request's last field are ignored, as OpenSSH's sftp-server does (its `process()` skips
    /// whatever a handler left of the packet; clients built on Go's `pkg/sftp` send WRITEs
    /// longer than their fields). Returns the request and the number of bytes ignored.
    /// docs/TOLERANCE.md lists this case.
    pub fn decode_tolerant(bytes: &'a [u8]) -> Result<(Self, usize), WireError> {
        let mut r = Reader::new(bytes);
        let request = Self::decode(&mut r)?;
        Ok((request, r.remaining().len()))
    }

    /// The packet type on the wire.
    pub fn packet_type(&self) -> PacketType {
        each_request!(self, m => m.packet_type())
    }

    /// The request id; `None` for INIT, which has none.
    pub fn id(&self) -> Option<u32> {
        match self {
            Request::Init(_) => None,
            Request::Open(m) => Some(m.id),
            Request::Close(m) => Some(m.id),
            Request::Read(m) => Some(m.id),
            Request::Write(m) => Some(m.id),
            Request::Lstat(m) => Some(m.id),
            Request::Fstat(m) => Some(m.id),
            Request::Setstat(m) => Some(m.id),
            Request::Fsetstat(m) => Some(m.id),
            Request::Opendir(m) => Some(m.id),
            Request::Readdir(m) => Some(m.id),
            Request::Remove(m) => Some(m.id),
            Request::Mkdir(m) => Some(m.id),
            Request::Rmdir(m) => Some(m.id),
            Request::Realpath(m) => Some(m.id),
            Request::Stat(m) => Some(m.id),
            Request::Rename(m) => Some(m.id),
            Request::Readlink(m) => Some(m.id),
            Request::Symlink(m) => Some(m.id),
            Request::PosixRename(m) => Some(m.id),
            Request::Statvfs(m) => Some(m.id),
            Request::Fstatvfs(m) => Some(m.id),
            Request::Hardlink(m) => Some(m.id),
            Request::Fsync(m) => Some(m.id),
            Request::Lsetstat(m) => Some(m.id),
            Request::Limits(m) => Some(m.id),
            Request::ExpandPath(m) => Some(m.id),
            Request::CopyData(m) => Some(m.id),
            Request::HomeDirectory(m) => Some(m.id),
            Request::UsersGroupsById(m) => Some(m.id),
            Request::Extended(m) => Some(m.id),
            Request::Unknown(m) => Some(m.id),
        }
    }

    /// The extension name of an EXTENDED request (typed or not).
    pub fn extension_name(&self) -> Option<&'a [u8]> {
        let name = match self {
            Request::PosixRename(_) => names::POSIX_RENAME,
            Request::Statvfs(_) => names::STATVFS,
            Request::Fstatvfs(_) => names::FSTATVFS,
            Request::Hardlink(_) => names::HARDLINK,
            Request::Fsync(_) => names::FSYNC,
            Request::Lsetstat(_) => names::LSETSTAT,
            Request::Limits(_) => names::LIMITS,
            Request::ExpandPath(_) => names::EXPAND_PATH,
            Request::CopyData(_) => names::COPY_DATA,
            Request::HomeDirectory(_) => names::HOME_DIRECTORY,
            Request::UsersGroupsById(_) => names::USERS_GROUPS_BY_ID,
            Request::Extended(e) => return Some(e.name),
            _ => return None,
        };
        Some(name.as_bytes())
    }

    fn decode_extended(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let id = r.u32()?;
        let name = r.string()?;
        let Ok(text) = std::str::from_utf8(name) else {
            return Ok(Request::Extended(Extended {
                id,
                name,
                data: r.take_rest(),
            }));
        };
        match text {
            names::POSIX_RENAME => typed(id, r, Request::PosixRename),
            names::STATVFS => typed(id, r, Request::Statvfs),
            names::FSTATVFS => typed(id, r, Request::Fstatvfs),
            names::HARDLINK => typed(id, r, Request::Hardlink),
            names::FSYNC => typed(id, r, Request::Fsync),
            names::LSETSTAT => typed(id, r, Request::Lsetstat),
            names::LIMITS => typed(id, r, Request::Limits),
            names::EXPAND_PATH => typed(id, r, Request::ExpandPath),
            names::COPY_DATA => typed(id, r, Request::CopyData),
            names::HOME_DIRECTORY => typed(id, r, Request::HomeDirectory),
            names::USERS_GROUPS_BY_ID => typed(id, r, Request::UsersGroupsById),
            _ => Ok(Request::Extended(Extended {
                id,
                name,
                data: r.take_rest(),
            })),
        }
    }
}

impl<'a> Decode<'a> for Request<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let kind = PacketType(r.u8()?);
        Ok(match kind {
            PacketType::INIT => Request::Init(Init::decode_body(r)?),
            PacketType::OPEN => Request::Open(Open::decode_body(r)?),
            PacketType::CLOSE => Request::Close(Close::decode_body(r)?),
            PacketType::READ => Request::Read(Read::decode_body(r)?),
            PacketType::WRITE => Request::Write(Write::decode_body(r)?),
            PacketType::LSTAT => Request::Lstat(Lstat::decode_body(r)?),
            PacketType::FSTAT => Request::Fstat(Fstat::decode_body(r)?),
            PacketType::SETSTAT => Request::Setstat(Setstat::decode_body(r)?),
            PacketType::FSETSTAT => Request::Fsetstat(Fsetstat::decode_body(r)?),
            PacketType::OPENDIR => Request::Opendir(Opendir::decode_body(r)?),
            PacketType::READDIR => Request::Readdir(Readdir::decode_body(r)?),
            PacketType::REMOVE => Request::Remove(Remove::decode_body(r)?),
            PacketType::MKDIR => Request::Mkdir(Mkdir::decode_body(r)?),
            PacketType::RMDIR => Request::Rmdir(Rmdir::decode_body(r)?),
            PacketType::REALPATH => Request::Realpath(Realpath::decode_body(r)?),
            PacketType::STAT => Request::Stat(Stat::decode_body(r)?),
            PacketType::RENAME => Request::Rename(Rename::decode_body(r)?),
            PacketType::READLINK => Request::Readlink(Readlink::decode_body(r)?),
            PacketType::SYMLINK => Request::Symlink(Symlink::decode_body(r)?),
            PacketType::EXTENDED => Request::decode_extended(r)?,
            other => Request::Unknown(Unknown::decode_after_type(other, r)?),
        })
    }
}

impl Encode for Request<'_> {
    fn encoded_len(&self) -> usize {
        each_request!(self, m => m.encoded_len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        each_request!(self, m => m.encode(out))
    }
}
