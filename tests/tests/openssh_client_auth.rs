//! OpenSSH's `ssh` authenticating to the nacre server: password, each key type, keyboard-interactive,
//! a publickey-then-password policy, refusals and MaxAuthTries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use nacre::auth::msg::{InfoRequest, Prompt};
use nacre::auth::{AuthServerConfig, MethodKind};
use nacre::keys::PublicKey;
use nacre::transport::Config;
use nacre::{AuthContext, AuthPolicy, KeyboardAnswer, PasswordCheck};
use nacre_tests::{
    authorized_client_key, KeyType, NacreServer, OpenSshClient, TEST_PASSWORD, TEST_USER,
};
use zeroize::Zeroizing;

const T: Duration = Duration::from_secs(60);

struct TestPolicy {
    keys: Vec<PublicKey>,
}

impl AuthPolicy for TestPolicy {
    fn password(&self, ctx: &AuthContext, password: &str) -> PasswordCheck {
        if ctx.user == TEST_USER && password == TEST_PASSWORD {
            PasswordCheck::Accept
        } else {
            PasswordCheck::Reject
        }
    }
    fn publickey(&self, ctx: &AuthContext, key: &PublicKey) -> bool {
        ctx.user == TEST_USER && self.keys.contains(key)
    }
    fn keyboard_interactive(&self, _ctx: &AuthContext, _submethods: &str) -> Option<InfoRequest> {
        Some(InfoRequest {
            prompts: vec![Prompt {
                prompt: "Password: ".into(),
                echo: false,
            }],
            ..InfoRequest::default()
        })
    }
    fn keyboard_responses(
        &self,
        ctx: &AuthContext,
        responses: &[Zeroizing<String>],
    ) -> KeyboardAnswer {
        if ctx.user == TEST_USER && responses.len() == 1 && *responses[0] == TEST_PASSWORD {
            KeyboardAnswer::Accept
        } else {
            KeyboardAnswer::Reject
        }
    }
}

fn server(auth: AuthServerConfig) -> (NacreServer, tempfile::TempDir) {
    let keys = KeyType::ALL
        .iter()
        .map(|&kt| {
            PublicKey::from_openssh_line(&authorized_client_key(kt).pub_line)
                .unwrap()
                .0
        })
        .collect();
    let server = NacreServer::start_with_auth(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..auth
        },
        Arc::new(TestPolicy { keys }),
    );
    let dir = tempfile::tempdir().unwrap();
    server.write_known_hosts(&dir.path().join("known_hosts"));
    (server, dir)
}

fn ssh(server: &NacreServer, dir: &tempfile::TempDir) -> OpenSshClient {
    OpenSshClient::new(server.port())
        .verbose()
        .known_hosts(dir.path().join("known_hosts"))
        .command("true")
}

#[test]
fn password() {
    let (server, dir) = server(AuthServerConfig::default());
    let out = format!("{}", ssh(&server, &dir).test_password().run(T));
    assert!(
        out.contains("Authenticated to 127.0.0.1"),
        "{out}\nerrors {:?}",
        server.errors()
    );
    let users = server.users();
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].user.as_str(), users[0].methods.clone()),
        (TEST_USER, vec![MethodKind::Password])
    );
}

#[test]
fn wrong_password_is_refused() {
    let (server, dir) = server(AuthServerConfig::default());
    let out = format!("{}", ssh(&server, &dir).password("nope").run(T));
    assert!(out.contains("Permission denied"), "{out}");
    assert!(server.users().is_empty());
}

#[test]
fn every_key_type() {
    let (server, dir) = server(AuthServerConfig::default());
    for kt in KeyType::ALL {
        let pair = authorized_client_key(kt);
        let out = format!("{}", ssh(&server, &dir).identity(&pair.private).run(T));
        assert!(
            out.contains("Authenticated to 127.0.0.1"),
            "{kt:?}\n{out}\nerrors {:?}",
            server.errors()
        );
        let who = server.users().pop().unwrap();
        let expected = PublicKey::from_openssh_line(&pair.pub_line).unwrap().0;
        assert_eq!(who.key, Some(expected), "{kt:?}: the key that signed");
    }
}

#[test]
fn unknown_key_is_refused() {
    let (server, dir) = server(AuthServerConfig::default());
    let stranger = nacre_tests::KeyPair::generate(dir.path(), "stranger", KeyType::Ed25519);
    let out = format!("{}", ssh(&server, &dir).identity(&stranger.private).run(T));
    assert!(out.contains("Permission denied"), "{out}");
    assert!(server.users().is_empty());
}

#[test]
fn keyboard_interactive() {
    let (server, dir) = server(AuthServerConfig::default());
    let client = ssh(&server, &dir)
        .option("PreferredAuthentications", "keyboard-interactive")
        .option("KbdInteractiveAuthentication", "yes")
        .test_password();
    let out = format!("{}", client.run(T));
    assert!(
        out.contains("Authenticated to 127.0.0.1"),
        "{out}\nerrors {:?}",
        server.errors()
    );
    assert_eq!(
        server.users()[0].methods,
        vec![MethodKind::KeyboardInteractive]
    );
}

#[test]
fn publickey_then_password() {
    let (server, dir) = server(AuthServerConfig {
        methods: vec![vec![MethodKind::PublicKey, MethodKind::Password]],
        ..AuthServerConfig::default()
    });
    let pair = authorized_client_key(KeyType::Ed25519);
    let client = ssh(&server, &dir)
        .option("PubkeyAuthentication", "yes")
        .option("PreferredAuthentications", "publickey,password")
        .identity(&pair.private)
        .test_password();
    let out = format!("{}", client.run(T));
    assert!(
        out.contains("Authenticated using \"publickey\" with partial success"),
        "{out}"
    );
    assert!(
        out.contains("Authenticated to 127.0.0.1"),
        "{out}\nerrors {:?}",
        server.errors()
    );
    assert_eq!(
        server.users()[0].methods,
        vec![MethodKind::PublicKey, MethodKind::Password]
    );
}

#[test]
fn max_auth_tries_is_enforced() {
    let (server, dir) = server(AuthServerConfig {
        max_tries: 2,
        ..AuthServerConfig::default()
    });
    // Three keys the server does not know: each refused query counts as a failed attempt.
    let mut client = ssh(&server, &dir).option("PubkeyAuthentication", "yes");
    for i in 0..3 {
        let k =
            nacre_tests::KeyPair::generate(dir.path(), &format!("stranger{i}"), KeyType::Ed25519);
        client = client.arg("-i").arg(k.private.to_str().unwrap());
    }
    let out = format!("{}", client.option("IdentitiesOnly", "yes").run(T));
    assert!(
        out.contains("too many authentication failures (2)"),
        "{out}"
    );
    assert!(server.users().is_empty());
    let errors = server.errors();
    assert!(
        errors
            .iter()
            .any(|e| e.contains("too many authentication failures (2)")),
        "{errors:?}"
    );
}
