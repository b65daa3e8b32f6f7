//! Compression with real peers (issue 19 item 3): `zlib@openssh.com` negotiated and used, 64 MiB
//! intact each way, across re-exchanges (every NEWKEYS restarts the streams, as OpenSSH does):
//! ssh -C → nacre serve; nacre exec -C and nacre sftp -C → sshd; plink -C → nacre serve;
//! paramiko (compression on) → nacre serve; nacre sftp -C → paramiko's server. Each test checks
//! the bytes by SHA-256 and that compression was in force (the peer's or nacre's -v output).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nacre_tests::{
    ensure_test_user, run_with_input, venv_python, ChildGuard, CmdOutput, KeyType, OpenSshClient,
    OpenSshServer, TEST_PASSWORD, TEST_USER,
};

const SIZE: usize = 64 << 20;
const LONG: Duration = Duration::from_secs(600);

/// 64 MiB of text that compresses about 3:1 but never repeats a line (an LCG picks words and
/// numbers), so the streams carry real matches and literals.
fn data() -> Vec<u8> {
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut out = Vec::with_capacity(SIZE + 128);
    while out.len() < SIZE {
        for _ in 0..8 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            out.extend_from_slice(words[(x >> 60) as usize].as_bytes());
            out.extend_from_slice(format!(" {} ", (x >> 20) & 0xffff).as_bytes());
        }
        out.push(b'\n');
    }
    out.truncate(SIZE);
    out
}

fn sha256_hex(data: &[u8]) -> String {
    nacre_tests::security::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A folder everyone may read and write (sessions act as the test user), with the data file.
fn shared_dir() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let data = data();
    let file = dir.path().join("data.txt");
    std::fs::write(&file, &data).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    (dir, file, data)
}

fn nacre_serve(dir: &Path, extra: &[&str]) -> (ChildGuard, u16) {
    ensure_test_user();
    let mut args: Vec<std::ffi::OsString> = vec!["--allow-exec".into()];
    args.extend(extra.iter().map(Into::into));
    nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir,
        TEST_USER,
        TEST_PASSWORD,
        &args,
    )
}

/// `raw data N, compressed M` of an OpenSSH `-v` summary line ("compress outgoing: ..." or
/// "compress incoming: ..."): the counters of the stream since the latest NEWKEYS.
fn ratio(log: &str, which: &str) -> (u64, u64) {
    let prefix = format!("compress {which}: raw data ");
    let line = log
        .lines()
        .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest.to_owned()))
        .unwrap_or_else(|| panic!("no compress {which} line in:\n{log}"));
    let (raw, rest) = line.split_once(", compressed ").unwrap();
    let compressed = rest.split(',').next().unwrap();
    (
        raw.trim().parse().unwrap(),
        compressed.trim().parse().unwrap(),
    )
}

/// ssh's `Transferred: sent N, received M bytes` (debug1, at exit): bytes on the wire.
fn transferred(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find_map(|l| {
            l.split_once("Transferred: sent ")
                .map(|(_, r)| r.to_owned())
        })
        .unwrap_or_else(|| panic!("no Transferred line in:\n{log}"));
    let (sent, rest) = line.split_once(", received ").unwrap();
    let received = rest.split_whitespace().next().unwrap();
    (sent.trim().parse().unwrap(), received.parse().unwrap())
}

fn assert_compressed(log: &str, which: &str) {
    let (raw, compressed) = ratio(log, which);
    assert!(
        raw > 1 << 20 && compressed * 2 < raw,
        "{which}: raw {raw}, compressed {compressed}"
    );
}

/// ssh -C (zlib@openssh.com) to nacre serve, with re-exchanges every 4 MiB on the wire: 64 MiB up into
/// `sha256sum`, 64 MiB down from `cat`; ssh's own counters show both streams compressed.
#[test]
fn ssh_dash_c_to_nacre_serve() {
    let (dir, file, data) = shared_dir();
    let (_serve, port) = nacre_serve(dir.path(), &[]);
    let client = |command: &str| {
        OpenSshClient::new(port)
            .test_password()
            .option("LogLevel", "DEBUG1")
            .option("RekeyLimit", "4M")
            .arg("-C")
            .command(command)
            .build()
    };
    let up = run_with_input(&mut client("sha256sum"), Some(&data), LONG);
    assert!(up.success(), "{up}");
    assert!(up.stdout.starts_with(&sha256_hex(&data)), "{up}");
    assert!(
        up.stderr.contains("client->server cipher: ")
            && up.stderr.contains("compression: zlib@openssh.com"),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains("Enabling compression at level 6"));
    let newkeys = up.stderr.matches("SSH2_MSG_NEWKEYS received").count();
    assert!(newkeys >= 3, "{newkeys} NEWKEYS: re-exchanges");
    assert_compressed(&up.stderr, "outgoing");
    let (sent, _) = transferred(&up.stderr);
    assert!(sent < SIZE as u64 / 2, "{sent} bytes sent for 64 MiB");

    let down = run_with_input(&mut client(&format!("cat {}", file.display())), None, LONG);
    assert!(down.success(), "{}", down.stderr);
    assert_eq!(down.stdout.len(), SIZE);
    assert_eq!(sha256_hex(down.stdout.as_bytes()), sha256_hex(&data));
    let (_, received) = transferred(&down.stderr);
    assert!(
        received < SIZE as u64 / 2,
        "{received} bytes received for 64 MiB"
    );
}

