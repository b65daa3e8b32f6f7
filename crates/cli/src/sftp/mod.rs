//! `nacre sftp`: an SFTP client with OpenSSH's flags and commands, interactive (line editing and
//! history) or from a batch file.

mod commands;
mod paths;
mod progress;

use std::path::PathBuf;

use anyhow::Context;

use crate::client_opts::ClientOptions;
use commands::Session;

/// Arguments of `nacre sftp`.
#[derive(clap::Args)]
pub struct SftpArgs {
    /// Server port.
    #[arg(short = 'P')]
    port: Option<u16>,
    /// Identity files (repeatable).
    #[arg(short = 'i')]
    identities: Vec<PathBuf>,
    /// Batch file of commands ('-' for standard input); a command starting with '-' may fail.
    #[arg(short = 'b')]
    batch: Option<PathBuf>,
    /// ssh options (see `nacre exec --help`).
    #[arg(short = 'o')]
    options: Vec<String>,
    /// ssh config file.
    #[arg(short = 'F')]
    config: Option<PathBuf>,
    /// Jump host.
    #[arg(short = 'J')]
    jump: Option<String>,
    /// Recursive get and put by default.
    #[arg(short = 'r')]
    recursive: bool,
    /// A file whose first line is the password (else NACRE_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// [user@]host[:path]
    destination: String,
}

/// Runs `nacre sftp`; returns the exit code (1 when a batch command failed).
pub async fn run(args: SftpArgs) -> anyhow::Result<i32> {
    let (dest, start_dir) = match args.destination.rsplit_once(':') {
        Some((d, p)) if !d.contains('[') => (d.to_owned(), Some(p.to_owned())),
        _ => (args.destination.clone(), None),
    };
    let mut options = args.options.clone();
    if let Some(j) = &args.jump {
        options.push(format!("ProxyJump={j}"));
    }
    let mut opts = ClientOptions::load(
        &dest,
        args.port,
        None,
        &options,
        &args.identities,
        args.config.as_deref(),
    )?;
    if let Some(f) = &args.password_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        opts.password_text = Some(text.lines().next().unwrap_or("").to_owned());
    }
    let conn = opts.connect().await?;
    let client = conn
        .sftp_with(nacre_sftp::ClientConfig {
            request_timeout: opts.request_timeout,
            ..nacre_sftp::ClientConfig::default()
        })
        .await?;
    let mut session = Session::new(client, args.recursive, args.batch.is_none()).await?;
    if let Some(dir) = start_dir.filter(|d| !d.is_empty()) {
        session.execute(&format!("cd {dir}")).await?;
    }
    let code = match &args.batch {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
            };
            session.batch(&text).await
        }
        None => session.interactive().await?,
    };
    drop(conn);
    Ok(code)
}
