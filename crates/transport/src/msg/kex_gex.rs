//! Diffie-Hellman group exchange messages (RFC 4419 §3, §5): numbers 31–34 in a GEX context.

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use super::slen;

/// SSH_MSG_KEX_DH_GEX_GROUP message number.
pub const KEX_DH_GEX_GROUP: u8 = 31;
/// SSH_MSG_KEX_DH_GEX_INIT message number.
pub const KEX_DH_GEX_INIT: u8 = 32;
/// SSH_MSG_KEX_DH_GEX_REPLY message number.
pub const KEX_DH_GEX_REPLY: u8 = 33;
/// SSH_MSG_KEX_DH_GEX_REQUEST message number.
pub const KEX_DH_GEX_REQUEST: u8 = 34;

/// SSH_MSG_KEX_DH_GEX_REQUEST (RFC 4419 §3).
///
/// ```text
/// byte    SSH_MSG_KEY_DH_GEX_REQUEST
/// uint32  min, minimal size in bits of an acceptable group
/// uint32  n, preferred size in bits of the group the server will send
/// uint32  max, maximal size in bits of an acceptable group
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KexDhGexRequest {
    /// min.
    pub min: u32,
    /// n.
    pub n: u32,
    /// max.
    pub max: u32,
}

impl<'a> Decode<'a> for KexDhGexRequest {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEX_DH_GEX_REQUEST)?;
        Ok(KexDhGexRequest {
            min: r.u32()?,
            n: r.u32()?,
            max: r.u32()?,
        })
    }
}

impl Encode for KexDhGexRequest {
    fn encoded_len(&self) -> usize {
        13
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEX_DH_GEX_REQUEST);
        put::uint32(out, self.min);
        put::uint32(out, self.n);
        put::uint32(out, self.max);
    }
}

/// SSH_MSG_KEX_DH_GEX_GROUP (RFC 4419 §3).
///
/// ```text
/// byte    SSH_MSG_KEX_DH_GEX_GROUP
/// mpint   p, safe prime
/// mpint   g, generator for subgroup in GF(p)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexDhGexGroup<'a> {
    /// p, big-endian magnitude.
    pub p: &'a [u8],
    /// g, big-endian magnitude.
    pub g: &'a [u8],
}

impl<'a> Decode<'a> for KexDhGexGroup<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEX_DH_GEX_GROUP)?;
        Ok(KexDhGexGroup {
            p: r.mpint()?.unsigned_magnitude()?,
            g: r.mpint()?.unsigned_magnitude()?,
        })
    }
}

impl Encode for KexDhGexGroup<'_> {
    fn encoded_len(&self) -> usize {
        1 + put::mpint_unsigned_len(self.p) + put::mpint_unsigned_len(self.g)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEX_DH_GEX_GROUP);
        put::mpint_unsigned(out, self.p);
        put::mpint_unsigned(out, self.g);
    }
}

/// SSH_MSG_KEX_DH_GEX_INIT (RFC 4419 §3).
///
/// ```text
/// byte    SSH_MSG_KEX_DH_GEX_INIT
/// mpint   e
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexDhGexInit<'a> {
    /// e, big-endian magnitude.
    pub e: &'a [u8],
}

impl<'a> Decode<'a> for KexDhGexInit<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEX_DH_GEX_INIT)?;
        Ok(KexDhGexInit {
            e: r.mpint()?.unsigned_magnitude()?,
        })
    }
}

impl Encode for KexDhGexInit<'_> {
    fn encoded_len(&self) -> usize {
        1 + put::mpint_unsigned_len(self.e)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEX_DH_GEX_INIT);
        put::mpint_unsigned(out, self.e);
    }
}

/// SSH_MSG_KEX_DH_GEX_REPLY (RFC 4419 §3).
///
/// ```text
/// byte      SSH_MSG_KEX_DH_GEX_REPLY
/// string    server public host key and certificates (K_S)
/// mpint     f
/// string    signature of H
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexDhGexReply<'a> {
    /// K_S.
    pub k_s: &'a [u8],
    /// f, big-endian magnitude.
    pub f: &'a [u8],
    /// Signature of H.
    pub signature: &'a [u8],
}

impl<'a> Decode<'a> for KexDhGexReply<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEX_DH_GEX_REPLY)?;
        Ok(KexDhGexReply {
            k_s: r.string()?,
            f: r.mpint()?.unsigned_magnitude()?,
            signature: r.string()?,
        })
    }
}

impl Encode for KexDhGexReply<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.k_s.len()) + put::mpint_unsigned_len(self.f) + slen(self.signature.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEX_DH_GEX_REPLY);
        put::string(out, self.k_s);
        put::mpint_unsigned(out, self.f);
        put::string(out, self.signature);
    }
}
