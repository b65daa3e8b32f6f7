//! Recursive transfers (`SftpClient::download_dir`, `SftpClient::upload_dir`).
//!
//! A server chooses the names in its listings, so a recursive download checks every one
//! before it touches the local disk: `.` and `..` are skipped, and an empty name, `/`, a name
//! holding `/` or NUL (which covers absolute paths and `../x`) is refused — nothing is ever
//! written for it, nor outside the target folder. As OpenSSH's sftp does, the download goes on
//! with every other name and fails at the end with [`Error::HostileNames`], which lists the
//! refused names and what was fetched. Symbolic links and special files are skipped both
//! ways, and the depth is capped, so a lying server cannot make the client loop.

use super::{Error, Result};
#[cfg(feature = "tokio")]
use {
    super::tree::{walk, Found, Place},
    super::SftpClient,
    crate::attrs::{Attributes, DirEntry},
    nacre_sftp_codec::StatusCode,
    std::ffi::{OsStr, OsString},
    std::os::unix::ffi::OsStrExt,
    std::path::{Path, PathBuf},
};

/// Deepest folder nesting a recursive transfer follows.
pub const MAX_DEPTH: usize = 64;

/// What `SftpClient::download_dir` and `SftpClient::upload_dir` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TreeStats {
    /// Regular files transferred.
    pub files: u64,
    /// Folders created (the top one included).
    pub dirs: u64,
    /// Bytes of file data.
    pub bytes: u64,
    /// Entries skipped (links, devices, `.` and `..`).
    pub skipped: u64,
}

/// Checks a name from a server's listing: `Ok(false)` for `.`/`..` (skip), an error for a
/// name that could leave the target folder.
pub fn check_remote_name(name: &[u8]) -> Result<bool> {
    if name == b"." || name == b".." {
        return Ok(false);
    }
    if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
        return Err(Error::HostileName(
            String::from_utf8_lossy(name).into_owned(),
        ));
    }
    Ok(true)
}

/// `dir/name` for remote paths.
#[cfg(feature = "tokio")]
fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// An item of a recursive download.
#[cfg(feature = "tokio")]
enum Down {
    /// A folder to create locally and list.
    Folder {
        remote: Vec<u8>,
        local: PathBuf,
        depth: usize,
        mode: Option<u32>,
    },
    /// A file to fetch, with the attributes its listing gave.
    File {
        remote: Vec<u8>,
        local: PathBuf,
        attrs: Attributes,
    },
}

/// What an item of a recursive download did.
#[cfg(feature = "tokio")]
enum DownDone {
    Listed {
        remote: Vec<u8>,
        local: PathBuf,
        depth: usize,
        entries: Vec<DirEntry>,
    },
    Fetched(u64),
}

/// An item of a recursive upload.
#[cfg(feature = "tokio")]
enum Up {
    /// A folder to create remotely and read locally.
    Folder {
        local: PathBuf,
        remote: Vec<u8>,
        depth: usize,
    },
    /// A file to send.
    File { local: PathBuf, remote: Vec<u8> },
}

/// What an item of a recursive upload did.
#[cfg(feature = "tokio")]
enum UpDone {
    Made {
        local: PathBuf,
        remote: Vec<u8>,
        depth: usize,
        entries: Vec<(OsString, std::fs::FileType)>,
    },
    Sent(u64),
}

#[cfg(feature = "tokio")]
impl SftpClient {
    /// Downloads the folder `remote` into `local` (created if missing), recursively, several
    /// files at once (see [`ClientConfig::max_files_in_flight`](crate::ClientConfig)). Names
    /// a server must never send are skipped and the rest fetched; then the call fails with
    /// [`Error::HostileNames`] naming them. On another error the first one in walk order is
    /// returned once the files in progress have finished. The files are not flushed to disk one
    /// by one (as OpenSSH's `get -r` without `-f`).
    pub async fn download_dir(
        &self,
        remote: impl AsRef<[u8]>,
        local: impl AsRef<Path>,
    ) -> Result<TreeStats> {
        self.download_dir_with(remote, local, false).await
    }

