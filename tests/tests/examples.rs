//! The examples of `crates/nacre/examples/` run as a user would run them: `exec`,
//! `sftp_client`, `port_forward` and `misbehave` against OpenSSH's sshd (with a HOME holding a
//! key and a known_hosts line, as a user's), `sftp_server` with OpenSSH's sftp as its client,
//! `memfs_server` with nacre's client (issue 15).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nacre_tests::{
    authorized_client_key, run_with_timeout, ChildGuard, KeyType, OpenSshServer, TEST_USER,
};

const T: Duration = Duration::from_secs(60);

/// The examples' folder (`target/<profile>/examples`), built once per test process.
fn examples() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "nacre", "--examples"])
            .current_dir(root)
            .status()
            .expect("run cargo build --examples");
        assert!(status.success(), "cargo build -p nacre --examples failed");
        // This test runs from target/<profile>/deps/.
        let exe = std::env::current_exe().unwrap();
        exe.parent().unwrap().parent().unwrap().join("examples")
    })
}

/// A HOME as a user of sshd at `port` has it: `~/.ssh/id_ed25519` authorized for the test
/// user, and the server's host key in `~/.ssh/known_hosts`.
fn user_home(sshd: &OpenSshServer) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let ssh = home.path().join(".ssh");
    std::fs::create_dir(&ssh).unwrap();
    let key = authorized_client_key(KeyType::Ed25519);
    std::fs::copy(&key.private, ssh.join("id_ed25519")).unwrap();
    let host_line = sshd.host_key_pub(KeyType::Ed25519);
    std::fs::write(
        ssh.join("known_hosts"),
        format!("[127.0.0.1]:{} {host_line}\n", sshd.port()),
    )
    .unwrap();
    home
}

/// The example `name` with `args`, HOME set and no agent.
fn example(name: &str, home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(examples().join(name));
    cmd.args(args)
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("NACRE_PASSWORD");
    cmd
}

#[test]
fn exec_streams_output_and_exits_with_the_commands_status_against_sshd() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let home = user_home(&sshd);
    let target = format!("{TEST_USER}@127.0.0.1:{}", sshd.port());
    let out = run_with_timeout(
        &mut example(
            "exec",
            home.path(),
            &[&target, "echo out; echo err >&2; exit 3"],
        ),
        T,
    );
    assert_eq!(out.stdout, "out\n", "{out:?}");
    // (The test sshd logs at DEBUG3, and its session copies a line of that to stderr first.)
    assert!(out.stderr.ends_with("err\n"), "{out:?}");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // An unknown host key: refused, exit 255, nothing run.
    std::fs::write(home.path().join(".ssh/known_hosts"), "").unwrap();
    let out = run_with_timeout(&mut example("exec", home.path(), &[&target, "echo ran"]), T);
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    assert!(!out.stdout.contains("ran"), "{out:?}");
}

#[test]
fn sftp_client_puts_lists_and_gets_against_sshd() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let home = user_home(&sshd);
    let target = format!("{TEST_USER}@127.0.0.1:{}", sshd.port());
    let local = home.path().join("data.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    let remote = format!("/tmp/nacre-example-{}.bin", std::process::id());
    let local_s = local.to_str().unwrap();
    let put = run_with_timeout(
        &mut example(
            "sftp_client",
            home.path(),
            &[&target, "put", local_s, &remote],
        ),
        T,
    );
    assert!(put.status.success(), "{put:?}");
    assert!(put.stdout.contains("3000000 bytes"), "{put:?}");
    let ls = run_with_timeout(
        &mut example("sftp_client", home.path(), &[&target, "ls", "/tmp"]),
        T,
    );
    assert!(ls.status.success(), "{ls:?}");
    assert!(
        ls.stdout.contains(remote.trim_start_matches("/tmp/")),
        "{ls:?}"
    );
    let back = home.path().join("back.bin");
    let get = run_with_timeout(
        &mut example(
            "sftp_client",
            home.path(),
            &[&target, "get", &remote, back.to_str().unwrap()],
        ),
        T,
    );
    let _ = std::fs::remove_file(&remote);
    assert!(get.status.success(), "{get:?}");
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

/// Starts a long-running example and waits for its `listening on ADDRESS` line.
fn start_listening(name: &str, cmd: &mut Command) -> (ChildGuard, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = ChildGuard::spawn(name, cmd);
    let stdout = child.child_mut().stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{name} said {line:?}"))
        .to_owned();
    (child, addr)
}

#[test]
fn port_forward_carries_a_connection_through_sshd() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let home = user_home(&sshd);
    let target = format!("{TEST_USER}@127.0.0.1:{}", sshd.port());
    // Forward a local port to sshd's own port, as the server sees it: its banner comes back.
    let spec = format!("0:127.0.0.1:{}", sshd.port());
    let (_forward, addr) = start_listening(
        "port_forward",
        &mut example("port_forward", home.path(), &[&target, &spec]),
    );
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let mut banner = [0u8; 16];
    stream.read_exact(&mut banner).unwrap();
    assert!(banner.starts_with(b"SSH-2.0-OpenSSH_"), "{banner:?}");
}

