//! The methods both session types have, word for word: bytes in and out, the connection
//! protocol once authenticated, the transport's facts, the close.

/// Expands, inside `impl ClientSession` / `impl ServerSession`, to the methods both share. The
/// type must have `core: Core<_>` and a `process(&mut self)` that drains the transport's events.
#[macro_export]
#[doc(hidden)]
macro_rules! session_common {
    () => {
        /// Bytes from the peer, in any split (one byte at a time works).
        pub fn handle_input(&mut self, data: &[u8]) {
            self.core.transport.handle_input(data);
            self.process();
        }

        /// The peer closed its side of the byte stream.
        pub fn handle_eof(&mut self) {
            self.core.transport.handle_eof();
            self.process();
        }

        /// Appends the bytes to send to `buf`; returns how many were added.
        pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> usize {
            self.core.poll_transmit(buf)
        }

        /// Runtime read path without a copy: room for `additional` bytes at the end of the input
        /// buffer, for a socket read to fill; then call [`Self::process_received`].
        pub fn receive_buffer(&mut self, additional: usize) -> &mut bytes::BytesMut {
            self.core.transport.receive_buffer(additional)
        }

        /// Processes what a read put into [`Self::receive_buffer`].
        pub fn process_received(&mut self) {
            self.core.transport.process_received();
            self.process();
        }

        /// Whether the user is authenticated.
        pub fn is_authenticated(&self) -> bool {
            matches!(self.core.layer, $crate::core::Layer::Connection(_))
        }

        /// The connection protocol, once authenticated: open or accept channels, send data,
        /// answer requests. What it queues leaves with the next [`Self::poll_transmit`].
        pub fn connection(&mut self) -> Option<&mut nacre_connection::ConnectionProtocol> {
            self.core.connection()
        }

        /// Read-only view of the connection protocol, once authenticated.
        pub fn connection_ref(&self) -> Option<&nacre_connection::ConnectionProtocol> {
            self.core.connection_ref()
        }

        /// Keepalive probes and idle limit of the connection protocol (now, or once
        /// authenticated).
        pub fn set_liveness(&mut self, config: nacre_connection::LivenessConfig) {
            self.core.set_liveness(config);
        }

        /// Starts a key re-exchange (deferred until authenticated, as OpenSSH does).
        pub fn rekey(&mut self) {
            self.core.transport.rekey();
        }

        /// Closes the connection with DISCONNECT.
        pub fn disconnect(&mut self, reason: nacre_wire::DisconnectReason, description: &str) {
            self.core.disconnect(reason, description);
            self.process();
        }

        /// The transport, for what it knows (session id, algorithms, identification, buffers).
        pub fn transport(&self) -> &nacre_transport::Transport {
            &self.core.transport
        }

        /// Conformance testing: the transport itself (raw packets, IGNOREs). Applications never
        /// need it.
        pub fn transport_mut(&mut self) -> &mut nacre_transport::Transport {
            &mut self.core.transport
        }

        /// Why the session closed, once it did.
        pub fn close_reason(&self) -> Option<&nacre_transport::TransportError> {
            self.core.transport.close_reason()
        }

        /// Whether the session is closed (bytes may still wait in `poll_transmit`).
        pub fn is_closed(&self) -> bool {
            self.core.transport.is_closed()
        }

        /// The fatal error of authentication or the connection protocol that closed the
        /// session, if one did (the transport's own errors are in the close reason).
        pub fn layer_error(&self) -> Option<&$crate::LayerError> {
            self.core.layer_error.as_ref()
        }

        /// Bytes of payloads held back while a key exchange runs (the application's own output;
        /// a peer cannot make it grow).
        pub fn held_bytes(&self) -> usize {
            self.core.held_bytes()
        }
    };
}
