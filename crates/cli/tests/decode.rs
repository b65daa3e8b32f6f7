//! `nacre decode` over real captures: `nacre sftp` uploads a file to OpenSSH's sshd with one
//! cipher and kex method at a time while tshark captures on loopback and SSHKEYLOGFILE records
//! the secrets; the decoder must account for every byte of every stream, decrypt every packet,
//! and show authentication, the channel and the SFTP requests in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::time::Duration;

use nacre_tests::{
    authorized_client_key, ensure_test_user, run_with_input, test_user_home, ChildGuard, KeyType,
    OpenSshClient, OpenSshServer, Tshark,
};
use serde_json::Value;

/// One session's algorithms.
struct Case {
    kex: &'static str,
    cipher: &'static str,
    mac: Option<&'static str>,
}

const FILE_LEN: usize = 150_000;

/// `nacre sftp -b` uploading `upload.bin` (in `dir`) as `remote` and removing it, with the
/// case's algorithms; with `keylog`, SSHKEYLOGFILE names it.
fn nacre_sftp(port: u16, dir: &Path, keylog: Option<&Path>, case: &Case, remote: &str) {
    nacre_sftp_with(port, dir, keylog, case, remote, &[]);
}

/// [`nacre_sftp`] with more `-o` options.
fn nacre_sftp_with(
    port: u16,
    dir: &Path,
    keylog: Option<&Path>,
    case: &Case,
    remote: &str,
    options: &[&str],
) {
    let mut cmd = nacre_sftp_command(port, dir, keylog, case, options);
    let batch = format!("put upload.bin {remote}\nrm {remote}\nbye\n");
    let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(60));
    assert!(out.success(), "{}: {out}", case.kex);
}

/// The `nacre sftp -b -` command of [`nacre_sftp_with`], its batch not yet given.
fn nacre_sftp_command(
    port: u16,
    dir: &Path,
    keylog: Option<&Path>,
    case: &Case,
    options: &[&str],
) -> std::process::Command {
    let key = authorized_client_key(KeyType::Ed25519);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.current_dir(dir)
        .args(["sftp", "-P", &port.to_string(), "-i"])
        .arg(&key.private)
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", &format!("KexAlgorithms={}", case.kex)])
        .args(["-o", &format!("Ciphers={}", case.cipher)]);
    if let Some(mac) = case.mac {
        cmd.args(["-o", &format!("MACs={mac}")]);
    }
    for o in options {
        cmd.args(["-o", o]);
    }
    cmd.args(["-b", "-", "peer@127.0.0.1"])
        .env("HOME", dir)
        .env_remove("SSHKEYLOGFILE")
        .env_remove("SSH_AUTH_SOCK");
    if let Some(keylog) = keylog {
        cmd.env("SSHKEYLOGFILE", keylog);
    }
    cmd
}

fn write_upload(dir: &Path) {
    let data: Vec<u8> = (0..FILE_LEN).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("upload.bin"), data).unwrap();
}

/// An upload of bytes that do not compress, so that its size still shows on the wire.
fn write_random_upload(dir: &Path) {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let data: Vec<u8> = (0..FILE_LEN)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("upload.bin"), data).unwrap();
}

/// Runs `nacre sftp` once per case against one sshd under one capture; returns the decoder's
/// JSON lines.
fn capture_and_decode(cases: &[Case], tag: &str, sshd_lines: &[&str]) -> Vec<Value> {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], sshd_lines);
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keylog.txt");
    write_upload(dir.path());
    let remote = format!("nacre-decode-{tag}-{}", std::process::id());
    let capture = Tshark::start(sshd.port(), dir.path().join("capture.pcapng"));
    for case in cases {
        nacre_sftp(sshd.port(), dir.path(), Some(&keylog), case, &remote);
    }
    let pcap = capture.stop();
    let _ = std::fs::remove_file(test_user_home().join(&remote));
    check_private_keys_only(&pcap, &keylog, cases);
    decode(&pcap, &keylog)
}

