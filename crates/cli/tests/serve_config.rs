//! `nacre serve --config` with two users, each with an argon2 password hash and an SFTP root of
//! its own; OpenSSH's sftp sees only the user's root. `-o` on the command line overrides the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre_tests::{free_port, run_with_input, ChildGuard};

fn sftp_ls(port: u16, user: &str, password: &str) -> nacre_tests::CmdOutput {
    let mut cmd = std::process::Command::new("sshpass");
    cmd.args([
        "-p",
        password,
        "sftp",
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args([
        "-o",
        "BatchMode=no",
        "-o",
        "PubkeyAuthentication=no",
        "-P",
        &port.to_string(),
        "-b",
        "-",
    ])
    .arg(format!("{user}@127.0.0.1"));
    run_with_input(&mut cmd, Some(b"ls\n"), Duration::from_secs(60))
}

#[test]
fn users_with_their_own_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (ra, rb) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&ra).unwrap();
    std::fs::create_dir_all(&rb).unwrap();
    std::fs::write(ra.join("alice.txt"), b"a").unwrap();
    std::fs::write(rb.join("bob.txt"), b"b").unwrap();
    let port = free_port();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n[options]\nMaxAuthTries = \"2\"\n\
         [[users]]\nname = \"alice\"\npassword_hash = \"{}\"\nroot = \"{}\"\n\
         [[users]]\nname = \"bob\"\npassword_hash = \"{}\"\nroot = \"{}\"\n",
        nacre::hash_password("alice-pw").unwrap(),
        ra.display(),
        nacre::hash_password("bob-pw").unwrap(),
        rb.display()
    );
    let cfg = dir.path().join("nacre.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["serve", "--config"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["-o", "MaxAuthTries=4"]);
    let _server = ChildGuard::spawn("nacre serve --config", &mut cmd);
    for _ in 0..400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let a = sftp_ls(port, "alice", "alice-pw");
    assert!(
        a.stdout.contains("alice.txt") && !a.stdout.contains("bob.txt"),
        "{a}"
    );
    let b = sftp_ls(port, "bob", "bob-pw");
    assert!(
        b.stdout.contains("bob.txt") && !b.stdout.contains("alice.txt"),
        "{b}"
    );
    let wrong = sftp_ls(port, "alice", "bob-pw");
    assert!(!wrong.success(), "{wrong}");
}
