//! [`LocalFs`]: the local file system beneath one root directory, confined by a directory
//! handle (`cap-std`'s [`Dir`]: `openat2(RESOLVE_BENEATH)` where the kernel has it, checked
//! component-by-component resolution otherwise), never by comparing path strings.
//!
//! Clients see virtual paths: `/` is the root. Symbolic links are followed with chroot
//! semantics ([`resolve`]): `..` stops at the root and an absolute target means the virtual
//! root, so a link can never lead a client outside; READLINK returns targets in that same
//! virtual space (a target under the root's real location is made relative to it), so neither
//! READLINK nor REALPATH ever shows where the root really is.

mod creds;
pub(crate) mod fileio;
mod meta;
mod resolve;
mod threads;

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder, DirBuilderExt, OpenOptions, OpenOptionsExt, ReadDir};
use nacre_sftp_codec::{ext::names, OpenFlags};

use crate::attrs::{Attributes, DirEntry, FsStats};
use crate::server::Filesystem;

pub use creds::{is_root, Credentials};
use resolve::{as_path, resolve};
pub use resolve::{map_absolute, Resolved};
pub use threads::AccountThreads;

/// A local folder served over SFTP.
///
/// Made with [`LocalFs::acting_as`], every operation runs with one account's rights (its user
/// id, group id and groups, on the thread that does the operation: see [`Credentials`]), so the
/// kernel decides what the client may read, write, create, change the mode or owner of, exactly
/// as for a process of that account: a server running as root gives a user no more than the
/// user's own rights. Made with [`LocalFs::new`], operations use the server process's rights.
#[derive(Debug)]
pub struct LocalFs {
    root: Dir,
    real_root: PathBuf,
    acting: Option<Credentials>,
    /// The account's own threads, where the server runs this backend's blocking work.
    threads: Option<Arc<AccountThreads>>,
}

/// An open file of [`LocalFs`].
#[derive(Debug)]
pub struct LocalFile {
    file: File,
    append: bool,
    /// On tmpfs or ramfs: every read is a copy from memory (no device to wait for).
    in_memory: bool,
}

/// A directory being listed by [`LocalFs`].
pub struct LocalDir {
    entries: ReadDir,
}

impl std::fmt::Debug for LocalDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDir").finish_non_exhaustive()
    }
}

impl LocalFs {
    /// Serves the folder `root` (which must exist) with the server process's own rights.
    pub fn new(root: impl AsRef<Path>) -> io::Result<LocalFs> {
        let root = root.as_ref();
        Ok(LocalFs {
            root: Dir::open_ambient_dir(root, ambient_authority())?,
            real_root: std::fs::canonicalize(root)?,
            acting: None,
            threads: None,
        })
    }

    /// Serves the folder `root` with the rights of `account` only: the folder is opened as the
    /// account (so one it may not enter is an error here) and every operation runs as it. Needs
    /// a process running as root (or with `CAP_SETUID` and `CAP_SETGID`) unless `account` is the
    /// process's own.
    pub fn acting_as(root: impl AsRef<Path>, account: Credentials) -> io::Result<LocalFs> {
        let root = root.as_ref();
        let (dir, real_root) = account.run(|| {
            let dir = Dir::open_ambient_dir(root, ambient_authority())?;
            // The handle is opened without reading the folder: check that the account may
            // enter it, so a session that could do nothing fails at once.
            rustix::fs::accessat(
                &dir,
                ".",
                rustix::fs::Access::EXEC_OK,
                rustix::fs::AtFlags::EACCESS,
            )?;
            Ok((dir, std::fs::canonicalize(root)?))
        })?;
        Ok(LocalFs {
            root: dir,
            real_root,
            threads: Some(AccountThreads::for_account(&account)),
            acting: Some(account),
        })
    }

    /// The account operations act as, if not the process's own.
    pub fn account(&self) -> Option<&Credentials> {
        self.acting.as_ref()
    }

    /// Runs `op` as the served account (directly when the process's own rights apply).
    fn act<T>(&self, op: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        match &self.acting {
            Some(account) => account.run(op),
            None => op(),
        }
    }

    fn resolve(&self, path: &Path, follow_last: bool) -> io::Result<Resolved> {
        resolve(&self.root, &self.real_root, path, follow_last)
    }

