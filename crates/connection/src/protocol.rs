//! The sans-IO connection protocol machine (RFC 4254), both roles.
//!
//! Fed the service-layer payloads that follow authentication ([`ConnectionProtocol::handle_packet`]),
//! it produces payloads to send ([`ConnectionProtocol::poll_transmit`]) and [`Event`]s. Channel
//! opens and want-reply requests from the peer are questions the application answers later; answers
//! go out in the order the requests came, as RFC 4254 requires.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use nacre_wire::{decode_exact, ChannelOpenFailureReason, Encode, MsgNumber};

use crate::channel::{Channel, Phase};
use crate::error::ConnectionError;
use crate::liveness::{Liveness, LivenessConfig, Tick};
use crate::msg::channel::{
    ChannelData, ChannelOpen, ChannelOpenConfirmation, ChannelOpenFailure, ChannelRequest,
    ChannelSignal, WindowAdjust,
};
use crate::msg::global::{request_failure, request_success, GlobalRequest};
use crate::msg::kinds::ChannelKind;
use crate::msg::requests::RequestKind;
pub use crate::types::{ChannelId, Outgoing, ReplyToken};

/// Settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Window granted to the peer per channel (several MiB for bulk transfer speed).
    pub window_size: u32,
    /// Largest data packet accepted.
    pub max_packet: u32,
    /// Widest a channel's window grows ([`ConnectionProtocol::widen_windows`]).
    pub max_window_size: u32,
    /// Most window all channels of the connection may hold together once widened.
    pub max_window_total: u64,
    /// Most channels open at once.
    pub max_channels: usize,
}

/// Default [`ConnectionConfig::window_size`]: what one channel may buffer unread.
pub const DEFAULT_WINDOW_SIZE: u32 = 8 * 1024 * 1024;
/// Default [`ConnectionConfig::max_window_size`]: 64 MiB (a 1 Gbit/s path of 250 ms, twice).
pub const DEFAULT_MAX_WINDOW_SIZE: u32 = 64 * 1024 * 1024;
/// Default [`ConnectionConfig::max_window_total`]: 256 MiB.
pub const DEFAULT_MAX_WINDOW_TOTAL: u64 = 256 * 1024 * 1024;
/// Default [`ConnectionConfig::max_packet`].
pub const DEFAULT_MAX_PACKET: u32 = 256 * 1024 - 1024;
/// Default [`ConnectionConfig::max_channels`].
pub const DEFAULT_MAX_CHANNELS: usize = 128;

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            window_size: DEFAULT_WINDOW_SIZE,
            max_packet: DEFAULT_MAX_PACKET,
            max_window_size: DEFAULT_MAX_WINDOW_SIZE,
            max_window_total: DEFAULT_MAX_WINDOW_TOTAL,
            max_channels: DEFAULT_MAX_CHANNELS,
        }
    }
}

