//! Server side of session channels (RFC 4254 §6): `exec` and `shell` run real processes with the
//! channel as stdin/stdout/stderr and report the exit status or signal; `env` by allowlist;
//! `subsystem` through a registry (SFTP plugs in there). When the server runs as root, processes
//! run as the account the login acts as ([`crate::ActAs`], through `setpriv`), else as the
//! server's own user; a login that resolves to no account gets no command, shell or subsystem.
//!
//! A `pty-req` before `exec`/`shell` makes the process run on a pseudo-terminal (see
//! [`crate::pty`]): one output stream, TERM set, `window-change` resizing it. While a process
//! runs, `signal` requests reach it (its process group, as with sshd).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nacre_connection::RequestKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::account::{Account, ActAs, Acting};
use crate::agent_forward::AgentSocket;
use crate::channel::{Channel, ChannelWriter, IncomingRequest};
use crate::pty::{self, PtyRequest, SlaveOwner, WindowSize};

/// After a pty process exited, how long its output may stay silent before the session ends
/// anyway (a background job can keep the terminal open forever).
const PTY_DRAIN_IDLE: Duration = Duration::from_millis(300);
/// After the channel closed under a running pty process, how long the process has to leave
/// after the hangup (SIGHUP) before it is killed.
const PTY_HANGUP_GRACE: Duration = Duration::from_secs(2);

/// A subsystem: takes the channel once the request was accepted, and who the session is for.
pub type SubsystemHandler =
    Arc<dyn Fn(Channel, SessionUser) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Who a session serves: the login name and the account its work acts as.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// The name the client authenticated as.
    pub login: String,
    /// Whose rights the session's files and processes have ([`SessionConfig::act_as`]).
    pub acting: Acting,
    /// Budgets the session's SFTP handles count against besides its own cap (its connection's,
    /// its user's, the server's: [`crate::HandleLimits`]); empty outside a [`crate::Server`].
    pub handle_budgets: Vec<Arc<nacre_sftp::HandleBudget>>,
}

/// What sessions may do.
#[derive(Clone)]
pub struct SessionConfig {
    /// Allow `exec` and `shell`.
    pub allow_exec: bool,
    /// Accept `pty-req` (default: true): `exec`/`shell` then run on a pseudo-terminal.
    pub allow_pty: bool,
    /// Environment variables a client may set (`env` requests), like sshd's AcceptEnv.
    pub accept_env: Vec<String>,
    /// Subsystems served in this process, by name.
    pub subsystems: HashMap<String, SubsystemHandler>,
    /// Subsystems served by a command, by name (sshd's `Subsystem NAME COMMAND`): the command runs
    /// like an `exec`, as the authenticated user, with the channel as its stdin and stdout, even
    /// where `allow_exec` is off. `subsystems` is looked up first.
    pub subsystem_commands: HashMap<String, String>,
    /// Accept `auth-agent-req@openssh.com` (sshd's AllowAgentForwarding; default: false): the
    /// session's commands reach the client's agent through `SSH_AUTH_SOCK`.
    pub allow_agent_forwarding: bool,
    /// Which Unix account a login's files and processes act as when the server runs as root
    /// (default: the login's own account; none for a login without one, or root).
    pub act_as: ActAs,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            allow_exec: false,
            allow_pty: true,
            accept_env: Vec::new(),
            subsystems: HashMap::new(),
            subsystem_commands: HashMap::new(),
            allow_agent_forwarding: false,
            act_as: ActAs::default(),
        }
    }
}

/// Serves one accepted session channel for `user` until it closes.
pub async fn serve_session(channel: Channel, user: String, config: Arc<SessionConfig>) {
    serve_session_for_key(channel, user, config, None).await;
}

