//! Where SSH channels and SFTP meet: [`Connection::sftp`] on the client, [`sftp_subsystem`] for
//! a server's `sftp` subsystem ([`crate::SessionConfig::subsystems`]).

use std::path::PathBuf;
use std::sync::Arc;

use nacre_sftp::{LocalFs, ServerConfig as SftpServerConfig, SftpClient};

use crate::error::Error;
use crate::handle::Connection;
use crate::session::SubsystemHandler;

impl Connection {
    /// Opens a session channel, starts its `sftp` subsystem and returns the SFTP client over
    /// it (INIT/VERSION done, `limits@openssh.com` learned). An SFTP-level failure comes back as
    /// [`Error::Io`].
    pub async fn sftp(&self) -> Result<SftpClient, Error> {
        self.sftp_with(nacre_sftp::ClientConfig::default()).await
    }

    /// [`Connection::sftp`] with client settings.
    pub async fn sftp_with(&self, config: nacre_sftp::ClientConfig) -> Result<SftpClient, Error> {
        let channel = self.open_session().await?;
        channel.subsystem("sftp").await?;
        let writer = channel.writer();
        SftpClient::with_chunks(channel, writer, config)
            .await
            .map_err(|e| Error::Io(e.into()))
    }
}

/// An `sftp` subsystem serving the folder `root` (confined beneath it, `/` for clients) with
/// `config`: plug it into [`crate::SessionConfig::subsystems`] under `"sftp"`. Each session
/// opens the folder anew; a folder that cannot be opened ends the session.
pub fn sftp_subsystem(root: PathBuf, config: SftpServerConfig) -> SubsystemHandler {
    let root = Arc::new(root);
    Arc::new(move |channel| {
        let (root, config) = (root.clone(), config.clone());
        Box::pin(async move {
            let fs = match LocalFs::new(root.as_path()) {
                Ok(fs) => fs,
                Err(e) => {
                    tracing::warn!(root = %root.display(), error = %e, "cannot open the SFTP root");
                    return;
                }
            };
            let writer = channel.writer();
            if let Err(e) = nacre_sftp::serve_chunked(channel, writer, Arc::new(fs), config).await {
                tracing::info!(error = %e, "SFTP session ended with an error");
            }
        })
    })
}
