//! A small SSH server for the conformance tests, built on nacre's sans-IO server `Transport`
//! (key exchange, strict kex, ext-info) with user authentication and a session channel that
//! answers SFTP INIT written by hand, so that each [`Fault`] breaks exactly one clause of RFC
//! 4252/4254/8308, of RFC 4253 (§6.4 MAC failures, §11 generic messages after authentication)
//! or of strict kex (no sequence reset) after NEWKEYS. Without a fault it passes those checks.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_crypto::SystemRng;
use nacre_keys::{PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_transport::{Config, Event, Transport};
use nacre_wire::{put, Reader};

/// The user and password the server accepts.
pub const USER: &str = "tester";
/// The password.
pub const PASSWORD: &str = "conform-pw";

/// One broken clause (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Behaves.
    None,
    /// `none` listed among the methods that can continue.
    NoneListed,
    /// A wrong password is accepted.
    AnyPassword,
    /// A failed method is reported with partial success true.
    PartialOnFailure,
    /// A publickey query without signature authenticates.
    QueryAuthenticates,
    /// Any publickey signature is accepted (not verified over the session identifier).
    AnySignature,
    /// An unknown service is accepted.
    AnyService,
    /// Channel data ignores the client's window and maximum packet.
    IgnoresWindow,
    /// Channel requests never get a reply.
    NoChannelReply,
    /// Channel requests get a reply even without want_reply.
    ChannelReplyAlways,
    /// Unknown global requests get REQUEST_SUCCESS.
    GlobalSuccess,
    /// Global requests get a reply even without want_reply.
    GlobalReplyAlways,
    /// Channels of an unknown type are opened.
    OpensUnknown,
    /// After a re-exchange channel data is no longer answered.
    DeadAfterRekey,
    /// EXT_INFO is sent to a client that did not announce ext-info-c.
    ExtInfoUnasked,
    /// After authentication IGNORE is answered UNIMPLEMENTED.
    UnimplementedForIgnoreAfterAuth,
    /// After authentication an unrecognised message (8, 192–255) ends the connection.
    DisconnectsOnUnknownAfterAuth,
    /// A packet that fails (a bad MAC) makes the server go silent instead of disconnecting.
    SilentOnError,
    /// Strict kex is offered and agreed, but the server does not reset its sequence numbers.
    NoSequenceReset,
}

/// Starts the server on a free port; returns the port.
pub fn start(host_key: Arc<PrivateKey>, fault: Fault) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let key = host_key.clone();
            std::thread::spawn(move || {
                let _ = Conn::new(stream, key, fault).run();
            });
        }
    });
    port
}

struct Conn {
    stream: TcpStream,
    t: Transport,
    fault: Fault,
    /// The client's channel, its window and maximum packet.
    peer: Option<(u32, u32, u32)>,
    pending: Vec<u8>,
    sftp_in: Vec<u8>,
    rekeyed: bool,
    /// Sequence numbers of received packets the service layer does not know (192–255).
    unknown_seqs: std::collections::VecDeque<u32>,
}

impl Conn {
    fn new(stream: TcpStream, key: Arc<PrivateKey>, fault: Fault) -> Conn {
        let mut config = Config::server(vec![key]);
        if fault == Fault::AnyService {
            config.services.push("conform-unknown@nacre.invalid".into());
        }
        let mut t = Transport::server(Arc::new(config), Box::new(SystemRng), Instant::now());
        // Every received packet with its sequence number: UNIMPLEMENTED names it, and the
        // after-authentication faults see the generic messages the transport handles itself.
        t.record_received(true);
        t.skip_strict_reset(fault == Fault::NoSequenceReset);
        Conn {
            stream,
            t,
            fault,
            peer: None,
            pending: Vec::new(),
            sftp_in: Vec::new(),
            rekeyed: false,
            unknown_seqs: std::collections::VecDeque::new(),
        }
    }

    fn send(&mut self, payload: &[u8]) {
        self.t.send_raw(payload);
    }