/// Like [`serve_session`] for a user who logged in with a key whose `authorized_keys` options
/// apply, as sshd does: `no-pty` (and `restrict`) refuse a pty, and `command="..."` replaces
/// whatever the client asks to run (exec, shell or subsystem), with the client's command in
/// `SSH_ORIGINAL_COMMAND`, and `no-agent-forwarding` refuses agent forwarding. A forced command
/// runs only where the server allows commands at all (`allow_exec`); otherwise those requests
/// are refused.
pub async fn serve_session_for_key(
    channel: Channel,
    user: String,
    config: Arc<SessionConfig>,
    key: Option<Arc<nacre_keys::KeyOptions>>,
) {
    serve_session_with(channel, user, config, key, Vec::new()).await;
}

/// [`serve_session_for_key`] with the budgets its SFTP handles count against.
pub(crate) async fn serve_session_with(
    channel: Channel,
    user: String,
    config: Arc<SessionConfig>,
    key: Option<Arc<nacre_keys::KeyOptions>>,
    handle_budgets: Vec<Arc<nacre_sftp::HandleBudget>>,
) {
    let forced = key.as_ref().and_then(|k| k.command.clone());
    let pty_allowed = config.allow_pty && key.as_ref().is_none_or(|k| k.pty);
    let agent_allowed =
        config.allow_agent_forwarding && key.as_ref().is_none_or(|k| k.agent_forwarding);
    let acting = match config.act_as.resolve(&user) {
        Ok(acting) => acting,
        Err(why) => {
            tracing::warn!(login = %user, reason = %why, "no account to act as: session refused");
            return refuse_all(&channel).await;
        }
    };
    let who = SessionUser {
        login: user,
        acting,
        handle_budgets,
    };
    let mut agent: Option<AgentSocket> = None;
    let mut env: Vec<(String, String)> = Vec::new();
    let mut pty: Option<PtyRequest> = None;
    while let Some(req) = channel.next_request().await {
        if let RequestKind::AuthAgentReq = &req.request {
            let ok = agent_allowed && agent.is_none() && {
                agent = start_agent(&channel, &who.acting);
                agent.is_some()
            };
            let _ = channel.reply(&req, ok);
            continue;
        }
        match &req.request {
            RequestKind::Env { name, value } => {
                let ok = config.accept_env.iter().any(|a| a == name);
                if ok {
                    env.push((name.clone(), value.clone()));
                }
                let _ = channel.reply(&req, ok);
            }
            RequestKind::PtyReq {
                term,
                cols,
                rows,
                width_px,
                height_px,
                modes,
            } => {
                // One pty per session (RFC 4254 §6.2 allows refusing).
                let ok = pty_allowed && pty.is_none();
                if ok {
                    pty = Some(PtyRequest {
                        term: term.clone(),
                        size: WindowSize {
                            cols: *cols,
                            rows: *rows,
                            width_px: *width_px,
                            height_px: *height_px,
                        },
                        modes: modes.clone(),
                    });
                }
                let _ = channel.reply(&req, ok);
            }
            RequestKind::WindowChange {
                cols,
                rows,
                width_px,
                height_px,
            } => {
                // Before the shell starts: the pty will start at this size.
                if let Some(p) = pty.as_mut() {
                    p.size = WindowSize {
                        cols: *cols,
                        rows: *rows,
                        width_px: *width_px,
                        height_px: *height_px,
                    };
                }
                let _ = channel.reply(&req, pty.is_some());
            }
            RequestKind::Exec { .. } | RequestKind::Shell | RequestKind::Subsystem { .. }
                if forced.is_some() && config.allow_exec =>
            {
                let original = match &req.request {
                    RequestKind::Exec { command } => {
                        Some(String::from_utf8_lossy(command).into_owned())
                    }
                    _ => None,
                };
                if let Some(o) = original {
                    env.push(("SSH_ORIGINAL_COMMAND".to_owned(), o));
                }
                let env = with_agent(env, agent.as_ref());
                return run(channel, &req, &who, forced.as_deref(), env, pty).await;
            }
            RequestKind::Exec { command } if config.allow_exec => {
                let command = String::from_utf8_lossy(command).into_owned();
                let env = with_agent(env, agent.as_ref());
                return run(channel, &req, &who, Some(&command), env, pty).await;
            }
            RequestKind::Shell if config.allow_exec => {
                let env = with_agent(env, agent.as_ref());
                return run(channel, &req, &who, None, env, pty).await;
            }
            RequestKind::Subsystem { name } => {
                if let Some(handler) = config.subsystems.get(name) {
                    let _ = channel.reply(&req, true);
                    // Requests on a channel whose subsystem runs (another exec, a pty) are
                    // refused, as sshd refuses them once a program runs: unanswered, a client
                    // waiting for the reply would hang (found by `nacre conform ssh`).
                    let control = control_handle(&channel);
                    tokio::select! {
                        () = handler(channel, who) => {}
                        () = refuse_requests(&control) => {}
                    }
                    return;
                }
                if let Some(command) = config.subsystem_commands.get(name) {
                    let env = with_agent(env, agent.as_ref());
                    return run(channel, &req, &who, Some(command), env, None).await;
                }
                let _ = channel.reply(&req, false);
            }
            _ => {
                // x11-req, signal before a process, ...: refused.
                let _ = channel.reply(&req, false);
            }
        }
    }
}

