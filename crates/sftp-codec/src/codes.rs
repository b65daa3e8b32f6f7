//! Registries of SFTP v3: packet types (draft §3), status codes (draft §7) and OPEN pflags
//! (draft §6.3).

use nacre_wire::WireError;

nacre_wire::open_enum! {
    /// SFTP packet types (draft-ietf-secsh-filexfer-02 §3). Unknown numbers stay representable.
    pub struct PacketType(u8) {
        /// SSH_FXP_INIT (§4), client hello.
        INIT = 1,
        /// SSH_FXP_VERSION (§4), server hello.
        VERSION = 2,
        /// SSH_FXP_OPEN (§6.3).
        OPEN = 3,
        /// SSH_FXP_CLOSE (§6.3).
        CLOSE = 4,
        /// SSH_FXP_READ (§6.4).
        READ = 5,
        /// SSH_FXP_WRITE (§6.4).
        WRITE = 6,
        /// SSH_FXP_LSTAT (§6.8).
        LSTAT = 7,
        /// SSH_FXP_FSTAT (§6.8).
        FSTAT = 8,
        /// SSH_FXP_SETSTAT (§6.9).
        SETSTAT = 9,
        /// SSH_FXP_FSETSTAT (§6.9).
        FSETSTAT = 10,
        /// SSH_FXP_OPENDIR (§6.7).
        OPENDIR = 11,
        /// SSH_FXP_READDIR (§6.7).
        READDIR = 12,
        /// SSH_FXP_REMOVE (§6.5).
        REMOVE = 13,
        /// SSH_FXP_MKDIR (§6.6).
        MKDIR = 14,
        /// SSH_FXP_RMDIR (§6.6).
        RMDIR = 15,
        /// SSH_FXP_REALPATH (§6.11).
        REALPATH = 16,
        /// SSH_FXP_STAT (§6.8).
        STAT = 17,
        /// SSH_FXP_RENAME (§6.5).
        RENAME = 18,
        /// SSH_FXP_READLINK (§6.10).
        READLINK = 19,
        /// SSH_FXP_SYMLINK (§6.10).
        SYMLINK = 20,
        /// SSH_FXP_STATUS (§7).
        STATUS = 101,
        /// SSH_FXP_HANDLE (§7).
        HANDLE = 102,
        /// SSH_FXP_DATA (§7).
        DATA = 103,
        /// SSH_FXP_NAME (§7).
        NAME = 104,
        /// SSH_FXP_ATTRS (§7).
        ATTRS = 105,
        /// SSH_FXP_EXTENDED (§8).
        EXTENDED = 200,
        /// SSH_FXP_EXTENDED_REPLY (§8).
        EXTENDED_REPLY = 201,
    }
}

impl PacketType {
    /// True for the types a client sends (INIT, the requests and EXTENDED).
    pub fn is_request(self) -> bool {
        matches!(self.0, 1 | 3..=20 | 200)
    }

    /// True for the types a server sends (VERSION, the responses and EXTENDED_REPLY).
    pub fn is_response(self) -> bool {
        matches!(self.0, 2 | 101..=105 | 201)
    }

    /// True when packets of this type carry a request id (all but INIT and VERSION).
    pub fn has_request_id(self) -> bool {
        self != PacketType::INIT && self != PacketType::VERSION
    }
}

