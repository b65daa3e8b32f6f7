//! `nacre serve -o` with sshd's option names changes what OpenSSH's ssh can do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::Duration;

use nacre_tests::{
    authorized_client_key, ensure_test_user, free_port, ChildGuard, KeyType, OpenSshClient,
};

fn serve(dir: &std::path::Path, extra: &[&str]) -> (ChildGuard, u16) {
    serve_with(dir, &[], extra)
}

/// `nacre serve` with these flags besides the usual ones, and these `-o` options.
fn serve_with(dir: &std::path::Path, flags: &[&str], extra: &[&str]) -> (ChildGuard, u16) {
    serve_exe(env!("CARGO_BIN_EXE_nacre").as_ref(), dir, flags, extra)
}

/// [`serve_with`] running the binary `exe`.
fn serve_exe(
    exe: &std::path::Path,
    dir: &std::path::Path,
    flags: &[&str],
    extra: &[&str],
) -> (ChildGuard, u16) {
    let key = authorized_client_key(KeyType::Ed25519);
    std::fs::write(dir.join("ak"), format!("{}\n", key.pub_line)).unwrap();
    let mut args: Vec<std::ffi::OsString> = vec!["--allow-exec".into(), "--authorized-keys".into()];
    args.push(dir.join("ak").into());
    args.extend(flags.iter().map(Into::into));
    for o in extra {
        args.push("-o".into());
        args.push(o.into());
    }
    nacre_tests::start_nacre_serve(exe, dir, "peer", "serve-pass", &args)
}

#[test]
fn password_authentication_no_and_auth_methods() {
    ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve(
        dir.path(),
        &[
            "PasswordAuthentication=no",
            "LoginGraceTime=30",
            "KexAlgorithms=curve25519-sha256",
        ],
    );
    let out = OpenSshClient::new(port)
        .password("serve-pass")
        .command("true")
        .run(Duration::from_secs(60));
    assert!(
        out.stderr
            .contains("Permission denied (publickey,keyboard-interactive)"),
        "{out}"
    );
    let key = authorized_client_key(KeyType::Ed25519);
    let out = OpenSshClient::new(port)
        .verbose()
        .identity(&key.private)
        .command("echo hi")
        .run(Duration::from_secs(60));
    assert_eq!(out.stdout, "hi\n", "{out}");
    assert!(
        out.stderr.contains("kex: algorithm: curve25519-sha256"),
        "{out}"
    );
}

#[test]
fn sigterm_shuts_the_server_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, _port) = serve(dir.path(), &[]);
    assert!(server.signal("TERM"));
    let status = server
        .wait_timeout(Duration::from_secs(10))
        .expect("nacre serve exits on SIGTERM");
    assert!(status.success(), "{status:?}");
}

/// Reads the server's identification line; `None` when the server closed without one.
fn banner(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            Ok(_) => return None,
            Err(e) => panic!("no banner and no close: {e}"),
        }
    }
    Some(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn max_startups_drops_connections_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve(dir.path(), &["MaxStartups=2", "LoginGraceTime=60"]);
    // The readiness probe's connection is gone; two idle, unauthenticated connections fill it.
    std::thread::sleep(Duration::from_millis(200));
    let connect = || std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut first = connect();
    let mut second = connect();
    assert!(banner(&mut first).unwrap().starts_with("SSH-2.0-"));
    assert!(banner(&mut second).unwrap().starts_with("SSH-2.0-"));
    // A third is closed at once, without a banner.
    let mut third = connect();
    assert_eq!(banner(&mut third), None);
    // Once one leaves, there is room again.
    drop(first);
    let mut again = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        let mut s = connect();
        if let Some(b) = banner(&mut s) {
            again = Some(b);
            break;
        }
    }
    assert!(again.is_some_and(|b| b.starts_with("SSH-2.0-")));
}

