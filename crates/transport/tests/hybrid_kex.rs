#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The post-quantum hybrid kex methods (mlkem768x25519-sha256, sntrup761x25519-sha512 and its
//! @openssh.com name, and the opt-in mlkem768nistp256-sha256 and mlkem1024nistp384-sha384) in
//! memory: default negotiation, rekeys, the key log, and the C_INIT / S_REPLY values a peer must
//! not get away with (wrong lengths, low-order X25519 halves, NIST points off the curve, an ML-KEM
//! key failing FIPS 203's modulus check), each ending in DISCONNECT(KEY_EXCHANGE_FAILED).
//! (Every hybrid with every host key algorithm: combos.rs; known answers: exchange_hash_vectors.rs.)

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::{EcdhCurve, HybridKem, SeededRng};
use nacre_testkit::script::{find_disconnect, KexInitSpec, ScriptPeer};
use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::{Algorithms, Config, Event, KexMethod, Role, Transport, TransportError};
use nacre_wire::{put, DisconnectReason};

const HYBRIDS: [KexMethod; 5] = [
    KexMethod::MlKem768X25519Sha256,
    KexMethod::Sntrup761X25519Sha512,
    KexMethod::Sntrup761X25519Sha512Openssh,
    KexMethod::MlKem768NistP256Sha256,
    KexMethod::MlKem1024NistP384Sha384,
];

fn kem(kex: KexMethod) -> HybridKem {
    match kex.kind() {
        nacre_transport::kex::KexKind::Hybrid(k) => k,
        other => panic!("{other:?}"),
    }
}

#[test]
fn hybrids_lead_the_default_lists() {
    for algs in [Algorithms::client_default(), Algorithms::server_default()] {
        assert_eq!(
            &algs.kex[..4],
            &[
                KexMethod::MlKem768X25519Sha256,
                KexMethod::Sntrup761X25519Sha512,
                KexMethod::Sntrup761X25519Sha512Openssh,
                KexMethod::Curve25519Sha256,
            ]
        );
    }
    for kex in HYBRIDS {
        assert_eq!(KexMethod::from_name(kex.name()), Some(kex));
        assert!(kex.is_hybrid() && !kex.is_ffdh() && !kex.is_legacy());
    }
    // The NIST hybrids are opt-in, as in OpenSSH 10.5: in no default list, in `all()`.
    for kex in [
        KexMethod::MlKem768NistP256Sha256,
        KexMethod::MlKem1024NistP384Sha384,
    ] {
        assert!(kex.is_opt_in());
        assert!(!Algorithms::client_default().kex.contains(&kex));
        assert!(!Algorithms::server_default().kex.contains(&kex));
        assert!(Algorithms::all().kex.contains(&kex));
    }
    assert_eq!(
        KexMethod::MlKem1024NistP384Sha384.hash(),
        nacre_crypto::HashAlg::Sha384
    );
    assert_eq!(
        KexMethod::MlKem768X25519Sha256.hash(),
        nacre_crypto::HashAlg::Sha256
    );
    assert_eq!(
        KexMethod::Sntrup761X25519Sha512Openssh.hash(),
        nacre_crypto::HashAlg::Sha512
    );
}

/// OpenSSH 10.5's `KEX_CLIENT_KEX` (myproposal.h), typed in: nacre's client default is the same
/// list in the same order; its server default is `KEX_SERVER_KEX` without ECDH on the NIST
/// curves (docs/SECURITY.md "Default algorithms").
#[test]
fn defaults_follow_openssh_10_order() {
    const OPENSSH_10_5_CLIENT_KEX: &str = "mlkem768x25519-sha256,sntrup761x25519-sha512,\
        sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,\
        ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,\
        diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,\
        diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
    let names =
        |algs: Algorithms| -> Vec<&'static str> { algs.kex.iter().map(|m| m.name()).collect() };
    let openssh: Vec<&str> = OPENSSH_10_5_CLIENT_KEX.split(',').collect();
    assert_eq!(names(Algorithms::client_default()), openssh);
    let server: Vec<&str> = openssh[..8]
        .iter()
        .copied()
        .filter(|n| !n.starts_with("ecdh-sha2-"))
        .collect();
    assert_eq!(names(Algorithms::server_default()), server);
}

