//! Directory requests: MKDIR, RMDIR (draft-ietf-secsh-filexfer-02 §6.6), OPENDIR and READDIR
//! (§6.7).

use crate::attrs::FileAttributes;
use crate::message::sftp_struct;

sftp_struct! {
    /// SSH_FXP_OPENDIR (draft-ietf-secsh-filexfer-02 §6.7): opens a directory for reading. The
    /// server answers HANDLE or STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_OPENDIR
    /// uint32 id
    /// string path
    /// ```
    pub struct Opendir<'a> = OPENDIR {
        /// Directory path.
        pub path: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_READDIR (draft-ietf-secsh-filexfer-02 §6.7): reads the next entries of a
    /// directory handle. The server answers NAME with one or more entries, or STATUS (EOF when
    /// there are no more).
    ///
    /// ```text
    /// byte   SSH_FXP_READDIR
    /// uint32 id
    /// string handle
    /// ```
    pub struct Readdir<'a> = READDIR {
        /// Directory handle from OPENDIR.
        pub handle: &'a [u8],
    }
}

sftp_struct! {
    /// SSH_FXP_MKDIR (draft-ietf-secsh-filexfer-02 §6.6): creates a directory. The server
    /// answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_MKDIR
    /// uint32 id
    /// string path
    /// ATTRS  attrs
    /// ```
    pub struct Mkdir<'a> = MKDIR {
        /// Directory to create.
        pub path: &'a [u8],
        /// Attributes of the new directory (usually permissions only).
        pub attrs: FileAttributes<'a>,
    }
}

sftp_struct! {
    /// SSH_FXP_RMDIR (draft-ietf-secsh-filexfer-02 §6.6): removes an (empty) directory. The
    /// server answers STATUS.
    ///
    /// ```text
    /// byte   SSH_FXP_RMDIR
    /// uint32 id
    /// string path
    /// ```
    pub struct Rmdir<'a> = RMDIR {
        /// Directory to remove.
        pub path: &'a [u8],
    }
}