/// A nacre client logged in as `peer` with the password of [`serve`].
async fn login(port: u16) -> nacre::Connection {
    nacre_tests::security::login_with_password(port, "peer", "serve-pass").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_limits_sessions_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = serve(dir.path(), &["MaxSessions=2"]);
    let conn = login(port).await;
    let a = conn.open_session().await.unwrap();
    let _b = conn.open_session().await.unwrap();
    match conn.open_session().await {
        Err(nacre::Error::OpenFailed { reason, .. }) => assert_eq!(
            reason,
            nacre::wire::ChannelOpenFailureReason::RESOURCE_SHORTAGE
        ),
        other => panic!("a third session: {other:?}"),
    }
    // Closing one makes room.
    a.close().unwrap();
    drop(a);
    let mut opened = false;
    for _ in 0..50 {
        if conn.open_session().await.is_ok() {
            opened = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(opened, "no session after one closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_as_user_creates_files_as_the_user_and_honours_permissions() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let user = ensure_test_user();
    let dir = tempfile::tempdir().unwrap();
    // A folder the user owns, holding a file only root may read.
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::os::unix::fs::chown(&share, Some(user.uid), Some(user.gid)).unwrap();
    let secret = share.join("secret.txt");
    std::fs::write(&secret, "root only").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The tempdir itself must be traversable by the user.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let root = share.display().to_string();
    // The user runs the binary again (`nacre sftp-server`): a copy it can reach, wherever the
    // build folder is (e.g. under /root).
    let exe = dir.path().join("nacre");
    std::fs::copy(env!("CARGO_BIN_EXE_nacre"), &exe).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_server, port) = serve_exe(&exe, dir.path(), &["--sftp-as-user", "--root", &root], &[]);
    let conn = login(port).await;
    let sftp = conn.sftp().await.unwrap();
    let local = dir.path().join("up.txt");
    std::fs::write(&local, "uploaded").unwrap();
    sftp.upload(&local, "/up.txt").await.unwrap();
    let meta = std::fs::metadata(share.join("up.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
    // The user may not read root's file, so neither may the SFTP session.
    let back = dir.path().join("secret.back");
    let err = sftp.download("/secret.txt", &back).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("permission"),
        "{err}"
    );
    // Without the flag the server's own process serves SFTP, acting as the user all the same
    // (issue 18: crates/cli/tests/serve_privileges.rs); root's rights only with --run-as root.
    drop(sftp);
    let (_server, port) = serve_with(dir.path(), &["--root", &root], &[]);
    let conn = login(port).await;
    let sftp = conn.sftp().await.unwrap();
    sftp.upload(&local, "/up-inprocess.txt").await.unwrap();
    let meta = std::fs::metadata(share.join("up-inprocess.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (user.uid, user.gid));
    let err = sftp.download("/secret.txt", &back).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("permission"),
        "{err}"
    );
    drop(sftp);
    let (_server, port) = serve_with(dir.path(), &["--root", &root, "--run-as", "root"], &[]);
    let conn = login(port).await;
    let sftp = conn.sftp().await.unwrap();
    sftp.upload(&local, "/up-root.txt").await.unwrap();
    assert_eq!(
        std::fs::metadata(share.join("up-root.txt")).unwrap().uid(),
        0
    );
}

/// sshd's `-p PORT`; `--root` that is not a folder refused at start, naming it; the start-up
/// hint suggests sftp (ssh only with --allow-exec); a log redirected to a file has no colour
/// escapes.
#[test]
fn dash_p_missing_root_hint_and_plain_logs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "serve-pass\n").unwrap();
    let base = |cmd: &mut std::process::Command, state: &str| {
        cmd.args(["serve", "--user", "peer", "--password-file"])
            .arg(dir.path().join("pw"))
            .arg("--state-dir")
            .arg(dir.path().join(state));
    };
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    base(&mut cmd, "state1");
    cmd.args(["--root", "/nonexistent/nacre-root"]);
    let out = nacre_tests::run_with_timeout(&mut cmd, Duration::from_secs(30));
    assert!(!out.success(), "{out}");
    assert!(out.stderr.contains("/nonexistent/nacre-root"), "{out}");
    assert!(out.stderr.contains("not a folder"), "{out}");

    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    base(&mut cmd, "state2");
    cmd.args(["-p", &port.to_string()])
        .arg("--root")
        .arg(dir.path())
        .stdout(std::fs::File::create(dir.path().join("serve.out")).unwrap())
        .stderr(std::fs::File::create(&log).unwrap());
    let server = ChildGuard::spawn("nacre serve -p", &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve -p");
    drop(server);
    let stdout = std::fs::read_to_string(dir.path().join("serve.out")).unwrap();
    assert!(
        stdout.contains(&format!("try: sftp -P {port} peer@127.0.0.1")),
        "{stdout}"
    );
    assert!(!stdout.contains("ssh -p"), "{stdout}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("generated a new host key"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "colour escapes in a redirected log: {log:?}"
    );
}

/// A failed login is logged naming the method, the user and the client, as sshd's "Failed
/// password for"; addresses print as addresses (no `Some(...)`), methods by their names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_name_user_method_and_client() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "serve-pass\n").unwrap();
    let port = free_port();
    let log = dir.path().join("serve.log");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.args([
        "serve",
        "-p",
        &port.to_string(),
        "--user",
        "peer",
        "--password-file",
    ])
    .arg(dir.path().join("pw"))
    .arg("--state-dir")
    .arg(dir.path().join("state"))
    .arg("--root")
    .arg(dir.path())
    .stdout(std::process::Stdio::null())
    .stderr(std::fs::File::create(&log).unwrap());
    let _server = ChildGuard::spawn("nacre serve", &mut cmd);
    nacre_tests::wait_listening(port, "nacre serve");
    let mut conn =
        nacre::Connection::connect(("127.0.0.1", port), nacre_tests::security::client_config())
            .await
            .unwrap();
    let refused = conn.authenticate_password("peer", "wrong").await.unwrap();
    assert_ne!(refused, nacre::AuthResult::Success);
    assert_eq!(
        conn.authenticate_password("peer", "serve-pass")
            .await
            .unwrap(),
        nacre::AuthResult::Success
    );
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(&log).unwrap();
        if text.contains("authenticated") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        text.contains("failed password for \"peer\" from 127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("methods=password"), "{text}");
    assert!(!text.contains("Some("), "{text}");
}

/// The opt-in kex methods (issue 19): `nacre serve -o KexAlgorithms=+NAME` adds one to the
/// defaults; an AsyncSSH client offering only it logs in (password), and so does `nacre exec -o
/// KexAlgorithms=NAME` (key); without the `+NAME` the server refuses `nacre exec` offering only
/// it (not in the default list).
#[test]
fn opt_in_kex_methods_with_serve_and_exec() {
    ensure_test_user();
    let key = authorized_client_key(KeyType::Ed25519);
    let asyncssh = r#"
import asyncio, sys
import asyncssh
async def main():
    async with asyncssh.connect("127.0.0.1", port=int(sys.argv[1]), username="peer",
                                password="serve-pass", known_hosts=None, client_keys=None,
                                kex_algs=[sys.argv[2]]) as conn:
        result = await conn.run("echo via-asyncssh", check=True)
        print("OUTPUT", result.stdout.strip())
asyncio.run(main())
"#;
    let exec = |dir: &std::path::Path, port: u16, kex: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.args(["exec", "-p", &port.to_string(), "-i"])
            .arg(&key.private)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PasswordAuthentication=no",
                "-o",
                "KbdInteractiveAuthentication=no",
                "-o",
                &format!("KexAlgorithms={kex}"),
                "peer@127.0.0.1",
                "--",
                "echo",
                "via-nacre",
            ])
            .env_remove("NACRE_PASSWORD")
            .env("HOME", dir);
        nacre_tests::run_with_input(&mut cmd, Some(b""), Duration::from_secs(60))
    };
    for kex in ["mlkem768nistp256-sha256", "mlkem1024nistp384-sha384"] {
        let dir = tempfile::tempdir().unwrap();
        let (_server, port) = serve(dir.path(), &[&format!("KexAlgorithms=+{kex}")]);
        let mut cmd = std::process::Command::new(nacre_tests::venv_python());
        cmd.args(["-c", asyncssh, &port.to_string(), kex]);
        let out = nacre_tests::run_with_timeout(&mut cmd, Duration::from_secs(60));
        assert!(out.stdout.contains("OUTPUT via-asyncssh"), "{kex}: {out}");
        let out = exec(dir.path(), port, kex);
        assert_eq!(out.stdout, "via-nacre\n", "{kex}: {out}");
        drop(_server);
        // The server's defaults do not offer it.
        let other = tempfile::tempdir().unwrap();
        let (_plain, port) = serve(other.path(), &[]);
        let out = exec(other.path(), port, kex);
        assert_eq!(out.stdout, "", "{kex}: {out}");
        assert!(!out.success(), "{kex}: {out}");
    }
}
