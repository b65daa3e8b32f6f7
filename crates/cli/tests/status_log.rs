//! Observability of the client subcommands against OpenSSH's sshd: `-v` prints the FileZilla-style
//! status log (`Status:` / `Command:` / `Response:` / `Error:` lines, in order, never a password),
//! `-vv` adds one line per SSH packet, and without `-v` stderr stays quiet; `probe -o` narrows
//! what the probe offers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::time::Duration;

use nacre_tests::{
    ensure_test_user, run_with_input, test_user_home, CmdOutput, KeyType, OpenSshServer,
    TEST_PASSWORD,
};

fn nacre(args: &[&str], home: &Path, input: &[u8]) -> CmdOutput {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(args)
        .env("NACRE_PASSWORD", TEST_PASSWORD)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NACRE_LOG")
        .env("HOME", home);
    run_with_input(&mut cmd, Some(input), Duration::from_secs(120))
}

/// Asserts that `lines` appear in `text` in this order (each a prefix of some later line).
fn in_order(text: &str, lines: &[&str]) {
    let mut rest = text.lines();
    for want in lines {
        assert!(
            rest.any(|l| l.starts_with(want)),
            "{want:?} missing (or out of order) in\n{text}"
        );
    }
}

fn sftp_batch(verbosity: &[&str], sshd: &OpenSshServer, home: &Path, batch: &str) -> CmdOutput {
    let port = sshd.port().to_string();
    let mut args = verbosity.to_vec();
    args.extend([
        "sftp",
        "-P",
        &port,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "PreferredAuthentications=password",
        "-b",
        "-",
        "peer@127.0.0.1",
    ]);
    nacre(&args, home, batch.as_bytes())
}

#[test]
fn dash_v_prints_a_filezilla_style_status_log() {
    let user = ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    // A file of 10,000 bytes in the user's home, fetched by the batch.
    let remote_dir = test_user_home().join(format!("status-log-{}", sshd.port()));
    std::fs::create_dir_all(&remote_dir).unwrap();
    std::os::unix::fs::chown(&remote_dir, Some(user.uid), Some(user.gid)).unwrap();
    std::fs::write(remote_dir.join("data.bin"), vec![7u8; 10_000]).unwrap();
    let name = remote_dir.file_name().unwrap().to_str().unwrap().to_owned();
    let local = dir.path().join("data.bin");
    let batch = format!(
        "pwd\nls\ncd {name}\nget data.bin {}\nmkdir sub\nrmdir sub\n-rm no-such-file\n",
        local.display()
    );
    let out = sftp_batch(&["-v"], &sshd, dir.path(), &batch);
    assert!(out.success(), "{out}");
    let port = sshd.port();
    in_order(
        &out.stderr,
        &[
            &format!("Status: Connecting to 127.0.0.1:{port}..."),
            &format!("Status: Connected to 127.0.0.1:{port}, server SSH-2.0-OpenSSH"),
            "Status: Key exchange ",
            "Status: Using username \"peer\".",
            "Command: Pass: ********",
            "Status: Authenticated with password",
            &format!("Status: Connected to 127.0.0.1:{port}"),
            "Command: pwd",
            "Response: Current directory is: \"",
            "Command: ls",
            "Status: Listing directory ",
            "Status: Directory listing of \"",
            &format!("Command: cd {name}"),
            "Response: New directory is: \"",
            "Command: get data.bin",
            &format!("Status: Starting download of {}", remote_dir.display()),
            "Status: File transfer successful, transferred 10,000 bytes in 1 second",
            "Command: mkdir sub",
            "Response: mkdir sub: OK",
            "Command: rmdir sub",
            "Response: rmdir sub: OK",
            "Command: rm no-such-file",
            "Error: ",
        ],
    );
    assert!(out.stderr.contains("host key ssh-ed25519 SHA256:"), "{out}");
    assert!(
        !out.stderr.contains(TEST_PASSWORD),
        "the password leaked:\n{out}"
    );
    // Packet lines only from -vv.
    assert!(!out.stderr.contains("seq 0"), "{out}");
    assert_eq!(std::fs::read(&local).unwrap(), vec![7u8; 10_000]);

    // Without -v: no status log.
    let out = sftp_batch(&[], &sshd, dir.path(), "pwd\n");
    assert!(out.success(), "{out}");
    assert!(!out.stderr.contains("Status:"), "{out}");
    assert!(!out.stderr.contains("Command:"), "{out}");

    // -vv: the status log and a line per packet each way, with message names.
    let out = sftp_batch(&["-vv"], &sshd, dir.path(), "pwd\n");
    assert!(out.success(), "{out}");
    assert!(out.stderr.contains("Command: pwd"), "{out}");
    for needle in ["-> seq 0 ", "<- seq 0 ", "KEXINIT", "CHANNEL_DATA"] {
        assert!(out.stderr.contains(needle), "{needle:?} missing in\n{out}");
    }
    std::fs::remove_dir_all(&remote_dir).unwrap();
}

#[test]
fn dash_v_on_exec_and_probe() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519, KeyType::EcdsaP256], &[]);
    let dir = tempfile::tempdir().unwrap();
    let port = sshd.port().to_string();
    let out = nacre(
        &[
            "-v",
            "exec",
            "-p",
            &port,
            "-o",
            "StrictHostKeyChecking=no",
            "peer@127.0.0.1",
            "--",
            "exit 3",
        ],
        dir.path(),
        b"",
    );
    assert_eq!(out.status.code(), Some(3), "{out}");
    in_order(
        &out.stderr,
        &[
            "Status: Connecting to ",
            "Status: Authenticated with ",
            "Command: exec \"exit 3\"",
            "Response: exit status 3",
        ],
    );

    // probe -o: only the host key algorithm asked for is probed; -v tells each step.
    let out = nacre(
        &[
            "-v",
            "probe",
            "--json",
            "-o",
            &format!("Port={port}"),
            "-o",
            "HostKeyAlgorithms=ecdsa-sha2-nistp256",
            "-o",
            "KexAlgorithms=curve25519-sha256",
            "127.0.0.1",
        ],
        dir.path(),
        b"",
    );
    assert!(out.success(), "{out}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let keys = report["host_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{report}");
    assert_eq!(keys[0]["algorithm"], "ecdsa-sha2-nistp256");
    // The server's own lists are reported whole, whatever the probe offered.
    assert!(report["host_key_algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "ssh-ed25519"));
    in_order(
        &out.stderr,
        &[
            "Status: Connecting to 127.0.0.1:",
            "Status: Server SSH-2.0-OpenSSH",
            "Command: Key exchange with host key algorithm ecdsa-sha2-nistp256",
            "Response: ecdsa-sha2-nistp256: SHA256:",
        ],
    );
    // An unknown option is an error, not silently ignored.
    let out = nacre(
        &["probe", "-o", "NoSuchOption=1", "127.0.0.1"],
        dir.path(),
        b"",
    );
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("NoSuchOption"), "{out}");
}
