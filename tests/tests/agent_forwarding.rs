//! Agent forwarding (`auth-agent-req@openssh.com` / `auth-agent@openssh.com`, OpenSSH
//! PROTOCOL.agent) through real peers: OpenSSH's `ssh` with ForwardAgent into the nacre server
//! (the remote `ssh-add -l` lists, and `ssh-keygen -Y sign` signs with, the local agent's key;
//! the socket belongs to the user and disappears with the session), the nacre client into
//! OpenSSH's sshd, and nacre against nacre; and the refusals: a server that does not allow it,
//! `no-agent-forwarding` / `restrict` keys, and a client that did not offer its agent.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::keys::{AuthorizedKeys, PublicKey};
use nacre::transport::Config;
use nacre::{
    hash_password, AuthResult, ClientConfig, Connection, ExitStatus, ServerConfig, SessionConfig,
    User, UsersPolicy,
};
use nacre_tests::{
    authorized_client_key, ensure_test_user, start_agent, KeyType, NacreServer, OpenSshClient,
    OpenSshServer, TEST_PASSWORD, TEST_USER,
};
use tokio::io::AsyncReadExt;

const T: Duration = Duration::from_secs(60);

/// The SHA-256 fingerprint of the authorized client key of `kt`, as `ssh-add -l` prints it.
fn fingerprint(kt: KeyType) -> String {
    let (key, _) = PublicKey::from_openssh_line(&authorized_client_key(kt).pub_key()).unwrap();
    key.fingerprint_sha256()
}

/// A nacre server running commands, with agent forwarding as `allow`; `policy` decides logins.
fn server(allow: bool, policy: UsersPolicy) -> NacreServer {
    ensure_test_user();
    NacreServer::start_with_server(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
        ServerConfig {
            session: Arc::new(SessionConfig {
                allow_exec: true,
                allow_agent_forwarding: allow,
                ..SessionConfig::default()
            }),
            ..ServerConfig::default()
        },
    )
}

fn password_users() -> UsersPolicy {
    let mut policy = UsersPolicy::new();
    policy.insert(
        TEST_USER,
        User {
            password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
            ..User::default()
        },
    );
    policy
}

/// `ssh -o ForwardAgent=yes` with the agent at `agent` (ssh forwards only an agent it can reach,
/// and the harness's `IdentityAgent=none` comes after this first, winning value) running `command` on the nacre server.
fn ssh_with_agent(server: &NacreServer, agent: &Path, command: &str) -> nacre_tests::CmdOutput {
    OpenSshClient::new(server.port())
        .test_password()
        .option("IdentityAgent", &agent.display().to_string())
        .option("ForwardAgent", "yes")
        .command(command)
        .run(T)
}

/// Prints the agent's keys, the socket and its directory's owner and mode.
const SHOW_AGENT: &str = "ssh-add -l; echo \"sock=${SSH_AUTH_SOCK:-none}\"; \
     [ -n \"$SSH_AUTH_SOCK\" ] && stat -c 'dir=%U %a' \"$(dirname \"$SSH_AUTH_SOCK\")\"; true";

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

#[test]
fn openssh_client_reaches_its_agent_through_the_nacre_server() {
    let server = server(true, password_users());
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = start_agent(dir.path(), &[KeyType::Ed25519, KeyType::EcdsaP256]);

    let out = ssh_with_agent(&server, &sock, SHOW_AGENT);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains(&fingerprint(KeyType::Ed25519)), "{out}");
    assert!(
        out.stdout.contains(&fingerprint(KeyType::EcdsaP256)),
        "{out}"
    );
    // The socket is the user's alone, in a directory of its own...
    assert_eq!(
        field(&out.stdout, "dir="),
        format!("{TEST_USER} 700"),
        "{out}"
    );
    // ... which is gone once the session ended.
    let sock_path = field(&out.stdout, "sock=").to_owned();
    let parent = Path::new(&sock_path).parent().unwrap().to_path_buf();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while parent.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !parent.exists(),
        "{} outlived its session",
        parent.display()
    );

    // Signing through the forwarded agent, two agent connections at once.
    let pub_line = authorized_client_key(KeyType::Ed25519).pub_key();
    let sign = format!(
        "f=$(mktemp); echo '{pub_line}' > \"$f\"; \
         (echo one | ssh-keygen -Y sign -n file -f \"$f\" > \"$f.1\") & \
         (echo two | ssh-keygen -Y sign -n file -f \"$f\" > \"$f.2\") & wait; \
         cat \"$f.1\" \"$f.2\"; rm -f \"$f\" \"$f.1\" \"$f.2\""
    );
    let out = ssh_with_agent(&server, &sock, &sign);
    assert!(out.success(), "{out}");
    assert_eq!(
        out.stdout.matches("-----BEGIN SSH SIGNATURE-----").count(),
        2,
        "{out}"
    );
}

