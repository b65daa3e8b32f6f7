//! The connection task's view of one `nacre-session` machine, whichever its role: the calls the
//! task makes on every turn, and the commands the handle sends for authentication.

use bytes::BytesMut;
use nacre_auth::{AuthServerConfig, Decision, RequestId};
use nacre_connection::ConnectionProtocol;
use nacre_keys::{PublicKey, SignatureAlgorithm};
use nacre_session::{AnswerId, ClientEvent, ClientSession, LayerError, ServerEvent, ServerSession};
use nacre_transport::{SendError, Transport, TransportError};
use nacre_wire::DisconnectReason;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

/// What the client's handle asks of authentication.
pub(crate) enum ClientAuthCmd {
    /// Start as `user` (the `none` request goes first), with OpenSSH's PubkeyAcceptedAlgorithms.
    Begin(String, Option<Vec<SignatureAlgorithm>>),
    Password(Zeroizing<String>),
    PublicKey(PublicKey),
    /// Offer an OpenSSH certificate (its key signs).
    Certificate(Box<nacre_keys::Certificate>),
    Signature(AnswerId, Vec<u8>),
    /// A signature the application could not make: the key is skipped.
    NoSignature,
    Keyboard(String),
    Info(AnswerId, Vec<Zeroizing<String>>),
    /// Which signature algorithm publickey would use for this key, if any.
    UsableAlgorithm(PublicKey, oneshot::Sender<Option<SignatureAlgorithm>>),
}

/// What the server's handle asks of authentication.
pub(crate) enum ServerAuthCmd {
    Begin(Box<AuthServerConfig>),
    Decide(RequestId, Decision),
}

/// One session machine of either role.
pub(crate) enum Machine {
    Client(Box<ClientSession>),
    Server(Box<ServerSession>),
}

/// An event of either role.
pub(crate) enum MachineEvent {
    Client(ClientEvent),
    Server(ServerEvent),
}

macro_rules! both {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            Machine::Client($m) => $e,
            Machine::Server($m) => $e,
        }
    };
}

impl Machine {
    pub fn transport(&self) -> &Transport {
        both!(self, m => m.transport())
    }

    pub fn receive_buffer(&mut self, additional: usize) -> &mut BytesMut {
        both!(self, m => m.receive_buffer(additional))
    }

    pub fn process_received(&mut self) {
        both!(self, m => m.process_received())
    }

    pub fn handle_eof(&mut self) {
        both!(self, m => m.handle_eof())
    }

    pub fn wants_input(&self) -> bool {
        both!(self, m => m.wants_input())
    }

    pub fn handle_timeout(&mut self, now: std::time::Instant) {
        both!(self, m => m.handle_timeout(now))
    }

    pub fn poll_timeout(&self) -> Option<std::time::Instant> {
        both!(self, m => m.poll_timeout())
    }

    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        both!(self, m => m.poll_transmit(buf))
    }

    pub fn poll_event(&mut self) -> Option<MachineEvent> {
        match self {
            Machine::Client(m) => m.poll_event().map(MachineEvent::Client),
            Machine::Server(m) => m.poll_event().map(MachineEvent::Server),
        }
    }

    pub fn held_bytes(&self) -> usize {
        both!(self, m => m.held_bytes())
    }

    pub fn close_reason(&self) -> Option<&TransportError> {
        both!(self, m => m.close_reason())
    }

    pub fn layer_error(&self) -> Option<&LayerError> {
        both!(self, m => m.layer_error())
    }

    pub fn connection(&mut self) -> Option<&mut ConnectionProtocol> {
        both!(self, m => m.connection())
    }

    pub fn rekey(&mut self) {
        both!(self, m => m.rekey())
    }

    pub fn disconnect(&mut self, reason: DisconnectReason, text: &str) {
        both!(self, m => m.disconnect(reason, text))
    }

    pub fn send_service(&mut self, payload: &[u8]) -> Result<(), SendError> {
        both!(self, m => m.send_service(payload))
    }

    pub fn begin_raw(&mut self) {
        let _ = both!(self, m => m.begin_raw());
    }

    pub fn set_authenticated(&mut self) {
        both!(self, m => m.set_authenticated())
    }

    pub fn set_liveness(&mut self, config: nacre_connection::LivenessConfig) {
        both!(self, m => m.set_liveness(config))
    }

    /// Runs a client authentication command (ignored on a server).
    pub fn client_auth(&mut self, cmd: ClientAuthCmd) {
        let Machine::Client(m) = self else {
            return;
        };
        // A call in the wrong phase changes nothing; the handle then waits for the close or
        // the answer that is already on its way.
        let _ = match cmd {
            ClientAuthCmd::Begin(user, algorithms) => {
                if let Some(a) = algorithms {
                    m.set_pubkey_algorithms(a);
                }
                m.begin_auth(&user)
            }
            ClientAuthCmd::Password(p) => m.auth_password(&p),
            ClientAuthCmd::PublicKey(key) => m.auth_publickey(&key),
            ClientAuthCmd::Certificate(cert) => m.auth_certificate(&cert),
            ClientAuthCmd::Signature(id, sig) => m.answer_signature(id, &sig),
            ClientAuthCmd::NoSignature => m.skip_signature(),
            ClientAuthCmd::Keyboard(sub) => m.auth_keyboard_interactive(&sub),
            ClientAuthCmd::Info(id, responses) => m.answer_info(id, responses),
            ClientAuthCmd::UsableAlgorithm(key, reply) => {
                let _ = reply.send(m.usable_algorithm(&key));
                Ok(())
            }
        };
    }

    /// Runs a server authentication command (ignored on a client).
    pub fn server_auth(&mut self, cmd: ServerAuthCmd) {
        let Machine::Server(m) = self else {
            return;
        };
        let _ = match cmd {
            ServerAuthCmd::Begin(config) => m.begin_auth(*config),
            ServerAuthCmd::Decide(id, decision) => m.answer_auth(id, decision),
        };
    }
}
