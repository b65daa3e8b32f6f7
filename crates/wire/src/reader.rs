//! A cursor over a message's bytes, built on the nom parsers, for hand-written decoders.

use crate::error::{from_nom, WireError};
use crate::parse;
use crate::types::{Mpint, NameList};

/// Reads SSH data types one after another from a borrowed buffer.
///
/// Every read checks the length first; a short input is [`WireError::Truncated`].
///
/// ```
/// use nacre_wire::{Reader, WireError};
///
/// // SSH_MSG_DEBUG: boolean always_display, string message, string language
/// let payload = b"\x04\x01\0\0\0\x02hi\0\0\0\0";
/// let mut r = Reader::new(payload);
/// r.expect_msg(4)?;
/// assert!(r.bool()?);
/// assert_eq!(r.utf8()?, "hi");
/// assert_eq!(r.string()?, b"");
/// r.finish()?;
///
/// let mut short = Reader::new(&[0, 0, 0, 9, b'x']);
/// assert!(matches!(short.string(), Err(WireError::Truncated { .. })));
/// # Ok::<(), WireError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    fn run<T>(&mut self, p: impl Fn(&'a [u8]) -> parse::PResult<'a, T>) -> Result<T, WireError> {
        let (rest, v) = p(self.rest).map_err(from_nom)?;
        self.rest = rest;
        Ok(v)
    }

    /// Reads a `byte`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        self.run(parse::byte)
    }
    /// Reads a `boolean`.
    pub fn bool(&mut self) -> Result<bool, WireError> {
        self.run(parse::boolean)
    }
    /// Reads a `uint32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        self.run(parse::uint32)
    }
    /// Reads a `uint64`.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        self.run(parse::uint64)
    }
    /// Reads a `string` (borrowed bytes).
    pub fn string(&mut self) -> Result<&'a [u8], WireError> {
        self.run(parse::string)
    }
    /// Reads a UTF-8 `string`.
    pub fn utf8(&mut self) -> Result<&'a str, WireError> {
        self.run(parse::utf8)
    }
    /// Reads an `mpint`.
    pub fn mpint(&mut self) -> Result<Mpint<'a>, WireError> {
        self.run(parse::mpint)
    }
    /// Reads a `name-list`.
    pub fn name_list(&mut self) -> Result<NameList<'a>, WireError> {
        self.run(parse::name_list)
    }
    /// Reads `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated {
                needed: n - self.rest.len(),
            });
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }
    /// Reads a fixed-size array of raw bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        match self.rest.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.rest = rest;
                Ok(*head)
            }
            None => Err(WireError::Truncated {
                needed: N - self.rest.len(),
            }),
        }
    }
    /// Reads the message number and checks it.
    pub fn expect_msg(&mut self, expected: u8) -> Result<(), WireError> {
        let found = self.u8()?;
        if found == expected {
            Ok(())
        } else {
            Err(WireError::UnexpectedMessage { expected, found })
        }
    }
    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }
    /// Takes all the bytes not read yet.
    pub fn take_rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }
    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
    /// Fails with [`WireError::TrailingData`] unless everything was read.
    pub fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingData {
                len: self.rest.len(),
            })
        }
    }
}
