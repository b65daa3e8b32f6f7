//! One call per SFTP request: files, metadata, directories, names, links and the OpenSSH
//! extensions. Paths are bytes (`&str`, `String`, `&[u8]`, `Vec<u8>` all work).

use std::collections::VecDeque;

use nacre_sftp_codec::ext::names;
use nacre_sftp_codec::{
    Close, CopyData, ExpandPath, ExtensionReply, Fsetstat, Fstat, Fstatvfs, Fsync, Hardlink,
    HomeDirectory, Lsetstat, Lstat, Mkdir, Open, OpenFlags, Opendir, PosixRename, Read, Readdir,
    Readlink, Realpath, Remove, Rename, Response, Rmdir, Seq, Setstat, Stat, StatusCode, Statvfs,
    StatvfsReply, Symlink, UsersGroupsById, UsersGroupsByIdReply, Write,
};

use super::driver::now;
use super::{dir_entries, expect_ok, from_reply, unexpected, Error, Reply, Result, SftpClient};
use crate::attrs::{Attributes, DirEntry, FsStats};

fn handle_of(reply: &Reply) -> Result<Vec<u8>> {
    match reply.decode()? {
        Response::Handle(h) => Ok(h.handle.to_vec()),
        other => Err(unexpected(&other)),
    }
}

fn attrs_of(reply: &Reply) -> Result<Attributes> {
    match reply.decode()? {
        Response::Attrs(a) => Ok(a.attrs.into()),
        other => Err(unexpected(&other)),
    }
}

fn single_name(reply: &Reply) -> Result<Vec<u8>> {
    match reply.decode()? {
        Response::Name(n) => n
            .first()
            .map(|e| e.filename.to_vec())
            .ok_or_else(|| Error::protocol("empty NAME reply")),
        other => Err(unexpected(&other)),
    }
}

fn extended<'a, T: ExtensionReply<'a>>(reply: &'a Reply) -> Result<T> {
    match reply.decode()? {
        Response::ExtendedReply(r) => from_reply(&r),
        other => Err(unexpected(&other)),
    }
}

impl SftpClient {
    fn require(&self, name: &'static str, version: &str) -> Result<()> {
        if self.supports(name, version) {
            Ok(())
        } else {
            Err(Error::Unsupported(name))
        }
    }

    /// Opens a file; the handle is for [`SftpClient::read`], [`SftpClient::write`], ...
    pub async fn open(
        &self,
        path: impl AsRef<[u8]>,
        pflags: OpenFlags,
        attrs: &Attributes,
    ) -> Result<Vec<u8>> {
        let reply = self
            .call(|id| Open {
                id,
                filename: path.as_ref(),
                pflags,
                attrs: attrs.to_wire(),
            })
            .await?;
        handle_of(&reply)
    }

    /// Closes a file or directory handle.
    pub async fn close(&self, handle: &[u8]) -> Result<()> {
        expect_ok(&self.call(|id| Close { id, handle }).await?)
    }

