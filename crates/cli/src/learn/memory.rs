//! nacre's own server in memory: a [`ServerSession`] with a seeded random source, a clock that
//! never moves, and the decisions `nacre serve` makes for the alphabet's messages (the
//! configured password and key authenticate the configured user, `session` channels are
//! accepted, the first `pty-req` of a channel succeeds and a second fails as in
//! `crates/nacre/src/session.rs`, other requests and global requests fail, data waits unread).
//! A step feeds the client's bytes and runs the session until it has no event and no byte left
//! to give: the reaction is complete and needs no timeout, so the same inputs always give the
//! same outputs. Time is simulated: a timer due within [`SHORT_TIMER`] (the failure delay of
//! authentication) fires within the step, a longer one (the login grace time) never does.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre::auth::{AuthServerConfig, Decision, ServerEvent as Question};
use nacre::connection::{
    ChannelId, ChannelKind, ConnectionConfig, Event as ConnEvent, RequestKind,
};
use nacre::crypto::SeededRng;
use nacre::keys::PrivateKey;
use nacre_session::{Common, ServerConfig, ServerEvent, ServerSession};

use super::peer::{Peer, Reaction};
use super::Credentials;

/// Timers due within this much simulated time fire within the step that set them.
pub const SHORT_TIMER: Duration = Duration::from_secs(10);

/// nacre's server session in memory.
pub struct MemoryPeer {
    config: ServerConfig,
    creds: Credentials,
    seed: u64,
    session: Option<ServerSession>,
    /// The simulated clock.
    now: Instant,
    /// Channels that were granted a pty.
    ptys: HashSet<ChannelId>,
}

impl MemoryPeer {
    /// A server with a fixed Ed25519 host key that accepts `creds`; `seed` seeds every
    /// connection's random source (each connection starts from the same seed).
    pub fn new(creds: Credentials, seed: u64) -> MemoryPeer {
        let host_key = Arc::new(PrivateKey::from_ed25519_seed(&[7; 32]));
        let config = ServerConfig {
            transport: Arc::new(nacre::transport::Config::server(vec![host_key])),
            auth: Some(AuthServerConfig::default()),
            connection: ConnectionConfig::default(),
        };
        MemoryPeer {
            config,
            creds,
            seed,
            session: None,
            now: Instant::now(),
            ptys: HashSet::new(),
        }
    }

    /// Answers what the application answers; true if there was an event.
    fn answer(&mut self) -> bool {
        let Some(s) = self.session.as_mut() else {
            return false;
        };
        let Some(ev) = s.poll_event() else {
            return false;
        };
        match ev {
            ServerEvent::Auth(q) => {
                let (id, ok) = match &q {
                    Question::Password {
                        id,
                        user,
                        password,
                        new_password: None,
                    } => (
                        *id,
                        *user == self.creds.user && **password == self.creds.password,
                    ),
                    Question::PublicKeyQuery {
                        id,
                        user,
                        key,
                        certificate: None,
                    }
                    | Question::PublicKeyVerified {
                        id,
                        user,
                        key,
                        certificate: None,
                        ..
                    } => (
                        *id,
                        *user == self.creds.user && *key == self.creds.key.public_key(),
                    ),
                    Question::Password { id, .. }
                    | Question::PublicKeyQuery { id, .. }
                    | Question::PublicKeyVerified { id, .. }
                    | Question::KeyboardInteractive { id, .. }
                    | Question::KeyboardResponses { id, .. } => (*id, false),
                    // Success comes as `ServerEvent::Authenticated`, never as a question.
                    _ => return true,
                };
                let decision = if ok {
                    Decision::Accept
                } else {
                    Decision::Reject
                };
                let _ = s.answer_auth(id, decision);
            }
            ServerEvent::Common(Common::Connection(ev)) => self.on_connection(ev),
            _ => {}
        }
        true
    }

    fn on_connection(&mut self, ev: ConnEvent) {
        let Some(conn) = self.session.as_mut().and_then(|s| s.connection()) else {
            return;
        };
        match ev {
            ConnEvent::OpenRequest {
                id,
                kind: ChannelKind::Session,
            } => conn.accept_open(id),
            ConnEvent::OpenRequest { id, .. } => conn.reject_open(
                id,
                nacre::wire::ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
                "",
            ),
            ConnEvent::Request {
                id,
                request,
                want_reply,
                token,
            } => {
                // One pty per session (crates/nacre/src/session.rs).
                let ok = matches!(request, RequestKind::PtyReq { .. }) && self.ptys.insert(id);
                if want_reply {
                    conn.reply_request(id, token, ok);
                }
            }
            ConnEvent::GlobalRequest {
                want_reply: true,
                token,
                ..
            } => conn.reply_global(token, false, &[]),
            ConnEvent::Closed { id } => {
                self.ptys.remove(&id);
            }
            _ => {}
        }
    }
}

impl Peer for MemoryPeer {
    fn connect(&mut self) -> anyhow::Result<()> {
        self.ptys.clear();
        self.session = Some(ServerSession::new(
            self.config.clone(),
            Box::new(SeededRng::new(self.seed)),
            self.now,
        ));
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) {
        if let Some(s) = self.session.as_mut() {
            s.handle_input(bytes);
        }
    }

    fn receive(&mut self) -> Reaction {
        let mut reaction = Reaction::default();
        // A bound on the rounds of one step, should a timer not clear itself.
        for _ in 0..100_000 {
            let answered = self.answer();
            let Some(s) = self.session.as_mut() else {
                reaction.closed = true;
                return reaction;
            };
            let sent = s.poll_transmit(&mut reaction.bytes);
            if answered || sent > 0 {
                continue;
            }
            match s.poll_timeout() {
                Some(due) if due <= self.now + SHORT_TIMER => {
                    self.now = self.now.max(due);
                    s.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        if self.session.as_ref().is_some_and(ServerSession::is_closed) {
            reaction.closed = true;
            self.session = None;
        }
        reaction
    }
}
