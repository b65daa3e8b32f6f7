//! `-f` (`ForkAfterAuthentication`): to the background after authentication, as ssh's.
//!
//! ssh forks once authenticated; a process running tokio cannot fork, so nacre starts itself
//! again instead, as a child with standard input from /dev/null, and waits. The child connects
//! and authenticates (asking on the terminal, as the parent would have), sets up the forwards,
//! then tells the parent it is ready (SIGUSR1), which exits with 0, and leaves the terminal's
//! session (`setsid`). A child that fails before that (a wrong password, a forward refused with
//! `ExitOnForwardFailure=yes`) ends the parent with its exit status.

use std::process::Stdio;

use rustix::process::{getppid, kill_process, setsid, Pid, Signal};
use tokio::signal::unix::{signal, SignalKind};

/// The variable that marks the child; its value is the parent's process id.
const MARK: &str = "NACRE_FORKED_FROM";

/// The parent's process id when this process is the background child of a `-f` parent (and
/// that parent still waits for it).
fn parent() -> Option<Pid> {
    let marked = std::env::var(MARK).ok()?.parse::<i32>().ok()?;
    getppid().filter(|p| Pid::as_raw(Some(*p)) == marked && marked > 1)
}

/// Whether this process is the background child of a `-f` parent.
pub fn is_child() -> bool {
    parent().is_some()
}

/// The parent's side: starts the child (the same command line) and waits until it is ready
/// (exit status 0) or ends (its exit status).
pub async fn start() -> anyhow::Result<i32> {
    // Set up before the child exists: SIGUSR1 would otherwise end this process.
    let mut ready = signal(SignalKind::user_defined1())?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(MARK, std::process::id().to_string())
        .stdin(Stdio::null())
        .spawn()?;
    tokio::select! {
        _ = ready.recv() => Ok(0),
        status = child.wait() => Ok(status?.code().unwrap_or(255)),
    }
}

/// The child's side, once authenticated and the forwards set up: leaves the terminal's
/// session and lets the parent go. With no session (`-N`), standard output and error go to
/// /dev/null, as ssh's (a command's output still goes where it went).
pub fn detach(no_command: bool) {
    let _ = setsid();
    if no_command {
        if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
            let _ = rustix::stdio::dup2_stdout(&null);
            let _ = rustix::stdio::dup2_stderr(&null);
        }
    }
    if let Some(parent) = parent() {
        let _ = kill_process(parent, Signal::USR1);
    }
}