#[test]
fn the_nacre_server_refuses_agent_forwarding_when_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = start_agent(dir.path(), &[KeyType::Ed25519]);
    // Off in the server's configuration.
    let off = server(false, password_users());
    let out = ssh_with_agent(&off, &sock, "echo \"sock=${SSH_AUTH_SOCK:-none}\"");
    assert_eq!(field(&out.stdout, "sock="), "none", "{out}");

    // Off for keys with `no-agent-forwarding` or `restrict`; on for a plain key.
    let plain = authorized_client_key(KeyType::Ed25519);
    let limited = authorized_client_key(KeyType::EcdsaP256);
    let restricted = authorized_client_key(KeyType::Rsa3072);
    let text = format!(
        "{}\nno-agent-forwarding {}\nrestrict {}\n",
        plain.pub_key(),
        limited.pub_key(),
        restricted.pub_key()
    );
    let (keys, errors) = AuthorizedKeys::parse(&text);
    assert!(errors.is_empty(), "{errors:?}");
    let mut users = UsersPolicy::new();
    users.insert(
        TEST_USER,
        User {
            password_hash: None,
            authorized_keys: keys,
        },
    );
    let on = server(true, users);
    let with_key = |pair: &nacre_tests::KeyPair| {
        OpenSshClient::new(on.port())
            .identity(&pair.private)
            .option("IdentityAgent", &sock.display().to_string())
            .option("ForwardAgent", "yes")
            .command("echo \"sock=${SSH_AUTH_SOCK:-none}\"")
            .run(T)
    };
    let out = with_key(&plain);
    assert_ne!(field(&out.stdout, "sock="), "none", "{out}");
    let out = with_key(&limited);
    assert_eq!(field(&out.stdout, "sock="), "none", "{out}");
    let out = with_key(&restricted);
    assert_eq!(field(&out.stdout, "sock="), "none", "{out}");
}

/// Runs `command` in a session that asked for agent forwarding; `agent`: the local agent the
/// connection serves (`None`: the client asks but serves nothing).
async fn exec_forwarding(
    conn: &Connection,
    agent: Option<&Path>,
    command: &str,
) -> (String, Option<ExitStatus>) {
    if let Some(a) = agent {
        conn.forward_agent(a);
    }
    let mut ch = conn.open_session().await.unwrap();
    ch.request_agent_forwarding().await.unwrap();
    ch.exec(command).await.unwrap();
    ch.eof().unwrap();
    let mut out = String::new();
    tokio::time::timeout(T, ch.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    (out, ch.exit_status().await)
}

async fn connect_with_password(port: u16) -> Connection {
    let cfg = ClientConfig {
        transport: Arc::new(Config::client()),
        verify_host_key: Arc::new(|_| true),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_client_forwards_its_agent_to_sshd() {
    ensure_test_user();
    let sshd = OpenSshServer::start(&[KeyType::Ed25519], &[]);
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = start_agent(dir.path(), &[KeyType::Ed25519]);
    let conn = connect_with_password(sshd.port()).await;
    let (out, status) = exec_forwarding(&conn, Some(&sock), "ssh-add -l").await;
    assert_eq!(status, Some(ExitStatus::Code(0)), "{out}\n{}", sshd.log());
    assert!(out.contains(&fingerprint(KeyType::Ed25519)), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nacre_to_nacre_and_a_client_that_offers_no_agent() {
    let server = server(true, password_users());
    let dir = tempfile::tempdir().unwrap();
    let (_agent, sock) = start_agent(dir.path(), &[KeyType::EcdsaP256]);
    let conn = connect_with_password(server.port()).await;
    let (out, status) = exec_forwarding(&conn, Some(&sock), "ssh-add -l").await;
    assert_eq!(status, Some(ExitStatus::Code(0)), "{out}");
    assert!(out.contains(&fingerprint(KeyType::EcdsaP256)), "{out}");

    // A client that asks without serving its agent refuses the server's agent channels: the
    // remote ssh-add finds no agent, and the connection goes on.
    let conn = connect_with_password(server.port()).await;
    let (out, status) = exec_forwarding(&conn, None, "ssh-add -l 2>&1").await;
    assert!(
        matches!(status, Some(ExitStatus::Code(c)) if c != 0),
        "{status:?} {out}"
    );
    assert!(!out.contains("SHA256:"), "{out}");
    let after = conn.exec("echo still here").await.unwrap();
    assert_eq!(after.stdout, b"still here\n");
}
