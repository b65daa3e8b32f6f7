//! In-memory test harness for nacre's sans-IO machines: a [`Pair`] of client and server transports
//! wired together on a simulated clock with seeded randomness, plus deterministic host keys.
//!
//! Used by the transport's tests, the fuzz targets and the CVE regression suite.

#![warn(missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod fuzz_pair;
pub mod link;
pub mod script;
pub mod session_pair;
pub mod sftp_pair;

pub use link::{Fault, Link};
pub use session_pair::{ClientScript, Echo, Service, SessionPair};

use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_crypto::SeededRng;
use nacre_keys::{KeyType, PrivateKey};
use nacre_transport::{Config, Event, Role, Transport};
use sha2::{Digest, Sha256, Sha512};

/// A deterministic host key of the given type (RSA comes from OpenSSH's 2048-bit test key `rsa_2` in
/// `../shared/vectors`).
pub fn host_key(key_type: KeyType, seed: u8) -> Arc<PrivateKey> {
    let digest = Sha512::digest([seed; 32]);
    let key = match key_type {
        KeyType::Ed25519 => PrivateKey::from_ed25519_seed(&Sha256::digest([seed; 32]).into()),
        KeyType::EcdsaNistP256 => PrivateKey::from_ecdsa_scalar(key_type, &digest[..32]).unwrap(),
        KeyType::EcdsaNistP384 => PrivateKey::from_ecdsa_scalar(key_type, &digest[..48]).unwrap(),
        KeyType::EcdsaNistP521 => {
            let mut d = vec![0u8, 0];
            d.extend_from_slice(&digest);
            PrivateKey::from_ecdsa_scalar(key_type, &d).unwrap()
        }
        KeyType::Rsa => {
            let text = std::fs::read(shared_vector("openssh-keys/rsa_2"))
                .expect("../shared/vectors/openssh-keys/rsa_2");
            PrivateKey::from_openssh(&text).unwrap()
        }
        KeyType::SkEd25519 | KeyType::SkEcdsaNistP256 => {
            panic!("{key_type}: a security key cannot be a host key")
        }
    };
    Arc::new(key)
}

/// Every host key type, one deterministic key each.
pub fn all_host_keys() -> Vec<Arc<PrivateKey>> {
    [
        KeyType::Ed25519,
        KeyType::EcdsaNistP256,
        KeyType::EcdsaNistP384,
        KeyType::EcdsaNistP521,
        KeyType::Rsa,
    ]
    .into_iter()
    .map(|t| host_key(t, 7))
    .collect()
}

/// Path of a file in the published vectors folder beside the repository (`../shared/vectors`).
pub fn shared_vector(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/vectors")
        .join(rel)
}

/// How host keys are answered by the harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Accept every host key.
    Accept,
    /// Reject every host key.
    Reject,
    /// Leave the decision pending (the test answers).
    Manual,
}

/// A client and a server transport connected in memory.
///
/// ```
/// use nacre_keys::KeyType;
/// use nacre_testkit::{host_key, Pair};
/// use nacre_transport::Config;
///
/// let server = Config::server(vec![host_key(KeyType::Ed25519, 1)]);
/// let mut pair = Pair::new(Config::client(), server, 42);
/// pair.chunk = 1; // deliver one byte at a time: the machines must not care
/// pair.connect(); // key exchange, host key accepted, `ssh-userauth` started
/// assert_eq!(pair.client_kex_count(), 1);
///
/// // A service-layer payload (message number 50 or above) crosses encrypted.
/// pair.client.send(&[80, 0, 0, 0, 1, b'x', 0])?;
/// pair.drive();
/// assert_eq!(pair.server_packets(), vec![vec![80, 0, 0, 0, 1, b'x', 0]]);
///
/// pair.client.rekey();
/// pair.drive();
/// assert_eq!(pair.client_kex_count(), 2);
/// assert!(nacre_testkit::closed(&pair.server_events).is_none());
/// # Ok::<(), nacre_transport::SendError>(())
/// ```
pub struct Pair {
    /// The client machine.
    pub client: Transport,
    /// The server machine.
    pub server: Transport,
    /// Simulated time.
    pub now: Instant,
    /// Events the client produced, in order.
    pub client_events: Vec<Event>,
    /// Events the server produced, in order.
    pub server_events: Vec<Event>,
    /// Bytes per delivery (1 = byte at a time); 0 means everything at once.
    pub chunk: usize,
    /// Deliver through `receive_buffer` + `process_received` (the runtime's zero-copy read path)
    /// instead of `handle_input`.
    pub zero_copy: bool,
    /// What the harness answers to host key events.
    pub host_key_policy: HostKeyPolicy,
    /// Bytes the client sent, for inspection.
    pub client_wire: Vec<u8>,
    /// Bytes the server sent, for inspection.
    pub server_wire: Vec<u8>,
}

