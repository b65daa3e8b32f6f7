//! Byte-exact transcripts of nacre ↔ OpenSSH sessions (issue 7, item 4), as Go's x/crypto/ssh keeps
//! in its testdata: the nacre client runs with a seeded RNG against OpenSSH's sshd — key exchange,
//! password authentication, `exec`, the command's output and exit status, DISCONNECT — and every
//! flight of bytes each way is written to `vectors/transcripts/<name>.txt`.
//!
//! `replay_*` (no peer needed) runs the same sans-IO client with the same seed over the recorded
//! server bytes, flight by flight: it must send exactly the recorded client bytes (so the server's
//! signature over the exchange hash, its ECDH value and every MAC/AEAD tag still check), and
//! decrypt the command's output and exit status from the server's ciphertext.
//!
//! `record_transcripts` (ignored; `scripts/record-transcripts` runs it) talks to a real sshd and
//! rewrites the files. Re-recording changes the server's bytes (sshd's randomness), never the
//! format.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nacre::auth::{AuthClient, ClientEvent};
use nacre::connection::{
    ChannelId, ChannelKind, ConnectionConfig, ConnectionProtocol, RequestKind,
};
use nacre::crypto::SeededRng;
use nacre::crypto::{CipherAlg, MacAlg};
use nacre::transport::{Algorithms, Config, Event, KexMethod, Transport};
use nacre::wire::DisconnectReason;

/// One recorded session: its settings and flights (true = client → server).
struct Transcript {
    name: &'static str,
    seed: u64,
    kex: KexMethod,
    cipher: CipherAlg,
    mac: Option<MacAlg>,
}

const COMMAND: &str = "echo nacre transcript; exit 3";
const USER: &str = nacre_tests::TEST_USER;
const PASSWORD: &str = nacre_tests::TEST_PASSWORD;

const TRANSCRIPTS: &[Transcript] = &[
    Transcript {
        name: "curve25519-chacha20-poly1305",
        seed: 7,
        kex: KexMethod::Curve25519Sha256,
        cipher: CipherAlg::Chacha20Poly1305,
        mac: None,
    },
    Transcript {
        name: "ecdh-nistp256-aes128-ctr-hmac-sha2-256-etm",
        seed: 8,
        kex: KexMethod::EcdhSha2Nistp256,
        cipher: CipherAlg::Aes128Ctr,
        mac: Some(MacAlg::HmacSha256Etm),
    },
];

impl Transcript {
    fn config(&self) -> Config {
        let mut config = Config::client();
        config.algorithms = Algorithms {
            kex: vec![self.kex],
            cipher: vec![self.cipher],
            mac: self
                .mac
                .map_or_else(|| config.algorithms.mac.clone(), |m| vec![m]),
            // The KEXINIT the transcripts were recorded with (before issue 19's compression).
            compression: vec![nacre::transport::CompressionAlg::None],
            ..config.algorithms.clone()
        };
        config
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../vectors/transcripts")
            .join(format!("{}.txt", self.name))
    }
}

/// The nacre client of a transcript: transport, authentication and connection machines driven by
/// the bytes that arrive, with one scripted application (password login, one `exec`).
struct ScriptedClient {
    transport: Transport,
    auth: Option<AuthClient>,
    conn: Option<ConnectionProtocol>,
    channel: Option<ChannelId>,
    stdout: Vec<u8>,
    exit: Option<u32>,
    host_key: Option<String>,
    auth_failures: usize,
}

impl ScriptedClient {
    fn new(t: &Transcript) -> Self {
        let mut transport = Transport::client(
            Arc::new(t.config()),
            Box::new(SeededRng::new(t.seed)),
            Instant::now(),
        );
        transport.request_service("ssh-userauth");
        ScriptedClient {
            transport,
            auth: None,
            conn: None,
            channel: None,
            stdout: Vec::new(),
            exit: None,
            host_key: None,
            auth_failures: 0,
        }
    }

