//! Keyboard-interactive messages (RFC 4256 §3.2–3.4).

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use super::{slen, USERAUTH_INFO_REQUEST, USERAUTH_INFO_RESPONSE};

/// Most prompts (or responses) accepted in one message; OpenSSH uses 100.
pub const MAX_PROMPTS: u32 = 100;

/// One prompt of an INFO_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The prompt text.
    pub prompt: String,
    /// Whether the response may be echoed.
    pub echo: bool,
}

/// SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_INFO_REQUEST
/// string    name (ISO-10646 UTF-8)
/// string    instruction (ISO-10646 UTF-8)
/// string    language tag (as defined in [RFC-3066])
/// int       num-prompts
/// string    prompt[1] (ISO-10646 UTF-8)
/// boolean   echo[1]
/// ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfoRequest {
    /// Name of the request.
    pub name: String,
    /// Instructions.
    pub instruction: String,
    /// Language tag.
    pub language: String,
    /// The prompts.
    pub prompts: Vec<Prompt>,
}

impl<'a> Decode<'a> for InfoRequest {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(USERAUTH_INFO_REQUEST.0)?;
        let name = r.utf8()?.to_owned();
        let instruction = r.utf8()?.to_owned();
        let language = r.utf8()?.to_owned();
        let count = r.u32()?;
        if count > MAX_PROMPTS {
            return Err(WireError::TooLong {
                what: "num-prompts",
                len: count as usize,
                max: MAX_PROMPTS as usize,
            });
        }
        let mut prompts = Vec::new();
        for _ in 0..count {
            prompts.push(Prompt {
                prompt: r.utf8()?.to_owned(),
                echo: r.bool()?,
            });
        }
        Ok(InfoRequest {
            name,
            instruction,
            language,
            prompts,
        })
    }
}

impl Encode for InfoRequest {
    fn encoded_len(&self) -> usize {
        1 + slen(self.name.len())
            + slen(self.instruction.len())
            + slen(self.language.len())
            + 4
            + self
                .prompts
                .iter()
                .map(|p| slen(p.prompt.len()) + 1)
                .sum::<usize>()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, USERAUTH_INFO_REQUEST.0);
        put::string(out, self.name.as_bytes());
        put::string(out, self.instruction.as_bytes());
        put::string(out, self.language.as_bytes());
        put::uint32(out, put::len32(self.prompts.len()));
        for p in &self.prompts {
            put::string(out, p.prompt.as_bytes());
            put::boolean(out, p.echo);
        }
    }
}

/// SSH_MSG_USERAUTH_INFO_RESPONSE (RFC 4256 §3.4).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_INFO_RESPONSE
/// int       num-responses
/// string    response[1] (ISO-10646 UTF-8)
/// ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfoResponse {
    /// The responses, one per prompt.
    pub responses: Vec<zeroize::Zeroizing<String>>,
}

impl<'a> Decode<'a> for InfoResponse {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(USERAUTH_INFO_RESPONSE.0)?;
        let count = r.u32()?;
        if count > MAX_PROMPTS {
            return Err(WireError::TooLong {
                what: "num-responses",
                len: count as usize,
                max: MAX_PROMPTS as usize,
            });
        }
        let mut responses = Vec::new();
        for _ in 0..count {
            responses.push(zeroize::Zeroizing::new(r.utf8()?.to_owned()));
        }
        Ok(InfoResponse { responses })
    }
}

impl Encode for InfoResponse {
    fn encoded_len(&self) -> usize {
        1 + 4 + self.responses.iter().map(|s| slen(s.len())).sum::<usize>()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, USERAUTH_INFO_RESPONSE.0);
        put::uint32(out, put::len32(self.responses.len()));
        for s in &self.responses {
            put::string(out, s.as_bytes());
        }
    }
}