/// The curve25519 sessions decode from the X25519 private keys alone (the form tshark reads):
/// the decoder computes K itself.
fn check_private_keys_only(pcap: &Path, keylog: &Path, cases: &[Case]) {
    let private: String = std::fs::read_to_string(keylog)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("SHARED_SECRET"))
        .map(|l| format!("{l}\n"))
        .collect();
    let private_log = keylog.with_extension("private");
    std::fs::write(&private_log, private).unwrap();
    let lines = decode(pcap, &private_log);
    let summaries: Vec<&Value> = lines.iter().filter(|l| l["msg"] == "SUMMARY").collect();
    assert_eq!(summaries.len(), cases.len());
    for (summary, case) in summaries.iter().zip(cases) {
        let full = summary["c2s"]["left_over"] == 0 && summary["s2c"]["left_over"] == 0;
        assert_eq!(
            full,
            case.kex.starts_with("curve25519"),
            "{}: {summary}",
            case.kex
        );
    }
}

/// `nacre serve` on a free port serving `dir`, writing its key log to `keylog`: the server, not
/// the client, writes it here (the decoder finds the exchange by either side's cookie).
fn nacre_serve(dir: &Path, keylog: &Path) -> (ChildGuard, u16) {
    nacre_serve_with(dir, keylog, &[])
}

/// [`nacre_serve`] with more arguments.
fn nacre_serve_with(dir: &Path, keylog: &Path, extra: &[&str]) -> (ChildGuard, u16) {
    let key = authorized_client_key(KeyType::Ed25519);
    std::fs::write(dir.join("ak"), format!("{}\n", key.pub_line)).unwrap();
    std::fs::write(dir.join("pw"), "serve-pass\n").unwrap();
    let port = nacre_tests::free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--user",
        "peer",
    ])
    .arg("--state-dir")
    .arg(dir.join("state"))
    .arg("--password-file")
    .arg(dir.join("pw"))
    .arg("--authorized-keys")
    .arg(dir.join("ak"))
    .args(["--allow-exec", "--run-as", "root"])
    .args(extra)
    .current_dir(dir)
    .env("SSHKEYLOGFILE", keylog);
    let guard = ChildGuard::spawn("nacre serve", &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve");
    (guard, port)
}

fn decode(pcap: &Path, keylog: &Path) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("decode")
        .arg(pcap)
        .arg("--keylog")
        .arg(keylog)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn msgs_of(lines: &[Value], stream: u64) -> Vec<&Value> {
    lines
        .iter()
        .filter(|l| l["stream"] == stream && l["msg"] != "STREAM" && l["msg"] != "SUMMARY")
        .collect()
}

/// The position of the first message named `name` (from `dir` when given) after `from`.
fn position(msgs: &[&Value], from: usize, dir: Option<&str>, name: &str) -> usize {
    msgs.iter()
        .skip(from)
        .position(|m| m["msg"] == name && dir.is_none_or(|d| m["dir"] == d))
        .map(|p| p + from)
        .unwrap_or_else(|| panic!("no {name} after message {from}: {msgs:#?}"))
}

/// The position of the first CHANNEL_REQUEST of this type after `from`.
fn request_position(msgs: &[&Value], from: usize, kind: &str) -> usize {
    msgs.iter()
        .skip(from)
        .position(|m| m["msg"] == "CHANNEL_REQUEST" && m["fields"]["request"] == kind)
        .map(|p| p + from)
        .unwrap_or_else(|| panic!("no {kind} request after message {from}: {msgs:#?}"))
}