    /// Feeds what the server sent (or nothing, to start); returns what to send.
    fn step(&mut self, input: &[u8]) -> Vec<u8> {
        if !input.is_empty() {
            self.transport.handle_input(input);
        }
        while let Some(ev) = self.transport.poll_event() {
            self.on_event(ev);
        }
        let mut out = Vec::new();
        self.transport.poll_transmit(&mut out);
        out
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::HostKey { key, .. } => {
                self.host_key = Some(key.fingerprint_sha256());
                self.transport.accept_host_key();
            }
            Event::ServiceAccepted(_) => {
                let session_id = self.transport.session_id().unwrap().to_vec();
                // Queues the `none` request; the password follows its answer.
                let auth = AuthClient::new(USER, &session_id, self.transport.server_sig_algs());
                self.auth = Some(auth);
                self.flush_auth();
            }
            Event::Packet(p) if self.conn.is_none() => self.on_auth_packet(&p),
            Event::Packet(p) => self.on_connection_packet(&p),
            _ => {}
        }
    }

    fn flush_auth(&mut self) {
        let auth = self.auth.as_mut().unwrap();
        while let Some(p) = auth.poll_transmit() {
            self.transport.send(&p).unwrap();
        }
    }

    fn on_auth_packet(&mut self, p: &[u8]) {
        let auth = self.auth.as_mut().unwrap();
        auth.handle_packet(p).unwrap();
        // The answer to the initial `none` request; then the password must do.
        let mut success = false;
        while let Some(ev) = auth.poll_event() {
            match ev {
                ClientEvent::Success => success = true,
                ClientEvent::Failure { methods, .. } => {
                    self.auth_failures += 1;
                    assert!(self.auth_failures == 1, "refused; can continue {methods:?}");
                    auth.password(PASSWORD);
                }
                _ => {}
            }
        }
        self.flush_auth();
        if success {
            self.transport.set_authenticated();
            let mut conn = ConnectionProtocol::new(ConnectionConfig::default());
            self.channel = conn.open(ChannelKind::Session);
            self.conn = Some(conn);
            self.flush_connection();
        }
    }

    fn on_connection_packet(&mut self, p: &Bytes) {
        use nacre::connection::Event as C;
        let conn = self.conn.as_mut().unwrap();
        conn.handle_packet(p).unwrap();
        let mut bye = false;
        while let Some(ev) = conn.poll_event() {
            match ev {
                C::Opened { id } => {
                    let exec = RequestKind::Exec {
                        command: COMMAND.as_bytes().to_vec(),
                    };
                    assert!(conn.request(id, &exec, true));
                    conn.eof(id);
                }
                C::Data { id, code, data } => {
                    if code.is_none() {
                        self.stdout.extend_from_slice(&data);
                    }
                    conn.consume(id, data.len());
                }
                C::Request {
                    request: RequestKind::ExitStatus { code },
                    ..
                } => self.exit = Some(code),
                C::Eof { id } => conn.close(id),
                C::Closed { .. } => bye = true,
                _ => {}
            }
        }
        self.flush_connection();
        if bye {
            self.transport
                .disconnect(DisconnectReason::BY_APPLICATION, "transcript done");
        }
    }

    fn flush_connection(&mut self) {
        let conn = self.conn.as_mut().unwrap();
        while let Some(p) = conn.poll_transmit() {
            self.transport.send(&p).unwrap();
        }
    }
}

/// Records one session against `port`; returns the flights (true = client → server).
fn record(t: &Transcript, port: u16) -> (Flights, ScriptedClient) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut client = ScriptedClient::new(t);
    let mut flights = Vec::new();
    let mut input = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let out = client.step(&input);
        if !input.is_empty() {
            flights.push((false, std::mem::take(&mut input)));
        }
        if !out.is_empty() {
            stream.write_all(&out).unwrap();
            flights.push((true, out));
        }
        if client.transport.is_closed() {
            break;
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "sshd closed the connection early");
        input = buf[..n].to_vec();
    }
    (flights, client)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