/// Refuses every request of a session that may do nothing, until the channel closes.
async fn refuse_all(channel: &Channel) {
    while let Some(req) = channel.next_request().await {
        let _ = channel.reply(&req, false);
    }
}

/// The agent socket of a session whose client asked for agent forwarding; `None` (logged) if it
/// cannot be made.
fn start_agent(channel: &Channel, acting: &Acting) -> Option<AgentSocket> {
    let owner = acting.account().map(|a| (a.uid, a.gid));
    AgentSocket::listen(channel.opener(), owner)
        .map_err(|e| tracing::warn!(error = %e, "cannot make the agent socket"))
        .ok()
}

/// The session's environment with `SSH_AUTH_SOCK` last, so a client's `env` cannot replace it.
fn with_agent(
    mut env: Vec<(String, String)>,
    agent: Option<&AgentSocket>,
) -> Vec<(String, String)> {
    if let Some(a) = agent {
        env.push((
            "SSH_AUTH_SOCK".to_owned(),
            a.path().to_string_lossy().into_owned(),
        ));
    }
    env
}

/// The absolute path of util-linux's `setpriv`, if the system has it (looked up once).
fn setpriv() -> Option<&'static str> {
    static FOUND: std::sync::OnceLock<Option<&'static str>> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
    })
}