/// Checks one stream: every byte decoded, the negotiated algorithms, the order of the session.
fn check_stream(lines: &[Value], stream: u64, case: &Case) {
    let label = format!("stream {stream} ({} {})", case.kex, case.cipher);
    let summary = lines
        .iter()
        .find(|l| l["stream"] == stream && l["msg"] == "SUMMARY")
        .unwrap_or_else(|| panic!("{label}: no summary"));
    for dir in ["c2s", "s2c"] {
        let r = &summary[dir];
        assert_eq!(r["left_over"], 0, "{label} {dir}: {summary}");
        assert_eq!(r["after_gap"], 0, "{label} {dir}: {summary}");
        assert!(r["error"].is_null(), "{label} {dir}: {summary}");
        assert!(r["bytes"].as_u64().unwrap() > FILE_LEN as u64 / 2 || dir == "s2c");
    }
    let msgs = msgs_of(lines, stream);
    let kexinit = position(&msgs, 0, Some("c2s"), "KEXINIT");
    let fields = &msgs[kexinit]["fields"];
    assert_eq!(fields["encryption_c2s"], case.cipher, "{label}");
    assert!(
        fields["kex_algorithms"]
            .as_str()
            .unwrap()
            .starts_with(case.kex),
        "{label}"
    );
    let reply = msgs
        .iter()
        .find(|m| m["fields"]["signature_verified"].is_boolean())
        .unwrap_or_else(|| panic!("{label}: no kex reply: {msgs:#?}"));
    assert_eq!(reply["fields"]["signature_verified"], true, "{label}");
    assert_eq!(reply["fields"]["method"], case.kex, "{label}");
    for dir in ["c2s", "s2c"] {
        let newkeys = position(&msgs, 0, Some(dir), "NEWKEYS");
        let next = msgs
            .iter()
            .skip(newkeys + 1)
            .find(|m| m["dir"] == dir)
            .unwrap();
        assert_eq!(next["encrypted"], true, "{label}");
        // Strict kex (OpenSSH 9.2 and nacre both offer it): numbering restarts after NEWKEYS.
        assert_eq!(next["seq"], 0, "{label} {dir}: {next}");
    }
    let auth = position(&msgs, 0, Some("c2s"), "USERAUTH_REQUEST");
    let success = position(&msgs, auth, Some("s2c"), "USERAUTH_SUCCESS");
    let open = position(&msgs, success, Some("c2s"), "CHANNEL_OPEN");
    let confirm = position(&msgs, open, Some("s2c"), "CHANNEL_OPEN_CONFIRMATION");
    let request = position(&msgs, confirm, Some("c2s"), "CHANNEL_REQUEST");
    assert_eq!(msgs[request]["fields"]["subsystem"], "sftp", "{label}");
    let init = position(&msgs, request, Some("c2s"), "SFTP_INIT");
    let version = position(&msgs, init, Some("s2c"), "SFTP_VERSION");
    let sftp_open = position(&msgs, version, Some("c2s"), "SFTP_OPEN");
    assert!(
        msgs[sftp_open]["fields"]["filename"]
            .as_str()
            .unwrap()
            .contains("nacre-decode"),
        "{label}"
    );
    position(&msgs, sftp_open, Some("s2c"), "SFTP_HANDLE");
    let written: u64 = msgs
        .iter()
        .filter(|m| m["msg"] == "SFTP_WRITE")
        .map(|m| m["fields"]["length"].as_u64().unwrap())
        .sum();
    assert_eq!(written, FILE_LEN as u64, "{label}");
    let close = position(&msgs, sftp_open, Some("c2s"), "SFTP_CLOSE");
    position(&msgs, close, Some("s2c"), "SFTP_STATUS");
    let remove = position(&msgs, close, Some("c2s"), "SFTP_REMOVE");
    let removed = position(&msgs, remove, Some("s2c"), "SFTP_STATUS");
    // `bye` closes the channel, then disconnects, as OpenSSH's sftp.
    let closed = position(&msgs, removed, Some("c2s"), "CHANNEL_CLOSE");
    position(&msgs, closed, Some("c2s"), "DISCONNECT");
    assert!(
        !msgs.iter().any(|m| m["fields"]["decode_error"].is_string()),
        "{label}: {msgs:#?}"
    );
}

fn run(cases: &[Case], tag: &str) {
    run_with(cases, tag, &[]);
}

/// [`run`] with more sshd_config lines.
fn run_with(cases: &[Case], tag: &str, sshd_lines: &[&str]) {
    let lines = capture_and_decode(cases, tag, sshd_lines);
    check_all(&lines, cases);
}

fn check_all(lines: &[Value], cases: &[Case]) {
    let streams: Vec<u64> = lines
        .iter()
        .filter(|l| l["msg"] == "STREAM")
        .map(|l| l["stream"].as_u64().unwrap())
        .collect();
    assert_eq!(streams.len(), cases.len(), "{lines:#?}");
    for (stream, case) in streams.iter().zip(cases) {
        check_stream(lines, *stream, case);
    }
}

