//! File attributes, the `ATTRS` compound of draft-ietf-secsh-filexfer-02 §5.

use nacre_wire::{put, Reader, WireError};

use crate::field::Field;
use crate::init::ExtensionPair;
use crate::seq::Seq;

/// File attributes (draft-ietf-secsh-filexfer-02 §5). Each field is present when its flag is.
///
/// ```text
/// uint32   flags
/// uint64   size           present only if flag SSH_FILEXFER_ATTR_SIZE
/// uint32   uid            present only if flag SSH_FILEXFER_ATTR_UIDGID
/// uint32   gid            present only if flag SSH_FILEXFER_ATTR_UIDGID
/// uint32   permissions    present only if flag SSH_FILEXFER_ATTR_PERMISSIONS
/// uint32   atime          present only if flag SSH_FILEXFER_ATTR_ACMODTIME
/// uint32   mtime          present only if flag SSH_FILEXFER_ATTR_ACMODTIME
/// uint32   extended_count present only if flag SSH_FILEXFER_ATTR_EXTENDED
/// string   extended_type
/// string   extended_data
/// ...      more extended data (extended_type - extended_data pairs),
///          so that number of pairs equals extended_count
/// ```
///
/// The flags on the wire are derived from which fields are `Some`. Flag bits version 3 does not
/// define are refused when decoding: their fields would follow in an unknown layout.
///
/// ```
/// use nacre_sftp_codec::{Attrs, FileAttributes, FileType};
/// use nacre_wire::{decode_exact, Encode};
///
/// let attrs = FileAttributes::default()
///     .with_size(4096)
///     .with_permissions(0o040_755) // a directory, rwxr-xr-x
///     .with_times(1_700_000_000, 1_700_000_100);
/// let flags = attrs.flags(); // what goes on the wire before the fields
/// assert_eq!(flags, FileAttributes::FLAG_SIZE | FileAttributes::FLAG_PERMISSIONS | 0x8);
/// assert_eq!(attrs.file_type(), Some(FileType::Directory));
/// assert!(attrs.is_dir() && !attrs.is_regular());
///
/// // On the wire inside an ATTRS reply (the answer to STAT).
/// let reply = Attrs { id: 3, attrs }.to_bytes();
/// let decoded: Attrs = decode_exact(&reply)?;
/// assert_eq!(decoded.attrs, attrs);
/// assert!(decoded.attrs.uid_gid.is_none());
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileAttributes<'a> {
    /// File size in bytes (SSH_FILEXFER_ATTR_SIZE).
    pub size: Option<u64>,
    /// Numeric owner and group (SSH_FILEXFER_ATTR_UIDGID).
    pub uid_gid: Option<UidGid>,
    /// POSIX permissions and file type bits, as `st_mode` (SSH_FILEXFER_ATTR_PERMISSIONS).
    pub permissions: Option<u32>,
    /// Access and modification times (SSH_FILEXFER_ATTR_ACMODTIME).
    pub ac_mod_time: Option<AcModTime>,
    /// Extended attribute pairs (SSH_FILEXFER_ATTR_EXTENDED); `Some` of an empty sequence
    /// still sets the flag, with a count of zero.
    pub extended: Option<Seq<'a, ExtensionPair<'a>>>,
}

/// Owner and group ids of [`FileAttributes::uid_gid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UidGid {
    /// Numeric user id.
    pub uid: u32,
    /// Numeric group id.
    pub gid: u32,
}

/// Times of [`FileAttributes::ac_mod_time`], in seconds since 1970-01-01 00:00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AcModTime {
    /// Last access time.
    pub atime: u32,
    /// Last modification time.
    pub mtime: u32,
}

