//! OpenSSH's `ssh` running commands on the nacre server: stdout and stderr kept apart, stdin piped,
//! exit codes 0, 1 and 42, a command killed by a signal, env by allowlist, commands run as the
//! authenticated Unix user.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::{hash_password, SessionConfig, User, UsersPolicy};
use nacre_tests::{
    ensure_test_user, run_with_input, NacreServer, OpenSshClient, TEST_PASSWORD, TEST_USER,
};

const T: Duration = Duration::from_secs(60);

/// A Unix user that belongs to a supplementary group, made once (idempotent; needs root).
const GROUPED_USER: &str = "nacre-grouped";
const EXTRA_GROUP: &str = "nacre-extra";

fn ensure_grouped_user() {
    let run = |args: &[&str]| {
        let status = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .unwrap();
        assert!(status.success(), "{args:?}");
    };
    run(&["groupadd", "-f", EXTRA_GROUP]);
    let exists = std::process::Command::new("id")
        .arg(GROUPED_USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let _ = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", "-G", EXTRA_GROUP, GROUPED_USER])
            .status();
    }
    run(&["usermod", "-a", "-G", EXTRA_GROUP, GROUPED_USER]);
}

fn start() -> (NacreServer, tempfile::TempDir) {
    ensure_test_user();
    ensure_grouped_user();
    let mut policy = UsersPolicy::new();
    for user in [TEST_USER, GROUPED_USER] {
        policy.insert(
            user,
            User {
                password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
                ..User::default()
            },
        );
    }
    let sessions = SessionConfig {
        allow_exec: true,
        accept_env: vec!["NACRE_TEST".into()],
        ..SessionConfig::default()
    };
    let server = NacreServer::start_with_sessions(
        Config::server(nacre_testkit::all_host_keys()),
        AuthServerConfig {
            failure_delay: Duration::from_millis(10),
            ..AuthServerConfig::default()
        },
        Arc::new(policy),
        sessions,
    );
    let dir = tempfile::tempdir().unwrap();
    server.write_known_hosts(&dir.path().join("known_hosts"));
    (server, dir)
}

fn ssh(server: &NacreServer, dir: &tempfile::TempDir, command: &str) -> OpenSshClient {
    OpenSshClient::new(server.port())
        .known_hosts(dir.path().join("known_hosts"))
        .test_password()
        .command(command)
}

#[test]
fn exit_codes_stdout_stderr_and_user() {
    let (server, dir) = start();
    for code in [0, 1, 42] {
        let out = ssh(
            &server,
            &dir,
            &format!("echo out; echo err >&2; exit {code}"),
        )
        .run(T);
        assert_eq!(out.status.code(), Some(code), "{out}");
        assert_eq!(out.stdout, "out\n", "{out}");
        assert_eq!(out.stderr, "err\n", "{out}");
    }
    let out = ssh(&server, &dir, "id -un; pwd").run(T);
    assert_eq!(
        out.stdout,
        format!("{TEST_USER}\n{}\n", nacre_tests::test_user_home().display()),
        "{out}"
    );
}

/// `id` output of a command run for `user` by the nacre server.
fn id_of(server: &NacreServer, dir: &tempfile::TempDir, user: &str) -> String {
    let out = ssh(server, dir, "id -u; id -g; id -G").user(user).run(T);
    assert!(out.success(), "{out}");
    out.stdout
}

/// Like `id` outside: `id -u`, `id -g` and `id -G` of `user` from the system's databases.
fn expected_ids(user: &str) -> String {
    let id = |flag: &str| {
        let out = std::process::Command::new("id")
            .args([flag, user])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    format!("{}{}{}", id("-u"), id("-g"), id("-G"))
}

#[test]
fn commands_run_with_the_users_ids_and_groups() {
    let (server, dir) = start();
    // No supplementary group: the uid and gid switched in process (std drops root's groups).
    assert_eq!(id_of(&server, &dir, TEST_USER), expected_ids(TEST_USER));
    // With one: through `setpriv --init-groups`, which sets them like sshd's initgroups.
    let grouped = id_of(&server, &dir, GROUPED_USER);
    assert_eq!(grouped, expected_ids(GROUPED_USER));
    assert_eq!(
        grouped.lines().nth(2).unwrap().split(' ').count(),
        2,
        "{grouped}"
    );
}

#[test]
fn stdin_is_piped() {
    let (server, dir) = start();
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut cmd = ssh(&server, &dir, "sha256sum").build();
    let out = run_with_input(&mut cmd, Some(&data), T);
    let expected = {
        let mut c = std::process::Command::new("sha256sum");
        run_with_input(&mut c, Some(&data), T).stdout
    };
    assert_eq!(out.stdout, expected, "{out}");
}

#[test]
fn killed_by_a_signal() {
    let (server, dir) = start();
    let out = ssh(&server, &dir, "kill -KILL $$").run(T);
    // OpenSSH's ssh exits with 255 when the remote command died of a signal.
    assert_eq!(out.status.code(), Some(255), "{out}");
}

#[test]
fn env_by_allowlist() {
    let (server, dir) = start();
    let client = ssh(
        &server,
        &dir,
        "echo ${NACRE_TEST:-unset} ${OTHER_VAR:-unset}",
    )
    .option("SetEnv", "NACRE_TEST=yes OTHER_VAR=no");
    let out = client.run(T);
    assert_eq!(out.stdout, "yes unset\n", "{out}");
}

/// OpenSSH connection sharing: a master connection, then 10 commands as new sessions over it.
#[test]
fn connection_sharing_runs_commands_over_one_connection() {
    let (server, dir) = start();
    let control = dir.path().join("ctl");
    let master = ssh(&server, &dir, "")
        .option("ControlMaster", "yes")
        .option("ControlPath", control.to_str().unwrap())
        .arg("-N")
        .build();
    let mut master_cmd = master;
    let _guard = nacre_tests::ChildGuard::spawn("ssh master", &mut master_cmd);
    for _ in 0..200 {
        if control.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        control.exists(),
        "the master did not create its control socket"
    );
    for i in 0..10 {
        let out = OpenSshClient::new(server.port())
            .known_hosts(dir.path().join("known_hosts"))
            .option("ControlPath", control.to_str().unwrap())
            .option("ControlMaster", "no")
            .command(&format!("echo shared-{i}"))
            .run(T);
        assert_eq!(out.stdout, format!("shared-{i}\n"), "{out}");
    }
    assert_eq!(
        server.sessions().len(),
        1,
        "all ten commands went over the master connection"
    );
}