/// What the application must see or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer wants a channel: answer [`ConnectionProtocol::accept_open`] or `reject_open`.
    OpenRequest {
        /// Our number for it.
        id: ChannelId,
        /// What it is.
        kind: ChannelKind,
    },
    /// Our open was confirmed.
    Opened {
        /// Channel.
        id: ChannelId,
    },
    /// Our open was refused; the channel is gone.
    OpenFailed {
        /// Channel.
        id: ChannelId,
        /// Reason code.
        reason: ChannelOpenFailureReason,
        /// Description.
        description: String,
    },
    /// Data (`code` = `Some(1)` for stderr). Call [`ConnectionProtocol::consume`] once it is used.
    Data {
        /// Channel.
        id: ChannelId,
        /// Extended data type, if extended.
        code: Option<u32>,
        /// The bytes, a view of the packet.
        data: Bytes,
    },
    /// The peer's window grew: blocked writers may continue.
    WindowAvailable {
        /// Channel.
        id: ChannelId,
    },
    /// The peer will send no more data.
    Eof {
        /// Channel.
        id: ChannelId,
    },
    /// The channel is closed both ways and its number is free.
    Closed {
        /// Channel.
        id: ChannelId,
    },
    /// A channel request. With `want_reply`, answer with [`ConnectionProtocol::reply_request`].
    Request {
        /// Channel.
        id: ChannelId,
        /// The request.
        request: RequestKind,
        /// Whether a reply is expected.
        want_reply: bool,
        /// Token to answer with.
        token: ReplyToken,
    },
    /// Reply to one of our want-reply channel requests, in order.
    RequestReply {
        /// Channel.
        id: ChannelId,
        /// Success or failure.
        ok: bool,
    },
    /// A global request the application may handle (tcpip-forward, streamlocal-forward@openssh.com,
    /// ...). With `want_reply`, answer with [`ConnectionProtocol::reply_global`].
    GlobalRequest {
        /// Name.
        name: String,
        /// Request data.
        data: Vec<u8>,
        /// Whether a reply is expected.
        want_reply: bool,
        /// Token to answer with.
        token: ReplyToken,
    },
    /// Reply to one of our want-reply global requests, in order.
    GlobalReply {
        /// Success or failure.
        ok: bool,
        /// Response data (bound port for tcpip-forward with port 0).
        data: Vec<u8>,
    },
}

/// Global requests every connection answers itself (RFC 4254 §4: unknown ones fail).
const HANDLED_GLOBALLY: &[&str] = &[
    "tcpip-forward",
    "cancel-tcpip-forward",
    "streamlocal-forward@openssh.com",
    "cancel-streamlocal-forward@openssh.com",
    // Host key rotation (PROTOCOL §2.5): the session layer answers these itself.
    crate::msg::host_keys::HOSTKEYS,
    crate::msg::host_keys::HOSTKEYS_PROVE,
];

/// An answer to a global request: success and response data.
type GlobalAnswer = (bool, Vec<u8>);

/// The connection protocol of one connection.
///
/// Two machines joined in memory (over SSH, each payload is one transport packet): the client
/// opens a session channel, the server accepts it, and data flows.
///
/// ```
/// use bytes::Bytes;
/// use nacre_connection::{ChannelKind, ConnectionConfig, ConnectionError, ConnectionProtocol, Event};
///
/// type Conn = ConnectionProtocol;
/// fn pump(from: &mut Conn, to: &mut Conn) -> Result<(), ConnectionError> {
///     while let Some(payload) = from.poll_transmit() { to.handle_packet(&Bytes::from(payload))?; }
///     Ok(())
/// }
/// let mut client = ConnectionProtocol::new(ConnectionConfig::default());
/// let mut server = ConnectionProtocol::new(ConnectionConfig::default());
///
/// let ours = client.open(ChannelKind::Session).expect("below the channel limit");
/// pump(&mut client, &mut server)?;
/// let Some(Event::OpenRequest { id: theirs, kind }) = server.poll_event() else { panic!() };
/// assert_eq!(kind, ChannelKind::Session);
/// server.accept_open(theirs);
/// pump(&mut server, &mut client)?;
/// assert_eq!(client.poll_event(), Some(Event::Opened { id: ours }));
///
/// assert_eq!(client.send_data(ours, None, b"hello"), 5); // bytes the window took
/// pump(&mut client, &mut server)?;
/// let Some(Event::Data { id, data, code: None }) = server.poll_event() else { panic!() };
/// assert_eq!((id, &data[..]), (theirs, &b"hello"[..]));
/// server.consume(theirs, data.len()); // reopens the window as the data is used
/// # Ok::<(), ConnectionError>(())
/// ```
pub struct ConnectionProtocol {
    config: ConnectionConfig,
    channels: HashMap<ChannelId, Channel>,
    next_id: ChannelId,
    next_token: u64,
    outbox: VecDeque<Outgoing>,
    events: VecDeque<Event>,
    /// Answers to the peer's want-reply global requests, in order.
    global_pending: VecDeque<(ReplyToken, Option<GlobalAnswer>)>,
    /// Our want-reply global requests waiting for an answer.
    /// Our want-reply global requests in order: true for our own keepalive probes.
    our_global_origins: VecDeque<bool>,
    no_more_sessions: bool,
    liveness: Liveness,
}

