//! OpenSSH's extensions between a nacre client session and a nacre server session in memory:
//! `hostkeys-00@openssh.com` sent after authentication and `hostkeys-prove-00@openssh.com`
//! answered (PROTOCOL §2.5), and the transport ping (PROTOCOL §1.8), only used when announced.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Instant;

use nacre_auth::{AuthServerConfig, Decision, ServerEvent as Question};
use nacre_connection::msg::host_keys::{HOSTKEYS, HOSTKEYS_PROVE};
use nacre_connection::{ConnectionConfig, Event as ConnEvent};
use nacre_crypto::SeededRng;
use nacre_keys::{PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_session::host_keys::{parse_offer, prove_request, verify_proof};
use nacre_session::*;

struct Pair {
    client: ClientSession,
    server: ServerSession,
    client_events: Vec<ClientEvent>,
}

fn pair(host_keys: Vec<Arc<PrivateKey>>, server_ext_info: bool) -> Pair {
    let now = Instant::now();
    let client = ClientSession::new(ClientConfig::new("alice"), Box::new(SeededRng::new(1)), now);
    let mut transport = nacre_transport::Config::server(host_keys);
    transport.ext_info = server_ext_info;
    let server = ServerSession::new(
        ServerConfig {
            transport: Arc::new(transport),
            auth: Some(AuthServerConfig::default()),
            connection: ConnectionConfig::default(),
        },
        Box::new(SeededRng::new(2)),
        now,
    );
    let mut p = Pair {
        client,
        server,
        client_events: Vec::new(),
    };
    p.drive();
    assert!(p.client.is_authenticated() && p.server.is_authenticated());
    p
}

impl Pair {
    /// Moves bytes and answers questions until both are quiet.
    fn drive(&mut self) {
        for _ in 0..200 {
            let mut bytes = Vec::new();
            self.client.poll_transmit(&mut bytes);
            let mut moved = !bytes.is_empty();
            self.server.handle_input(&bytes);
            bytes.clear();
            self.server.poll_transmit(&mut bytes);
            moved |= !bytes.is_empty();
            self.client.handle_input(&bytes);
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                match &ev {
                    ClientEvent::HostKey { id, .. } => self.client.answer_host_key(*id, true),
                    ClientEvent::AuthMethods { .. } => self.client.auth_password("pw").unwrap(),
                    _ => {}
                }
                self.client_events.push(ev);
            }
            while let Some(ev) = self.server.poll_event() {
                moved = true;
                if let ServerEvent::Auth(Question::Password { id, .. }) = ev {
                    self.server.answer_auth(id, Decision::Accept).unwrap();
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn take(&mut self) -> Vec<ClientEvent> {
        std::mem::take(&mut self.client_events)
    }
}

fn host_keys() -> Vec<Arc<PrivateKey>> {
    vec![
        Arc::new(PrivateKey::from_ed25519_seed(&[3; 32])),
        Arc::new(PrivateKey::from_ed25519_seed(&[4; 32])),
    ]
}

#[test]
fn the_server_lists_its_keys_and_proves_them() {
    let keys = host_keys();
    let mut p = pair(keys.clone(), true);
    let offered: Vec<PublicKey> = p
        .take()
        .into_iter()
        .find_map(|e| match e {
            ClientEvent::Common(Common::Connection(ConnEvent::GlobalRequest {
                name,
                data,
                want_reply: false,
                ..
            })) if name == HOSTKEYS => Some(parse_offer(&data).unwrap()),
            _ => None,
        })
        .expect("hostkeys-00@openssh.com after authentication");
    let expected: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
    assert_eq!(offered, expected);

    // A proof of the second key verifies against this session's identifier.
    let ask = &offered[1..];
    let conn = p.client.connection().unwrap();
    conn.global_request(HOSTKEYS_PROVE, &prove_request(ask), true);
    p.drive();
    let reply = p.take().into_iter().find_map(|e| match e {
        ClientEvent::Common(Common::Connection(ConnEvent::GlobalReply { ok, data })) => {
            Some((ok, data))
        }
        _ => None,
    });
    let (ok, data) = reply.expect("an answer to the prove request");
    assert!(ok);
    let sid = p.client.transport().session_id().unwrap().to_vec();
    let kex = p.client.transport().negotiated().unwrap().host_key;
    assert_eq!(kex, SignatureAlgorithm::Ed25519);
    assert_eq!(verify_proof(&sid, kex, ask, &data).unwrap(), vec![true]);
    assert!(verify_proof(b"another session", kex, ask, &data).is_err());

    // A key the server does not hold: the whole request fails.
    let stranger = PrivateKey::from_ed25519_seed(&[9; 32]).public_key();
    let conn = p.client.connection().unwrap();
    conn.global_request(HOSTKEYS_PROVE, &prove_request(&[stranger]), true);
    p.drive();
    let refused = p.take().into_iter().any(|e| {
        matches!(
            e,
            ClientEvent::Common(Common::Connection(ConnEvent::GlobalReply { ok: false, .. }))
        )
    });
    assert!(refused);
    assert!(!p.client.is_closed() && !p.server.is_closed());
}

#[test]
fn ping_is_answered_and_only_sent_when_announced() {
    let mut p = pair(host_keys(), true);
    assert!(p.client.transport().peer_supports_ping());
    p.take();
    p.client.transport_mut().ping(b"marco").unwrap();
    p.client.transport_mut().ping(b"").unwrap();
    p.drive();
    let pongs: Vec<Vec<u8>> = p
        .take()
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Common(Common::Pong(d)) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(pongs, vec![b"marco".to_vec(), Vec::new()]);

    // A server without EXT_INFO announced nothing: no PING leaves the client.
    let mut quiet = pair(host_keys(), false);
    assert!(!quiet.client.transport().peer_supports_ping());
    assert!(quiet.client.transport_mut().ping(b"x").is_err());
    let mut bytes = Vec::new();
    assert_eq!(quiet.client.poll_transmit(&mut bytes), 0);
}