#[test]
fn default_configs_negotiate_mlkem768x25519_and_rekey() {
    let mut pair = Pair::new(Config::client(), Config::server(all_host_keys()), 11);
    pair.connect();
    assert!(
        closed(&pair.client_events).is_none(),
        "{:?}",
        pair.client_events
    );
    assert_eq!(
        pair.client.negotiated().unwrap().kex,
        KexMethod::MlKem768X25519Sha256
    );
    let sid = pair.client.session_id().unwrap().to_vec();
    assert_eq!(sid.len(), 32);
    for round in 0..3u8 {
        pair.client.rekey();
        pair.drive();
        pair.server.send(&[95, round]).unwrap();
        pair.client.send(&[94, round]).unwrap();
        pair.drive();
        assert_eq!(pair.client.session_id().unwrap(), &sid[..]);
    }
    assert_eq!(pair.client_kex_count(), 4);
    assert_eq!(
        pair.server_packets(),
        vec![vec![94, 0], vec![94, 1], vec![94, 2]]
    );
    assert_eq!(
        pair.client_packets(),
        vec![vec![95, 0], vec![95, 1], vec![95, 2]]
    );
}

/// Each hybrid, with a server that rekeys: both sides log the same K, as the 32/64 bytes of the K
/// string (a hash output; a leading zero byte is not stripped), and no X25519 private key line.
#[test]
fn keylog_carries_the_k_string_bytes() {
    for (i, kex) in HYBRIDS.into_iter().enumerate() {
        let mut client = Config::client();
        client.algorithms.kex = vec![kex];
        client.keylog = true;
        let mut server = Config::server(all_host_keys());
        server.algorithms.kex = vec![kex];
        server.keylog = true;
        let mut pair = Pair::new(client, server, 100 + i as u64);
        pair.connect();
        pair.server.rekey();
        pair.drive();
        let logs = |events: &[Event]| -> Vec<String> {
            events
                .iter()
                .filter_map(|e| match e {
                    Event::KeyLog(l) => Some(l.clone()),
                    _ => None,
                })
                .collect()
        };
        let (c, s) = (logs(&pair.client_events), logs(&pair.server_events));
        assert_eq!(c.len(), 2, "{}: {c:?}", kex.name());
        assert_eq!(s.len(), 2, "{}: {s:?}", kex.name());
        let secret = |line: &str| line.split_once(" SHARED_SECRET ").unwrap().1.to_owned();
        for (cl, sl) in c.iter().zip(&s) {
            let k = secret(cl);
            assert_eq!(k, secret(sl), "{}", kex.name());
            assert_eq!(k.len(), 2 * kex.hash().output_len(), "{}: {k}", kex.name());
        }
        assert_ne!(
            secret(&c[0]),
            secret(&c[1]),
            "{}: a rekey gives a new K",
            kex.name()
        );
    }
}

fn server(kex: KexMethod) -> Transport {
    let mut c = Config::server(all_host_keys());
    c.algorithms.kex = vec![kex];
    Transport::server(Arc::new(c), Box::new(SeededRng::new(71)), Instant::now())
}

fn client(kex: KexMethod) -> Transport {
    let mut c = Config::client();
    c.algorithms.kex = vec![kex];
    Transport::client(Arc::new(c), Box::new(SeededRng::new(72)), Instant::now())
}

fn spec(role: Role, kex: KexMethod) -> KexInitSpec {
    let mut s = KexInitSpec::new(role, true);
    s.kex[0] = kex.name().to_owned();
    s
}

fn string_msg(n: u8, value: &[u8]) -> Vec<u8> {
    let mut m = vec![n];
    put::string(&mut m, value);
    m
}

fn assert_kex_failed(result: (Option<DisconnectReason>, Option<TransportError>), what: &str) {
    assert_eq!(
        result.0,
        Some(DisconnectReason::KEY_EXCHANGE_FAILED),
        "{what}: {:?}",
        result.1
    );
    assert!(
        matches!(result.1, Some(TransportError::KexPublicValue(_))),
        "{what}: {:?}",
        result.1
    );
}

