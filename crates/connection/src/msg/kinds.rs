//! Channel types and their open data (RFC 4254 §6.1, §7.2, §6.3.2; OpenSSH PROTOCOL §2.4).

use nacre_wire::{put, Reader, WireError};

/// What a CHANNEL_OPEN asks for.
///
/// ```
/// use nacre_connection::ChannelKind;
///
/// // `ssh -L 8080:db.internal:5432`: the client asks the server to connect to db.internal.
/// let kind = ChannelKind::DirectTcpip {
///     host: "db.internal".into(),
///     port: 5432,
///     originator: "127.0.0.1".into(),
///     originator_port: 50_000,
/// };
/// assert_eq!(kind.type_name(), "direct-tcpip");
/// let data = kind.to_data(); // the type-specific part of CHANNEL_OPEN
/// assert_eq!(ChannelKind::parse("direct-tcpip", &data)?, kind);
///
/// assert_eq!(ChannelKind::parse("session", b"")?, ChannelKind::Session);
/// let other = ChannelKind::parse("tun@openssh.com", b"\0\0\0\x01")?;
/// assert_eq!(other, ChannelKind::Other { name: "tun@openssh.com".into() });
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelKind {
    /// `session` (RFC 4254 §6.1): no data.
    Session,
    /// `direct-tcpip` (RFC 4254 §7.2): a connection the client wants the server to make (`ssh -L`).
    DirectTcpip {
        /// Host to connect to.
        host: String,
        /// Port to connect to.
        port: u32,
        /// Originator address.
        originator: String,
        /// Originator port.
        originator_port: u32,
    },
    /// `forwarded-tcpip` (RFC 4254 §7.2): a connection that arrived on a remote forward (`ssh -R`).
    ForwardedTcpip {
        /// Address that was connected.
        address: String,
        /// Port that was connected.
        port: u32,
        /// Originator address.
        originator: String,
        /// Originator port.
        originator_port: u32,
    },
    /// `direct-streamlocal@openssh.com`: a Unix socket connection the client wants made.
    DirectStreamlocal {
        /// Socket path.
        path: String,
    },
    /// `forwarded-streamlocal@openssh.com`: a connection on a remote Unix socket forward.
    ForwardedStreamlocal {
        /// Socket path.
        path: String,
    },
    /// `auth-agent@openssh.com` (OpenSSH PROTOCOL.agent §3): the server asks the client to
    /// connect it to the client's agent, after the client sent `auth-agent-req@openssh.com` on a
    /// session. No data.
    AuthAgent,
    /// `x11` (RFC 4254 §6.3.2).
    X11 {
        /// Originator address.
        originator: String,
        /// Originator port.
        originator_port: u32,
    },
    /// Any other type.
    Other {
        /// The type name.
        name: String,
    },
}

impl ChannelKind {
    /// Parses the open data of `channel_type`.
    pub fn parse(channel_type: &str, data: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(data);
        let kind = match channel_type {
            "session" => ChannelKind::Session,
            "direct-tcpip" => ChannelKind::DirectTcpip {
                host: r.utf8()?.to_owned(),
                port: r.u32()?,
                originator: r.utf8()?.to_owned(),
                originator_port: r.u32()?,
            },
            "forwarded-tcpip" => ChannelKind::ForwardedTcpip {
                address: r.utf8()?.to_owned(),
                port: r.u32()?,
                originator: r.utf8()?.to_owned(),
                originator_port: r.u32()?,
            },
            "direct-streamlocal@openssh.com" | "forwarded-streamlocal@openssh.com" => {
                let path = r.utf8()?.to_owned();
                // reserved string and uint32 (direct) or reserved string (forwarded): ignored.
                let _ = r.take_rest();
                if channel_type.starts_with("direct") {
                    ChannelKind::DirectStreamlocal { path }
                } else {
                    ChannelKind::ForwardedStreamlocal { path }
                }
            }
            "auth-agent@openssh.com" => ChannelKind::AuthAgent,
            "x11" => ChannelKind::X11 {
                originator: r.utf8()?.to_owned(),
                originator_port: r.u32()?,
            },
            other => {
                let _ = r.take_rest();
                ChannelKind::Other {
                    name: other.to_owned(),
                }
            }
        };
        r.finish()?;
        Ok(kind)
    }

    /// The channel type name.
    pub fn type_name(&self) -> &str {
        match self {
            ChannelKind::Session => "session",
            ChannelKind::DirectTcpip { .. } => "direct-tcpip",
            ChannelKind::ForwardedTcpip { .. } => "forwarded-tcpip",
            ChannelKind::DirectStreamlocal { .. } => "direct-streamlocal@openssh.com",
            ChannelKind::ForwardedStreamlocal { .. } => "forwarded-streamlocal@openssh.com",
            ChannelKind::AuthAgent => "auth-agent@openssh.com",
            ChannelKind::X11 { .. } => "x11",
            ChannelKind::Other { name } => name,
        }
    }

    /// The open data to send.
    pub fn to_data(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            ChannelKind::Session | ChannelKind::AuthAgent | ChannelKind::Other { .. } => {}
            ChannelKind::DirectTcpip {
                host: a,
                port,
                originator,
                originator_port,
            }
            | ChannelKind::ForwardedTcpip {
                address: a,
                port,
                originator,
                originator_port,
            } => {
                put::string(&mut out, a.as_bytes());
                put::uint32(&mut out, *port);
                put::string(&mut out, originator.as_bytes());
                put::uint32(&mut out, *originator_port);
            }
            ChannelKind::DirectStreamlocal { path } => {
                put::string(&mut out, path.as_bytes());
                put::string(&mut out, b"");
                put::uint32(&mut out, 0);
            }
            ChannelKind::ForwardedStreamlocal { path } => {
                put::string(&mut out, path.as_bytes());
                put::string(&mut out, b"");
            }
            ChannelKind::X11 {
                originator,
                originator_port,
            } => {
                put::string(&mut out, originator.as_bytes());
                put::uint32(&mut out, *originator_port);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Every kind survives encoding and parsing under its own type name.
    #[test]
    fn kinds_round_trip() {
        let kinds = [
            ChannelKind::Session,
            ChannelKind::DirectTcpip {
                host: "example.org".into(),
                port: 80,
                originator: "127.0.0.1".into(),
                originator_port: 40000,
            },
            ChannelKind::ForwardedTcpip {
                address: "0.0.0.0".into(),
                port: 8080,
                originator: "10.0.0.1".into(),
                originator_port: 1234,
            },
            ChannelKind::DirectStreamlocal {
                path: "/run/a.sock".into(),
            },
            ChannelKind::ForwardedStreamlocal {
                path: "/run/b.sock".into(),
            },
            ChannelKind::AuthAgent,
            ChannelKind::X11 {
                originator: "127.0.0.1".into(),
                originator_port: 6010,
            },
        ];
        for k in kinds {
            let parsed = ChannelKind::parse(k.type_name(), &k.to_data()).unwrap();
            assert_eq!(parsed, k);
        }
        assert_eq!(ChannelKind::AuthAgent.type_name(), "auth-agent@openssh.com");
        assert!(ChannelKind::AuthAgent.to_data().is_empty());
        // Data after an agent channel's (empty) open data is malformed.
        assert!(ChannelKind::parse("auth-agent@openssh.com", b"x").is_err());
    }
}
