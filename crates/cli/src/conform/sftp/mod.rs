//! `nacre conform sftp`: the SFTP v3 and OpenSSH extension suite.

/// Arguments of `nacre conform sftp`.
#[derive(clap::Args, Clone, Debug)]
pub struct SftpArgs {
    /// `[user@]host`.
    pub destination: String,
}

/// Runs the suite.
pub async fn run(_args: SftpArgs) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
