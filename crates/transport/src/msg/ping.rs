//! OpenSSH's transport-level ping (PROTOCOL §1.8 "transport: ping facility"): SSH2_MSG_PING and
//! SSH2_MSG_PONG, numbers from the local-extension range of RFC 4250 §4.1.2. A server that
//! takes them says so in EXT_INFO with `"ping@openssh.com"` = `"0"`; a PING is answered with a
//! PONG carrying the same data once the user is authenticated, in order, and not during a key
//! exchange.

use nacre_wire::{put, Decode, Encode, MsgNumber, Reader, WireError};

use super::slen;

/// SSH2_MSG_PING.
pub const PING: MsgNumber = MsgNumber(192);
/// SSH2_MSG_PONG.
pub const PONG: MsgNumber = MsgNumber(193);
/// The EXT_INFO extension that announces them, and its value.
pub const PING_EXTENSION: (&str, &[u8]) = ("ping@openssh.com", b"0");

/// SSH2_MSG_PING or SSH2_MSG_PONG (OpenSSH PROTOCOL §1.8); `pong` tells which.
///
/// ```text
/// byte      SSH_MSG_PING (192)  /  SSH_MSG_PONG (193)
/// string    data                   (the PONG copies the PING's, possibly empty)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping<'a> {
    /// True for SSH2_MSG_PONG.
    pub pong: bool,
    /// The data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for Ping<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let msg = r.u8()?;
        if msg != PING.0 && msg != PONG.0 {
            return Err(WireError::UnexpectedMessage {
                expected: PING.0,
                found: msg,
            });
        }
        Ok(Ping {
            pong: msg == PONG.0,
            data: r.string()?,
        })
    }
}

impl Encode for Ping<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.data.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, if self.pong { PONG.0 } else { PING.0 });
        put::string(out, self.data);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use nacre_wire::decode_exact;

    #[test]
    fn round_trip_and_trailing_bytes() {
        for pong in [false, true] {
            let m = Ping { pong, data: b"abc" };
            let bytes = m.to_bytes();
            assert_eq!(bytes[0], if pong { 193 } else { 192 });
            assert_eq!(decode_exact::<Ping<'_>>(&bytes).unwrap(), m);
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_exact::<Ping<'_>>(&longer).is_err());
        }
        assert!(decode_exact::<Ping<'_>>(&[192, 0, 0]).is_err());
        assert!(decode_exact::<Ping<'_>>(&[2, 0, 0, 0, 0]).is_err());
    }
}