impl<'a> FileAttributes<'a> {
    /// SSH_FILEXFER_ATTR_SIZE.
    pub const FLAG_SIZE: u32 = 0x0000_0001;
    /// SSH_FILEXFER_ATTR_UIDGID.
    pub const FLAG_UIDGID: u32 = 0x0000_0002;
    /// SSH_FILEXFER_ATTR_PERMISSIONS.
    pub const FLAG_PERMISSIONS: u32 = 0x0000_0004;
    /// SSH_FILEXFER_ATTR_ACMODTIME.
    pub const FLAG_ACMODTIME: u32 = 0x0000_0008;
    /// SSH_FILEXFER_ATTR_EXTENDED.
    pub const FLAG_EXTENDED: u32 = 0x8000_0000;
    /// Every flag version 3 defines.
    pub const KNOWN_FLAGS: u32 = 0x8000_000f;

    /// No attributes (flags 0), as sent with OPEN or MKDIR when the client sets nothing.
    pub const EMPTY: FileAttributes<'static> = FileAttributes {
        size: None,
        uid_gid: None,
        permissions: None,
        ac_mod_time: None,
        extended: None,
    };

    /// The flags word these attributes encode with.
    pub fn flags(&self) -> u32 {
        let mut flags = 0;
        if self.size.is_some() {
            flags |= Self::FLAG_SIZE;
        }
        if self.uid_gid.is_some() {
            flags |= Self::FLAG_UIDGID;
        }
        if self.permissions.is_some() {
            flags |= Self::FLAG_PERMISSIONS;
        }
        if self.ac_mod_time.is_some() {
            flags |= Self::FLAG_ACMODTIME;
        }
        if self.extended.is_some() {
            flags |= Self::FLAG_EXTENDED;
        }
        flags
    }

    /// True when no attribute is present.
    pub fn is_empty(&self) -> bool {
        self.flags() == 0
    }

    /// With the size set.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// With owner and group set.
    pub fn with_uid_gid(mut self, uid: u32, gid: u32) -> Self {
        self.uid_gid = Some(UidGid { uid, gid });
        self
    }

    /// With the permissions (`st_mode`) set.
    pub fn with_permissions(mut self, permissions: u32) -> Self {
        self.permissions = Some(permissions);
        self
    }

    /// With access and modification times set.
    pub fn with_times(mut self, atime: u32, mtime: u32) -> Self {
        self.ac_mod_time = Some(AcModTime { atime, mtime });
        self
    }

    /// With extended pairs set.
    pub fn with_extended(mut self, pairs: &'a [ExtensionPair<'a>]) -> Self {
        self.extended = Some(Seq::from_slice(pairs));
        self
    }

    /// The file type from the `S_IFMT` bits of the permissions, when permissions are present.
    pub fn file_type(&self) -> Option<FileType> {
        self.permissions.map(FileType::from_mode)
    }

    /// True when the permissions say directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == Some(FileType::Directory)
    }

    /// True when the permissions say regular file.
    pub fn is_regular(&self) -> bool {
        self.file_type() == Some(FileType::Regular)
    }

    /// True when the permissions say symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type() == Some(FileType::Symlink)
    }

    /// The permission bits without the file type (`mode & 0o7777`).
    pub fn mode_bits(&self) -> Option<u32> {
        self.permissions.map(|p| p & 0o7777)
    }

    /// The value of the first extended pair named `name`.
    pub fn extended_value(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.extended
            .and_then(|pairs| pairs.iter().find(|p| p.name == name).map(|p| p.data))
    }
}

