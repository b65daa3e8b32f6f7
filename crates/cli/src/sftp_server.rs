//! `nacre sftp-server`: an SFTP server on stdin/stdout, like OpenSSH's `sftp-server` (usable
//! from `sftp -D`, or as sshd's `Subsystem sftp`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use nacre_sftp::{LocalFs, ServerConfig};

/// Arguments of `nacre sftp-server`.
#[derive(clap::Args)]
pub struct SftpServerArgs {
    /// The folder served as `/` (default: the current folder). Nothing outside it is reachable.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Refuse every change (writes, removals, renames, attribute changes).
    #[arg(long)]
    read_only: bool,
    /// Open handles at most.
    #[arg(long, default_value_t = nacre_sftp::DEFAULT_MAX_HANDLES)]
    max_handles: usize,
}

impl SftpServerArgs {
    /// The server settings these flags give.
    pub fn config(read_only: bool, max_handles: usize) -> ServerConfig {
        ServerConfig {
            read_only,
            max_handles,
            ..ServerConfig::default()
        }
    }
}

/// The folder to serve: `root`, else the current folder.
pub fn root_or_cwd(root: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match root {
        // A root that is not a folder would make every client fail later: refuse it now.
        Some(r) if !r.is_dir() => anyhow::bail!("--root {}: not a folder", r.display()),
        Some(r) => Ok(r),
        None => std::env::current_dir().context("reading the current folder"),
    }
}

/// Serves one session on stdin/stdout until the client closes it.
pub async fn run(args: SftpServerArgs) -> anyhow::Result<()> {
    let root = root_or_cwd(args.root)?;
    let fs = LocalFs::new(&root).with_context(|| format!("opening {}", root.display()))?;
    let config = SftpServerArgs::config(args.read_only, args.max_handles);
    nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(tokio::io::stdin()),
        nacre_sftp::WriteSink::new(tokio::io::stdout()),
        Arc::new(fs),
        config,
    )
    .await
    .context("SFTP session")
}
