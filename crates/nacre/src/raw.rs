//! The conformance handle: a [`Connection`]'s service layer spoken by the application itself.

use bytes::Bytes;

use crate::command::Command;
use crate::error::Error;
use crate::handle::Connection;

/// Raw access to a connection's service layer (message numbers 50 and up), for conformance
/// tests, scripted misbehaviour and custom authentication methods: payloads go out as they are
/// and come in as they are, with the transport (encryption, MACs, re-exchanges, strict kex)
/// still nacre's. From [`Connection::raw`]. Used before authentication, it leaves
/// authentication to the caller: the session passes packets through instead of running RFC
/// 4252 (a USERAUTH_SUCCESS still starts the connection protocol).
///
/// `crates/nacre/examples/misbehave.rs` sends a CHANNEL_OPEN before authenticating and checks
/// the server's reaction.
///
/// ```
/// # use std::sync::Arc;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = nacre::Server::builder().ephemeral_host_key().build()?;
/// # let (client_end, server_end) = tokio::io::duplex(64 * 1024);
/// # tokio::spawn(async move { server.serve(server_end, None).await });
/// use nacre::wire::put;
///
/// let config = nacre::ClientConfig {
///     transport: Arc::new(nacre::transport::Config::client()),
///     verify_host_key: Arc::new(|_| true),
/// };
/// let mut conn = nacre::Connection::client_over(client_end, config).await?;
/// // USERAUTH_REQUEST "none" (RFC 4252 §5.2), by hand.
/// let mut request = vec![50];
/// put::string(&mut request, b"tester");
/// put::string(&mut request, b"ssh-connection");
/// put::string(&mut request, b"none");
/// conn.raw().send(request.into()).await?;
/// let reply = conn.raw().recv().await.expect("an answer");
/// assert_eq!(reply[0], 51, "USERAUTH_FAILURE");
/// # Ok(()) }
/// ```
pub struct RawConnection<'a> {
    conn: &'a mut Connection,
}

impl Connection {
    /// The conformance handle (see [`RawConnection`]).
    pub fn raw(&mut self) -> RawConnection<'_> {
        RawConnection { conn: self }
    }
}

impl RawConnection<'_> {
    /// Sends a service-layer payload (message number 50 or above) as it is. Waits while a
    /// megabyte of raw payloads is queued.
    pub async fn send(&self, payload: Bytes) -> Result<(), Error> {
        self.conn
            .commands
            .queue()
            .send_raw(payload)
            .await
            .map_err(|_| Error::Closed)
    }

    /// The next service-layer payload; `None` once the connection is closed. The first call
    /// switches the session to passing packets through.
    pub async fn recv(&mut self) -> Option<Bytes> {
        if !self.conn.raw {
            self.conn.raw = true;
            self.conn.commands.send(Command::Raw).ok()?;
        }
        self.conn.recv_raw().await
    }

    /// Tells the transport that user authentication succeeded (when the caller authenticated
    /// by its own exchange): re-exchanges by time and volume may start from now on.
    pub async fn set_authenticated(&self) -> Result<(), Error> {
        self.conn.commands.send(Command::Authenticated)
    }
}
