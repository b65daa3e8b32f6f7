//! The local file of a download: written in order, without a thread switch when the write
//! cannot wait for a device.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

/// Writes a download's data into the local file. On tmpfs or ramfs (memory) a write is done at
/// once on the calling task; elsewhere `pwritev2` with `RWF_NOWAIT` writes into the page cache or
/// declines (dirty-page throttling, a file system without it). What is left goes to the blocking
/// pool with the received buffer itself (no copy, unlike `tokio::fs::File`, which copies every
/// write into its own buffer before it hands it to a thread).
pub(super) struct LocalWriter {
    file: Arc<File>,
    in_memory: bool,
    pos: u64,
}

impl LocalWriter {
    /// Writes `file` from `pos` on.
    pub(super) fn new(file: File, pos: u64) -> LocalWriter {
        let in_memory = crate::local::in_memory(&file);
        LocalWriter {
            file: Arc::new(file),
            in_memory,
            pos,
        }
    }

    /// Writes all of `data` at the current position and moves past it.
    pub(super) async fn write(&mut self, data: Bytes) -> io::Result<()> {
        let done = self.write_now(&data);
        if done < data.len() {
            let (file, pos, rest) = (
                self.file.clone(),
                self.pos + done as u64,
                data.slice(done..),
            );
            tokio::task::spawn_blocking(move || file.write_all_at(&rest, pos))
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

    /// Flushes the data to stable storage.
    pub(super) async fn sync_data(&self) -> io::Result<()> {
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(io::Error::other)?
    }
}
