//! Requests naming a path: REMOVE, RENAME (draft-ietf-secsh-filexfer-02 §6.5), STAT, LSTAT
//! (§6.8), SETSTAT (§6.9), READLINK, SYMLINK (§6.10) and REALPATH (§6.11).

use nacre_wire::{put, Reader, WireError};

use crate::attrs::FileAttributes;
use crate::codes::PacketType;
use crate::field::slen;
use crate::message::{impl_codec, sftp_struct, Message};

sftp_struct! {
    /// SSH_FXP_REMOVE (draft-ietf-secsh-filexfer-02 §6.5): removes a file. The server answers
    /// STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_REMOVE
    /// uint32 id
    /// string filename
    /// ```
    pub struct Remove<'a> = REMOVE {
        /// File to remove.
        pub filename: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_RENAME (draft-ietf-secsh-filexfer-02 §6.5): renames a file; it is an error if
    /// `newpath` exists (use `posix-rename@openssh.com` to replace). The server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_RENAME
    /// uint32 id
    /// string oldpath
    /// string newpath
    /// ```
    pub struct Rename<'a> = RENAME {
        /// Existing name.
        pub oldpath: &'a [u8],
        /// New name.
        pub newpath: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_STAT (draft-ietf-secsh-filexfer-02 §6.8): attributes of a path, following
    /// symbolic links. The server answers ATTRS or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_STAT
    /// uint32 id
    /// string path
    /// ```
    pub struct Stat<'a> = STAT {
        /// Path to query.
        pub path: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_LSTAT (draft-ietf-secsh-filexfer-02 §6.8): attributes of a path, not following
    /// symbolic links. The server answers ATTRS or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_LSTAT
    /// uint32 id
    /// string path
    /// ```
    pub struct Lstat<'a> = LSTAT {
        /// Path to query.
        pub path: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_SETSTAT (draft-ietf-secsh-filexfer-02 §6.9): changes attributes of a path. The
    /// server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_SETSTAT
    /// uint32 id
    /// string path
    /// ATTRS  attrs
    /// ```
    pub struct Setstat<'a> = SETSTAT {
        /// Path to change.
        pub path: &'a [u8],
        /// Attributes to change (absent fields are left alone).
        pub attrs: FileAttributes<'a>,
    }
}

sftp_struct! {
    /// SSH_FXP_READLINK (draft-ietf-secsh-filexfer-02 §6.10): reads the target of a symbolic
    /// link. The server answers NAME with one entry (only its filename is meaningful) or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_READLINK
    /// uint32 id
    /// string path
    /// ```
    pub struct Readlink<'a> = READLINK {
        /// Symbolic link to read.
        pub path: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_REALPATH (draft-ietf-secsh-filexfer-02 §6.11): canonicalizes a path (`"."` gives
    /// the current directory). The server answers NAME with one entry or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_REALPATH
    /// uint32 id
    /// string path
    /// ```
    pub struct Realpath<'a> = REALPATH {
        /// Path to canonicalize.
        pub path: &'a [u8],
    }
}

/// Order of the two paths of SSH_FXP_SYMLINK on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SymlinkOrder {
    /// `targetpath` then `linkpath`: OpenSSH's sftp and sftp-server (OpenSSH `PROTOCOL`,
    /// "Reversal of arguments to SSH_FXP_SYMLINK"), and the clients that talk to it. The default.
    #[default]
    OpenSsh,
    /// `linkpath` then `targetpath`, as draft-ietf-secsh-filexfer-02 §6.10 writes it.
    Draft,
}

/// SSH_FXP_SYMLINK (draft-ietf-secsh-filexfer-02 §6.10): creates a symbolic link at
/// `link_path` pointing to `target_path`. The server answers STATUS.
///
/// The draft's grammar is
///
/// ```text
/// byte   SSH_FXP_SYMLINK
/// uint32 id
/// string linkpath
/// string targetpath
/// ```
///
/// but OpenSSH's sftp-server was implemented with the two reversed, and kept that order once it
/// was widely deployed (OpenSSH `PROTOCOL`, "Reversal of arguments to SSH_FXP_SYMLINK"):
///
/// ```text
/// byte   SSH_FXP_SYMLINK
/// uint32 id
/// string targetpath
/// string linkpath
/// ```
///
/// Nothing on the wire says which order a peer uses, so this codec follows OpenSSH's, which is
/// what practically every peer speaks: [`nacre_wire::Decode`] and [`nacre_wire::Encode`] (and
/// [`crate::Request`]) read and write `targetpath` first. For a peer known to follow the draft,
/// use [`Symlink::decode_ordered`]/[`Symlink::encode_ordered`] with [`SymlinkOrder::Draft`], or
/// [`Symlink::swapped`] on a decoded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symlink<'a> {
    /// Request identifier.
    pub id: u32,
    /// Where the new symbolic link is created.
    pub link_path: &'a [u8],
    /// What the new link points to (stored verbatim in the link).
    pub target_path: &'a [u8],
}

impl<'a> Symlink<'a> {
    /// Decodes the body (after the type byte) with the paths in `order`.
    pub fn decode_ordered(r: &mut Reader<'a>, order: SymlinkOrder) -> Result<Self, WireError> {
        let id = r.u32()?;
        let first = r.string()?;
        let second = r.string()?;
        let (link_path, target_path) = match order {
            SymlinkOrder::OpenSsh => (second, first),
            SymlinkOrder::Draft => (first, second),
        };
        Ok(Symlink {
            id,
            link_path,
            target_path,
        })
    }

    /// Appends the body (after the type byte) with the paths in `order`.
    pub fn encode_ordered(&self, out: &mut Vec<u8>, order: SymlinkOrder) {
        put::uint32(out, self.id);
        let (first, second) = match order {
            SymlinkOrder::OpenSsh => (self.target_path, self.link_path),
            SymlinkOrder::Draft => (self.link_path, self.target_path),
        };
        put::string(out, first);
        put::string(out, second);
    }

    /// Appends a whole SYMLINK frame (length, type, body) with the paths in `order`.
    pub fn encode_frame_ordered(&self, out: &mut Vec<u8>, order: SymlinkOrder) {
        put::uint32(out, put::len32(1 + self.body_len()));
        put::byte(out, PacketType::SYMLINK.0);
        self.encode_ordered(out, order);
    }

    /// The same request with the two paths exchanged: turns a value decoded in one order into
    /// the value the other order means.
    pub fn swapped(self) -> Self {
        Symlink {
            id: self.id,
            link_path: self.target_path,
            target_path: self.link_path,
        }
    }
}

impl<'a> Message<'a> for Symlink<'a> {
    const TYPE: PacketType = PacketType::SYMLINK;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Symlink::decode_ordered(r, SymlinkOrder::OpenSsh)
    }
    fn body_len(&self) -> usize {
        4 + slen(self.link_path.len()) + slen(self.target_path.len())
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        self.encode_ordered(out, SymlinkOrder::OpenSsh);
    }
}

impl_codec!(Symlink<'a>);
