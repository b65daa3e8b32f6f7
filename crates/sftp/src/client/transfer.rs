//! Pipelined whole-file transfers: [`SftpClient::download`], [`SftpClient::upload`] and their
//! resuming forms ([`SftpClient::reget`], [`SftpClient::reput`]): the local file's side of the
//! machine's download and upload jobs ([`super::proto::ClientProto::download_start`],
//! [`super::proto::ClientProto::upload_start`]), which own the pipelines (window, slow start,
//! reassembly by offset).

use std::path::Path;

use nacre_sftp_codec::{OpenFlags, StatusCode};
use tokio::fs::OpenOptions;
use tokio::io::AsyncSeekExt;

use super::driver::now;
use super::local_io::{LocalReader, LocalWriter};
use super::proto::{DownloadStep, JobId, UploadStep};
use super::{Error, Result, SftpClient};
use crate::attrs::Attributes;

/// A remote handle a transfer holds: closed by [`OpenHandle::close`], or, if the transfer is
/// dropped before (Ctrl-C in `nacre sftp`), by a CLOSE queued through the machine at once, its
/// answer not awaited. Without it the server would keep the file open until the session ends.
pub(super) struct OpenHandle<'a> {
    client: &'a SftpClient,
    handle: Vec<u8>,
    open: bool,
}

impl<'a> OpenHandle<'a> {
    pub(super) fn new(client: &'a SftpClient, handle: Vec<u8>) -> Self {
        OpenHandle {
            client,
            handle,
            open: true,
        }
    }

    /// The session the handle belongs to.
    pub(super) fn client(&self) -> &'a SftpClient {
        self.client
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.handle
    }

    /// Closes the handle and waits for the server's answer.
    pub(super) async fn close(mut self) -> Result<()> {
        // The CLOSE goes out before the first await: dropped while waiting, nothing is left open.
        self.open = false;
        self.client.close(&self.handle).await
    }

    /// Closes the handle after the work done with it: the work's error first, else the
    /// CLOSE's, else what the work gave.
    pub(super) async fn close_after<T>(self, done: Result<T>) -> Result<T> {
        let closed = self.close().await;
        let done = done?;
        closed.map(|()| done)
    }
}

impl Drop for OpenHandle<'_> {
    fn drop(&mut self) {
        if self.open {
            self.client.close_later(&self.handle);
        }
    }
}

/// How a download writes the local file ([`SftpClient::download_with`],
/// [`SftpClient::download_dir_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Keep what the local file holds and fetch the rest (`reget`, `get -a`); single files
    /// only.
    pub resume: bool,
    /// Flush each file to stable storage (fsync) once it is complete, as OpenSSH's sftp does
    /// with `get -f`.
    pub sync: bool,
}

impl SftpClient {
    /// Downloads `remote` into `local` (created or truncated), flushed to disk at the end when
    /// [`ClientConfig::sync_downloads`](crate::ClientConfig::sync_downloads) says so. Returns
    /// the bytes transferred.
    pub async fn download(&self, remote: impl AsRef<[u8]>, local: impl AsRef<Path>) -> Result<u64> {
        let opts = DownloadOptions {
            resume: false,
            sync: self.config().sync_downloads,
        };
        self.download_with(remote, local, opts).await
    }

    /// Resumes a download: keeps what `local` holds and fetches the rest (`reget`).
    pub async fn reget(&self, remote: impl AsRef<[u8]>, local: impl AsRef<Path>) -> Result<u64> {
        let opts = DownloadOptions {
            resume: true,
            sync: self.config().sync_downloads,
        };
        self.download_with(remote, local, opts).await
    }

    /// Uploads `local` to `remote` (created or truncated). Returns the bytes transferred.
    pub async fn upload(&self, local: impl AsRef<Path>, remote: impl AsRef<[u8]>) -> Result<u64> {
        self.upload_inner(local.as_ref(), remote.as_ref(), false, &[])
            .await
    }

    /// Resumes an upload: keeps what `remote` holds and sends the rest (`reput`).
    pub async fn reput(&self, local: impl AsRef<Path>, remote: impl AsRef<[u8]>) -> Result<u64> {
        self.upload_inner(local.as_ref(), remote.as_ref(), true, &[])
            .await
    }

    /// Downloads `remote` into `local` as `opts` say (resumed, flushed to disk). Returns the
    /// bytes transferred.
    pub async fn download_with(
        &self,
        remote: impl AsRef<[u8]>,
        local: impl AsRef<Path>,
        opts: DownloadOptions,
    ) -> Result<u64> {
        self.download_file(remote.as_ref(), local.as_ref(), None, opts)
            .await
    }

    /// Downloads `remote` into `local` with the attributes a listing gave (its size stops the
    /// read-ahead, its mode makes the local file's): no FSTAT — what one file of a recursive
    /// download costs; flushed to disk with `sync` (OpenSSH's `get -r -f`).
    pub(super) async fn download_listed(
        &self,
        remote: &[u8],
        local: &Path,
        attrs: &Attributes,
        sync: bool,
    ) -> Result<u64> {
        let opts = DownloadOptions {
            resume: false,
            sync,
        };
        self.download_file(remote, local, Some(attrs), opts).await
    }

