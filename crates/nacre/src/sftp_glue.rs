//! Where SSH channels and SFTP meet: [`Connection::sftp`] on the client, [`sftp_subsystem`] for
//! a server's `sftp` subsystem ([`crate::SessionConfig::subsystems`]).

use std::path::PathBuf;
use std::sync::Arc;

use nacre_sftp::{LocalFs, ServerConfig as SftpServerConfig, SftpClient};

use crate::channel::Channel;
use crate::error::Error;
use crate::handle::{ChannelOpener, Connection};
use crate::session::{SessionUser, SubsystemHandler};

impl Connection {
    /// Opens a session channel, starts its `sftp` subsystem and returns the SFTP client over
    /// it (INIT/VERSION done, `limits@openssh.com` learned). An SFTP-level failure comes back as
    /// [`Error::Io`].
    ///
    /// ```
    /// # struct Open;
    /// # impl nacre::AuthPolicy for Open {
    /// #     fn password(&self, _: &nacre::AuthContext, _: &str) -> nacre::PasswordCheck {
    /// #         nacre::PasswordCheck::Accept
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tmp = tempfile::tempdir()?;
    /// # std::fs::write(tmp.path().join("notes.txt"), "remember the milk")?;
    /// # let server = nacre::Server::builder().ephemeral_host_key().auth_policy(Open)
    /// #     .sftp(tmp.path()).act_as(nacre::ActAs::ServerProcess).build()?;
    /// # let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    /// # tokio::spawn(async move { server.serve(server_end, None).await });
    /// # let conn = nacre::Client::builder().user("demo").password("pw").default_identities(false)
    /// #     .verify_host_key(|_| true).connect_over(client_end, "demo", 22).await?;
    /// # let local = tmp.path().join("copy.txt");
    /// let sftp = conn.sftp().await?;
    /// assert_eq!(sftp.stat("/notes.txt").await?.size, Some(17));
    /// sftp.download("/notes.txt", &local).await?;
    /// assert_eq!(std::fs::read_to_string(&local)?, "remember the milk");
    /// # Ok(()) }
    /// ```
    pub async fn sftp(&self) -> Result<SftpClient, Error> {
        self.sftp_with(nacre_sftp::ClientConfig::default()).await
    }

    /// [`Connection::sftp`] with client settings.
    pub async fn sftp_with(&self, config: nacre_sftp::ClientConfig) -> Result<SftpClient, Error> {
        self.opener().sftp_with(config).await
    }
}

impl ChannelOpener {
    /// [`Connection::sftp_with`]: another SFTP session on the same connection (as
    /// [`SftpClient::upload_striped`] takes them).
    ///
    /// ```
    /// # struct Open;
    /// # impl nacre::AuthPolicy for Open {
    /// #     fn password(&self, _: &nacre::AuthContext, _: &str) -> nacre::PasswordCheck {
    /// #         nacre::PasswordCheck::Accept
    /// #     }
    /// # }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tmp = tempfile::tempdir()?;
    /// # let server = nacre::Server::builder().ephemeral_host_key().auth_policy(Open)
    /// #     .sftp(tmp.path()).act_as(nacre::ActAs::ServerProcess).build()?;
    /// # let (client_end, server_end) = tokio::io::duplex(64 * 1024);
    /// # tokio::spawn(async move { server.serve(server_end, None).await });
    /// # let conn = nacre::Client::builder().user("demo").password("pw").default_identities(false)
    /// #     .verify_host_key(|_| true).connect_over(client_end, "demo", 22).await?;
    /// # let local = tmp.path().join("big.bin");
    /// # std::fs::write(&local, vec![7u8; 20 << 20])?;
    /// // Three SFTP sessions of one connection move one file, each with its own window.
    /// let opener = conn.opener();
    /// let sftp = conn.sftp().await?;
    /// let mut lanes = Vec::new();
    /// for _ in 0..2 {
    ///     lanes.push(opener.sftp_with(nacre::sftp::ClientConfig::default()).await?);
    /// }
    /// let sent = sftp.upload_striped(&lanes, &local, "/copy.bin").await?;
    /// assert_eq!(sent, 20 << 20);
    /// assert_eq!(std::fs::read(tmp.path().join("copy.bin"))?.len(), 20 << 20);
    /// # Ok(()) }
    /// ```
    pub async fn sftp_with(&self, config: nacre_sftp::ClientConfig) -> Result<SftpClient, Error> {
        let channel = self.open_session().await?;
        channel.subsystem("sftp").await?;
        let writer = channel.writer();
        SftpClient::new(channel, writer, config)
            .await
            .map_err(|e| Error::Io(e.into()))
    }
}