    fn run(mut self) -> std::io::Result<()> {
        self.stream
            .set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        loop {
            self.on_received();
            while let Some(ev) = self.t.poll_event() {
                match ev {
                    Event::Packet(p) => self.on_packet(&p),
                    Event::KexComplete { first, .. } => {
                        if first && self.fault == Fault::ExtInfoUnasked {
                            let mut m = vec![7];
                            put::uint32(&mut m, 1);
                            put::string(&mut m, b"server-sig-algs");
                            put::string(&mut m, b"ssh-ed25519");
                            self.send(&m);
                        }
                        if !first {
                            self.rekeyed = true;
                        }
                    }
                    Event::Closed(e) => {
                        if self.fault == Fault::SilentOnError
                            && !matches!(
                                e,
                                nacre_transport::TransportError::PeerDisconnected { .. }
                            )
                        {
                            // No DISCONNECT, no close: wait for the client to give up.
                            loop {
                                match self.stream.read(&mut buf) {
                                    Ok(0) => return Ok(()),
                                    Ok(_) => {}
                                    Err(e)
                                        if e.kind() == std::io::ErrorKind::WouldBlock
                                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                                    Err(e) => return Err(e),
                                }
                            }
                        }
                        self.t.poll_transmit(&mut out);
                        let _ = self.stream.write_all(&out);
                        return Ok(());
                    }
                    _ => {}
                }
            }
            out.clear();
            self.t.poll_transmit(&mut out);
            if !out.is_empty() {
                self.stream.write_all(&out)?;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.t.handle_input(&buf[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(e),
            }
            self.t.handle_timeout(Instant::now());
        }
    }

    /// Looks at every packet received since the last call (generic ones included).
    fn on_received(&mut self) {
        for (seq, p) in self.t.take_received() {
            let n = p.first().copied().unwrap_or(0);
            if !self.t.is_authenticated() {
                continue;
            }
            if n >= 192 {
                self.unknown_seqs.push_back(seq);
            }
            match (self.fault, n) {
                (Fault::UnimplementedForIgnoreAfterAuth, 2) => {
                    let mut m = vec![3];
                    put::uint32(&mut m, seq);
                    self.send(&m);
                }
                (Fault::DisconnectsOnUnknownAfterAuth, 8 | 192..=255) => self.t.disconnect(
                    nacre_wire::DisconnectReason::PROTOCOL_ERROR,
                    "unknown message",
                ),
                _ => {}
            }
        }
    }

    fn on_packet(&mut self, p: &[u8]) {
        let mut r = Reader::new(&p[1..]);
        match p[0] {
            // Further authentication requests are ignored (RFC 4252 §5.1).
            50 if self.t.is_authenticated() => {}
            50 => self.on_userauth(p),
            // Unrecognised by this service: UNIMPLEMENTED with its sequence number.
            192..=255 if self.t.is_authenticated() => {
                if let Some(seq) = self.unknown_seqs.pop_front() {
                    let mut m = vec![3];
                    put::uint32(&mut m, seq);
                    self.send(&m);
                }
            }
            80 => {
                let _name = r.string().unwrap_or(b"");
                let want = r.bool().unwrap_or(false);
                if want || self.fault == Fault::GlobalReplyAlways {
                    self.send(&[if self.fault == Fault::GlobalSuccess {
                        81
                    } else {
                        82
                    }]);
                }
            }
            90 => {
                let kind = r.string().unwrap_or(b"").to_vec();
                let (id, win, max) = (
                    r.u32().unwrap_or(0),
                    r.u32().unwrap_or(0),
                    r.u32().unwrap_or(0),
                );
                if kind == b"session" || self.fault == Fault::OpensUnknown {
                    self.peer = Some((id, win, max));
                    let mut m = vec![91];
                    put::uint32(&mut m, id);
                    put::uint32(&mut m, 0);
                    put::uint32(&mut m, 1 << 20);
                    put::uint32(&mut m, 32768);
                    self.send(&m);
                } else {
                    let mut m = vec![92];
                    put::uint32(&mut m, id);
                    put::uint32(&mut m, 3);
                    put::string(&mut m, b"unknown channel type");
                    put::string(&mut m, b"");
                    self.send(&m);
                }
            }
            93 => {
                let _ = r.u32();
                let add = r.u32().unwrap_or(0);
                if let Some((_, win, _)) = self.peer.as_mut() {
                    *win = win.saturating_add(add);
                }
                self.flush_data();
            }
            94 => {
                let _ = r.u32();
                self.sftp_in.extend_from_slice(r.string().unwrap_or(b""));
                if self.sftp_in.len() >= 9 && !(self.fault == Fault::DeadAfterRekey && self.rekeyed)
                {
                    self.sftp_in.clear();
                    // SSH_FXP_VERSION 3 with one extension pair: 60 bytes.
                    let mut v = vec![2, 0, 0, 0, 3];
                    put::string(&mut v, b"conform@nacre.invalid");
                    put::string(&mut v, b"1234567890123456789012");
                    let mut framed = (v.len() as u32).to_be_bytes().to_vec();
                    framed.extend_from_slice(&v);
                    self.pending.extend_from_slice(&framed);
                    self.flush_data();
                }
            }
            98 => {
                let _ = r.u32();
                let kind = r.string().unwrap_or(b"").to_vec();
                let want = r.bool().unwrap_or(false);
                let Some((id, _, _)) = self.peer else { return };
                let reply = if kind == b"subsystem" { 99 } else { 100 };
                if kind == b"subsystem"
                    || (self.fault != Fault::NoChannelReply
                        && (want || self.fault == Fault::ChannelReplyAlways))
                {
                    let mut m = vec![reply];
                    put::uint32(&mut m, id);
                    self.send(&m);
                }
            }
            _ => {}
        }
    }

    /// Sends pending channel data within the client's window and maximum packet (unless the
    /// fault says otherwise).
    fn flush_data(&mut self) {
        let Some((id, win, max)) = self.peer else {
            return;
        };
        if self.fault == Fault::IgnoresWindow {
            let data = std::mem::take(&mut self.pending);
            let mut m = vec![94];
            put::uint32(&mut m, id);
            put::string(&mut m, &data);
            self.send(&m);
            return;
        }
        let mut win = win;
        while !self.pending.is_empty() && win > 0 {
            let n = self
                .pending
                .len()
                .min(win as usize)
                .min(max.max(1) as usize);
            let chunk: Vec<u8> = self.pending.drain(..n).collect();
            let mut m = vec![94];
            put::uint32(&mut m, id);
            put::string(&mut m, &chunk);
            self.send(&m);
            win -= n as u32;
        }
        if let Some(p) = self.peer.as_mut() {
            p.1 = win;
        }
    }

    fn on_userauth(&mut self, p: &[u8]) {
        let mut r = Reader::new(&p[1..]);
        let user = r.utf8().unwrap_or("").to_owned();
        let _service = r.string();
        let method = r.utf8().unwrap_or("").to_owned();
        let methods: &[u8] = if self.fault == Fault::NoneListed {
            b"none,publickey,password"
        } else {
            b"publickey,password"
        };
        let failure = |partial: bool| {
            let mut m = vec![51];
            put::string(&mut m, methods);
            put::boolean(&mut m, partial);
            m
        };
        let ok = match method.as_str() {
            "password" => {
                let _ = r.bool();
                let pw = r.utf8().unwrap_or("");
                (user == USER && pw == PASSWORD) || self.fault == Fault::AnyPassword
            }
            "publickey" => {
                let signed = r.bool().unwrap_or(false);
                let alg = r.utf8().unwrap_or("").to_owned();
                let blob = r.string().unwrap_or(b"").to_vec();
                if !signed {
                    if self.fault == Fault::QueryAuthenticates {
                        true
                    } else {
                        let mut m = vec![60];
                        put::string(&mut m, alg.as_bytes());
                        put::string(&mut m, &blob);
                        self.send(&m);
                        return;
                    }
                } else {
                    let sig = r.string().unwrap_or(b"");
                    let body = &p[..p.len() - 4 - sig.len()];
                    let mut data = Vec::new();
                    put::string(&mut data, self.t.session_id().unwrap_or(&[]));
                    data.extend_from_slice(body);
                    let verified = match (
                        PublicKey::from_blob(&blob),
                        SignatureAlgorithm::from_name(&alg),
                    ) {
                        (Ok(k), Some(a)) => k.verify(a, &data, sig).is_ok(),
                        _ => false,
                    };
                    verified || self.fault == Fault::AnySignature
                }
            }
            _ => false,
        };
        if ok {
            self.send(&[52]);
            self.t.set_authenticated();
        } else {
            self.send(&failure(self.fault == Fault::PartialOnFailure));
        }
    }
}
