//! FileZilla's SFTP engine (`fzsftp`, driven by tests/peers/fzsftp_driver.py) against the real `nacre serve`
//! binary configured with nothing but a password: the sequence of our seed's FileZilla log (open, trust the
//! host key, password, pwd, ls, mtime, cd, get), each answer checked against the served folder.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nacre_tests::{repo_root, run_with_timeout, security::sha256, venv_python, ChildGuard};

const USER: &str = "fzuser";
const PASSWORD: &str = "fz-seed-pass";
const SUBDIR: &str = "docs";
const FILE: &str = "notes.txt";
const CONTENT: &[u8] = b"FileZilla's seed log, replayed against nacre serve.\n";
/// 2021-03-04 05:06:07 UTC.
const MTIME: u64 = 1_614_834_367;

/// A running `nacre serve`, its address and the host key fingerprints it printed.
struct Serve {
    _guard: ChildGuard,
    port: u16,
    fingerprints: Vec<String>,
}

/// Starts `nacre serve` on a port the kernel picks, serving `root` to [`USER`] with [`PASSWORD`] only; reads
/// the `host key TYPE SHA256:...` and `listening on ADDR` lines it prints.
fn serve(dir: &Path, root: &Path) -> Serve {
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--user", USER])
        .arg("--password-file")
        .arg(dir.join("pw"))
        .arg("--root")
        .arg(root)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stdout(Stdio::piped())
        .current_dir(dir);
    let mut guard = ChildGuard::spawn("nacre serve", &mut cmd);
    let stdout = guard.child_mut().stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Reads every line until serve exits, so it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut fingerprints = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("nacre serve printed `listening on ADDR` within 30 s");
        if let Some(key) = line.strip_prefix("host key ") {
            fingerprints.push(key.split_whitespace().nth(1).unwrap().to_owned());
        } else if let Some(addr) = line.strip_prefix("listening on ") {
            let addr: std::net::SocketAddr = addr.trim().parse().unwrap();
            assert!(addr.ip().is_loopback(), "{addr}");
            assert!(
                !fingerprints.is_empty(),
                "no host key printed before {line}"
            );
            return Serve {
                _guard: guard,
                port: addr.port(),
                fingerprints,
            };
        }
    }
}

/// Runs the driver; returns its JSON report (which says whether every command succeeded).
fn fzsftp(port: u16, fingerprints: &[String], commands: serde_json::Value) -> serde_json::Value {
    let spec = serde_json::json!({
        "port": port,
        "user": USER,
        "password": PASSWORD,
        "host_key_fingerprints": fingerprints,
        "commands": commands,
    });
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo_root().join("tests/peers/fzsftp_driver.py"))
        .arg(spec.to_string());
    let out = run_with_timeout(&mut cmd, Duration::from_secs(60));
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("driver output is not JSON ({e}):\n{out}"))
}

/// The root: [`SUBDIR`] and [`FILE`] (with [`CONTENT`], modified at [`MTIME`]).
fn make_root(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join(SUBDIR)).unwrap();
    std::fs::write(root.join(FILE), CONTENT).unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(root.join(FILE))
        .unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(MTIME))
        .unwrap();
    root
}

fn reply(report: &serde_json::Value, index: usize, command: &[&str]) -> Vec<String> {
    let entry = &report["replies"][index];
    assert_eq!(entry[0], serde_json::json!(command), "{report:#}");
    entry[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fzsftp_performs_the_seed_log_sequence_against_nacre_serve() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_root(dir.path());
    let server = serve(dir.path(), &root);
    let local = dir.path().join("downloaded.txt");
    // FileZilla's get takes a path relative to the working directory, which `cd` moved: hence `/FILE`.
    let report = fzsftp(
        server.port,
        &server.fingerprints,
        serde_json::json!([
            ["pwd"],
            ["ls"],
            ["mtime", FILE],
            ["cd", SUBDIR],
            ["get", format!("/{FILE}"), local.display().to_string()],
        ]),
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["hostkey_trusted"], true, "{report:#}");
    let hostkey = report["hostkey"].as_str().unwrap();
    assert!(
        server.fingerprints.iter().any(|fp| hostkey.ends_with(fp)),
        "{hostkey} is none of {:?}",
        server.fingerprints
    );
    assert_eq!(
        reply(&report, 0, &["pwd"]),
        [r#"Current directory is: "/""#]
    );
    let mut listed: Vec<&str> = report["listings"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, [SUBDIR, FILE], "{report:#}");
    let real = std::fs::metadata(root.join(FILE))
        .unwrap()
        .modified()
        .unwrap();
    let real = real
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(real, MTIME);
    assert_eq!(reply(&report, 2, &["mtime", FILE]), [real.to_string()]);
    assert_eq!(
        reply(&report, 3, &["cd", SUBDIR]),
        [format!(r#"New directory is: "/{SUBDIR}""#)]
    );
    reply(
        &report,
        4,
        &["get", &format!("/{FILE}"), local.to_str().unwrap()],
    );
    assert_eq!(sha256(&std::fs::read(&local).unwrap()), sha256(CONTENT));
}

#[test]
fn fzsftp_refuses_a_host_key_nacre_serve_did_not_print() {
    let dir = tempfile::tempdir().unwrap();
    let root = make_root(dir.path());
    let server = serve(dir.path(), &root);
    let other = ["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()];
    let report = fzsftp(server.port, &other, serde_json::json!([["pwd"]]));
    assert_eq!(report["ok"], false, "{report:#}");
    assert_eq!(report["hostkey_trusted"], false, "{report:#}");
    assert_eq!(report["replies"], serde_json::json!([]), "{report:#}");
}
