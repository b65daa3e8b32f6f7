//! Public key method messages (RFC 4252 §7).

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use nacre_wire::MsgNumber;

use super::{slen, USERAUTH_PK_OK};

/// SSH_MSG_USERAUTH_PK_OK (RFC 4252 §7).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_PK_OK
/// string    public key algorithm name from the request
/// string    public key blob from the request
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkOk<'a> {
    /// Algorithm from the request.
    pub algorithm: &'a str,
    /// Key blob from the request.
    pub key_blob: &'a [u8],
}

impl<'a> Decode<'a> for PkOk<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(USERAUTH_PK_OK.0)?;
        Ok(PkOk {
            algorithm: r.utf8()?,
            key_blob: r.string()?,
        })
    }
}

impl Encode for PkOk<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.algorithm.len()) + slen(self.key_blob.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, USERAUTH_PK_OK.0);
        put::string(out, self.algorithm.as_bytes());
        put::string(out, self.key_blob);
    }
}

/// The data a public key signature covers (RFC 4252 §7):
///
/// ```text
/// string    session identifier
/// byte      SSH_MSG_USERAUTH_REQUEST
/// string    user name
/// string    service name
/// string    "publickey"
/// boolean   TRUE
/// string    public key algorithm name
/// string    public key to be used for authentication
/// ```
pub fn signed_data(
    session_id: &[u8],
    user: &str,
    service: &str,
    algorithm: &str,
    key_blob: &[u8],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(64 + session_id.len() + user.len() + service.len() + key_blob.len());
    put::string(&mut out, session_id);
    put::byte(&mut out, MsgNumber::USERAUTH_REQUEST.0);
    put::string(&mut out, user.as_bytes());
    put::string(&mut out, service.as_bytes());
    put::string(&mut out, b"publickey");
    put::boolean(&mut out, true);
    put::string(&mut out, algorithm.as_bytes());
    put::string(&mut out, key_blob);
    out
}
