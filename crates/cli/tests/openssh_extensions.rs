//! OpenSSH's protocol extensions with OpenSSH 9.2. Host key rotation (PROTOCOL §2.5, `hostkeys-00@openssh.com` /
//! `hostkeys-prove-00@openssh.com`, `UpdateHostKeys`), both ways: `nacre serve` lists its keys
//! and proves them to `ssh -o UpdateHostKeys=yes`, which adds the new ones and drops the retired
//! one; `nacre exec -o UpdateHostKeys=yes` learns sshd's second key the same way. A host
//! authenticated by a certificate, and a key accepted on first use, leave known_hosts alone.
//! Also `no-more-sessions@openssh.com`: sent by `nacre exec` after its session opens (sshd's log).
//! ssh sends it only to servers whose banner says OpenSSH; the server's refusal of a later
//! session is tested in crates/connection/tests/pair.rs. And `eow@openssh.com` (PROTOCOL §2.1):
//! `nacre serve` sends it when the command closed its input, ssh logs it, nacre's client stops
//! sending.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nacre_tests::{ensure_test_user, run_with_input, KeyType, OpenSshClient, OpenSshServer};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn keygen(dir: &Path, name: &str, t: &str) -> PathBuf {
    let f = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", t, "-N", "", "-C", name, "-f", s(&f)])
        .output()
        .unwrap();
    assert!(out.status.success());
    f
}

/// `TYPE BASE64` of a key's `.pub` file (no comment).
fn pub_key(key: &Path) -> String {
    let line = std::fs::read_to_string(format!("{}.pub", s(key))).unwrap();
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `TYPE BASE64` of every line of a known_hosts file for `[127.0.0.1]:port`, sorted.
fn listed(kh: &Path, port: u16) -> Vec<String> {
    let host = format!("[127.0.0.1]:{port}");
    let mut keys: Vec<String> = std::fs::read_to_string(kh)
        .unwrap()
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(host.as_str()))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    keys.sort();
    keys
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn start_serve(
    d: &Path,
    host_keys: &[&Path],
    extra: &[String],
) -> (nacre_tests::ChildGuard, u16, PathBuf) {
    let client = nacre_tests::authorized_client_key(KeyType::Ed25519);
    std::fs::write(d.join("ak"), format!("{}\n", client.pub_line)).unwrap();
    let mut args: Vec<std::ffi::OsString> = vec![
        "--allow-exec".into(),
        "--authorized-keys".into(),
        d.join("ak").into(),
    ];
    for k in host_keys {
        args.push("--host-key".into());
        args.push(k.into());
    }
    args.extend(extra.iter().map(Into::into));
    let (server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        d,
        "peer",
        "serve-pass",
        &args,
    );
    (server, port, client.private.clone())
}

#[test]
fn ssh_updates_known_hosts_from_nacre_serve() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ed = keygen(d, "host_ed25519", "ed25519");
    let ecdsa = keygen(d, "host_ecdsa", "ecdsa");
    let rsa = keygen(d, "host_rsa", "rsa");
    let retired = keygen(d, "retired", "ed25519");
    let (_server, port, identity) = start_serve(d, &[&ed, &ecdsa, &rsa], &[]);
    let kh = d.join("known_hosts");
    let other = format!("other.example {}\n", pub_key(&retired));
    std::fs::write(
        &kh,
        format!(
            "# kept\n[127.0.0.1]:{port} {}\n[127.0.0.1]:{port} {}\n",
            pub_key(&ed),
            pub_key(&retired)
        ),
    )
    .unwrap();
    let login = |update: &str| {
        OpenSshClient::new(port)
            .identity(&identity)
            .known_hosts(&kh)
            .option("UpdateHostKeys", update)
            .verbose()
            .command("echo hi")
            .run(Duration::from_secs(60))
    };
    // UpdateHostKeys=no: nothing changes.
    let before = std::fs::read_to_string(&kh).unwrap();
    let out = login("no");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), before);
    // yes: the ECDSA and RSA keys are proven and added (RSA signed with rsa-sha2-512 since the
    // exchange used Ed25519), the retired key removed, the comment kept.
    let out = login("yes");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert!(
        out.stderr
            .contains("asking server to prove ownership for 2 keys"),
        "{out}"
    );
    let want = sorted(vec![pub_key(&ed), pub_key(&ecdsa), pub_key(&rsa)]);
    assert_eq!(listed(&kh, port), want, "{out}");
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("# kept\n"), "{text}");
    assert!(!text.contains(&pub_key(&retired)), "{text}");
    // A retired key also listed under another name: ssh leaves the file alone.
    std::fs::write(
        &kh,
        format!("{text}[127.0.0.1]:{port} {}\n{other}", pub_key(&retired)),
    )
    .unwrap();
    let before = std::fs::read_to_string(&kh).unwrap();
    let out = login("yes");
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), before, "{out}");
}

