//! ECDH key exchange messages (RFC 5656 §4, RFC 8731 §3): numbers 30 and 31 in an ECDH context.

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use super::slen;

/// SSH_MSG_KEX_ECDH_INIT message number.
pub const KEX_ECDH_INIT: u8 = 30;
/// SSH_MSG_KEX_ECDH_REPLY message number.
pub const KEX_ECDH_REPLY: u8 = 31;

/// SSH_MSG_KEX_ECDH_INIT (RFC 5656 §4).
///
/// ```text
/// byte     SSH_MSG_KEX_ECDH_INIT
/// string   Q_C, client's ephemeral public key octet string
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexEcdhInit<'a> {
    /// Q_C.
    pub q_c: &'a [u8],
}

impl<'a> Decode<'a> for KexEcdhInit<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEX_ECDH_INIT)?;
        Ok(KexEcdhInit { q_c: r.string()? })
    }
}

impl Encode for KexEcdhInit<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.q_c.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEX_ECDH_INIT);
        put::string(out, self.q_c);
    }
}

/// SSH_MSG_KEX_ECDH_REPLY (RFC 5656 §4).
///
/// ```text
/// byte     SSH_MSG_KEX_ECDH_REPLY
/// string   K_S, server's public host key
/// string   Q_S, server's ephemeral public key octet string
/// string   the signature on the exchange hash
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexEcdhReply<'a> {
    /// K_S.
    pub k_s: &'a [u8],
    /// Q_S.
    pub q_s: &'a [u8],
    /// Signature of H.
    pub signature: &'a [u8],
}

impl<'a> Decode<'a> for KexEcdhReply<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(KEX_ECDH_REPLY)?;
        Ok(KexEcdhReply {
            k_s: r.string()?,
            q_s: r.string()?,
            signature: r.string()?,
        })
    }
}

impl Encode for KexEcdhReply<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.k_s.len()) + slen(self.q_s.len()) + slen(self.signature.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, KEX_ECDH_REPLY);
        put::string(out, self.k_s);
        put::string(out, self.q_s);
        put::string(out, self.signature);
    }
}
