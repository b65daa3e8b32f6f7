//! SSHKEYLOGFILE: a nacre ↔ OpenSSH session captured with tshark is decrypted with the key log
//! nacre wrote (curve25519-sha256 + aes128-gcm@openssh.com, the combination tshark 4.0 decrypts),
//! and the channel data shows up in clear.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;

use nacre::crypto::CipherAlg;
use nacre::keys::PublicKey;
use nacre::transport::{Algorithms, Config, KexMethod};
use nacre::wire::DisconnectReason;
use nacre::{AuthResult, ClientConfig, Connection};
use nacre_tests::{
    ensure_test_user, tshark_read, KeyType, OpenSshServer, Tshark, TEST_PASSWORD, TEST_USER,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_decrypts_a_session_with_nacres_keylog() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keylog.txt");
    // This test binary runs this one test: the variable is seen by nobody else.
    std::env::set_var("SSHKEYLOGFILE", &keylog);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let pcap = dir.path().join("session.pcapng");
    let capture = Tshark::start(sshd.port(), &pcap);
    let trusted = PublicKey::from_openssh_line(&sshd.host_key_pub(KeyType::Ed25519))
        .unwrap()
        .0;
    let mut config = Config::client();
    config.algorithms = Algorithms {
        kex: vec![KexMethod::Curve25519Sha256],
        cipher: vec![CipherAlg::Aes128Gcm],
        ..Algorithms::client_default()
    };
    let cfg = ClientConfig {
        transport: Arc::new(config),
        verify_host_key: Arc::new(move |k| *k == trusted),
    };
    let mut conn = Connection::connect(("127.0.0.1", sshd.port()), cfg)
        .await
        .unwrap();
    assert_eq!(
        conn.authenticate_password(TEST_USER, TEST_PASSWORD)
            .await
            .unwrap(),
        AuthResult::Success
    );
    let out = conn.exec("echo keylog-marker-4242").await.unwrap();
    assert_eq!(out.stdout, b"keylog-marker-4242\n");
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
    let pcap = capture.stop();
    let log = std::fs::read_to_string(&keylog).unwrap();
    let two_field = log
        .lines()
        .filter(|l| l.split_whitespace().count() == 2)
        .count();
    assert_eq!(
        two_field, 1,
        "one curve25519 line for the one key exchange:\n{log}"
    );
    let text = tshark_read(
        &pcap,
        sshd.port(),
        &[
            "-o",
            &format!("ssh.keylog_file:{}", keylog.display()),
            "-x",
            "-Y",
            "ssh",
        ],
    );
    assert!(
        text.contains("Decrypted Packet"),
        "tshark did not decrypt:\n{text}"
    );
    // The bytes of every hex dump line, "0010  79 6c 6f ...  ascii", joined.
    let bytes: Vec<u8> = text
        .lines()
        .filter(|l| {
            l.len() > 6 && l.as_bytes()[..4].iter().all(u8::is_ascii_hexdigit) && &l[4..6] == "  "
        })
        .flat_map(|l| {
            l[6..l.len().min(6 + 48)]
                .split_whitespace()
                .filter_map(|h| u8::from_str_radix(h, 16).ok())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        bytes.windows(18).any(|w| w == b"keylog-marker-4242"),
        "the channel data is not in the decrypted packets:\n{text}"
    );
}
