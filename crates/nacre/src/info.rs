//! Facts about an established connection.

use nacre_transport::{Negotiated, Transport};

/// What a connection negotiated, known once its service is active.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The session identifier (H of the first key exchange).
    pub session_id: Vec<u8>,
    /// The algorithms of the first key exchange.
    pub negotiated: Option<Negotiated>,
    /// The peer's identification line.
    pub peer_identification: String,
    /// Whether strict key exchange is in force.
    pub strict_kex: bool,
    /// Client: the server's `server-sig-algs`.
    pub server_sig_algs: Option<Vec<String>>,
    /// Client: the server's host key blob.
    pub server_host_key: Option<Vec<u8>>,
}

impl ConnectionInfo {
    pub(crate) fn from_transport(t: &Transport) -> Self {
        ConnectionInfo {
            session_id: t.session_id().map(<[u8]>::to_vec).unwrap_or_default(),
            negotiated: t.negotiated().copied(),
            peer_identification: t
                .peer_identification()
                .map(|p| String::from_utf8_lossy(&p.line).into_owned())
                .unwrap_or_default(),
            strict_kex: t.strict_kex(),
            server_sig_algs: t.server_sig_algs().map(<[String]>::to_vec),
            server_host_key: t.server_host_key().map(<[u8]>::to_vec),
        }
    }
}
