//! [`File`]: a remote file as `AsyncRead` + `AsyncWrite` + `AsyncSeek`.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use nacre_sftp_codec::{Close, Fstat, OpenFlags, Read, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use super::{expect_ok, unexpected, Error, Reply, Result, SftpClient};
use crate::attrs::Attributes;

type Pending = oneshot::Receiver<Result<Reply>>;

/// Writes a [`File`] keeps in flight before `poll_write` waits for the oldest.
const MAX_WRITES: usize = 64;

fn poll_reply(rx: &mut Pending, cx: &mut Context<'_>) -> Poll<Result<Reply>> {
    match Pin::new(rx).poll(cx) {
        Poll::Ready(Ok(r)) => Poll::Ready(r),
        Poll::Ready(Err(_)) => {
            Poll::Ready(Err(Error::ConnectionLost("the reader has stopped".into())))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// An open remote file. Reads and writes happen at the file's position, which
/// [`AsyncSeek`] moves (`SeekFrom::End` asks the server for the size). Writes are pipelined:
/// `poll_write` returns once the WRITE is queued, up to 64 unanswered; `flush` waits for every
/// answer and reports the first error. `shutdown` flushes and closes the handle; dropping the
/// file closes it without waiting.
pub struct File {
    client: SftpClient,
    handle: Vec<u8>,
    pos: u64,
    read: Option<(u64, Pending)>,
    writes: VecDeque<Pending>,
    seek: Option<Seek>,
    closing: Option<Pending>,
    closed: bool,
}

enum Seek {
    Done(u64),
    End(i64, Pending),
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

fn io_err(e: Error) -> io::Error {
    e.into()
}

impl SftpClient {
    /// Opens a remote file as a [`File`].
    pub async fn open_file(
        &self,
        path: impl AsRef<[u8]>,
        flags: OpenFlags,
        attrs: &Attributes,
    ) -> Result<File> {
        let handle = self.open(path, flags, attrs).await?;
        Ok(File {
            client: self.clone(),
            handle,
            pos: 0,
            read: None,
            writes: VecDeque::new(),
            seek: None,
            closing: None,
            closed: false,
        })
    }

    /// Opens a remote file for reading.
    pub async fn open_read(&self, path: impl AsRef<[u8]>) -> Result<File> {
        self.open_file(path, OpenFlags::READ, &Attributes::EMPTY)
            .await
    }

    /// Creates (or truncates) a remote file for writing, mode 0644.
    pub async fn create(&self, path: impl AsRef<[u8]>) -> Result<File> {
        let flags = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
        self.open_file(path, flags, &Attributes::EMPTY.with_permissions(0o644))
            .await
    }
}

impl File {
    /// The SFTP handle.
    pub fn handle(&self) -> &[u8] {
        &self.handle
    }

    /// The current position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Attributes of the open file.
    pub async fn metadata(&self) -> Result<Attributes> {
        self.client.fstat(&self.handle).await
    }

    /// Waits for pending writes, then closes the handle.
    pub async fn close(mut self) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_writes(cx, 0)).await?;
        self.closed = true;
        self.client.close(&self.handle).await
    }

    /// Polls write answers until at most `keep` are pending.
    fn poll_writes(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<Result<()>> {
        while let Some(front) = self.writes.front_mut() {
            match poll_reply(front, cx) {
                Poll::Ready(reply) => {
                    self.writes.pop_front();
                    expect_ok(&reply?)?;
                }
                Poll::Pending if self.writes.len() > keep => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for File {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.read.is_none() {
            let len = buf.remaining().min(this.client.read_len());
            let len = u32::try_from(len).unwrap_or(u32::MAX);
            let (handle, offset) = (&this.handle, this.pos);
            let rx = this
                .client
                .send_once(|id| Read {
                    id,
                    handle,
                    offset,
                    len,
                })
                .map_err(io_err)?;
            this.read = Some((u64::from(len), rx));
        }
        let Some((len, rx)) = &mut this.read else {
            return Poll::Ready(Ok(()));
        };
        let len = *len;
        let reply = match poll_reply(rx, cx) {
            Poll::Ready(r) => r,
            Poll::Pending => return Poll::Pending,
        };
        this.read = None;
        let reply = reply.map_err(io_err)?;
        match reply.decode().map_err(io_err)? {
            Response::Data(d) => {
                let n = d.data.len();
                if n as u64 > len || n > buf.remaining() {
                    return Poll::Ready(Err(io_err(Error::protocol("DATA longer than asked"))));
                }
                buf.put_slice(d.data);
                this.pos += n as u64;
                Poll::Ready(Ok(()))
            }
            Response::Status(s) if s.code == StatusCode::EOF => Poll::Ready(Ok(())),
            other => Poll::Ready(Err(io_err(unexpected(&other)))),
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.poll_writes(cx, MAX_WRITES - 1) {
            Poll::Ready(r) => r.map_err(io_err)?,
            Poll::Pending => return Poll::Pending,
        }
        let n = data.len().min(this.client.write_len(this.handle.len()));
        let chunk = data.get(..n).unwrap_or_default();
        let (handle, offset) = (&this.handle, this.pos);
        let rx = this
            .client
            .send_once(|id| nacre_sftp_codec::Write {
                id,
                handle,
                offset,
                data: chunk,
            })
            .map_err(io_err)?;
        this.writes.push_back(rx);
        this.pos += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_writes(cx, 0).map_err(io_err)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        match this.poll_writes(cx, 0) {
            Poll::Ready(r) => r.map_err(io_err)?,
            Poll::Pending => return Poll::Pending,
        }
        if this.closing.is_none() {
            let handle = &this.handle;
            let rx = this
                .client
                .send_once(|id| Close { id, handle })
                .map_err(io_err)?;
            this.closing = Some(rx);
        }
        let Some(rx) = &mut this.closing else {
            return Poll::Ready(Ok(()));
        };
        let reply = match poll_reply(rx, cx) {
            Poll::Ready(r) => r,
            Poll::Pending => return Poll::Pending,
        };
        this.closing = None;
        this.closed = true;
        expect_ok(&reply.map_err(io_err)?).map_err(io_err)?;
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for File {
    fn start_seek(mut self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = &mut *self;
        // A read in flight is for the old position: forget it.
        this.read = None;
        let target = |base: u64, delta: i64| {
            base.checked_add_signed(delta)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))
        };
        this.seek = Some(match position {
            SeekFrom::Start(n) => Seek::Done(n),
            SeekFrom::Current(d) => Seek::Done(target(this.pos, d)?),
            SeekFrom::End(d) => {
                let handle = &this.handle;
                let rx = this
                    .client
                    .send_once(|id| Fstat { id, handle })
                    .map_err(io_err)?;
                Seek::End(d, rx)
            }
        });
        Ok(())
    }

    fn poll_complete(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = &mut *self;
        let pos = match &mut this.seek {
            None => return Poll::Ready(Ok(this.pos)),
            Some(Seek::Done(n)) => *n,
            Some(Seek::End(d, rx)) => {
                let d = *d;
                let reply = match poll_reply(rx, cx) {
                    Poll::Ready(r) => r,
                    Poll::Pending => return Poll::Pending,
                };
                this.seek = None;
                let size = match reply.map_err(io_err)?.decode().map_err(io_err)? {
                    Response::Attrs(a) => a.attrs.size.unwrap_or(0),
                    other => return Poll::Ready(Err(io_err(unexpected(&other)))),
                };
                size.checked_add_signed(d).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek out of range")
                })?
            }
        };
        this.seek = None;
        this.pos = pos;
        Poll::Ready(Ok(pos))
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if !self.closed {
            self.client.close_later(&self.handle);
        }
    }
}
