//! The `Decode` / `Encode` trait pair every message implements.

use crate::error::WireError;
use crate::reader::Reader;

/// A value decoded from borrowed bytes (no payload copies).
pub trait Decode<'a>: Sized {
    /// Decodes one value from the front of `reader`.
    fn decode(reader: &mut Reader<'a>) -> Result<Self, WireError>;
}

/// A value that encodes itself in SSH wire format.
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
pub fn decode_exact<'a, T: Decode<'a>>(input: &'a [u8]) -> Result<T, WireError> {
    let mut reader = Reader::new(input);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}
