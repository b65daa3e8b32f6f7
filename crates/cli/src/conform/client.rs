//! A conformance client after NEWKEYS: nacre's sans-IO [`Transport`] (every kex method and
//! cipher, strict kex, ext-info) over a blocking socket, with its conformance hooks
//! (`send_raw`, `record_received`, `next_send_seq`) so a check sends any message in any state and
//! sees every packet that comes back, generic ones (UNIMPLEMENTED, IGNORE) included. User
//! authentication and channel messages are framed here by hand, so a check can get them wrong on
//! purpose.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_crypto::SystemRng;
use nacre_transport::{Algorithms, Config, Event, Transport, TransportError};
use nacre_wire::{put, Reader};

use super::raw::Seen;
use super::Target;

/// A connection driven by a [`Transport`].
pub struct Client {
    stream: TcpStream,
    /// The transport machine.
    pub t: Transport,
    out: Vec<u8>,
    /// Events not yet looked at.
    pub events: Vec<Event>,
    timeout: Duration,
    closed: bool,
    /// Received packets not yet looked at by [`Client::observe`].
    backlog: std::collections::VecDeque<Vec<u8>>,
}

/// The client configuration the checks use: every algorithm nacre knows, strict kex and
/// ext-info announced.
pub fn config() -> Config {
    let mut c = Config::client();
    c.algorithms = Algorithms::all();
    // curve25519 first: every server has it and it is fast even in a debug build (the kex
    // method is not what these checks test).
    c.algorithms.kex.sort_by_key(|k| {
        !matches!(
            k,
            nacre_transport::KexMethod::Curve25519Sha256
                | nacre_transport::KexMethod::Curve25519Sha256Libssh
        )
    });
    c.software_version = "nacre_conform".into();
    c
}

impl Client {
    /// Connects and starts the exchange (nothing is read yet).
    pub fn connect(target: &Target, config: Config) -> anyhow::Result<Client> {
        use std::net::ToSocketAddrs;
        let addr = (target.host.as_str(), target.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{}: no address", target.host))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        let mut t = Transport::client(Arc::new(config), Box::new(SystemRng), Instant::now());
        t.record_received(true);
        Ok(Client {
            stream,
            t,
            out: Vec::new(),
            events: Vec::new(),
            timeout: target.timeout,
            closed: false,
            backlog: std::collections::VecDeque::new(),
        })
    }

    /// How long [`Client::observe`] waits for one reaction.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Writes what the transport has to send.
    pub fn flush(&mut self) {
        self.t.poll_transmit(&mut self.out);
        if !self.out.is_empty() {
            if self.stream.write_all(&self.out).is_err() {
                self.closed = true;
            }
            self.out.clear();
        }
    }

    /// Takes the transport's pending output instead of sending it (to corrupt it).
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.t.poll_transmit(&mut out);
        out
    }

