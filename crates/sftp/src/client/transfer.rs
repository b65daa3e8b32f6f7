//! Pipelined whole-file transfers: [`SftpClient::download`], [`SftpClient::upload`] and their
//! resuming forms ([`SftpClient::reget`], [`SftpClient::reput`]).
//!
//! Both directions keep a window of requests in flight that starts at
//! [`super::ClientConfig::initial_in_flight`] and grows by one per full reply — doubling every
//! round trip, OpenSSH's slow start — up to [`super::ClientConfig::max_in_flight`]. Downloads
//! reassemble out-of-order DATA replies by offset and write the local file strictly in order;
//! a short reply re-requests the rest of its range; EOF at an offset stops new requests there.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use nacre_sftp_codec::{Close, OpenFlags, Read, Response, StatusCode, Write};
use tokio::fs::OpenOptions;
use tokio::io::AsyncSeekExt;
use tokio::sync::mpsc;

use super::local_io::{LocalReader, LocalWriter};
use super::{unexpected, Error, Reply, Result, SftpClient};
use crate::attrs::Attributes;

/// Offset of the data in a DATA frame (type byte onwards): type, id, length.
const DATA_START: usize = 1 + 4 + 4;
/// Where the request id lies in a whole frame: after the length and the type.
const ID_AT: usize = 4 + 1;
/// A WRITE frame's header without the handle: length, type, id, handle length, offset, data
/// length.
const WRITE_HEADER: usize = 4 + 1 + 4 + 4 + 8 + 4;

/// A received chunk: the DATA frame and where its data lie in it.
struct Chunk {
    reply: Reply,
    len: usize,
}

impl Chunk {
    /// The data, a view of the frame.
    fn bytes(&self) -> bytes::Bytes {
        let end = (DATA_START + self.len).min(self.reply.0.len());
        self.reply.0.slice(DATA_START.min(end)..end)
    }
}

/// The slow-start window.
struct Window {
    size: usize,
    max: usize,
}

impl Window {
    fn new(client: &SftpClient) -> Window {
        let cfg = client.config();
        let max = cfg.max_in_flight.max(1);
        Window {
            size: cfg.initial_in_flight.clamp(1, max),
            max,
        }
    }

    fn grow(&mut self) {
        self.size = (self.size + 1).min(self.max);
    }
}

impl SftpClient {
    /// Downloads `remote` into `local` (created or truncated). Returns the bytes transferred.
    pub async fn download(&self, remote: impl AsRef<[u8]>, local: impl AsRef<Path>) -> Result<u64> {
        self.download_inner(remote.as_ref(), local.as_ref(), false)
            .await
    }

    /// Resumes a download: keeps what `local` holds and fetches the rest (`reget`).
    pub async fn reget(&self, remote: impl AsRef<[u8]>, local: impl AsRef<Path>) -> Result<u64> {
        self.download_inner(remote.as_ref(), local.as_ref(), true)
            .await
    }

    /// Uploads `local` to `remote` (created or truncated). Returns the bytes transferred.
    pub async fn upload(&self, local: impl AsRef<Path>, remote: impl AsRef<[u8]>) -> Result<u64> {
        self.upload_inner(local.as_ref(), remote.as_ref(), false)
            .await
    }

    /// Resumes an upload: keeps what `remote` holds and sends the rest (`reput`).
    pub async fn reput(&self, local: impl AsRef<Path>, remote: impl AsRef<[u8]>) -> Result<u64> {
        self.upload_inner(local.as_ref(), remote.as_ref(), true)
            .await
    }

