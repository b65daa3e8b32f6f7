//! Proves the peer harness itself: processes, the test user, sshd with every host key type, the OpenSSH client
//! builder, and tshark captures. Needs root and the peers from `scripts/install-peers`.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nacre_tests::{
    authorized_client_key, free_port, install_authorized_key, malformed_report, repo_root,
    run_with_input, run_with_timeout, ssh_message_codes, ssh_summary, test_user_home, venv_python,
    ChildGuard, KeyPair, KeyType, OpenSshClient, OpenSshServer, Tshark,
};

const T: Duration = Duration::from_secs(60);

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn free_port_can_be_bound() {
    let port = free_port();
    assert_ne!(port, 0);
    TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
}

#[test]
fn repo_root_is_the_workspace() {
    let root = repo_root();
    assert!(root.join("Cargo.toml").exists());
    assert!(root.join("tests/Cargo.toml").exists());
    assert!(root.join("scripts/install-peers").exists());
}

#[test]
fn run_with_timeout_captures_status_and_output() {
    let out = run_with_timeout(
        Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
        T,
    );
    assert!(!out.timed_out);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    out.assert_failure();
    let (status, stdout, _) = out.into_parts();
    assert!(!status.success());
    assert_eq!(stdout, "out\n");
}

#[test]
fn run_with_input_feeds_stdin() {
    let out = run_with_input(&mut Command::new("cat"), Some(b"hello"), T);
    out.assert_success();
    assert_eq!(out.stdout, "hello");
}

#[test]
fn run_with_timeout_kills_a_hung_command_and_its_children() {
    // The child shell starts a grandchild that holds the pipes: the whole group must go.
    let out = run_with_timeout(
        Command::new("sh").args(["-c", "sleep 30 & sleep 30"]),
        Duration::from_millis(300),
    );
    assert!(out.timed_out, "{out}");
    assert!(!out.success());
    assert!(out.elapsed < Duration::from_secs(10), "{out}");
}

#[test]
fn child_guard_kills_by_pid_on_drop() {
    let guard = ChildGuard::spawn("sleep", Command::new("sleep").arg("30"));
    let pid = guard.pid();
    assert!(process_exists(pid));
    drop(guard);
    assert!(!process_exists(pid), "sleep {pid} survived its guard");
}

#[test]
fn venv_python_has_the_peer_libraries() {
    let out = run_with_timeout(
        Command::new(venv_python()).args([
            "-c",
            "import cryptography, paramiko, asyncssh; print(paramiko.__version__, asyncssh.__version__)",
        ]),
        T,
    );
    out.assert_success();
}

#[test]
fn install_authorized_key_is_idempotent_and_strict_modes_clean() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate(dir.path(), "idempotence", KeyType::Ed25519);
    install_authorized_key(&key.pub_line);
    install_authorized_key(&key.pub_line);
    let home = test_user_home();
    let text = fs::read_to_string(home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(text.matches(&key.pub_key()).count(), 1, "{text}");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let d = fs::metadata(home.join(".ssh")).unwrap();
    let f = fs::metadata(home.join(".ssh/authorized_keys")).unwrap();
    assert_eq!(d.permissions().mode() & 0o777, 0o700);
    assert_eq!(f.permissions().mode() & 0o777, 0o600);
    let user = nacre_tests::ensure_test_user();
    assert_eq!((d.uid(), f.uid()), (user.uid, user.uid));
}

/// sshd with only a host key of this type: a key login with strict host key checking against
/// `host_key_pub` succeeds, and the client saw that key type.
fn key_login_with_host_key(host_key: KeyType) {
    let client_key = authorized_client_key(KeyType::Ed25519);
    let server = OpenSshServer::start(&[host_key], &[]);
    let pub_line = server.host_key_pub(host_key);
    assert!(pub_line.starts_with(host_key.key_type_name()), "{pub_line}");

    let out = OpenSshClient::new(server.port())
        .identity(&client_key.private)
        .known_hosts(server.known_hosts_file())
        .verbose()
        .command("true")
        .run(T);
    if !out.success() {
        panic!("{out}\n--- sshd log ---\n{}", server.log());
    }
    for want in [
        format!("Server host key: {} SHA256:", host_key.key_type_name()),
        format!(
            "kex: host key algorithm: {}",
            host_key.default_signature_algorithm()
        ),
    ] {
        assert!(out.stderr.contains(&want), "no {want:?} in\n{out}");
    }
    assert!(
        server.wait_for_log("Accepted publickey for peer", Duration::from_secs(5)),
        "{}",
        server.log()
    );
}

#[test]
fn sshd_with_ed25519_host_key() {
    key_login_with_host_key(KeyType::Ed25519);
}

#[test]
fn sshd_with_ecdsa_p256_host_key() {
    key_login_with_host_key(KeyType::EcdsaP256);
}

