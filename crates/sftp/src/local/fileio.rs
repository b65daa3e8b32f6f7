//! Reads from local files into vectors, shared by [`super::LocalFs`] (the server's READs) and
//! the client's transfers: into the vector's spare room (no zero-filling), and without waiting
//! for a device when the data are in memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::server::filesystem::read_zero_filled;

/// One read of up to `len` bytes at `offset` (`None`: at the file's position), appended to `out`;
/// the count (0: end of file). Reads into the spare room when it is exactly `len` bytes,
/// through a zero-filled slice otherwise.
pub(crate) fn read_into(
    file: &File,
    offset: Option<u64>,
    len: usize,
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    let start = out.len();
    out.reserve_exact(len);
    if out.capacity() - start == len {
        let room = rustix::buffer::spare_capacity(out);
        let n = match offset {
            Some(at) => rustix::io::pread(file, room, at),
            None => rustix::io::read(file, room),
        }?;
        return Ok(n);
    }
    // More room than asked for: read through a slice of exactly `len` bytes instead.
    read_zero_filled(out, len, |room| match offset {
        Some(at) => file.read_at(room, at),
        None => io::Read::read(&mut &*file, room),
    })
}

/// All `len` bytes at `offset` appended to `out` without waiting for a device, or `None` (and
/// `out` as it was): the data are not all in memory, the file ends before, or any error. A file
/// on tmpfs or ramfs (`in_memory`) is read with a plain `pread` (tmpfs refuses `RWF_NOWAIT`);
/// elsewhere `preadv2` with `RWF_NOWAIT` copies from the page cache or declines, into a
/// zero-filled room (`preadv2` takes initialized buffers).
pub(crate) fn read_nowait(
    file: &File,
    in_memory: bool,
    offset: u64,
    len: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    let start = out.len();
    let got = if in_memory {
        read_into(file, Some(offset), len, out).ok()
    } else {
        out.resize(start + len, 0);
        out.get_mut(start..).and_then(|room| {
            rustix::io::preadv2(
                file,
                &mut [io::IoSliceMut::new(room)],
                offset,
                rustix::io::ReadWriteFlags::NOWAIT,
            )
            .ok()
        })
    };
    match got {
        Some(n) if n == len && n > 0 => {
            out.truncate(start + n);
            Some(n)
        }
        _ => {
            out.truncate(start);
            None
        }
    }
}

/// Whether `file` lives on tmpfs or ramfs (`fstatfs`), whose reads never wait for a device.
pub(crate) fn in_memory(file: &File) -> bool {
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const RAMFS_MAGIC: u64 = 0x8584_58f6;
    rustix::fs::fstatfs(file).is_ok_and(|st| {
        let kind = u64::try_from(st.f_type).unwrap_or(0);
        kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
    })
}
