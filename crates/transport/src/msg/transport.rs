//! Generic transport messages: RFC 4253 §10 (service request) and §11 (additional messages).

use nacre_wire::{put, Decode, DisconnectReason, Encode, MsgNumber, Reader, WireError};

use super::slen;

/// SSH_MSG_DISCONNECT (RFC 4253 §11.1).
///
/// ```text
/// byte      SSH_MSG_DISCONNECT
/// uint32    reason code
/// string    description in ISO-10646 UTF-8 encoding
/// string    language tag
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Reason code.
    pub reason: DisconnectReason,
    /// Human-readable description. Decoded lossily: a peer's bad UTF-8 must not hide the reason.
    pub description: std::borrow::Cow<'a, str>,
    /// Language tag.
    pub language: &'a [u8],
}

impl<'a> Decode<'a> for Disconnect<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::DISCONNECT.0)?;
        let reason = DisconnectReason(r.u32()?);
        let description = String::from_utf8_lossy(r.string()?);
        // Some implementations omit the language tag.
        let language = if r.is_empty() { &[][..] } else { r.string()? };
        Ok(Disconnect {
            reason,
            description,
            language,
        })
    }
}

impl Encode for Disconnect<'_> {
    fn encoded_len(&self) -> usize {
        1 + 4 + slen(self.description.len()) + slen(self.language.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::DISCONNECT.0);
        put::uint32(out, self.reason.0);
        put::string(out, self.description.as_bytes());
        put::string(out, self.language);
    }
}

/// SSH_MSG_IGNORE (RFC 4253 §11.2).
///
/// ```text
/// byte      SSH_MSG_IGNORE
/// string    data
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignore<'a> {
    /// Arbitrary data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for Ignore<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::IGNORE.0)?;
        Ok(Ignore { data: r.string()? })
    }
}

impl Encode for Ignore<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.data.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::IGNORE.0);
        put::string(out, self.data);
    }
}

/// SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4).
///
/// ```text
/// byte      SSH_MSG_UNIMPLEMENTED
/// uint32    packet sequence number of rejected message
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unimplemented {
    /// Sequence number of the rejected packet.
    pub seq: u32,
}

impl<'a> Decode<'a> for Unimplemented {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::UNIMPLEMENTED.0)?;
        Ok(Unimplemented { seq: r.u32()? })
    }
}

impl Encode for Unimplemented {
    fn encoded_len(&self) -> usize {
        5
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::UNIMPLEMENTED.0);
        put::uint32(out, self.seq);
    }
}

/// SSH_MSG_DEBUG (RFC 4253 §11.3).
///
/// ```text
/// byte      SSH_MSG_DEBUG
/// boolean   always_display
/// string    message in ISO-10646 UTF-8 encoding
/// string    language tag
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debug<'a> {
    /// Whether the message should be shown to the user.
    pub always_display: bool,
    /// The message, decoded lossily.
    pub message: std::borrow::Cow<'a, str>,
    /// Language tag.
    pub language: &'a [u8],
}

impl<'a> Decode<'a> for Debug<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::DEBUG.0)?;
        let always_display = r.bool()?;
        let message = String::from_utf8_lossy(r.string()?);
        let language = if r.is_empty() { &[][..] } else { r.string()? };
        Ok(Debug {
            always_display,
            message,
            language,
        })
    }
}

impl Encode for Debug<'_> {
    fn encoded_len(&self) -> usize {
        2 + slen(self.message.len()) + slen(self.language.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::DEBUG.0);
        put::boolean(out, self.always_display);
        put::string(out, self.message.as_bytes());
        put::string(out, self.language);
    }
}

/// SSH_MSG_SERVICE_REQUEST (RFC 4253 §10).
///
/// ```text
/// byte      SSH_MSG_SERVICE_REQUEST
/// string    service name
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest<'a> {
    /// The service, e.g. `ssh-userauth`.
    pub name: &'a str,
}

impl<'a> Decode<'a> for ServiceRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::SERVICE_REQUEST.0)?;
        Ok(ServiceRequest { name: r.utf8()? })
    }
}

impl Encode for ServiceRequest<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.name.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::SERVICE_REQUEST.0);
        put::string(out, self.name.as_bytes());
    }
}

/// SSH_MSG_SERVICE_ACCEPT (RFC 4253 §10).
///
/// ```text
/// byte      SSH_MSG_SERVICE_ACCEPT
/// string    service name
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccept<'a> {
    /// The service accepted.
    pub name: &'a str,
}

impl<'a> Decode<'a> for ServiceAccept<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::SERVICE_ACCEPT.0)?;
        Ok(ServiceAccept { name: r.utf8()? })
    }
}

impl Encode for ServiceAccept<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.name.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::SERVICE_ACCEPT.0);
        put::string(out, self.name.as_bytes());
    }
}