impl ConnectionProtocol {
    /// A connection protocol machine with these settings.
    pub fn new(config: ConnectionConfig) -> Self {
        ConnectionProtocol {
            config,
            channels: HashMap::new(),
            next_id: 0,
            next_token: 0,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            global_pending: VecDeque::new(),
            our_global_origins: VecDeque::new(),
            no_more_sessions: false,
            liveness: Liveness::default(),
        }
    }

    /// Sets keepalive and idle limits.
    pub fn set_liveness(&mut self, config: LivenessConfig) {
        self.liveness = Liveness::new(config);
    }

    /// Tells the machine the time: sends keepalive probes when the peer has been quiet, and fails
    /// when too many went unanswered or no channel was open for too long.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        match self.liveness.tick(now, self.channels.len()) {
            Tick::Idle => Ok(()),
            Tick::Probe => {
                self.our_global_origins.push_back(true);
                self.send(&GlobalRequest {
                    name: "keepalive@openssh.com",
                    want_reply: true,
                    data: &[],
                });
                Ok(())
            }
            Tick::Dead(n) => Err(ConnectionError::KeepaliveTimeout(n)),
            Tick::Unused => Err(ConnectionError::Inactive),
        }
    }

    /// When [`ConnectionProtocol::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.liveness.deadline()
    }

    /// The next payload to send, in one buffer (channel data copied after their header; a
    /// driver that can frame two parts uses [`ConnectionProtocol::poll_transmit_parts`]).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop_front().map(Outgoing::into_vec)
    }

    /// The next payload to send as its two parts, channel data still a view of what the
    /// application handed over, so that they are copied once, into the packet.
    pub fn poll_transmit_parts(&mut self) -> Option<Outgoing> {
        self.outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// What channel `id` is, while it exists.
    pub fn kind(&self, id: ChannelId) -> Option<&ChannelKind> {
        self.channels.get(&id).map(|c| &c.kind)
    }

    /// Every channel that exists, by number.
    pub fn channels(&self) -> Vec<crate::ChannelStatus> {
        let mut list: Vec<_> = self
            .channels
            .iter()
            .map(|(&id, c)| crate::ChannelStatus {
                id,
                remote: c.remote,
                kind: c.kind.clone(),
                phase: c.phase,
                windows: (c.local_window, c.remote_window),
                eof: (c.eof_sent, c.eof_received),
                close: (c.close_sent, c.close_received),
            })
            .collect();
        list.sort_by_key(|s| s.id);
        list
    }

    /// Number of channels that exist (in any phase).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    fn token(&mut self) -> ReplyToken {
        self.next_token += 1;
        ReplyToken(self.next_token)
    }

    fn alloc_id(&mut self) -> ChannelId {
        while self.channels.contains_key(&self.next_id) {
            self.next_id = self.next_id.wrapping_add(1);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn send<M: Encode>(&mut self, msg: &M) {
        self.outbox.push_back(Outgoing::whole(msg.to_bytes()));
    }

    fn signal(&mut self, msg: MsgNumber, recipient: u32) {
        self.send(&ChannelSignal { msg, recipient });
    }

    /// Opens a channel of `kind`; [`Event::Opened`] or [`Event::OpenFailed`] follows. `None` when the
    /// channel limit is reached.
    pub fn open(&mut self, kind: ChannelKind) -> Option<ChannelId> {
        if self.channels.len() >= self.config.max_channels {
            return None;
        }
        let id = self.alloc_id();
        let data = kind.to_data();
        let msg = ChannelOpen {
            channel_type: kind.type_name(),
            sender: id,
            initial_window: self.config.window_size,
            max_packet: self.config.max_packet,
            data: &data,
        }
        .to_bytes();
        self.outbox.push_back(Outgoing::whole(msg));
        self.channels.insert(
            id,
            Channel::new(
                kind,
                Phase::Opening,
                self.config.window_size,
                self.config.max_packet,
            ),
        );
        Some(id)
    }

    /// Accepts the peer's open request `id`.
    pub fn accept_open(&mut self, id: ChannelId) {
        let Some(ch) = self
            .channels
            .get_mut(&id)
            .filter(|c| c.phase == Phase::Offered)
        else {
            return;
        };
        ch.phase = Phase::Open;
        let msg = ChannelOpenConfirmation {
            recipient: ch.remote,
            sender: id,
            initial_window: ch.local_window,
            max_packet: ch.local_max_packet,
            data: &[],
        };
        self.send(&msg);
    }

    /// Refuses the peer's open request `id`.
    pub fn reject_open(
        &mut self,
        id: ChannelId,
        reason: ChannelOpenFailureReason,
        description: &str,
    ) {
        if let Some(ch) = self.channels.get(&id).filter(|c| c.phase == Phase::Offered) {
            let msg = ChannelOpenFailure {
                recipient: ch.remote,
                reason,
                description: description.into(),
                language: b"",
            };
            self.send(&msg);
            self.channels.remove(&id);
        }
    }

    /// Sends a channel request; with `want_reply` an [`Event::RequestReply`] follows.
    pub fn request(&mut self, id: ChannelId, request: &RequestKind, want_reply: bool) -> bool {
        let Some(ch) = self
            .channels
            .get_mut(&id)
            .filter(|c| c.phase == Phase::Open && !c.close_sent)
        else {
            return false;
        };
        if want_reply {
            ch.our_requests += 1;
        }
        let data = request.to_data();
        let msg = ChannelRequest {
            recipient: ch.remote,
            request_type: request.name(),
            want_reply,
            data: &data,
        };
        self.send(&msg);
        true
    }

    /// Answers the peer's want-reply channel request `token` on `id`. Answers go out in request order.
    pub fn reply_request(&mut self, id: ChannelId, token: ReplyToken, ok: bool) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if let Some(slot) = ch.peer_requests.iter_mut().find(|(t, _)| *t == token) {
            slot.1 = Some(ok);
        }
        let (remote, closed) = (ch.remote, ch.close_sent);
        let mut replies = Vec::new();
        while let Some((_, Some(ok))) = ch.peer_requests.front() {
            replies.push(*ok);
            ch.peer_requests.pop_front();
        }
        if closed {
            // RFC 4254 §5.3: nothing more on a channel once we sent CLOSE; the peer that asked
            // gets its CLOSE instead.
            return;
        }
        for ok in replies {
            self.signal(
                if ok {
                    MsgNumber::CHANNEL_SUCCESS
                } else {
                    MsgNumber::CHANNEL_FAILURE
                },
                remote,
            );
        }
    }

    /// Sends a global request; with `want_reply` an [`Event::GlobalReply`] follows.
    pub fn global_request(&mut self, name: &str, data: &[u8], want_reply: bool) {
        if want_reply {
            self.our_global_origins.push_back(false);
        }
        self.send(&GlobalRequest {
            name,
            want_reply,
            data,
        });
    }

    /// Answers the peer's global request `token`. Answers go out in request order.
    pub fn reply_global(&mut self, token: ReplyToken, ok: bool, data: &[u8]) {
        if let Some(slot) = self.global_pending.iter_mut().find(|(t, _)| *t == token) {
            slot.1 = Some((ok, data.to_vec()));
        }
        while let Some((_, Some(_))) = self.global_pending.front() {
            if let Some((_, Some((ok, data)))) = self.global_pending.pop_front() {
                self.outbox.push_back(Outgoing::whole(if ok {
                    request_success(&data)
                } else {
                    request_failure()
                }));
            }
        }
    }

    /// How many bytes [`ConnectionProtocol::send_data`] would take on `id` now.
    pub fn send_capacity(&self, id: ChannelId) -> usize {
        self.channels.get(&id).map_or(0, |c| c.sendable().0)
    }

    /// Sends as much of `data` as the peer's window allows, split into packets of at most the peer's
    /// maximum size. Returns the number of bytes taken (0: wait for [`Event::WindowAvailable`]).
    /// `code` = `Some(1)` sends stderr.
    pub fn send_data(&mut self, id: ChannelId, code: Option<u32>, data: &[u8]) -> usize {
        let take = data.len().min(self.send_capacity(id));
        match data.get(..take) {
            Some(taken) if take > 0 => {
                self.send_data_bytes(id, code, Bytes::copy_from_slice(taken))
            }
            _ => 0,
        }
    }

    /// [`ConnectionProtocol::send_data`] without copying: the packets' data are views of `data`
    /// until the transport frames them.
    pub fn send_data_bytes(&mut self, id: ChannelId, code: Option<u32>, data: Bytes) -> usize {
        let Some(ch) = self.channels.get_mut(&id) else {
            return 0;
        };
        let (window, max_packet) = ch.sendable();
        let take = data.len().min(window);
        if take == 0 || max_packet == 0 {
            return 0;
        }
        let remote = ch.remote;
        ch.remote_window -= u32::try_from(take).unwrap_or(u32::MAX);
        let mut start = 0;
        while start < take {
            let end = take.min(start + max_packet);
            let mut head = Vec::with_capacity(ChannelData::HEADER_MAX);
            ChannelData::encode_header(&mut head, remote, code, end - start);
            self.outbox.push_back(Outgoing {
                head,
                body: data.slice(start..end),
            });
            start = end;
        }
        take
    }

    /// The application used `n` bytes of data received on `id`: window space is granted back to
    /// the peer when due.
    pub fn consume(&mut self, id: ChannelId, n: usize) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if let Some(bytes) = ch.consume(n) {
            let recipient = ch.remote;
            self.send(&WindowAdjust { recipient, bytes });
        }
    }

    /// Widens the windows of the channels the peer sends to in bulk to `target` bytes (what
    /// the link holds: its bandwidth-delay product as the caller measured it, e.g. from the
    /// TCP receive buffer the kernel sized for it), within
    /// [`ConnectionConfig::max_window_size`] per channel,
    /// [`ConnectionConfig::max_window_total`] for all, and `budget` more bytes in all (the
    /// caller's share of a bound across connections); the extra credit goes out as
    /// WINDOW_ADJUST. A channel is in bulk when it received half its window since the last
    /// call, so idle sessions keep the configured window. Returns the bytes added.
    pub fn widen_windows(&mut self, target: u64, budget: u64) -> u64 {
        let to =
            u32::try_from(target.min(u64::from(self.config.max_window_size))).unwrap_or(u32::MAX);
        let mut total: u64 = self
            .channels
            .values()
            .map(|c| u64::from(c.local_window_max))
            .sum();
        let mut added = 0u64;
        let mut adjusts = Vec::new();
        for ch in self.channels.values_mut() {
            if !ch.busy() || to <= ch.local_window_max {
                continue;
            }
            let room = self
                .config
                .max_window_total
                .saturating_sub(total)
                .min(budget.saturating_sub(added));
            let want = u64::from(to - ch.local_window_max).min(room);
            let to = ch
                .local_window_max
                .saturating_add(u32::try_from(want).unwrap_or(0));
            if let Some(bytes) = ch.widen(to) {
                total += u64::from(bytes);
                added += u64::from(bytes);
                adjusts.push(WindowAdjust {
                    recipient: ch.remote,
                    bytes,
                });
            }
        }
        for adjust in adjusts {
            self.send(&adjust);
        }
        added
    }

    /// Bytes by which the open channels' windows exceed [`ConnectionConfig::window_size`]
    /// (what [`ConnectionProtocol::widen_windows`] added and is still granted).
    pub fn widened_bytes(&self) -> u64 {
        self.channels
            .values()
            .map(|c| u64::from(c.local_window_max.saturating_sub(self.config.window_size)))
            .sum()
    }

    /// Sends EOF on `id` (no more data from us).
    pub fn eof(&mut self, id: ChannelId) {
        let Some(ch) = self
            .channels
            .get_mut(&id)
            .filter(|c| c.phase == Phase::Open && !c.eof_sent && !c.close_sent)
        else {
            return;
        };
        ch.eof_sent = true;
        let remote = ch.remote;
        self.signal(MsgNumber::CHANNEL_EOF, remote);
    }

    /// Closes `id`. [`Event::Closed`] follows once the peer closed too.
    pub fn close(&mut self, id: ChannelId) {
        let Some(ch) = self
            .channels
            .get_mut(&id)
            .filter(|c| c.phase == Phase::Open && !c.close_sent)
        else {
            return;
        };
        ch.close_sent = true;
        let (remote, done) = (ch.remote, ch.close_received);
        self.signal(MsgNumber::CHANNEL_CLOSE, remote);
        if done {
            self.channels.remove(&id);
            self.events.push_back(Event::Closed { id });
        }
    }

    /// Feeds one service-layer payload (message numbers 80–127) from the peer.
    pub fn handle_packet(&mut self, payload: &Bytes) -> Result<(), ConnectionError> {
        self.liveness.on_packet();
        let msg = payload.first().copied().unwrap_or(0);
        let bad = ConnectionError::malformed(msg);
        match MsgNumber(msg) {
            MsgNumber::GLOBAL_REQUEST => {
                let req: GlobalRequest<'_> = decode_exact(payload).map_err(bad)?;
                self.on_global_request(&req);
            }
            MsgNumber::REQUEST_SUCCESS | MsgNumber::REQUEST_FAILURE => {
                let Some(keepalive) = self.our_global_origins.pop_front() else {
                    return Err(ConnectionError::UnexpectedReply {
                        msg,
                        context: "no global request outstanding",
                    });
                };
                if !keepalive {
                    let data = payload.get(1..).unwrap_or(&[]).to_vec();
                    self.events.push_back(Event::GlobalReply {
                        ok: msg == MsgNumber::REQUEST_SUCCESS.0,
                        data,
                    });
                }
            }
            MsgNumber::CHANNEL_OPEN => {
                let open: ChannelOpen<'_> = decode_exact(payload).map_err(bad)?;
                self.on_open(&open)?;
            }
            MsgNumber::CHANNEL_OPEN_CONFIRMATION => {
                let c: ChannelOpenConfirmation<'_> = decode_exact(payload).map_err(bad)?;
                self.on_confirmation(&c)?;
            }
            MsgNumber::CHANNEL_OPEN_FAILURE => {
                let f: ChannelOpenFailure<'_> = decode_exact(payload).map_err(bad)?;
                self.opening(msg, f.recipient)?;
                self.channels.remove(&f.recipient);
                let description = f.description.into_owned();
                self.events.push_back(Event::OpenFailed {
                    id: f.recipient,
                    reason: f.reason,
                    description,
                });
            }
            MsgNumber::CHANNEL_WINDOW_ADJUST => {
                let a: WindowAdjust = decode_exact(payload).map_err(bad)?;
                let ch = self.open_channel(msg, a.recipient)?;
                ch.adjust(a.recipient, a.bytes)?;
                self.events
                    .push_back(Event::WindowAvailable { id: a.recipient });
            }
            MsgNumber::CHANNEL_DATA | MsgNumber::CHANNEL_EXTENDED_DATA => {
                let d: ChannelData<'_> = decode_exact(payload).map_err(bad)?;
                let ch = self.open_channel(msg, d.recipient)?;
                ch.receive(d.recipient, d.data.len())?;
                if !ch.close_sent && !d.data.is_empty() {
                    // Data that was in flight when we closed is dropped, never handed up.
                    let data = payload.slice_ref(d.data);
                    self.events.push_back(Event::Data {
                        id: d.recipient,
                        code: d.code,
                        data,
                    });
                }
            }
            MsgNumber::CHANNEL_EOF
            | MsgNumber::CHANNEL_CLOSE
            | MsgNumber::CHANNEL_SUCCESS
            | MsgNumber::CHANNEL_FAILURE => {
                let s: ChannelSignal = decode_exact(payload).map_err(bad)?;
                self.on_signal(s)?;
            }
            MsgNumber::CHANNEL_REQUEST => {
                let r: ChannelRequest<'_> = decode_exact(payload).map_err(bad)?;
                self.on_request(&r)?;
            }
            _ => return Err(ConnectionError::NotConnectionMessage(msg)),
        }
        Ok(())
    }

    fn opening(&mut self, msg: u8, id: u32) -> Result<&mut Channel, ConnectionError> {
        self.channels
            .get_mut(&id)
            .filter(|c| c.phase == Phase::Opening)
            .ok_or(ConnectionError::UnknownChannel { msg, channel: id })
    }

    fn open_channel(&mut self, msg: u8, id: u32) -> Result<&mut Channel, ConnectionError> {
        self.channels
            .get_mut(&id)
            .filter(|c| c.phase == Phase::Open)
            .ok_or(ConnectionError::UnknownChannel { msg, channel: id })
    }

    fn on_global_request(&mut self, req: &GlobalRequest<'_>) {
        let handled = HANDLED_GLOBALLY.contains(&req.name);
        if req.name == "no-more-sessions@openssh.com" {
            self.no_more_sessions = true;
        }
        if !req.want_reply {
            if handled {
                let token = self.token();
                let (name, data) = (req.name.to_owned(), req.data.to_vec());
                self.events.push_back(Event::GlobalRequest {
                    name,
                    data,
                    want_reply: false,
                    token,
                });
            }
            return;
        }
        let token = self.token();
        self.global_pending.push_back((token, None));
        if handled {
            let (name, data) = (req.name.to_owned(), req.data.to_vec());
            self.events.push_back(Event::GlobalRequest {
                name,
                data,
                want_reply: true,
                token,
            });
        } else {
            // keepalive@openssh.com and anything unknown: failure, as OpenSSH answers.
            self.reply_global(token, false, &[]);
        }
    }

    fn on_open(&mut self, open: &ChannelOpen<'_>) -> Result<(), ConnectionError> {
        let refuse = |me: &mut Self, reason, text: &str| {
            let f = ChannelOpenFailure {
                recipient: open.sender,
                reason,
                description: text.into(),
                language: b"",
            };
            me.send(&f);
        };
        let kind = match ChannelKind::parse(open.channel_type, open.data) {
            Ok(k) => k,
            Err(e) => {
                return Err(ConnectionError::Malformed {
                    msg: MsgNumber::CHANNEL_OPEN.0,
                    error: e,
                })
            }
        };
        // Nothing could ever be sent on it: refused, the connection goes on (docs/TOLERANCE.md).
        if open.max_packet == 0 {
            let reason = ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED;
            refuse(self, reason, "maximum packet size of 0");
            return Ok(());
        }
        if self.channels.len() >= self.config.max_channels {
            refuse(
                self,
                ChannelOpenFailureReason::RESOURCE_SHORTAGE,
                "too many channels",
            );
            return Ok(());
        }
        // After no-more-sessions@openssh.com a session open is an attack: sshd disconnects
        // (serverloop.c, server_request_session; OpenSSH PROTOCOL §2.2).
        if self.no_more_sessions && kind == ChannelKind::Session {
            return Err(ConnectionError::NoMoreSessions);
        }
        let id = self.alloc_id();
        let mut ch = Channel::new(
            kind.clone(),
            Phase::Offered,
            self.config.window_size,
            self.config.max_packet,
        );
        ch.remote = open.sender;
        ch.remote_window = open.initial_window;
        ch.remote_max_packet = open.max_packet;
        self.channels.insert(id, ch);
        self.events.push_back(Event::OpenRequest { id, kind });
        Ok(())
    }

    fn on_confirmation(&mut self, c: &ChannelOpenConfirmation<'_>) -> Result<(), ConnectionError> {
        if c.max_packet == 0 {
            return Err(ConnectionError::ZeroMaxPacket);
        }
        let ch = self.opening(MsgNumber::CHANNEL_OPEN_CONFIRMATION.0, c.recipient)?;
        ch.phase = Phase::Open;
        ch.remote = c.sender;
        ch.remote_window = c.initial_window;
        ch.remote_max_packet = c.max_packet;
        self.events.push_back(Event::Opened { id: c.recipient });
        Ok(())
    }

    fn on_signal(&mut self, s: ChannelSignal) -> Result<(), ConnectionError> {
        let id = s.recipient;
        let ch = self.open_channel(s.msg.0, id)?;
        match s.msg {
            MsgNumber::CHANNEL_EOF => {
                if ch.eof_received || ch.close_received {
                    return Err(ConnectionError::AfterEnd {
                        channel: id,
                        msg: s.msg.0,
                        after: "EOF",
                    });
                }
                ch.eof_received = true;
                self.events.push_back(Event::Eof { id });
            }
            MsgNumber::CHANNEL_CLOSE => {
                if ch.close_received {
                    return Err(ConnectionError::AfterEnd {
                        channel: id,
                        msg: s.msg.0,
                        after: "CLOSE",
                    });
                }
                ch.close_received = true;
                // RFC 4254 §5.3: answer CLOSE with CLOSE unless already sent; then the number is free.
                if !ch.close_sent {
                    ch.close_sent = true;
                    let remote = ch.remote;
                    self.signal(MsgNumber::CHANNEL_CLOSE, remote);
                }
                self.channels.remove(&id);
                self.events.push_back(Event::Closed { id });
            }
            _ => {
                if ch.our_requests == 0 {
                    return Err(ConnectionError::UnexpectedReply {
                        msg: s.msg.0,
                        context: "no channel request outstanding",
                    });
                }
                ch.our_requests -= 1;
                self.events.push_back(Event::RequestReply {
                    id,
                    ok: s.msg == MsgNumber::CHANNEL_SUCCESS,
                });
            }
        }
        Ok(())
    }

    fn on_request(&mut self, r: &ChannelRequest<'_>) -> Result<(), ConnectionError> {
        let request = RequestKind::parse(r.request_type, r.data)
            .map_err(ConnectionError::malformed(MsgNumber::CHANNEL_REQUEST.0))?;
        let token = self.token();
        let id = r.recipient;
        let ch = self.open_channel(MsgNumber::CHANNEL_REQUEST.0, id)?;
        if ch.close_received {
            return Err(ConnectionError::AfterEnd {
                channel: id,
                msg: MsgNumber::CHANNEL_REQUEST.0,
                after: "CLOSE",
            });
        }
        if r.want_reply {
            ch.peer_requests.push_back((token, None));
        }
        if matches!(request, RequestKind::KeepAlive) && r.want_reply {
            // OpenSSH answers its own keepalive with failure: it only proves liveness.
            self.reply_request(id, token, false);
            return Ok(());
        }
        self.events.push_back(Event::Request {
            id,
            request,
            want_reply: r.want_reply,
            token,
        });
        Ok(())
    }
}