/// The process for a session: `sh -c COMMAND` (or a login shell), with a clean environment like
/// sshd's. As root, the process switches to the user's uid, gid and groups before it execs the
/// shell, so an exit status or signal is the command's own: through `setpriv --init-groups` (by
/// its absolute path) when the system has it, else directly (the standard library sets the gid
/// and uid and drops every supplementary group) when the user has no supplementary groups.
///
/// setpriv first, although it is one more exec: a command that sets no uid or gid is started
/// with `posix_spawn` (a vfork, which shares the server's memory until the exec), while setting
/// them makes the standard library fork, which copies the page tables of the whole server and
/// leaves every page of it copy-on-write until the child execs. Once transfers have grown the
/// server, a fork per login cost a quarter of the logins per second (docs/PERFORMANCE.md).
fn command_for(who: &SessionUser, command: Option<&str>) -> Command {
    // The account whose shell and home the process gets: the one it acts as, else the login's
    // own (a server not running as root runs everything as itself).
    let entry = match &who.acting {
        Acting::Account(a) => Some(a.clone()),
        Acting::ServerProcess => Account::lookup(&who.login),
    };
    let shell = entry
        .as_ref()
        .map_or("/bin/sh".to_owned(), |e| e.shell.clone());
    let mut argv: Vec<String> = match command {
        Some(c) => vec![shell.clone(), "-c".into(), c.into()],
        None => vec![shell.clone(), "-l".into()],
    };
    let mut ids = None;
    if let Some(a) = who.acting.account().filter(|a| !a.is_root()) {
        match setpriv() {
            None if a.groups.iter().all(|g| *g == a.gid) => ids = Some((a.uid, a.gid)),
            found => {
                let mut prefix = vec![
                    found.unwrap_or("setpriv").to_owned(),
                    format!("--reuid={}", a.uid),
                    format!("--regid={}", a.gid),
                    format!(
                        "--groups={}",
                        a.groups
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    "--".into(),
                ];
                prefix.append(&mut argv);
                argv = prefix;
            }
        }
    }
    let mut cmd = Command::new(argv.first().map_or("sh", String::as_str));
    cmd.args(argv.get(1..).unwrap_or(&[]));
    if let Some((uid, gid)) = ids {
        cmd.uid(uid).gid(gid);
    }
    let name = entry
        .as_ref()
        .map_or(who.login.as_str(), |e| e.name.as_str());
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("USER", name)
        .env("LOGNAME", name)
        .env("SHELL", &shell);
    if let Some(e) = &entry {
        // As sshd: a home that does not exist (nobody's /nonexistent) leaves the command in `/`.
        let dir = if e.home.is_dir() {
            e.home.as_path()
        } else {
            std::path::Path::new("/")
        };
        cmd.current_dir(dir).env("HOME", &e.home);
    }
    cmd
}

/// Who gets the pty slave: the account the session acts as (group `tty`), as sshd does;
/// otherwise it stays the server's.
fn slave_owner(acting: &Acting) -> Option<SlaveOwner> {
    let a = acting.account()?;
    Some(SlaveOwner {
        uid: a.uid,
        gid: pty::tty_group(a.gid),
    })
}

/// A second handle on `channel` for answering requests while the first one is read from; it
/// does not close the channel when dropped.
/// Answers every request on `channel` that wants a reply with failure, until it closes.
async fn refuse_requests(channel: &Channel) {
    while let Some(req) = channel.next_request().await {
        if req.want_reply {
            let _ = channel.reply(&req, false);
        }
    }
    // Closed: the subsystem's own end decides when the session is over.
    std::future::pending::<()>().await;
}

pub(crate) fn control_handle(channel: &Channel) -> Channel {
    Channel {
        id: channel.id,
        kind: channel.kind.clone(),
        shared: channel.shared.clone(),
        cmds: channel.cmds.clone(),
        close_on_drop: false,
        keep: None,
    }
}

/// Answers the requests that come while a process runs: `signal` (to the process group the
/// process leads, as sshd's killpg), `window-change` (on a pty); anything else is refused.
/// Returns once the channel closed.
async fn serve_requests(control: &Channel, pid: Option<u32>, pty_master: Option<&OwnedFd>) {
    while let Some(req) = control.next_request().await {
        let ok = match (&req.request, pty_master) {
            (
                RequestKind::WindowChange {
                    cols,
                    rows,
                    width_px,
                    height_px,
                },
                Some(master),
            ) => {
                let size = WindowSize {
                    cols: *cols,
                    rows: *rows,
                    width_px: *width_px,
                    height_px: *height_px,
                };
                pty::resize(master, size)
                    .map_err(|e| tracing::debug!(error = %e, "cannot resize the pty"))
                    .is_ok()
            }
            (RequestKind::Signal { name }, _) => match pid {
                Some(pid) => pty::send_signal(pid, name)
                    .map_err(|e| tracing::debug!(error = %e, signal = %name, "cannot signal"))
                    .is_ok(),
                None => false,
            },
            _ => false,
        };
        let _ = control.reply(&req, ok);
    }
}

async fn run(
    mut channel: Channel,
    req: &IncomingRequest,
    who: &SessionUser,
    command: Option<&str>,
    env: Vec<(String, String)>,
    pty: Option<PtyRequest>,
) {
    let mut cmd = command_for(who, command);
    cmd.envs(env).kill_on_drop(true);
    let status = match pty {
        Some(p) => {
            cmd.env("TERM", &p.term);
            run_on_pty(&mut channel, req, cmd, &p, slave_owner(&who.acting)).await
        }
        None => run_on_pipes(&mut channel, req, cmd).await,
    };
    let Some(status) = status else {
        return;
    };
    let exit = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(code), _) => RequestKind::ExitStatus {
                    code: u32::try_from(code).unwrap_or(255),
                },
                (None, Some(sig)) => RequestKind::ExitSignal {
                    // OpenSSH's name for a signal outside RFC 4254's list.
                    name: pty::signal_name(sig)
                        .unwrap_or("SIG@openssh.com")
                        .to_owned(),
                    core_dumped: s.core_dumped(),
                    message: String::new(),
                },
                (None, None) => RequestKind::ExitStatus { code: 255 },
            }
        }
        Err(_) => RequestKind::ExitStatus { code: 255 },
    };
    tracing::debug!(?exit, "command finished");
    let _ = channel.request(exit, false).await;
    let _ = channel.eof();
    let _ = channel.close();
}

