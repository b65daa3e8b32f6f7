//! What both roles share: the transport, the layer above it (an enum of phases), the payloads
//! held back while a key exchange pushes back, and the time last told.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use nacre_connection::{ConnectionConfig, ConnectionProtocol, LivenessConfig, Outgoing};
use nacre_transport::{SendError, Transport};
use nacre_wire::{DisconnectReason, MsgNumber};

use crate::WrongPhase;

/// The layer above the transport, one phase at a time; each phase holds only its own data.
/// One per connection, replaced twice in its life: the size difference between phases costs
/// nothing worth a box on every packet's path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Layer<A> {
    /// Key exchange and the `ssh-userauth` service request: no layer above yet.
    Handshake,
    /// The service is active and the application has not chosen how to authenticate yet (see
    /// `begin_auth` and `send_service`); packets from the peer wait here, in order.
    Ready(VecDeque<Bytes>),
    /// The application speaks the service protocol itself (conformance testing, custom
    /// authentication): service packets go to it as they are. USERAUTH_SUCCESS (received on a
    /// client, sent on a server) still hands later packets to the connection protocol.
    Raw,
    /// User authentication (RFC 4252) with the role's machine.
    Auth(A),
    /// Authenticated: the connection protocol (RFC 4254) owns every packet from 80 up.
    Connection(ConnectionProtocol),
}

/// Packets a peer may send before the application chose how to authenticate.
pub(crate) const MAX_READY_PACKETS: usize = 64;

/// The transport and the layer above it.
pub(crate) struct Core<A> {
    pub(crate) transport: Transport,
    pub(crate) layer: Layer<A>,
    connection_config: ConnectionConfig,
    liveness: Option<LivenessConfig>,
    /// Payloads the transport pushed back during a key exchange, in order.
    held: VecDeque<Outgoing>,
    held_bytes: usize,
    /// The time last told ([`Core::tell_time`]); stamps packets handed to the layers.
    pub(crate) now: Instant,
    /// The close was reported as an event.
    pub(crate) closed_reported: bool,
    /// The fatal error of a layer above the transport that closed the session.
    pub(crate) layer_error: Option<LayerError>,
}