    fn rel(&self, path: &Path, follow_last: bool) -> io::Result<PathBuf> {
        Ok(self.resolve(path, follow_last)?.rel())
    }

    /// The parent directory (opened beneath the root) and the last name of `path`, the link
    /// itself if it is one. The root itself has neither.
    fn parent_of(&self, path: &Path) -> io::Result<(Dir, PathBuf)> {
        let resolved = self.resolve(path, false)?;
        let (parent, name) = resolved
            .split_last()
            .ok_or_else(|| io::Error::from(io::ErrorKind::PermissionDenied))?;
        Ok((self.root.open_dir(parent)?, PathBuf::from(name)))
    }
}

/// The open options of SSH_FXP_OPEN's pflags, as OpenSSH's `flags_from_portable`.
fn open_options(flags: OpenFlags, attrs: &Attributes) -> OpenOptions {
    let mut o = OpenOptions::new();
    let write = flags.contains(OpenFlags::WRITE) || flags.contains(OpenFlags::APPEND);
    o.read(flags.contains(OpenFlags::READ) || !write);
    o.write(write);
    o.append(flags.contains(OpenFlags::APPEND));
    if flags.contains(OpenFlags::CREAT) && write {
        if flags.contains(OpenFlags::EXCL) {
            o.create_new(true);
        } else {
            o.create(true);
        }
    }
    o.truncate(flags.contains(OpenFlags::TRUNC) && write && !flags.contains(OpenFlags::APPEND));
    o.mode(attrs.mode_bits().unwrap_or(0o666));
    // A FIFO must not block a worker thread in open(2).
    o.custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32);
    o
}

