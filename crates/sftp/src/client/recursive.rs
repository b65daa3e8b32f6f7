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
    super::SftpClient, crate::attrs::Attributes, nacre_sftp_codec::StatusCode, std::ffi::OsStr,
    std::os::unix::ffi::OsStrExt, std::path::Path,
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

#[cfg(feature = "tokio")]
impl SftpClient {
    /// Downloads the folder `remote` into `local` (created if missing), recursively. Names a
    /// server must never send are skipped and the rest fetched; then the call fails with
    /// [`Error::HostileNames`] naming them.
    pub async fn download_dir(
        &self,
        remote: impl AsRef<[u8]>,
        local: impl AsRef<Path>,
    ) -> Result<TreeStats> {
        let mut stats = TreeStats::default();
        let mut hostile = Vec::new();
        self.download_tree(
            remote.as_ref().to_vec(),
            local.as_ref(),
            0,
            (&mut stats, &mut hostile),
        )
        .await?;
        if hostile.is_empty() {
            Ok(stats)
        } else {
            Err(Error::HostileNames {
                names: hostile,
                stats,
            })
        }
    }

    async fn download_tree(
        &self,
        remote: Vec<u8>,
        local: &Path,
        depth: usize,
        (stats, hostile): (&mut TreeStats, &mut Vec<Vec<u8>>),
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::protocol("folders nested too deep"));
        }
        let attrs = self.stat(&remote).await?;
        match tokio::fs::create_dir(local).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(mode) = attrs.mode_bits() {
            let perm = std::os::unix::fs::PermissionsExt::from_mode((mode & 0o777) | 0o700);
            tokio::fs::set_permissions(local, perm).await?;
        }
        stats.dirs += 1;
        // Read the whole listing (and check every name) before descending: one handle at a time.
        let entries = self.list_dir(&remote).await?;
        let mut work = Vec::new();
        for e in entries {
            match check_remote_name(&e.name) {
                Ok(true) => work.push(e),
                Ok(false) => stats.skipped += 1,
                Err(_) => {
                    tracing::warn!(folder = %String::from_utf8_lossy(&remote), name = ?String::from_utf8_lossy(&e.name),
                        "skipping a hostile name in a recursive download");
                    hostile.push(join(&remote, &e.name));
                }
            }
        }
        for e in work {
            let child_remote = join(&remote, &e.name);
            let child_local = local.join(OsStr::from_bytes(&e.name));
            if e.attrs.is_dir() {
                let child = self.download_tree(
                    child_remote,
                    &child_local,
                    depth + 1,
                    (&mut *stats, &mut *hostile),
                );
                Box::pin(child).await?;
            } else if e.attrs.is_regular() {
                stats.bytes += self.download(&child_remote, &child_local).await?;
                stats.files += 1;
            } else {
                stats.skipped += 1;
            }
        }
        Ok(())
    }

    /// Uploads the folder `local` into `remote` (created if missing), recursively.
    pub async fn upload_dir(
        &self,
        local: impl AsRef<Path>,
        remote: impl AsRef<[u8]>,
    ) -> Result<TreeStats> {
        let mut stats = TreeStats::default();
        self.upload_tree(local.as_ref(), remote.as_ref().to_vec(), 0, &mut stats)
            .await?;
        Ok(stats)
    }

    async fn upload_tree(
        &self,
        local: &Path,
        remote: Vec<u8>,
        depth: usize,
        stats: &mut TreeStats,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::protocol("folders nested too deep"));
        }
        let meta = tokio::fs::metadata(local).await?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        match self
            .mkdir(&remote, &Attributes::EMPTY.with_permissions(mode))
            .await
        {
            Ok(()) => {}
            // Already there (as a folder) is fine.
            Err(e) if e.status() == Some(StatusCode::FAILURE) => {
                if !self.stat(&remote).await?.is_dir() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        stats.dirs += 1;
        let mut entries = Vec::new();
        let mut dir = tokio::fs::read_dir(local).await?;
        while let Some(e) = dir.next_entry().await? {
            entries.push(e);
        }
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let child_remote = join(&remote, name.as_bytes());
            let kind = e.file_type().await?;
            if kind.is_dir() {
                Box::pin(self.upload_tree(&e.path(), child_remote, depth + 1, stats)).await?;
            } else if kind.is_file() {
                stats.bytes += self.upload(e.path(), &child_remote).await?;
                stats.files += 1;
            } else {
                stats.skipped += 1;
            }
        }
        Ok(())
    }
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
