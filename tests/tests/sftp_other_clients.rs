//! Other SFTP clients against nacre's server (the `sftp` subsystem over SSH): PuTTY's psftp, curl
//! (libssh2), paramiko and AsyncSSH each put, list, get and remove a 10 MB file with matching
//! checksums.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::{hash_password, SessionConfig, User, UsersPolicy};
use nacre_tests::{
    ensure_test_user, run_with_timeout, venv_python, NacreServer, TEST_PASSWORD, TEST_USER,
};
use sha2::{Digest, Sha256};

const T: Duration = Duration::from_secs(120);
const SIZE: usize = 10_000_000;

struct Setup {
    server: NacreServer,
    _tmp: tempfile::TempDir,
    root: PathBuf,
    local: PathBuf,
    sha: String,
}

fn sha256(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn start() -> Setup {
    start_with(Config::server(nacre_testkit::all_host_keys()))
}

/// For libssh2 before 1.11 (no AEAD cipher, no ETM MAC): the default server plus `hmac-sha2-256`
/// and `hmac-sha2-512`, as `nacre serve -o MACs=+hmac-sha2-256,hmac-sha2-512`.
fn start_for_libssh2() -> Setup {
    let mut config = Config::server(nacre_testkit::all_host_keys());
    config.algorithms.mac.extend([
        nacre::crypto::MacAlg::HmacSha256,
        nacre::crypto::MacAlg::HmacSha512,
    ]);
    start_with(config)
}

fn start_with(config: Config) -> Setup {
    ensure_test_user();
    let tmp = tempfile::tempdir().unwrap();
    let (root, local) = (tmp.path().join("root"), tmp.path().join("local"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&local).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let content: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    std::fs::write(local.join("ten.bin"), &content).unwrap();
    let sha = sha256(&local.join("ten.bin"));
    let mut policy = UsersPolicy::new();
    policy.insert(
        TEST_USER,
        User {
            password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
            ..User::default()
        },
    );
    // A temporary folder of root's, served with the server's own rights (asked for by name;
    // the privilege model has its own tests, crates/cli/tests/serve_privileges.rs).
    let mut sessions = SessionConfig {
        act_as: nacre::ActAs::ServerProcess,
        ..SessionConfig::default()
    };
    sessions.subsystems.insert(
        "sftp".into(),
        nacre::sftp_subsystem(root.clone(), nacre_sftp::ServerConfig::default()),
    );
    let server = NacreServer::start_with_sessions(
        config,
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
        sessions,
    );
    Setup {
        server,
        _tmp: tmp,
        root,
        local,
        sha,
    }
}

/// The uploaded copy, the downloaded copy and the removal, checked.
fn check(s: &Setup, remote_name: &str, back: &Path, out: &str) {
    assert!(
        !s.root.join(remote_name).exists(),
        "{remote_name} was not removed\n{out}"
    );
    assert_eq!(sha256(back), s.sha, "downloaded copy\n{out}");
}

#[test]
fn psftp() {
    let s = start();
    let batch = s.local.join("batch");
    let back = s.local.join("back-psftp.bin");
    std::fs::write(
        &batch,
        format!(
            "put {} up.bin\nls\nget up.bin {}\nrm up.bin\n",
            s.local.join("ten.bin").display(),
            back.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("psftp");
    cmd.args(["-batch", "-be", "-b"]).arg(&batch);
    cmd.args(["-P", &s.server.port().to_string(), "-l", TEST_USER])
        .args(["-pw", TEST_PASSWORD]);
    for k in s.server.keys() {
        cmd.args(["-hostkey", &k.public_key().fingerprint_sha256()]);
    }
    cmd.arg("127.0.0.1");
    let out = run_with_timeout(&mut cmd, T);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("up.bin"), "ls: {out}");
    check(&s, "up.bin", &back, &out.to_string());
}

#[test]
fn curl_libssh2() {
    let s = start_for_libssh2();
    let url = |path: &str| {
        format!(
            "sftp://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{}/{path}",
            s.server.port()
        )
    };
    let run = |args: &[&str]| {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-k"]).args(args);
        let out = run_with_timeout(&mut cmd, T);
        assert!(out.success(), "{out}");
        out
    };
    let local = s.local.join("ten.bin").display().to_string();
    run(&["-T", &local, &url("up.bin")]);
    assert_eq!(sha256(&s.root.join("up.bin")), s.sha);
    let list = run(&[&url("")]);
    assert!(list.stdout.contains("up.bin"), "{list}");
    let back = s.local.join("back-curl.bin");
    run(&["-o", &back.display().to_string(), &url("up.bin")]);
    run(&["-Q", "rm /up.bin", &url("")]);
    check(&s, "up.bin", &back, "curl");
}

const PARAMIKO: &str = r#"
import sys, paramiko
port, local, back = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", port=port, username="peer", password="peerpass",
          look_for_keys=False, allow_agent=False)
s = c.open_sftp()
s.put(local, "/up.bin")
assert "up.bin" in s.listdir("/"), s.listdir("/")
assert s.stat("/up.bin").st_size == 10_000_000
s.get("/up.bin", back)
s.remove("/up.bin")
s.close(); c.close()
print("ok")
"#;

const ASYNCSSH: &str = r#"
import sys, asyncio, asyncssh
port, local, back = int(sys.argv[1]), sys.argv[2], sys.argv[3]
async def main():
    async with asyncssh.connect("127.0.0.1", port=port, username="peer", password="peerpass",
                                known_hosts=None, client_keys=None) as conn:
        async with conn.start_sftp_client() as s:
            await s.put(local, "/up.bin")
            names = await s.listdir("/")
            assert "up.bin" in names, names
            assert (await s.stat("/up.bin")).size == 10_000_000
            await s.get("/up.bin", back)
            await s.remove("/up.bin")
    print("ok")
asyncio.run(main())
"#;

fn python(s: &Setup, script: &str, back: &Path) {
    let mut cmd = Command::new(venv_python());
    cmd.args(["-c", script, &s.server.port().to_string()])
        .arg(s.local.join("ten.bin"))
        .arg(back);
    let out = run_with_timeout(&mut cmd, T);
    assert!(out.success() && out.stdout.contains("ok"), "{out}");
    check(s, "up.bin", back, &out.to_string());
}

#[test]
fn paramiko() {
    let s = start();
    let back = s.local.join("back-paramiko.bin");
    python(&s, PARAMIKO, &back);
}

#[test]
fn asyncssh() {
    let s = start();
    let back = s.local.join("back-asyncssh.bin");
    python(&s, ASYNCSSH, &back);
}