#[ignore = "talks to sshd and rewrites vectors/transcripts; run by scripts/record-transcripts"]
fn record_transcripts() {
    nacre_tests::ensure_test_user();
    let sshd = nacre_tests::OpenSshServer::start(&[nacre_tests::KeyType::Ed25519], &[]);
    for t in TRANSCRIPTS {
        let (flights, client) = record(t, sshd.port());
        assert_eq!(client.exit, Some(3), "{}", sshd.log());
        let mut text = format!(
            "# nacre client (SeededRng seed {}) -> OpenSSH sshd, recorded by tests/tests/transcripts.rs\n\
             name = {}\nseed = {}\ncommand = {COMMAND}\nuser = {USER}\nhost_key = {}\nstdout = {}\nexit = 3\n",
            t.seed,
            t.name,
            t.seed,
            client.host_key.clone().unwrap(),
            hex(&client.stdout),
        );
        for (to_server, bytes) in &flights {
            text.push_str(if *to_server { "C " } else { "S " });
            text.push_str(&hex(bytes));
            text.push('\n');
        }
        std::fs::create_dir_all(t.path().parent().unwrap()).unwrap();
        std::fs::write(t.path(), text).unwrap();
    }
}

/// Flights of bytes in order; true: client → server.
type Flights = Vec<(bool, Vec<u8>)>;

/// A transcript file: its `key = value` header and its flights.
fn load(t: &Transcript) -> (Vec<(String, String)>, Flights) {
    let text = std::fs::read_to_string(t.path()).unwrap();
    let mut header = Vec::new();
    let mut flights = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(h) = line.strip_prefix("C ") {
            flights.push((true, unhex(h)));
        } else if let Some(h) = line.strip_prefix("S ") {
            flights.push((false, unhex(h)));
        } else if let Some((k, v)) = line.split_once(" = ") {
            header.push((k.to_owned(), v.to_owned()));
        }
    }
    (header, flights)
}

#[test]
fn replay_transcripts_byte_exactly() {
    for t in TRANSCRIPTS {
        let (header, flights) = load(t);
        let field = |k: &str| {
            header
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(field("seed"), t.seed.to_string());
        let mut client = ScriptedClient::new(t);
        let mut sent = client.step(&[]);
        let mut server_flights = 0;
        for (to_server, bytes) in &flights {
            if *to_server {
                let n = bytes.len();
                assert!(
                    sent.len() >= n && sent[..n] == bytes[..],
                    "{}: the replayed client diverged after {server_flights} server flights",
                    t.name
                );
                sent.drain(..n);
            } else {
                server_flights += 1;
                let out = client.step(bytes);
                sent.extend(out);
            }
        }
        assert!(sent.is_empty(), "{}: extra bytes {}", t.name, sent.len());
        assert!(client.transport.is_closed(), "{}", t.name);
        let negotiated = client.transport.negotiated().unwrap();
        assert_eq!(negotiated.kex, t.kex);
        assert_eq!(negotiated.cipher_s2c, t.cipher);
        assert_eq!(client.host_key.unwrap(), field("host_key"));
        assert_eq!(hex(&client.stdout), field("stdout"));
        assert_eq!(client.stdout, b"nacre transcript\n");
        assert_eq!(client.exit, Some(3));
        assert!(server_flights >= 5, "{}: {server_flights}", t.name);
    }
}

#[test]
fn a_flipped_byte_in_a_recorded_server_flight_is_a_mac_error() {
    for t in TRANSCRIPTS {
        let (_, flights) = load(t);
        // The last server flight holds encrypted packets only.
        let last = flights.iter().rposition(|(c, _)| !*c).unwrap();
        let mut client = ScriptedClient::new(t);
        client.step(&[]);
        for (i, (to_server, bytes)) in flights.iter().enumerate() {
            if *to_server {
                continue;
            }
            let mut bytes = bytes.clone();
            if i == last {
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0x01;
            }
            client.step(&bytes);
            if i == last {
                break;
            }
        }
        let reason = client.transport.close_reason().map(ToString::to_string);
        assert!(
            reason.as_deref() == Some("message authentication code incorrect"),
            "{}: {reason:?}",
            t.name
        );
        assert!(client.transport.is_closed(), "{}", t.name);
    }
}
