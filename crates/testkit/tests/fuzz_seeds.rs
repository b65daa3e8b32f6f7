//! Writes the seed corpus of the fuzz targets into `fuzz/corpus/<target>/seed-*` (docs/FUZZING.md).
//!
//! Ignored by `cargo test`; `scripts/fuzz-seeds` runs it with `--cfg fuzzing` (the recorded
//! transport sessions use no-op packet keys after NEWKEYS, as the fuzz builds do), then adds key
//! files written by `ssh-keygen` and `puttygen`. Everything here comes from nacre's own machines and
//! writers: in-memory sessions with seeded randomness recorded on the wire, and messages encoded by
//! nacre's codecs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use nacre_auth::msg::{InfoRequest, Prompt};
use nacre_auth::{AuthClient, AuthServer, AuthServerConfig, ClientEvent, Decision, ServerEvent};
use nacre_keys::agent::codec::{
    encode_frame, AddIdentity, Extension, IdentitiesAnswer, Identity, RemoveIdentity,
    RequestIdentities, SignRequest, SignResponse, Success,
};
use nacre_keys::{KeyCipher, KeyType, KnownHosts, PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_wire::put;
use rand_chacha::rand_core::SeedableRng;

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes one seed (named by its content hash, so rewriting is idempotent).
fn seed(target: &str, name: &str, data: &[u8]) {
    use sha2::Digest;
    let h = sha2::Sha256::digest(data);
    let file = corpus(target).join(format!(
        "seed-{name}-{:02x}{:02x}{:02x}{:02x}",
        h[0], h[1], h[2], h[3]
    ));
    std::fs::write(file, data).unwrap();
}

#[test]
#[ignore = "writes the fuzz seed corpus; run by scripts/fuzz-seeds"]
fn generate_fuzz_seeds() {
    wire_seeds();
    crypto_seeds();
    packet_reader_seeds();
    banner_seeds();
    #[cfg(fuzzing)]
    {
        let _noop = nacre_transport::fuzzing::NoopKeys::set(true);
        sessions::session_seeds();
    }
    #[cfg(not(fuzzing))]
    eprintln!("not built with --cfg fuzzing: no recorded transport sessions written");
    sequence_seeds();
    auth_seeds();
    key_seeds();
    cert_seeds();
    generate_layer_seeds();
}

/// The `cert_parse` seeds alone: `cargo test -p nacre-testkit --test fuzz_seeds -- --ignored
/// generate_cert_seeds`.
#[test]
#[ignore = "writes the fuzz seed corpus; run by scripts/fuzz-seeds"]
fn generate_cert_seeds() {
    cert_seeds();
}

/// Certificates by every sample key as CA (mode 0), certificate fields for the fixed CA
/// (mode 1), SSHSIG signatures (mode 2) and an allowed_signers file (mode 3).
fn cert_seeds() {
    use nacre_keys::cert::CertBuilder;
    use nacre_keys::{CertType, SshSig, SshsigHash};
    let keys = sample_keys();
    let mut rng = rng();
    let mut lines = Vec::new();
    for (i, ca) in keys.iter().enumerate() {
        let cert = CertBuilder::new(keys[0].public_key(), CertType::User)
            .serial(i as u64)
            .key_id(format!("seed-{i}"))
            .principals(vec!["alice".into(), "*.example.com".into()])
            .validity(1_600_000_000, 1_900_000_000)
            .critical_option("force-command", Some("/bin/true".into()))
            .critical_option("source-address", Some("192.0.2.0/24,::1".into()))
            .with_default_user_extensions()
            .nonce(vec![i as u8; 32])
            .sign(ca, None, &mut rng)
            .unwrap();
        let mut d = vec![0];
        d.extend_from_slice(cert.blob());
        seed("cert_parse", &format!("cert-{i}"), &d);
        let sig = SshSig::sign(ca, "git", SshsigHash::Sha512, b"seed").unwrap();
        let mut d = vec![2];
        d.extend_from_slice(sig.to_armored().as_bytes());
        seed("cert_parse", &format!("sshsig-{i}"), &d);
        let opts = [
            "",
            "namespaces=\"git\" ",
            "cert-authority ",
            "valid-after=\"20200101\" ",
        ];
        lines.push(format!(
            "alice,*@example.com {}{}",
            opts[i % opts.len()],
            ca.public_key().to_openssh_line("c")
        ));
    }
    // The fields after the subject key: serial, type, key id, principals, validity, critical
    // options, extensions, reserved.
    let mut d = vec![1];
    put::uint64(&mut d, 1);
    put::uint32(&mut d, 1);
    put::string(&mut d, b"fields");
    let mut principals = Vec::new();
    put::string(&mut principals, b"alice");
    put::string(&mut d, &principals);
    put::uint64(&mut d, 0);
    put::uint64(&mut d, u64::MAX);
    let mut crit = Vec::new();
    put::string(&mut crit, b"force-command");
    let mut v = Vec::new();
    put::string(&mut v, b"/bin/true");
    put::string(&mut crit, &v);
    put::string(&mut d, &crit);
    let mut ext = Vec::new();
    put::string(&mut ext, b"permit-pty");
    put::string(&mut ext, b"");
    put::string(&mut d, &ext);
    put::string(&mut d, b"");
    seed("cert_parse", "fields", &d);
    let mut d = vec![3];
    d.extend_from_slice(lines.join("\n").as_bytes());
    seed("cert_parse", "allowed-signers", &d);
}

/// The connection and SFTP seeds alone (they need no `--cfg fuzzing`): `cargo test -p
/// nacre-testkit --test fuzz_seeds -- --ignored generate_layer_seeds`.
#[test]
#[ignore = "writes the fuzz seed corpus; run by scripts/fuzz-seeds"]
fn generate_layer_seeds() {
    layers::connection_seeds();
    layers::sftp_seeds();
}

#[path = "fuzz_seeds/layers.rs"]
mod layers;

fn wire_seeds() {
    // byte, boolean, then the others.
    let mut v = vec![0, 7, 1, 1];
    v.push(2); // uint32
    put::uint32(&mut v, 0xdead_beef);
    v.push(3); // uint64
    put::uint64(&mut v, u64::MAX);
    v.push(4); // string
    put::string(&mut v, b"ssh-userauth");
    v.push(5); // utf8
    put::string(&mut v, "héllo".as_bytes());
    v.push(6); // mpint with a sign byte
    put::mpint_unsigned(&mut v, &[0x80, 1, 2]);
    v.push(6); // negative mpint
    put::mpint_raw(&mut v, &[0xff, 0x7f]);
    v.push(7); // name-list
    put::name_list(&mut v, &["curve25519-sha256", "ext-info-c"]);
    v.push(8); // 3 raw bytes
    v.extend_from_slice(b"abc");
    seed("wire_primitives", "all-types", &v);
    let mut z = vec![6];
    put::mpint_raw(&mut z, &[]);
    z.push(7);
    put::string(&mut z, b"");
    seed("wire_primitives", "zero-empty", &z);
}

fn crypto_seeds() {
    let suites = nacre_crypto::fuzzing::suites();
    for (i, suite) in suites.iter().enumerate() {
        let sel = i as u8;
        // Sealed packet, opened again (odd mode): flip byte 9.
        let mut d = vec![sel, 0, 0, 0, 3, 1, 0, 9];
        d.extend_from_slice(b"\x5e\x00\x00\x00\x00hello");
        seed("packet_open", &format!("seal-{i}"), &d);
        // A real sealed packet offered as received bytes (even mode).
        let mut w = nacre_transport::packet::PacketWriter::new([1; 32]);
        w.set_key(nacre_crypto::fuzzing::key_for(*suite, 0), false);
        let mut out = Vec::new();
        w.write(&mut out, b"\x5e\x00\x00\x00\x00data").unwrap();
        let mut d = vec![sel, 0, 0, 0, 0, 0];
        d.extend_from_slice(&out);
        seed("packet_open", &format!("open-{i}"), &d);
    }
}

fn packet_reader_seeds() {
    let suites = nacre_crypto::fuzzing::suites();
    for (i, suite) in suites.iter().enumerate() {
        let sel = i as u8;
        let mut w = nacre_transport::packet::PacketWriter::new([2; 32]);
        w.set_key(nacre_crypto::fuzzing::key_for(*suite, 0), false);
        let mut out = Vec::new();
        w.write(&mut out, b"\x02\x00\x00\x00\x00").unwrap();
        w.write(&mut out, &[94; 300]).unwrap();
        let mut d = vec![sel, 1 | (7 << 2), 0];
        d.extend_from_slice(&out);
        seed("packet_reader", &format!("stream-{i}"), &d);
        let mut d = vec![sel, 1 | (3 << 2), 1 | (3 << 5), 0, 17];
        for p in [&b"\x14kexinit"[..], b"\x15", &[94; 200]] {
            d.push(p.len() as u8);
            d.extend_from_slice(p);
        }
        seed("packet_reader", &format!("roundtrip-{i}"), &d);
    }
}

fn banner_seeds() {
    for (name, text) in [
        (
            "openssh",
            &b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"[..],
        ),
        (
            "preamble",
            b"Welcome\r\nto the host\nSSH-2.0-dropbear_2022.83\r\n",
        ),
        ("v199", b"SSH-1.99-Cisco-1.25\r\n"),
        ("bare-lf", b"SSH-2.0-x\n\x00\x00\x00\x0c"),
    ] {
        for knob in [0u8, 3] {
            let mut d = vec![knob];
            d.extend_from_slice(text);
            seed("banner", &format!("{name}-{knob}"), &d);
        }
    }
}

/// Recorded transport sessions (fuzz builds only: they use no-op packet keys after NEWKEYS).
#[cfg(fuzzing)]
mod sessions {
    use std::sync::Arc;

    use bytes::BytesMut;
    use nacre_crypto::{CipherAlg, MacAlg, SeededRng};
    use nacre_keys::SignatureAlgorithm;
    use nacre_transport::fuzzing as tf;
    use nacre_transport::msg::{Debug, Disconnect, Ignore, Unimplemented};
    use nacre_transport::packet::PacketReader;
    use nacre_transport::{Algorithms, Config, Event, KexMethod, Transport};
    use nacre_wire::{DisconnectReason, Encode};

    use super::seed;

    /// The payloads of a plaintext packet stream (after the identification line).
    fn payloads(wire: &[u8]) -> Vec<Vec<u8>> {
        let nl = wire.iter().position(|&b| b == b'\n').unwrap();
        let mut buf = BytesMut::from(&wire[nl + 1..]);
        let mut reader = PacketReader::new(1 << 20);
        let mut out = Vec::new();
        while let Some(p) = reader.next_packet(&mut buf).unwrap() {
            out.push(p.payload.to_vec());
        }
        out
    }

    /// The fuzz targets' client and server configs, narrowed to one kex method and host key algorithm
    /// on `narrow`'s side (so that the other side, which is the fuzzed one, negotiates it).
    fn narrowed(
        mut c: Config,
        kex: KexMethod,
        host_key: SignatureAlgorithm,
        cipher: CipherAlg,
    ) -> Config {
        c.algorithms = Algorithms {
            kex: vec![kex],
            host_key: vec![host_key],
            cipher: vec![cipher],
            mac: vec![MacAlg::HmacSha256Etm],
            compression: vec![nacre_transport::CompressionAlg::None],
        };
        c
    }

    struct Recorded {
        client_wire: Vec<u8>,
        server_wire: Vec<u8>,
    }

    /// A session between a client and a server, recorded on the wire: handshake, service, a few
    /// service-layer packets each way, authentication, a re-exchange, more packets, DISCONNECT.
    fn record(client_cfg: Config, server_cfg: Config) -> Recorded {
        let now = tf::base_time();
        let mut client = Transport::client(
            Arc::new(client_cfg),
            Box::new(SeededRng::new(tf::CLIENT_SEED)),
            now,
        );
        let mut server = Transport::server(
            Arc::new(server_cfg),
            Box::new(SeededRng::new(tf::SERVER_SEED)),
            now,
        );
        let mut rec = Recorded {
            client_wire: Vec::new(),
            server_wire: Vec::new(),
        };
        client.request_service("ssh-userauth");
        let drive = |client: &mut Transport, server: &mut Transport, rec: &mut Recorded| {
            for _ in 0..100 {
                let mut progress = false;
                let mut b = Vec::new();
                if client.poll_transmit(&mut b) > 0 {
                    rec.client_wire.extend_from_slice(&b);
                    server.handle_input(&b);
                    progress = true;
                }
                let mut b = Vec::new();
                if server.poll_transmit(&mut b) > 0 {
                    rec.server_wire.extend_from_slice(&b);
                    client.handle_input(&b);
                    progress = true;
                }
                while let Some(ev) = client.poll_event() {
                    if matches!(ev, Event::HostKey { .. }) {
                        client.accept_host_key();
                    }
                    assert!(!matches!(ev, Event::Closed(_)), "client closed: {ev:?}");
                    progress = true;
                }
                while let Some(ev) = server.poll_event() {
                    assert!(!matches!(ev, Event::Closed(_)), "server closed: {ev:?}");
                    progress = true;
                }
                if !progress {
                    return;
                }
            }
            panic!("session did not settle");
        };
        drive(&mut client, &mut server, &mut rec);
        client
            .send(&[50, 0, 0, 0, 5, b'a', b'l', b'i', b'c', b'e'])
            .unwrap();
        server.send(&[52]).unwrap();
        drive(&mut client, &mut server, &mut rec);
        client.set_authenticated();
        server.set_authenticated();
        client
            .send(&[
                90, 0, 0, 0, 7, b's', b'e', b's', b's', b'i', b'o', b'n', 0, 0, 0, 0, 0, 0x20, 0,
                0, 0, 0, 0x80, 0,
            ])
            .unwrap();
        drive(&mut client, &mut server, &mut rec);
        client.rekey();
        drive(&mut client, &mut server, &mut rec);
        server
            .send(&[94, 0, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n'])
            .unwrap();
        client.send_ignore(b"keepalive");
        drive(&mut client, &mut server, &mut rec);
        client.disconnect(DisconnectReason::BY_APPLICATION, "bye");
        let mut b = Vec::new();
        client.poll_transmit(&mut b);
        rec.client_wire.extend_from_slice(&b);
        rec
    }

    /// A recorded stream fed to the fuzzed machine (as the target does) reaches both exchanges and
    /// ends with the peer's DISCONNECT.
    fn replays(server: bool, bytes: &[u8], name: &str) {
        let now = tf::base_time();
        let mut t = if server {
            let mut t = Transport::server(
                tf::server_config(),
                Box::new(SeededRng::new(tf::SERVER_SEED)),
                now,
            );
            t.handle_input(tf::CLIENT_BANNER);
            t.set_authenticated();
            t
        } else {
            let mut t = Transport::client(
                tf::client_config(),
                Box::new(SeededRng::new(tf::CLIENT_SEED)),
                now,
            );
            t.request_service("ssh-userauth");
            t.handle_input(tf::SERVER_BANNER);
            t.set_authenticated();
            t
        };
        t.handle_input(bytes);
        let mut kex = 0;
        let mut closed = None;
        for _ in 0..4 {
            while let Some(ev) = t.poll_event() {
                match ev {
                    Event::HostKey { .. } => t.accept_host_key(),
                    Event::KexComplete { .. } => kex += 1,
                    Event::Closed(e) => closed = Some(e),
                    _ => {}
                }
            }
        }
        assert_eq!(
            kex, 2,
            "{name}: the replay did not reach both exchanges ({closed:?})"
        );
        if server {
            assert!(
                matches!(
                    closed,
                    Some(nacre_transport::TransportError::PeerDisconnected { .. })
                ),
                "{name}: {closed:?}"
            );
        }
    }

    pub fn session_seeds() {
        // (method, also as a split-comparison seed). DH exchanges and sntrup761 keys are slow: few
        // seeds of those.
        let methods = [
            (KexMethod::MlKem768X25519Sha256, false),
            (KexMethod::Sntrup761X25519Sha512, false),
            (KexMethod::Curve25519Sha256, true),
            (KexMethod::Curve25519Sha256Libssh, false),
            (KexMethod::EcdhSha2Nistp256, true),
            (KexMethod::EcdhSha2Nistp384, false),
            (KexMethod::EcdhSha2Nistp521, false),
            (KexMethod::DhGroup14Sha256, false),
            (KexMethod::DhGexSha256, false),
        ];
        let host_keys = [
            SignatureAlgorithm::Ed25519,
            SignatureAlgorithm::EcdsaNistP256,
        ];
        let mut messages: Vec<Vec<u8>> = Vec::new();
        for (i, &(kex, split)) in methods.iter().enumerate() {
            let host_key = host_keys[i % 2];
            let cipher = CipherAlg::ALL[i % CipherAlg::ALL.len()];
            let name = kex.name().replace('@', "-");
            // The fuzzed server (server_config, SERVER_SEED) against a client narrowed to one method.
            let client_cfg = narrowed((*tf::client_config()).clone(), kex, host_key, cipher);
            let rec = record(client_cfg, (*tf::server_config()).clone());
            let nl = rec.client_wire.iter().position(|&b| b == b'\n').unwrap();
            let mut d = vec![1]; // authenticated from the start: the recorded peer re-keys
            d.extend_from_slice(&rec.client_wire[nl + 1..]);
            replays(true, &d[1..], &name);
            seed("transport_server", &name, &d);
            if split {
                d[0] = 0x81 | (2 << 4); // also compared in 3-byte chunks
                seed("transport_server", &format!("{name}-split"), &d);
            }
            messages.extend(payloads(&rec.client_wire));
            messages.extend(payloads(&rec.server_wire));

            // The fuzzed client (client_config, CLIENT_SEED) against a server narrowed to one method
            // that identifies itself with SERVER_BANNER, as the target feeds it.
            let mut server_cfg = narrowed((*tf::server_config()).clone(), kex, host_key, cipher);
            server_cfg.software_version = "nacre_fuzz_server".to_owned();
            let rec = record((*tf::client_config()).clone(), server_cfg);
            assert!(rec.server_wire.starts_with(tf::SERVER_BANNER));
            let mut d = vec![1]; // authenticated from the start: the recorded peer re-keys
            d.extend_from_slice(&rec.server_wire[tf::SERVER_BANNER.len()..]);
            replays(false, &d[1..], &name);
            seed("transport_client", &name, &d);
            if split {
                d[0] = 0x81 | (4 << 4);
                seed("transport_client", &format!("{name}-split"), &d);
            }
        }
        // Every payload seen, split between the generic and the kex-method decoders.
        messages.sort();
        messages.dedup();
        for (i, m) in messages.iter().enumerate() {
            let target = match m[0] {
                30..=49 => "kex_messages",
                50..=255 => continue,
                _ => "transport_messages",
            };
            seed(target, &format!("session-{i}"), m);
        }
        for m in [
            Disconnect {
                reason: DisconnectReason::PROTOCOL_ERROR,
                description: "bad".into(),
                language: b"en",
            }
            .to_bytes(),
            Ignore { data: b"pad" }.to_bytes(),
            Debug {
                always_display: true,
                message: "debug".into(),
                language: b"",
            }
            .to_bytes(),
            Unimplemented { seq: 3 }.to_bytes(),
        ] {
            seed("transport_messages", "generic", &m);
        }
    }
}

fn sequence_seeds() {
    for i in 0..12u32 {
        // pick: kex, cipher, mac, host key, strict, ext-info
        let mut pick = i | ((i % 6) << 4) | ((i % 6) << 8) | ((i % 2) << 12);
        if i >= 10 {
            pick |= 7 << 17; // finite-field DH allowed
        }
        let mut d = vec![pick as u8, (pick >> 8) as u8, (pick >> 16) as u8];
        // client: IGNORE; deliver; server: rekey; settle; client: KEXINIT with everything;
        // deliver; client: service payload; settle; client: raw NEWKEYS; settle.
        d.extend_from_slice(&[0x80, 0, 4, b'p', b'i', b'n', b'g']);
        d.extend_from_slice(&[0x86, 0xff, 0xff, 0]);
        d.extend_from_slice(&[0x09, 13]);
        d.extend_from_slice(&[0x80, 7]);
        for _ in 0..6 {
            d.extend_from_slice(&[0xff, 0xff, 0]);
        }
        d.extend_from_slice(&[0, 0x80, 0x80, 8, 0]);
        d.extend_from_slice(&[0x86, 0xff, 0xff, 0x10]);
        d.extend_from_slice(&[0x8b, 3, b'a', b'b', b'c', 44]);
        d.extend_from_slice(&[13, 0x80, 8, 13, 0x0a, 0x88, 0x00, 0xff]);
        seed("transport_sequence", &format!("script-{i}"), &d);
    }
}

/// Records an authentication between nacre's client and server: every payload each way.
fn auth_conversation(kind: u8) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let keys = nacre_auth::fuzzing::user_keys();
    let session = nacre_auth::fuzzing::SESSION_ID;
    let now = std::time::Instant::now();
    let config = AuthServerConfig {
        banner: Some("welcome".to_owned()),
        failure_delay: std::time::Duration::ZERO,
        ..AuthServerConfig::default()
    };
    let mut server = AuthServer::new(config, session);
    let mut client = AuthClient::new("alice", session, None);
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    for round in 0..12 {
        while let Some(p) = client.poll_transmit() {
            to_server.push(p.clone());
            server.handle_packet(&p, now).unwrap();
        }
        while let Some(ev) = server.poll_event() {
            let decision = match (&ev, kind) {
                (ServerEvent::Password { .. }, 1) if round < 3 => {
                    Decision::PasswordChangeRequired {
                        prompt: "expired".to_owned(),
                    }
                }
                (ServerEvent::KeyboardInteractive { .. }, _) => Decision::Prompts(InfoRequest {
                    name: "otp".to_owned(),
                    instruction: "code".to_owned(),
                    language: String::new(),
                    prompts: vec![Prompt {
                        prompt: "Code: ".to_owned(),
                        echo: false,
                    }],
                }),
                (ServerEvent::Success { .. }, _) => continue,
                _ => Decision::Accept,
            };
            let id = match ev {
                ServerEvent::Password { id, .. }
                | ServerEvent::PublicKeyQuery { id, .. }
                | ServerEvent::PublicKeyVerified { id, .. }
                | ServerEvent::KeyboardInteractive { id, .. }
                | ServerEvent::KeyboardResponses { id, .. } => id,
                ServerEvent::Success { .. } => unreachable!(),
            };
            server.decide(id, decision, now).unwrap();
        }
        while let Some(p) = server.poll_transmit() {
            to_client.push(p.clone());
            client.handle_packet(&p).unwrap();
        }
        while let Some(ev) = client.poll_event() {
            match ev {
                ClientEvent::Failure { .. } if round == 0 => match kind {
                    0 => client.publickey(&keys[0].public_key()),
                    1 => client.password("secret"),
                    2 => client.keyboard_interactive(""),
                    _ => client.publickey(&keys[1].public_key()),
                },
                ClientEvent::SignRequest {
                    algorithm, data, ..
                } => {
                    let k = if kind == 0 { &keys[0] } else { &keys[1] };
                    client.signature(&k.sign(algorithm, &data).unwrap());
                }
                ClientEvent::PasswordChangeRequested { .. } => {
                    client.change_password("secret", "new")
                }
                ClientEvent::InfoRequest(_) => {
                    client.info_response(vec!["123456".to_owned().into()])
                }
                _ => {}
            }
        }
        if client.is_done() {
            break;
        }
    }
    assert!(client.is_done(), "auth conversation {kind} did not succeed");
    (to_server, to_client)
}

fn raw_op(d: &mut Vec<u8>, payload: &[u8]) {
    d.push(0);
    d.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    d.extend_from_slice(payload);
}

fn auth_seeds() {
    for kind in 0..4u8 {
        let (to_server, to_client) = auth_conversation(kind);
        for (i, p) in to_server.iter().chain(&to_client).enumerate() {
            seed("auth_messages", &format!("conv{kind}-{i}"), p);
        }
        // The server target: the client's payloads, each followed by "accept the oldest question"
        // (op 5, index 0, decision 0 = Accept) and, for keyboard-interactive, prompts.
        for flags in [0u8, 4 | 8] {
            let mut d = vec![flags];
            for p in &to_server {
                raw_op(&mut d, p);
                if kind == 2 && p[0] == 50 {
                    d.extend_from_slice(&[5, 0, 4, 3, b'o', b't', b'p', 1]);
                } else {
                    d.extend_from_slice(&[5, 0, 0]);
                }
            }
            seed("auth_server", &format!("conv{kind}-{flags}"), &d);
        }
        // The client target: the app starts the method the conversation used, then the server's
        // payloads arrive.
        let mut d = vec![8];
        for (i, p) in to_client.iter().enumerate() {
            raw_op(&mut d, p);
            if i == 1 || (i == 0 && p[0] != 53) {
                match kind {
                    0 => d.extend_from_slice(&[6, 0]),
                    1 => d.extend_from_slice(&[5, 6, b's', b'e', b'c', b'r', b'e', b't']),
                    2 => d.extend_from_slice(&[8, 0, 0]),
                    _ => d.extend_from_slice(&[6, 1]),
                }
            }
        }
        seed("auth_client", &format!("conv{kind}"), &d);
    }
}

fn rng() -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(7)
}

fn sample_keys() -> Vec<PrivateKey> {
    let mut keys = vec![PrivateKey::from_ed25519_seed(&[3; 32]).with_comment("ed25519 seed")];
    for (t, len) in [
        (KeyType::EcdsaNistP256, 32),
        (KeyType::EcdsaNistP384, 48),
        (KeyType::EcdsaNistP521, 66),
    ] {
        let mut d = vec![0x11; len];
        d[0] = 0;
        d[1] = 1;
        keys.push(
            PrivateKey::from_ecdsa_scalar(t, &d)
                .unwrap()
                .with_comment("ecdsa"),
        );
    }
    let rsa = nacre_testkit::host_key(KeyType::Rsa, 1);
    keys.push(PrivateKey::from_openssh(rsa.to_openssh("rsa").as_bytes()).unwrap());
    keys
}

fn key_seeds() {
    let keys = sample_keys();
    let mut rng = rng();
    let publics: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
    for (i, (k, p)) in keys.iter().zip(&publics).enumerate() {
        let mut d = vec![0];
        d.extend_from_slice(&p.to_blob());
        seed("public_key", &format!("blob-{i}"), &d);
        let mut d = vec![1];
        d.extend_from_slice(p.to_openssh_line("user@host").as_bytes());
        seed("public_key", &format!("line-{i}"), &d);
        let alg = k.key_type().signature_algorithms()[0];
        let sig = k.sign(alg, b"other data").unwrap();
        let mut d = vec![2];
        d.extend_from_slice(&sig);
        seed("public_key", &format!("sig-{i}"), &d);
        let mut d = vec![3];
        put::string(&mut d, &p.to_blob());
        put::string(&mut d, &sig);
        seed("public_key", &format!("verify-{i}"), &d);

        seed(
            "key_files",
            &format!("openssh-{i}"),
            k.to_openssh(k.comment()).as_bytes(),
        );
        let cipher = KeyCipher::ALL[i % KeyCipher::ALL.len()];
        let enc = k
            .to_openssh_encrypted_with("enc", nacre_keys::fuzzing::PASSPHRASE, cipher, 1, &mut rng)
            .unwrap();
        seed(
            "key_files_encrypted",
            &format!("openssh-{}", cipher.name()),
            enc.as_bytes(),
        );
    }
    for (i, cipher) in KeyCipher::ALL.iter().enumerate() {
        let enc = keys[0]
            .to_openssh_encrypted_with("enc", nacre_keys::fuzzing::PASSPHRASE, *cipher, 2, &mut rng)
            .unwrap();
        seed(
            "key_files_encrypted",
            &format!("ed25519-{i}"),
            enc.as_bytes(),
        );
    }

    // known_hosts: our own lines (plain, hashed, non-default port) and the other line forms.
    let mut text = String::new();
    for (i, p) in publics.iter().enumerate() {
        let host = format!("host{i}.example");
        text += &KnownHosts::entry_line(&host, 22, p, i % 2 == 1, &mut rng).unwrap();
        text += "\n";
    }
    text += &KnownHosts::entry_line("10.0.0.1", 2222, &publics[0], false, &mut rng).unwrap();
    text += "\n# comment\n";
    text += &format!(
        "@cert-authority *.example.org {}\n",
        publics[1].to_openssh_line("ca")
    );
    text += &format!("@revoked bad.example {}\n", publics[2].to_openssh_line(""));
    text += &format!(
        "*.corp,!gw.corp,[10.1.?.*]:2200 {}\n",
        publics[0].to_openssh_line("x")
    );
    let mut d = vec![0, 22, 13];
    d.extend_from_slice(b"host1.example");
    d.extend_from_slice(text.as_bytes());
    seed("known_hosts", "mixed", &d);
    let mut d = vec![0x08, 0xae, 8];
    d.extend_from_slice(b"10.0.0.1");
    d.extend_from_slice(text.as_bytes());
    seed("known_hosts", "port", &d);

    // authorized_keys: options of every kind.
    let options = [
        "",
        "restrict,pty ",
        "command=\"echo \\\"hi\\\"\",no-agent-forwarding ",
        "from=\"10.0.0.0/8,!10.1.*,*.example.com\",expiry-time=\"20300101\" ",
        "permitopen=\"localhost:80\",permitlisten=\"0.0.0.0:8080\",environment=\"A=b\" ",
        "cert-authority,principals=\"alice,bob\",tunnel=\"1\" ",
        "no-port-forwarding,no-X11-forwarding,no-user-rc,no-touch-required,verify-required ",
    ];
    let mut text = String::from("# authorized keys\n\n");
    for (i, o) in options.iter().enumerate() {
        text += o;
        text += &publics[i % publics.len()].to_openssh_line("user@host");
        text += "\n";
    }
    seed("authorized_keys", "options", text.as_bytes());
    for (i, o) in options.iter().enumerate() {
        let line = format!("{o}{}", publics[0].to_openssh_line(""));
        seed("authorized_keys", &format!("line-{i}"), line.as_bytes());
    }

    // ssh-agent frames.
    let blob = publics[0].to_blob();
    let sig = keys[0].sign(SignatureAlgorithm::Ed25519, b"data").unwrap();
    let mut frames = Vec::new();
    encode_frame(&RequestIdentities, &mut frames);
    encode_frame(
        &IdentitiesAnswer {
            identities: vec![Identity {
                key_blob: &blob,
                comment: b"me",
            }],
        },
        &mut frames,
    );
    encode_frame(
        &SignRequest {
            key_blob: &blob,
            data: b"data",
            flags: 2,
        },
        &mut frames,
    );
    encode_frame(&SignResponse { signature: &sig }, &mut frames);
    encode_frame(&RemoveIdentity { key_blob: &blob }, &mut frames);
    encode_frame(
        &Extension {
            name: "session-bind@openssh.com",
            contents: b"\0\0\0\0",
        },
        &mut frames,
    );
    encode_frame(&Success, &mut frames);
    seed("agent_messages", "frames", &frames);
    let mut fields = Vec::new();
    put::string(&mut fields, &blob[blob.len() - 32..]);
    let mut secret = [3u8; 64];
    secret[32..].copy_from_slice(&blob[blob.len() - 32..]);
    put::string(&mut fields, &secret);
    let mut add = Vec::new();
    encode_frame(
        &AddIdentity {
            key_type: "ssh-ed25519",
            key_fields: &fields,
            comment: b"added",
            constraints: Some(&[1, 0, 0, 0, 60]),
        },
        &mut add,
    );
    seed("agent_messages", "add", &add);
}
