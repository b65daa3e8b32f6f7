//! The [`Field`] trait: one value inside an SFTP message, read from and written to the wire.

use std::borrow::Cow;

use nacre_wire::{put, Reader, WireError};

use crate::codes::{OpenFlags, StatusCode};

/// A value that appears as a field of an SFTP message (RFC 4251 §5 data types and the SFTP
/// compounds built from them). Reading borrows from the input.
pub trait Field<'a>: Sized {
    /// Reads the field from the front of `r`.
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError>;
    /// Exact number of bytes [`Field::write`] appends.
    fn wire_len(&self) -> usize;
    /// Appends the field to `out`.
    fn write(&self, out: &mut Vec<u8>);
}

/// Encoded length of a `string` holding `n` bytes.
pub(crate) fn slen(n: usize) -> usize {
    4 + n
}

impl<'a> Field<'a> for u32 {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.u32()
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::uint32(out, *self);
    }
}

impl<'a> Field<'a> for u64 {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.u64()
    }
    fn wire_len(&self) -> usize {
        8
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::uint64(out, *self);
    }
}

/// A `string` of arbitrary bytes (paths, handles, data), borrowed.
impl<'a> Field<'a> for &'a [u8] {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.string()
    }
    fn wire_len(&self) -> usize {
        slen(<[u8]>::len(self))
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::string(out, self);
    }
}

/// A `string` of UTF-8 text, decoded lossily: a peer's bad UTF-8 in a message meant for humans
/// must not hide the rest of the packet. Borrowed when the text is valid.
impl<'a> Field<'a> for Cow<'a, str> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Ok(String::from_utf8_lossy(r.string()?))
    }
    fn wire_len(&self) -> usize {
        slen(str::len(self))
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::string(out, self.as_bytes());
    }
}

impl<'a> Field<'a> for OpenFlags {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Ok(OpenFlags(r.u32()?))
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.0);
    }
}

impl<'a> Field<'a> for StatusCode {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Ok(StatusCode(r.u32()?))
    }
    fn wire_len(&self) -> usize {
        4
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.0);
    }
}
