#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Ephemeral public values a peer must not get away with: low-order X25519 points, NIST points
//! off the curve, DH values outside [2, p-2], bad group-exchange groups. Each ends in
//! DISCONNECT(KEY_EXCHANGE_FAILED) on the wire, for a nacre server and a nacre client.

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::{BigUint, DhGroup, SeededRng};
use nacre_testkit::all_host_keys;
use nacre_testkit::script::{find_disconnect, msg_numbers, KexInitSpec, ScriptPeer};
use nacre_transport::msg::KexDhGexGroup;
use nacre_transport::{Algorithms, Config, KexMethod, Role, Transport, TransportError};
use nacre_wire::{decode_exact, put, DisconnectReason};

fn server(kex: KexMethod) -> Transport {
    let mut c = Config::server(all_host_keys());
    c.algorithms = Algorithms::all();
    c.algorithms.kex = vec![kex];
    Transport::server(Arc::new(c), Box::new(SeededRng::new(61)), Instant::now())
}

fn client(kex: KexMethod) -> Transport {
    let mut c = Config::client();
    c.algorithms.kex = vec![kex];
    Transport::client(Arc::new(c), Box::new(SeededRng::new(62)), Instant::now())
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

fn mpint_msg(n: u8, value: &BigUint) -> Vec<u8> {
    let mut m = vec![n];
    put::mpint_unsigned(&mut m, &value.to_bytes_be());
    m
}

/// A scripted client opens with `kex` and then sends `then(server_answer)`; returns the
/// server's DISCONNECT reason on the wire and its close reason.
fn against_server(
    kex: KexMethod,
    first: Vec<Vec<u8>>,
    then: impl FnOnce(&[nacre_transport::packet::Packet]) -> Vec<Vec<u8>>,
) -> (Option<DisconnectReason>, Option<TransportError>) {
    let mut victim = server(kex);
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&spec(Role::Client, kex).payload()));
    for p in &first {
        bytes.extend(script.packet(p));
    }
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    let mut bytes = Vec::new();
    for p in then(&packets) {
        bytes.extend(script.packet(&p));
    }
    packets.extend(script.exchange(&mut victim, &bytes));
    (
        find_disconnect(&packets).map(|d| d.0),
        victim.close_reason().cloned(),
    )
}

fn assert_kex_failed(result: (Option<DisconnectReason>, Option<TransportError>), what: &str) {
    assert_eq!(
        result.0,
        Some(DisconnectReason::KEY_EXCHANGE_FAILED),
        "{what}: {:?}",
        result.1
    );
    assert!(
        matches!(
            result.1,
            Some(TransportError::KexPublicValue(_)) | Some(TransportError::KexFailed(_))
        ),
        "{what}: {:?}",
        result.1
    );
}