/// A scripted client sends KEXINIT and `init` as its ECDH_INIT.
fn against_server(
    kex: KexMethod,
    init: &[u8],
) -> (Option<DisconnectReason>, Option<TransportError>) {
    let mut victim = server(kex);
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&spec(Role::Client, kex).payload()));
    bytes.extend(script.packet(&string_msg(30, init)));
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    (
        find_disconnect(&packets).map(|d| d.0),
        victim.close_reason().cloned(),
    )
}

/// Classical halves a peer must not get away with: low-order X25519 points, or NIST points that
/// are not on the curve (all zero, `04 || 0…0`, the good point with Y changed, a compressed point
/// padded to the length).
fn bad_points(curve: EcdhCurve, good: &[u8]) -> Vec<Vec<u8>> {
    if curve == EcdhCurve::X25519 {
        return low_order();
    }
    let len = curve.public_len();
    let mut zero_point = vec![0u8; len];
    zero_point[0] = 4;
    let mut other_y = good[good.len() - len..].to_vec();
    other_y[len - 1] ^= 1;
    let mut compressed = other_y.clone();
    compressed[0] = 2;
    vec![vec![0u8; len], zero_point, other_y, compressed]
}

/// Low-order X25519 points (RFC 7748 §6.1): 0, 1, and the order-8 point.
fn low_order() -> Vec<Vec<u8>> {
    let mut one = vec![0u8; 32];
    one[0] = 1;
    vec![
        vec![0u8; 32],
        one,
        hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800").unwrap(),
        hex::decode("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap(),
    ]
}

#[test]
fn bad_client_init_is_refused_by_the_server() {
    for kex in HYBRIDS {
        let kem = kem(kex);
        let (_, good) = kem.generate(&mut SeededRng::new(5));
        let ec = kem.curve().public_len();
        let mut cases: Vec<(String, Vec<u8>)> = vec![
            ("empty".into(), Vec::new()),
            ("ECDH only".into(), good[good.len() - ec..].to_vec()),
            ("KEM key only".into(), good[..good.len() - ec].to_vec()),
            ("one byte short".into(), good[..good.len() - 1].to_vec()),
            ("one byte long".into(), [&good[..], &[0]].concat()),
        ];
        for q in bad_points(kem.curve(), &good) {
            let mut init = good.clone();
            let n = init.len();
            init[n - ec..].copy_from_slice(&q);
            cases.push((format!("bad ECDH point {}", hex::encode(&q)), init));
        }
        if kem != HybridKem::Sntrup761X25519 {
            // First 12-bit coefficient of t̂ = 0xfff >= q: FIPS 203 §7.2 input check.
            let mut init = good.clone();
            init[0] = 0xff;
            init[1] |= 0x0f;
            cases.push(("ML-KEM modulus check".into(), init));
        }
        for (what, init) in cases {
            assert_kex_failed(
                against_server(kex, &init),
                &format!("{}: {what}", kex.name()),
            );
        }
        // Control: the good value is answered.
        let (reason, error) = against_server(kex, &good);
        assert_eq!((reason, error), (None, None), "{}", kex.name());
    }
}

/// ECDH_REPLY with a real host key, `q_s` and a junk signature.
fn reply_with(q_s: &[u8]) -> Vec<u8> {
    let k_s = nacre_testkit::host_key(nacre_keys::KeyType::Ed25519, 1)
        .public_key()
        .to_blob();
    let mut m = vec![31];
    put::string(&mut m, &k_s);
    put::string(&mut m, q_s);
    let mut sig = Vec::new();
    put::string(&mut sig, b"ssh-ed25519");
    put::string(&mut sig, &[0u8; 64]);
    put::string(&mut m, &sig);
    m
}

fn against_client(
    kex: KexMethod,
    reply: impl FnOnce(&[u8]) -> Vec<u8>,
) -> (Option<DisconnectReason>, Option<TransportError>) {
    let mut victim = client(kex);
    let mut script = ScriptPeer::new(Role::Server);
    let mut packets = script.take(&mut victim);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&spec(Role::Server, kex).payload()));
    let answer = script.exchange(&mut victim, &bytes);
    assert_eq!(answer.len(), 1, "{answer:?}");
    let out = reply(&answer[0].payload);
    let bytes = script.packet(&out);
    packets.extend(script.exchange(&mut victim, &bytes));
    (
        find_disconnect(&packets).map(|d| d.0),
        victim.close_reason().cloned(),
    )
}

