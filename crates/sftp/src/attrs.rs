//! Owned values shared by the client and the server: file attributes, directory entries and
//! file system statistics.

use nacre_sftp_codec::{AcModTime, FileAttributes, FileType, StatvfsReply, UidGid};

/// File attributes, owned (the codec's [`FileAttributes`] borrows from a packet). Each field is
/// present when the peer sent it or the file system knows it. Extended attribute pairs are not
/// kept.
///
/// ```
/// use nacre_sftp::Attributes;
///
/// let attrs = Attributes::EMPTY
///     .with_size(1024)
///     .with_permissions(0o100_644) // a regular file, rw-r--r--
///     .with_times(0, 1_700_000_000);
/// assert!(attrs.is_regular() && !attrs.is_dir());
/// assert_eq!(attrs.mode_bits(), Some(0o644));
/// assert_eq!(attrs.mtime(), Some(1_700_000_000));
///
/// // The codec's borrowed form, for a reply.
/// let wire = attrs.to_wire();
/// assert_eq!((wire.size, wire.permissions), (Some(1024), Some(0o100_644)));
/// assert_eq!(Attributes::EMPTY.to_wire().flags(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes {
    /// Size in bytes.
    pub size: Option<u64>,
    /// Numeric owner and group.
    pub uid_gid: Option<UidGid>,
    /// `st_mode`: permission bits and file type bits.
    pub permissions: Option<u32>,
    /// Access and modification times, seconds since the epoch.
    pub times: Option<AcModTime>,
}

impl Attributes {
    /// No attribute.
    pub const EMPTY: Attributes = Attributes {
        size: None,
        uid_gid: None,
        permissions: None,
        times: None,
    };

    /// The attributes as the codec encodes them.
    pub fn to_wire(&self) -> FileAttributes<'static> {
        FileAttributes {
            size: self.size,
            uid_gid: self.uid_gid,
            permissions: self.permissions,
            ac_mod_time: self.times,
            extended: None,
        }
    }

    /// With the permission bits set (`mode & 0o7777`, no file type).
    pub fn with_permissions(mut self, mode: u32) -> Self {
        self.permissions = Some(mode);
        self
    }

    /// With access and modification times set.
    pub fn with_times(mut self, atime: u32, mtime: u32) -> Self {
        self.times = Some(AcModTime { atime, mtime });
        self
    }

    /// With the size set.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// The file type from the permissions, when present.
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

    /// Permission bits without the file type.
    pub fn mode_bits(&self) -> Option<u32> {
        self.permissions.map(|p| p & 0o7777)
    }

    /// Modification time, when present.
    pub fn mtime(&self) -> Option<u32> {
        self.times.map(|t| t.mtime)
    }
}

impl From<FileAttributes<'_>> for Attributes {
    fn from(a: FileAttributes<'_>) -> Self {
        Attributes {
            size: a.size,
            uid_gid: a.uid_gid,
            permissions: a.permissions,
            times: a.ac_mod_time,
        }
    }
}

impl From<&FileAttributes<'_>> for Attributes {
    fn from(a: &FileAttributes<'_>) -> Self {
        Attributes::from(*a)
    }
}

/// One directory entry: a bare name (never a path) and its attributes (not following a symbolic
/// link at the entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name, bytes as the file system stores them.
    pub name: Vec<u8>,
    /// `ls -l`-style line (from a server: for display only; a backend may leave it empty and
    /// let the dispatcher format one).
    pub longname: Vec<u8>,
    /// Attributes.
    pub attrs: Attributes,
    /// Hard link count, for the long name (servers only; 0 when unknown).
    pub nlink: u64,
}

impl DirEntry {
    /// The name as text (lossy).
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// File system statistics (`statvfs@openssh.com`), the fields of POSIX `struct statvfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsStats {
    /// File system block size.
    pub bsize: u64,
    /// Fundamental block size.
    pub frsize: u64,
    /// Blocks, in `frsize` units.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks for unprivileged users.
    pub bavail: u64,
    /// Inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Free inodes for unprivileged users.
    pub favail: u64,
    /// File system id.
    pub fsid: u64,
    /// Mount flags ([`StatvfsReply::ST_RDONLY`], [`StatvfsReply::ST_NOSUID`]).
    pub flag: u64,
    /// Longest name.
    pub namemax: u64,
}

impl FsStats {
    /// The reply to request `id`.
    pub fn to_reply(&self, id: u32) -> StatvfsReply {
        StatvfsReply {
            id,
            f_bsize: self.bsize,
            f_frsize: self.frsize,
            f_blocks: self.blocks,
            f_bfree: self.bfree,
            f_bavail: self.bavail,
            f_files: self.files,
            f_ffree: self.ffree,
            f_favail: self.favail,
            f_fsid: self.fsid,
            f_flag: self.flag,
            f_namemax: self.namemax,
        }
    }

    /// Total bytes (`frsize * blocks`).
    pub fn total_bytes(&self) -> u64 {
        self.frsize.saturating_mul(self.blocks)
    }

    /// Bytes available to unprivileged users.
    pub fn available_bytes(&self) -> u64 {
        self.frsize.saturating_mul(self.bavail)
    }
}

impl From<&StatvfsReply> for FsStats {
    fn from(r: &StatvfsReply) -> Self {
        FsStats {
            bsize: r.f_bsize,
            frsize: r.f_frsize,
            blocks: r.f_blocks,
            bfree: r.f_bfree,
            bavail: r.f_bavail,
            files: r.f_files,
            ffree: r.f_ffree,
            favail: r.f_favail,
            fsid: r.f_fsid,
            flag: r.f_flag,
            namemax: r.f_namemax,
        }
    }
}
