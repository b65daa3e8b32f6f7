//! The `Decode` / `Encode` trait pair every message implements.

use crate::error::WireError;
use crate::reader::Reader;

/// A value decoded from borrowed bytes (no payload copies).
///
/// The decoded value may borrow from the input: here a tuple of a `uint32` and a `string`.
///
/// ```
/// use nacre_wire::{Decode, Reader, WireError};
///
/// struct Pair<'a>(u32, &'a [u8]);
///
/// impl<'a> Decode<'a> for Pair<'a> {
///     fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
///         Ok(Pair(r.u32()?, r.string()?))
///     }
/// }
///
/// let input = [0, 0, 0, 7, 0, 0, 0, 2, b'h', b'i', 0xff];
/// let mut reader = Reader::new(&input);
/// let pair = Pair::decode(&mut reader)?;
/// assert_eq!((pair.0, pair.1), (7, &b"hi"[..]));
/// assert_eq!(reader.remaining(), &[0xff]); // the rest is left for the caller
/// # Ok::<(), WireError>(())
/// ```
pub trait Decode<'a>: Sized {
    /// Decodes one value from the front of `reader`.
    fn decode(reader: &mut Reader<'a>) -> Result<Self, WireError>;
}

/// A value that encodes itself in SSH wire format.
///
/// `encoded_len` must be exact: [`Encode::to_bytes`] allocates that much once.
///
/// ```
/// use nacre_wire::{put, Encode};
///
/// struct Ignore<'a>(&'a [u8]); // SSH_MSG_IGNORE (RFC 4253 §11.2)
///
/// impl Encode for Ignore<'_> {
///     fn encoded_len(&self) -> usize {
///         1 + 4 + self.0.len()
///     }
///     fn encode(&self, out: &mut Vec<u8>) {
///         put::byte(out, 2);
///         put::string(out, self.0);
///     }
/// }
///
/// let msg = Ignore(b"pad");
/// assert_eq!(msg.to_bytes(), [2, 0, 0, 0, 3, b'p', b'a', b'd']);
/// assert_eq!(msg.to_bytes().len(), msg.encoded_len());
/// ```
pub trait Encode {
    /// Exact number of bytes [`Encode::encode`] appends.
    fn encoded_len(&self) -> usize;
    /// Appends the encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// The encoding in a new vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }
}

/// Decodes a value that must fill `input` exactly: trailing bytes are an error.
///
/// ```
/// use nacre_wire::{decode_exact, Decode, Reader, WireError};
///
/// #[derive(Debug)]
/// struct WindowAdjust { recipient: u32, bytes: u32 }
///
/// impl<'a> Decode<'a> for WindowAdjust {
///     fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
///         r.expect_msg(93)?; // SSH_MSG_CHANNEL_WINDOW_ADJUST
///         Ok(WindowAdjust { recipient: r.u32()?, bytes: r.u32()? })
///     }
/// }
///
/// let packet = [93, 0, 0, 0, 1, 0, 0, 0x80, 0];
/// let msg: WindowAdjust = decode_exact(&packet)?;
/// assert_eq!((msg.recipient, msg.bytes), (1, 0x8000));
///
/// // One byte too many is refused, not silently ignored.
/// let err = decode_exact::<WindowAdjust>(&[93, 0, 0, 0, 1, 0, 0, 0x80, 0, 0]).unwrap_err();
/// assert_eq!(err, WireError::TrailingData { len: 1 });
/// # Ok::<(), WireError>(())
/// ```
pub fn decode_exact<'a, T: Decode<'a>>(input: &'a [u8]) -> Result<T, WireError> {
    let mut reader = Reader::new(input);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}