fn nacre(args: &[&str], home: &Path, input: Option<&[u8]>) -> CmdOutput {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(args)
        .env("HOME", home)
        .env("NACRE_PASSWORD", TEST_PASSWORD)
        .env_remove("SSH_AUTH_SOCK");
    run_with_input(&mut cmd, input, LONG)
}

const NO_HOST_CHECK: [&str; 4] = [
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
];

/// nacre exec -C and nacre sftp -C to sshd (its default `Compression yes`, re-exchanges every
/// 4 MiB on the wire): 64 MiB each way by exec and by SFTP; nacre's -v status names the compression and
/// sshd's debug log shows it enabled.
#[test]
fn nacre_exec_and_sftp_dash_c_to_sshd() {
    ensure_test_user();
    let (dir, file, data) = shared_dir();
    let sshd = OpenSshServer::builder()
        .host_key(KeyType::Ed25519)
        .option("RekeyLimit", "4M")
        .option("LogLevel", "DEBUG1")
        .start();
    let port = sshd.port().to_string();
    let home = dir.path();
    let dest = format!("{TEST_USER}@127.0.0.1");
    let exec = |command: &str, input: Option<&[u8]>| {
        let mut args = vec!["exec", "-C", "-v", "-p", &port];
        args.extend(NO_HOST_CHECK);
        args.extend([&dest as &str, "--", command]);
        nacre(&args, home, input)
    };
    let up = exec("sha256sum", Some(&data));
    assert!(up.success(), "{up}");
    assert!(up.stdout.starts_with(&sha256_hex(&data)), "{up}");
    assert!(
        up.stderr.contains("compression zlib@openssh.com"),
        "{}",
        up.stderr
    );
    let down = exec(&format!("cat {}", file.display()), None);
    assert!(down.success(), "{}", down.stderr);
    assert_eq!(sha256_hex(down.stdout.as_bytes()), sha256_hex(&data));
    assert!(sshd.wait_for_log("Enabling compression at level 6", Duration::from_secs(5)));

    let remote = format!("{}/up.txt", home.display());
    let back = home.join("back.txt");
    let batch = format!(
        "put {} {remote}\nget {remote} {}\n",
        file.display(),
        back.display()
    );
    let mut args = vec!["sftp", "-C", "-P", &port];
    args.extend(NO_HOST_CHECK);
    args.extend(["-b", "-", &dest]);
    let out = nacre(&args, home, Some(batch.as_bytes()));
    assert!(out.success(), "{out}");
    assert_eq!(
        sha256_hex(&std::fs::read(&remote).unwrap()),
        sha256_hex(&data)
    );
    assert_eq!(
        sha256_hex(&std::fs::read(&back).unwrap()),
        sha256_hex(&data)
    );
    let log = sshd.log();
    assert!(
        log.matches("compression: zlib@openssh.com").count() >= 6,
        "three connections, both directions:\n{log}"
    );
}