    /// Opens `remote`, fetches it into `local` with the attributes `listed` (else its FSTAT's)
    /// and closes it.
    async fn download_file(
        &self,
        remote: &[u8],
        local: &Path,
        listed: Option<&Attributes>,
        opts: DownloadOptions,
    ) -> Result<u64> {
        let handle = self
            .open(remote, OpenFlags::READ, &Attributes::EMPTY)
            .await?;
        let handle = OpenHandle::new(self, handle);
        let got = async {
            let attrs = match listed {
                Some(a) => *a,
                None => self.fstat(handle.bytes()).await?,
            };
            self.fetch_into(handle.bytes(), local, &attrs, opts).await
        }
        .await;
        handle.close_after(got).await
    }

    /// Creates (or, resuming, extends) `local` and fetches the open `handle` into it.
    async fn fetch_into(
        &self,
        handle: &[u8],
        local: &Path,
        attrs: &Attributes,
        to: DownloadOptions,
    ) -> Result<u64> {
        let mode = attrs.mode_bits().unwrap_or(0o644) & 0o777;
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).mode(mode);
        if !to.resume {
            opts.truncate(true);
        }
        let mut file = opts.open(local).await?;
        let start = if to.resume {
            file.seek(std::io::SeekFrom::End(0)).await?
        } else {
            0
        };
        if attrs.size.is_some_and(|size| start > size) {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the local file is longer than the remote one",
            )));
        }
        let mut out = LocalWriter::new(file.into_std().await, start);
        let got = self.fetch(handle, start, attrs.size, &mut out).await?;
        if to.sync {
            out.sync_data().await?;
        }
        Ok(got)
    }

    /// Reads `handle` from `start` to end of file into `out`, pipelined (the machine's
    /// download job; the local file written in order as the data come).
    async fn fetch(
        &self,
        handle: &[u8],
        start: u64,
        size_hint: Option<u64>,
        out: &mut LocalWriter,
    ) -> Result<u64> {
        let job = self.with_proto(|p| p.download_start(now(), handle, start, size_hint));
        let mut job = self.job(job);
        let id = job.id();
        loop {
            let step = job
                .next(|p| match p.download_next(now(), id) {
                    DownloadStep::Pending => None,
                    step => Some(step),
                })
                .await;
            match step {
                DownloadStep::Data(data) => out.write(data).await?,
                DownloadStep::Pending => {}
                DownloadStep::Done(result) => {
                    job.finished();
                    return result;
                }
            }
        }
    }

    /// Uploads `local` (resumed, or created or truncated) into `remote`, over this session and
    /// the sessions `lanes` when there are some and `local` is a regular file
    /// ([`SftpClient::upload_striped`]).
    pub(super) async fn upload_inner(
        &self,
        local: &Path,
        remote: &[u8],
        resume: bool,
        lanes: &[SftpClient],
    ) -> Result<u64> {
        let file = tokio::fs::File::open(local).await?;
        let meta = file.metadata().await?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        let start = if resume {
            match self.stat(remote).await {
                Ok(a) => a.size.unwrap_or(0),
                Err(e) if e.status() == Some(StatusCode::NO_SUCH_FILE) => 0,
                Err(e) => return Err(e),
            }
        } else {
            0
        };
        if start > meta.len() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the remote file is longer than the local one",
            )));
        }
        let flags = if resume {
            OpenFlags::WRITE | OpenFlags::CREAT
        } else {
            OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC
        };
        let create = Attributes::EMPTY.with_permissions(mode);
        let handle = self.open(remote, flags, &create).await?;
        let handle = OpenHandle::new(self, handle);
        let input = LocalReader::new(file.into_std().await);
        if !lanes.is_empty() && meta.is_file() {
            return self
                .push_striped(handle, lanes, remote, meta.len(), &input)
                .await;
        }
        let sent = self.push(handle.bytes(), start, &input).await;
        handle.close_after(sent).await
    }

    /// Sends `input` from `start` to its end as WRITEs at `start`, pipelined (the machine's
    /// upload job). Each frame comes from the machine with its header written; the data are
    /// read straight after it.
    pub(super) async fn push(&self, handle: &[u8], start: u64, input: &LocalReader) -> Result<u64> {
        let job = self.with_proto(|p| p.upload_start(handle, start));
        self.push_job(job, input).await
    }

    /// Drives the upload job `job`: each slot the machine hands out is filled from `input` at
    /// its offset and sent.
    pub(super) async fn push_job(&self, job: JobId, input: &LocalReader) -> Result<u64> {
        let mut job = self.job(job);
        let id = job.id();
        loop {
            let step = job
                .next(|p| match p.upload_next(id) {
                    UploadStep::Pending => None,
                    step => Some(step),
                })
                .await;
            match step {
                UploadStep::Send(mut slot) => {
                    let frame = std::mem::take(slot.buffer());
                    let (frame, _) = input.read_at(frame, slot.offset(), slot.max_len()).await?;
                    *slot.buffer() = frame;
                    self.with_proto(|p| p.upload_send(now(), slot))?;
                }
                UploadStep::Pending => {}
                UploadStep::Done(result) => {
                    job.finished();
                    return result;
                }
            }
        }
    }
}