impl<'a> Field<'a> for FileAttributes<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let flags = r.u32()?;
        if flags & !Self::KNOWN_FLAGS != 0 {
            return Err(WireError::InvalidValue("attribute flags (unknown bits)"));
        }
        let has = |flag: u32| flags & flag != 0;
        let size = if has(Self::FLAG_SIZE) {
            Some(r.u64()?)
        } else {
            None
        };
        let uid_gid = if has(Self::FLAG_UIDGID) {
            Some(UidGid {
                uid: r.u32()?,
                gid: r.u32()?,
            })
        } else {
            None
        };
        let permissions = if has(Self::FLAG_PERMISSIONS) {
            Some(r.u32()?)
        } else {
            None
        };
        let ac_mod_time = if has(Self::FLAG_ACMODTIME) {
            Some(AcModTime {
                atime: r.u32()?,
                mtime: r.u32()?,
            })
        } else {
            None
        };
        let extended = if has(Self::FLAG_EXTENDED) {
            let count = r.u32()?;
            Some(Seq::read_counted(r, count)?)
        } else {
            None
        };
        Ok(FileAttributes {
            size,
            uid_gid,
            permissions,
            ac_mod_time,
            extended,
        })
    }

    fn wire_len(&self) -> usize {
        4 + self.size.map_or(0, |_| 8)
            + self.uid_gid.map_or(0, |_| 8)
            + self.permissions.map_or(0, |_| 4)
            + self.ac_mod_time.map_or(0, |_| 8)
            + self.extended.map_or(0, |e| 4 + e.items_len())
    }

    fn write(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.flags());
        if let Some(size) = self.size {
            put::uint64(out, size);
        }
        if let Some(UidGid { uid, gid }) = self.uid_gid {
            put::uint32(out, uid);
            put::uint32(out, gid);
        }
        if let Some(p) = self.permissions {
            put::uint32(out, p);
        }
        if let Some(AcModTime { atime, mtime }) = self.ac_mod_time {
            put::uint32(out, atime);
            put::uint32(out, mtime);
        }
        if let Some(ext) = self.extended {
            ext.write_counted(out);
        }
    }
}

/// File type bits of `st_mode` (POSIX `S_IFMT` and friends), as SFTP v3 carries them in
/// the permissions field.
pub mod mode {
    /// Mask of the file type bits.
    pub const S_IFMT: u32 = 0o170000;
    /// Socket.
    pub const S_IFSOCK: u32 = 0o140000;
    /// Symbolic link.
    pub const S_IFLNK: u32 = 0o120000;
    /// Regular file.
    pub const S_IFREG: u32 = 0o100000;
    /// Block device.
    pub const S_IFBLK: u32 = 0o060000;
    /// Directory.
    pub const S_IFDIR: u32 = 0o040000;
    /// Character device.
    pub const S_IFCHR: u32 = 0o020000;
    /// FIFO (named pipe).
    pub const S_IFIFO: u32 = 0o010000;
}

/// The file type encoded in the `S_IFMT` bits of a permissions value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// `S_IFLNK`.
    Symlink,
    /// `S_IFCHR`.
    CharDevice,
    /// `S_IFBLK`.
    BlockDevice,
    /// `S_IFIFO`.
    Fifo,
    /// `S_IFSOCK`.
    Socket,
    /// No or an unknown type (the `S_IFMT` bits, kept).
    Unknown(u32),
}

impl FileType {
    /// Reads the type from an `st_mode`-style permissions value.
    pub fn from_mode(mode: u32) -> FileType {
        match mode & mode::S_IFMT {
            mode::S_IFREG => FileType::Regular,
            mode::S_IFDIR => FileType::Directory,
            mode::S_IFLNK => FileType::Symlink,
            mode::S_IFCHR => FileType::CharDevice,
            mode::S_IFBLK => FileType::BlockDevice,
            mode::S_IFIFO => FileType::Fifo,
            mode::S_IFSOCK => FileType::Socket,
            other => FileType::Unknown(other),
        }
    }

    /// The `S_IFMT` bits of this type.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => mode::S_IFREG,
            FileType::Directory => mode::S_IFDIR,
            FileType::Symlink => mode::S_IFLNK,
            FileType::CharDevice => mode::S_IFCHR,
            FileType::BlockDevice => mode::S_IFBLK,
            FileType::Fifo => mode::S_IFIFO,
            FileType::Socket => mode::S_IFSOCK,
            FileType::Unknown(bits) => bits & mode::S_IFMT,
        }
    }

    /// The character `ls -l` shows for this type (`-`, `d`, `l`, `c`, `b`, `p`, `s`, `?`).
    pub fn ls_char(self) -> char {
        match self {
            FileType::Regular => '-',
            FileType::Directory => 'd',
            FileType::Symlink => 'l',
            FileType::CharDevice => 'c',
            FileType::BlockDevice => 'b',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
            FileType::Unknown(_) => '?',
        }
    }
}
