//! The EXTENDED requests of OpenSSH's SFTP extensions (OpenSSH `PROTOCOL`, "SFTP protocol
//! changes"). Each is `byte SSH_FXP_EXTENDED || uint32 id || string name || payload`.

use crate::attrs::FileAttributes;
use crate::ext::{ext_request, names};
use crate::message::sftp_struct;
use crate::seq::Seq;

sftp_struct! {
    /// `posix-rename@openssh.com` (version "1"): rename with POSIX `rename(2)` semantics, which
    /// replaces an existing `newpath` (SSH_FXP_RENAME refuses to). The server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "posix-rename@openssh.com"
    /// string oldpath
    /// string newpath
    /// ```
    pub struct PosixRename<'a> {
        /// Existing name.
        pub oldpath: &'a [u8],
        /// New name.
        pub newpath: &'a [u8],
    }
}
ext_request!(PosixRename<'a>, names::POSIX_RENAME, "1");

sftp_struct! {
    /// `statvfs@openssh.com` (version "2"): `statvfs(3)` of a path. The server answers
    /// [`crate::StatvfsReply`] in an EXTENDED_REPLY, or STATUS on failure.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "statvfs@openssh.com"
    /// string path
    /// ```
    pub struct Statvfs<'a> {
        /// Any path on the file system.
        pub path: &'a [u8],
    }
}
ext_request!(Statvfs<'a>, names::STATVFS, "2");

sftp_struct! {
    /// `fstatvfs@openssh.com` (version "2"): `fstatvfs(3)` of an open handle. The server answers
    /// [`crate::StatvfsReply`] in an EXTENDED_REPLY, or STATUS on failure.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "fstatvfs@openssh.com"
    /// string handle
    /// ```
    pub struct Fstatvfs<'a> {
        /// Open handle.
        pub handle: &'a [u8],
    }
}
ext_request!(Fstatvfs<'a>, names::FSTATVFS, "2");

sftp_struct! {
    /// `hardlink@openssh.com` (version "1"): `link(oldpath, newpath)`. The server answers
    /// STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "hardlink@openssh.com"
    /// string oldpath
    /// string newpath
    /// ```
    pub struct Hardlink<'a> {
        /// Existing file.
        pub oldpath: &'a [u8],
        /// New link to create.
        pub newpath: &'a [u8],
    }
}
ext_request!(Hardlink<'a>, names::HARDLINK, "1");

sftp_struct! {
    /// `fsync@openssh.com` (version "1"): `fsync(2)` of an open handle. The server answers
    /// STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "fsync@openssh.com"
    /// string handle
    /// ```
    pub struct Fsync<'a> {
        /// Open file handle.
        pub handle: &'a [u8],
    }
}
ext_request!(Fsync<'a>, names::FSYNC, "1");

sftp_struct! {
    /// `lsetstat@openssh.com` (version "1"): SETSTAT that does not follow a symbolic link at
    /// `path`. The server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "lsetstat@openssh.com"
    /// string path
    /// ATTRS  attrs
    /// ```
    pub struct Lsetstat<'a> {
        /// Path to change.
        pub path: &'a [u8],
        /// Attributes to change.
        pub attrs: FileAttributes<'a>,
    }
}
ext_request!(Lsetstat<'a>, names::LSETSTAT, "1");

sftp_struct! {
    /// `limits@openssh.com` (version "1"): asks for the server's limits. The server answers
    /// [`crate::LimitsReply`] in an EXTENDED_REPLY.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "limits@openssh.com"
    /// ```
    pub struct Limits {}
}
ext_request!(Limits, names::LIMITS, "1");

sftp_struct! {
    /// `expand-path@openssh.com` (version "1"): canonicalizes a path like REALPATH after
    /// expanding a leading `~` or `~user` with shell-like rules. The server answers NAME with one
    /// entry, like REALPATH, or STATUS. OpenSSH's sftp-server resolves `~` and `~/...` against
    /// its working directory (the user's home when sshd starts it) and `~user` with the
    /// password database.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "expand-path@openssh.com"
    /// string path
    /// ```
    pub struct ExpandPath<'a> {
        /// Path to expand, e.g. `~/dir` or `~user/dir`.
        pub path: &'a [u8],
    }
}
ext_request!(ExpandPath<'a>, names::EXPAND_PATH, "1");

sftp_struct! {
    /// `copy-data` (version "1", as draft-ietf-secsh-filexfer-extensions-00 §7): the server
    /// copies `read_data_length` bytes (0: up to end of file) from `read_from_handle` at
    /// `read_from_offset` to `write_to_handle` at `write_to_offset`. The two handles must differ
    /// (else SSH_FX_INVALID_PARAMETER). The server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "copy-data"
    /// string read-from-handle
    /// uint64 read-from-offset
    /// uint64 read-data-length
    /// string write-to-handle
    /// uint64 write-to-offset
    /// ```
    pub struct CopyData<'a> {
        /// Handle opened for reading.
        pub read_from_handle: &'a [u8],
        /// Where reading starts.
        pub read_from_offset: u64,
        /// How many bytes to copy; 0 copies up to end of file.
        pub read_data_length: u64,
        /// Handle opened for writing.
        pub write_to_handle: &'a [u8],
        /// Where writing starts.
        pub write_to_offset: u64,
    }
}
ext_request!(CopyData<'a>, names::COPY_DATA, "1");

sftp_struct! {
    /// `home-directory` (version "1", as draft-ietf-secsh-filexfer-extensions-00 §5): the home
    /// directory of `username` (empty: the current user). The server answers NAME with one
    /// entry, like REALPATH, or STATUS. OpenSSH 9.2's sftp-server looks the name up with
    /// `getpwnam(3)` and answers SSH_FX_FAILURE for the empty name: send the user's name.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "home-directory"
    /// string username
    /// ```
    pub struct HomeDirectory<'a> {
        /// User name; empty for the current user.
        pub username: &'a [u8],
    }
}
ext_request!(HomeDirectory<'a>, names::HOME_DIRECTORY, "1");

sftp_struct! {
    /// `users-groups-by-id@openssh.com` (version "1"): the user names of `uids` and the group
    /// names of `gids` (either may be empty). The server answers
    /// [`crate::UsersGroupsByIdReply`] in an EXTENDED_REPLY.
    ///
    /// ```text
    /// byte   SSH_FXP_EXTENDED
    /// uint32 id
    /// string "users-groups-by-id@openssh.com"
    /// string uids        (uint32 id-0, uint32 id-1, ... back to back)
    /// string gids        (uint32 id-0, uint32 id-1, ... back to back)
    /// ```
    pub struct UsersGroupsById<'a> {
        /// User ids to name.
        pub uids: Seq<'a, u32>,
        /// Group ids to name.
        pub gids: Seq<'a, u32>,
    }
}
ext_request!(UsersGroupsById<'a>, names::USERS_GROUPS_BY_ID, "1");