#[test]
fn ssh_does_not_update_for_a_certificate_authenticated_nacre_serve() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = keygen(d, "ca", "ed25519");
    let ed = keygen(d, "host_ed25519", "ed25519");
    let ecdsa = keygen(d, "host_ecdsa", "ecdsa");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-s", s(&ca), "-I", "host", "-h", "-n", "127.0.0.1"])
        .arg(format!("{}.pub", s(&ed)))
        .output()
        .unwrap();
    assert!(out.status.success());
    let cert = format!("HostCertificate={}-cert.pub", s(&ed));
    let (_server, port, identity) = start_serve(d, &[&ed, &ecdsa], &["-o".into(), cert]);
    let kh = d.join("known_hosts");
    let text = format!(
        "@cert-authority * {}\n[127.0.0.1]:{port} {}\n",
        pub_key(&ca),
        pub_key(&ed)
    );
    std::fs::write(&kh, &text).unwrap();
    let out = OpenSshClient::new(port)
        .identity(&identity)
        .known_hosts(&kh)
        .option("UpdateHostKeys", "yes")
        .verbose()
        .command("echo hi")
        .run(Duration::from_secs(60));
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert!(
        out.stderr.contains("ssh-ed25519-cert-v01@openssh.com"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text, "{out}");
}

fn nacre_exec(port: u16, kh: &Path, extra: &[&str]) -> nacre_tests::CmdOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["exec", "-v", "-p", &port.to_string(), "-o"])
        .arg(format!("UserKnownHostsFile={}", s(kh)))
        .args(extra)
        .args(["peer@127.0.0.1", "--", "echo", "hi"])
        .env("NACRE_PASSWORD", nacre_tests::TEST_PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", kh.parent().unwrap());
    run_with_input(&mut cmd, Some(b""), Duration::from_secs(60))
}

#[test]
fn nacre_exec_updates_known_hosts_from_sshd() {
    ensure_test_user();
    let sshd = OpenSshServer::builder()
        .host_keys(&[KeyType::Ed25519, KeyType::EcdsaP256, KeyType::Rsa3072])
        .line("LogLevel DEBUG3")
        .start();
    let port = sshd.port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let retired = keygen(d, "retired", "ecdsa");
    let kh = d.join("known_hosts");
    let first = |t| {
        let p = sshd.host_key_pub(t);
        p.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    };
    let ed = first(KeyType::Ed25519);
    let text = format!(
        "[127.0.0.1]:{port} {ed}\n[127.0.0.1]:{port} {}\n",
        pub_key(&retired)
    );
    std::fs::write(&kh, &text).unwrap();
    let strict = ["-o", "StrictHostKeyChecking=yes"];
    // The default with a UserKnownHostsFile other than ~/.ssh/known_hosts: no update.
    let out = nacre_exec(port, &kh, &strict);
    assert_eq!(out.stdout, "hi\n", "{out}\n{}", sshd.log());
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text);
    // The session told sshd that no more sessions will be opened.
    assert!(
        sshd.wait_for_log("no-more-sessions@openssh.com", Duration::from_secs(5)),
        "{}",
        sshd.log()
    );
    // HostKeyAlgorithms without ECDSA: the ECDSA key is ignored (as ssh), only the retired
    // key goes.
    let mut args = strict.to_vec();
    args.extend([
        "-o",
        "UpdateHostKeys=yes",
        "-o",
        "HostKeyAlgorithms=ssh-ed25519",
    ]);
    let out = nacre_exec(port, &kh, &args);
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(listed(&kh, port), vec![ed.clone()], "{out}\n{}", sshd.log());
    std::fs::write(&kh, &text).unwrap();
    // UpdateHostKeys=yes: ECDSA and RSA proven and added, the retired key removed (sshd signs
    // the RSA proof with rsa-sha2-512 since nacre offered it in its KEXINIT).
    let mut args = strict.to_vec();
    args.extend(["-o", "UpdateHostKeys=yes"]);
    let out = nacre_exec(port, &kh, &args);
    assert_eq!(out.stdout, "hi\n", "{out}");
    let want = sorted(vec![
        ed.clone(),
        first(KeyType::EcdsaP256),
        first(KeyType::Rsa3072),
    ]);
    assert_eq!(listed(&kh, port), want, "{out}\n{}", sshd.log());
    assert!(
        out.stderr.contains("Learned new hostkey: ECDSA SHA256:"),
        "{out}"
    );
    assert!(
        out.stderr.contains("Learned new hostkey: RSA SHA256:"),
        "{out}"
    );
    assert!(
        out.stderr.contains("Deprecating obsolete hostkey: ECDSA"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("known_hosts.old")).unwrap(),
        text,
        "the old file is kept as known_hosts.old"
    );
    // A key accepted on first use is not a known key: no update.
    let fresh = d.join("fresh_known_hosts");
    let out = nacre_exec(
        port,
        &fresh,
        &[
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "UpdateHostKeys=yes",
        ],
    );
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert_eq!(listed(&fresh, port), vec![ed], "{out}");
}

