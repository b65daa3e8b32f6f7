//! Port forwarding through real peers, with a TCP echo service started by the test: OpenSSH's
//! `ssh -L` / `ssh -R` against the nacre server, the nacre client's `forward_local` /
//! `forward_remote` (TCP and Unix sockets) against OpenSSH's sshd, and nacre against nacre for
//! the policy's refusals (ADMINISTRATIVELY_PROHIBITED, CONNECT_FAILED, a refused tcpip-forward).
//! Bulk transfers are 64 MiB each way, compared by SHA-256.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use nacre::auth::AuthServerConfig;
use nacre::crypto::HashAlg;
use nacre::keys::PublicKey;
use nacre::transport::Config;
use nacre::wire::{ChannelOpenFailureReason, DisconnectReason};
use nacre::{
    hash_password, AuthResult, ClientConfig, Connection, Error, ForwardingPolicy, ServerConfig,
    SessionConfig, User, UsersPolicy,
};
use nacre_tests::{
    authorized_client_key, ensure_test_user, free_port, ChildGuard, KeyType, NacreServer,
    OpenSshClient, OpenSshServer, TEST_PASSWORD, TEST_USER,
};

const MIB: usize = 1024 * 1024;
const BULK: usize = 64 * MIB;
const T: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// Echo services and transfers (blocking std sockets, usable from sync and async tests).

/// A TCP echo service on 127.0.0.1: every connection gets back what it sends, and a half-close
/// once the client half-closed. Runs until the test process ends.
fn tcp_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || {
                let mut rd = conn.try_clone().unwrap();
                let mut wr = conn;
                let _ = std::io::copy(&mut rd, &mut wr);
                let _ = wr.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

/// A TCP service that answers only after the client half-closed: it reads to EOF, then sends
/// the SHA-256 of what it read and closes. Through a forward this needs EOF carried one way
/// while the other way stays open.
fn tcp_digest() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            thread::spawn(move || {
                let mut h = HashAlg::Sha256.hasher();
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => h.update(&buf[..n]),
                    }
                }
                let _ = conn.write_all(&h.finish());
            });
        }
    });
    port
}

/// Sends `total` bytes to the digest service behind `port`, half-closes, and checks the answer.
fn half_close(port: u16, total: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut h = HashAlg::Sha256.hasher();
    for i in 0..total / MIB {
        let b = block(i);
        s.write_all(&b).unwrap();
        h.update(&b);
    }
    s.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, h.finish(), "digest through port {port}");
}

/// A Unix socket echo service at `path` (world-accessible, for sshd running as the test user).
fn unix_echo(path: &Path) {
    let listener = UnixListener::bind(path).unwrap();
    set_mode(path, 0o777);
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || {
                let mut rd = conn.try_clone().unwrap();
                let mut wr = conn;
                let _ = std::io::copy(&mut rd, &mut wr);
                let _ = wr.shutdown(Shutdown::Write);
            });
        }
    });
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Block `i` of a transfer: 1 MiB of xorshift output, different for every block.
fn block(i: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut out = Vec::with_capacity(MIB);
    while out.len() < MIB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Sends `total` bytes through `stream` from a thread while reading back what comes; returns the
/// SHA-256 of what was sent and of what came back, and the number of bytes that came back.
fn echo_through<S>(stream: S, total: usize) -> (Vec<u8>, Vec<u8>, usize)
where
    S: Read + Write + Send + 'static + TryCloneShutdown,
{
    let mut wr = stream.try_clone_stream();
    let writer = thread::spawn(move || {
        let mut h = HashAlg::Sha256.hasher();
        for i in 0..total / MIB {
            let b = block(i);
            wr.write_all(&b).unwrap();
            h.update(&b);
        }
        wr.shutdown_write();
        h.finish()
    });
    let mut rd = stream;
    let mut h = HashAlg::Sha256.hasher();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    loop {
        match rd.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                h.update(&buf[..n]);
                got += n;
            }
            Err(e) => panic!("reading back after {got} bytes: {e}"),
        }
    }
    (writer.join().unwrap(), h.finish(), got)
}

trait TryCloneShutdown: Sized {
    fn try_clone_stream(&self) -> Self;
    fn shutdown_write(&self);
}