impl Pair {
    /// Connects a client and a server built from these configs; `seed` makes both deterministic.
    pub fn new(client: Config, server: Config, seed: u64) -> Self {
        let now = Instant::now();
        Pair {
            client: Transport::client(Arc::new(client), Box::new(SeededRng::new(seed)), now),
            server: Transport::server(
                Arc::new(server),
                Box::new(SeededRng::new(seed ^ 0x5eed)),
                now,
            ),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
            chunk: 0,
            zero_copy: false,
            host_key_policy: HostKeyPolicy::Accept,
            client_wire: Vec::new(),
            server_wire: Vec::new(),
        }
    }

    /// A pair with default configs and every host key type on the server.
    pub fn default_pair(seed: u64) -> Self {
        Pair::new(Config::client(), Config::server(all_host_keys()), seed)
    }

    /// Moves bytes and events until neither side has anything more to do.
    pub fn drive(&mut self) {
        self.drive_through(|_, bytes| bytes);
    }

    /// Like [`Pair::drive`], with a man in the middle: every flight of bytes goes through
    /// `mitm(sender, bytes)` and the receiver gets what it returns. `client_wire` and
    /// `server_wire` record what was sent, before the filter.
    pub fn drive_through(&mut self, mut mitm: impl FnMut(Role, Vec<u8>) -> Vec<u8>) {
        for _ in 0..100_000 {
            let mut progress = false;
            let mut buf = Vec::new();
            if self.client.poll_transmit(&mut buf) > 0 {
                self.client_wire.extend_from_slice(&buf);
                let buf = mitm(Role::Client, buf);
                deliver(&mut self.server, &buf, self.chunk, self.zero_copy);
                progress = true;
            }
            let mut buf = Vec::new();
            if self.server.poll_transmit(&mut buf) > 0 {
                self.server_wire.extend_from_slice(&buf);
                let buf = mitm(Role::Server, buf);
                deliver(&mut self.client, &buf, self.chunk, self.zero_copy);
                progress = true;
            }
            while let Some(ev) = self.client.poll_event() {
                if matches!(ev, Event::HostKey { .. }) {
                    match self.host_key_policy {
                        HostKeyPolicy::Accept => self.client.accept_host_key(),
                        HostKeyPolicy::Reject => self.client.reject_host_key(),
                        HostKeyPolicy::Manual => {}
                    }
                }
                self.client_events.push(ev);
                progress = true;
            }
            while let Some(ev) = self.server.poll_event() {
                self.server_events.push(ev);
                progress = true;
            }
            if !progress {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Runs the handshake through to an accepted `ssh-userauth` service on both sides.
    /// Both sides are then marked authenticated, as the authentication layer would after
    /// USERAUTH_SUCCESS, so that re-exchanges may start.
    pub fn connect(&mut self) {
        self.client.request_service("ssh-userauth");
        self.drive();
        self.client.set_authenticated();
        self.server.set_authenticated();
        self.drive();
    }

    /// Advances simulated time and tells both machines.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
    }

    /// Payloads of the service-layer packets the server received, in order.
    pub fn server_packets(&self) -> Vec<Vec<u8>> {
        packets(&self.server_events)
    }

    /// Payloads of the service-layer packets the client received, in order.
    pub fn client_packets(&self) -> Vec<Vec<u8>> {
        packets(&self.client_events)
    }

    /// Number of completed key exchanges seen by the client.
    pub fn client_kex_count(&self) -> usize {
        self.client_events
            .iter()
            .filter(|e| matches!(e, Event::KexComplete { .. }))
            .count()
    }
}

fn deliver(to: &mut Transport, bytes: &[u8], chunk: usize, zero_copy: bool) {
    let size = if chunk == 0 {
        bytes.len().max(1)
    } else {
        chunk
    };
    for c in bytes.chunks(size) {
        if zero_copy {
            to.receive_buffer(c.len()).extend_from_slice(c);
            to.process_received();
        } else {
            to.handle_input(c);
        }
    }
}

fn packets(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Packet(p) => Some(p.to_vec()),
            _ => None,
        })
        .collect()
}

/// Whether an event list holds a close, and its error.
pub fn closed(events: &[Event]) -> Option<&nacre_transport::TransportError> {
    events.iter().find_map(|e| match e {
        Event::Closed(err) => Some(err),
        _ => None,
    })
}

/// Convenience: a duration in seconds.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Length on the wire of the unencrypted packet at the front of `bytes` (`4 + packet_length`).
pub fn plain_packet_len(bytes: &[u8]) -> usize {
    4 + u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize
}

/// Splits the first `n` unencrypted packets off the front of `bytes`; returns them and the rest.
pub fn split_plain_packets(bytes: &[u8], n: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut rest = bytes;
    let mut out = Vec::new();
    for _ in 0..n {
        let len = plain_packet_len(rest);
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    (out, rest.to_vec())
}