    /// Writes bytes as they are.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        if self.stream.write_all(bytes).is_err() {
            self.closed = true;
        }
    }

    /// One round: flush, read what arrives within `deadline`, feed it, answer host keys.
    /// False once the connection is closed or the deadline passed with nothing read.
    fn step(&mut self, deadline: Instant) -> bool {
        self.pump_events();
        if self.closed {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = self.stream.set_read_timeout(Some(left));
        let mut buf = [0u8; 64 * 1024];
        match self.stream.read(&mut buf) {
            Ok(n) if n > 0 => {
                self.t.handle_input(buf.get(..n).unwrap_or(&[]));
                self.t.handle_timeout(Instant::now());
                self.pump_events();
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            // End of stream or a reset.
            _ => {
                self.t.handle_eof();
                self.closed = true;
                self.drain_events();
                false
            }
        }
    }

    /// Moves the transport's events to `events` (accepting host keys: the checks verify none
    /// and send no secret the user did not give) and sends what they caused.
    fn pump_events(&mut self) {
        self.flush();
        while let Some(ev) = self.t.poll_event() {
            if matches!(ev, Event::HostKey { .. }) {
                self.t.accept_host_key();
            }
            if matches!(ev, Event::Closed(_)) {
                self.closed = true;
            }
            self.events.push(ev);
        }
        self.flush();
    }

    fn drain_events(&mut self) {
        while let Some(ev) = self.t.poll_event() {
            self.events.push(ev);
        }
    }

    /// Whether the connection is over.
    pub fn is_closed(&self) -> bool {
        self.closed || self.t.is_closed()
    }

    /// Drives the connection until `done` holds (true), it closes or the timeout passes (false).
    pub fn until(&mut self, mut done: impl FnMut(&mut Client) -> bool) -> bool {
        let deadline = Instant::now() + self.timeout.max(Duration::from_secs(5));
        loop {
            if done(self) {
                return true;
            }
            if !self.step(deadline) && (self.is_closed() || Instant::now() >= deadline) {
                return done(self);
            }
        }
    }

    /// Runs the first exchange and the `ssh-userauth` service request.
    pub fn handshake(&mut self) -> anyhow::Result<()> {
        self.t.request_service("ssh-userauth");
        let ok = self.until(|c| {
            c.events
                .iter()
                .any(|e| matches!(e, Event::ServiceAccepted(_)))
        });
        self.t.take_received();
        if ok {
            Ok(())
        } else {
            anyhow::bail!("handshake failed: {}", self.close_text())
        }
    }

    /// Why the connection closed, or "still open".
    pub fn close_text(&self) -> String {
        match self.t.close_reason() {
            Some(e) => e.to_string(),
            None if self.closed => "connection closed".into(),
            None => "no answer".into(),
        }
    }

    /// Sends `payload` as it is; returns its sequence number.
    pub fn send_raw(&mut self, payload: &[u8]) -> u32 {
        let seq = self.t.next_send_seq();
        self.t.send_raw(payload);
        self.flush();
        seq
    }

    /// Collects what the server sends until `stop` holds for a packet, the connection closes
    /// or nothing more comes within the timeout.
    pub fn observe(&mut self, mut stop: impl FnMut(&[u8]) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + self.timeout;
        let mut seen = Vec::new();
        loop {
            let progressed = self.step(deadline);
            self.backlog
                .extend(self.t.take_received().into_iter().map(|(_, p)| p.to_vec()));
            while let Some(p) = self.backlog.pop_front() {
                let end = stop(&p);
                seen.push(Seen::Packet(p));
                if end {
                    return seen;
                }
            }
            if self.is_closed() {
                if let Some(TransportError::PeerDisconnected { .. }) = self.t.close_reason() {
                    // The DISCONNECT is already in `seen`.
                } else if let Some(e) = self.t.close_reason() {
                    seen.push(Seen::Garbage(format!("our transport closed: {e}")));
                }
                seen.push(Seen::Closed);
                return seen;
            }
            if !progressed && Instant::now() >= deadline {
                seen.push(Seen::Silence);
                return seen;
            }
        }
    }

    /// Sends a USERAUTH_REQUEST with the password; true on USERAUTH_SUCCESS.
    pub fn login_password(&mut self, user: &str, password: &str) -> Result<bool, String> {
        self.send_raw(&userauth_password(user, password));
        self.await_auth_result()
    }

    /// Signs in with `key` (signature over the real session identifier); true on success.
    pub fn login_key(&mut self, user: &str, key: &nacre_keys::PrivateKey) -> Result<bool, String> {
        let sid = self.t.session_id().unwrap_or(&[]).to_vec();
        let payload = userauth_publickey(user, key, &sid, self.server_sig_algs())?;
        self.send_raw(&payload);
        self.await_auth_result()
    }

    /// The server-sig-algs the server announced.
    pub fn server_sig_algs(&self) -> Vec<String> {
        self.t
            .server_sig_algs()
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }

    /// Waits for USERAUTH_SUCCESS (true) or FAILURE (false), skipping banners.
    pub fn await_auth_result(&mut self) -> Result<bool, String> {
        let seen = self.observe(|p| matches!(p.first(), Some(51 | 52)));
        if super::raw::has_msg(&seen, 52) {
            self.t.set_authenticated();
            return Ok(true);
        }
        if super::raw::has_msg(&seen, 51) {
            return Ok(false);
        }
        Err(super::raw::describe(&seen))
    }

    /// Logs in with the target's credentials (key first, then password).
    pub fn login(&mut self, target: &Target) -> Result<(), String> {
        let user = target.user.as_deref().ok_or("no --user")?;
        if let Some(key) = &target.key {
            if self.login_key(user, key)? {
                return Ok(());
            }
        }
        if let Some(pw) = &target.password {
            if self.login_password(user, pw)? {
                return Ok(());
            }
        }
        Err(format!(
            "{user} was not authenticated with the given credentials"
        ))
    }

    /// Connects, runs the handshake and logs in: a client ready for the connection protocol.
    pub fn logged_in(target: &Target) -> Result<Client, String> {
        let mut c = Client::connect(target, config()).map_err(|e| e.to_string())?;
        c.handshake().map_err(|e| e.to_string())?;
        c.login(target)?;
        Ok(c)
    }

    /// Opens a `session` channel with our window and maximum packet; returns (server's
    /// channel, its initial window, its maximum packet).
    pub fn open_session(
        &mut self,
        window: u32,
        max_packet: u32,
    ) -> Result<(u32, u32, u32), String> {
        let mut m = vec![90];
        put::string(&mut m, b"session");
        put::uint32(&mut m, 0);
        put::uint32(&mut m, window);
        put::uint32(&mut m, max_packet);
        self.send_raw(&m);
        let seen = self.observe(|p| matches!(p.first(), Some(91 | 92)));
        for s in &seen {
            if let Seen::Packet(p) = s {
                if p.first() == Some(&91) {
                    let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
                    let _ours = r.u32().map_err(|e| e.to_string())?;
                    let theirs = r.u32().map_err(|e| e.to_string())?;
                    let win = r.u32().map_err(|e| e.to_string())?;
                    let max = r.u32().map_err(|e| e.to_string())?;
                    return Ok((theirs, win, max));
                }
            }
        }
        Err(format!(
            "session channel refused: {}",
            super::raw::describe(&seen)
        ))
    }

    /// CHANNEL_REQUEST `subsystem` `sftp` with want_reply; true on CHANNEL_SUCCESS.
    pub fn start_sftp(&mut self, channel: u32) -> Result<bool, String> {
        let mut m = channel_request(channel, "subsystem", true);
        put::string(&mut m, b"sftp");
        self.send_raw(&m);
        let seen = self.observe(|p| matches!(p.first(), Some(99 | 100)));
        if super::raw::has_msg(&seen, 99) {
            Ok(true)
        } else if super::raw::has_msg(&seen, 100) {
            Ok(false)
        } else {
            Err(super::raw::describe(&seen))
        }
    }
}

/// CHANNEL_REQUEST header: recipient channel, request type, want_reply (type-specific data
/// follows).
pub fn channel_request(channel: u32, kind: &str, want_reply: bool) -> Vec<u8> {
    let mut m = vec![98];
    put::uint32(&mut m, channel);
    put::string(&mut m, kind.as_bytes());
    put::boolean(&mut m, want_reply);
    m
}

/// CHANNEL_DATA.
pub fn channel_data(channel: u32, data: &[u8]) -> Vec<u8> {
    let mut m = vec![94];
    put::uint32(&mut m, channel);
    put::string(&mut m, data);
    m
}

/// GLOBAL_REQUEST with no data.
pub fn global_request(name: &str, want_reply: bool) -> Vec<u8> {
    let mut m = vec![80];
    put::string(&mut m, name.as_bytes());
    put::boolean(&mut m, want_reply);
    m
}

/// USERAUTH_REQUEST header for `ssh-connection`.
pub fn userauth_header(user: &str, method: &str) -> Vec<u8> {
    let mut m = vec![50];
    put::string(&mut m, user.as_bytes());
    put::string(&mut m, b"ssh-connection");
    put::string(&mut m, method.as_bytes());
    m
}

/// USERAUTH_REQUEST `password`.
pub fn userauth_password(user: &str, password: &str) -> Vec<u8> {
    let mut m = userauth_header(user, "password");
    put::boolean(&mut m, false);
    put::string(&mut m, password.as_bytes());
    m
}

/// The signature algorithm for `key`: the first the server announced in server-sig-algs that
/// the key supports, else the key type's first.
pub fn signature_algorithm(
    key: &nacre_keys::PrivateKey,
    server_sig_algs: Vec<String>,
) -> Option<nacre_keys::SignatureAlgorithm> {
    let algs = key.key_type().signature_algorithms();
    algs.iter()
        .copied()
        .find(|a| server_sig_algs.iter().any(|s| s == a.name()))
        .or_else(|| algs.first().copied())
}

/// USERAUTH_REQUEST `publickey` with a signature over `session_id` (RFC 4252 §7).
pub fn userauth_publickey(
    user: &str,
    key: &nacre_keys::PrivateKey,
    session_id: &[u8],
    server_sig_algs: Vec<String>,
) -> Result<Vec<u8>, String> {
    let alg = signature_algorithm(key, server_sig_algs).ok_or("no signature algorithm")?;
    let blob = key.public_key().to_blob();
    let mut m = userauth_header(user, "publickey");
    put::boolean(&mut m, true);
    put::string(&mut m, alg.name().as_bytes());
    put::string(&mut m, &blob);
    let mut signed = Vec::new();
    put::string(&mut signed, session_id);
    signed.extend_from_slice(&m);
    let sig = key.sign(alg, &signed).map_err(|e| e.to_string())?;
    put::string(&mut m, &sig);
    Ok(m)
}
