//! `nacre conform sftp`: an SFTP v3 (draft-ietf-secsh-filexfer-02) and OpenSSH-extension
//! (OpenSSH PROTOCOL §4) suite against any server: every request type, the status of each
//! failure, short reads and EOF, open flags, attributes, REALPATH, SYMLINK's argument order,
//! each extension advertised, limits and pipelined requests. It works only inside a scratch
//! folder it creates next to the session's start folder and removes at the end.
//!
//! Requests are framed by hand (`wire.rs`) so a check can send what a library would refuse to;
//! `checks.rs` holds the request checks, `ext.rs` the extensions, limits and pipelining.

mod checks;
mod ext;
mod wire;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::{report, Outcome, OutputArgs};
pub use wire::Sftp;

/// Arguments of `nacre conform sftp`.
#[derive(clap::Args, Clone, Debug)]
pub struct SftpArgs {
    /// Server port.
    #[arg(short = 'P')]
    pub port: Option<u16>,
    /// Identity files (repeatable).
    #[arg(short = 'i')]
    pub identities: Vec<PathBuf>,
    /// ssh options (as `nacre sftp`).
    #[arg(short = 'o')]
    pub options: Vec<String>,
    /// A file whose first line is the password (else NACRE_PASSWORD).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Run this local command as the SFTP server (over its stdin and stdout) instead of
    /// connecting, as `sftp -D`.
    #[arg(short = 'D', value_name = "COMMAND")]
    pub direct: Option<String>,
    /// Seconds to wait for each reply.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Output formats.
    #[command(flatten)]
    pub output: OutputArgs,
    /// `[user@]host` (ignored with -D).
    #[arg(default_value = "localhost")]
    pub destination: String,
}

/// Runs the suite.
pub async fn run(args: SftpArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.5, 120.0));
    let (name, outcomes) = match &args.direct {
        Some(command) => {
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("running {command}"))?;
            let stdin = child.stdin.take().context("no stdin")?;
            let stdout = child.stdout.take().context("no stdout")?;
            let io = tokio::io::join(stdout, stdin);
            let outcomes = suite(Sftp::new(io, timeout)).await;
            let _ = child.kill().await;
            (format!("sftp -D {command}"), outcomes)
        }
        None => {
            let mut opts = crate::client_opts::ClientOptions::load(
                &args.destination,
                args.port,
                None,
                &args.options,
                &args.identities,
                None,
            )?;
            if let Some(f) = &args.password_file {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?;
                opts.password_text = Some(text.lines().next().unwrap_or("").to_owned());
            }
            let conn = opts.connect().await?;
            let channel = conn.open_session().await?;
            channel.subsystem("sftp").await?;
            let mut sftp = Sftp::new(channel, timeout);
            sftp.user = opts.user.clone();
            let outcomes = suite(sftp).await;
            (format!("sftp {}:{}", opts.host_name, opts.port), outcomes)
        }
    };
    report::emit(&name, &outcomes, &args.output)
}

/// The whole suite over one SFTP stream.
pub async fn suite<S>(mut s: Sftp<S>) -> Vec<Outcome>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let mut out = Vec::new();
    match s.init().await {
        Ok(o) => out.push(o),
        Err(e) => {
            out.push(Outcome::new(
                "sftp.version",
                "draft-ietf-secsh-filexfer-02 §4",
                super::Verdict::Fail,
                "SSH_FXP_INIT 3",
                e.to_string(),
                "no SSH_FXP_VERSION",
            ));
            return out;
        }
    }
    checks::run(&mut s, &mut out).await;
    out
}
