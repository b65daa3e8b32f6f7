//! The ML-KEM hybrids against AsyncSSH (its ML-KEM is OpenSSL's, through `cryptography`), both
//! directions: an AsyncSSH server allowing only one method and a nacre client (password
//! authentication, exec, a rekey, exec again); an AsyncSSH client forced to that method against a
//! nacre server (password authentication and a command). AsyncSSH's own debug log must name the
//! method. mlkem768x25519-sha256 with nacre's defaults; the opt-in mlkem768nistp256-sha256 and
//! mlkem1024nistp384-sha384 added to the defaults as `KexAlgorithms=+name` does. (OpenSSH 9.2 has
//! no ML-KEM: tests/tests/openssh_transport.rs covers sntrup761.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::keys::PublicKey;
use nacre::transport::{Config, KexMethod};
use nacre::wire::DisconnectReason;
use nacre::{
    hash_password, AuthResult, ClientConfig, Connection, SessionConfig, User, UsersPolicy,
};
use nacre_tests::{
    ensure_test_user, run_with_timeout, venv_python, ChildGuard, NacreServer, TEST_PASSWORD,
    TEST_USER,
};

const T: Duration = Duration::from_secs(60);

/// An AsyncSSH server: only mlkem768x25519-sha256, a fresh Ed25519 host key, password auth for
/// the test user, and exec answering `asyncssh ran: <command>`. Prints `PORT n` and
/// `HOSTKEY <openssh line>`, then serves until killed; its debug log goes to stderr.
const SERVER: &str = r#"
import asyncio, logging, sys
import asyncssh

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
asyncssh.set_debug_level(2)
user, password, kex = sys.argv[1], sys.argv[2], sys.argv[3]

class Server(asyncssh.SSHServer):
    def begin_auth(self, username):
        return True
    def password_auth_supported(self):
        return True
    def validate_password(self, username, pw):
        return (username, pw) == (user, password)

async def handle(process):
    process.stdout.write("asyncssh ran: %s\n" % process.command)
    process.exit(0)

