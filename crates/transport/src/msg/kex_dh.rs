//! Finite-field Diffie-Hellman messages (RFC 4253 §8): numbers 30 and 31 in a DH context.

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use super::slen;

/// SSH_MSG_KEXDH_INIT message number.
pub const KEXDH_INIT: u8 = 30;
/// SSH_MSG_KEXDH_REPLY message number.
pub const KEXDH_REPLY: u8 = 31;

/// SSH_MSG_KEXDH_INIT (RFC 4253 §8).
///
/// ```text
/// byte      SSH_MSG_KEXDH_INIT
/// mpint     e
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexdhInit<'a> {
    /// e, as a big-endian magnitude (must not be negative).
    pub e: &'a [u8],
}

impl<'a> Decode<'a> for KexdhInit<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEXDH_INIT)?;
        Ok(KexdhInit {
            e: r.mpint()?.unsigned_magnitude()?,
        })
    }
}

impl Encode for KexdhInit<'_> {
    fn encoded_len(&self) -> usize {
        1 + put::mpint_unsigned_len(self.e)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEXDH_INIT);
        put::mpint_unsigned(out, self.e);
    }
}

/// SSH_MSG_KEXDH_REPLY (RFC 4253 §8).
///
/// ```text
/// byte      SSH_MSG_KEXDH_REPLY
/// string    server public host key and certificates (K_S)
/// mpint     f
/// string    signature of H
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexdhReply<'a> {
    /// K_S.
    pub k_s: &'a [u8],
    /// f, as a big-endian magnitude.
    pub f: &'a [u8],
    /// Signature of H.
    pub signature: &'a [u8],
}

impl<'a> Decode<'a> for KexdhReply<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEXDH_REPLY)?;
        Ok(KexdhReply {
            k_s: r.string()?,
            f: r.mpint()?.unsigned_magnitude()?,
            signature: r.string()?,
        })
    }
}

impl Encode for KexdhReply<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.k_s.len()) + put::mpint_unsigned_len(self.f) + slen(self.signature.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEXDH_REPLY);
        put::string(out, self.k_s);
        put::mpint_unsigned(out, self.f);
        put::string(out, self.signature);
    }
}