/// Turns a good S_REPLY into a bad one.
type Mangle = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;

#[test]
fn bad_server_reply_is_refused_by_the_client() {
    for kex in HYBRIDS {
        let kem = kem(kex);
        let ec = kem.curve().public_len();
        let mut cases: Vec<(String, Mangle)> = vec![
            ("empty".into(), Box::new(|_| Vec::new())),
            (
                "ECDH only".into(),
                Box::new(move |r: Vec<u8>| r[r.len() - ec..].to_vec()),
            ),
            (
                "one byte short".into(),
                Box::new(|r: Vec<u8>| r[..r.len() - 1].to_vec()),
            ),
            (
                "one byte long".into(),
                Box::new(|r: Vec<u8>| [&r[..], &[0]].concat()),
            ),
        ];
        let (_, sample) = kem.generate(&mut SeededRng::new(6));
        for q in bad_points(kem.curve(), &sample) {
            cases.push((
                format!("bad ECDH point {}", hex::encode(&q)),
                Box::new(move |mut r: Vec<u8>| {
                    let n = r.len();
                    r[n - ec..].copy_from_slice(&q);
                    r
                }),
            ));
        }
        for (what, mangle) in cases {
            let r = against_client(kex, |msg| {
                // The client's C_INIT, answered by a real server-side encapsulation, then mangled.
                assert_eq!(msg[0], 30);
                let init = &msg[5..];
                assert_eq!(init.len(), kem.init_len());
                let (s_reply, _) = kem.respond(init, &mut SeededRng::new(9)).unwrap();
                reply_with(&mangle(s_reply))
            });
            assert_kex_failed(r, &format!("{}: {what}", kex.name()));
        }
    }
}

/// A reply whose KEM ciphertext was tampered with decapsulates to another K (implicit
/// rejection): the server's signature then does not verify over the client's H. With a real
/// server in between, flipping one ciphertext bit on the wire ends the handshake.
#[test]
fn tampered_ciphertext_ends_the_handshake() {
    for (i, kex) in HYBRIDS.into_iter().enumerate() {
        let mut client = Config::client();
        client.algorithms.kex = vec![kex];
        let mut server = Config::server(all_host_keys());
        server.algorithms.kex = vec![kex];
        let mut pair = Pair::new(client, server, 200 + i as u64);
        let mut flipped = false;
        pair.drive_through(|role, mut bytes| {
            // Unencrypted handshake: the first server packet with message 31 is the reply.
            if role == Role::Server && !flipped {
                if let Some(pos) = find_msg(&bytes, 31) {
                    // byte 31, string K_S, string S_REPLY: a bit inside S_REPLY's ciphertext.
                    let ks_len =
                        u32::from_be_bytes(bytes[pos + 1..pos + 5].try_into().unwrap()) as usize;
                    let target = pos + 1 + 4 + ks_len + 4 + 100;
                    bytes[target] ^= 0x01;
                    flipped = true;
                }
            }
            bytes
        });
        assert!(flipped, "{}", kex.name());
        let err = closed(&pair.client_events);
        assert!(err.is_some(), "{}: {:?}", kex.name(), pair.client_events);
        assert!(pair.client.session_id().is_none(), "{}", kex.name());
    }
}

/// The offset of the payload of the first plain packet in `bytes` with message number `msg`.
fn find_msg(bytes: &[u8], msg: u8) -> Option<usize> {
    let mut pos = 0;
    // Skip an identification line if present.
    if bytes.starts_with(b"SSH-") {
        pos = bytes.windows(2).position(|w| w == b"\r\n")? + 2;
    }
    while pos + 5 < bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if bytes[pos + 5] == msg {
            return Some(pos + 5);
        }
        pos += 4 + len;
    }
    None
}