#[test]
fn aead_ciphers_with_three_kex_families() {
    run(
        &[
            Case {
                kex: "curve25519-sha256",
                cipher: "chacha20-poly1305@openssh.com",
                mac: None,
            },
            Case {
                kex: "ecdh-sha2-nistp256",
                cipher: "aes128-gcm@openssh.com",
                mac: None,
            },
            Case {
                kex: "diffie-hellman-group14-sha256",
                cipher: "aes256-gcm@openssh.com",
                mac: None,
            },
            Case {
                kex: "ecdh-sha2-nistp256",
                cipher: "chacha20-poly1305@openssh.com",
                mac: None,
            },
            Case {
                kex: "diffie-hellman-group14-sha256",
                cipher: "chacha20-poly1305@openssh.com",
                mac: None,
            },
        ],
        "aead",
    );
}

#[test]
fn ctr_ciphers_with_macs() {
    run(
        &[
            Case {
                kex: "curve25519-sha256",
                cipher: "aes128-ctr",
                mac: Some("hmac-sha2-256"),
            },
            Case {
                kex: "ecdh-sha2-nistp256",
                cipher: "aes256-ctr",
                mac: Some("hmac-sha2-256-etm@openssh.com"),
            },
            Case {
                kex: "diffie-hellman-group14-sha256",
                cipher: "aes128-ctr",
                mac: Some("hmac-sha2-256-etm@openssh.com"),
            },
            Case {
                kex: "curve25519-sha256",
                cipher: "aes256-ctr",
                mac: Some("hmac-sha2-512"),
            },
        ],
        "ctr",
    );
}

#[test]
fn hybrid_and_group_exchange() {
    run(
        &[
            Case {
                kex: "sntrup761x25519-sha512@openssh.com",
                cipher: "aes256-gcm@openssh.com",
                mac: None,
            },
            Case {
                kex: "diffie-hellman-group-exchange-sha256",
                cipher: "aes128-ctr",
                mac: Some("hmac-sha2-256-etm@openssh.com"),
            },
        ],
        "hybrid",
    );
}

/// ML-KEM (which OpenSSH 9.2 lacks) against `nacre serve`, the server writing the key log.
#[test]
fn mlkem_with_nacre_serve_and_a_server_key_log() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("server-keylog.txt");
    let (_server, port) = nacre_serve(dir.path(), &keylog);
    write_upload(dir.path());
    let cases = [
        Case {
            kex: "mlkem768x25519-sha256",
            cipher: "chacha20-poly1305@openssh.com",
            mac: None,
        },
        Case {
            kex: "mlkem768x25519-sha256",
            cipher: "aes128-ctr",
            mac: Some("hmac-sha2-256-etm@openssh.com"),
        },
    ];
    let capture = Tshark::start(port, dir.path().join("capture.pcapng"));
    for case in &cases {
        nacre_sftp(port, dir.path(), None, case, "nacre-decode-mlkem");
    }
    let pcap = capture.stop();
    let lines = decode(&pcap, &keylog);
    check_all(&lines, &cases);
}

