//! The mapper: turns abstract inputs into real SSH packets of one client connection and the
//! server's packets into abstract outputs. It keeps the client's crypto state itself (the key
//! exchange of `exchange.rs`, nacre-transport's [`PacketWriter`]/[`PacketReader`] for framing
//! and protection), so every symbol is sent as it is whatever state the connection is in: a
//! NEWKEYS before any exchange, a channel request before authentication. Messages are built
//! with the conformance suite's builders (`conform/raw.rs`, `conform/client.rs`).

use bytes::BytesMut;
use nacre::crypto::Rng;
use nacre::transport::packet::{PacketReader, PacketWriter};
use nacre::wire::put;

use super::alphabet::{message_name, Input, BAD_PACKET, CH_MAX, CH_NONE, NO_CONN, NO_RESP};
use super::exchange::{self, Ephemeral, NewKeys, Transcript};
use super::peer::Peer;
use super::Credentials;
use crate::conform::client::{channel_data, channel_request, global_request, userauth_header};
use crate::conform::client::{userauth_password, userauth_publickey};
use crate::conform::raw::{trim_eol, KexInitSpec};

/// Our identification line.
pub const V_C: &[u8] = b"SSH-2.0-nacre_learn";
/// Largest packet accepted from the server.
const MAX_PACKET: usize = 256 * 1024;
/// Our channel number, window and maximum packet for CH_OPEN.
const CHANNEL: (u32, u32, u32) = (0, 2 * 1024 * 1024, 32768);
/// The sequence number UNIMPLEMENTED names.
const UNIMPLEMENTED_SEQ: u32 = u32::MAX;

/// Settings of the mapper.
pub struct Settings {
    /// The user and the secrets UA_* inputs use.
    pub creds: Credentials,
    /// Announce strict kex (`kex-strict-c-v00@openssh.com`) in KEXINIT.
    pub strict_kex: bool,
    /// Seeds the mapper's random source anew at each reset (memory mode: every connection
    /// sends the same bytes); `None`: the operating system's source.
    pub seed: Option<u64>,
}

/// One connection's client state.
struct Conn {
    v_s: Vec<u8>,
    reader: PacketReader,
    writer: PacketWriter,
    input: BytesMut,
    server_kexinit: Vec<u8>,
    our_kexinit: Option<Vec<u8>>,
    ephemeral: Option<Ephemeral>,
    pending: Option<NewKeys>,
    session_id: Option<Vec<u8>>,
    strict: bool,
    /// The server's number for our channel, once confirmed.
    channel: Option<u32>,
    /// A DISCONNECT or an undecodable packet arrived: the connection is over.
    over: bool,
}

/// The mapper over one peer.
pub struct Mapper<P: Peer> {
    peer: P,
    settings: Settings,
    rng: Box<dyn Rng>,
    conn: Option<Conn>,
}

impl<P: Peer> Mapper<P> {
    /// A mapper with no connection yet (every input answers `NO_CONN` until [`Mapper::reset`]).
    pub fn new(peer: P, settings: Settings) -> Self {
        Mapper {
            peer,
            settings,
            rng: Box::new(nacre::crypto::SystemRng),
            conn: None,
        }
    }

    /// A new connection: identification lines exchanged and the server's first KEXINIT read.
    pub fn reset(&mut self) -> anyhow::Result<()> {
        self.conn = None;
        if let Some(seed) = self.settings.seed {
            self.rng = Box::new(nacre::crypto::SeededRng::new(seed));
        }
        self.peer.connect()?;
        let mut line = V_C.to_vec();
        line.extend_from_slice(b"\r\n");
        self.peer.send(&line);
        let mut input = Vec::new();
        let mut seed = [0u8; 32];
        self.rng.fill(&mut seed);
        // The server's lines and first packet may take several reads over TCP.
        for _ in 0..20 {
            let r = self.peer.receive();
            input.extend_from_slice(&r.bytes);
            if let Some(conn) = Conn::start(&input, seed)? {
                self.conn = Some(conn);
                return Ok(());
            }
            if r.closed {
                anyhow::bail!("the server closed the connection before its first KEXINIT");
            }
        }
        anyhow::bail!("no identification line and KEXINIT from the server")
    }

