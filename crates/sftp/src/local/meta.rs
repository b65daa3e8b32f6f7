//! Metadata of the local backend: `stat` results as [`Attributes`], attribute changes on paths
//! (through the root's directory handle) and on open files, and `statvfs`.

use std::fs::{File, FileTimes};
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cap_fs_ext::{DirExt, OpenOptionsFollowExt, SystemTimeSpec};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt, Permissions, PermissionsExt};
use nacre_sftp_codec::{AcModTime, UidGid};
use rustix::fs::{AtFlags, Gid, Uid};

use crate::attrs::{Attributes, FsStats};

/// Seconds since the epoch as SFTP v3's `uint32` (clamped: before 1970 is 0, after 2106 the
/// largest value).
fn secs32(secs: i64) -> u32 {
    u32::try_from(secs.max(0)).unwrap_or(u32::MAX)
}

/// Attributes from raw `stat` fields.
pub fn attributes(mode: u32, size: u64, uid: u32, gid: u32, atime: i64, mtime: i64) -> Attributes {
    Attributes {
        size: Some(size),
        uid_gid: Some(UidGid { uid, gid }),
        permissions: Some(mode),
        times: Some(AcModTime {
            atime: secs32(atime),
            mtime: secs32(mtime),
        }),
    }
}

/// Attributes of a `cap-std` metadata value, with the link count.
pub fn from_cap(m: &cap_std::fs::Metadata) -> (Attributes, u64) {
    use cap_std::fs::MetadataExt;
    (
        attributes(m.mode(), m.size(), m.uid(), m.gid(), m.atime(), m.mtime()),
        m.nlink(),
    )
}

/// Attributes of a `std` metadata value.
pub fn from_std(m: &std::fs::Metadata) -> Attributes {
    use std::os::unix::fs::MetadataExt;
    attributes(m.mode(), m.size(), m.uid(), m.gid(), m.atime(), m.mtime())
}

fn system_time(secs: u32) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(secs))
}

fn chown_fd<Fd: AsFd>(fd: Fd, ids: UidGid) -> io::Result<()> {
    rustix::fs::chownat(
        fd,
        "",
        Some(Uid::from_raw(ids.uid)),
        Some(Gid::from_raw(ids.gid)),
        AtFlags::EMPTY_PATH,
    )
    .map_err(io::Error::from)
}

/// An `O_PATH` descriptor of `rel` (the file itself when `follow` is false), for chown and
/// statvfs, which need no read or write access.
pub fn open_path(root: &Dir, rel: &Path, follow: bool) -> io::Result<cap_std::fs::File> {
    let mut opts = OpenOptions::new();
    opts.read(true)
        .custom_flags(rustix::fs::OFlags::PATH.bits() as i32);
    if !follow {
        opts.follow(cap_fs_ext::FollowSymlinks::No);
    }
    root.open_with(rel, &opts)
}

/// Changes the attributes of `rel` beneath `root` in OpenSSH's order: size, permissions, times,
/// owner. With `follow` false a symbolic link itself is changed (times and owner only; Linux
/// has no permissions on links, and truncating a link makes no sense).
pub fn set_path(root: &Dir, rel: &Path, attrs: &Attributes, follow: bool) -> io::Result<()> {
    let is_link = !follow && root.symlink_metadata(rel)?.file_type().is_symlink();
    if let Some(size) = attrs.size {
        if is_link {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        root.open_with(rel, OpenOptions::new().write(true))?
            .set_len(size)?;
    }
    if let Some(mode) = attrs.permissions {
        if is_link {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        root.set_permissions(rel, Permissions::from_mode(mode & 0o7777))?;
    }
    if let Some(t) = attrs.times {
        let (a, m) = (
            Some(SystemTimeSpec::Absolute(
                cap_std::time::SystemTime::from_std(system_time(t.atime)),
            )),
            Some(SystemTimeSpec::Absolute(
                cap_std::time::SystemTime::from_std(system_time(t.mtime)),
            )),
        );
        if is_link {
            root.set_symlink_times(rel, a, m)?;
        } else {
            root.set_times(rel, a, m)?;
        }
    }
    if let Some(ids) = attrs.uid_gid {
        chown_fd(open_path(root, rel, !is_link)?, ids)?;
    }
    Ok(())
}

/// Changes the attributes of an open file.
pub fn set_file(file: &File, attrs: &Attributes) -> io::Result<()> {
    if let Some(size) = attrs.size {
        file.set_len(size)?;
    }
    if let Some(mode) = attrs.permissions {
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode & 0o7777))?;
    }
    if let Some(t) = attrs.times {
        file.set_times(
            FileTimes::new()
                .set_accessed(system_time(t.atime))
                .set_modified(system_time(t.mtime)),
        )?;
    }
    if let Some(ids) = attrs.uid_gid {
        chown_fd(file, ids)?;
    }
    Ok(())
}

/// `fstatvfs` of any descriptor.
pub fn statvfs<Fd: AsFd>(fd: Fd) -> io::Result<FsStats> {
    let s = rustix::fs::fstatvfs(fd)?;
    Ok(FsStats {
        bsize: s.f_bsize,
        frsize: s.f_frsize,
        blocks: s.f_blocks,
        bfree: s.f_bfree,
        bavail: s.f_bavail,
        files: s.f_files,
        ffree: s.f_ffree,
        favail: s.f_favail,
        fsid: s.f_fsid,
        flag: s.f_flag.bits(),
        namemax: s.f_namemax,
    })
}