/// OpenSSH's ssh logs in with a password to `nacre serve`: the password never reaches the output.
#[test]
fn passwords_are_masked() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("server-keylog.txt");
    let (_server, port) = nacre_serve(dir.path(), &keylog);
    let capture = Tshark::start(port, dir.path().join("capture.pcapng"));
    let out = OpenSshClient::new(port)
        .password("serve-pass")
        .command("true")
        .run(Duration::from_secs(60));
    assert!(out.success(), "{out}");
    let pcap = capture.stop();
    let lines = decode(&pcap, &keylog);
    let text = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains("serve-pass"), "{text}");
    let request = lines
        .iter()
        .find(|l| l["msg"] == "USERAUTH_REQUEST" && l["fields"]["method"] == "password")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(request["fields"]["password"], "(masked)");
    // The exec channel, in order: open, confirmation, exec, exit status, close both ways.
    let msgs = msgs_of(&lines, 0);
    let success = position(&msgs, 0, Some("s2c"), "USERAUTH_SUCCESS");
    let open = position(&msgs, success, Some("c2s"), "CHANNEL_OPEN");
    let confirm = position(&msgs, open, Some("s2c"), "CHANNEL_OPEN_CONFIRMATION");
    let exec = request_position(&msgs, confirm, "exec");
    assert_eq!(msgs[exec]["fields"]["command"], "true");
    let status = request_position(&msgs, exec, "exit-status");
    assert_eq!(msgs[status]["fields"]["status"], 0);
    position(&msgs, status, Some("s2c"), "CHANNEL_CLOSE");
    position(&msgs, status, Some("c2s"), "CHANNEL_CLOSE");
    let summary = lines.iter().find(|l| l["msg"] == "SUMMARY").unwrap();
    for dir in ["c2s", "s2c"] {
        assert_eq!(summary[dir]["left_over"], 0, "{summary}");
        assert!(summary[dir]["error"].is_null(), "{summary}");
    }
    // The same capture as classic pcap (nanosecond timestamps), and as pcap with microseconds.
    for (format, name) in [("nsecpcap", "capture.ns.pcap"), ("pcap", "capture.us.pcap")] {
        let converted = dir.path().join(name);
        let status = std::process::Command::new("editcap")
            .args(["-F", format])
            .arg(&pcap)
            .arg(&converted)
            .status()
            .unwrap();
        assert!(status.success());
        let again = decode(&converted, &keylog);
        let names = |l: &[Value]| l.iter().map(|v| v["msg"].clone()).collect::<Vec<_>>();
        assert_eq!(names(&again), names(&lines), "{format}");
    }
    // The text form decodes the same capture.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("decode")
        .arg(&pcap)
        .arg("--keylog")
        .arg(&keylog)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("USERAUTH_REQUEST") && text.contains("password=(masked)"),
        "{text}"
    );
    assert!(!text.contains("serve-pass"), "{text}");
}

/// Re-exchanges mid-transfer (RekeyLimit=32K): each later exchange derives its keys with the
/// first exchange's H as session id, and strict kex restarts the numbering at each NEWKEYS.
#[test]
fn rekeys_during_an_upload() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keylog.txt");
    write_upload(dir.path());
    let remote = format!("nacre-decode-rekey-{}", std::process::id());
    let cases = [
        Case {
            kex: "curve25519-sha256",
            cipher: "chacha20-poly1305@openssh.com",
            mac: None,
        },
        Case {
            kex: "diffie-hellman-group14-sha256",
            cipher: "aes128-ctr",
            mac: Some("hmac-sha2-256-etm@openssh.com"),
        },
    ];
    let capture = Tshark::start(sshd.port(), dir.path().join("capture.pcapng"));
    for case in &cases {
        let rekey = ["RekeyLimit=32K"];
        nacre_sftp_with(
            sshd.port(),
            dir.path(),
            Some(&keylog),
            case,
            &remote,
            &rekey,
        );
    }
    let pcap = capture.stop();
    let _ = std::fs::remove_file(test_user_home().join(&remote));
    let lines = decode(&pcap, &keylog);
    check_all(&lines, &cases);
    for stream in 0..cases.len() as u64 {
        let msgs = msgs_of(&lines, stream);
        for dir in ["c2s", "s2c"] {
            let newkeys: Vec<usize> = (0..msgs.len())
                .filter(|&i| msgs[i]["msg"] == "NEWKEYS" && msgs[i]["dir"] == dir)
                .collect();
            assert!(newkeys.len() >= 3, "stream {stream} {dir}: {msgs:#?}");
            for i in newkeys {
                let next = msgs.iter().skip(i + 1).find(|m| m["dir"] == dir);
                if let Some(next) = next {
                    assert_eq!(next["seq"], 0, "stream {stream} {dir}: {next}");
                }
            }
        }
    }
}