/// Runs `cmd` with pipes: stdout as data, stderr as extended data. `None` if it could not start.
async fn run_on_pipes(
    channel: &mut Channel,
    req: &IncomingRequest,
    mut cmd: Command,
) -> Option<io::Result<std::process::ExitStatus>> {
    // Its own process group, as sshd's children (which call setsid): a `signal` request reaches
    // the whole command, and a terminal the server runs in does not.
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the command");
            let _ = channel.reply(req, false);
            let _ = channel.close();
            return None;
        }
    };
    let _ = channel.reply(req, true);
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return None;
    };
    let control = control_handle(channel);
    let pid = child.id();
    let requests = async {
        serve_requests(&control, pid, None).await;
        // The channel closed: the command still runs to its end, as before.
        std::future::pending::<Infallible>().await
    };
    let (out_w, err_w) = (channel.writer(), channel.stderr_writer());
    let outputs = async {
        // Each pipe is closed as soon as its copy ends: once the channel is gone, the command's
        // next write fails (SIGPIPE, as under sshd) instead of blocking forever on a full pipe
        // nobody reads, which would keep the process and its pipes alive.
        tokio::join!(forward(stdout, out_w), forward(stderr, err_w));
        child.wait().await
    };
    tokio::pin!(outputs);
    let eow = channel.requester();
    let input = async {
        if tokio::io::copy(channel, &mut stdin).await.is_err() {
            // The command closed its input: the client may stop sending (OpenSSH PROTOCOL
            // §2.1, End Of Write, as sshd's chan_write_failed).
            let _ = eow.send(RequestKind::Eow);
        }
        drop(stdin);
    };
    // The command's end ends the session even if the client never closes stdin (RFC 4254 §6.10).
    let work = async {
        tokio::select! {
            status = &mut outputs => status,
            () = input => outputs.await,
        }
    };
    tokio::select! {
        status = work => Some(status),
        never = requests => match never {},
    }
}

/// Copies a command's output pipe to the channel until either ends, then closes the pipe.
async fn forward(mut from: impl tokio::io::AsyncRead + Unpin, mut to: ChannelWriter) {
    let _ = tokio::io::copy(&mut from, &mut to).await;
    drop(from);
    let _ = to.flush().await;
}

/// How far the pty output pump got: bytes read, and whether it waits for the pty (not for the
/// channel's window).
#[derive(Default)]
struct Progress {
    reads: AtomicU64,
    waiting_for_pty: AtomicBool,
}

/// Copies the pty's output to the channel until the pty has no writer left (EIO) or the channel
/// closed.
async fn pump(mut master: pty_process::OwnedReadPty, mut out: ChannelWriter, progress: &Progress) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        progress.waiting_for_pty.store(true, Ordering::SeqCst);
        let n = match master.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        progress.waiting_for_pty.store(false, Ordering::SeqCst);
        progress.reads.fetch_add(1, Ordering::SeqCst);
        if out.write_all(buf.get(..n).unwrap_or(&[])).await.is_err() {
            break;
        }
    }
    let _ = out.flush().await;
}

