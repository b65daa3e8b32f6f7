//! [`LocalFs`]: the local file system beneath one root directory, confined by a directory
//! handle (`cap-std`'s [`Dir`]: `openat2(RESOLVE_BENEATH)` where the kernel has it, checked
//! component-by-component resolution otherwise), never by comparing path strings.
//!
//! Clients see virtual paths: `/` is the root. Symbolic links are followed with chroot
//! semantics ([`resolve`]): `..` stops at the root and an absolute target means the virtual
//! root, so a link can never lead a client outside; READLINK returns targets in that same
//! virtual space (a target under the root's real location is made relative to it), so neither
//! READLINK nor REALPATH ever shows where the root really is.

pub(crate) mod fileio;
mod meta;
mod resolve;

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, DirBuilder, DirBuilderExt, OpenOptions, OpenOptionsExt, ReadDir};
use nacre_sftp_codec::{ext::names, OpenFlags};

use crate::attrs::{Attributes, DirEntry, FsStats};
use crate::server::Filesystem;

use resolve::{as_path, resolve};
pub use resolve::{map_absolute, Resolved};

/// A local folder served over SFTP.
#[derive(Debug)]
pub struct LocalFs {
    root: Dir,
    real_root: PathBuf,
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
    /// Serves the folder `root` (which must exist).
    pub fn new(root: impl AsRef<Path>) -> io::Result<LocalFs> {
        let root = root.as_ref();
        Ok(LocalFs {
            root: Dir::open_ambient_dir(root, ambient_authority())?,
            real_root: std::fs::canonicalize(root)?,
        })
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

impl Filesystem for LocalFs {
    type File = LocalFile;
    type Dir = LocalDir;

    fn open(&self, path: &Path, flags: OpenFlags, attrs: &Attributes) -> io::Result<LocalFile> {
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

    /// At once on tmpfs or ramfs, elsewhere `preadv2` with `RWF_NOWAIT` ([`fileio::read_nowait`]).
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
        if file.append {
            (&file.file).write_all(data)
        } else {
            file.file.write_all_at(data, offset)
        }
    }

    fn fstat(&self, file: &LocalFile) -> io::Result<Attributes> {
        Ok(meta::from_std(&file.file.metadata()?))
    }

    fn fsetstat(&self, file: &LocalFile, attrs: &Attributes) -> io::Result<()> {
        meta::set_file(&file.file, attrs)
    }

    fn fsync(&self, file: &LocalFile) -> io::Result<()> {
        file.file.sync_all()
    }

    fn fstatvfs(&self, file: &LocalFile) -> io::Result<FsStats> {
        meta::statvfs(&file.file)
    }

    fn opendir(&self, path: &Path) -> io::Result<LocalDir> {
        let rel = self.rel(path, true)?;
        Ok(LocalDir {
            entries: self.root.read_dir(rel)?,
        })
    }

    fn readdir(&self, dir: &mut LocalDir, max: usize) -> io::Result<Vec<DirEntry>> {
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

    fn stat(&self, path: &Path) -> io::Result<Attributes> {
        let rel = self.rel(path, true)?;
        Ok(meta::from_cap(&self.root.metadata(rel)?).0)
    }

    fn lstat(&self, path: &Path) -> io::Result<Attributes> {
        let rel = self.rel(path, false)?;
        Ok(meta::from_cap(&self.root.symlink_metadata(rel)?).0)
    }

    fn setstat(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        meta::set_path(&self.root, &self.rel(path, true)?, attrs, true)
    }

    fn lsetstat(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        meta::set_path(&self.root, &self.rel(path, false)?, attrs, false)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.root.remove_file(self.rel(path, false)?)
    }

    fn mkdir(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        let mut builder = DirBuilder::new();
        builder.mode(attrs.mode_bits().unwrap_or(0o777));
        self.root.create_dir_with(self.rel(path, false)?, &builder)
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        let resolved = self.resolve(path, false)?;
        if resolved.is_root() {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        self.root.remove_dir(resolved.rel())
    }

    fn rename(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()> {
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

    fn readlink(&self, path: &Path) -> io::Result<Vec<u8>> {
        let target = self.root.read_link_contents(self.rel(path, false)?)?;
        Ok(map_absolute(&target, &self.real_root)
            .into_os_string()
            .into_vec())
    }

    fn symlink(&self, target: &[u8], link: &Path) -> io::Result<()> {
        let (dir, name) = self.parent_of(link)?;
        dir.symlink_contents(as_path(target), name)
    }

    fn hardlink(&self, old: &Path, new: &Path) -> io::Result<()> {
        let (old_dir, old_name) = self.parent_of(old)?;
        let (new_dir, new_name) = self.parent_of(new)?;
        old_dir.hard_link(old_name, &new_dir, new_name)
    }

    fn realpath(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(self.resolve(path, true)?.virtual_path())
    }

    fn statvfs(&self, path: &Path) -> io::Result<FsStats> {
        let rel = self.rel(path, true)?;
        meta::statvfs(meta::open_path(&self.root, &rel, true)?)
    }

    fn supports(&self, extension: &str) -> bool {
        matches!(
            extension,
            names::STATVFS | names::FSTATVFS | names::HARDLINK | names::FSYNC | names::LSETSTAT
        )
    }
}
