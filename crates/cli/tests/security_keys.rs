//! FIDO security keys (`sk-ssh-ed25519@openssh.com`, `sk-ecdsa-sha2-nistp256@openssh.com`,
//! OpenSSH's PROTOCOL.u2f) through an agent: tests/peers/sk_agent.py holds fresh keys of both
//! types and signs as an authenticator would, with the flags it is told (user present 0x01,
//! user verified 0x04), independently of nacre (Python `cryptography`).
//!
//! - OpenSSH's ssh, with the agent, to `nacre serve`: accepted with user presence; refused
//!   without it; accepted without it when authorized_keys says `no-touch-required`;
//!   `verify-required` refused with presence only, accepted with presence and verification.
//! - `nacre exec`, with only the agent, to sshd: the same decisions made by sshd.
//! - `nacre exec` to `nacre serve`.
//! - `nacre keygen -Y sign` through the agent, verified by `ssh-keygen -Y verify`, and the reverse.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nacre_tests::{
    ensure_test_user, repo_root, run_with_input, venv_python, ChildGuard, CmdOutput, OpenSshClient,
    OpenSshServer,
};

const T: Duration = Duration::from_secs(60);
const UP: u8 = 0x01;
const UV: u8 = 0x04;

/// A running sk_agent.py: its socket and its public key lines.
struct SkAgent {
    _guard: ChildGuard,
    sock: PathBuf,
    lines: Vec<String>,
}

impl SkAgent {
    /// Starts an agent holding one key of `kind` (`ed25519` or `ecdsa`) signing with `flags`.
    fn start(dir: &Path, kind: &str, flags: u8) -> SkAgent {
        let sock = dir.join(format!("sk-{kind}-{flags}.sock"));
        let pubkeys = dir.join(format!("sk-{kind}-{flags}.pub"));
        let mut cmd = Command::new(venv_python());
        cmd.arg(repo_root().join("tests/peers/sk_agent.py"))
            .arg("--socket")
            .arg(&sock)
            .arg("--pubkeys")
            .arg(&pubkeys)
            .args(["--types", kind, "--flags", &flags.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut guard = ChildGuard::spawn("sk_agent.py", &mut cmd);
        let stdout = guard.child_mut().stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "READY", "sk_agent.py did not start");
        let lines = std::fs::read_to_string(&pubkeys)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        SkAgent {
            _guard: guard,
            sock,
            lines,
        }
    }

    /// The key's public line, with `options` in front when not empty.
    fn authorized(&self, options: &str) -> String {
        let line = &self.lines[0];
        if options.is_empty() {
            format!("{line}\n")
        } else {
            format!("{options} {line}\n")
        }
    }

    /// The public key file (for ssh's `IdentityFile` with the key in the agent).
    fn pub_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!(
            "{}.pub",
            self.sock.file_stem().unwrap().to_str().unwrap()
        ));
        std::fs::write(&path, format!("{}\n", self.lines[0])).unwrap();
        path
    }
}

/// `nacre serve` for the test user with `authorized_keys`.
fn serve(dir: &Path, authorized_keys: &str) -> (ChildGuard, u16) {
    let ak = dir.join("authorized_keys");
    std::fs::write(&ak, authorized_keys).unwrap();
    nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir,
        "peer",
        "serve-pass",
        &["--allow-exec".into(), "--authorized-keys".into(), ak.into()],
    )
}

/// OpenSSH's ssh with only the agent's key: `echo sk-ok`.
fn ssh_login(dir: &Path, port: u16, agent: &SkAgent) -> CmdOutput {
    OpenSshClient::new(port)
        .option("IdentityAgent", agent.sock.to_str().unwrap())
        .option("IdentitiesOnly", "yes")
        .option("IdentityFile", agent.pub_file(dir).to_str().unwrap())
        .option("PreferredAuthentications", "publickey")
        .command("echo sk-ok")
        .run(T)
}

