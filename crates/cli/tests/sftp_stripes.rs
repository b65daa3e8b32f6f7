//! `nacre sftp` puts a large file over several SFTP sessions at once when the server's window
//! holds one session below 128 MiB/s over the path (here a relay that holds every byte 20, 25
//! or 50 ms each way): sshd (2 MiB windows) then runs one sftp-server per session, nacre serve (8
//! MiB, widened) needs a second session only at 100 ms, and the file arrives whole; over
//! loopback itself, or with `--stripes 1`, one session.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nacre_tests::{
    authorized_client_key, ensure_test_user, run_with_input, test_user_home, KeyType, OpenSshServer,
};

/// A TCP relay on a free loopback port to `target`: every chunk read is written on `delay`
/// later, in order, each direction on its own (a path with a round trip of twice `delay`).
/// Runs until the test process ends.
fn delayed_relay(target: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            one_way(client, server, delay);
            one_way(s2, c2, delay);
        }
    });
    port
}

/// Copies `from` to `to`, each chunk `delay` after it was read; shuts `to` down at the end.
fn one_way(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0
                || tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

/// `nacre sftp -v -b -` as `peer` with `key` to `port`, in `local`, with `extra` flags.
fn put_batch(port: u16, key: &Path, local: &Path, extra: &[&str], batch: &str) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
    cmd.current_dir(local)
        .args(["sftp", "-v", "-P", &port.to_string(), "-i"])
        .arg(key)
        .args(["-o", "StrictHostKeyChecking=no", "-b", "-"])
        .args(extra)
        .arg("peer@127.0.0.1")
        .env("HOME", local)
        .env_remove("SSH_AUTH_SOCK");
    let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(180));
    assert!(out.success(), "{out}");
    out.stderr
}

fn sftp_sessions_started(sshd: &OpenSshServer) -> usize {
    sshd.log()
        .lines()
        .filter(|l| l.contains("Starting session: subsystem 'sftp'"))
        .count()
}

#[test]
fn a_large_put_over_a_long_path_is_striped_over_four_sshd_sessions() {
    ensure_test_user();
    let key = authorized_client_key(KeyType::Ed25519);
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let local = tempfile::tempdir().unwrap();
    // 72 MiB and a bit: nine 8 MiB blocks dealt to four sessions, the last one short.
    let data: Vec<u8> = (0..(72u32 << 20) + 4321)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(local.path().join("big.bin"), &data).unwrap();
    let remote_name = format!("nacre-stripes-{}", std::process::id());
    let remote = test_user_home().join(&remote_name);
    let relay = delayed_relay(sshd.port(), Duration::from_millis(25));

    let log = put_batch(
        relay,
        &key.private,
        local.path(),
        &[],
        &format!("put big.bin {remote_name}\nput big.bin {remote_name}.2\n"),
    );
    assert!(log.contains("Striping the upload over 4 sessions"), "{log}");
    assert_eq!(std::fs::read(&remote).unwrap(), data);
    assert_eq!(std::fs::read(remote.with_extension("2")).unwrap(), data);
    // The main session and three lanes, opened once for both puts.
    assert_eq!(sftp_sessions_started(&sshd), 4, "{}", sshd.log());

    // One session when told so, and over loopback without the relay.
    std::fs::remove_file(&remote).unwrap();
    let log = put_batch(
        relay,
        &key.private,
        local.path(),
        &["--stripes", "1"],
        &format!("put big.bin {remote_name}\n"),
    );
    assert!(!log.contains("Striping"), "{log}");
    assert_eq!(std::fs::read(&remote).unwrap(), data);
    let log = put_batch(
        sshd.port(),
        &key.private,
        local.path(),
        &[],
        &format!("put big.bin {remote_name}\n"),
    );
    assert!(!log.contains("Striping"), "{log}");
    assert_eq!(sftp_sessions_started(&sshd), 6, "{}", sshd.log());
    assert_eq!(std::fs::read(&remote).unwrap(), data);
    let _ = std::fs::remove_file(&remote);
    let _ = std::fs::remove_file(remote.with_extension("2"));
}

#[test]
fn nacre_serve_is_striped_onto_only_where_its_window_holds_one_session_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    // Whichever account the logins act as may write here.
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (_server, port) = nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir.path(),
        "peer",
        "stripes-secret",
        &["--root".into(), root.clone().into()],
    );
    let local = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..(64u32 << 20) + 1)
        .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    std::fs::write(local.path().join("big.bin"), &data).unwrap();
    let put = |one_way: u64, name: &str| {
        let relay = delayed_relay(port, Duration::from_millis(one_way));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nacre"));
        cmd.current_dir(local.path())
            .args(["sftp", "-v", "-P", &relay.to_string(), "--password-file"])
            .arg(dir.path().join("pw"))
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-b",
                "-",
                "peer@127.0.0.1",
            ])
            .env("HOME", local.path())
            .env_remove("SSH_AUTH_SOCK");
        let batch = format!("put big.bin {name}\n");
        let out = run_with_input(&mut cmd, Some(batch.as_bytes()), Duration::from_secs(180));
        assert!(out.success(), "{out}");
        assert_eq!(std::fs::read(root.join(name)).unwrap(), data);
        out.stderr
    };
    // 40 ms: its 8 MiB window lets one session move 200 MiB/s (one session up to 62 ms).
    let log = put(20, "one.bin");
    assert!(!log.contains("Striping"), "{log}");
    // 100 ms: 80 MiB/s, two sessions (three if the relay's round trip passed 125 ms).
    let log = put(50, "two.bin");
    assert!(
        log.contains("Striping the upload over 2 sessions")
            || log.contains("Striping the upload over 3 sessions"),
        "{log}"
    );
}
