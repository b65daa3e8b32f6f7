//! Requests on files and open file handles: OPEN, CLOSE (draft-ietf-secsh-filexfer-02 §6.3),
//! READ, WRITE (§6.4), FSTAT (§6.8) and FSETSTAT (§6.9).

use nacre_wire::put;

use crate::attrs::FileAttributes;
use crate::codes::{OpenFlags, PacketType};
use crate::message::sftp_struct;

sftp_struct! {
    /// SSH_FXP_OPEN (draft-ietf-secsh-filexfer-02 §6.3): opens or creates a file. The server
    /// answers HANDLE or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_OPEN
    /// uint32 id
    /// string filename
    /// uint32 pflags
    /// ATTRS  attrs
    /// ```
    pub struct Open<'a> = OPEN {
        /// Path of the file (bytes; not necessarily UTF-8 in version 3).
        pub filename: &'a [u8],
        /// How to open: READ, WRITE, APPEND, CREAT, TRUNC, EXCL.
        pub pflags: OpenFlags,
        /// Initial attributes for a newly created file (usually permissions only).
        pub attrs: FileAttributes<'a>,
    }
}

sftp_struct! {
    /// SSH_FXP_CLOSE (draft-ietf-secsh-filexfer-02 §6.3): closes a file or directory handle. The
    /// server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_CLOSE
    /// uint32 id
    /// string handle
    /// ```
    pub struct Close<'a> = CLOSE {
        /// Handle from a previous OPEN or OPENDIR.
        pub handle: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_READ (draft-ietf-secsh-filexfer-02 §6.4): reads up to `len` bytes at `offset`.
    /// The server answers DATA (possibly shorter) or STATUS (EOF at end of file).
    ///
    /// ```text
    /// byte   SSH_FXP_READ
    /// uint32 id
    /// string handle
    /// uint64 offset
    /// uint32 len
    /// ```
    pub struct Read<'a> = READ {
        /// Open file handle.
        pub handle: &'a [u8],
        /// Offset from the beginning of the file.
        pub offset: u64,
        /// Maximum number of bytes to read (servers clamp it).
        pub len: u32,
    }
}

sftp_struct! {
    /// SSH_FXP_WRITE (draft-ietf-secsh-filexfer-02 §6.4): writes `data` at `offset`. The server
    /// answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_WRITE
    /// uint32 id
    /// string handle
    /// uint64 offset
    /// string data
    /// ```
    pub struct Write<'a> = WRITE {
        /// Open file handle.
        pub handle: &'a [u8],
        /// Offset from the beginning of the file.
        pub offset: u64,
        /// Bytes to write (borrowed from the packet).
        pub data: &'a [u8],
    }
}

impl Write<'_> {
    /// Appends the length prefix and every field of a WRITE frame except the data bytes, which
    /// the caller appends next: exactly `data_len` of them (for example read from a file straight
    /// into `out`, with no intermediate copy).
    pub fn encode_frame_header(
        out: &mut Vec<u8>,
        id: u32,
        handle: &[u8],
        offset: u64,
        data_len: usize,
    ) {
        let len = 1 + 4 + 4 + handle.len() + 8 + 4 + data_len;
        put::uint32(out, put::len32(len));
        put::byte(out, PacketType::WRITE.0);
        put::uint32(out, id);
        put::string(out, handle);
        put::uint64(out, offset);
        put::uint32(out, put::len32(data_len));
    }
}

sftp_struct! {
    /// SSH_FXP_FSTAT (draft-ietf-secsh-filexfer-02 §6.8): attributes of an open handle. The
    /// server answers ATTRS or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_FSTAT
    /// uint32 id
    /// string handle
    /// ```
    pub struct Fstat<'a> = FSTAT {
        /// Open file handle.
        pub handle: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_FSETSTAT (draft-ietf-secsh-filexfer-02 §6.9): changes attributes of an open
    /// handle. The server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_FSETSTAT
    /// uint32 id
    /// string handle
    /// ATTRS  attrs
    /// ```
    pub struct Fsetstat<'a> = FSETSTAT {
        /// Open file handle.
        pub handle: &'a [u8],
        /// Attributes to change (absent fields are left alone).
        pub attrs: FileAttributes<'a>,
    }
}