nacre_wire::open_enum! {
    /// Status codes of SSH_FXP_STATUS. Version 3 defines 0..=8 (draft-ietf-secsh-filexfer-02
    /// §7); the later values come from later drafts (draft-ietf-secsh-filexfer-13 §9.1) and are
    /// sent by some version 3 servers too (OpenSSH sends `INVALID_PARAMETER` for a bad
    /// copy-data). Unknown codes stay representable.
    ///
    /// ```
    /// use nacre_sftp_codec::{status_for_error, StatusCode};
    ///
    /// assert_eq!(StatusCode::from(2u32), StatusCode::NO_SUCH_FILE);
    /// assert_eq!(StatusCode::NO_SUCH_FILE.default_message(), "No such file");
    /// assert!(StatusCode::OK.is_ok());
    /// // Later drafts' codes exist, but a version 3 client may not know them.
    /// assert!(!StatusCode::FILE_ALREADY_EXISTS.is_v3());
    /// assert_eq!(StatusCode(999).to_string(), "StatusCode(999)");
    ///
    /// // What a server answers to a request it cannot decode.
    /// let err = nacre_wire::WireError::Truncated { needed: 4 };
    /// assert_eq!(status_for_error(&err), StatusCode::BAD_MESSAGE);
    /// ```
    pub struct StatusCode(u32) {
        /// SSH_FX_OK: success.
        OK = 0,
        /// SSH_FX_EOF: end of file, or no more directory entries.
        EOF = 1,
        /// SSH_FX_NO_SUCH_FILE: a reference to a file that does not exist.
        NO_SUCH_FILE = 2,
        /// SSH_FX_PERMISSION_DENIED: insufficient permissions.
        PERMISSION_DENIED = 3,
        /// SSH_FX_FAILURE: an error with no more specific code.
        FAILURE = 4,
        /// SSH_FX_BAD_MESSAGE: a badly formatted packet or protocol incompatibility.
        BAD_MESSAGE = 5,
        /// SSH_FX_NO_CONNECTION: pseudo-error, no connection to the server (client side only).
        NO_CONNECTION = 6,
        /// SSH_FX_CONNECTION_LOST: pseudo-error, the connection was lost (client side only).
        CONNECTION_LOST = 7,
        /// SSH_FX_OP_UNSUPPORTED: the server does not support the operation.
        OP_UNSUPPORTED = 8,
        /// SSH_FX_INVALID_HANDLE (version 4+).
        INVALID_HANDLE = 9,
        /// SSH_FX_NO_SUCH_PATH (version 4+).
        NO_SUCH_PATH = 10,
        /// SSH_FX_FILE_ALREADY_EXISTS (version 4+).
        FILE_ALREADY_EXISTS = 11,
        /// SSH_FX_WRITE_PROTECT (version 4+).
        WRITE_PROTECT = 12,
        /// SSH_FX_NO_MEDIA (version 4+).
        NO_MEDIA = 13,
        /// SSH_FX_NO_SPACE_ON_FILESYSTEM (version 5+).
        NO_SPACE_ON_FILESYSTEM = 14,
        /// SSH_FX_QUOTA_EXCEEDED (version 5+).
        QUOTA_EXCEEDED = 15,
        /// SSH_FX_UNKNOWN_PRINCIPAL (version 5+).
        UNKNOWN_PRINCIPAL = 16,
        /// SSH_FX_LOCK_CONFLICT (version 5+).
        LOCK_CONFLICT = 17,
        /// SSH_FX_DIR_NOT_EMPTY (version 6).
        DIR_NOT_EMPTY = 18,
        /// SSH_FX_NOT_A_DIRECTORY (version 6).
        NOT_A_DIRECTORY = 19,
        /// SSH_FX_INVALID_FILENAME (version 6).
        INVALID_FILENAME = 20,
        /// SSH_FX_LINK_LOOP (version 6).
        LINK_LOOP = 21,
        /// SSH_FX_CANNOT_DELETE (version 6).
        CANNOT_DELETE = 22,
        /// SSH_FX_INVALID_PARAMETER (version 6).
        INVALID_PARAMETER = 23,
        /// SSH_FX_FILE_IS_A_DIRECTORY (version 6).
        FILE_IS_A_DIRECTORY = 24,
        /// SSH_FX_BYTE_RANGE_LOCK_CONFLICT (version 6).
        BYTE_RANGE_LOCK_CONFLICT = 25,
        /// SSH_FX_BYTE_RANGE_LOCK_REFUSED (version 6).
        BYTE_RANGE_LOCK_REFUSED = 26,
        /// SSH_FX_DELETE_PENDING (version 6).
        DELETE_PENDING = 27,
        /// SSH_FX_FILE_CORRUPT (version 6).
        FILE_CORRUPT = 28,
        /// SSH_FX_OWNER_INVALID (version 6).
        OWNER_INVALID = 29,
        /// SSH_FX_GROUP_INVALID (version 6).
        GROUP_INVALID = 30,
        /// SSH_FX_NO_MATCHING_BYTE_RANGE_LOCK (version 6).
        NO_MATCHING_BYTE_RANGE_LOCK = 31,
    }
}

impl StatusCode {
    /// True for SSH_FX_OK.
    pub fn is_ok(self) -> bool {
        self == StatusCode::OK
    }

    /// True for the codes version 3 defines (0..=8); a version 3 server should map the others
    /// to one of these (usually `FAILURE`) for clients that only know version 3.
    pub fn is_v3(self) -> bool {
        self.0 <= 8
    }