/// Compression (`-o Compression=yes`, zlib@openssh.com from USERAUTH_SUCCESS) against sshd, once
/// with re-exchanges every 32 KiB (each NEWKEYS starts a fresh zlib stream), and against `nacre
/// serve`: every packet after authentication is inflated and decodes, those before it are not
/// compressed.
#[test]
fn compressed_sessions_are_inflated() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &["Compression yes"]);
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("keylog.txt");
    write_random_upload(dir.path());
    let remote = format!("nacre-decode-zlib-{}", std::process::id());
    let case = |kex, cipher| Case {
        kex,
        cipher,
        mac: None,
    };
    let cases = [
        case("curve25519-sha256", "chacha20-poly1305@openssh.com"),
        case("ecdh-sha2-nistp256", "aes128-gcm@openssh.com"),
    ];
    let capture = Tshark::start(sshd.port(), dir.path().join("capture.pcapng"));
    let options: [&[&str]; 2] = [&["Compression=yes"], &["Compression=yes", "RekeyLimit=32K"]];
    for (case, options) in cases.iter().zip(options) {
        nacre_sftp_with(
            sshd.port(),
            dir.path(),
            Some(&keylog),
            case,
            &remote,
            options,
        );
    }
    let pcap = capture.stop();
    let _ = std::fs::remove_file(test_user_home().join(&remote));
    let lines = decode(&pcap, &keylog);
    check_all(&lines, &cases);
    for stream in 0..cases.len() as u64 {
        check_compressed(&msgs_of(&lines, stream), stream);
    }

    let served = tempfile::tempdir().unwrap();
    let keylog = served.path().join("server-keylog.txt");
    let (_server, port) = nacre_serve(served.path(), &keylog);
    std::fs::copy(
        dir.path().join("upload.bin"),
        served.path().join("upload.bin"),
    )
    .unwrap();
    let cases = [case(
        "mlkem768x25519-sha256",
        "chacha20-poly1305@openssh.com",
    )];
    let capture = Tshark::start(port, served.path().join("capture.pcapng"));
    nacre_sftp_with(
        port,
        served.path(),
        None,
        &cases[0],
        "nacre-decode-zlib",
        &["Compression=yes"],
    );
    let pcap = capture.stop();
    let lines = decode(&pcap, &keylog);
    check_all(&lines, &cases);
    check_compressed(&msgs_of(&lines, 0), 0);
}

/// zlib@openssh.com negotiated both ways; nothing compressed up to USERAUTH_SUCCESS, everything
/// the server sent after it compressed, and the client's packets from its CHANNEL_OPEN on.
fn check_compressed(msgs: &[&Value], stream: u64) {
    let kexinit = position(msgs, 0, Some("s2c"), "KEXINIT");
    assert!(
        msgs[kexinit]["fields"]["compression_s2c"]
            .as_str()
            .unwrap()
            .contains("zlib@openssh.com"),
        "stream {stream}: {}",
        msgs[kexinit]
    );
    let success = position(msgs, 0, Some("s2c"), "USERAUTH_SUCCESS");
    let open = position(msgs, success, Some("c2s"), "CHANNEL_OPEN");
    for (i, m) in msgs.iter().enumerate() {
        let expected = match m["dir"].as_str().unwrap() {
            "s2c" => i > success,
            _ => i >= open,
        };
        // SFTP packets are lines of the CHANNEL_DATA that completed them, with its flags.
        assert_eq!(m["compressed"], expected, "stream {stream} #{i}: {m}");
    }
}

/// Plain `zlib` (RFC 4253 §6.2), which compresses from the first packet after each side's NEWKEYS:
/// AsyncSSH's server offers only it, `nacre sftp -C` takes it; the decoder inflates every packet
/// after NEWKEYS, both ways, and reads the SFTP upload inside.
#[test]
fn plain_zlib_is_inflated_from_newkeys_on() {
    let dir = tempfile::tempdir().unwrap();
    let (_peer, port) =
        nacre_tests::start_python_peer("asyncssh_peer.py", dir.path(), &["--compression", "zlib"]);
    let keylog = dir.path().join("keylog.txt");
    write_random_upload(dir.path());
    let case = Case {
        kex: "curve25519-sha256",
        cipher: "aes128-gcm@openssh.com",
        mac: None,
    };
    let capture = Tshark::start(port, dir.path().join("capture.pcapng"));
    let mut cmd = nacre_sftp_command(port, dir.path(), Some(&keylog), &case, &["Compression=yes"]);
    cmd.env("NACRE_PASSWORD", nacre_tests::TEST_PASSWORD);
    let batch = "put upload.bin nacre-decode-zlib.bin\nrm nacre-decode-zlib.bin\nbye\n";
    let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(60));
    assert!(out.success(), "{out}");
    let pcap = capture.stop();
    let lines = decode(&pcap, &keylog);
    check_all(&lines, &[case]);
    let msgs = msgs_of(&lines, 0);
    let kexinit = position(&msgs, 0, Some("s2c"), "KEXINIT");
    assert_eq!(
        msgs[kexinit]["fields"]["compression_s2c"], "zlib",
        "{}",
        msgs[kexinit]
    );
    let newkeys = |dir| position(&msgs, 0, Some(dir), "NEWKEYS");
    let (c2s, s2c) = (newkeys("c2s"), newkeys("s2c"));
    for (i, m) in msgs.iter().enumerate() {
        let after = if m["dir"] == "s2c" { s2c } else { c2s };
        assert_eq!(m["compressed"], i > after, "#{i}: {m}");
    }
}

