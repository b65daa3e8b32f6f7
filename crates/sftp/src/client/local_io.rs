//! The local file of a transfer: a download's written in order, an upload's read straight into
//! the WRITE frames, each without a thread switch when the file cannot make it wait for a device.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use crate::local::fileio::{in_memory, read_into, read_nowait};

/// Writes a download's data into the local file. On tmpfs or ramfs (memory) a write is done at
/// once on the calling task; elsewhere `pwritev2` with `RWF_NOWAIT` writes into the page cache or
/// declines (dirty-page throttling, a file system without it). What is left goes to the blocking
/// pool with the received buffer itself (no copy, unlike `tokio::fs::File`, which copies every
/// write into its own buffer before it hands it to a thread). A file that is not a regular one
/// (a pipe, a terminal, a device) is written in sequence on the blocking pool.
pub(super) struct LocalWriter {
    file: Arc<File>,
    in_memory: bool,
    positional: bool,
    pos: u64,
}

impl LocalWriter {
    /// Writes `file` from `pos` on.
    pub(super) fn new(file: File, pos: u64) -> LocalWriter {
        LocalWriter {
            in_memory: in_memory(&file),
            positional: is_regular(&file),
            file: Arc::new(file),
            pos,
        }
    }

    /// Writes all of `data` at the current position and moves past it.
    pub(super) async fn write(&mut self, data: Bytes) -> io::Result<()> {
        let done = if self.positional {
            self.write_now(&data)
        } else {
            0
        };
        if done < data.len() {
            let (file, pos, rest) = (
                self.file.clone(),
                self.pos + done as u64,
                data.slice(done..),
            );
            let positional = self.positional;
            tokio::task::spawn_blocking(move || {
                if positional {
                    file.write_all_at(&rest, pos)
                } else {
                    io::Write::write_all(&mut &*file, &rest)
                }
            })
            .await
            .map_err(io::Error::other)??;
        }
        self.pos += data.len() as u64;
        Ok(())
    }

    /// How much of `data` could be written without waiting (errors leave the rest to the
    /// blocking write, which reports them).
    fn write_now(&self, data: &[u8]) -> usize {
        if !self.in_memory {
            return rustix::io::pwritev2(
                &*self.file,
                &[io::IoSlice::new(data)],
                self.pos,
                rustix::io::ReadWriteFlags::NOWAIT,
            )
            .unwrap_or(0);
        }
        let mut done = 0;
        while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
            match self.file.write_at(rest, self.pos + done as u64) {
                Ok(n) if n > 0 => done += n,
                _ => break,
            }
        }
        done
    }

    /// Flushes the data to stable storage (a regular file's: a pipe or a device has none).
    pub(super) async fn sync_data(&self) -> io::Result<()> {
        if !self.positional {
            return Ok(());
        }
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(io::Error::other)?
    }
}

/// Reads an upload's data from the local file, appended straight to the frame that carries them.
/// On tmpfs or ramfs the read is done at once on the calling task; elsewhere `preadv2` with
/// `RWF_NOWAIT` copies from the page cache or declines, and the blocking pool reads the rest. A
/// file that is not a regular one (a pipe, a device) is read in sequence on the blocking pool.
pub(super) struct LocalReader {
    file: Arc<File>,
    in_memory: bool,
    positional: bool,
}

impl LocalReader {
    /// Reads `file`.
    pub(super) fn new(file: File) -> LocalReader {
        LocalReader {
            in_memory: in_memory(&file),
            positional: is_regular(&file),
            file: Arc::new(file),
        }
    }

    /// Appends up to `len` bytes read at `offset` (for a file that is not a regular one: the next
    /// bytes) to `out`, fewer only where the file ends; hands `out` back with the count.
    pub(super) async fn read_at(
        &self,
        mut out: Vec<u8>,
        offset: u64,
        len: usize,
    ) -> io::Result<(Vec<u8>, usize)> {
        if !self.positional {
            return self.read_blocking(out, None, len).await;
        }
        if self.in_memory {
            let n = read_full(&self.file, &mut out, Some(offset), len)?;
            return Ok((out, n));
        }
        match read_nowait(&self.file, false, offset, len, &mut out) {
            Some(n) => Ok((out, n)),
            None => self.read_blocking(out, Some(offset), len).await,
        }
    }

    /// [`read_full`] on the blocking pool.
    async fn read_blocking(
        &self,
        mut out: Vec<u8>,
        at: Option<u64>,
        len: usize,
    ) -> io::Result<(Vec<u8>, usize)> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || {
            let n = read_full(&file, &mut out, at, len)?;
            Ok((out, n))
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Whether `file` is a regular file (positional reads and writes work).
fn is_regular(file: &File) -> bool {
    file.metadata().is_ok_and(|m| m.is_file())
}

/// Reads at `offset` (`None`: from the file's position on) until `len` bytes are appended to
/// `out` or the file ends; the count.
fn read_full(file: &File, out: &mut Vec<u8>, offset: Option<u64>, len: usize) -> io::Result<usize> {
    let mut got = 0;
    while got < len {
        match read_into(file, offset.map(|o| o + got as u64), len - got, out) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