/// `nacre exec` with only the agent (a fresh HOME: no key files, no known_hosts).
fn nacre_exec(home: &Path, port: u16, agent: &SkAgent) -> CmdOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "exec",
        "-p",
        &port.to_string(),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
        "peer@127.0.0.1",
        "--",
        "echo",
        "sk-ok",
    ])
    .env("SSH_AUTH_SOCK", &agent.sock)
    .env_remove("NACRE_PASSWORD")
    .env("HOME", home);
    run_with_input(&mut cmd, Some(b""), T)
}

/// (agent flags, authorized_keys options, accepted?) as sshd decides (auth2-pubkey.c).
const CASES: &[(u8, &str, bool)] = &[
    (UP, "", true),
    (0, "", false),
    (UV, "", false),
    (0, "no-touch-required", true),
    (UP, "verify-required", false),
    (UP | UV, "verify-required", true),
    (UV, "no-touch-required,verify-required", true),
];

fn check(out: &CmdOutput, accepted: bool, what: &str) {
    if accepted {
        assert_eq!(out.stdout, "sk-ok\n", "{what}: {out}");
    } else {
        assert_eq!(out.stdout, "", "{what}: {out}");
        assert!(out.stderr.contains("ermission denied"), "{what}: {out}");
    }
}

#[test]
fn ssh_with_security_keys_to_nacre_serve() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for kind in ["ed25519", "ecdsa"] {
        for &(flags, options, accepted) in CASES {
            let agent = SkAgent::start(d, kind, flags);
            let (_server, port) = serve(d, &agent.authorized(options));
            let out = ssh_login(d, port, &agent);
            check(
                &out,
                accepted,
                &format!("ssh → nacre serve, {kind}, flags {flags:#x}, {options:?}"),
            );
        }
    }
}

#[test]
fn nacre_exec_with_security_keys_to_sshd() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // sshd reads the file as the user: a folder and file it can read.
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    for kind in ["ed25519", "ecdsa"] {
        for &(flags, options, accepted) in CASES {
            let agent = SkAgent::start(d, kind, flags);
            let ak = d.join(format!("authorized_keys-{kind}-{flags}"));
            std::fs::write(&ak, agent.authorized(options)).unwrap();
            std::fs::set_permissions(&ak, std::os::unix::fs::PermissionsExt::from_mode(0o644))
                .unwrap();
            let sshd = OpenSshServer::start(
                &[nacre_tests::KeyType::Ed25519],
                &[
                    &format!("AuthorizedKeysFile {}", ak.display()),
                    "StrictModes no",
                ],
            );
            let out = nacre_exec(&home, sshd.port(), &agent);
            check(
                &out,
                accepted,
                &format!(
                    "nacre exec → sshd, {kind}, flags {flags:#x}, {options:?}\n{}",
                    sshd.log()
                ),
            );
        }
    }
}

#[test]
fn nacre_exec_with_security_keys_to_nacre_serve() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    std::fs::create_dir(&home).unwrap();
    for (kind, flags, options, accepted) in [
        ("ed25519", UP, "", true),
        ("ecdsa", UP, "", true),
        ("ecdsa", 0, "", false),
        ("ed25519", 0, "no-touch-required", true),
        ("ed25519", UP, "verify-required", false),
    ] {
        let agent = SkAgent::start(d, kind, flags);
        let (_server, port) = serve(d, &agent.authorized(options));
        let out = nacre_exec(&home, port, &agent);
        check(
            &out,
            accepted,
            &format!("nacre exec → nacre serve, {kind}, flags {flags:#x}, {options:?}"),
        );
    }
}

