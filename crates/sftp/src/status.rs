//! Which SFTP status a file system error puts on the wire.
//!
//! Version 3 clients know codes 0..=8 only, so every error maps to one of those, as OpenSSH's
//! `errno_to_portable` does: a missing file or a component that is not a directory is
//! NO_SUCH_FILE, refused access is PERMISSION_DENIED, an unsupported operation is
//! OP_UNSUPPORTED, a bad argument is BAD_MESSAGE, and the rest (already exists, not empty, no
//! space, I/O error, ...) is FAILURE. The message is the code's generic text (an OS message could
//! name real paths), except for a full file system, an exceeded quota and a file too large, whose
//! FAILURE says so ([`message_for_io`]): "Failure" alone would leave the user guessing why an
//! upload stopped.

use std::io;

use nacre_sftp_codec::StatusCode;

// errno values of Linux (and most Unix systems) for the cases std has no stable ErrorKind for.
const EPERM: i32 = 1;
const ENOENT: i32 = 2;
const EBADF: i32 = 9;
const EACCES: i32 = 13;
const EFAULT: i32 = 14;
const ENOTDIR: i32 = 20;
const EINVAL: i32 = 22;
const EROFS: i32 = 30;
const ENAMETOOLONG: i32 = 36;
const ENOSYS: i32 = 38;
const ELOOP: i32 = 40;
const EOPNOTSUPP: i32 = 95;
const EFBIG: i32 = 27;
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// The status for an I/O error.
///
/// ```
/// use std::io;
/// use nacre_sftp::codec::StatusCode;
/// use nacre_sftp::status_for_io;
///
/// let missing = io::Error::from(io::ErrorKind::NotFound);
/// assert_eq!(status_for_io(&missing), StatusCode::NO_SUCH_FILE);
/// let denied = io::Error::from_raw_os_error(13); // EACCES
/// assert_eq!(status_for_io(&denied), StatusCode::PERMISSION_DENIED);
/// // No version 3 code for "directory not empty" (ENOTEMPTY): FAILURE, as OpenSSH.
/// assert_eq!(status_for_io(&io::Error::from_raw_os_error(39)), StatusCode::FAILURE);
/// ```
pub fn status_for_io(error: &io::Error) -> StatusCode {
    if let Some(errno) = error.raw_os_error() {
        return match errno {
            ENOENT | ENOTDIR | EBADF | ELOOP => StatusCode::NO_SUCH_FILE,
            EPERM | EACCES | EFAULT | EROFS => StatusCode::PERMISSION_DENIED,
            ENAMETOOLONG | EINVAL => StatusCode::BAD_MESSAGE,
            ENOSYS | EOPNOTSUPP => StatusCode::OP_UNSUPPORTED,
            _ => StatusCode::FAILURE,
        };
    }
    match error.kind() {
        io::ErrorKind::NotFound => StatusCode::NO_SUCH_FILE,
        io::ErrorKind::PermissionDenied => StatusCode::PERMISSION_DENIED,
        io::ErrorKind::Unsupported => StatusCode::OP_UNSUPPORTED,
        io::ErrorKind::InvalidInput => StatusCode::BAD_MESSAGE,
        _ => StatusCode::FAILURE,
    }
}

/// The message of the STATUS reply for an I/O error: the text of the code
/// [`status_for_io`] gives, or what ran out for ENOSPC, EDQUOT and EFBIG (no path in any).
pub fn message_for_io(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(ENOSPC) => "No space left on device",
        Some(EDQUOT) => "Disk quota exceeded",
        Some(EFBIG) => "File too large",
        _ => status_for_io(error).default_message(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        let s = |e: i32| status_for_io(&io::Error::from_raw_os_error(e));
        assert_eq!(s(ENOENT), StatusCode::NO_SUCH_FILE);
        assert_eq!(s(ENOTDIR), StatusCode::NO_SUCH_FILE);
        assert_eq!(s(ELOOP), StatusCode::NO_SUCH_FILE);
        assert_eq!(s(EACCES), StatusCode::PERMISSION_DENIED);
        assert_eq!(s(EPERM), StatusCode::PERMISSION_DENIED);
        assert_eq!(s(EROFS), StatusCode::PERMISSION_DENIED);
        assert_eq!(s(ENOSYS), StatusCode::OP_UNSUPPORTED);
        assert_eq!(s(EINVAL), StatusCode::BAD_MESSAGE);
        assert_eq!(s(17), StatusCode::FAILURE); // EEXIST
        assert_eq!(s(39), StatusCode::FAILURE); // ENOTEMPTY
        assert_eq!(s(28), StatusCode::FAILURE); // ENOSPC
    }

    #[test]
    fn messages_say_what_ran_out() {
        let m = |e: i32| message_for_io(&io::Error::from_raw_os_error(e));
        assert_eq!(m(ENOSPC), "No space left on device");
        assert_eq!(m(EDQUOT), "Disk quota exceeded");
        assert_eq!(m(EFBIG), "File too large");
        assert_eq!(m(ENOENT), "No such file");
        assert_eq!(m(17), "Failure"); // EEXIST
        assert_eq!(message_for_io(&io::Error::other("/real/path")), "Failure");
    }

    #[test]
    fn kind_mapping() {
        let k = |k: io::ErrorKind| status_for_io(&io::Error::from(k));
        assert_eq!(k(io::ErrorKind::NotFound), StatusCode::NO_SUCH_FILE);
        assert_eq!(
            k(io::ErrorKind::PermissionDenied),
            StatusCode::PERMISSION_DENIED
        );
        assert_eq!(k(io::ErrorKind::Unsupported), StatusCode::OP_UNSUPPORTED);
        assert_eq!(k(io::ErrorKind::InvalidInput), StatusCode::BAD_MESSAGE);
        assert_eq!(k(io::ErrorKind::AlreadyExists), StatusCode::FAILURE);
        assert_eq!(k(io::ErrorKind::Other), StatusCode::FAILURE);
    }
}
