//! Password method messages (RFC 4252 §8).

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use super::{slen, USERAUTH_PASSWD_CHANGEREQ};

/// SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (RFC 4252 §8).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_PASSWD_CHANGEREQ
/// string    prompt in ISO-10646 UTF-8 encoding
/// string    language tag
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdChangeReq<'a> {
    /// Prompt shown to the user.
    pub prompt: &'a str,
    /// Language tag.
    pub language: &'a str,
}

impl<'a> Decode<'a> for PasswdChangeReq<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(USERAUTH_PASSWD_CHANGEREQ.0)?;
        Ok(PasswdChangeReq {
            prompt: r.utf8()?,
            language: r.utf8()?,
        })
    }
}

impl Encode for PasswdChangeReq<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.prompt.len()) + slen(self.language.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, USERAUTH_PASSWD_CHANGEREQ.0);
        put::string(out, self.prompt.as_bytes());
        put::string(out, self.language.as_bytes());
    }
}
