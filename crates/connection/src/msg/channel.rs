//! Channel messages (RFC 4254 §5).

use nacre_wire::{put, ChannelOpenFailureReason, Decode, Encode, MsgNumber, Reader, WireError};

use super::slen;

/// SSH_MSG_CHANNEL_OPEN (RFC 4254 §5.1).
///
/// ```text
/// byte      SSH_MSG_CHANNEL_OPEN
/// string    channel type in US-ASCII only
/// uint32    sender channel
/// uint32    initial window size
/// uint32    maximum packet size
/// ....      channel type specific data follows
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpen<'a> {
    /// Channel type.
    pub channel_type: &'a str,
    /// The sender's channel number.
    pub sender: u32,
    /// Initial window size.
    pub initial_window: u32,
    /// Maximum packet size.
    pub max_packet: u32,
    /// Type-specific data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for ChannelOpen<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::CHANNEL_OPEN.0)?;
        Ok(ChannelOpen {
            channel_type: r.utf8()?,
            sender: r.u32()?,
            initial_window: r.u32()?,
            max_packet: r.u32()?,
            data: r.take_rest(),
        })
    }
}

impl Encode for ChannelOpen<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.channel_type.len()) + 12 + self.data.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::CHANNEL_OPEN.0);
        put::string(out, self.channel_type.as_bytes());
        put::uint32(out, self.sender);
        put::uint32(out, self.initial_window);
        put::uint32(out, self.max_packet);
        out.extend_from_slice(self.data);
    }
}

/// SSH_MSG_CHANNEL_OPEN_CONFIRMATION (RFC 4254 §5.1).
///
/// ```text
/// byte      SSH_MSG_CHANNEL_OPEN_CONFIRMATION
/// uint32    recipient channel
/// uint32    sender channel
/// uint32    initial window size
/// uint32    maximum packet size
/// ....      channel type specific data follows
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpenConfirmation<'a> {
    /// Our channel number (as the peer knows it).
    pub recipient: u32,
    /// The peer's channel number.
    pub sender: u32,
    /// Initial window size.
    pub initial_window: u32,
    /// Maximum packet size.
    pub max_packet: u32,
    /// Type-specific data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for ChannelOpenConfirmation<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::CHANNEL_OPEN_CONFIRMATION.0)?;
        Ok(ChannelOpenConfirmation {
            recipient: r.u32()?,
            sender: r.u32()?,
            initial_window: r.u32()?,
            max_packet: r.u32()?,
            data: r.take_rest(),
        })
    }
}

impl Encode for ChannelOpenConfirmation<'_> {
    fn encoded_len(&self) -> usize {
        17 + self.data.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::CHANNEL_OPEN_CONFIRMATION.0);
        put::uint32(out, self.recipient);
        put::uint32(out, self.sender);
        put::uint32(out, self.initial_window);
        put::uint32(out, self.max_packet);
        out.extend_from_slice(self.data);
    }
}

/// SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 §5.1).
///
/// ```text
/// byte      SSH_MSG_CHANNEL_OPEN_FAILURE
/// uint32    recipient channel
/// uint32    reason code
/// string    description in ISO-10646 UTF-8 encoding
/// string    language tag
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpenFailure<'a> {
    /// Our channel number.
    pub recipient: u32,
    /// Reason code.
    pub reason: ChannelOpenFailureReason,
    /// Description (decoded lossily).
    pub description: std::borrow::Cow<'a, str>,
    /// Language tag.
    pub language: &'a [u8],
}

impl<'a> Decode<'a> for ChannelOpenFailure<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::CHANNEL_OPEN_FAILURE.0)?;
        let recipient = r.u32()?;
        let reason = ChannelOpenFailureReason(r.u32()?);
        let description = String::from_utf8_lossy(r.string()?);
        let language = if r.is_empty() { &[][..] } else { r.string()? };
        Ok(ChannelOpenFailure {
            recipient,
            reason,
            description,
            language,
        })
    }
}

impl Encode for ChannelOpenFailure<'_> {
    fn encoded_len(&self) -> usize {
        9 + slen(self.description.len()) + slen(self.language.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::CHANNEL_OPEN_FAILURE.0);
        put::uint32(out, self.recipient);
        put::uint32(out, self.reason.0);
        put::string(out, self.description.as_bytes());
        put::string(out, self.language);
    }
}

/// SSH_MSG_CHANNEL_WINDOW_ADJUST (RFC 4254 §5.2): `uint32 recipient channel, uint32 bytes to add`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowAdjust {
    /// Recipient channel.
    pub recipient: u32,
    /// Bytes to add.
    pub bytes: u32,
}

impl<'a> Decode<'a> for WindowAdjust {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::CHANNEL_WINDOW_ADJUST.0)?;
        Ok(WindowAdjust {
            recipient: r.u32()?,
            bytes: r.u32()?,
        })
    }
}

