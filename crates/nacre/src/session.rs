//! Server side of session channels (RFC 4254 §6): `exec` and `shell` run real processes with the
//! channel as stdin/stdout/stderr and report the exit status or signal; `env` by allowlist;
//! `subsystem` through a registry (SFTP plugs in there). Processes run as the authenticated user
//! (through `runuser`) when the server runs as root, else as the server's own user.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;

use nacre_connection::RequestKind;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::channel::{Channel, IncomingRequest};

/// A subsystem: takes the channel once the request was accepted.
pub type SubsystemHandler =
    Arc<dyn Fn(Channel) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What sessions may do.
#[derive(Clone, Default)]
pub struct SessionConfig {
    /// Allow `exec` and `shell`.
    pub allow_exec: bool,
    /// Environment variables a client may set (`env` requests), like sshd's AcceptEnv.
    pub accept_env: Vec<String>,
    /// Subsystems by name.
    pub subsystems: HashMap<String, SubsystemHandler>,
}

/// Serves one accepted session channel for `user` until it closes.
pub async fn serve_session(channel: Channel, user: String, config: Arc<SessionConfig>) {
    let mut env: Vec<(String, String)> = Vec::new();
    while let Some(req) = channel.next_request().await {
        match &req.request {
            RequestKind::Env { name, value } => {
                let ok = config.accept_env.iter().any(|a| a == name);
                if ok {
                    env.push((name.clone(), value.clone()));
                }
                let _ = channel.reply(&req, ok);
            }
            RequestKind::Exec { command } if config.allow_exec => {
                let command = String::from_utf8_lossy(command).into_owned();
                return run(channel, &req, &user, Some(&command), env).await;
            }
            RequestKind::Shell if config.allow_exec => {
                return run(channel, &req, &user, None, env).await
            }
            RequestKind::Subsystem { name } => match config.subsystems.get(name) {
                Some(handler) => {
                    let _ = channel.reply(&req, true);
                    return handler(channel).await;
                }
                None => {
                    let _ = channel.reply(&req, false);
                }
            },
            _ => {
                // pty-req, x11-req, auth-agent-req, signal before a process, ...: refused.
                let _ = channel.reply(&req, false);
            }
        }
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// The passwd entry of `user`: (uid, gid, home, shell).
fn passwd_entry(user: &str) -> Option<(String, String, String, String)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        match f.as_slice() {
            [name, _, uid, gid, _, home, shell, ..] if *name == user => Some((
                (*uid).to_owned(),
                (*gid).to_owned(),
                (*home).to_owned(),
                (*shell).to_owned(),
            )),
            _ => None,
        }
    })
}

/// The process for a session: `sh -c COMMAND` (or a login shell), with a clean environment like
/// sshd's. As root, `setpriv` switches to the user's uid, gid and groups and then *execs* the
/// shell, so an exit status or signal is the command's own.
fn command_for(user: &str, command: Option<&str>) -> Command {
    let entry = passwd_entry(user);
    let shell = entry.as_ref().map_or("/bin/sh".to_owned(), |e| e.3.clone());
    let mut argv: Vec<String> = match command {
        Some(c) => vec![shell.clone(), "-c".into(), c.into()],
        None => vec![shell.clone(), "-l".into()],
    };
    if is_root() && user != "root" {
        if let Some((uid, gid, _, _)) = &entry {
            let mut prefix = vec![
                "setpriv".to_owned(),
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--init-groups".into(),
                "--".into(),
            ];
            prefix.append(&mut argv);
            argv = prefix;
        }
    }
    let mut cmd = Command::new(argv.first().map_or("sh", String::as_str));
    cmd.args(argv.get(1..).unwrap_or(&[]));
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("USER", user)
        .env("LOGNAME", user)
        .env("SHELL", &shell);
    if let Some((_, _, home, _)) = &entry {
        cmd.current_dir(home).env("HOME", home);
    }
    cmd
}

async fn run(
    channel: Channel,
    req: &IncomingRequest,
    user: &str,
    command: Option<&str>,
    env: Vec<(String, String)>,
) {
    let mut cmd = command_for(user, command);
    cmd.envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the command");
            let _ = channel.reply(req, false);
            let _ = channel.close();
            return;
        }
    };
    let _ = channel.reply(req, true);
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return;
    };
    let (mut out_w, mut err_w) = (channel.writer(), channel.stderr_writer());
    let mut channel = channel;
    let status = {
        let outputs = async {
            let _ = tokio::join!(
                tokio::io::copy(&mut stdout, &mut out_w),
                tokio::io::copy(&mut stderr, &mut err_w)
            );
            let _ = out_w.flush().await;
            let _ = err_w.flush().await;
            child.wait().await
        };
        tokio::pin!(outputs);
        let input = async {
            let _ = tokio::io::copy(&mut channel, &mut stdin).await;
            drop(stdin);
        };
        // The command's end ends the session even if the client never closes stdin (RFC 4254 §6.10).
        tokio::select! {
            status = &mut outputs => status,
            () = input => outputs.await,
        }
    };
    let exit = match status {
        Ok(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
            (Some(code), _) => RequestKind::ExitStatus {
                code: u32::try_from(code).unwrap_or(255),
            },
            (None, Some(sig)) => RequestKind::ExitSignal {
                name: signal_name(sig).to_owned(),
                core_dumped: false,
                message: String::new(),
            },
            (None, None) => RequestKind::ExitStatus { code: 255 },
        },
        Err(_) => RequestKind::ExitStatus { code: 255 },
    };
    tracing::debug!(?exit, "command finished");
    let _ = channel.request(exit, false).await;
    let _ = channel.eof();
    let _ = channel.close();
}

/// RFC 4254 §6.10 signal names.
fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        4 => "ILL",
        6 => "ABRT",
        8 => "FPE",
        9 => "KILL",
        10 => "USR1",
        11 => "SEGV",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => "USR2",
    }
}