/// Dropbear's client guesses curve25519 and sends its ECDH_INIT at once; `nacre serve` prefers
/// nistp256 first, so the guess is wrong and ignored: the decoder must hash the resent INIT.
#[test]
fn wrong_kex_guess_from_dropbear() {
    ensure_test_user();
    if !Path::new("/usr/bin/dbclient").exists() {
        panic!("dbclient (Debian package dropbear-bin) is needed");
    }
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("server-keylog.txt");
    let (_server, port) = nacre_serve_with(
        dir.path(),
        &keylog,
        &["-o", "KexAlgorithms=ecdh-sha2-nistp256,curve25519-sha256"],
    );
    let capture = Tshark::start(port, dir.path().join("capture.pcapng"));
    let mut cmd = std::process::Command::new("/usr/bin/dbclient");
    cmd.args([
        "-y",
        "-y",
        "-p",
        &port.to_string(),
        "peer@127.0.0.1",
        "true",
    ])
    .env("HOME", dir.path())
    .env("DROPBEAR_PASSWORD", "serve-pass");
    let out = nacre_tests::run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(out.success(), "{out}");
    let pcap = capture.stop();
    let lines = decode(&pcap, &keylog);
    let summary = lines.iter().find(|l| l["msg"] == "SUMMARY").unwrap();
    for dir in ["c2s", "s2c"] {
        assert_eq!(summary[dir]["left_over"], 0, "{summary}");
        assert!(summary[dir]["error"].is_null(), "{summary}");
    }
    let inits: Vec<&Value> = lines
        .iter()
        .filter(|l| l["msg"] == "KEX_ECDH_INIT")
        .collect();
    assert_eq!(inits.len(), 2, "{lines:#?}");
    assert_eq!(inits[0]["fields"]["ignored_wrong_guess"], true);
    assert!(inits[1]["fields"]["ignored_wrong_guess"].is_null());
    assert!(lines.iter().any(|l| l["msg"] == "USERAUTH_SUCCESS"));
}

#[test]
fn the_other_curves_groups_and_ciphers() {
    run(
        &[
            Case {
                kex: "ecdh-sha2-nistp384",
                cipher: "aes192-ctr",
                mac: Some("hmac-sha2-512-etm@openssh.com"),
            },
            Case {
                kex: "ecdh-sha2-nistp521",
                cipher: "aes256-gcm@openssh.com",
                mac: None,
            },
            Case {
                kex: "diffie-hellman-group16-sha512",
                cipher: "chacha20-poly1305@openssh.com",
                mac: None,
            },
            Case {
                kex: "diffie-hellman-group18-sha512",
                cipher: "aes128-gcm@openssh.com",
                mac: None,
            },
            Case {
                kex: "curve25519-sha256@libssh.org",
                cipher: "aes256-ctr",
                mac: Some("hmac-sha2-256-etm@openssh.com"),
            },
        ],
        "others",
    );
}

/// The SHA-1 methods and MACs, which both sides offer only when asked to.
#[test]
fn legacy_sha1_methods_and_macs() {
    run_with(
        &[
            Case {
                kex: "diffie-hellman-group14-sha1",
                cipher: "aes128-ctr",
                mac: Some("hmac-sha1"),
            },
            Case {
                kex: "diffie-hellman-group-exchange-sha1",
                cipher: "aes256-ctr",
                mac: Some("hmac-sha1-etm@openssh.com"),
            },
        ],
        "sha1",
        &["KexAlgorithms +diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1"],
    );
}