    /// [`SftpClient::download_dir`], each file flushed to stable storage (fsync) once complete
    /// when `sync` is set (OpenSSH's `get -r -f`).
    pub async fn download_dir_with(
        &self,
        remote: impl AsRef<[u8]>,
        local: impl AsRef<Path>,
        sync: bool,
    ) -> Result<TreeStats> {
        let remote = remote.as_ref().to_vec();
        let mode = self.stat(&remote).await?.mode_bits();
        let mut stats = TreeStats::default();
        let mut hostile: Vec<(Place, Vec<u8>)> = Vec::new();
        let root = Down::Folder {
            remote,
            local: local.as_ref().to_path_buf(),
            depth: 0,
            mode,
        };
        let done = |place: &Place, out: DownDone| match out {
            DownDone::Fetched(n) => {
                stats.files += 1;
                stats.bytes += n;
                Vec::new()
            }
            DownDone::Listed {
                remote,
                local,
                depth,
                entries,
            } => {
                stats.dirs += 1;
                let at = (place, remote.as_slice(), local.as_path(), depth);
                found_below(at, entries, &mut stats, &mut hostile)
            }
        };
        walk(
            self.files_at_once(),
            root,
            |item| self.down(item, sync),
            done,
        )
        .await?;
        if hostile.is_empty() {
            return Ok(stats);
        }
        hostile.sort();
        Err(Error::HostileNames {
            names: hostile.into_iter().map(|(_, name)| name).collect(),
            stats,
        })
    }

    /// Files and folders a recursive transfer has in progress at once.
    fn files_at_once(&self) -> usize {
        let (wanted, handles) = self.with_proto(|p| {
            let handles = p.limits().map_or(0, |l| l.max_open_handles);
            (p.config().max_files_in_flight, handles)
        });
        // Leave the server a handle or two for what the user does meanwhile.
        let allowed = match usize::try_from(handles) {
            Ok(0) | Err(_) => usize::MAX,
            Ok(h) => h.saturating_sub(2).max(1),
        };
        wanted.clamp(1, allowed.max(1))
    }

    async fn down(&self, item: Down, sync: bool) -> Result<DownDone> {
        match item {
            Down::Folder {
                remote,
                local,
                depth,
                mode,
            } => {
                if depth > MAX_DEPTH {
                    return Err(Error::protocol("folders nested too deep"));
                }
                make_local_dir(&local, mode).await?;
                let entries = self.list_dir(&remote).await?;
                Ok(DownDone::Listed {
                    remote,
                    local,
                    depth,
                    entries,
                })
            }
            Down::File {
                remote,
                local,
                attrs,
            } => Ok(DownDone::Fetched(
                self.download_listed(&remote, &local, &attrs, sync).await?,
            )),
        }
    }

    /// Uploads the folder `local` into `remote` (created if missing), recursively, several
    /// files at once; on an error the first one in walk order is returned once the files in
    /// progress have finished.
    pub async fn upload_dir(
        &self,
        local: impl AsRef<Path>,
        remote: impl AsRef<[u8]>,
    ) -> Result<TreeStats> {
        let mut stats = TreeStats::default();
        let root = Up::Folder {
            local: local.as_ref().to_path_buf(),
            remote: remote.as_ref().to_vec(),
            depth: 0,
        };
        let done = |_: &Place, out: UpDone| match out {
            UpDone::Sent(n) => {
                stats.files += 1;
                stats.bytes += n;
                Vec::new()
            }
            UpDone::Made {
                local,
                remote,
                depth,
                entries,
            } => {
                stats.dirs += 1;
                let mut found = Vec::new();
                for (name, kind) in entries {
                    let child_remote = join(&remote, name.as_bytes());
                    let child_local = local.join(&name);
                    if kind.is_dir() {
                        found.push(Found {
                            item: Up::Folder {
                                local: child_local,
                                remote: child_remote,
                                depth: depth + 1,
                            },
                            folder: true,
                        });
                    } else if kind.is_file() {
                        found.push(Found {
                            item: Up::File {
                                local: child_local,
                                remote: child_remote,
                            },
                            folder: false,
                        });
                    } else {
                        stats.skipped += 1;
                    }
                }
                found
            }
        };
        walk(self.files_at_once(), root, |item| self.up(item), done).await?;
        Ok(stats)
    }

