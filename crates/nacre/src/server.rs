//! Serving an authenticated connection: every channel the client opens and every forwarding
//! request it makes, by one [`ServerConfig`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nacre_connection::{ChannelKind, LivenessConfig};
use nacre_keys::KeyOptions;
use nacre_transport::TransportError;
use nacre_wire::ChannelOpenFailureReason;

use crate::forward::server::serve_direct;
use crate::forward::ForwardingPolicy;
use crate::handle::Connection;
use crate::session::{serve_session_with, SessionConfig};
use nacre_sftp::HandleBudget;

/// What an authenticated client may do.
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Session channels: exec, shell, subsystems, environment.
    pub session: Arc<SessionConfig>,
    /// Users whose sessions differ from `session` (their own SFTP root, ...).
    pub user_sessions: HashMap<String, Arc<SessionConfig>>,
    /// Port and Unix socket forwarding (denied by default).
    pub forwarding: ForwardingPolicy,
    /// Keepalives and idle limit once authenticated (sshd's ClientAliveInterval and
    /// ClientAliveCountMax); `None`: none.
    pub liveness: Option<LivenessConfig>,
}

impl ServerConfig {
    /// Sessions served by `session`, no forwarding.
    pub fn new(session: SessionConfig) -> Self {
        ServerConfig {
            session: Arc::new(session),
            ..ServerConfig::default()
        }
    }

    /// The session configuration of `user`.
    pub fn session_for(&self, user: &str) -> Arc<SessionConfig> {
        self.user_sessions
            .get(user)
            .unwrap_or(&self.session)
            .clone()
    }
}

/// Serves an authenticated connection for `user` until it closes, and tells why it closed:
/// `session` channels go to [`crate::serve_session`] with the user's session configuration
/// (with the key's `no-pty`/`command=`), `direct-tcpip` / `direct-streamlocal@openssh.com`
/// channels and forwarding requests are served by `config.forwarding` narrowed by `key` (the
/// `authorized_keys` options of the key that logged in, if one did), and other channel types
/// are refused.
///
/// At most [`crate::DEFAULT_MAX_SESSIONS`] sessions are open at once (sshd's MaxSessions); a
/// [`crate::Server`] takes its limit from [`crate::ServerLimits::max_sessions`].
pub async fn serve_connection(
    conn: Connection,
    user: String,
    config: Arc<ServerConfig>,
    key: Option<KeyOptions>,
) -> TransportError {
    serve_connection_limited(
        conn,
        user,
        config,
        key,
        (crate::DEFAULT_MAX_SESSIONS, Vec::new()),
    )
    .await
}

/// [`serve_connection`] with at most `max_sessions` session channels open at once (more are
/// refused with RESOURCE_SHORTAGE), the SFTP handles of its sessions counted against
/// `budgets` (the connection's, its user's, the server's).
pub(crate) async fn serve_connection_limited(
    mut conn: Connection,
    user: String,
    config: Arc<ServerConfig>,
    key: Option<KeyOptions>,
    (max_sessions, budgets): (usize, Vec<Arc<HandleBudget>>),
) -> TransportError {
    conn.enable_forwarding(config.forwarding.clone(), key.clone(), &user);
    if let Some(liveness) = config.liveness {
        let _ = conn.set_liveness(liveness).await;
    }
    let session_config = config.session_for(&user);
    let key = key.map(Arc::new);
    let sessions = Arc::new(AtomicUsize::new(0));
    while let Some(incoming) = conn.accept_channel().await {
        match incoming.kind() {
            Some(ChannelKind::Session) if sessions.load(Ordering::SeqCst) >= max_sessions => {
                incoming.reject(
                    ChannelOpenFailureReason::RESOURCE_SHORTAGE,
                    "too many sessions (MaxSessions)",
                );
            }
            Some(ChannelKind::Session) => {
                if let Some(ch) = incoming.accept() {
                    let session = serve_session_with(
                        ch,
                        user.clone(),
                        session_config.clone(),
                        key.clone(),
                        budgets.clone(),
                    );
                    sessions.fetch_add(1, Ordering::SeqCst);
                    let sessions = sessions.clone();
                    tokio::spawn(async move {
                        session.await;
                        sessions.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
            Some(ChannelKind::DirectTcpip { .. } | ChannelKind::DirectStreamlocal { .. }) => {
                let (config, key, user) = (config.clone(), key.clone(), user.clone());
                tokio::spawn(async move {
                    let _ = serve_direct(incoming, &config.forwarding, key.as_deref(), &user).await;
                });
            }
            Some(ChannelKind::Other { .. }) => incoming.reject(
                ChannelOpenFailureReason::UNKNOWN_CHANNEL_TYPE,
                "unknown channel type",
            ),
            _ => incoming.reject(
                ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                "channel type not served",
            ),
        }
    }
    conn.closed().await
}