/// An `sftp` subsystem serving the folder `root` (confined beneath it, `/` for clients) with
/// `config`: plug it into [`crate::SessionConfig::subsystems`] under `"sftp"`. Each session
/// opens the folder anew, as the account the session acts as ([`crate::ActAs`]): every file
/// operation then has that account's rights only ([`LocalFs::acting_as`]). The channel ends
/// with an exit status, as sshd's sftp-server sessions do: 0, or 1 after an error (a folder
/// that cannot be opened ends the session at once).
pub fn sftp_subsystem(root: PathBuf, config: SftpServerConfig) -> SubsystemHandler {
    let root = Arc::new(root);
    Arc::new(move |channel, who: SessionUser| {
        let (root, mut config) = (root.clone(), config.clone());
        Box::pin(async move {
            config
                .handle_budgets
                .extend(who.handle_budgets.iter().cloned());
            // The operation log names the session's user on every line, as sftp-server -l.
            if config.log_label.is_empty() {
                config.log_label = format!("{:?}: ", who.login);
            }
            tracing::info!(target: "nacre::sftp", "session opened for {:?}", who.login);
            let opened = match who.acting.credentials() {
                Some(account) => LocalFs::acting_as(root.as_path(), account),
                None => LocalFs::new(root.as_path()),
            };
            let code = match opened {
                Ok(fs) => serve_channel(&channel, fs, config).await,
                Err(e) => {
                    tracing::warn!(root = %root.display(), login = %who.login, error = %e,
                        "cannot open the SFTP root");
                    1
                }
            };
            tracing::info!(target: "nacre::sftp", "session closed for {:?}", who.login);
            end_channel(&channel, code).await;
        })
    })
}

/// An `sftp` subsystem serving `fs`, any [`nacre_sftp::Filesystem`] (an in-memory tree, an
/// object store, a database), shared by every session; plug it into
/// [`crate::SessionConfig::subsystems`] or use [`crate::ServerBuilder::sftp_filesystem`]. The
/// channel ends with exit status 0, or 1 after a stream error.
pub fn sftp_filesystem_subsystem<F>(fs: F, config: SftpServerConfig) -> SubsystemHandler
where
    F: nacre_sftp::Filesystem + Clone,
{
    Arc::new(move |channel, who: SessionUser| {
        let (fs, mut config) = (fs.clone(), config.clone());
        Box::pin(async move {
            config
                .handle_budgets
                .extend(who.handle_budgets.iter().cloned());
            let code = serve_channel(&channel, fs, config).await;
            end_channel(&channel, code).await;
        })
    })
}

/// Serves SFTP on `channel` until the client ends it: 0, or 1 after a stream error. The server
/// reads through a second handle, so `channel` still stands to send the exit status after.
async fn serve_channel<F: nacre_sftp::Filesystem>(
    channel: &Channel,
    fs: F,
    config: SftpServerConfig,
) -> u32 {
    let reader = crate::session::control_handle(channel);
    match nacre_sftp::serve(reader, channel.writer(), Arc::new(fs), config).await {
        Ok(()) => 0,
        Err(e) => {
            tracing::info!(error = %e, "SFTP session ended with an error");
            1
        }
    }
}

/// Ends an SFTP channel as sshd ends sftp-server's: exit status, EOF, CLOSE (OpenSSH's scp in
/// SFTP mode and `ssh -s sftp` check the status).
async fn end_channel(channel: &Channel, code: u32) {
    let _ = channel
        .request(nacre_connection::RequestKind::ExitStatus { code }, false)
        .await;
    let _ = channel.eof();
    let _ = channel.close();
}
