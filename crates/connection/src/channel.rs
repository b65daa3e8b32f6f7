//! One channel's state and flow control (RFC 4254 §5.2).

use std::collections::VecDeque;

use crate::error::ConnectionError;
use crate::msg::kinds::ChannelKind;

/// Where a channel stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// We sent CHANNEL_OPEN; no answer yet.
    Opening,
    /// The peer sent CHANNEL_OPEN; the application has not answered yet.
    Offered,
    /// Open both ways.
    Open,
}

/// A channel: numbers, windows, and what each side has ended.
#[derive(Debug)]
pub(crate) struct Channel {
    pub kind: ChannelKind,
    pub phase: Phase,
    /// The peer's number for this channel.
    pub remote: u32,
    /// Bytes the peer may still send us.
    pub local_window: u32,
    /// The window we grant when fully consumed.
    pub local_window_max: u32,
    /// Bytes the application consumed that we have not granted back yet.
    pub consumed: u32,
    /// Largest data packet we accept.
    pub local_max_packet: u32,
    /// Bytes received since windows were last widened ([`Channel::widen`]).
    pub received_lately: u64,
    /// Bytes we may still send.
    pub remote_window: u32,
    /// Largest data packet the peer accepts.
    pub remote_max_packet: u32,
    pub eof_sent: bool,
    pub eof_received: bool,
    pub close_sent: bool,
    pub close_received: bool,
    /// Answers to the peer's want-reply requests, in arrival order (None: not answered yet).
    pub peer_requests: VecDeque<(crate::protocol::ReplyToken, Option<bool>)>,
    /// Our want-reply requests still waiting for SUCCESS/FAILURE.
    pub our_requests: u32,
}

impl Channel {
    pub fn new(kind: ChannelKind, phase: Phase, window: u32, max_packet: u32) -> Self {
        Channel {
            kind,
            phase,
            remote: 0,
            local_window: window,
            local_window_max: window,
            consumed: 0,
            local_max_packet: max_packet,
            received_lately: 0,
            remote_window: 0,
            remote_max_packet: 0,
            eof_sent: false,
            eof_received: false,
            close_sent: false,
            close_received: false,
            peer_requests: VecDeque::new(),
            our_requests: 0,
        }
    }

    /// Accounts for `len` bytes of incoming data.
    pub fn receive(&mut self, id: u32, len: usize) -> Result<(), ConnectionError> {
        if self.close_received {
            return Err(ConnectionError::AfterEnd {
                channel: id,
                msg: 94,
                after: "CLOSE",
            });
        }
        if self.eof_received {
            return Err(ConnectionError::AfterEnd {
                channel: id,
                msg: 94,
                after: "EOF",
            });
        }
        if len > self.local_max_packet as usize {
            return Err(ConnectionError::PacketTooLarge {
                channel: id,
                len,
                max: self.local_max_packet,
            });
        }
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        if len32 > self.local_window {
            return Err(ConnectionError::WindowExceeded {
                channel: id,
                len,
                window: self.local_window,
            });
        }
        self.local_window -= len32;
        self.received_lately = self.received_lately.saturating_add(u64::from(len32));
        Ok(())
    }

    /// Whether the peer is sending in bulk: since the last look it sent at least half our
    /// window (a channel that idles or trickles never gets a wider window). Resets the count.
    pub fn busy(&mut self) -> bool {
        let busy = self.received_lately >= u64::from(self.local_window_max / 2);
        self.received_lately = 0;
        busy && self.phase == Phase::Open
            && !self.eof_received
            && !self.close_received
            && !self.close_sent
    }

    /// Widens the window to `to` bytes if it is narrower: returns the extra credit to grant
    /// (a WINDOW_ADJUST), if any. Windows never narrow (RFC 4254 §5.2 has no way to).
    pub fn widen(&mut self, to: u32) -> Option<u32> {
        let extra = to.checked_sub(self.local_window_max).filter(|e| *e > 0)?;
        self.local_window_max = to;
        self.local_window = self.local_window.saturating_add(extra);
        Some(extra)
    }

    /// The application consumed `n` bytes: returns the WINDOW_ADJUST to send, if one is due. As
    /// OpenSSH, adjust when the window fell below half or more than three packets were consumed,
    /// never on every read.
    pub fn consume(&mut self, n: usize) -> Option<u32> {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.consumed = self
            .consumed
            .saturating_add(n)
            .min(self.local_window_max - self.local_window);
        let due = self.local_window < self.local_window_max / 2
            || self.consumed > self.local_max_packet.saturating_mul(3);
        if due && self.consumed > 0 && !self.close_sent {
            let grant = std::mem::take(&mut self.consumed);
            self.local_window += grant;
            Some(grant)
        } else {
            None
        }
    }

    /// The peer granted `bytes` more.
    pub fn adjust(&mut self, id: u32, bytes: u32) -> Result<(), ConnectionError> {
        self.remote_window = self
            .remote_window
            .checked_add(bytes)
            .ok_or(ConnectionError::WindowOverflow(id))?;
        Ok(())
    }

    /// How many bytes may be sent now, and in packets of what size.
    pub fn sendable(&self) -> (usize, usize) {
        if self.phase != Phase::Open || self.eof_sent || self.close_sent {
            return (0, 0);
        }
        (self.remote_window as usize, self.remote_max_packet as usize)
    }
}