    /// A short English message for the code, as OpenSSH's sftp-server sends them.
    pub fn default_message(self) -> &'static str {
        match self.0 {
            0 => "Success",
            1 => "End of file",
            2 => "No such file",
            3 => "Permission denied",
            4 => "Failure",
            5 => "Bad message",
            6 => "No connection",
            7 => "Connection lost",
            8 => "Operation unsupported",
            9 => "Invalid handle",
            10 => "No such path",
            11 => "File already exists",
            12 => "Write protected",
            13 => "No media",
            14 => "No space on filesystem",
            15 => "Quota exceeded",
            16 => "Unknown principal",
            17 => "Lock conflict",
            18 => "Directory not empty",
            19 => "Not a directory",
            20 => "Invalid filename",
            21 => "Link loop",
            22 => "Cannot delete",
            23 => "Invalid parameter",
            24 => "File is a directory",
            25 => "Byte range lock conflict",
            26 => "Byte range lock refused",
            27 => "Delete pending",
            28 => "File corrupt",
            29 => "Owner invalid",
            30 => "Group invalid",
            31 => "No matching byte range lock",
            _ => "Unknown error",
        }
    }
}

/// The status a server answers a request it could not decode with: SSH_FX_BAD_MESSAGE
/// (draft §7: "a badly formatted packet or protocol incompatibility was detected").
pub fn status_for_error(_error: &WireError) -> StatusCode {
    StatusCode::BAD_MESSAGE
}

/// The `pflags` of SSH_FXP_OPEN (draft-ietf-secsh-filexfer-02 §6.3), a bit set. Unknown bits are
/// kept (a server decides whether to refuse them, see [`OpenFlags::unknown_bits`]).
///
/// ```
/// use nacre_sftp_codec::OpenFlags;
///
/// // What `put` asks for: create or truncate, then write.
/// let flags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
/// assert_eq!(flags.bits(), 0x1a);
/// assert!(flags.contains(OpenFlags::CREAT | OpenFlags::WRITE));
/// assert!(!flags.contains(OpenFlags::READ));
/// assert_eq!(format!("{flags:?}"), "OpenFlags(WRITE | CREAT | TRUNC)");
///
/// assert_eq!(OpenFlags(0x41).unknown_bits(), 0x40);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OpenFlags(pub u32);

impl OpenFlags {
    /// SSH_FXF_READ: open for reading.
    pub const READ: OpenFlags = OpenFlags(0x0000_0001);
    /// SSH_FXF_WRITE: open for writing (with READ: both).
    pub const WRITE: OpenFlags = OpenFlags(0x0000_0002);
    /// SSH_FXF_APPEND: writes append to the end of the file.
    pub const APPEND: OpenFlags = OpenFlags(0x0000_0004);
    /// SSH_FXF_CREAT: create the file if it does not exist.
    pub const CREAT: OpenFlags = OpenFlags(0x0000_0008);
    /// SSH_FXF_TRUNC: truncate an existing file to zero length (requires CREAT).
    pub const TRUNC: OpenFlags = OpenFlags(0x0000_0010);
    /// SSH_FXF_EXCL: fail if the file exists (requires CREAT).
    pub const EXCL: OpenFlags = OpenFlags(0x0000_0020);
    /// Every bit version 3 defines.
    pub const ALL: OpenFlags = OpenFlags(0x0000_003f);

    const NAMES: [(OpenFlags, &'static str); 6] = [
        (OpenFlags::READ, "READ"),
        (OpenFlags::WRITE, "WRITE"),
        (OpenFlags::APPEND, "APPEND"),
        (OpenFlags::CREAT, "CREAT"),
        (OpenFlags::TRUNC, "TRUNC"),
        (OpenFlags::EXCL, "EXCL"),
    ];

    /// No flags.
    pub const fn empty() -> Self {
        OpenFlags(0)
    }
    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// True when every bit of `other` is set.
    pub const fn contains(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The bits version 3 does not define.
    pub const fn unknown_bits(self) -> u32 {
        self.0 & !OpenFlags::ALL.0
    }
}

impl std::ops::BitOr for OpenFlags {
    type Output = OpenFlags;
    fn bitor(self, rhs: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for OpenFlags {
    fn bitor_assign(&mut self, rhs: OpenFlags) {
        self.0 |= rhs.0;
    }
}

impl std::ops::BitAnd for OpenFlags {
    type Output = OpenFlags;
    fn bitand(self, rhs: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 & rhs.0)
    }
}

impl std::fmt::Debug for OpenFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        f.write_str("OpenFlags(")?;
        for (flag, name) in OpenFlags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.unknown_bits();
        if unknown != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{unknown:#x}")?;
        } else if first {
            f.write_str("empty")?;
        }
        f.write_str(")")
    }
}
