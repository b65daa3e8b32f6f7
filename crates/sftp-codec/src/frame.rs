//! Packet framing (draft-ietf-secsh-filexfer-02 §3): `uint32 length || byte type || ...`.
//!
//! The length counts everything after itself. A declared length above the cap (256 KiB by
//! default, like OpenSSH's `SFTP_MAX_MSG_LENGTH`) is refused as soon as its four bytes are seen,
//! before any byte of that packet is buffered; a length of 0 (no type byte) is refused too.

use nacre_wire::{put, Encode, WireError};

use crate::codes::PacketType;
use crate::request::Request;
use crate::response::Response;
use crate::DEFAULT_MAX_PACKET_LEN;

/// One packet without its length field: the type byte and the rest. Never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    /// A frame over `bytes` (type byte onwards); empty input is refused.
    pub fn new(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.is_empty() {
            return Err(WireError::InvalidValue("empty SFTP packet"));
        }
        Ok(Frame { bytes })
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        PacketType(self.bytes.first().copied().unwrap_or_default())
    }

    /// The packet from the type byte on.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The packet after the type byte.
    pub fn body(&self) -> &'a [u8] {
        self.bytes.get(1..).unwrap_or_default()
    }

    /// The request id, for types that carry one and packets long enough to hold it. Useful to
    /// answer a packet that fails to decode with a STATUS for the right request.
    pub fn request_id(&self) -> Option<u32> {
        if !self.packet_type().has_request_id() {
            return None;
        }
        let id = self.body().first_chunk::<4>()?;
        Some(u32::from_be_bytes(*id))
    }

    /// Length of the frame on the wire, length field included.
    pub fn wire_len(&self) -> usize {
        4 + self.bytes.len()
    }

    /// Decodes the frame as a client's packet.
    pub fn decode_request(&self) -> Result<Request<'a>, WireError> {
        Request::decode_bytes(self.bytes)
    }

    /// Decodes the frame as a client's packet the way a server does, ignoring bytes after the
    /// request's last field ([`Request::decode_tolerant`]); returns how many were ignored.
    pub fn decode_request_tolerant(&self) -> Result<(Request<'a>, usize), WireError> {
        Request::decode_tolerant(self.bytes)
    }

    /// Decodes the frame as a server's packet.
    pub fn decode_response(&self) -> Result<Response<'a>, WireError> {
        Response::decode_bytes(self.bytes)
    }
}

/// Checks a length field against the cap.
fn check_len(len: u32, max_len: usize) -> Result<usize, WireError> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max_len {
        return Err(WireError::TooLong {
            what: "SFTP packet",
            len,
            max: max_len,
        });
    }
    if len == 0 {
        return Err(WireError::InvalidValue("empty SFTP packet"));
    }
    Ok(len)
}

/// Parses the first frame of `input`: `Ok(None)` when more bytes are needed, otherwise the frame
/// and the number of bytes it took (length field included). A length above `max_len` is an
/// error as soon as the four length bytes are present.
pub fn parse_frame(input: &[u8], max_len: usize) -> Result<Option<(Frame<'_>, usize)>, WireError> {
    let Some((len, rest)) = input.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let len = check_len(u32::from_be_bytes(*len), max_len)?;
    match rest.get(..len) {
        Some(bytes) => Ok(Some((Frame { bytes }, 4 + len))),
        None => Ok(None),
    }
}

/// Appends `msg` as a frame (length field, then the message from its type byte) to `out`,
/// encoding straight into the caller's buffer. Returns the number of bytes appended.
pub fn encode_frame<M: Encode + ?Sized>(msg: &M, out: &mut Vec<u8>) -> usize {
    let len = msg.encoded_len();
    out.reserve(4 + len);
    put::uint32(out, put::len32(len));
    msg.encode(out);
    4 + len
}

/// Number of bytes [`encode_frame`] appends for `msg`.
pub fn frame_len<M: Encode + ?Sized>(msg: &M) -> usize {
    4 + msg.encoded_len()
}

/// Accumulates a byte stream in any split (one byte at a time works) and yields whole frames.
///
/// ```text
/// decoder.push(bytes_from_peer)?;
/// while let Some(frame) = decoder.next_frame()? {
///     let request = frame.decode_request();
///     ...
/// }
/// ```
///
/// A declared length above the cap is refused when its four bytes arrive, before any of that
/// packet's bytes are buffered; memory never grows past the cap plus the bytes of one `push`.
/// After an error the stream is out of sync: every later call returns the same error.
///
/// A server reading a client's OPEN that arrives in two pieces:
///
/// ```
/// use nacre_sftp_codec::{encode_frame, FileAttributes, FrameDecoder, Open, OpenFlags};
/// use nacre_sftp_codec::{PacketType, Request};
///
/// let open = Open {
///     id: 7,
///     filename: b"/upload/report.csv",
///     pflags: OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
///     attrs: FileAttributes::default().with_permissions(0o644),
/// };
/// let mut wire = Vec::new();
/// encode_frame(&open, &mut wire);
///
/// let mut decoder = FrameDecoder::new();
/// decoder.push(&wire[..10])?;
/// assert!(decoder.next_frame()?.is_none()); // not whole yet
/// decoder.push(&wire[10..])?;
/// let frame = decoder.next_frame()?.expect("a whole packet");
/// assert_eq!((frame.packet_type(), frame.request_id()), (PacketType::OPEN, Some(7)));
/// assert_eq!(frame.decode_request()?, Request::Open(open));
///
/// // A length field above the cap is refused before anything is buffered.
/// assert!(FrameDecoder::with_max_len(1024).push(&[0, 1, 0, 0]).is_err());
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_len: usize,
    error: Option<WireError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder with the default cap, [`DEFAULT_MAX_PACKET_LEN`] (256 KiB).
    pub fn new() -> Self {
        FrameDecoder::with_max_len(DEFAULT_MAX_PACKET_LEN)
    }

    /// A decoder refusing packets whose length field exceeds `max_len`.
    pub fn with_max_len(max_len: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_len,
            error: None,
        }
    }

    /// The cap on the length field.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Bytes received and not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Adds bytes from the peer. Fails when the packet they start or continue declares a length
    /// above the cap (those bytes are then not buffered).
    pub fn push(&mut self, data: &[u8]) -> Result<(), WireError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.compact();
        // Check the first pending packet's length field before buffering anything more.
        let mut header = [0u8; 4];
        let pending = self.buf.iter().chain(data.iter()).take(4);
        let mut have = 0;
        for (slot, byte) in header.iter_mut().zip(pending) {
            *slot = *byte;
            have += 1;
        }
        if have == 4 {
            match check_len(u32::from_be_bytes(header), self.max_len) {
                Ok(len) => {
                    // Room for the whole packet (bounded by the cap) and what was pushed.
                    let want = (4 + len).max(self.buf.len() + data.len());
                    self.buf.reserve(want.saturating_sub(self.buf.len()));
                }
                Err(e) => {
                    self.error = Some(e.clone());
                    return Err(e);
                }
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// The next whole frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, WireError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let pending = self.buf.get(self.start..).unwrap_or_default();
        let used = match parse_frame(pending, self.max_len) {
            Ok(Some((_, used))) => used,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.error = Some(e.clone());
                return Err(e);
            }
        };
        let begin = self.start;
        self.start += used;
        let bytes = self.buf.get(begin + 4..begin + used).unwrap_or_default();
        Ok(Some(Frame { bytes }))
    }

    /// Drops the bytes of frames already returned.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start >= self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.start);
        }
        self.start = 0;
    }
}