/// Runs `cmd` on a new pty: the master carries stdin and the one output stream. `None` if it could
/// not start or the channel closed before the process ended.
async fn run_on_pty(
    channel: &mut Channel,
    req: &IncomingRequest,
    cmd: Command,
    request: &PtyRequest,
    owner: Option<SlaveOwner>,
) -> Option<io::Result<std::process::ExitStatus>> {
    let pty::PtyProcess {
        master,
        control: master_ctl,
        mut child,
    } = match pty::spawn(cmd, request, owner) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the command on a pty");
            let _ = channel.reply(req, false);
            let _ = channel.close();
            return None;
        }
    };
    let _ = channel.reply(req, true);
    let control = control_handle(channel);
    let pid = child.id();
    let progress = Progress::default();
    let (reader, mut writer) = master.into_split();
    let out = channel.writer();
    let status = {
        let output = pump(reader, out, &progress);
        tokio::pin!(output);
        // Input goes to the terminal; the client's EOF does not reach the process (there is no
        // end of a terminal's input, as with sshd).
        let input = tokio::io::copy(channel, &mut writer);
        tokio::pin!(input);
        let requests = serve_requests(&control, pid, Some(&master_ctl));
        tokio::pin!(requests);
        let (mut input_done, mut output_done) = (false, false);
        let status = loop {
            tokio::select! {
                status = child.wait() => break Some(status),
                _ = &mut input, if !input_done => input_done = true,
                () = &mut output, if !output_done => output_done = true,
                () = &mut requests => break None,
            }
        };
        if status.is_some() && !output_done {
            // The output still in the pty, unless something else keeps the terminal open.
            loop {
                let seen = progress.reads.load(Ordering::SeqCst);
                match tokio::time::timeout(PTY_DRAIN_IDLE, output.as_mut()).await {
                    Ok(()) => break,
                    Err(_) => {
                        if progress.waiting_for_pty.load(Ordering::SeqCst)
                            && progress.reads.load(Ordering::SeqCst) == seen
                        {
                            break;
                        }
                    }
                }
            }
        }
        status
    };
    // Closing every master descriptor hangs the terminal up (SIGHUP to its processes).
    drop(writer);
    drop(master_ctl);
    match status {
        Some(status) => {
            let _ = channel.flush().await;
            Some(status)
        }
        None => {
            if tokio::time::timeout(PTY_HANGUP_GRACE, child.wait())
                .await
                .is_err()
            {
                let _ = child.start_kill();
                let _ = child.wait().await;
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{command_for, setpriv, SessionUser};
    use crate::account::{Account, Acting};

    /// A command for an account other than root goes through setpriv by its absolute path (so
    /// the standard library can start it with posix_spawn) with the account's ids and groups,
    /// and sets no uid or gid itself.
    #[test]
    fn other_accounts_commands_run_through_setpriv() {
        let Some(path) = setpriv() else {
            return; // no setpriv here: the direct path applies
        };
        let who = SessionUser {
            login: "someone".into(),
            acting: Acting::Account(Account {
                name: "nobody".into(),
                uid: 65534,
                gid: 65534,
                groups: vec![65534, 100],
                home: "/nonexistent".into(),
                shell: "/bin/sh".into(),
            }),
            handle_budgets: Vec::new(),
        };
        let cmd = command_for(&who, Some("true"));
        assert_eq!(cmd.as_std().get_program(), path);
        let args: Vec<_> = cmd.as_std().get_args().collect();
        for want in ["--reuid=65534", "--regid=65534", "--groups=65534,100"] {
            assert!(args.iter().any(|a| *a == want), "{want} in {args:?}");
        }
        assert_eq!(args.last().map(|a| a.to_str()), Some(Some("true")));
        let env: Vec<_> = cmd.as_std().get_envs().collect();
        assert!(env
            .iter()
            .any(|(k, v)| *k == "USER" && *v == Some("nobody".as_ref())));
    }

    /// With the server's own rights nothing is switched.
    #[test]
    fn the_server_process_runs_commands_itself() {
        let who = SessionUser {
            login: "no-such-account".into(),
            acting: Acting::ServerProcess,
            handle_budgets: Vec::new(),
        };
        let cmd = command_for(&who, Some("true"));
        assert_eq!(cmd.as_std().get_program(), "/bin/sh");
    }
}
