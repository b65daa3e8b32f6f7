//! The small types the connection protocol's callers hold: channel numbers, reply tokens, and
//! payloads waiting to be sent.

use bytes::Bytes;

/// Our number for a channel.
pub type ChannelId = u32;

/// Names one of the peer's want-reply requests (channel or global) until it is answered; an
/// answer with a token that is not pending (answered already, or of a closed channel) is
/// ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplyToken(pub u64);

/// A payload waiting to be sent: `head`, then `body`. Channel data travel as a view in `body`
/// (their CHANNEL_DATA header in `head`), every other message whole in `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The payload's first bytes (all of it but channel data).
    pub head: Vec<u8>,
    /// Channel data following `head`; empty for other messages.
    pub body: Bytes,
}

impl Outgoing {
    /// A payload that is all in `head`.
    pub fn whole(payload: Vec<u8>) -> Self {
        Outgoing {
            head: payload,
            body: Bytes::new(),
        }
    }

    /// The payload in one buffer.
    pub fn into_vec(self) -> Vec<u8> {
        let mut v = self.head;
        v.extend_from_slice(&self.body);
        v
    }
}

/// What a channel is and where it stands, from [`crate::ConnectionProtocol::channels`] (ssh's
/// `~#` lists these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStatus {
    /// Our number for it.
    pub id: crate::ChannelId,
    /// The peer's number for it (0 until the peer answered our open).
    pub remote: u32,
    /// What it carries.
    pub kind: crate::ChannelKind,
    /// Open, or still opening either way.
    pub phase: crate::Phase,
    /// Bytes the peer may still send us; bytes we may still send.
    pub windows: (u32, u32),
    /// EOF sent, EOF received.
    pub eof: (bool, bool),
    /// CLOSE sent, CLOSE received.
    pub close: (bool, bool),
}