    /// Sends one input and returns the abstract output.
    pub fn step(&mut self, input: Input) -> String {
        let Some(conn) = self.conn.as_mut() else {
            return NO_CONN.to_owned();
        };
        let payload = match conn.payload(input, &self.settings, self.rng.as_mut()) {
            Ok(p) => p,
            Err(local) => return local.to_owned(),
        };
        let mut out = Vec::new();
        if conn.writer.write(&mut out, &payload).is_err() {
            return BAD_PACKET.to_owned();
        }
        if input == Input::NewKeys {
            if let Some(key) = conn.pending.as_mut().and_then(|k| k.c2s.take()) {
                conn.writer.set_key(key, conn.strict);
            }
        }
        self.peer.send(&out);
        let reaction = self.peer.receive();
        let names = conn.absorb(&reaction.bytes);
        let closed = reaction.closed || conn.over || input == Input::Disconnect;
        if closed {
            self.conn = None;
        }
        match (names.is_empty(), closed) {
            (false, _) => names.join("+"),
            (true, true) => NO_CONN.to_owned(),
            (true, false) => NO_RESP.to_owned(),
        }
    }
}

impl Conn {
    /// The connection once `input` holds the server's identification line and a KEXINIT;
    /// `None` while bytes are missing.
    fn start(input: &[u8], seed: [u8; 32]) -> anyhow::Result<Option<Conn>> {
        let mut rest = input;
        let v_s = loop {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let (line, tail) = rest.split_at(nl + 1);
            rest = tail;
            if line.starts_with(b"SSH-") {
                break trim_eol(line).to_vec();
            }
        };
        let mut conn = Conn {
            v_s,
            reader: PacketReader::new(MAX_PACKET),
            writer: PacketWriter::new(seed),
            input: BytesMut::from(rest),
            server_kexinit: Vec::new(),
            our_kexinit: None,
            ephemeral: None,
            pending: None,
            session_id: None,
            strict: false,
            channel: None,
            over: false,
        };
        let names = conn.absorb(&[]);
        if conn.server_kexinit.is_empty() {
            if conn.over {
                anyhow::bail!("the server sent {} before KEXINIT", names.join("+"));
            }
            return Ok(None);
        }
        Ok(Some(conn))
    }

    /// The payload for `input`, or the local output when nothing is sent.
    fn payload(
        &mut self,
        input: Input,
        settings: &Settings,
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, &'static str> {
        match input {
            Input::KexInit | Input::KexEcdhInit | Input::NewKeys => {
                self.kex_payload(input, settings, rng)
            }
            Input::ServiceRequestAuth
            | Input::UaPkOk
            | Input::UaPkNok
            | Input::UaPwOk
            | Input::UaPwNok
            | Input::UaNone => self.auth_payload(input, settings),
            Input::ChOpen
            | Input::ChRequestPty
            | Input::ChData
            | Input::ChEof
            | Input::ChClose
            | Input::GlobalRequest => self.connection_payload(input),
            Input::Ignore | Input::Debug | Input::Unimplemented | Input::Disconnect => {
                Ok(generic_payload(input))
            }
        }
    }

