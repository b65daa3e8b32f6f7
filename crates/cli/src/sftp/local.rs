//! The local side of sftp: `lls` (the system's `ls` with the arguments as typed, as OpenSSH
//! runs it), `lcd` (home without a path, `~` expanded), `!command` and `!` (a shell).

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::commands::strerror;

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// `~` and `~/...` made the local home.
pub fn tilde(p: &str) -> String {
    match p.strip_prefix('~') {
        Some("") => home().to_string_lossy().into_owned(),
        Some(rest) if rest.starts_with('/') => format!("{}{rest}", home().to_string_lossy()),
        _ => p.to_owned(),
    }
}

/// `lcd [path]`: the new local folder (canonical).
pub fn lcd(cwd: &Path, arg: Option<&str>) -> anyhow::Result<PathBuf> {
    let target = match arg {
        None => home(),
        Some(p) => cwd.join(tilde(p)),
    };
    match std::fs::canonicalize(&target) {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(_) => bail!(
            "Couldn't change local directory to \"{}\": Not a directory",
            target.display()
        ),
        Err(e) => bail!(
            "Couldn't change local directory to \"{}\": {}",
            target.display(),
            strerror(&e)
        ),
    }
}

fn shell() -> String {
    std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".to_owned())
}

/// Runs `command` with the user's shell in `cwd` (an interactive shell when empty), waiting for
/// it; a failure is OpenSSH's `Shell exited with status N`.
pub fn run_shell(cwd: &Path, command: &str) -> anyhow::Result<()> {
    let mut cmd = std::process::Command::new(shell());
    if !command.trim().is_empty() {
        cmd.arg("-c").arg(command);
    }
    let status = cmd
        .current_dir(cwd)
        .status()
        .map_err(|e| anyhow::anyhow!("Couldn't fork: {}", strerror(&e)))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(n) => bail!("Shell exited with status {n}"),
        None => bail!("Shell exited abnormally"),
    }
}

/// `lls [ls-options] [path]`: `ls` with the rest of the line, through the shell as OpenSSH does
/// (so its globs and quotes are the shell's).
pub fn lls(cwd: &Path, rest: &str) -> anyhow::Result<()> {
    run_shell(cwd, &format!("exec ls {rest}"))
}