impl TryCloneShutdown for TcpStream {
    fn try_clone_stream(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shutdown_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

impl TryCloneShutdown for UnixStream {
    fn try_clone_stream(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn shutdown_write(&self) {
        self.shutdown(Shutdown::Write).unwrap();
    }
}

/// `total` bytes through TCP port `port` on 127.0.0.1 and back, checked by SHA-256.
fn bulk_tcp(port: u16, total: usize) {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let (sent, back, n) = echo_through(s, total);
    assert_eq!(n, total, "bytes echoed through port {port}");
    assert_eq!(sent, back, "SHA-256 of the echo through port {port}");
}

/// Like [`bulk_tcp`] over the Unix socket `path`.
fn bulk_unix(path: &Path, total: usize) {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let (sent, back, n) = echo_through(s, total);
    assert_eq!(n, total, "bytes echoed through {}", path.display());
    assert_eq!(sent, back, "SHA-256 of the echo through {}", path.display());
}

/// Waits until 127.0.0.1:`port` accepts connections, failing early if `ssh` exits.
fn wait_port(port: u16, ssh: &mut ChildGuard, log: &Path) {
    let start = Instant::now();
    loop {
        if TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(200),
        )
        .is_ok()
        {
            return;
        }
        if let Some(status) = ssh.try_wait() {
            panic!("ssh exited with {status}: {}", read(log));
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "port {port} never listened: {}",
            read(log)
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// OpenSSH's ssh against the nacre server.

fn nacre_server(forwarding: ForwardingPolicy) -> (NacreServer, tempfile::TempDir) {
    let mut policy = UsersPolicy::new();
    policy.insert(
        TEST_USER,
        User {
            password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
            ..User::default()
        },
    );
    nacre_server_with(forwarding, policy)
}

fn nacre_server_with(
    forwarding: ForwardingPolicy,
    policy: UsersPolicy,
) -> (NacreServer, tempfile::TempDir) {
    ensure_test_user();
    let server = NacreServer::start_with_server(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
        ServerConfig {
            session: Arc::new(SessionConfig::default()),
            forwarding,
            ..ServerConfig::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    server.write_known_hosts(&dir.path().join("known_hosts"));
    (server, dir)
}

/// `ssh -N -o ExitOnForwardFailure=yes FORWARD` as a child, its stderr in `dir/ssh.log`.
fn ssh_forwarding(
    server: &NacreServer,
    dir: &tempfile::TempDir,
    flag: &str,
    spec: &str,
) -> (ChildGuard, PathBuf) {
    let client = OpenSshClient::new(server.port()).test_password();
    ssh_forwarding_as(client, dir, flag, spec)
}

/// Like [`ssh_forwarding`] with `client`'s credentials.
fn ssh_forwarding_as(
    client: OpenSshClient,
    dir: &tempfile::TempDir,
    flag: &str,
    spec: &str,
) -> (ChildGuard, PathBuf) {
    let log = dir.path().join(format!("ssh{}.log", free_port()));
    let mut cmd = client
        .known_hosts(dir.path().join("known_hosts"))
        .option("ExitOnForwardFailure", "yes")
        .option("LogLevel", "INFO")
        .arg("-N")
        .arg(flag)
        .arg(spec)
        .build();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    (
        ChildGuard::spawn_group(format!("ssh {flag}"), &mut cmd),
        log,
    )
}

#[test]
fn openssh_local_forward_through_nacre_server() {
    let (server, dir) = nacre_server(ForwardingPolicy::allow_all());
    let echo = tcp_echo();
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-L", &format!("{port}:127.0.0.1:{echo}"));
    wait_port(port, &mut ssh, &log);
    bulk_tcp(port, BULK);
    // A second connection through the same forward.
    bulk_tcp(port, MIB);
    assert!(ssh.is_running(), "{}", read(&log));
    ssh.kill();
    // EOF one way, the answer the other way.
    let digest = tcp_digest();
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-L", &format!("{port}:127.0.0.1:{digest}"));
    wait_port(port, &mut ssh, &log);
    half_close(port, 8 * MIB);
    ssh.kill();
}

#[test]
fn openssh_remote_forward_through_nacre_server() {
    let (server, dir) = nacre_server(ForwardingPolicy::allow_all());
    let echo = tcp_echo();
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-R", &format!("{port}:127.0.0.1:{echo}"));
    wait_port(port, &mut ssh, &log);
    bulk_tcp(port, BULK);
    bulk_tcp(port, MIB);
    assert!(ssh.is_running(), "{}", read(&log));
    ssh.kill();
    // The connection is gone: the server stops listening.
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(start.elapsed() < T, "port {port} still listening");
        thread::sleep(Duration::from_millis(50));
    }

    // -R 0:...: the server chooses the port and tells ssh, which prints it.
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-R", &format!("0:127.0.0.1:{echo}"));
    let start = Instant::now();
    let port: u16 = loop {
        let text = read(&log);
        if let Some(rest) = text.split("Allocated port ").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        assert!(ssh.is_running(), "{text}");
        assert!(start.elapsed() < T, "{text}");
        thread::sleep(Duration::from_millis(50));
    };
    bulk_tcp(port, 4 * MIB);
    ssh.kill();
}

#[test]
fn openssh_unix_socket_forwards_through_nacre_server() {
    let (server, dir) = nacre_server(ForwardingPolicy::allow_all());
    let echo = tcp_echo();
    // -L port:/echo.sock (direct-streamlocal@openssh.com)
    let sock = dir.path().join("echo.sock");
    unix_echo(&sock);
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-L", &format!("{port}:{}", sock.display()));
    wait_port(port, &mut ssh, &log);
    bulk_tcp(port, 16 * MIB);
    ssh.kill();
    // -R /remote.sock:127.0.0.1:echo (streamlocal-forward@openssh.com)
    let remote = dir.path().join("remote.sock");
    let (mut ssh, log) = ssh_forwarding(
        &server,
        &dir,
        "-R",
        &format!("{}:127.0.0.1:{echo}", remote.display()),
    );
    let start = Instant::now();
    while UnixStream::connect(&remote).is_err() {
        assert!(ssh.is_running() && start.elapsed() < T, "{}", read(&log));
        thread::sleep(Duration::from_millis(50));
    }
    bulk_unix(&remote, 16 * MIB);
    ssh.kill();
    // The socket goes with the connection.
    let start = Instant::now();
    while remote.exists() {
        assert!(start.elapsed() < T, "the server kept its socket");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn openssh_forwarding_refused_by_nacre_policy() {
    let (server, dir) = nacre_server(ForwardingPolicy::deny_all());
    let echo = tcp_echo();

    // -R: the tcpip-forward request is refused, so ssh gives up (ExitOnForwardFailure).
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-R", &format!("{port}:127.0.0.1:{echo}"));
    let status = ssh.wait_timeout(T).expect("ssh -R still running");
    assert!(!status.success());
    assert!(
        read(&log).contains("remote port forwarding failed"),
        "{}",
        read(&log)
    );

    // -L: ssh listens, but each channel is refused; the connection is closed without data.
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-L", &format!("{port}:127.0.0.1:{echo}"));
    wait_port(port, &mut ssh, &log);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let _ = s.write_all(b"hello");
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    let start = Instant::now();
    while !read(&log).contains("administratively prohibited") {
        assert!(start.elapsed() < T, "{}", read(&log));
        thread::sleep(Duration::from_millis(50));
    }
    ssh.kill();
}

#[test]
fn openssh_local_forward_refused_by_permit_open() {
    let echo = tcp_echo();
    let policy = ForwardingPolicy {
        permit_open: vec![nacre::keys::authorized_keys::PermitHostPort {
            host: "127.0.0.1".into(),
            port: Some(echo),
        }],
        ..ForwardingPolicy::allow_all()
    };
    let (server, dir) = nacre_server(policy);
    // Allowed destination.
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-L", &format!("{port}:127.0.0.1:{echo}"));
    wait_port(port, &mut ssh, &log);
    bulk_tcp(port, MIB);
    ssh.kill();
    // Another port on the same host is refused.
    let other = free_port();
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding(&server, &dir, "-L", &format!("{port}:127.0.0.1:{other}"));
    wait_port(port, &mut ssh, &log);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    let start = Instant::now();
    while !read(&log).contains("administratively prohibited") {
        assert!(start.elapsed() < T, "{}", read(&log));
        thread::sleep(Duration::from_millis(50));
    }
    ssh.kill();
}

/// Waits until `log` shows that a channel was refused by the server's policy.
fn wait_prohibited(log: &Path) {
    let start = Instant::now();
    while !read(log).contains("administratively prohibited") {
        assert!(start.elapsed() < T, "{}", read(log));
        thread::sleep(Duration::from_millis(50));
    }
}

/// Connects to a forward whose channel the server refuses: the connection ends without data.
fn refused_through(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
}

#[test]
fn openssh_forwarding_limited_by_authorized_keys_options() {
    let echo = tcp_echo();
    let other = free_port();
    let listen = free_port();
    let limited = authorized_client_key(KeyType::Ed25519);
    let restricted = authorized_client_key(KeyType::EcdsaP256);
    let kdir = tempfile::tempdir().unwrap();
    let file = kdir.path().join("authorized_keys");
    std::fs::write(
        &file,
        format!(
            "permitopen=\"127.0.0.1:{echo}\",permitlisten=\"localhost:{listen}\" {}\nrestrict {}\n",
            limited.pub_line, restricted.pub_line
        ),
    )
    .unwrap();
    let mut users = UsersPolicy::new();
    users.load_authorized_keys(TEST_USER, &file).unwrap();
    let (server, dir) = nacre_server_with(ForwardingPolicy::allow_all(), users);
    let as_key = |k: &nacre_tests::KeyPair| OpenSshClient::new(server.port()).identity(&k.private);

    // permitopen: the listed destination works, another one is refused.
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding_as(
        as_key(&limited),
        &dir,
        "-L",
        &format!("{port}:127.0.0.1:{echo}"),
    );
    wait_port(port, &mut ssh, &log);
    bulk_tcp(port, 4 * MIB);
    ssh.kill();
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding_as(
        as_key(&limited),
        &dir,
        "-L",
        &format!("{port}:127.0.0.1:{other}"),
    );
    wait_port(port, &mut ssh, &log);
    refused_through(port);
    wait_prohibited(&log);
    ssh.kill();

    // permitlisten: the listed port works, another one is refused.
    let (mut ssh, log) = ssh_forwarding_as(
        as_key(&limited),
        &dir,
        "-R",
        &format!("{listen}:127.0.0.1:{echo}"),
    );
    wait_port(listen, &mut ssh, &log);
    bulk_tcp(listen, 4 * MIB);
    ssh.kill();
    let (mut ssh, log) = ssh_forwarding_as(
        as_key(&limited),
        &dir,
        "-R",
        &format!("{}:127.0.0.1:{echo}", free_port()),
    );
    assert!(!ssh.wait_timeout(T).expect("ssh -R still running").success());
    assert!(
        read(&log).contains("remote port forwarding failed"),
        "{}",
        read(&log)
    );

    // restrict: no forwarding at all.
    let port = free_port();
    let (mut ssh, log) = ssh_forwarding_as(
        as_key(&restricted),
        &dir,
        "-L",
        &format!("{port}:127.0.0.1:{echo}"),
    );
    wait_port(port, &mut ssh, &log);
    refused_through(port);
    wait_prohibited(&log);
    ssh.kill();
    let (mut ssh, log) = ssh_forwarding_as(
        as_key(&restricted),
        &dir,
        "-R",
        &format!("{}:127.0.0.1:{echo}", free_port()),
    );
    assert!(!ssh.wait_timeout(T).expect("ssh -R still running").success());
    assert!(
        read(&log).contains("remote port forwarding failed"),
        "{}",
        read(&log)
    );
}

// ---------------------------------------------------------------------------------------------
// The nacre client against OpenSSH's sshd and against the nacre server.

async fn login(port: u16, trusted: Vec<PublicKey>) -> Connection {
    ensure_test_user();
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(move |k| trusted.contains(k)),
    };
    let mut conn = Connection::connect(("127.0.0.1", port), cfg).await.unwrap();
    assert_eq!(
        conn.authenticate_password(TEST_USER, TEST_PASSWORD)
            .await
            .unwrap(),
        AuthResult::Success
    );
    conn
}

async fn login_sshd(sshd: &OpenSshServer) -> Connection {
    let key = PublicKey::from_openssh_line(&sshd.host_key_pub(KeyType::Ed25519))
        .unwrap()
        .0;
    login(sshd.port(), vec![key]).await
}

async fn login_nacre(server: &NacreServer) -> Connection {
    let keys = server.keys().iter().map(|k| k.public_key()).collect();
    login(server.port(), keys).await
}

async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::time::timeout(T, tokio::task::spawn_blocking(f))
        .await
        .expect("timed out")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_local_forward_through_sshd() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login_sshd(&sshd).await;
    let echo = tcp_echo();
    let fwd = conn
        .forward_local("127.0.0.1:0".parse().unwrap(), "127.0.0.1", echo)
        .await
        .unwrap();
    let port = fwd.local_addr().unwrap().port();
    blocking(move || bulk_tcp(port, BULK)).await;
    // Several connections at once through the same forward.
    let mut all = Vec::new();
    for _ in 0..4 {
        all.push(tokio::task::spawn_blocking(move || bulk_tcp(port, 4 * MIB)));
    }
    for t in all {
        tokio::time::timeout(T, t).await.unwrap().unwrap();
    }
    drop(fwd);
    // EOF one way, the answer the other way.
    let digest = tcp_digest();
    let fwd = conn
        .forward_local("127.0.0.1:0".parse().unwrap(), "127.0.0.1", digest)
        .await
        .unwrap();
    let port = fwd.local_addr().unwrap().port();
    blocking(move || half_close(port, 8 * MIB)).await;
    let rfwd = conn
        .forward_remote("localhost", 0, ("127.0.0.1", digest))
        .await
        .unwrap();
    let rport = u16::try_from(rfwd.port()).unwrap();
    blocking(move || half_close(rport, 8 * MIB)).await;
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_remote_forward_through_sshd() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login_sshd(&sshd).await;
    let echo = tcp_echo();
    // Port 0: sshd chooses and says which. On 127.0.0.1, not "localhost": for "localhost" sshd
    // picks the port on ::1 and binds 127.0.0.1 too only if that port is free there, so a
    // connection to 127.0.0.1 could reach another test's listener (seen once in CI: 613 bytes of
    // some SSH server's greeting came back).
    let fwd = conn
        .forward_remote("127.0.0.1", 0, ("127.0.0.1", echo))
        .await
        .unwrap();
    let port = u16::try_from(fwd.port()).unwrap();
    assert_ne!(port, 0);
    blocking(move || bulk_tcp(port, BULK)).await;
    blocking(move || bulk_tcp(port, MIB)).await;
    // A fixed port too.
    let fixed = free_port();
    let fwd2 = conn
        .forward_remote("127.0.0.1", u32::from(fixed), ("127.0.0.1", echo))
        .await
        .unwrap();
    assert_eq!(fwd2.port(), u32::from(fixed));
    blocking(move || bulk_tcp(fixed, 2 * MIB)).await;
    // Dropping a forward cancels it: sshd stops listening.
    drop(fwd);
    drop(fwd2);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_ok()
        || TcpStream::connect(("127.0.0.1", fixed)).is_ok()
    {
        assert!(start.elapsed() < T, "sshd still listens after the cancel");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        sshd.log().contains("cancel-tcpip-forward"),
        "sshd saw no cancel"
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_remote_forward_to_unreachable_target_is_refused() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login_sshd(&sshd).await;
    let closed = free_port(); // nothing listens there
    let fwd = conn
        .forward_remote("localhost", 0, ("127.0.0.1", closed))
        .await
        .unwrap();
    let port = u16::try_from(fwd.port()).unwrap();
    blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    })
    .await;
    let start = Instant::now();
    while !sshd.log().contains("open failed") && !sshd.log().contains("Connect failed") {
        assert!(start.elapsed() < T, "no refusal in the sshd log");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_unix_socket_forwards_through_sshd() {
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let conn = login_sshd(&sshd).await;
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o777); // sshd binds and connects as the test user
    let echo = tcp_echo();

    // -R /remote.sock:127.0.0.1:echo
    let remote = dir.path().join("remote.sock");
    let fwd = conn
        .forward_remote_unix(remote.to_str().unwrap(), ("127.0.0.1", echo))
        .await
        .unwrap();
    let r = remote.clone();
    blocking(move || bulk_unix(&r, 8 * MIB)).await;
    drop(fwd);

    // -L port:/echo.sock
    let sock = dir.path().join("echo.sock");
    unix_echo(&sock);
    let fwd = conn
        .forward_local_to_unix("127.0.0.1:0".parse().unwrap(), sock.to_str().unwrap())
        .await
        .unwrap();
    let port = fwd.local_addr().unwrap().port();
    blocking(move || bulk_tcp(port, 8 * MIB)).await;

    // -L /local.sock:127.0.0.1:echo
    let local = dir.path().join("local.sock");
    let fwd2 = conn
        .forward_local_unix(&local, "127.0.0.1", echo)
        .await
        .unwrap();
    let l = local.clone();
    blocking(move || bulk_unix(&l, 8 * MIB)).await;
    drop(fwd2);
    assert!(
        !local.exists(),
        "the local socket is removed with the forward"
    );
    drop(fwd);
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_to_nacre_forwarding_and_refusals() {
    let echo = tcp_echo();
    let (server, _dir) = nacre_server(ForwardingPolicy::allow_all());
    let conn = login_nacre(&server).await;

    // -L and -R through the nacre server.
    let local = conn
        .forward_local("127.0.0.1:0".parse().unwrap(), "127.0.0.1", echo)
        .await
        .unwrap();
    let port = local.local_addr().unwrap().port();
    blocking(move || bulk_tcp(port, 16 * MIB)).await;
    let remote = conn
        .forward_remote("localhost", 0, ("127.0.0.1", echo))
        .await
        .unwrap();
    let rport = u16::try_from(remote.port()).unwrap();
    blocking(move || bulk_tcp(rport, 16 * MIB)).await;
    drop(remote);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", rport)).is_ok() {
        assert!(
            start.elapsed() < T,
            "the nacre server still listens after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A destination nobody listens on: CONNECT_FAILED.
    let closed = free_port();
    let origin: SocketAddr = "127.0.0.1:1".parse().unwrap();
    match conn.open_direct_tcpip("127.0.0.1", closed, origin).await {
        Err(Error::OpenFailed { reason, .. }) => {
            assert_eq!(reason, ChannelOpenFailureReason::CONNECT_FAILED)
        }
        other => panic!("{other:?}"),
    }
    // A port the server cannot bind (already taken): the request is refused.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = u32::from(taken.local_addr().unwrap().port());
    assert!(matches!(
        conn.listen_remote("localhost", taken_port).await,
        Err(Error::Refused(_))
    ));
    // Unix sockets both ways.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("echo.sock");
    unix_echo(&sock);
    let to_unix = conn
        .forward_local_to_unix("127.0.0.1:0".parse().unwrap(), sock.to_str().unwrap())
        .await
        .unwrap();
    let p = to_unix.local_addr().unwrap().port();
    blocking(move || bulk_tcp(p, 4 * MIB)).await;
    let remote_sock = dir.path().join("remote.sock");
    let from_unix = conn
        .forward_remote_unix(remote_sock.to_str().unwrap(), ("127.0.0.1", echo))
        .await
        .unwrap();
    let r = remote_sock.clone();
    blocking(move || bulk_unix(&r, 4 * MIB)).await;
    drop(from_unix);
    let start = Instant::now();
    while remote_sock.exists() {
        assert!(
            start.elapsed() < T,
            "the server kept its socket after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;

    // Everything denied.
    let (server, _dir) = nacre_server(ForwardingPolicy::deny_all());
    let conn = login_nacre(&server).await;
    match conn.open_direct_tcpip("127.0.0.1", echo, origin).await {
        Err(Error::OpenFailed { reason, .. }) => {
            assert_eq!(
                reason,
                ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED
            )
        }
        other => panic!("{other:?}"),
    }
    match conn.open_direct_streamlocal(sock.to_str().unwrap()).await {
        Err(Error::OpenFailed { reason, .. }) => {
            assert_eq!(
                reason,
                ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        conn.forward_remote("localhost", 0, ("127.0.0.1", echo))
            .await,
        Err(Error::Refused("tcpip-forward"))
    ));
    assert!(matches!(
        conn.listen_remote_unix(dir.path().join("x.sock").to_str().unwrap())
            .await,
        Err(Error::Refused(_))
    ));
    // The refused forward_local connection is closed at once.
    let denied = conn
        .forward_local("127.0.0.1:0".parse().unwrap(), "127.0.0.1", echo)
        .await
        .unwrap();
    let p = denied.local_addr().unwrap().port();
    blocking(move || {
        let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let mut buf = [0u8; 8];
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    })
    .await;
    // The connection still works after the refusals.
    let ch = conn.open_session().await.unwrap();
    drop(ch);

    // Local only.
    let (server, _dir) =
        nacre_server(ForwardingPolicy::from_allow_tcp_forwarding("local").unwrap());
    let conn = login_nacre(&server).await;
    let ch = conn
        .open_direct_tcpip("127.0.0.1", echo, origin)
        .await
        .unwrap();
    drop(ch);
    assert!(conn.listen_remote("localhost", 0).await.is_err());
}