impl Encode for WindowAdjust {
    fn encoded_len(&self) -> usize {
        9
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::CHANNEL_WINDOW_ADJUST.0);
        put::uint32(out, self.recipient);
        put::uint32(out, self.bytes);
    }
}

/// SSH_MSG_CHANNEL_DATA (RFC 4254 §5.2): `uint32 recipient channel, string data`; and
/// SSH_MSG_CHANNEL_EXTENDED_DATA: `uint32 recipient channel, uint32 data_type_code, string data`
/// (`code` is `Some` for extended data, 1 = stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// Recipient channel.
    pub recipient: u32,
    /// Extended data type code, or `None` for ordinary data.
    pub code: Option<u32>,
    /// The data.
    pub data: &'a [u8],
}

impl ChannelData<'_> {
    /// Longest header: message number, recipient, data type code, data length.
    pub const HEADER_MAX: usize = 1 + 4 + 4 + 4;

    /// Appends everything of the message before the data bytes (whose length is `len`), so that
    /// the data can follow from elsewhere without being copied into a message first.
    pub fn encode_header(out: &mut Vec<u8>, recipient: u32, code: Option<u32>, len: usize) {
        match code {
            None => put::byte(out, MsgNumber::CHANNEL_DATA.0),
            Some(_) => put::byte(out, MsgNumber::CHANNEL_EXTENDED_DATA.0),
        }
        put::uint32(out, recipient);
        if let Some(c) = code {
            put::uint32(out, c);
        }
        put::uint32(out, put::len32(len));
    }
}

impl<'a> Decode<'a> for ChannelData<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let msg = r.u8()?;
        let recipient = r.u32()?;
        let code = match MsgNumber(msg) {
            MsgNumber::CHANNEL_DATA => None,
            MsgNumber::CHANNEL_EXTENDED_DATA => Some(r.u32()?),
            _ => {
                return Err(WireError::UnexpectedMessage {
                    expected: MsgNumber::CHANNEL_DATA.0,
                    found: msg,
                })
            }
        };
        Ok(ChannelData {
            recipient,
            code,
            data: r.string()?,
        })
    }
}

impl Encode for ChannelData<'_> {
    fn encoded_len(&self) -> usize {
        5 + self.code.map_or(0, |_| 4) + slen(self.data.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        ChannelData::encode_header(out, self.recipient, self.code, self.data.len());
        out.extend_from_slice(self.data);
    }
}

/// SSH_MSG_CHANNEL_EOF, SSH_MSG_CHANNEL_CLOSE, SSH_MSG_CHANNEL_SUCCESS and SSH_MSG_CHANNEL_FAILURE
/// (RFC 4254 §5.3, §5.4): `byte msg, uint32 recipient channel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelSignal {
    /// Which of the four messages.
    pub msg: MsgNumber,
    /// Recipient channel.
    pub recipient: u32,
}

impl<'a> Decode<'a> for ChannelSignal {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let msg = MsgNumber(r.u8()?);
        if ![
            MsgNumber::CHANNEL_EOF,
            MsgNumber::CHANNEL_CLOSE,
            MsgNumber::CHANNEL_SUCCESS,
            MsgNumber::CHANNEL_FAILURE,
        ]
        .contains(&msg)
        {
            return Err(WireError::UnexpectedMessage {
                expected: MsgNumber::CHANNEL_EOF.0,
                found: msg.0,
            });
        }
        Ok(ChannelSignal {
            msg,
            recipient: r.u32()?,
        })
    }
}

impl Encode for ChannelSignal {
    fn encoded_len(&self) -> usize {
        5
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, self.msg.0);
        put::uint32(out, self.recipient);
    }
}

/// SSH_MSG_CHANNEL_REQUEST (RFC 4254 §5.4).
///
/// ```text
/// byte      SSH_MSG_CHANNEL_REQUEST
/// uint32    recipient channel
/// string    request type in US-ASCII characters only
/// boolean   want reply
/// ....      type-specific data follows
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRequest<'a> {
    /// Recipient channel.
    pub recipient: u32,
    /// Request type.
    pub request_type: &'a str,
    /// Whether a reply is wanted.
    pub want_reply: bool,
    /// Type-specific data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for ChannelRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::CHANNEL_REQUEST.0)?;
        Ok(ChannelRequest {
            recipient: r.u32()?,
            request_type: r.utf8()?,
            want_reply: r.bool()?,
            data: r.take_rest(),
        })
    }
}

impl Encode for ChannelRequest<'_> {
    fn encoded_len(&self) -> usize {
        5 + slen(self.request_type.len()) + 1 + self.data.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::CHANNEL_REQUEST.0);
        put::uint32(out, self.recipient);
        put::string(out, self.request_type.as_bytes());
        put::boolean(out, self.want_reply);
        out.extend_from_slice(self.data);
    }
}
