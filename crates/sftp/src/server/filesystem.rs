//! The [`Filesystem`] trait the server dispatches to.

use std::io;
use std::path::Path;

use nacre_sftp_codec::OpenFlags;

use crate::attrs::{Attributes, DirEntry, FsStats};

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// What the SFTP server needs from a file system.
///
/// **Synchronous, called on a blocking thread.** Every method is a plain blocking call; the
/// server loop (`serve`, feature `tokio`) runs each request through
/// [`Filesystem::spawn_blocking`], by default on tokio's blocking pool; the dispatcher itself
/// ([`crate::Session`]) calls no runtime. That fits the backends that matter (the
/// local file system is a blocking syscall API: there is no portable async `openat`/`pread`),
/// keeps implementations free of async traits and boxing, and still lets many requests run at
/// once: READs of a pipelining client are served in parallel on the blocking pool while the
/// connection task keeps reading requests and writing replies.
///
/// **Paths are virtual**: absolute (`/` is the top of what the backend exposes), as bytes the
/// client sent, possibly holding `.`, `..` and symbolic links that the backend must resolve
/// *without leaving its root*. What a backend returns (READLINK targets, REALPATH results) is in
/// the same virtual space and must never reveal where the root really is.
///
/// Errors are `io::Error`s; the dispatcher maps them to status codes
/// ([`crate::status_for_io`]). Methods with a default return `ErrorKind::Unsupported`
/// (SSH_FX_OP_UNSUPPORTED); [`Filesystem::supports`] tells the server which optional
/// extensions to announce.
pub trait Filesystem: Send + Sync + 'static {
    /// An open file. READs on one file may run concurrently: `read_at` takes `&`.
    type File: Send + Sync + 'static;
    /// An open directory being listed.
    type Dir: Send + 'static;

    /// Opens (and with CREAT creates, with `attrs.permissions` as its mode) a file.
    fn open(&self, path: &Path, flags: OpenFlags, attrs: &Attributes) -> io::Result<Self::File>;
    /// Reads at `offset` into `buf`; 0 means end of file.
    fn read_at(&self, file: &Self::File, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Reads up to `len` bytes at `offset` and appends them to `out`; returns how many (0: end of
    /// file). The default zero-fills the room and calls [`Filesystem::read_at`]; a backend that
    /// can read into the vector's spare capacity skips the zeroing (the READ reply path).
    fn read_at_into(
        &self,
        file: &Self::File,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        read_zero_filled(out, len, |room| self.read_at(file, offset, room))
    }
    /// [`Filesystem::read_at_into`] done at once, if that needs no wait for a device (the data
    /// are in the page cache): the server calls it on its async task before it hands a READ to
    /// the blocking pool, which costs two thread switches per READ. `None` sends the READ to
    /// [`Filesystem::read_at_into`] on a blocking thread; that is the answer when the data are
    /// not all at hand, at the end of the file (a short count), on any error (the blocking read
    /// reports it), and by default. Must never block; `out` is left as it was on `None`.
    fn read_at_into_nowait(
        &self,
        _file: &Self::File,
        _offset: u64,
        _len: usize,
        _out: &mut Vec<u8>,
    ) -> Option<usize> {
        None
    }
    /// Writes all of `data` at `offset` (or at the end for a file opened with APPEND).
    fn write_at(&self, file: &Self::File, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Attributes of an open file.
    fn fstat(&self, file: &Self::File) -> io::Result<Attributes>;
    /// Changes attributes of an open file.
    fn fsetstat(&self, file: &Self::File, attrs: &Attributes) -> io::Result<()>;
    /// Flushes an open file to stable storage (`fsync@openssh.com`).
    fn fsync(&self, _file: &Self::File) -> io::Result<()> {
        unsupported()
    }
    /// Statistics of the file system holding an open file (`fstatvfs@openssh.com`).
    fn fstatvfs(&self, _file: &Self::File) -> io::Result<FsStats> {
        unsupported()
    }

    /// Opens a directory for listing.
    fn opendir(&self, path: &Path) -> io::Result<Self::Dir>;
    /// Up to `max` next entries; empty at the end.
    fn readdir(&self, dir: &mut Self::Dir, max: usize) -> io::Result<Vec<DirEntry>>;

    /// Attributes, following a symbolic link at `path`.
    fn stat(&self, path: &Path) -> io::Result<Attributes>;
    /// Attributes of `path` itself.
    fn lstat(&self, path: &Path) -> io::Result<Attributes>;
    /// Changes attributes, following a symbolic link at `path`.
    fn setstat(&self, path: &Path, attrs: &Attributes) -> io::Result<()>;
    /// Changes attributes of `path` itself (`lsetstat@openssh.com`).
    fn lsetstat(&self, _path: &Path, _attrs: &Attributes) -> io::Result<()> {
        unsupported()
    }
    /// Removes a file (not a directory).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory.
    fn mkdir(&self, path: &Path, attrs: &Attributes) -> io::Result<()>;
    /// Removes an empty directory.
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    /// Renames; with `replace` an existing `to` is replaced atomically (POSIX `rename`),
    /// without it an existing `to` is an error (SSH_FXP_RENAME).
    fn rename(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()>;
    /// The target of a symbolic link, as a virtual path (or a relative one).
    fn readlink(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Creates a symbolic link at `link` whose target is `target`.
    fn symlink(&self, target: &[u8], link: &Path) -> io::Result<()>;
    /// Creates a hard link `new` to `old` (`hardlink@openssh.com`).
    fn hardlink(&self, _old: &Path, _new: &Path) -> io::Result<()> {
        unsupported()
    }
    /// The canonical virtual path: absolute, no `.`/`..`, symbolic links resolved. A missing
    /// last part is allowed (like OpenSSH, clients realpath names they are about to create).
    fn realpath(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Statistics of the file system holding `path` (`statvfs@openssh.com`).
    fn statvfs(&self, _path: &Path) -> io::Result<FsStats> {
        unsupported()
    }
    /// Runs a job of blocking calls of this backend (one request's) away from the async tasks:
    /// the seam where the runtime decides which thread runs it. The server awaits its result
    /// through a channel, so a job dropped unrun is answered with SSH_FX_FAILURE. The default
    /// hands it to tokio's blocking pool with the feature `tokio` (and runs it at once, on the
    /// calling thread, without it); a backend whose calls need threads of their own (such as
    /// [`crate::LocalFs::acting_as`], whose threads are the account's) runs them there.
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send + 'static>) {
        run_blocking(job);
    }
    /// Whether an optional extension is implemented, by its name (e.g.
    /// `"hardlink@openssh.com"`); the server announces only those.
    fn supports(&self, _extension: &str) -> bool {
        false
    }
}

/// The default of [`Filesystem::spawn_blocking`]: tokio's blocking pool with the feature `tokio`,
/// the calling thread without it.
pub(crate) fn run_blocking(job: Box<dyn FnOnce() + Send + 'static>) {
    #[cfg(feature = "tokio")]
    drop(tokio::task::spawn_blocking(job));
    #[cfg(not(feature = "tokio"))]
    job();
}

/// The portable way to append up to `len` read bytes to `out`: zero-fill the room, let `read`
/// fill it, keep what it read.
pub(crate) fn read_zero_filled(
    out: &mut Vec<u8>,
    len: usize,
    read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
) -> io::Result<usize> {
    let start = out.len();
    out.resize(start + len, 0);
    let n = match out.get_mut(start..) {
        Some(room) => read(room),
        None => Ok(0),
    };
    out.truncate(start + n.as_ref().map_or(0, |n| (*n).min(len)));
    n
}
