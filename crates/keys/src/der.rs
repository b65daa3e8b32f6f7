//! A minimal DER reader (ITU-T X.690 §8, §10) for the PEM private key formats OpenSSH reads:
//! PKCS#1 `RSAPrivateKey` (RFC 8017 §A.1.2), SEC1 `ECPrivateKey` (RFC 5915 §3) and PKCS#8
//! `PrivateKeyInfo` (RFC 5208 §5). Only what those structures use: single-byte tags, definite
//! lengths.

use crate::KeyError;

/// DER tag of an INTEGER.
pub(crate) const INTEGER: u8 = 0x02;
/// DER tag of a BIT STRING.
pub(crate) const BIT_STRING: u8 = 0x03;
/// DER tag of an OCTET STRING.
pub(crate) const OCTET_STRING: u8 = 0x04;
/// DER tag of a NULL.
pub(crate) const NULL: u8 = 0x05;
/// DER tag of an OBJECT IDENTIFIER.
pub(crate) const OID: u8 = 0x06;
/// DER tag of a SEQUENCE (constructed).
pub(crate) const SEQUENCE: u8 = 0x30;

/// A cursor over DER-encoded values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Der<'a> {
    rest: &'a [u8],
}

fn bad(what: &'static str) -> KeyError {
    KeyError::InvalidFormat(what)
}

impl<'a> Der<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Der { rest: input }
    }

    /// The tag of the next value, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one tag-length-value and returns the tag and the value's bytes.
    pub(crate) fn tlv(&mut self) -> Result<(u8, &'a [u8]), KeyError> {
        let (&tag, rest) = self.rest.split_first().ok_or(bad("DER: truncated tag"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad("DER: multi-byte tags are not supported"));
        }
        let (&first, mut rest) = rest.split_first().ok_or(bad("DER: truncated length"))?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(bad("DER: unsupported length encoding"));
            }
            let (len_bytes, after) = rest
                .split_at_checked(count)
                .ok_or(bad("DER: truncated length"))?;
            rest = after;
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        let (value, rest) = rest
            .split_at_checked(len)
            .ok_or(bad("DER: value exceeds its input"))?;
        self.rest = rest;
        Ok((tag, value))
    }

    /// Reads a value that must have tag `tag`.
    pub(crate) fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], KeyError> {
        match self.tlv()? {
            (t, value) if t == tag => Ok(value),
            _ => Err(bad(what)),
        }
    }

    /// Reads a SEQUENCE and returns a cursor over its contents.
    pub(crate) fn sequence(&mut self) -> Result<Der<'a>, KeyError> {
        self.expect(SEQUENCE, "DER: expected a SEQUENCE")
            .map(Der::new)
    }

    /// Reads a non-negative INTEGER and returns its big-endian magnitude without leading zeros.
    pub(crate) fn unsigned(&mut self) -> Result<&'a [u8], KeyError> {
        let v = self.expect(INTEGER, "DER: expected an INTEGER")?;
        match v.first() {
            None => Err(bad("DER: empty INTEGER")),
            Some(b) if b & 0x80 != 0 => Err(bad("DER: negative INTEGER")),
            _ => Ok(crate::public::trim_zeros(v)),
        }
    }

    /// Reads a small non-negative INTEGER (a version field).
    pub(crate) fn small_uint(&mut self) -> Result<u32, KeyError> {
        let v = self.unsigned()?;
        if v.len() > 4 {
            return Err(bad("DER: version number too large"));
        }
        Ok(v.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }

    /// Reads an optional context-specific constructed `[n]` value.
    pub(crate) fn optional_context(&mut self, n: u8) -> Result<Option<&'a [u8]>, KeyError> {
        if self.peek_tag() == Some(0xa0 | n) {
            self.tlv().map(|(_, v)| Some(v))
        } else {
            Ok(None)
        }
    }

    /// True when nothing remains.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Fails unless nothing remains.
    pub(crate) fn finish(self, what: &'static str) -> Result<(), KeyError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(bad(what))
        }
    }
}
