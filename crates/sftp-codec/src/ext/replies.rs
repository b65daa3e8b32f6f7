//! The EXTENDED_REPLY payloads of OpenSSH's SFTP extensions (OpenSSH `PROTOCOL`, "SFTP protocol
//! changes"). Each is `byte SSH_FXP_EXTENDED_REPLY || uint32 id || payload`.

use crate::ext::ext_reply;
use crate::message::sftp_struct;
use crate::seq::Seq;

sftp_struct! {
    /// Reply to `statvfs@openssh.com` and `fstatvfs@openssh.com`: the fields of POSIX
    /// `struct statvfs`.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED_REPLY
    /// uint32 id
    /// uint64 f_bsize    file system block size
    /// uint64 f_frsize   fundamental fs block size
    /// uint64 f_blocks   number of blocks (unit f_frsize)
    /// uint64 f_bfree    free blocks in file system
    /// uint64 f_bavail   free blocks for non-root
    /// uint64 f_files    total file inodes
    /// uint64 f_ffree    free file inodes
    /// uint64 f_favail   free file inodes for to non-root
    /// uint64 f_fsid     file system id
    /// uint64 f_flag     bit mask of f_flag values
    /// uint64 f_namemax  maximum filename length
    /// ```
    pub struct StatvfsReply = EXTENDED_REPLY {
        /// File system block size.
        pub f_bsize: u64,
        /// Fundamental file system block size.
        pub f_frsize: u64,
        /// Number of blocks, in units of `f_frsize`.
        pub f_blocks: u64,
        /// Free blocks.
        pub f_bfree: u64,
        /// Free blocks for unprivileged users.
        pub f_bavail: u64,
        /// Total inodes.
        pub f_files: u64,
        /// Free inodes.
        pub f_ffree: u64,
        /// Free inodes for unprivileged users.
        pub f_favail: u64,
        /// File system id.
        pub f_fsid: u64,
        /// Mount flags: [`StatvfsReply::ST_RDONLY`], [`StatvfsReply::ST_NOSUID`].
        pub f_flag: u64,
        /// Maximum file name length.
        pub f_namemax: u64,
    }
}
ext_reply!(StatvfsReply);

impl StatvfsReply {
    /// SSH_FXE_STATVFS_ST_RDONLY: mounted read-only.
    pub const ST_RDONLY: u64 = 0x1;
    /// SSH_FXE_STATVFS_ST_NOSUID: setuid bits ignored.
    pub const ST_NOSUID: u64 = 0x2;

    /// Total size in bytes (`f_frsize * f_blocks`, saturating).
    pub fn total_bytes(&self) -> u64 {
        self.f_frsize.saturating_mul(self.f_blocks)
    }

    /// Bytes available to unprivileged users (`f_frsize * f_bavail`, saturating).
    pub fn available_bytes(&self) -> u64 {
        self.f_frsize.saturating_mul(self.f_bavail)
    }
}

sftp_struct! {
    /// Reply to `limits@openssh.com`. A field of 0 means the server sets no specific limit.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED_REPLY
    /// uint32 id
    /// uint64 max-packet-length
    /// uint64 max-read-length
    /// uint64 max-write-length
    /// uint64 max-open-handles
    /// ```
    pub struct LimitsReply = EXTENDED_REPLY {
        /// Largest SFTP packet, counted as its `length` field (servers SHOULD allow ≥ 34000).
        pub max_packet_length: u64,
        /// Largest `len` of a READ the server answers in full (SHOULD be ≥ 32768).
        pub max_read_length: u64,
        /// Largest data of a WRITE the server accepts (SHOULD be ≥ 32768).
        pub max_write_length: u64,
        /// Most handles open at once (clients should stay well below).
        pub max_open_handles: u64,
    }
}
ext_reply!(LimitsReply);

sftp_struct! {
    /// Reply to `users-groups-by-id@openssh.com`: one name per requested id, in request order;
    /// an empty name where the id is unknown.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED_REPLY
    /// uint32 id
    /// string usernames   (string name-0, string name-1, ... back to back)
    /// string groupnames  (string name-0, string name-1, ... back to back)
    /// ```
    pub struct UsersGroupsByIdReply<'a> = EXTENDED_REPLY {
        /// Names of the requested uids.
        pub usernames: Seq<'a, &'a [u8]>,
        /// Names of the requested gids.
        pub groupnames: Seq<'a, &'a [u8]>,
    }
}
ext_reply!(UsersGroupsByIdReply<'a>);