#[test]
fn sshd_with_ecdsa_p384_host_key() {
    key_login_with_host_key(KeyType::EcdsaP384);
}

#[test]
fn sshd_with_ecdsa_p521_host_key() {
    key_login_with_host_key(KeyType::EcdsaP521);
}

#[test]
fn sshd_with_rsa3072_host_key() {
    key_login_with_host_key(KeyType::Rsa3072);
}

#[test]
fn sshd_with_all_host_keys_and_a_wrong_known_host_is_refused() {
    let client_key = authorized_client_key(KeyType::Ed25519);
    let server = OpenSshServer::start(&KeyType::ALL, &[]);
    for k in KeyType::ALL {
        assert!(server.host_key_pub(k).starts_with(k.key_type_name()));
    }
    // A known_hosts naming a different ed25519 key: strict checking must refuse.
    let dir = tempfile::tempdir().unwrap();
    let other = KeyPair::generate(dir.path(), "other", KeyType::Ed25519);
    let kh = dir.path().join("known_hosts");
    fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", server.port(), other.pub_key()),
    )
    .unwrap();
    let out = OpenSshClient::new(server.port())
        .identity(&client_key.private)
        .known_hosts(&kh)
        .option("HostKeyAlgorithms", "ssh-ed25519")
        .command("true")
        .run(T);
    out.assert_failure();
    assert!(
        out.stderr.contains("HOST IDENTIFICATION HAS CHANGED"),
        "{out}"
    );
}

#[test]
fn password_login_through_sshpass() {
    let server = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let out = OpenSshClient::new(server.port())
        .test_password()
        .command("echo hi; whoami")
        .run(T);
    if !out.success() {
        panic!("{out}\n--- sshd log ---\n{}", server.log());
    }
    assert_eq!(out.stdout, "hi\npeer\n");
    let bad = OpenSshClient::new(server.port())
        .password("wrong")
        .command("true")
        .run(T);
    bad.assert_failure();
}

#[test]
fn server_options_restrict_the_algorithms() {
    let client_key = authorized_client_key(KeyType::Ed25519);
    let server = OpenSshServer::builder()
        .host_key(KeyType::EcdsaP256)
        .option("KexAlgorithms", "curve25519-sha256")
        .option("Ciphers", "aes128-gcm@openssh.com")
        .option("MACs", "hmac-sha2-256-etm@openssh.com")
        .option("HostKeyAlgorithms", "ecdsa-sha2-nistp256")
        .option("RekeyLimit", "1M")
        .start();
    let config = server.config();
    assert!(
        config.contains("KexAlgorithms curve25519-sha256\n"),
        "{config}"
    );

    // ssh logs "Unable to negotiate" at INFO, so the default LogLevel=ERROR hides it: raise it (options given
    // to the builder come first, and the first value wins).
    let refused = OpenSshClient::new(server.port())
        .identity(&client_key.private)
        .option("LogLevel", "INFO")
        .option("KexAlgorithms", "diffie-hellman-group14-sha256")
        .command("true")
        .run(T);
    refused.assert_failure();
    assert!(
        refused.stderr.contains("no matching key exchange method"),
        "{refused}"
    );

    let ok = OpenSshClient::new(server.port())
        .identity(&client_key.private)
        .verbose()
        .command("head -c 3000000 /dev/zero")
        .run(T);
    if !ok.success() {
        panic!("{}\n--- sshd log ---\n{}", ok.stderr, server.log());
    }
    assert_eq!(ok.stdout.len(), 3_000_000);
    let log = &ok.stderr;
    assert!(log.contains("kex: algorithm: curve25519-sha256"), "{log}");
    assert!(log.contains("cipher: aes128-gcm@openssh.com"), "{log}");
    // RekeyLimit 1M with 3 MB of data: the server starts rekeys, the client sees more NEWKEYS.
    let newkeys = log.matches("SSH2_MSG_NEWKEYS received").count();
    assert!(
        newkeys >= 2,
        "expected a rekey, saw {newkeys} NEWKEYS\n{log}"
    );
}

#[test]
#[should_panic(expected = "sshd -t rejected the generated config")]
fn sshd_t_rejects_a_bad_option() {
    let _server = OpenSshServer::start(&[KeyType::Ed25519], &["KexAlgorithms no-such-kex"]);
}