#[test]
fn nacre_exec_does_not_update_for_a_certificate_authenticated_sshd() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = keygen(d, "ca", "ed25519");
    let host = keygen(d, "host_ed25519", "ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-s", s(&ca), "-I", "host", "-h", "-n", "127.0.0.1"])
        .arg(format!("{}.pub", s(&host)))
        .output()
        .unwrap();
    assert!(out.status.success());
    let sshd = OpenSshServer::builder()
        .host_keys(&[KeyType::EcdsaP256])
        .line(&format!("HostKey {}", s(&host)))
        .line(&format!("HostCertificate {}-cert.pub", s(&host)))
        .start();
    let kh = d.join("known_hosts");
    let text = format!(
        "@cert-authority * {}\n[127.0.0.1]:{} {}\n",
        pub_key(&ca),
        sshd.port(),
        pub_key(&host)
    );
    std::fs::write(&kh, &text).unwrap();
    let out = nacre_exec(
        sshd.port(),
        &kh,
        &[
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "UpdateHostKeys=yes",
        ],
    );
    assert_eq!(out.stdout, "hi\n", "{out}\n{}", sshd.log());
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), text, "{out}");
}

/// A command that closes its standard input while the client still sends: `nacre serve` says
/// `eow@openssh.com`, ssh logs it (and stops sending); nacre's client stops too, and both get
/// the command's output and status.
#[test]
fn eow_when_the_command_closes_its_input() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ed = keygen(d, "host_ed25519", "ed25519");
    let (_server, port, identity) = start_serve(d, &[&ed], &[]);
    let input = vec![b'x'; 8 << 20];
    let command = "exec 0<&-; sleep 1; echo done";
    let mut ssh = OpenSshClient::new(port)
        .identity(&identity)
        .verbose()
        .command(command)
        .build();
    let out = run_with_input(&mut ssh, Some(&input), Duration::from_secs(60));
    assert_eq!(out.stdout, "done\n", "{out}");
    assert!(out.status.success(), "{out}");
    assert!(
        out.stderr.contains("rtype eow@openssh.com reply 0"),
        "{out}"
    );
    let kh = d.join("known_hosts");
    std::fs::write(&kh, format!("[127.0.0.1]:{port} {}\n", pub_key(&ed))).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["exec", "-p", &port.to_string(), "-i", s(&identity), "-o"])
        .arg(format!("UserKnownHostsFile={}", s(&kh)))
        .args(["peer@127.0.0.1", "--", command])
        .env_remove("SSH_AUTH_SOCK")
        .env("HOME", d);
    let out = run_with_input(&mut cmd, Some(&input), Duration::from_secs(60));
    assert_eq!(out.stdout, "done\n", "{out}");
    assert!(out.status.success(), "{out}");
}

/// `ping@openssh.com` (PROTOCOL §1.8; OpenSSH 9.2 has no ping): nacre's client pings
/// `nacre serve`, which announced it in EXT_INFO, and gets the data back in the PONG.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_between_nacre_client_and_nacre_serve() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ed = keygen(d, "host_ed25519", "ed25519");
    let (_server, port, _identity) = start_serve(d, &[&ed], &[]);
    let conn = nacre::Client::builder()
        .user("peer")
        .password("serve-pass")
        .default_identities(false)
        .verify_host_key(|_| true)
        .connect(&format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    assert!(conn.info().peer_identification.starts_with("SSH-2.0-nacre"));
    for data in [&b"marco"[..], b"", &[0xff; 1000]] {
        assert_eq!(conn.ping(data).await.unwrap(), data);
    }
}

/// `UpdateHostKeys ask` on a terminal (tests/peers/pty_ssh.py): ssh's preamble, the learned
/// key, and the question, asked before the shell takes the terminal; `yes` writes the file,
/// `no` leaves it.
#[test]
fn update_host_keys_ask_on_a_terminal() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ed = keygen(d, "host_ed25519", "ed25519");
    let ecdsa = keygen(d, "host_ecdsa", "ecdsa");
    let (_server, port, identity) = start_serve(d, &[&ed, &ecdsa], &[]);
    let kh = d.join("known_hosts");
    let text = format!("[127.0.0.1]:{port} {}\n", pub_key(&ed));
    for (answer, want) in [
        ("no", vec![pub_key(&ed)]),
        ("yes", sorted(vec![pub_key(&ed), pub_key(&ecdsa)])),
    ] {
        std::fs::write(&kh, &text).unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(nacre_tests::repo_root().join("tests/peers/pty_ssh.py"))
            .args(["hostkeys", env!("CARGO_BIN_EXE_nacre"), &port.to_string()])
            .arg(d)
            .args(["-i", s(&identity), "-o"])
            .arg(format!("UserKnownHostsFile={}", s(&kh)))
            .args(["-o", "UpdateHostKeys=ask"])
            .env("PTY_ANSWER", answer)
            .env_remove("NACRE_PASSWORD");
        let out = nacre_tests::run_with_timeout(&mut cmd, Duration::from_secs(90));
        assert!(out.stdout.contains("exit 5"), "{answer}: {out}");
        assert_eq!(listed(&kh, port), want, "{answer}: {out}");
    }
}
