//! `nacre keygen` files are interchangeable with OpenSSH's `ssh-keygen`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

fn nacre(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "nacre {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn ssh_keygen(args: &[&str]) -> String {
    let out = Command::new("ssh-keygen").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn generated_keys_load_in_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    for (t, b, pass) in [
        ("ed25519", None, ""),
        ("ecdsa", Some("384"), "secret"),
        ("rsa", Some("2048"), ""),
    ] {
        let f = dir.path().join(format!("id_{t}"));
        let fs = f.to_str().unwrap();
        let mut args = vec![
            "keygen",
            "-q",
            "-t",
            t,
            "-N",
            pass,
            "-C",
            "test@nacre",
            "-f",
            fs,
        ];
        if let Some(b) = b {
            args.extend(["-b", b]);
        }
        nacre(&args);
        let ours = std::fs::read_to_string(format!("{fs}.pub")).unwrap();
        let theirs = ssh_keygen(&["-y", "-P", pass, "-f", fs]);
        assert_eq!(
            ours.split_whitespace().take(2).collect::<Vec<_>>(),
            theirs.split_whitespace().take(2).collect::<Vec<_>>(),
            "{t}"
        );
        assert_eq!(
            nacre(&["keygen", "-l", "-f", fs]),
            ssh_keygen(&["-l", "-f", &format!("{fs}.pub")]),
            "{t}"
        );
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&f).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn ssh_keygen_keys_read_by_nacre() {
    let dir = tempfile::tempdir().unwrap();
    for t in ["ed25519", "ecdsa", "rsa"] {
        let f = dir.path().join(format!("k_{t}"));
        let fs = f.to_str().unwrap();
        ssh_keygen(&["-q", "-t", t, "-N", "pw", "-C", "c", "-f", fs]);
        assert_eq!(
            nacre(&["keygen", "-y", "-P", "pw", "-f", fs]).trim(),
            std::fs::read_to_string(format!("{fs}.pub")).unwrap().trim()
        );
        assert_eq!(
            nacre(&["keygen", "-l", "-E", "md5", "-f", fs]),
            ssh_keygen(&["-l", "-E", "md5", "-f", &format!("{fs}.pub")])
        );
    }
}