/// Low-order points of Curve25519 (RFC 7748 §6.1; the list libsodium rejects), and wrong sizes.
fn bad_x25519() -> Vec<Vec<u8>> {
    let mut v = vec![vec![0u8; 32]];
    let mut one = vec![0u8; 32];
    one[0] = 1;
    v.push(one);
    v.push(
        hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800").unwrap(),
    );
    v.push(
        hex::decode("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157").unwrap(),
    );
    // p - 1 and p (= 0 mod p), p + 1 (= 1 mod p).
    v.push(
        hex::decode("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap(),
    );
    v.push(
        hex::decode("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap(),
    );
    v.push(
        hex::decode("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap(),
    );
    v.push(vec![9u8; 31]);
    v.push(vec![9u8; 33]);
    v.push(Vec::new());
    v
}

fn bad_nist(field: usize) -> Vec<Vec<u8>> {
    let mut off_curve = vec![4u8];
    off_curve.extend(vec![1u8; 2 * field]);
    let mut zero = vec![4u8];
    zero.extend(vec![0u8; 2 * field]);
    let mut compressed = vec![2u8];
    compressed.extend(vec![1u8; field]);
    let mut prefix5 = off_curve.clone();
    prefix5[0] = 5;
    vec![
        off_curve,
        zero,
        compressed,
        prefix5,
        vec![0u8],
        vec![4u8; 2 * field],
    ]
}

#[test]
fn bad_x25519_q_c_is_refused_by_the_server() {
    for kex in [
        KexMethod::Curve25519Sha256,
        KexMethod::Curve25519Sha256Libssh,
    ] {
        for q in bad_x25519() {
            let r = against_server(kex, vec![string_msg(30, &q)], |_| vec![]);
            assert_kex_failed(r, &format!("{} {}", kex.name(), hex::encode(&q)));
        }
    }
}

#[test]
fn nist_points_off_the_curve_are_refused_by_the_server() {
    for (kex, field) in [
        (KexMethod::EcdhSha2Nistp256, 32),
        (KexMethod::EcdhSha2Nistp384, 48),
        (KexMethod::EcdhSha2Nistp521, 66),
    ] {
        for q in bad_nist(field) {
            let r = against_server(kex, vec![string_msg(30, &q)], |_| vec![]);
            assert_kex_failed(r, &format!("{} {}", kex.name(), hex::encode(&q)));
        }
    }
}

fn bad_dh_values(p: &BigUint) -> Vec<BigUint> {
    let one = BigUint::from(1u32);
    vec![
        BigUint::from(0u32),
        one.clone(),
        p - &one,
        p.clone(),
        p + &one,
        p * 2u32 + 2u32,
    ]
}

#[test]
fn dh_e_outside_2_to_p_minus_2_is_refused_by_the_server() {
    for kex in [KexMethod::DhGroup14Sha256, KexMethod::DhGroup14Sha1] {
        let p = DhGroup::group14().p;
        for e in bad_dh_values(&p) {
            let r = against_server(kex, vec![mpint_msg(30, &e)], |_| vec![]);
            assert_kex_failed(r, &format!("{} e={e:x}", kex.name()));
        }
        // The edges of the valid range are accepted: 2 and p - 2 get a KEXDH_REPLY.
        for e in [BigUint::from(2u32), &p - 2u32] {
            let r = against_server(kex, vec![mpint_msg(30, &e)], |_| vec![]);
            assert_eq!(r, (None, None), "{} e={e:x}", kex.name());
        }
    }
}

#[test]
fn negative_dh_e_is_a_protocol_error() {
    let mut init = vec![30];
    put::string(&mut init, &[0x80, 1, 2, 3]);
    let r = against_server(KexMethod::DhGroup14Sha256, vec![init], |_| vec![]);
    assert_eq!(r.0, Some(DisconnectReason::PROTOCOL_ERROR), "{:?}", r.1);
}

fn gex_request(min: u32, n: u32, max: u32) -> Vec<u8> {
    let mut m = vec![34];
    put::uint32(&mut m, min);
    put::uint32(&mut m, n);
    put::uint32(&mut m, max);
    m
}

#[test]
fn gex_e_outside_2_to_p_minus_2_is_refused_by_the_server() {
    for kex in [KexMethod::DhGexSha256, KexMethod::DhGexSha1] {
        for i in 0..6 {
            let r = against_server(kex, vec![gex_request(2048, 3072, 8192)], |packets| {
                assert_eq!(msg_numbers(packets), vec![20, 31]);
                let g: KexDhGexGroup<'_> = decode_exact(&packets[1].payload).unwrap();
                let p = BigUint::from_bytes_be(g.p);
                assert_eq!(p.bits(), 3072);
                vec![mpint_msg(32, &bad_dh_values(&p)[i])]
            });
            assert_kex_failed(r, &format!("{} value {i}", kex.name()));
        }
    }
}

#[test]
fn invalid_gex_requests_are_refused() {
    for (min, n, max) in [
        (4096, 3072, 8192),
        (2048, 9000, 8192),
        (8193, 9000, 10000),
        (0, 0, 1024),
    ] {
        let r = against_server(
            KexMethod::DhGexSha256,
            vec![gex_request(min, n, max)],
            |_| vec![],
        );
        assert_eq!(
            r.0,
            Some(DisconnectReason::KEY_EXCHANGE_FAILED),
            "{min} {n} {max}: {:?}",
            r.1
        );
    }
}

/// A scripted server answers a nacre client's first kex message with `reply(client_msg)`.
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

/// KEX_ECDH_REPLY / KEXDH_REPLY with a real host key, the given value and a junk signature.
fn reply_with(n: u8, value: Vec<u8>, as_mpint: bool) -> Vec<u8> {
    let k_s = nacre_testkit::host_key(nacre_keys::KeyType::Ed25519, 1)
        .public_key()
        .to_blob();
    let mut m = vec![n];
    put::string(&mut m, &k_s);
    if as_mpint {
        put::mpint_unsigned(&mut m, &value);
    } else {
        put::string(&mut m, &value);
    }
    let mut sig = Vec::new();
    put::string(&mut sig, b"ssh-ed25519");
    put::string(&mut sig, &[0u8; 64]);
    put::string(&mut m, &sig);
    m
}

#[test]
fn bad_server_values_are_refused_by_the_client() {
    for q in bad_x25519() {
        let r = against_client(KexMethod::Curve25519Sha256, |_| {
            reply_with(31, q.clone(), false)
        });
        assert_kex_failed(r, &format!("x25519 Q_S {}", hex::encode(&q)));
    }
    for q in bad_nist(32) {
        let r = against_client(KexMethod::EcdhSha2Nistp256, |_| {
            reply_with(31, q.clone(), false)
        });
        assert_kex_failed(r, &format!("p256 Q_S {}", hex::encode(&q)));
    }
    let p = DhGroup::group14().p;
    for f in bad_dh_values(&p) {
        let r = against_client(KexMethod::DhGroup14Sha256, |msg| {
            assert_eq!(msg[0], 30);
            reply_with(31, f.to_bytes_be(), true)
        });
        assert_kex_failed(r, &format!("group14 f={f:x}"));
    }
}

#[test]
fn bad_gex_groups_are_refused_by_the_client() {
    let group14 = DhGroup::group14();
    let big = DhGroup::group18();
    let one = BigUint::from(1u32);
    let cases: Vec<(BigUint, BigUint, &str)> = vec![
        // Smaller than the client's minimum (2048 bits): a 1536-bit odd modulus.
        (
            (BigUint::from(1u32) << 1535) + 1u32,
            BigUint::from(2u32),
            "too small",
        ),
        (&big.p * &big.p, BigUint::from(2u32), "too large"),
        (&group14.p + &one, BigUint::from(2u32), "even"),
        (group14.p.clone(), one.clone(), "g = 1"),
        (group14.p.clone(), &group14.p - &one, "g = p - 1"),
        (group14.p.clone(), BigUint::from(0u32), "g = 0"),
    ];
    for (p, g, what) in cases {
        let r = against_client(KexMethod::DhGexSha256, |msg| {
            assert_eq!(msg[0], 34, "GEX_REQUEST");
            let mut m = vec![31];
            put::mpint_unsigned(&mut m, &p.to_bytes_be());
            put::mpint_unsigned(&mut m, &g.to_bytes_be());
            m
        });
        assert_kex_failed(r, what);
    }
}