/// SSHSIG with a security key through the agent: `nacre keygen -Y sign` (no private key file)
/// verified by `ssh-keygen -Y verify`, and `ssh-keygen -Y sign` verified by `nacre keygen -Y
/// verify`.
#[test]
fn sshsig_with_security_keys_through_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let message = d.join("message");
    std::fs::write(&message, b"signed by a security key\n").unwrap();
    for kind in ["ed25519", "ecdsa"] {
        let agent = SkAgent::start(d, kind, UP);
        let key = agent.pub_file(d);
        let allowed = d.join("allowed_signers");
        std::fs::write(&allowed, format!("signer {}\n", agent.lines[0])).unwrap();
        let sig = d.join("message.sig");
        for (signer, verifier) in [
            (env!("CARGO_BIN_EXE_nacre"), "ssh-keygen"),
            ("ssh-keygen", env!("CARGO_BIN_EXE_nacre")),
        ] {
            let _ = std::fs::remove_file(&sig);
            let mut sign = Command::new(signer);
            if signer != "ssh-keygen" {
                sign.arg("keygen");
            }
            sign.args(["-Y", "sign", "-n", "file", "-f"])
                .arg(&key)
                .arg(&message)
                .env("SSH_AUTH_SOCK", &agent.sock);
            let out = run_with_input(&mut sign, Some(b""), T);
            assert!(sig.exists(), "{kind}: {signer} signs: {out}");
            let mut verify = Command::new(verifier);
            if verifier != "ssh-keygen" {
                verify.arg("keygen");
            }
            verify
                .args(["-Y", "verify", "-n", "file", "-I", "signer", "-f"])
                .arg(&allowed)
                .arg("-s")
                .arg(&sig);
            let input = std::fs::read(&message).unwrap();
            let out = run_with_input(&mut verify, Some(&input), T);
            assert!(
                format!("{}{}", out.stdout, out.stderr)
                    .contains("Good \"file\" signature for signer"),
                "{kind}: {signer} → {verifier}: {out}"
            );
        }
    }
}

/// A certificate whose CA is a security key (`ssh-keygen -s CA.pub -U` signs through the agent):
/// nacre parses it with the CA's sk signature verified and lists it as ssh-keygen does; a
/// flipped bit in the CA signature is refused.
#[test]
fn certificate_signed_by_a_security_key_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for kind in ["ed25519", "ecdsa"] {
        let agent = SkAgent::start(d, kind, UP);
        let ca = agent.pub_file(d);
        let user = d.join(format!("user-{kind}"));
        let _ = std::fs::remove_file(&user);
        let _ = std::fs::remove_file(d.join(format!("user-{kind}.pub")));
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&user)
            .output()
            .unwrap();
        assert!(made.status.success(), "{made:?}");
        let signed = Command::new("ssh-keygen")
            .args(["-q", "-U", "-s"])
            .arg(&ca)
            .args(["-I", "sk-ca", "-n", "peer", "-V", "20200101:20400101"])
            .arg(d.join(format!("user-{kind}.pub")))
            .env("SSH_AUTH_SOCK", &agent.sock)
            .output()
            .unwrap();
        assert!(signed.status.success(), "{kind}: {signed:?}");
        let cert = d.join(format!("user-{kind}-cert.pub"));
        let list = |exe: &str, path: &Path| {
            let mut cmd = Command::new(exe);
            if exe != "ssh-keygen" {
                cmd.arg("keygen");
            }
            cmd.arg("-L").arg("-f").arg(path);
            run_with_input(&mut cmd, Some(b""), T)
        };
        let theirs = list("ssh-keygen", &cert);
        let ours = list(env!("CARGO_BIN_EXE_nacre"), &cert);
        assert!(theirs.stdout.contains("-SK "), "{kind}: {theirs}");
        assert_eq!(ours.stdout, theirs.stdout, "{kind}: {ours}");
        // A changed base64 character near the end (inside the CA's signature) is refused.
        let text = std::fs::read_to_string(&cert).unwrap();
        let mut fields: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let mut chars: Vec<char> = fields[1].chars().collect();
        let i = chars.len() - 8;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        fields[1] = chars.into_iter().collect();
        let bad = d.join(format!("bad-{kind}-cert.pub"));
        std::fs::write(&bad, fields.join(" ") + "\n").unwrap();
        let out = list(env!("CARGO_BIN_EXE_nacre"), &bad);
        assert!(!out.success(), "{kind}: {out}");
        let out = list("ssh-keygen", &bad);
        assert!(!out.success(), "{kind}: ssh-keygen {out}");
    }
}