/// The fatal error of a layer above the transport (the transport's own errors are its close
/// reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerError {
    /// User authentication failed at the protocol level (too many failures, a malformed
    /// request, the login grace time, ...).
    #[error("authentication: {0}")]
    Auth(#[from] nacre_auth::AuthError),
    /// The connection protocol failed (window violation, unknown channel, keepalive timeout, ...).
    #[error("connection: {0}")]
    Connection(#[from] nacre_connection::ConnectionError),
}

impl<A> Core<A> {
    pub(crate) fn new(
        transport: Transport,
        connection_config: ConnectionConfig,
        now: Instant,
    ) -> Self {
        Core {
            transport,
            layer: Layer::Handshake,
            connection_config,
            liveness: None,
            held: VecDeque::new(),
            held_bytes: 0,
            now,
            closed_reported: false,
            layer_error: None,
        }
    }

    /// Keeps the clock current: the transport stamps key exchanges with it and the layers time
    /// their deadlines from it. Time never goes back.
    pub(crate) fn tell_time(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
        self.transport.handle_timeout(self.now);
    }

    /// Hands a whole payload (an authentication message) to the transport, keeping order.
    pub(crate) fn send(&mut self, payload: Vec<u8>) {
        self.send_parts(Outgoing::whole(payload));
    }

    /// Hands `head || body` to the transport, or holds it while the transport pushes back.
    pub(crate) fn send_parts(&mut self, p: Outgoing) {
        if self.held.is_empty() {
            match self.transport.send_parts(&p.head, &p.body) {
                Err(SendError::Backpressure) => self.hold(p),
                Err(e) => tracing::debug!(%e, "dropping a payload"),
                Ok(()) => {}
            }
        } else {
            self.hold(p);
        }
    }

    fn hold(&mut self, p: Outgoing) {
        self.held_bytes += p.head.len() + p.body.len();
        self.held.push_back(p);
    }

    /// Moves held payloads to the transport until it pushes back again.
    pub(crate) fn release_held(&mut self) {
        while let Some(p) = self.held.pop_front() {
            let len = p.head.len() + p.body.len();
            match self.transport.send_parts(&p.head, &p.body) {
                Err(SendError::Backpressure) => {
                    self.held.push_front(p);
                    return;
                }
                Err(e) => tracing::debug!(%e, "dropping a held payload"),
                Ok(()) => {}
            }
            self.held_bytes -= len;
        }
    }

    /// Bytes of payloads held back by a key exchange (bounded by what the application sends:
    /// a peer cannot make it grow, since it sends no service packets during an exchange).
    pub(crate) fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Moves what the connection protocol queued to the transport.
    pub(crate) fn flush_connection(&mut self) {
        self.release_held();
        loop {
            let Layer::Connection(conn) = &mut self.layer else {
                return;
            };
            let Some(p) = conn.poll_transmit_parts() else {
                return;
            };
            self.send_parts(p);
        }
    }

    /// Authentication succeeded: the connection protocol takes over, the transport's
    /// re-exchange limits start counting, and a re-exchange asked for earlier starts.
    pub(crate) fn start_connection(&mut self) {
        let mut conn = ConnectionProtocol::new(self.connection_config.clone());
        if let Some(l) = self.liveness {
            conn.set_liveness(l);
            if let Err(e) = conn.handle_timeout(self.now) {
                self.fail(LayerError::Connection(e));
            }
        }
        self.layer = Layer::Connection(conn);
        self.transport.set_authenticated();
    }

    /// Sets keepalive and idle limits (now, or when the connection protocol starts).
    pub(crate) fn set_liveness(&mut self, config: LivenessConfig) {
        self.liveness = Some(config);
        if let Layer::Connection(conn) = &mut self.layer {
            conn.set_liveness(config);
            if let Err(e) = conn.handle_timeout(self.now) {
                self.fail(LayerError::Connection(e));
            }
        }
    }

    /// A service packet once the connection protocol runs: authentication messages are ignored
    /// (RFC 4252 §5.1), the rest goes to the connection protocol, whose fatal errors close the
    /// connection with the DISCONNECT reason they name.
    pub(crate) fn connection_packet(&mut self, p: &Bytes) {
        let msg = p.first().copied().unwrap_or(0);
        let Layer::Connection(conn) = &mut self.layer else {
            return;
        };
        if msg < MsgNumber::GLOBAL_REQUEST.0 {
            tracing::debug!(msg, "ignoring an authentication message after success");
            return;
        }
        if let Err(e) = conn.handle_packet(p) {
            // Replies to earlier packets (a REQUEST_FAILURE) go out before the DISCONNECT.
            self.flush_connection();
            self.fail(LayerError::Connection(e));
        }
    }

    /// A packet that arrived before the application chose how to authenticate: kept in order,
    /// up to [`MAX_READY_PACKETS`] (then the peer is flooding and the session closes).
    pub(crate) fn queue_ready(&mut self, p: Bytes) {
        if let Layer::Ready(queue) = &mut self.layer {
            if queue.len() >= MAX_READY_PACKETS {
                self.transport.disconnect(
                    DisconnectReason::PROTOCOL_ERROR,
                    "too many packets before authentication started",
                );
                return;
            }
            queue.push_back(p);
        }
    }

    /// Leaves the ready phase for `next`; returns the packets that waited. Outside the ready
    /// phase nothing changes: the call belongs to another phase.
    pub(crate) fn leave_ready(&mut self, next: Layer<A>) -> Result<VecDeque<Bytes>, WrongPhase> {
        if !matches!(self.layer, Layer::Ready(_)) {
            return Err(WrongPhase);
        }
        match std::mem::replace(&mut self.layer, next) {
            Layer::Ready(queue) => Ok(queue),
            _ => Err(WrongPhase),
        }
    }

    /// Raw mode: sends a service payload as it is (message number 50 or above).
    pub(crate) fn send_service(
        &mut self,
        payload: &[u8],
    ) -> Result<(), nacre_transport::SendError> {
        self.transport.send(payload)
    }

    /// Time for the connection protocol (keepalive probes, idle limit).
    pub(crate) fn connection_timeout(&mut self) {
        if let Layer::Connection(conn) = &mut self.layer {
            if let Err(e) = conn.handle_timeout(self.now) {
                self.fail(LayerError::Connection(e));
            }
        }
    }

    /// The connection protocol's next deadline, if it runs.
    pub(crate) fn connection_deadline(&self) -> Option<Instant> {
        match &self.layer {
            Layer::Connection(conn) => conn.poll_timeout(),
            _ => None,
        }
    }

    /// A layer's fatal error: recorded, and the connection closes with the DISCONNECT reason it
    /// names (a no-op once closed).
    pub(crate) fn fail(&mut self, e: LayerError) {
        if self.transport.is_closed() {
            return;
        }
        let (reason, text) = match &e {
            LayerError::Auth(a) => (a.reason(), a.to_string()),
            LayerError::Connection(c) => (c.reason(), c.to_string()),
        };
        self.layer_error = Some(e);
        self.transport.disconnect(reason, &text);
    }

    /// Closes the connection with DISCONNECT (a no-op once closed).
    pub(crate) fn disconnect(&mut self, reason: DisconnectReason, description: &str) {
        self.transport.disconnect(reason, description);
    }

    /// The connection protocol, once authenticated.
    pub(crate) fn connection(&mut self) -> Option<&mut ConnectionProtocol> {
        match &mut self.layer {
            Layer::Connection(conn) => Some(conn),
            _ => None,
        }
    }

    /// Read-only view of the connection protocol, once authenticated.
    pub(crate) fn connection_ref(&self) -> Option<&ConnectionProtocol> {
        match &self.layer {
            Layer::Connection(conn) => Some(conn),
            _ => None,
        }
    }

    /// Appends bytes to send to `buf`; returns how many.
    pub(crate) fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
        self.flush_connection();
        self.transport.poll_transmit(buf)
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