impl LocalFs {
    fn rename_entry(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()> {
        let (from_dir, from_name) = self.parent_of(from)?;
        let (to_dir, to_name) = self.parent_of(to)?;
        if replace {
            return from_dir.rename(&from_name, &to_dir, &to_name);
        }
        match rustix::fs::renameat_with(
            &from_dir,
            &from_name,
            &to_dir,
            &to_name,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(()),
            // File systems without RENAME_NOREPLACE: check, then rename (racy, as OpenSSH's
            // sftp-server is for non-regular files).
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {
                if to_dir.symlink_metadata(&to_name).is_ok() {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                from_dir.rename(&from_name, &to_dir, &to_name)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn read_entries(dir: &mut LocalDir, max: usize) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in dir.entries.by_ref() {
            let entry = entry?;
            // An entry removed since it was listed still shows, without attributes.
            let (attrs, nlink) = entry
                .metadata()
                .map(|m| meta::from_cap(&m))
                .unwrap_or((Attributes::EMPTY, 0));
            out.push(DirEntry {
                name: entry.file_name().as_bytes().to_vec(),
                longname: Vec::new(),
                attrs,
                nlink,
            });
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }
}

/// Every operation that the kernel checks against the caller's rights runs through
/// `LocalFs::act`; reads, `fstat`, `fsync` and `fstatvfs` of an already open file are not
/// checked again by the kernel and run directly (the READ path stays as fast as without an
/// account). Writes do act: a write by an unprivileged account clears the set-id bits of the
/// file it changes, one with root's rights does not.
impl Filesystem for LocalFs {
    type File = LocalFile;
    type Dir = LocalDir;

    fn open(&self, path: &Path, flags: OpenFlags, attrs: &Attributes) -> io::Result<LocalFile> {
        self.act(|| {
            let rel = self.rel(path, true)?;
            let file = self
                .root
                .open_with(&rel, &open_options(flags, attrs))?
                .into_std();
            let in_memory = fileio::in_memory(&file);
            Ok(LocalFile {
                file,
                append: flags.contains(OpenFlags::APPEND),
                in_memory,
            })
        })
    }

    fn read_at(&self, file: &LocalFile, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        file.file.read_at(buf, offset)
    }

    /// pread(2) straight into `out`'s spare capacity: no zero-filling of the reply buffer.
    fn read_at_into(
        &self,
        file: &LocalFile,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        fileio::read_into(&file.file, Some(offset), len, out)
    }

    /// At once on tmpfs or ramfs, elsewhere `preadv2` with `RWF_NOWAIT`.
    fn read_at_into_nowait(
        &self,
        file: &LocalFile,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        fileio::read_nowait(&file.file, file.in_memory, offset, len, out)
    }

    fn write_at(&self, file: &LocalFile, offset: u64, data: &[u8]) -> io::Result<()> {
        self.act(|| {
            if file.append {
                (&file.file).write_all(data)
            } else {
                file.file.write_all_at(data, offset)
            }
        })
    }

    fn fstat(&self, file: &LocalFile) -> io::Result<Attributes> {
        Ok(meta::from_std(&file.file.metadata()?))
    }

    fn fsetstat(&self, file: &LocalFile, attrs: &Attributes) -> io::Result<()> {
        self.act(|| meta::set_file(&file.file, attrs))
    }

    fn fsync(&self, file: &LocalFile) -> io::Result<()> {
        file.file.sync_all()
    }

    fn fstatvfs(&self, file: &LocalFile) -> io::Result<FsStats> {
        meta::statvfs(&file.file)
    }

    fn opendir(&self, path: &Path) -> io::Result<LocalDir> {
        self.act(|| {
            let rel = self.rel(path, true)?;
            Ok(LocalDir {
                entries: self.root.read_dir(rel)?,
            })
        })
    }

    fn readdir(&self, dir: &mut LocalDir, max: usize) -> io::Result<Vec<DirEntry>> {
        self.act(|| Self::read_entries(dir, max))
    }

    fn stat(&self, path: &Path) -> io::Result<Attributes> {
        self.act(|| {
            let rel = self.rel(path, true)?;
            Ok(meta::from_cap(&self.root.metadata(rel)?).0)
        })
    }

    fn lstat(&self, path: &Path) -> io::Result<Attributes> {
        self.act(|| {
            let rel = self.rel(path, false)?;
            Ok(meta::from_cap(&self.root.symlink_metadata(rel)?).0)
        })
    }

    fn setstat(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        self.act(|| meta::set_path(&self.root, &self.rel(path, true)?, attrs, true))
    }

    fn lsetstat(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        self.act(|| meta::set_path(&self.root, &self.rel(path, false)?, attrs, false))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.act(|| self.root.remove_file(self.rel(path, false)?))
    }

    fn mkdir(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        let mut builder = DirBuilder::new();
        builder.mode(attrs.mode_bits().unwrap_or(0o777));
        self.act(|| self.root.create_dir_with(self.rel(path, false)?, &builder))
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        self.act(|| {
            let resolved = self.resolve(path, false)?;
            if resolved.is_root() {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            self.root.remove_dir(resolved.rel())
        })
    }

    fn rename(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()> {
        self.act(|| self.rename_entry(from, to, replace))
    }

    fn readlink(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.act(|| {
            let target = self.root.read_link_contents(self.rel(path, false)?)?;
            Ok(map_absolute(&target, &self.real_root)
                .into_os_string()
                .into_vec())
        })
    }

    fn symlink(&self, target: &[u8], link: &Path) -> io::Result<()> {
        self.act(|| {
            let (dir, name) = self.parent_of(link)?;
            dir.symlink_contents(as_path(target), name)
        })
    }

    fn hardlink(&self, old: &Path, new: &Path) -> io::Result<()> {
        self.act(|| {
            let (old_dir, old_name) = self.parent_of(old)?;
            let (new_dir, new_name) = self.parent_of(new)?;
            old_dir.hard_link(old_name, &new_dir, new_name)
        })
    }

    fn realpath(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.act(|| Ok(self.resolve(path, true)?.virtual_path()))
    }

    fn statvfs(&self, path: &Path) -> io::Result<FsStats> {
        self.act(|| {
            let rel = self.rel(path, true)?;
            meta::statvfs(meta::open_path(&self.root, &rel, true)?)
        })
    }

    /// Acting as an account: on that account's own threads ([`AccountThreads`]), which switched
    /// to it once and for all, so no operation pays for a switch. Otherwise the default (tokio's
    /// pool with the feature `tokio`).
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send + 'static>) {
        match &self.threads {
            Some(threads) => threads.spawn(job),
            None => crate::server::filesystem::run_blocking(job),
        }
    }

    fn supports(&self, extension: &str) -> bool {
        matches!(
            extension,
            names::STATVFS | names::FSTATVFS | names::HARDLINK | names::FSYNC | names::LSETSTAT
        )
    }
}
