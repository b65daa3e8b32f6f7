//! Payload compression (RFC 4253 §6.2; OpenSSH PROTOCOL §"zlib@openssh.com").
//!
//! `zlib` compresses from the NEWKEYS that puts it in force; `zlib@openssh.com` ("delayed") from
//! the moment user authentication succeeded: on a server after it sends USERAUTH_SUCCESS, on a
//! client after it receives it. Each direction is one zlib stream (zlib header, deflate, no
//! end): every packet's payload is deflated and flushed so the peer can inflate it on its own
//! (OpenSSH deflates with `Z_PARTIAL_FLUSH` and inflates with `Z_SYNC_FLUSH`; nacre flushes with
//! a sync flush, which zlib inflates as well). As in OpenSSH's packet.c (`ssh_set_newkeys`), every
//! NEWKEYS starts a fresh stream in its direction when compression is in force after it.
//!
//! Inflating is bounded: a packet whose payload inflates to more than the largest packet the
//! transport accepts ([`crate::Limits::max_packet_len`], 256 KiB by default) is a decompression
//! bomb and ends the connection with SSH_DISCONNECT_COMPRESSION_ERROR, as does a corrupt stream.
//! The output buffer never grows past that bound, whatever the packet claims.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::TransportError;

/// zlib's compression level, as OpenSSH (`start_compression_out(ssh, 6)`).
pub const COMPRESSION_LEVEL: u32 = 6;

/// A compression algorithm name (RFC 4253 §6.2, OpenSSH PROTOCOL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompressionAlg {
    /// `none`: payloads as they are.
    None,
    /// `zlib` (RFC 4253 §6.2): from the NEWKEYS that selects it.
    Zlib,
    /// `zlib@openssh.com`: like `zlib`, but only after user authentication succeeded.
    ZlibOpenssh,
}

impl CompressionAlg {
    /// Every algorithm nacre implements.
    pub const ALL: [CompressionAlg; 3] = [
        CompressionAlg::None,
        CompressionAlg::ZlibOpenssh,
        CompressionAlg::Zlib,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            CompressionAlg::None => "none",
            CompressionAlg::Zlib => "zlib",
            CompressionAlg::ZlibOpenssh => "zlib@openssh.com",
        }
    }

    /// The algorithm of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Whether the algorithm compresses at all.
    pub fn compresses(self) -> bool {
        self != CompressionAlg::None
    }

    /// Whether compression waits for user authentication (`zlib@openssh.com`).
    pub fn is_delayed(self) -> bool {
        self == CompressionAlg::ZlibOpenssh
    }
}

/// What a direction's compression is doing.
pub(crate) enum DirectionState<T> {
    /// Nothing negotiated (or `none`).
    Off,
    /// `zlib@openssh.com` negotiated; waiting for authentication.
    Waiting,
    /// Compressing: the stream.
    On(Box<T>),
}

impl<T> DirectionState<T> {
    /// The state after a NEWKEYS selecting `alg`; `authenticated`: authentication already
    /// succeeded. `start` builds a fresh stream.
    pub(crate) fn after_newkeys(
        alg: CompressionAlg,
        authenticated: bool,
        start: impl Fn() -> T,
    ) -> Self {
        match alg {
            CompressionAlg::None => DirectionState::Off,
            CompressionAlg::ZlibOpenssh if !authenticated => DirectionState::Waiting,
            CompressionAlg::Zlib | CompressionAlg::ZlibOpenssh => {
                DirectionState::On(Box::new(start()))
            }
        }
    }

    /// Authentication succeeded: a waiting direction starts.
    pub(crate) fn authenticated(&mut self, start: impl Fn() -> T) {
        if matches!(self, DirectionState::Waiting) {
            *self = DirectionState::On(Box::new(start()));
        }
    }

    /// The stream, when compressing.
    pub(crate) fn stream(&mut self) -> Option<&mut T> {
        match self {
            DirectionState::On(s) => Some(s),
            _ => None,
        }
    }

    /// Whether payloads are compressed now.
    pub(crate) fn is_on(&self) -> bool {
        matches!(self, DirectionState::On(_))
    }
}

/// The sending direction's zlib stream.
pub struct Deflater {
    stream: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflater {
    /// A new stream (zlib header first), level [`COMPRESSION_LEVEL`].
    pub fn new() -> Self {
        Deflater {
            stream: Compress::new(Compression::new(COMPRESSION_LEVEL), true),
        }
    }

    /// Appends `payload`, deflated and flushed to a byte boundary, to `out`.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        let mut consumed = 0usize;
        loop {
            // Deflate output is at most a little larger than its input; the flush adds a few bytes.
            out.reserve(payload.len().saturating_sub(consumed) / 2 + 64);
            let before_in = self.stream.total_in();
            let rest = payload.get(consumed..).unwrap_or(&[]);
            self.stream
                .compress_vec(rest, out, FlushCompress::Sync)
                .map_err(|_| TransportError::Compression("deflate failed"))?;
            consumed += usize::try_from(self.stream.total_in() - before_in).unwrap_or(usize::MAX);
            // Done when all input is in and the flush left spare room (nothing more pending).
            if consumed >= payload.len() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// The receiving direction's zlib stream, with the bound on what one packet may inflate to.
pub struct Inflater {
    stream: Decompress,
    /// One packet's inflated payload; never longer than `max + 1` bytes.
    scratch: Vec<u8>,
    max: usize,
}

impl Inflater {
    /// A new stream whose packets may each inflate to at most `max` bytes.
    pub fn new(max: usize) -> Self {
        Inflater {
            stream: Decompress::new(true),
            scratch: Vec::new(),
            max,
        }
    }

    /// The largest payload a packet may inflate to.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Inflates one packet's payload. More than [`Inflater::max`] bytes of output (a
    /// decompression bomb) or a corrupt stream is [`TransportError::Compression`]; memory stays
    /// at `max + 1` bytes whatever the input.
    pub fn decompress(&mut self, payload: &[u8]) -> Result<&[u8], TransportError> {
        let limit = self.max.saturating_add(1);
        self.scratch.clear();
        let mut consumed = 0usize;
        loop {
            if self.scratch.len() >= limit {
                return Err(TransportError::Compression(
                    "payload inflates past the packet size limit",
                ));
            }
            // Grow in steps (a small packet needs no 256 KiB), never past the limit.
            let room = (self.scratch.len().max(4096)).min(limit - self.scratch.len());
            self.scratch.reserve_exact(room);
            let (before_in, before_out) = (self.stream.total_in(), self.stream.total_out());
            let rest = payload.get(consumed..).unwrap_or(&[]);
            let status = self
                .stream
                .decompress_vec(rest, &mut self.scratch, FlushDecompress::Sync)
                .map_err(|_| TransportError::Compression("corrupt compressed data"))?;
            let took = usize::try_from(self.stream.total_in() - before_in).unwrap_or(usize::MAX);
            let made = self.stream.total_out() - before_out;
            consumed += took;
            if self.scratch.len() > self.max {
                return Err(TransportError::Compression(
                    "payload inflates past the packet size limit",
                ));
            }
            let all_in = consumed >= payload.len();
            let room_left = self.scratch.len() < self.scratch.capacity();
            match status {
                Status::StreamEnd => break,
                _ if all_in && room_left => break,
                // No progress with input left: the stream cannot go on.
                _ if took == 0 && made == 0 && room_left => {
                    return Err(TransportError::Compression("corrupt compressed data"));
                }
                _ => {}
            }
        }
        Ok(&self.scratch)
    }
}

#[cfg(test)]
#[path = "compress_tests.rs"]
mod tests;
