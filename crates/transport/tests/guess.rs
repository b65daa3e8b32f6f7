#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! first_kex_packet_follows (RFC 4253 §7): a wrongly guessed first kex packet is ignored, a right
//! one is used.

use std::sync::Arc;
use std::time::Instant;

use nacre_crypto::{DhGroup, DhPrivateKey, EcdhCurve, EcdhPrivateKey, SeededRng};
use nacre_testkit::all_host_keys;
use nacre_testkit::script::{find_disconnect, msg_numbers, KexInitSpec, KexTranscript, ScriptPeer};
use nacre_transport::{Config, Role, Transport};
use nacre_wire::put;

/// A default server, except that curve25519-sha256 is moved to the front of its kex list (the
/// default puts the post-quantum hybrids first): the scripted client's guesses are X25519
/// ECDH_INITs, and "the same first method on both sides" must mean curve25519-sha256 here.
/// ecdh-sha2-nistp384 (off by default on servers) is added last, for a client whose first
/// method differs from the server's.
fn server() -> Transport {
    let mut config = Config::server(all_host_keys());
    let curve = nacre_transport::KexMethod::Curve25519Sha256;
    config.algorithms.kex.retain(|&k| k != curve);
    config.algorithms.kex.insert(0, curve);
    config
        .algorithms
        .kex
        .push(nacre_transport::KexMethod::EcdhSha2Nistp384);
    Transport::server(
        Arc::new(config),
        Box::new(SeededRng::new(31)),
        Instant::now(),
    )
}

fn ecdh_init(key: &EcdhPrivateKey) -> Vec<u8> {
    let mut m = vec![30];
    put::string(&mut m, &key.public_key());
    m
}

/// Sends banner, our KEXINIT and `kex_packets`; checks the server answered with exactly one
/// ECDH_REPLY and no DISCONNECT, and that the reply's signature covers H computed with
/// `used` (so the server used that packet's Q_C). Returns Q_S's length.
fn run(spec: KexInitSpec, kex_packets: &[Vec<u8>], used: &EcdhPrivateKey) -> usize {
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let i_c = spec.payload();
    let mut bytes = script.banner();
    bytes.extend(script.packet(&i_c));
    for p in kex_packets {
        bytes.extend(script.packet(p));
    }
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    assert!(find_disconnect(&packets).is_none(), "{packets:?}");
    assert!(!victim.is_closed(), "{:?}", victim.close_reason());
    // KEXINIT, ECDH_REPLY, NEWKEYS: one reply only.
    assert_eq!(msg_numbers(&packets), vec![20, 31, 21]);
    let transcript = KexTranscript {
        v_c: script.id.clone(),
        v_s: script.peer_id.clone().unwrap(),
        i_c,
        i_s: packets[0].payload.to_vec(),
    };
    let (key, _) = transcript
        .client_check_reply(used, &packets[1].payload)
        .expect("reply signs H over the packet that was used");
    assert_eq!(key.key_type(), nacre_keys::KeyType::Ed25519);
    let reply: nacre_transport::msg::KexEcdhReply<'_> =
        nacre_wire::decode_exact(&packets[1].payload).unwrap();
    reply.q_s.len()
}

fn x25519(seed: u64) -> EcdhPrivateKey {
    EcdhPrivateKey::generate(EcdhCurve::X25519, &mut SeededRng::new(seed))
}

/// The client's first kex method (FFDH, which a default server does not offer) differs from
/// the server's: the guessed KEXDH_INIT is ignored, the following ECDH_INIT is answered.
#[test]
fn wrong_kex_guess_is_ignored() {
    let mut spec = KexInitSpec::new(Role::Client, true);
    spec.kex
        .insert(0, "diffie-hellman-group14-sha256".to_owned());
    spec.first_kex_packet_follows = true;
    let dh = DhPrivateKey::generate(&DhGroup::group14(), &mut SeededRng::new(1), 512);
    let mut guess = vec![30];
    put::mpint_unsigned(&mut guess, &dh.public_key().to_bytes_be());
    let right = x25519(2);
    let q_s_len = run(spec, &[guess, ecdh_init(&right)], &right);
    assert_eq!(q_s_len, 32);
}

/// Same kex method first on both sides but a different first host key algorithm: still a wrong
/// guess (RFC 4253 §7), so the first ECDH_INIT, although well-formed, must not be used.
#[test]
fn wrong_host_key_guess_is_ignored_even_with_the_same_kex() {
    let mut spec = KexInitSpec::new(Role::Client, true);
    spec.host_key = vec!["ecdsa-sha2-nistp256".to_owned(), "ssh-ed25519".to_owned()];
    spec.first_kex_packet_follows = true;
    let guessed = x25519(3);
    let right = x25519(4);
    // The negotiated host key is the client's first the server has: ECDSA P-256. The reply must
    // sign H over `right`'s Q_C; had the server used `guessed`, H would differ.
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let i_c = spec.payload();
    let mut bytes = script.banner();
    bytes.extend(script.packet(&i_c));
    bytes.extend(script.packet(&ecdh_init(&guessed)));
    bytes.extend(script.packet(&ecdh_init(&right)));
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    assert_eq!(msg_numbers(&packets), vec![20, 31, 21]);
    let transcript = KexTranscript {
        v_c: script.id.clone(),
        v_s: script.peer_id.clone().unwrap(),
        i_c,
        i_s: packets[0].payload.to_vec(),
    };
    let (key, _) = transcript
        .client_check_reply(&right, &packets[1].payload)
        .unwrap();
    assert_eq!(key.key_type(), nacre_keys::KeyType::EcdsaNistP256);
    assert!(transcript
        .client_check_reply(&guessed, &packets[1].payload)
        .is_err());
}

/// A right guess (same first kex method and host key algorithm) is used: no second packet.
#[test]
fn right_guess_is_used() {
    let mut spec = KexInitSpec::new(Role::Client, true);
    spec.first_kex_packet_follows = true;
    let guessed = x25519(5);
    assert_eq!(run(spec, &[ecdh_init(&guessed)], &guessed), 32);
}

/// Without the flag nothing is skipped either (control for the tests above).
#[test]
fn no_guess_flag_uses_the_first_packet() {
    let mut spec = KexInitSpec::new(Role::Client, false);
    spec.kex
        .insert(0, "diffie-hellman-group14-sha256".to_owned());
    let first = x25519(6);
    assert_eq!(run(spec, &[ecdh_init(&first)], &first), 32);
}

/// A wrong guess followed by nothing: the server waits (no reply to the guess, no close).
#[test]
fn wrong_guess_alone_gets_no_reply() {
    let mut spec = KexInitSpec::new(Role::Client, false);
    spec.kex.insert(0, "ecdh-sha2-nistp384".to_owned());
    spec.first_kex_packet_follows = true;
    let mut victim = server();
    let mut script = ScriptPeer::new(Role::Client);
    let mut bytes = script.banner();
    bytes.extend(script.packet(&spec.payload()));
    let p384 = EcdhPrivateKey::generate(EcdhCurve::NistP384, &mut SeededRng::new(7));
    bytes.extend(script.packet(&ecdh_init(&p384)));
    let mut packets = script.take(&mut victim);
    packets.extend(script.exchange(&mut victim, &bytes));
    // The negotiated method is the client's first the server supports: nistp384 itself, yet
    // the first packet is still discarded because the first names differ.
    assert_eq!(msg_numbers(&packets), vec![20]);
    assert!(!victim.is_closed());
    let more = script.packet(&ecdh_init(&p384));
    let packets = script.exchange(&mut victim, &more);
    assert_eq!(msg_numbers(&packets), vec![31, 21]);
}
