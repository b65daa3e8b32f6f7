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

fn run_both(
    nacre_args: &[&str],
    dir: &std::path::Path,
) -> (std::process::Output, std::process::Output) {
    let ours = Command::new(env!("CARGO_BIN_EXE_nacre"))
        .arg("keygen")
        .args(nacre_args)
        .current_dir(dir)
        .output()
        .unwrap();
    let theirs = Command::new("ssh-keygen")
        .args(nacre_args)
        .current_dir(dir)
        .output()
        .unwrap();
    (ours, theirs)
}

/// `-l`, `-lv` (randomart), `-E md5` on key files, an authorized_keys file (options, comments,
/// blank and `#` lines) and known_hosts files (plain, hashed, ports, markers): the same bytes as
/// ssh-keygen's.
#[test]
fn fingerprints_and_randomart_as_ssh_keygen_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut pubs = Vec::new();
    for (name, t, b) in [
        ("k_ed", "ed25519", "256"),
        ("k_rsa", "rsa", "2048"),
        ("k_ec256", "ecdsa", "256"),
        ("k_ec384", "ecdsa", "384"),
        ("k_ec521", "ecdsa", "521"),
    ] {
        let f = d.join(name);
        ssh_keygen(&[
            "-q",
            "-t",
            t,
            "-b",
            b,
            "-N",
            "",
            "-C",
            name,
            "-f",
            f.to_str().unwrap(),
        ]);
        let line = std::fs::read_to_string(d.join(format!("{name}.pub"))).unwrap();
        pubs.push(
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    std::fs::write(
        d.join("authorized_keys"),
        format!(
            "# keys\n\ncommand=\"echo a b\",no-pty {} c1\n{} two words\nrestrict {}\n{} c3\n",
            pubs[0], pubs[1], pubs[2], pubs[3]
        ),
    )
    .unwrap();
    let kh = format!(
        "host1,10.0.0.1 {}\n[host2]:2222 {} trailing comment\n@revoked host3 {}\nhost4 {}\n",
        pubs[0], pubs[2], pubs[1], pubs[4]
    );
    std::fs::write(d.join("known_hosts"), &kh).unwrap();
    std::fs::write(d.join("hashed"), &kh).unwrap();
    ssh_keygen(&["-H", "-f", d.join("hashed").to_str().unwrap()]);
    for file in [
        "k_ed",
        "k_rsa.pub",
        "k_ec384",
        "k_ec521.pub",
        "authorized_keys",
        "known_hosts",
        "hashed",
    ] {
        for flags in [
            &["-l"][..],
            &["-lv"],
            &["-l", "-E", "md5"],
            &["-lv", "-E", "md5"],
        ] {
            let args: Vec<&str> = flags.iter().copied().chain(["-f", file]).collect();
            let (ours, theirs) = run_both(&args, d);
            assert!(theirs.status.success(), "{args:?}");
            assert_eq!(
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&theirs.stdout),
                "{args:?}: {}",
                String::from_utf8_lossy(&ours.stderr)
            );
        }
    }
}