    async fn up(&self, item: Up) -> Result<UpDone> {
        match item {
            Up::Folder {
                local,
                remote,
                depth,
            } => {
                if depth > MAX_DEPTH {
                    return Err(Error::protocol("folders nested too deep"));
                }
                self.make_remote_dir(&local, &remote).await?;
                let mut entries = Vec::new();
                let mut dir = tokio::fs::read_dir(&local).await?;
                while let Some(e) = dir.next_entry().await? {
                    entries.push((e.file_name(), e.file_type().await?));
                }
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(UpDone::Made {
                    local,
                    remote,
                    depth,
                    entries,
                })
            }
            Up::File { local, remote } => Ok(UpDone::Sent(self.upload(&local, &remote).await?)),
        }
    }

    /// MKDIR `remote` with the mode of `local`; a folder already there is fine.
    async fn make_remote_dir(&self, local: &Path, remote: &[u8]) -> Result<()> {
        let meta = tokio::fs::metadata(local).await?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        match self
            .mkdir(remote, &Attributes::EMPTY.with_permissions(mode))
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.status() == Some(StatusCode::FAILURE) => {
                if self.stat(remote).await?.is_dir() {
                    Ok(())
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// Creates `local` (already there is fine) with the remote folder's permissions, owner-writable.
#[cfg(feature = "tokio")]
async fn make_local_dir(local: &Path, mode: Option<u32>) -> Result<()> {
    match tokio::fs::create_dir(local).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(mode) = mode {
        let perm = std::os::unix::fs::PermissionsExt::from_mode((mode & 0o777) | 0o700);
        tokio::fs::set_permissions(local, perm).await?;
    }
    Ok(())
}

/// The items a remote folder's listing holds, every name checked first: folders and regular
/// files to fetch; `.`, `..`, links and the rest counted as skipped; hostile names kept aside
/// with their place so they are reported in walk order.
#[cfg(feature = "tokio")]
fn found_below(
    (place, remote, local, depth): (&Place, &[u8], &Path, usize),
    entries: Vec<DirEntry>,
    stats: &mut TreeStats,
    hostile: &mut Vec<(Place, Vec<u8>)>,
) -> Vec<Found<Down>> {
    let mut found = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        match check_remote_name(&e.name) {
            Ok(true) => {}
            Ok(false) => {
                stats.skipped += 1;
                continue;
            }
            Err(_) => {
                tracing::warn!(folder = %String::from_utf8_lossy(remote), name = ?String::from_utf8_lossy(&e.name),
                    "skipping a hostile name in a recursive download");
                let mut at = place.clone();
                at.push(u32::try_from(i).unwrap_or(u32::MAX));
                hostile.push((at, join(remote, &e.name)));
                continue;
            }
        }
        let child_remote = join(remote, &e.name);
        let child_local = local.join(OsStr::from_bytes(&e.name));
        if e.attrs.is_dir() {
            found.push(Found {
                item: Down::Folder {
                    remote: child_remote,
                    local: child_local,
                    depth: depth + 1,
                    mode: e.attrs.mode_bits(),
                },
                folder: true,
            });
        } else if e.attrs.is_regular() {
            found.push(Found {
                item: Down::File {
                    remote: child_remote,
                    local: child_local,
                    attrs: e.attrs,
                },
                folder: false,
            });
        } else {
            stats.skipped += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_remote_name(b"file").unwrap());
        assert!(check_remote_name(b".hidden").unwrap());
        assert!(check_remote_name(b"...").unwrap());
        assert!(!check_remote_name(b".").unwrap());
        assert!(!check_remote_name(b"..").unwrap());
        for bad in [&b""[..], b"/", b"/etc/passwd", b"../x", b"a/b", b"x\0y"] {
            assert!(matches!(check_remote_name(bad), Err(Error::HostileName(_))));
        }
    }
}
