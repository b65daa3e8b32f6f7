//! Fuzzing entry points for the connection protocol (feature `fuzzing`; docs/FUZZING.md).
//!
//! Every function takes arbitrary bytes and must never panic, except through an `assert!` that
//! flags a real bug. The cargo-fuzz targets in `fuzz/` and the stable corpus replay test call them.
//! The machine sits on top of an authenticated transport, so feeding it payloads directly is what
//! it sees after a successful handshake.

#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nacre_wire::{decode_exact, fuzz_round_trip, ChannelOpenFailureReason, Encode, MsgNumber};

use crate::msg::channel::{
    ChannelData, ChannelOpen, ChannelOpenConfirmation, ChannelOpenFailure, ChannelRequest,
    ChannelSignal, WindowAdjust,
};
use crate::msg::global::{
    parse_streamlocal_forward, request_failure, request_success, GlobalRequest, TcpipForward,
};
use crate::{
    ChannelId, ChannelKind, ConnectionConfig, ConnectionProtocol, Event, LivenessConfig,
    RequestKind,
};

/// The connection messages (RFC 4254): `data` is one payload, tried with every decoder; each
/// that accepts it must round-trip, and so must the typed channel kinds, requests and global
/// request data it carries.
pub fn connection_messages(data: &[u8]) {
    fuzz_round_trip!(ChannelOpenConfirmation<'_>, data);
    fuzz_round_trip!(ChannelOpenFailure<'_>, data);
    fuzz_round_trip!(WindowAdjust, data);
    fuzz_round_trip!(ChannelData<'_>, data);
    fuzz_round_trip!(ChannelSignal, data);
    // Each `unwrap` below decodes what `fuzz_round_trip!` just decoded successfully (it returns
    // true only then), so it cannot fail; a panic in this oracle is a finding, never a peer's.
    if fuzz_round_trip!(ChannelOpen<'_>, data) {
        let open = decode_exact::<ChannelOpen<'_>>(data).unwrap();
        kind_round_trip(open.channel_type, open.data);
    }
    if fuzz_round_trip!(ChannelRequest<'_>, data) {
        let req = decode_exact::<ChannelRequest<'_>>(data).unwrap();
        request_round_trip(req.request_type, req.data);
    }
    if fuzz_round_trip!(GlobalRequest<'_>, data) {
        let req = decode_exact::<GlobalRequest<'_>>(data).unwrap();
        if let Ok(fwd) = TcpipForward::parse(req.data) {
            assert_eq!(fwd.to_data(), req.data, "tcpip-forward data changed");
        }
        if let Ok(path) = parse_streamlocal_forward(req.data) {
            let mut again = Vec::new();
            nacre_wire::put::string(&mut again, path.as_bytes());
            assert_eq!(again, req.data);
        }
    }
    match data.first().copied().map(MsgNumber) {
        Some(MsgNumber::REQUEST_SUCCESS) => {
            assert_eq!(request_success(&data[1..]), data);
        }
        Some(MsgNumber::REQUEST_FAILURE) if data.len() == 1 => {
            assert_eq!(request_failure(), data);
        }
        _ => {}
    }
    // The typed data also on its own: the first byte picks a name, the rest is the data.
    if let Some((&pick, rest)) = data.split_first() {
        kind_round_trip(KIND_NAMES[usize::from(pick) % KIND_NAMES.len()], rest);
        request_round_trip(REQUEST_NAMES[usize::from(pick) % REQUEST_NAMES.len()], rest);
    }
}

const KIND_NAMES: &[&str] = &[
    "session",
    "direct-tcpip",
    "forwarded-tcpip",
    "direct-streamlocal@openssh.com",
    "forwarded-streamlocal@openssh.com",
    "auth-agent@openssh.com",
    "x11",
    "fuzz@nacre",
];

const REQUEST_NAMES: &[&str] = &[
    "pty-req",
    "x11-req",
    "env",
    "shell",
    "exec",
    "subsystem",
    "window-change",
    "signal",
    "exit-status",
    "exit-signal",
    "auth-agent-req@openssh.com",
    "keepalive@openssh.com",
    "fuzz@nacre",
];

fn kind_round_trip(name: &str, data: &[u8]) {
    if let Ok(kind) = ChannelKind::parse(name, data) {
        assert_eq!(kind.type_name(), name);
        let again = ChannelKind::parse(kind.type_name(), &kind.to_data());
        assert_eq!(again.as_ref(), Ok(&kind), "channel kind changed");
    }
}

fn request_round_trip(name: &str, data: &[u8]) {
    if let Ok(req) = RequestKind::parse(name, data) {
        assert_eq!(req.name(), name);
        let again = RequestKind::parse(req.name(), &req.to_data());
        assert_eq!(again.as_ref(), Ok(&req), "channel request changed");
    }
}

fn clock() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// A cursor over fuzz input that never fails: reads past the end give zeros or short slices.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn short(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }
    fn text(&mut self) -> String {
        String::from_utf8_lossy(self.short()).into_owned()
    }
    fn payload(&mut self) -> &'a [u8] {
        let n = usize::from(u16::from_be_bytes([self.u8(), self.u8()]));
        self.bytes(n)
    }
    /// A window or packet size: small ones (where the limits bite) most of the time.
    fn size(&mut self) -> u32 {
        match self.u8() % 8 {
            0 => 0,
            1 => 1,
            2 => u32::from(self.u8()),
            3 => u32::from(u16::from_be_bytes([self.u8(), self.u8()])),
            4 => 32 * 1024,
            5 => u32::MAX,
            _ => self.u32(),
        }
    }
}

fn build_kind(input: &mut Input<'_>) -> ChannelKind {
    match input.u8() % 8 {
        0 | 1 => ChannelKind::Session,
        2 => ChannelKind::DirectTcpip {
            host: input.text(),
            port: input.u32(),
            originator: "127.0.0.1".into(),
            originator_port: input.u32(),
        },
        3 => ChannelKind::ForwardedTcpip {
            address: input.text(),
            port: input.u32(),
            originator: input.text(),
            originator_port: 22,
        },
        4 => ChannelKind::DirectStreamlocal { path: input.text() },
        5 => ChannelKind::ForwardedStreamlocal { path: input.text() },
        6 => ChannelKind::AuthAgent,
        _ => ChannelKind::X11 {
            originator: input.text(),
            originator_port: input.u32(),
        },
    }
}

fn build_request(input: &mut Input<'_>) -> RequestKind {
    match input.u8() % 14 {
        0 => RequestKind::PtyReq {
            term: input.text(),
            cols: input.u32(),
            rows: input.u32(),
            width_px: 0,
            height_px: 0,
            modes: input.short().to_vec(),
        },
        1 => RequestKind::X11Req {
            single_connection: input.u8() & 1 == 1,
            auth_protocol: "MIT-MAGIC-COOKIE-1".into(),
            auth_cookie: input.text(),
            screen: input.u32(),
        },
        2 => RequestKind::Env {
            name: input.text(),
            value: input.text(),
        },
        3 => RequestKind::Shell,
        4 => RequestKind::Exec {
            command: input.short().to_vec(),
        },
        5 => RequestKind::Subsystem {
            name: "sftp".into(),
        },
        6 => RequestKind::WindowChange {
            cols: input.u32(),
            rows: input.u32(),
            width_px: input.u32(),
            height_px: input.u32(),
        },
        7 => RequestKind::Signal { name: input.text() },
        8 => RequestKind::ExitStatus { code: input.u32() },
        9 => RequestKind::ExitSignal {
            name: input.text(),
            core_dumped: input.u8() & 1 == 1,
            message: input.text(),
        },
        10 => RequestKind::AuthAgentReq,
        11 => RequestKind::KeepAlive,
        12 => RequestKind::Eow,
        _ => {
            // An application's own request type. Under the name of a request nacre knows, its data
            // would be checked against that request's layout by the peer model: the application
            // asked for a malformed request then, not the machine (found by this target).
            let name = input.text();
            let name = match RequestKind::parse(&name, &[]) {
                Ok(RequestKind::Other { .. }) => name,
                _ => format!("x-{name}"),
            };
            RequestKind::Other {
                name,
                data: input.short().to_vec(),
            }
        }
    }
}

const GLOBAL_NAMES: &[&str] = &[
    "tcpip-forward",
    "cancel-tcpip-forward",
    "streamlocal-forward@openssh.com",
    "cancel-streamlocal-forward@openssh.com",
    "keepalive@openssh.com",
    "no-more-sessions@openssh.com",
    "hostkeys-00@openssh.com",
];

/// What the fuzzer (the peer) knows of one channel, by the machine's number for it.
#[derive(Debug, Default)]
struct PeerChannel {
    /// The peer's number (the recipient of what the machine sends), once known.
    peer: Option<u32>,
    /// Confirmed both ways.
    open: bool,
    /// Bytes the machine may still send.
    window: u64,
    /// Largest data packet the machine may send.
    max_packet: u32,
    eof_sent: bool,
    close_sent: bool,
    close_received: bool,
}

/// The peer's model of the machine's channels, fed everything both sides said.
#[derive(Default)]
struct Model {
    channels: HashMap<ChannelId, PeerChannel>,
    /// The machine's own open requests not answered yet: its number.
    our_opens: Vec<ChannelId>,
    /// The peer's open requests the application must answer: machine id → (peer number, window,
    /// max packet).
    offered: HashMap<ChannelId, (u32, u32, u32)>,
    next_peer: u32,
}

impl Model {
    /// The machine's channel the peer knows by number `peer`, if exactly one.
    fn by_peer(&mut self, peer: u32) -> Option<(ChannelId, &mut PeerChannel)> {
        let mut found = self
            .channels
            .iter_mut()
            .filter(|(_, c)| c.peer == Some(peer) && !(c.close_sent && c.close_received));
        let first = found.next()?;
        if found.next().is_some() {
            return None;
        }
        Some((*first.0, first.1))
    }

    /// A payload the machine accepted from the peer. The machine decodes each message before
    /// it accepts it, so the `unwrap`s here cannot fail unless the machine is wrong (a finding).
    fn fed(&mut self, p: &[u8], events: &[Event]) {
        match p.first().copied().map(MsgNumber) {
            Some(MsgNumber::CHANNEL_OPEN) => {
                let open = decode_exact::<ChannelOpen<'_>>(p).unwrap();
                for ev in events {
                    if let Event::OpenRequest { id, .. } = ev {
                        self.offered
                            .insert(*id, (open.sender, open.initial_window, open.max_packet));
                    }
                }
            }
            Some(MsgNumber::CHANNEL_OPEN_CONFIRMATION) => {
                let c = decode_exact::<ChannelOpenConfirmation<'_>>(p).unwrap();
                self.our_opens.retain(|id| *id != c.recipient);
                let ch = self.channels.entry(c.recipient).or_default();
                *ch = PeerChannel {
                    peer: Some(c.sender),
                    open: true,
                    window: u64::from(c.initial_window),
                    max_packet: c.max_packet,
                    ..PeerChannel::default()
                };
            }
            Some(MsgNumber::CHANNEL_OPEN_FAILURE) => {
                let f = decode_exact::<ChannelOpenFailure<'_>>(p).unwrap();
                self.our_opens.retain(|id| *id != f.recipient);
                self.channels.remove(&f.recipient);
            }
            Some(MsgNumber::CHANNEL_WINDOW_ADJUST) => {
                let a = decode_exact::<WindowAdjust>(p).unwrap();
                if let Some(ch) = self.channels.get_mut(&a.recipient) {
                    ch.window += u64::from(a.bytes);
                }
            }
            Some(MsgNumber::CHANNEL_CLOSE) => {
                let s = decode_exact::<ChannelSignal>(p).unwrap();
                if let Some(ch) = self.channels.get_mut(&s.recipient) {
                    ch.close_received = true;
                }
            }
            _ => {}
        }
    }

    /// A payload the machine sent: it must decode, and respect what the peer allowed.
    fn sent(&mut self, p: &[u8]) {
        let msg = MsgNumber(p.first().copied().unwrap_or(0));
        fn channel_msg(model: &mut Model, peer: u32) -> Option<&mut PeerChannel> {
            let (_, ch) = model.by_peer(peer)?;
            assert!(!ch.close_sent, "message for a channel after its CLOSE");
            Some(ch)
        }
        match msg {
            MsgNumber::GLOBAL_REQUEST => {
                decode_exact::<GlobalRequest<'_>>(p).expect("malformed GLOBAL_REQUEST");
            }
            MsgNumber::REQUEST_SUCCESS => {}
            MsgNumber::REQUEST_FAILURE => assert_eq!(p.len(), 1, "malformed REQUEST_FAILURE"),
            MsgNumber::CHANNEL_OPEN => {
                let open = decode_exact::<ChannelOpen<'_>>(p).expect("malformed CHANNEL_OPEN");
                ChannelKind::parse(open.channel_type, open.data).expect("malformed open data");
                assert!(open.max_packet > 0);
                self.our_opens.push(open.sender);
                self.channels.insert(open.sender, PeerChannel::default());
            }
            MsgNumber::CHANNEL_OPEN_CONFIRMATION => {
                let c = decode_exact::<ChannelOpenConfirmation<'_>>(p)
                    .expect("malformed CHANNEL_OPEN_CONFIRMATION");
                let Some((peer, window, max_packet)) = self.offered.remove(&c.sender) else {
                    return;
                };
                assert_eq!(c.recipient, peer, "confirmation to the wrong channel");
                self.channels.insert(
                    c.sender,
                    PeerChannel {
                        peer: Some(peer),
                        open: true,
                        window: u64::from(window),
                        max_packet,
                        ..PeerChannel::default()
                    },
                );
            }
            MsgNumber::CHANNEL_OPEN_FAILURE => {
                decode_exact::<ChannelOpenFailure<'_>>(p).expect("malformed CHANNEL_OPEN_FAILURE");
            }
            MsgNumber::CHANNEL_WINDOW_ADJUST => {
                let a = decode_exact::<WindowAdjust>(p).expect("malformed WINDOW_ADJUST");
                assert!(a.bytes > 0, "empty WINDOW_ADJUST");
                channel_msg(self, a.recipient);
            }
            MsgNumber::CHANNEL_DATA | MsgNumber::CHANNEL_EXTENDED_DATA => {
                let d = decode_exact::<ChannelData<'_>>(p).expect("malformed CHANNEL_DATA");
                assert!(!d.data.is_empty(), "empty CHANNEL_DATA");
                if let Some(ch) = channel_msg(self, d.recipient) {
                    assert!(ch.open, "data on a channel not open");
                    assert!(!ch.eof_sent, "data after EOF");
                    let len = d.data.len() as u64;
                    assert!(
                        len <= u64::from(ch.max_packet),
                        "data packet of {len} over the peer's maximum {}",
                        ch.max_packet
                    );
                    assert!(len <= ch.window, "data over the peer's window");
                    ch.window -= len;
                }
            }
            MsgNumber::CHANNEL_EOF
            | MsgNumber::CHANNEL_CLOSE
            | MsgNumber::CHANNEL_SUCCESS
            | MsgNumber::CHANNEL_FAILURE => {
                let s = decode_exact::<ChannelSignal>(p).expect("malformed channel signal");
                if let Some(ch) = channel_msg(self, s.recipient) {
                    match s.msg {
                        MsgNumber::CHANNEL_EOF => {
                            assert!(!ch.eof_sent, "EOF twice");
                            ch.eof_sent = true;
                        }
                        MsgNumber::CHANNEL_CLOSE => ch.close_sent = true,
                        _ => {}
                    }
                }
            }
            MsgNumber::CHANNEL_REQUEST => {
                let r = decode_exact::<ChannelRequest<'_>>(p).expect("malformed CHANNEL_REQUEST");
                RequestKind::parse(r.request_type, r.data).expect("malformed request data");
                if let Some(ch) = channel_msg(self, r.recipient) {
                    assert!(ch.open, "request on a channel not open");
                }
            }
            other => panic!("the machine sent message {other:?}"),
        }
    }

    /// A channel number to address: mostly a live one, sometimes any.
    fn pick(&self, input: &mut Input<'_>) -> ChannelId {
        let b = input.u8();
        let mut ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        ids.sort_unstable();
        if b >= 0xf0 || ids.is_empty() {
            u32::from(b & 0x0f)
        } else {
            ids[usize::from(b) % ids.len()]
        }
    }
}

/// A well-formed peer message from typed fields, mostly addressed to channels that exist.
fn build_message(input: &mut Input<'_>, model: &mut Model) -> Vec<u8> {
    let id = model.pick(input);
    match input.u8() % 12 {
        0 => {
            let kind = build_kind(input);
            model.next_peer += 1;
            ChannelOpen {
                channel_type: kind.type_name(),
                sender: model.next_peer,
                initial_window: input.size(),
                max_packet: input.size(),
                data: &kind.to_data(),
            }
            .to_bytes()
        }
        1 => {
            let recipient = if model.our_opens.is_empty() {
                id
            } else {
                model.our_opens[usize::from(input.u8()) % model.our_opens.len()]
            };
            model.next_peer += 1;
            if input.u8().is_multiple_of(4) {
                ChannelOpenFailure {
                    recipient,
                    reason: ChannelOpenFailureReason::CONNECT_FAILED,
                    description: input.text().into(),
                    language: b"",
                }
                .to_bytes()
            } else {
                ChannelOpenConfirmation {
                    recipient,
                    sender: model.next_peer,
                    initial_window: input.size(),
                    max_packet: input.size(),
                    data: &[],
                }
                .to_bytes()
            }
        }
        2 | 3 => {
            let len = usize::from(u16::from_be_bytes([input.u8(), input.u8()]) % 4096);
            let code = (input.u8().is_multiple_of(4)).then_some(1);
            ChannelData {
                recipient: id,
                code,
                data: &vec![0x61; len],
            }
            .to_bytes()
        }
        4 => WindowAdjust {
            recipient: id,
            bytes: input.size(),
        }
        .to_bytes(),
        5..=7 => {
            let msg = [
                MsgNumber::CHANNEL_EOF,
                MsgNumber::CHANNEL_CLOSE,
                MsgNumber::CHANNEL_SUCCESS,
                MsgNumber::CHANNEL_FAILURE,
            ][usize::from(input.u8() % 4)];
            ChannelSignal { msg, recipient: id }.to_bytes()
        }
        8 | 9 => {
            let req = build_request(input);
            ChannelRequest {
                recipient: id,
                request_type: req.name(),
                want_reply: input.u8() & 1 == 1,
                data: &req.to_data(),
            }
            .to_bytes()
        }
        10 => {
            let name = GLOBAL_NAMES[usize::from(input.u8()) % GLOBAL_NAMES.len()];
            let data = TcpipForward {
                address: "localhost",
                port: input.u32(),
            }
            .to_data();
            GlobalRequest {
                name,
                want_reply: input.u8() & 1 == 1,
                data: &data,
            }
            .to_bytes()
        }
        _ => {
            if input.u8() & 1 == 0 {
                request_success(input.short())
            } else {
                request_failure()
            }
        }
    }
}

/// Questions the application has to answer.
#[derive(Default)]
struct App {
    offers: Vec<ChannelId>,
    requests: Vec<(ChannelId, crate::ReplyToken)>,
    globals: Vec<crate::ReplyToken>,
    unread: Vec<(ChannelId, usize)>,
}

/// The connection machine after authentication, fed a script: `data[0]` picks the settings
/// (window, packet size, channel limit, keepalive) and the role the application plays; then
/// each step feeds a raw payload or a well-formed peer message, or has the application act
/// (open, accept or reject, send data, consume, EOF, close, requests, replies, time).
///
/// Checks: every payload the machine sends decodes and is for a channel the peer knows; data
/// never exceeds the peer's window or maximum packet, nor follows EOF or CLOSE; nothing is sent
/// for a channel after its CLOSE; `send_data` takes no more than `send_capacity`; the next
/// deadline is never in the past; an error ends the run.
pub fn connection_machine(data: &[u8]) {
    let mut input = Input(data);
    let flags = input.u8();
    let server = flags & 1 == 1;
    let config = ConnectionConfig {
        window_size: [64, 1024, 32 * 1024, crate::DEFAULT_WINDOW_SIZE][usize::from(flags >> 1) & 3],
        max_packet: [16, 512, 32 * 1024, crate::DEFAULT_MAX_PACKET][usize::from(flags >> 3) & 3],
        max_channels: [1, 3, 8, crate::DEFAULT_MAX_CHANNELS][usize::from(flags >> 5) & 3],
        ..ConnectionConfig::default()
    };
    let mut machine = ConnectionProtocol::new(config);
    if flags & 0x80 != 0 {
        machine.set_liveness(LivenessConfig {
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 2,
            unused_timeout: Some(Duration::from_secs(60)),
        });
    }
    let mut model = Model::default();
    let mut app = App::default();
    let mut now = clock();
    let mut steps = 0;
    while !input.is_empty() && steps < 256 {
        steps += 1;
        let op = input.u8();
        let mut fed = None;
        let result = match op % 16 {
            0 | 1 => {
                let p = input.payload().to_vec();
                fed = Some(p);
                Ok(())
            }
            2..=6 => {
                fed = Some(build_message(&mut input, &mut model));
                Ok(())
            }
            7 => {
                let kind = if server && input.u8() & 1 == 0 {
                    ChannelKind::ForwardedTcpip {
                        address: "0.0.0.0".into(),
                        port: 8080,
                        originator: "10.0.0.1".into(),
                        originator_port: 1234,
                    }
                } else {
                    build_kind(&mut input)
                };
                let before = machine.channel_count();
                if machine.open(kind).is_none() {
                    assert!(before >= config_max(flags), "open refused below the limit");
                }
                Ok(())
            }
            8 => {
                if !app.offers.is_empty() {
                    let id = app
                        .offers
                        .remove(usize::from(input.u8()) % app.offers.len());
                    if input.u8().is_multiple_of(4) {
                        machine.reject_open(
                            id,
                            ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                            "no",
                        );
                    } else {
                        machine.accept_open(id);
                    }
                }
                Ok(())
            }
            9 => {
                let id = model.pick(&mut input);
                let len = usize::from(u16::from_be_bytes([input.u8(), input.u8()]));
                let code = (input.u8().is_multiple_of(4)).then_some(1);
                let capacity = machine.send_capacity(id);
                let taken = machine.send_data(id, code, &vec![0x62; len]);
                assert!(taken <= len && taken <= capacity, "send_data took too much");
                Ok(())
            }
            10 => {
                if !app.unread.is_empty() {
                    let (id, n) = app
                        .unread
                        .remove(usize::from(input.u8()) % app.unread.len());
                    machine.consume(id, n);
                }
                Ok(())
            }
            11 => {
                let id = model.pick(&mut input);
                if input.u8() & 1 == 0 {
                    machine.eof(id);
                } else {
                    machine.close(id);
                }
                Ok(())
            }
            12 => {
                let id = model.pick(&mut input);
                let req = if server {
                    RequestKind::ExitStatus { code: input.u32() }
                } else {
                    build_request(&mut input)
                };
                let _ = machine.request(id, &req, input.u8() & 1 == 1);
                Ok(())
            }
            13 => {
                let ok = input.u8() & 1 == 1;
                if input.u8() & 1 == 0 && !app.requests.is_empty() {
                    let (id, token) = app
                        .requests
                        .remove(usize::from(input.u8()) % app.requests.len());
                    machine.reply_request(id, token, ok);
                } else if !app.globals.is_empty() {
                    let token = app
                        .globals
                        .remove(usize::from(input.u8()) % app.globals.len());
                    machine.reply_global(token, ok, &[0, 0, 0x1f, 0x90]);
                }
                Ok(())
            }
            14 => {
                let name = GLOBAL_NAMES[usize::from(input.u8()) % GLOBAL_NAMES.len()];
                machine.global_request(name, &[], input.u8() & 1 == 1);
                Ok(())
            }
            _ if op & 0x80 != 0 => {
                // The runtime widening windows to what it measured, within a budget.
                let target = u64::from(input.u32());
                let budget = u64::from(input.u32());
                let before = machine.widened_bytes();
                let added = machine.widen_windows(target, budget);
                assert!(added <= budget, "widened past the budget");
                assert_eq!(
                    machine.widened_bytes(),
                    before + added,
                    "widening miscounted"
                );
                Ok(())
            }
            _ => {
                now += Duration::from_secs(u64::from(input.u8()));
                let r = machine.handle_timeout(now);
                if r.is_ok() {
                    if let Some(deadline) = machine.poll_timeout() {
                        assert!(deadline > now, "deadline in the past");
                    }
                }
                r
            }
        };
        let result = match (result, fed) {
            (Ok(()), Some(p)) => {
                let r = machine.handle_packet(&Bytes::from(p.clone()));
                let mut events = Vec::new();
                while let Some(ev) = machine.poll_event() {
                    events.push(ev);
                }
                if r.is_ok() {
                    model.fed(&p, &events);
                }
                observe(&mut app, &machine, &events);
                r
            }
            (r, _) => {
                let mut events = Vec::new();
                while let Some(ev) = machine.poll_event() {
                    events.push(ev);
                }
                observe(&mut app, &machine, &events);
                r
            }
        };
        while let Some(p) = machine.poll_transmit() {
            model.sent(&p);
        }
        if let Err(e) = result {
            let _ = e.to_string();
            return;
        }
    }
}

fn config_max(flags: u8) -> usize {
    [1, 3, 8, crate::DEFAULT_MAX_CHANNELS][usize::from(flags >> 5) & 3]
}

fn observe(app: &mut App, machine: &ConnectionProtocol, events: &[Event]) {
    for ev in events {
        match ev {
            Event::OpenRequest { id, kind } => {
                assert_eq!(machine.kind(*id), Some(kind));
                app.offers.push(*id);
            }
            Event::Data { id, data, .. } => {
                assert!(!data.is_empty(), "empty data event");
                app.unread.push((*id, data.len()));
            }
            Event::Request {
                id,
                want_reply: true,
                token,
                ..
            } => app.requests.push((*id, *token)),
            Event::GlobalRequest {
                want_reply: true,
                token,
                ..
            } => app.globals.push(*token),
            Event::Closed { id } | Event::OpenFailed { id, .. } => {
                assert!(machine.kind(*id).is_none(), "a closed channel still exists");
                app.offers.retain(|o| o != id);
                app.requests.retain(|(o, _)| o != id);
                app.unread.retain(|(o, _)| o != id);
            }
            _ => {}
        }
    }
}