#[test]
fn dropping_the_server_kills_sshd() {
    let server = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let (pid, port, dir) = (server.pid(), server.port(), server.dir().to_path_buf());
    assert!(process_exists(pid));
    TcpStream::connect(("127.0.0.1", port)).expect("sshd listens");
    drop(server);
    assert!(!process_exists(pid), "sshd {pid} survived");
    assert!(!dir.exists(), "temporary folder kept");
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "port {port} still accepts");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tshark_sees_a_clean_openssh_session() {
    let client_key = authorized_client_key(KeyType::Ed25519);
    let server = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let capture = Tshark::start(server.port(), dir.path().join("session.pcapng"));
    // tshark 4.0 does not know OpenSSH 9.2's default kex, sntrup761x25519-sha512@openssh.com, and flags its
    // messages ("Invalid key length"): pick one it dissects.
    let out = OpenSshClient::new(server.port())
        .identity(&client_key.private)
        .option("KexAlgorithms", "curve25519-sha256")
        .command("true")
        .run(T);
    let pcap = capture.stop();
    if !out.success() {
        panic!("{out}\n--- sshd log ---\n{}", server.log());
    }

    let report = malformed_report(&pcap, server.port());
    assert!(report.is_empty(), "tshark flagged packets:\n{report}");

    let summary = ssh_summary(&pcap, server.port());
    assert!(summary.contains("Client: Key Exchange Init"), "{summary}");
    assert!(summary.contains("Server: Key Exchange Init"), "{summary}");

    let codes = ssh_message_codes(&pcap, server.port());
    let port = server.port();
    assert!(
        codes.contains(&(port, 20)),
        "no server KEXINIT in {codes:?}"
    );
    assert!(
        codes.iter().any(|&(src, code)| src != port && code == 20),
        "no client KEXINIT in {codes:?}"
    );
    // Both sides' NEWKEYS (21) are in clear text too.
    assert!(codes.contains(&(port, 21)), "{codes:?}");
}

/// A hand-made server whose KEXINIT has a name-list longer than the packet: the report must flag it.
#[test]
fn tshark_flags_a_kexinit_whose_name_list_overruns_the_packet() {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let capture = Tshark::start(port, dir.path().join("bad.pcapng"));

    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Wait for the client's identification first: when the server's KEXINIT reaches the wire before it,
        // tshark 4.0 takes the KEXINIT for an encrypted packet and the check has nothing to flag.
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            line.push(byte[0]);
        }
        let mut payload = vec![20u8];
        payload.extend_from_slice(&[0x42; 16]);
        payload.extend_from_slice(&1000u32.to_be_bytes()); // claims 1000 bytes...
        payload.extend_from_slice(b"curve25519-sha256"); // ...has 17
        let padding = 8 - (5 + payload.len()) % 8 + 8;
        let mut packet = ((1 + payload.len() + padding) as u32)
            .to_be_bytes()
            .to_vec();
        packet.push(padding as u8);
        packet.extend_from_slice(&payload);
        packet.resize(packet.len() + padding, 0);
        s.write_all(b"SSH-2.0-Broken_1.0\r\n").unwrap();
        s.write_all(&packet).unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"SSH-2.0-Probe_1.0\r\n").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let mut got = 0;
    while got < 20 {
        match c.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    drop(c);
    server.join().unwrap();
    let pcap = capture.stop();

    let summary = ssh_summary(&pcap, port);
    assert!(
        summary.contains("Key Exchange Init[Malformed Packet]"),
        "{summary}"
    );
    let report = malformed_report(&pcap, port);
    assert!(report.contains("Key Exchange Init"), "{report}\n{summary}");
    assert!(report.contains("Malformed Packet"), "{report}");
    eprintln!("{report}");
}

/// The other kex families and host key types tshark 4.0 dissects give clean captures too (the host signature
/// false positive of tshark 4.0 is filtered for every signature type).
#[test]
fn tshark_sees_clean_sessions_for_each_kex_family() {
    let client_key = authorized_client_key(KeyType::Ed25519);
    let server = OpenSshServer::start(&[KeyType::EcdsaP384, KeyType::Rsa3072], &[]);
    let dir = tempfile::tempdir().unwrap();
    for (kex, host_alg) in [
        ("ecdh-sha2-nistp256", "ecdsa-sha2-nistp384"),
        ("diffie-hellman-group14-sha256", "rsa-sha2-256"),
        ("diffie-hellman-group-exchange-sha256", "rsa-sha2-512"),
    ] {
        let capture = Tshark::start(server.port(), dir.path().join(format!("{kex}.pcapng")));
        let out = OpenSshClient::new(server.port())
            .identity(&client_key.private)
            .option("KexAlgorithms", kex)
            .option("HostKeyAlgorithms", host_alg)
            .command("true")
            .run(T);
        let pcap = capture.stop();
        if !out.success() {
            panic!("{out}\n--- sshd log ---\n{}", server.log());
        }
        let report = malformed_report(&pcap, server.port());
        assert!(
            report.is_empty(),
            "{kex}/{host_alg}: tshark flagged\n{report}"
        );
        let summary = ssh_summary(&pcap, server.port());
        assert!(summary.contains("Key Exchange Init"), "{summary}");
    }
}