fn host_fingerprint(dir: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(dir.join("state/ssh_host_ed25519_key.pub"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// plink -C to nacre serve: PuTTY's delayed zlib (`zlib@openssh.com`), 64 MiB each way; plink
/// -v reports both directions initialised.
#[test]
fn plink_dash_c_to_nacre_serve() {
    let (dir, file, data) = shared_dir();
    let (_serve, port) = nacre_serve(dir.path(), &[]);
    let fp = host_fingerprint(dir.path());
    let plink = |command: &str| {
        let mut cmd = Command::new("plink");
        cmd.args(["-batch", "-C", "-v", "-P", &port.to_string()])
            .args(["-l", TEST_USER, "-pw", TEST_PASSWORD, "-hostkey", &fp])
            .args(["127.0.0.1", command]);
        cmd
    };
    let up = run_with_input(&mut plink("sha256sum"), Some(&data), LONG);
    assert!(up.success(), "{up}");
    assert!(up.stdout.starts_with(&sha256_hex(&data)), "{up}");
    for line in [
        "Initialised delayed zlib (RFC1950) compression",
        "Initialised delayed zlib (RFC1950) decompression",
    ] {
        assert!(up.stderr.contains(line), "{}", up.stderr);
    }
    let down = run_with_input(&mut plink(&format!("cat {}", file.display())), None, LONG);
    assert!(down.success(), "{}", down.stderr);
    assert_eq!(sha256_hex(down.stdout.as_bytes()), sha256_hex(&data));
}

/// paramiko (compression on) to nacre serve: SFTP put and get of 64 MiB between re-exchanges
/// paramiko starts (after authentication and after the transfer, then a command runs);
/// paramiko reports zlib@openssh.com both ways.
#[test]
fn paramiko_with_compression_to_nacre_serve() {
    let (dir, file, data) = shared_dir();
    let (_serve, port) = nacre_serve(dir.path(), &[]);
    let back = dir.path().join("back.txt");
    let case = serde_json::json!({
        "name": "compress", "port": port, "user": TEST_USER, "password": TEST_PASSWORD,
        "compress": true, "renegotiate": true,
        "sftp": {"local": file, "remote": "/up.txt", "back": back, "remove": false},
    });
    let out = run_with_input(
        Command::new(venv_python())
            .arg(nacre_tests::repo_root().join("tests/peers/paramiko_peer.py"))
            .arg("client"),
        Some(format!("{case}\n").as_bytes()),
        LONG,
    );
    let result: serde_json::Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["negotiated"]["compression"],
        serde_json::json!(["zlib@openssh.com", "zlib@openssh.com"]),
        "{result}"
    );
    assert_eq!(
        sha256_hex(&std::fs::read(dir.path().join("up.txt")).unwrap()),
        sha256_hex(&data)
    );
    assert_eq!(
        sha256_hex(&std::fs::read(&back).unwrap()),
        sha256_hex(&data)
    );
}

/// nacre sftp -C to paramiko's server with compression: 64 MiB put and got back, paramiko
/// re-exchanging keys after every MiB (`--rekey`), so both streams restart many times.
#[test]
fn nacre_sftp_dash_c_to_paramiko_server() {
    let (dir, file, data) = shared_dir();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let key = dir.path().join("host_ed25519");
    let gen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(&key)
        .status()
        .unwrap();
    assert!(gen.success());
    let authorized = dir.path().join("authorized_keys");
    std::fs::write(&authorized, "").unwrap();
    let mut cmd = Command::new(venv_python());
    cmd.arg(nacre_tests::repo_root().join("tests/peers/paramiko_peer.py"))
        .args(["server", "--compress", "--rekey", "--host-key"])
        .arg(&key)
        .arg("--authorized-keys")
        .arg(&authorized)
        .args(["--password", TEST_PASSWORD, "--root"])
        .arg(&root)
        .stdout(Stdio::piped());
    let mut server = ChildGuard::spawn("paramiko server", &mut cmd);
    let mut line = String::new();
    std::io::BufReader::new(server.child_mut().stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().strip_prefix("PORT ").unwrap().to_owned();
    let back = dir.path().join("back.txt");
    let batch = format!(
        "put {} /up.txt\nget /up.txt {}\n",
        file.display(),
        back.display()
    );
    let mut args = vec!["sftp", "-C", "-v", "-P", &port];
    args.extend(NO_HOST_CHECK);
    let dest = format!("{TEST_USER}@127.0.0.1");
    args.extend(["-b", "-", &dest]);
    let out = nacre(&args, dir.path(), Some(batch.as_bytes()));
    assert!(out.success(), "{out}");
    assert!(
        out.stderr.contains("compression zlib@openssh.com"),
        "{}",
        out.stderr
    );
    assert_eq!(
        sha256_hex(&std::fs::read(root.join("up.txt")).unwrap()),
        sha256_hex(&data)
    );
    assert_eq!(
        sha256_hex(&std::fs::read(&back).unwrap()),
        sha256_hex(&data)
    );
}

/// `nacre serve -o Compression=no` offers only `none`: ssh -C goes on uncompressed, as with
/// sshd's `Compression no`; `delayed` is sshd's synonym of `yes`; another value is refused at
/// start, naming the option.
#[test]
fn serve_compression_option() {
    let dir = tempfile::tempdir().unwrap();
    for (value, expect) in [("no", "none"), ("delayed", "zlib@openssh.com")] {
        let (_serve, port) = nacre_serve(dir.path(), &["-o", &format!("Compression={value}")]);
        let out = OpenSshClient::new(port)
            .test_password()
            .option("LogLevel", "DEBUG1")
            .arg("-C")
            .command("echo hi")
            .run(Duration::from_secs(60));
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout, "hi\n");
        assert!(
            out.stderr.contains(&format!("compression: {expect}")),
            "{value}: {}",
            out.stderr
        );
        assert_eq!(
            out.stderr.contains("Enabling compression"),
            value != "no",
            "{}",
            out.stderr
        );
    }
    std::fs::write(dir.path().join("pw"), "x\n").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["serve", "--user", "peer", "--password-file"])
        .arg(dir.path().join("pw"))
        .arg("--state-dir")
        .arg(dir.path().join("state-bad"))
        .args(["-o", "Compression=maybe"]);
    let out = nacre_tests::run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("Compression"), "{out}");
}