    /// KEXINIT, KEX_ECDH_INIT, NEWKEYS (RFC 4253 §7, RFC 5656 §4); remembers I_C and the
    /// ephemeral key for the exchange hash.
    fn kex_payload(
        &mut self,
        input: Input,
        settings: &Settings,
        rng: &mut dyn Rng,
    ) -> Result<Vec<u8>, &'static str> {
        Ok(match input {
            Input::KexInit => {
                let markers: &[&str] = if settings.strict_kex {
                    &[nacre::transport::negotiate::KEX_STRICT_C]
                } else {
                    &[]
                };
                let mut spec =
                    KexInitSpec::matching(&self.server_kexinit, markers).map_err(|_| BAD_PACKET)?;
                spec.kex.retain(|k| k != "curve25519-sha256@libssh.org");
                rng.fill(&mut spec.cookie);
                let p = spec.payload();
                self.our_kexinit = Some(p.clone());
                p
            }
            Input::KexEcdhInit => {
                let eph = Ephemeral::generate(rng);
                let p = crate::conform::raw::ecdh_init(&eph.q_c);
                self.ephemeral = Some(eph);
                p
            }
            _ => vec![21],
        })
    }

    /// SERVICE_REQUEST and the USERAUTH_REQUESTs (RFC 4253 §10, RFC 4252 §5, §7, §8).
    fn auth_payload(&self, input: Input, settings: &Settings) -> Result<Vec<u8>, &'static str> {
        let user = settings.creds.user.as_str();
        let sid = self.session_id.as_deref().unwrap_or(&[]);
        Ok(match input {
            Input::ServiceRequestAuth => {
                let mut m = vec![5];
                put::string(&mut m, b"ssh-userauth");
                m
            }
            Input::UaPkOk => userauth_publickey(user, &settings.creds.key, sid, Vec::new())
                .map_err(|_| BAD_PACKET)?,
            Input::UaPkNok => {
                let stranger = nacre::keys::PrivateKey::from_ed25519_seed(&[0xbd; 32]);
                userauth_publickey(user, &stranger, sid, Vec::new()).map_err(|_| BAD_PACKET)?
            }
            Input::UaPwOk => userauth_password(user, &settings.creds.password),
            Input::UaPwNok => userauth_password(user, "not the password"),
            _ => userauth_header(user, "none"),
        })
    }

    /// The connection protocol's messages (RFC 4254 §4, §5, §6) on the mapper's one channel.
    fn connection_payload(&self, input: Input) -> Result<Vec<u8>, &'static str> {
        let channel = self.channel;
        let on_channel = |f: &dyn Fn(u32) -> Vec<u8>| channel.map(f).ok_or(CH_NONE);
        match input {
            Input::ChOpen if channel.is_some() => Err(CH_MAX),
            Input::ChOpen => {
                let mut m = vec![90];
                put::string(&mut m, b"session");
                let (ours, window, max) = CHANNEL;
                put::uint32(&mut m, ours);
                put::uint32(&mut m, window);
                put::uint32(&mut m, max);
                Ok(m)
            }
            Input::ChRequestPty => on_channel(&|c| {
                let mut m = channel_request(c, "pty-req", true);
                put::string(&mut m, b"vt100");
                for v in [80, 24, 0, 0] {
                    put::uint32(&mut m, v);
                }
                put::string(&mut m, &[0]);
                m
            }),
            Input::ChData => on_channel(&|c| channel_data(c, b"data")),
            Input::ChEof => on_channel(&|c| signal(96, c)),
            Input::ChClose => on_channel(&|c| signal(97, c)),
            _ => Ok(global_request("learn@nacre.invalid", true)),
        }
    }

    /// Reads every complete packet in the received bytes; returns their names and updates the
    /// crypto and channel state they imply.
    fn absorb(&mut self, bytes: &[u8]) -> Vec<String> {
        self.input.extend_from_slice(bytes);
        let mut names = Vec::new();
        while !self.over {
            match self.reader.next_packet(&mut self.input) {
                Ok(Some(packet)) => {
                    let p = packet.payload;
                    let n = p.first().copied().unwrap_or(0);
                    names.push(message_name(n));
                    self.on_packet(n, &p);
                }
                Ok(None) => break,
                Err(_) => {
                    names.push(BAD_PACKET.to_owned());
                    self.over = true;
                }
            }
        }
        names
    }

    fn on_packet(&mut self, n: u8, p: &[u8]) {
        match n {
            1 => self.over = true,
            20 => self.server_kexinit = p.to_vec(),
            21 => {
                if let Some(key) = self.pending.as_mut().and_then(|k| k.s2c.take()) {
                    self.reader.set_key(key, self.strict);
                }
            }
            31 => self.on_reply(p),
            91 => {
                let mut r = nacre::wire::Reader::new(p.get(1..).unwrap_or(&[]));
                if r.u32().ok() == Some(CHANNEL.0) {
                    self.channel = r.u32().ok();
                }
            }
            97 => self.channel = None,
            _ => {}
        }
    }

    fn on_reply(&mut self, p: &[u8]) {
        let (Some(i_c), Some(eph)) = (self.our_kexinit.as_deref(), self.ephemeral.as_ref()) else {
            return;
        };
        let t = Transcript {
            idents: [V_C, &self.v_s],
            i_c,
            i_s: &self.server_kexinit,
            session_id: self.session_id.as_deref(),
        };
        if let Ok(keys) = exchange::on_reply(&t, eph, p) {
            if self.session_id.is_none() {
                self.session_id = Some(keys.h.clone());
                self.strict = keys.strict;
            }
            self.pending = Some(keys);
        }
    }
}

/// IGNORE, DEBUG, UNIMPLEMENTED, DISCONNECT (RFC 4253 §11).
fn generic_payload(input: Input) -> Vec<u8> {
    let mut m = Vec::new();
    match input {
        Input::Ignore => {
            m.push(2);
            put::string(&mut m, b"learn");
        }
        Input::Debug => {
            m.push(4);
            put::boolean(&mut m, false);
            put::string(&mut m, b"learn");
            put::string(&mut m, b"");
        }
        Input::Unimplemented => {
            m.push(3);
            put::uint32(&mut m, UNIMPLEMENTED_SEQ);
        }
        _ => {
            m.push(1);
            put::uint32(&mut m, nacre::wire::DisconnectReason::BY_APPLICATION.0);
            put::string(&mut m, b"learn");
            put::string(&mut m, b"");
        }
    }
    m
}

/// CHANNEL_EOF or CHANNEL_CLOSE (RFC 4254 §5.3).
fn signal(n: u8, channel: u32) -> Vec<u8> {
    let mut m = vec![n];
    put::uint32(&mut m, channel);
    m
}