    /// Reads up to `len` bytes at `offset`; `None` at end of file.
    pub async fn read(&self, handle: &[u8], offset: u64, len: u32) -> Result<Option<Vec<u8>>> {
        let reply = self
            .call(|id| Read {
                id,
                handle,
                offset,
                len,
            })
            .await?;
        match reply.decode()? {
            Response::Data(d) if d.data.len() <= len as usize => Ok(Some(d.data.to_vec())),
            Response::Data(_) => Err(Error::protocol("DATA longer than requested")),
            Response::Status(s) if s.code == StatusCode::EOF => Ok(None),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes `data` at `offset` (one request: keep `data` within [`SftpClient::write_len`]).
    pub async fn write(&self, handle: &[u8], offset: u64, data: &[u8]) -> Result<()> {
        expect_ok(
            &self
                .call(|id| Write {
                    id,
                    handle,
                    offset,
                    data,
                })
                .await?,
        )
    }

    /// Attributes, following symbolic links.
    pub async fn stat(&self, path: impl AsRef<[u8]>) -> Result<Attributes> {
        attrs_of(
            &self
                .call(|id| Stat {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// Attributes of the path itself.
    pub async fn lstat(&self, path: impl AsRef<[u8]>) -> Result<Attributes> {
        attrs_of(
            &self
                .call(|id| Lstat {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// Attributes of an open handle.
    pub async fn fstat(&self, handle: &[u8]) -> Result<Attributes> {
        attrs_of(&self.call(|id| Fstat { id, handle }).await?)
    }

    /// Changes attributes (absent fields are left alone).
    pub async fn setstat(&self, path: impl AsRef<[u8]>, attrs: &Attributes) -> Result<()> {
        let reply = self
            .call(|id| Setstat {
                id,
                path: path.as_ref(),
                attrs: attrs.to_wire(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// Changes attributes of an open handle.
    pub async fn fsetstat(&self, handle: &[u8], attrs: &Attributes) -> Result<()> {
        let reply = self
            .call(|id| Fsetstat {
                id,
                handle,
                attrs: attrs.to_wire(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// Changes attributes without following a symbolic link (`lsetstat@openssh.com`).
    pub async fn lsetstat(&self, path: impl AsRef<[u8]>, attrs: &Attributes) -> Result<()> {
        self.require(names::LSETSTAT, "1")?;
        let reply = self
            .call(|id| Lsetstat {
                id,
                path: path.as_ref(),
                attrs: attrs.to_wire(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// Opens a directory for [`SftpClient::readdir`].
    pub async fn opendir(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        handle_of(
            &self
                .call(|id| Opendir {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// The next entries of a directory handle; `None` at the end.
    pub async fn readdir(&self, handle: &[u8]) -> Result<Option<Vec<DirEntry>>> {
        let reply = self.call(|id| Readdir { id, handle }).await?;
        match reply.decode()? {
            Response::Name(n) => Ok(Some(dir_entries(&n))),
            Response::Status(s) if s.code == StatusCode::EOF => Ok(None),
            other => Err(unexpected(&other)),
        }
    }

    /// Lists a directory as a stream of entries (one READDIR at a time).
    pub async fn read_dir(&self, path: impl AsRef<[u8]>) -> Result<ReadDir> {
        let handle = self.opendir(path).await?;
        Ok(ReadDir {
            client: self.clone(),
            handle: Some(handle),
            batch: VecDeque::new(),
        })
    }

    /// Every entry of a directory, at most [`crate::ClientConfig::max_listing_entries`] and
    /// `max_listing_bytes` ([`Error::TooManyEntries`] past them: a server that never ends a
    /// listing cannot exhaust the client's memory). Use [`SftpClient::read_dir`] to walk a
    /// listing without holding it.
    pub async fn list_dir(&self, path: impl AsRef<[u8]>) -> Result<Vec<DirEntry>> {
        let handle = self.opendir(path).await?;
        let job = match self.with_proto(|p| p.list_start(now(), &handle)) {
            Ok(job) => job,
            Err(e) => {
                self.close_later(&handle);
                return Err(e);
            }
        };
        let mut job = self.job(job);
        let id = job.id();
        let result = job.next(|p| p.list_result(id)).await;
        job.finished();
        result
    }

    /// Creates a directory.
    pub async fn mkdir(&self, path: impl AsRef<[u8]>, attrs: &Attributes) -> Result<()> {
        let reply = self
            .call(|id| Mkdir {
                id,
                path: path.as_ref(),
                attrs: attrs.to_wire(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, path: impl AsRef<[u8]>) -> Result<()> {
        expect_ok(
            &self
                .call(|id| Rmdir {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// Removes a file.
    pub async fn remove(&self, path: impl AsRef<[u8]>) -> Result<()> {
        let reply = self
            .call(|id| Remove {
                id,
                filename: path.as_ref(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// Renames, replacing an existing `new` when the server offers `posix-rename@openssh.com`
    /// (as OpenSSH's `sftp` does); plain SSH_FXP_RENAME otherwise.
    pub async fn rename(&self, old: impl AsRef<[u8]>, new: impl AsRef<[u8]>) -> Result<()> {
        let (oldpath, newpath) = (old.as_ref(), new.as_ref());
        let reply = if self.supports(names::POSIX_RENAME, "1") {
            self.call(|id| PosixRename {
                id,
                oldpath,
                newpath,
            })
            .await?
        } else {
            self.call(|id| Rename {
                id,
                oldpath,
                newpath,
            })
            .await?
        };
        expect_ok(&reply)
    }

    /// SSH_FXP_RENAME: fails when `new` exists.
    pub async fn rename_noreplace(
        &self,
        old: impl AsRef<[u8]>,
        new: impl AsRef<[u8]>,
    ) -> Result<()> {
        let reply = self
            .call(|id| Rename {
                id,
                oldpath: old.as_ref(),
                newpath: new.as_ref(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// The target of a symbolic link.
    pub async fn readlink(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        single_name(
            &self
                .call(|id| Readlink {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// Creates a symbolic link at `link` pointing to `target` (sent in OpenSSH's order).
    pub async fn symlink(&self, target: impl AsRef<[u8]>, link: impl AsRef<[u8]>) -> Result<()> {
        let reply = self
            .call(|id| Symlink {
                id,
                link_path: link.as_ref(),
                target_path: target.as_ref(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// The canonical absolute path.
    pub async fn realpath(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        single_name(
            &self
                .call(|id| Realpath {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// File system statistics (`statvfs@openssh.com`).
    pub async fn statvfs(&self, path: impl AsRef<[u8]>) -> Result<FsStats> {
        self.require(names::STATVFS, "2")?;
        let reply = self
            .call(|id| Statvfs {
                id,
                path: path.as_ref(),
            })
            .await?;
        Ok(FsStats::from(&extended::<StatvfsReply>(&reply)?))
    }

    /// File system statistics of an open handle (`fstatvfs@openssh.com`).
    pub async fn fstatvfs(&self, handle: &[u8]) -> Result<FsStats> {
        self.require(names::FSTATVFS, "2")?;
        let reply = self.call(|id| Fstatvfs { id, handle }).await?;
        Ok(FsStats::from(&extended::<StatvfsReply>(&reply)?))
    }

    /// A hard link `new` to `old` (`hardlink@openssh.com`).
    pub async fn hardlink(&self, old: impl AsRef<[u8]>, new: impl AsRef<[u8]>) -> Result<()> {
        self.require(names::HARDLINK, "1")?;
        let reply = self
            .call(|id| Hardlink {
                id,
                oldpath: old.as_ref(),
                newpath: new.as_ref(),
            })
            .await?;
        expect_ok(&reply)
    }

    /// Flushes an open file on the server (`fsync@openssh.com`).
    pub async fn fsync(&self, handle: &[u8]) -> Result<()> {
        self.require(names::FSYNC, "1")?;
        expect_ok(&self.call(|id| Fsync { id, handle }).await?)
    }

    /// Expands `~` and canonicalizes (`expand-path@openssh.com`).
    pub async fn expand_path(&self, path: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        self.require(names::EXPAND_PATH, "1")?;
        single_name(
            &self
                .call(|id| ExpandPath {
                    id,
                    path: path.as_ref(),
                })
                .await?,
        )
    }

    /// A user's home directory (`home-directory`).
    pub async fn home_directory(&self, user: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        self.require(names::HOME_DIRECTORY, "1")?;
        let reply = self
            .call(|id| HomeDirectory {
                id,
                username: user.as_ref(),
            })
            .await?;
        single_name(&reply)
    }

    /// Server-side copy between two open handles (`copy-data`); `len` 0 copies to end of file.
    pub async fn copy_data(
        &self,
        from: &[u8],
        from_offset: u64,
        len: u64,
        to: &[u8],
        to_offset: u64,
    ) -> Result<()> {
        self.require(names::COPY_DATA, "1")?;
        let reply = self
            .call(|id| CopyData {
                id,
                read_from_handle: from,
                read_from_offset: from_offset,
                read_data_length: len,
                write_to_handle: to,
                write_to_offset: to_offset,
            })
            .await?;
        expect_ok(&reply)
    }

    /// User and group names of numeric ids (`users-groups-by-id@openssh.com`); an empty name
    /// where the server knows none.
    pub async fn users_groups_by_id(
        &self,
        uids: &[u32],
        gids: &[u32],
    ) -> Result<(Vec<String>, Vec<String>)> {
        self.require(names::USERS_GROUPS_BY_ID, "1")?;
        let reply = self
            .call(|id| UsersGroupsById {
                id,
                uids: Seq::from_slice(uids),
                gids: Seq::from_slice(gids),
            })
            .await?;
        let r = extended::<UsersGroupsByIdReply>(&reply)?;
        let text = |s: Seq<'_, &[u8]>| {
            s.iter()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect::<Vec<_>>()
        };
        Ok((text(r.usernames), text(r.groupnames)))
    }

    /// Server-side copy of a whole file (`copy-data`), creating or truncating `to`.
    pub async fn copy_file(&self, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) -> Result<()> {
        let src = self.open(from, OpenFlags::READ, &Attributes::EMPTY).await?;
        let result = async {
            let attrs = self.fstat(&src).await?;
            let create = Attributes::EMPTY.with_permissions(attrs.mode_bits().unwrap_or(0o644));
            let flags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
            let dst = self.open(to, flags, &create).await?;
            let copied = self.copy_data(&src, 0, 0, &dst, 0).await;
            let closed = self.close(&dst).await;
            copied.and(closed)
        }
        .await;
        let closed = self.close(&src).await;
        result.and(closed)
    }
}

/// A directory listing in progress ([`SftpClient::read_dir`]). Closes its handle at the end,
/// or when dropped.
pub struct ReadDir {
    client: SftpClient,
    handle: Option<Vec<u8>>,
    batch: VecDeque<DirEntry>,
}

impl ReadDir {
    /// The next entry; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<DirEntry>> {
        loop {
            if let Some(e) = self.batch.pop_front() {
                return Ok(Some(e));
            }
            let Some(handle) = &self.handle else {
                return Ok(None);
            };
            match self.client.readdir(handle).await? {
                Some(entries) => self.batch.extend(entries),
                None => {
                    if let Some(h) = self.handle.take() {
                        self.client.close(&h).await?;
                    }
                }
            }
        }
    }
}

impl Drop for ReadDir {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.client.send_once(|id| Close {
                id,
                handle: &handle,
            });
        }
    }
}