/// `-F host` (plain and hashed, `[host]:port`, a revoked line, with `-l`) and `-R host` print
/// what ssh-keygen prints and leave the same file (and FILE.old); a missing host: `-F` exits 1,
/// `-R` says so on stderr.
#[test]
fn known_hosts_find_and_remove_as_ssh_keygen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = d.join("k");
    ssh_keygen(&["-q", "-t", "ed25519", "-N", "", "-f", f.to_str().unwrap()]);
    let key = std::fs::read_to_string(d.join("k.pub")).unwrap();
    let key = key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let kh = format!("h1,10.0.0.1 {key}\n[h2]:2222 {key} c\n@revoked h3 {key}\nh1 {key}\n");
    for hashed in [false, true] {
        // The same hashed file on both sides (hashing salts each line anew).
        std::fs::write(d.join("ours"), &kh).unwrap();
        if hashed {
            ssh_keygen(&["-H", "-f", d.join("ours").to_str().unwrap()]);
            std::fs::remove_file(d.join("ours.old")).unwrap();
        }
        std::fs::copy(d.join("ours"), d.join("theirs")).unwrap();
        for flags in [
            &["-F", "h1"][..],
            &["-F", "[h2]:2222"],
            &["-F", "h3"],
            &["-l", "-F", "h1"],
            &["-F", "nohost"],
        ] {
            let out = |file: &str| {
                let args: Vec<&str> = flags.iter().copied().chain(["-f", file]).collect();
                let (ours, theirs) = run_both(&args, d);
                assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
                (
                    String::from_utf8(ours.stdout).unwrap(),
                    String::from_utf8(theirs.stdout).unwrap(),
                )
            };
            let (ours, theirs) = out("ours");
            assert_eq!(ours, theirs, "{flags:?} hashed={hashed}");
        }
        let ours = nacre(&["keygen", "-R", "h1", "-f", d.join("ours").to_str().unwrap()]);
        let theirs = ssh_keygen(&["-R", "h1", "-f", d.join("theirs").to_str().unwrap()]);
        assert_eq!(ours.replace("ours", "theirs"), theirs, "hashed={hashed}");
        assert_eq!(
            std::fs::read_to_string(d.join("ours")).unwrap(),
            std::fs::read_to_string(d.join("theirs")).unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(d.join("ours.old")).unwrap(),
            std::fs::read_to_string(d.join("theirs.old")).unwrap()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_nacre"))
            .args([
                "keygen",
                "-R",
                "nohost",
                "-f",
                d.join("ours").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("Host nohost not found in"));
    }
}

/// `-p` changes the passphrase (ssh-keygen then needs the new one); `-y` asks for the
/// passphrase of an encrypted key (here on standard input, as ssh-keygen reads it without a
/// terminal); a wrong one fails with 255 and ssh-keygen's words.
#[test]
fn change_passphrase_and_public_key_of_an_encrypted_key() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("k");
    let fs = f.to_str().unwrap();
    nacre(&[
        "keygen", "-q", "-t", "ecdsa", "-N", "old", "-C", "cmt", "-f", fs,
    ]);
    let out = nacre(&["keygen", "-p", "-P", "old", "-N", "new", "-f", fs]);
    assert_eq!(
        out,
        "Key has comment 'cmt'\nYour identification has been saved with the new passphrase.\n"
    );
    let theirs = ssh_keygen(&["-y", "-P", "new", "-f", fs]);
    assert_eq!(
        theirs.trim(),
        std::fs::read_to_string(format!("{fs}.pub")).unwrap().trim()
    );
    let y = |input: &str| {
        nacre_tests::run_with_input(
            Command::new(env!("CARGO_BIN_EXE_nacre")).args(["keygen", "-y", "-f", fs]),
            Some(input.as_bytes()),
            std::time::Duration::from_secs(30),
        )
    };
    let out = y("new\n");
    assert_eq!(out.stdout.trim(), theirs.trim(), "{out}");
    assert!(out.stderr.contains("Enter passphrase: "), "{out}");
    let out = y("wrong\n");
    assert_eq!(out.status.code(), Some(255), "{out}");
    assert!(
        out.stderr
            .contains("incorrect passphrase supplied to decrypt private key"),
        "{out}"
    );
}

/// On a terminal (tests/peers/pty_keygen.py): the file question with its default, ~/.ssh
/// created, the passphrase twice (a mismatch asked again), the saved lines, the fingerprint
/// and a randomart identical to `ssh-keygen -lv`'s for the written key; the second run asks
/// before overwriting and `n` exits 1. The key opens in ssh-keygen with the typed passphrase.
#[test]
fn generation_asks_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let out = nacre_tests::run_with_timeout(
        Command::new("python3")
            .arg(nacre_tests::repo_root().join("tests/peers/pty_keygen.py"))
            .arg(env!("CARGO_BIN_EXE_nacre"))
            .arg(home),
        std::time::Duration::from_secs(120),
    );
    assert!(out.stdout.ends_with("exit 0\nexit 1\n"), "{out}");
    let key = home.join(".ssh/id_ed25519");
    let ks = key.to_str().unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.join(".ssh")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o700);
    let public = ssh_keygen(&["-y", "-P", "pw-typed", "-f", ks]);
    assert_eq!(
        public.trim(),
        std::fs::read_to_string(format!("{ks}.pub")).unwrap().trim()
    );
    let lv = ssh_keygen(&["-lv", "-f", &format!("{ks}.pub")]);
    let (fp_line, art) = lv.split_once('\n').unwrap();
    let fp = fp_line.split_whitespace().nth(1).unwrap();
    let shown = out.stdout.split("--- first\n").nth(1).unwrap();
    let want = format!(
        "Your identification has been saved in {ks}\nYour public key has been saved in {ks}.pub\nThe key fingerprint is:\n{fp} pty@test\nThe key's randomart image is:\n{art}"
    );
    assert!(shown.contains(&want), "{out}\nwanted:\n{want}");
}
