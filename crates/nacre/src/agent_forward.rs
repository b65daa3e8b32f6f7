//! Agent forwarding (OpenSSH PROTOCOL.agent §3, `ssh -A`), both roles.
//!
//! The client asks for it with `auth-agent-req@openssh.com` on a session channel
//! ([`Channel::request_agent_forwarding`]). The server then makes a Unix socket for that session
//! ([`AgentSocket`]), puts its path in the session's `SSH_AUTH_SOCK`, and carries every
//! connection to it over a new `auth-agent@openssh.com` channel back to the client, which
//! connects the channel to its own agent ([`Connection::forward_agent`]). The socket lives as
//! long as the session.
//!
//! As sshd does, the socket sits in a fresh directory (mode 0700) under the temporary directory;
//! when the server runs as root both are handed to the logged-in user, so only that user (and
//! root) can reach the agent.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nacre_connection::{ChannelKind, RequestKind};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use crate::channel::{Channel, ChannelOpener};
use crate::error::Error;
use crate::forward::{pump, AbortOnDrop, RouteKey};
use crate::handle::Connection;
use crate::mux::IncomingChannel;

/// Server side: the agent socket of one session. Dropping it stops listening and removes the
/// socket and its directory.
pub(crate) struct AgentSocket {
    path: PathBuf,
    _dir: tempfile::TempDir,
    _task: AbortOnDrop,
}

impl AgentSocket {
    /// Listens on a new socket whose connections are carried to the client through `opener`;
    /// `owner` (uid, gid) gets the directory and the socket.
    pub fn listen(opener: ChannelOpener, owner: Option<(u32, u32)>) -> io::Result<AgentSocket> {
        let dir = tempfile::Builder::new()
            .prefix("nacre-agent.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(std::env::temp_dir())?;
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        }
        let task = tokio::spawn(accept_loop(listener, opener));
        Ok(AgentSocket {
            path,
            _dir: dir,
            _task: AbortOnDrop(task),
        })
    }

    /// The socket's path, for `SSH_AUTH_SOCK`.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Each connection to the socket gets its own `auth-agent@openssh.com` channel; one the client
/// refuses is closed.
async fn accept_loop(listener: UnixListener, opener: ChannelOpener) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::debug!(error = %e, "agent socket: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let opener = opener.clone();
        tokio::spawn(async move {
            match opener.open(ChannelKind::AuthAgent).await {
                Ok(ch) => pump(stream, ch).await,
                Err(e) => tracing::debug!(error = %e, "the client refused an agent channel"),
            }
        });
    }
}

impl Channel {
    /// Client side: asks the server to forward the agent for this session
    /// (`auth-agent-req@openssh.com`, sent before `exec`/`shell` and without a reply wanted, as
    /// OpenSSH's `ssh -A` does). The connection must serve the channels that follow:
    /// see [`Connection::forward_agent`].
    pub async fn request_agent_forwarding(&self) -> Result<(), Error> {
        self.request(RequestKind::AuthAgentReq, false).await?;
        Ok(())
    }
}

impl Connection {
    /// Client side: connects every `auth-agent@openssh.com` channel the server opens to the agent
    /// listening on `agent` (usually `$SSH_AUTH_SOCK`). Without this call such channels are
    /// refused, so a server cannot reach an agent the user did not offer. Lasts as long as the
    /// connection.
    pub fn forward_agent(&self, agent: impl Into<PathBuf>) {
        let agent: Arc<Path> = Arc::from(agent.into());
        let (tx, mut rx) = mpsc::unbounded_channel::<IncomingChannel>();
        self.forwarding.routes.insert(RouteKey::Agent, tx);
        tokio::spawn(async move {
            while let Some(incoming) = rx.recv().await {
                let agent = agent.clone();
                tokio::spawn(crate::forward::connect_unix(agent, incoming));
            }
        });
    }
}