async def main():
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[key], kex_algs=[kex],
                                   server_factory=Server, process_factory=handle)
    print("PORT", server.get_port(), flush=True)
    print("HOSTKEY", key.export_public_key().decode().strip(), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"#;

/// An AsyncSSH client forced to one kex method: password auth, one command, prints its output.
const CLIENT: &str = r#"
import asyncio, logging, sys
import asyncssh

logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
asyncssh.set_debug_level(2)
port, user, password, kex = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

async def main():
    async with asyncssh.connect("127.0.0.1", port=port, username=user, password=password,
                                known_hosts=None, client_keys=None, kex_algs=[kex]) as conn:
        result = await conn.run("echo nacre-mlkem-ok", check=True)
        print("OUTPUT", result.stdout.strip())

asyncio.run(main())
"#;

/// Reads `PORT` and `HOSTKEY` from the server's stdout (with a deadline).
fn server_hello(guard: &mut ChildGuard) -> (u16, String) {
    let stdout = guard.child_mut().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut port = None;
    let mut host_key = None;
    while port.is_none() || host_key.is_none() {
        let line = rx
            .recv_timeout(T)
            .expect("the AsyncSSH server did not start");
        if let Some(p) = line.strip_prefix("PORT ") {
            port = Some(p.trim().parse().unwrap());
        } else if let Some(k) = line.strip_prefix("HOSTKEY ") {
            host_key = Some(k.to_owned());
        }
    }
    (port.unwrap(), host_key.unwrap())
}

/// AsyncSSH's debug log line for the negotiated method.
fn says_kex(log: &str, name: &str) -> bool {
    log.lines()
        .any(|l| l.trim_end().ends_with(&format!("Key exchange alg: {name}")))
}

/// nacre's client defaults, with `kex` appended when it is opt-in (as `KexAlgorithms=+name`).
fn client_config(kex: KexMethod) -> Config {
    let mut config = Config::client();
    if !config.algorithms.kex.contains(&kex) {
        assert!(kex.is_opt_in(), "{}", kex.name());
        config.algorithms.kex.push(kex);
    }
    config
}

/// nacre's server defaults, with `kex` appended when it is opt-in.
fn server_config(kex: KexMethod) -> Config {
    let mut config = Config::server(nacre_testkit::all_host_keys());
    if !config.algorithms.kex.contains(&kex) {
        config.algorithms.kex.push(kex);
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_client_to_asyncssh_server_with_mlkem768x25519() {
    nacre_client_to_asyncssh_server(KexMethod::MlKem768X25519Sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_client_to_asyncssh_server_with_mlkem768nistp256() {
    nacre_client_to_asyncssh_server(KexMethod::MlKem768NistP256Sha256).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_client_to_asyncssh_server_with_mlkem1024nistp384() {
    nacre_client_to_asyncssh_server(KexMethod::MlKem1024NistP384Sha384).await;
}

async fn nacre_client_to_asyncssh_server(kex: KexMethod) {
    let name = kex.name();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("asyncssh-server.log");
    let mut cmd = Command::new(venv_python());
    cmd.args(["-c", SERVER, TEST_USER, TEST_PASSWORD, name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let mut server = ChildGuard::spawn_group("asyncssh server", &mut cmd);
    let (port, host_key_line) = server_hello(&mut server);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let host_key = PublicKey::from_openssh_line(&host_key_line).unwrap().0;
    // nacre's default client list (mlkem768x25519-sha256 its first choice), plus `kex` if opt-in.
    let config = client_config(kex);
    assert_eq!(config.algorithms.kex[0], KexMethod::MlKem768X25519Sha256);
    let mut conn = Connection::connect(
        ("127.0.0.1", port),
        ClientConfig {
            transport: Arc::new(config),
            verify_host_key: Arc::new(move |k: &PublicKey| *k == host_key),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n--- AsyncSSH log ---\n{}", log()));
    let info = conn.info().clone();
    assert_eq!(info.negotiated.unwrap().kex, kex);
    assert!(
        info.peer_identification.starts_with("SSH-2.0-AsyncSSH_"),
        "{}",
        info.peer_identification
    );
    assert_eq!(
        info.session_id.len(),
        kex.hash().output_len(),
        "the method's exchange hash"
    );

    let auth = conn
        .authenticate_password(TEST_USER, TEST_PASSWORD)
        .await
        .unwrap();
    assert!(matches!(auth, AuthResult::Success), "{auth:?}\n{}", log());
    let out = tokio::time::timeout(T, conn.exec("first"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "asyncssh ran: first\n"
    );

    // A second exchange with the method over the encrypted connection, then more traffic.
    tokio::time::timeout(T, conn.rekey())
        .await
        .unwrap()
        .unwrap();
    let out = tokio::time::timeout(T, conn.exec("after rekey"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "asyncssh ran: after rekey\n"
    );
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;

    let text = log();
    assert!(says_kex(&text, name), "{text}");
    let exchanges = text
        .lines()
        .filter(|l| l.trim_end().ends_with(&format!("Key exchange alg: {name}")))
        .count();
    assert_eq!(exchanges, 2, "initial exchange and rekey\n{text}");
}

#[test]
fn asyncssh_client_to_nacre_server_with_mlkem768x25519() {
    asyncssh_client_to_nacre_server(KexMethod::MlKem768X25519Sha256);
}

#[test]
fn asyncssh_client_to_nacre_server_with_mlkem768nistp256() {
    asyncssh_client_to_nacre_server(KexMethod::MlKem768NistP256Sha256);
}

#[test]
fn asyncssh_client_to_nacre_server_with_mlkem1024nistp384() {
    asyncssh_client_to_nacre_server(KexMethod::MlKem1024NistP384Sha384);
}

/// A nacre server with its defaults (plus `kex` when opt-in); an AsyncSSH client offering only
/// `kex`.
fn asyncssh_client_to_nacre_server(kex: KexMethod) {
    ensure_test_user();
    let mut policy = UsersPolicy::new();
    policy.insert(
        TEST_USER,
        User {
            password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
            ..User::default()
        },
    );
    // nacre's default server configuration (mlkem768x25519-sha256 first), `kex` added.
    let server = NacreServer::start_with_sessions(
        server_config(kex),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
        SessionConfig {
            allow_exec: true,
            ..SessionConfig::default()
        },
    );
    let mut cmd = Command::new(venv_python());
    cmd.args(["-c", CLIENT, &server.port().to_string()]).args([
        TEST_USER,
        TEST_PASSWORD,
        kex.name(),
    ]);
    let out = run_with_timeout(&mut cmd, T);
    assert!(
        out.success() && out.stdout.contains("OUTPUT nacre-mlkem-ok"),
        "{out}\nserver errors: {:?}",
        server.errors()
    );
    assert!(says_kex(&out.stderr, kex.name()), "{out}");
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].negotiated.unwrap().kex, kex);
    assert!(
        sessions[0]
            .peer_identification
            .starts_with("SSH-2.0-AsyncSSH_"),
        "{}",
        sessions[0].peer_identification
    );
}

/// Without forcing anything, AsyncSSH 2.24's client and nacre's server also settle on
/// mlkem768x25519-sha256 (AsyncSSH has no sntrup761 without liboqs, and lists ML-KEM first).
#[test]
fn asyncssh_client_defaults_choose_mlkem768x25519_with_nacre() {
    let server = NacreServer::start(Config::server(nacre_testkit::all_host_keys()));
    let script = r#"
import asyncio, sys
import asyncssh
async def main():
    try:
        async with asyncssh.connect("127.0.0.1", port=int(sys.argv[1]), username="nobody",
                                    password="wrong", known_hosts=None, client_keys=None) as conn:
            pass
    except asyncssh.PermissionDenied:
        print("DENIED")
asyncio.run(main())
"#;
    let mut cmd = Command::new(venv_python());
    cmd.args(["-c", script, &server.port().to_string()]);
    let out = run_with_timeout(&mut cmd, T);
    assert!(out.stdout.contains("DENIED"), "{out}");
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 1, "{out}");
    assert_eq!(
        sessions[0].negotiated.unwrap().kex,
        KexMethod::MlKem768X25519Sha256
    );
}