#[test]
fn misbehave_finds_sshd_and_nacre_serve_refusing_a_channel_before_authentication() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let home = tempfile::tempdir().unwrap();
    let out = run_with_timeout(
        &mut example(
            "misbehave",
            home.path(),
            &[&format!("127.0.0.1:{}", sshd.port())],
        ),
        T,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("PASS"), "{out:?}");
    // nacre's own server (the memfs example) too.
    let (_server, addr) = start_listening(
        "memfs_server",
        &mut example("memfs_server", home.path(), &["127.0.0.1:0"]),
    );
    let out = run_with_timeout(&mut example("misbehave", home.path(), &[&addr]), T);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.contains("PASS"), "{out:?}");
}

#[test]
fn sftp_server_serves_openssh_sftp_with_its_own_key_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from nacre\n").unwrap();
    let key = authorized_client_key(KeyType::Ed25519);
    let (_server, addr) = start_listening(
        "sftp_server",
        &mut example(
            "sftp_server",
            dir.path(),
            &[
                root.to_str().unwrap(),
                "127.0.0.1:0",
                "--key",
                key.public.to_str().unwrap(),
            ],
        ),
    );
    let port = addr.rsplit_once(':').unwrap().1;
    let batch = dir.path().join("batch");
    let got = dir.path().join("got.txt");
    std::fs::write(
        &batch,
        format!(
            "get /hello.txt {}\nput {} /copy.txt\n",
            got.display(),
            batch.display()
        ),
    )
    .unwrap();
    let out = run_with_timeout(
        Command::new("sftp")
            .args(["-b", batch.to_str().unwrap(), "-P", port, "-i"])
            .arg(&key.private)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "bob@127.0.0.1",
            ]),
        T,
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "hello from nacre\n");
    assert_eq!(
        std::fs::read(root.join("copy.txt")).unwrap(),
        std::fs::read(&batch).unwrap()
    );
    // alice's password is not bob's key: with BatchMode (no password prompt) she is refused.
    let out = run_with_timeout(
        Command::new("sftp")
            .args(["-b", batch.to_str().unwrap(), "-P", port, "-i"])
            .arg(&key.private)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "alice@127.0.0.1",
            ]),
        T,
    );
    assert!(!out.status.success(), "{out:?}");
}

#[tokio::test]
async fn memfs_server_keeps_files_in_memory() {
    let home = tempfile::tempdir().unwrap();
    let (_server, addr) = start_listening(
        "memfs_server",
        &mut example("memfs_server", home.path(), &["127.0.0.1:0"]),
    );
    let conn = nacre::Client::builder()
        .user("me")
        .password("memory")
        .default_identities(false)
        .verify_host_key(|_| true)
        .connect(&addr)
        .await
        .unwrap();
    let sftp = conn.sftp().await.unwrap();
    let local = home.path().join("up.bin");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    sftp.upload(&local, "/up.bin").await.unwrap();
    sftp.mkdir("/folder", &nacre::sftp::Attributes::EMPTY)
        .await
        .unwrap();
    let mut names: Vec<String> = sftp
        .list_dir("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["README", "folder", "up.bin"]);
    let back = home.path().join("back.bin");
    sftp.download("/up.bin", &back).await.unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), data);
    assert!(!Path::new("/up.bin").exists(), "nothing on the disk");
}