    async fn download_inner(&self, remote: &[u8], local: &Path, resume: bool) -> Result<u64> {
        let handle = self
            .open(remote, OpenFlags::READ, &Attributes::EMPTY)
            .await?;
        let result = async {
            let attrs = self.fstat(&handle).await?;
            let mode = attrs.mode_bits().unwrap_or(0o644) & 0o777;
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).mode(mode);
            if !resume {
                opts.truncate(true);
            }
            let mut file = opts.open(local).await?;
            let start = if resume {
                file.seek(std::io::SeekFrom::End(0)).await?
            } else {
                0
            };
            if let Some(size) = attrs.size {
                if start > size {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "the local file is longer than the remote one",
                    )));
                }
            }
            let mut out = LocalWriter::new(file.into_std().await, start);
            let got = self.fetch(&handle, start, attrs.size, &mut out).await?;
            out.sync_data().await?;
            Ok(got)
        }
        .await;
        let closed = self.close(&handle).await;
        let got = result?;
        closed?;
        Ok(got)
    }

    /// Reads `handle` from `start` to end of file into `out`, pipelined.
    async fn fetch(
        &self,
        handle: &[u8],
        start: u64,
        size_hint: Option<u64>,
        out: &mut LocalWriter,
    ) -> Result<u64> {
        let chunk = self.read_len();
        let chunk32 = u32::try_from(chunk).unwrap_or(u32::MAX);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut window = Window::new(self);
        let mut in_flight: HashMap<u32, (u64, u32)> = HashMap::new();
        let mut ready: BTreeMap<u64, Chunk> = BTreeMap::new();
        let (mut next, mut written) = (start, start);
        let mut hint = size_hint;
        let mut eof: Option<u64> = None;
        let send = |offset: u64, len: u32| {
            self.send_stream(&tx, |id, buf| {
                nacre_sftp_codec::encode_frame(
                    &Read {
                        id,
                        handle,
                        offset,
                        len,
                    },
                    buf,
                );
            })
        };
        loop {
            while in_flight.len() < window.size
                && eof.is_none_or(|e| next < e)
                && hint.is_none_or(|h| next <= h)
            {
                let id = send(next, chunk32)?;
                in_flight.insert(id, (next, chunk32));
                next += u64::from(chunk32);
            }
            if in_flight.is_empty() {
                break;
            }
            let (id, reply) = self.next_streamed(&mut rx).await?;
            let (offset, len) = in_flight
                .remove(&id)
                .ok_or_else(|| Error::protocol("reply to no read"))?;
            let reply = reply?;
            match reply.decode()? {
                Response::Data(d) => {
                    let n = d.data.len();
                    if n > len as usize || n == 0 {
                        return Err(Error::protocol("DATA of a bad length"));
                    }
                    if n < len as usize {
                        // Short read: ask for the rest of this range right away.
                        let (o, l) = (offset + n as u64, len - n as u32);
                        let id = send(o, l)?;
                        in_flight.insert(id, (o, l));
                    } else {
                        window.grow();
                    }
                    let end = offset + n as u64;
                    if hint.is_some_and(|h| end > h) {
                        hint = Some(end);
                    }
                    ready.insert(offset, Chunk { reply, len: n });
                }
                Response::Status(s) if s.code == StatusCode::EOF => {
                    eof = Some(eof.map_or(offset, |e| e.min(offset)));
                }
                other => return Err(unexpected(&other)),
            }
            while let Some(entry) = ready.first_entry() {
                if *entry.key() != written {
                    break;
                }
                let c = entry.remove();
                out.write(c.bytes()).await?;
                written += c.len as u64;
            }
        }
        if !ready.is_empty() || eof.is_some_and(|e| e < written) {
            return Err(Error::protocol(
                "the server's data and end of file disagree",
            ));
        }
        Ok(written - start)
    }

    async fn upload_inner(&self, local: &Path, remote: &[u8], resume: bool) -> Result<u64> {
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
        let input = LocalReader::new(file.into_std().await);
        let sent = self.push(&handle, start, &input).await;
        let closed = self.close(&handle).await;
        let sent = sent?;
        closed?;
        Ok(sent)
    }

    /// Sends `input` from `start` to its end as WRITEs at `start`, pipelined. Each frame is
    /// built whole before its request id is known: the data are read straight after the header,
    /// and the id is written in when the frame is sent.
    async fn push(&self, handle: &[u8], start: u64, input: &LocalReader) -> Result<u64> {
        let chunk = self.write_len(handle.len());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut window = Window::new(self);
        let mut in_flight: HashMap<u32, u64> = HashMap::new();
        let mut offset = start;
        let mut at_end = false;
        loop {
            while !at_end && in_flight.len() < window.size {
                let mut frame = Vec::with_capacity(WRITE_HEADER + handle.len() + chunk);
                Write::encode_frame_header(&mut frame, 0, handle, offset, chunk);
                let header_len = frame.len();
                let (mut frame, n) = input.read_at(frame, offset, chunk).await?;
                if n == 0 {
                    at_end = true;
                    break;
                }
                if n < chunk {
                    // The end of the file: the lengths in the header (same size) say `n`.
                    let mut header = Vec::with_capacity(header_len);
                    Write::encode_frame_header(&mut header, 0, handle, offset, n);
                    if let Some(slot) = frame.get_mut(..header_len) {
                        slot.copy_from_slice(&header);
                    }
                    at_end = true;
                }
                let id = self.send_stream(&tx, |id, buf| {
                    if let Some(slot) = frame.get_mut(ID_AT..ID_AT + 4) {
                        slot.copy_from_slice(&id.to_be_bytes());
                    }
                    *buf = std::mem::take(&mut frame);
                })?;
                in_flight.insert(id, offset);
                offset += n as u64;
            }
            if in_flight.is_empty() {
                break;
            }
            let (id, reply) = self.next_streamed(&mut rx).await?;
            in_flight
                .remove(&id)
                .ok_or_else(|| Error::protocol("reply to no write"))?;
            super::expect_ok(&reply?)?;
            window.grow();
        }
        Ok(offset - start)
    }

    /// Closes a handle without waiting for the answer.
    pub(crate) fn close_later(&self, handle: &[u8]) {
        let _ = self.send_once(|id| Close { id, handle });
    }
}
