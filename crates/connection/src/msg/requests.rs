//! Channel request types and their data (RFC 4254 §6, OpenSSH PROTOCOL).

use nacre_wire::{put, Reader, WireError};

/// A channel request, typed.
///
/// ```
/// use nacre_connection::RequestKind;
///
/// let exec = RequestKind::Exec { command: b"ls -l".to_vec() };
/// assert_eq!(exec.name(), "exec");
/// assert_eq!(exec.to_data(), b"\0\0\0\x05ls -l");
/// assert_eq!(RequestKind::parse("exec", &exec.to_data())?, exec);
///
/// let status = RequestKind::parse("exit-status", &[0, 0, 0, 3])?;
/// assert_eq!(status, RequestKind::ExitStatus { code: 3 });
/// // Unknown requests keep their data for the application.
/// let other = RequestKind::parse("x-custom@example.com", b"raw")?;
/// assert!(matches!(other, RequestKind::Other { ref data, .. } if data == b"raw"));
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// `pty-req` (RFC 4254 §6.2).
    PtyReq {
        /// TERM.
        term: String,
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
        /// Encoded terminal modes.
        modes: Vec<u8>,
    },
    /// `x11-req` (RFC 4254 §6.3.1).
    X11Req {
        /// Single connection.
        single_connection: bool,
        /// Auth protocol.
        auth_protocol: String,
        /// Auth cookie.
        auth_cookie: String,
        /// Screen number.
        screen: u32,
    },
    /// `env` (RFC 4254 §6.4).
    Env {
        /// Variable name.
        name: String,
        /// Value.
        value: String,
    },
    /// `shell` (RFC 4254 §6.5).
    Shell,
    /// `exec` (RFC 4254 §6.5).
    Exec {
        /// The command line (bytes: not necessarily UTF-8).
        command: Vec<u8>,
    },
    /// `subsystem` (RFC 4254 §6.5).
    Subsystem {
        /// Subsystem name.
        name: String,
    },
    /// `window-change` (RFC 4254 §6.7).
    WindowChange {
        /// Columns.
        cols: u32,
        /// Rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
    },
    /// `signal` (RFC 4254 §6.9): signal name without "SIG".
    Signal {
        /// Signal name.
        name: String,
    },
    /// `exit-status` (RFC 4254 §6.10).
    ExitStatus {
        /// Exit code.
        code: u32,
    },
    /// `exit-signal` (RFC 4254 §6.10).
    ExitSignal {
        /// Signal name without "SIG".
        name: String,
        /// Core dumped.
        core_dumped: bool,
        /// Error message.
        message: String,
    },
    /// `auth-agent-req@openssh.com`.
    AuthAgentReq,
    /// `keepalive@openssh.com` (a want-reply ping).
    KeepAlive,
    /// `eow@openssh.com` (OpenSSH PROTOCOL §2.1, End Of Write; sent without want-reply and
    /// with no data): the sender's local output of the session closed, so the receiver should
    /// stop sending channel data (the channel stays open the other way).
    ///
    /// ```text
    /// byte      SSH_MSG_CHANNEL_REQUEST
    /// uint32    recipient channel
    /// string    "eow@openssh.com"
    /// boolean   FALSE
    /// ```
    Eow,
    /// Any other request, with its raw data.
    Other {
        /// Request type.
        name: String,
        /// Raw data.
        data: Vec<u8>,
    },
}

impl RequestKind {
    /// Parses the data of a request of type `name`.
    pub fn parse(name: &str, data: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(data);
        let s = |r: &mut Reader<'_>| r.utf8().map(str::to_owned);
        let kind = match name {
            "pty-req" => RequestKind::PtyReq {
                term: s(&mut r)?,
                cols: r.u32()?,
                rows: r.u32()?,
                width_px: r.u32()?,
                height_px: r.u32()?,
                modes: r.string()?.to_vec(),
            },
            "x11-req" => RequestKind::X11Req {
                single_connection: r.bool()?,
                auth_protocol: s(&mut r)?,
                auth_cookie: s(&mut r)?,
                screen: r.u32()?,
            },
            "env" => RequestKind::Env {
                name: s(&mut r)?,
                value: s(&mut r)?,
            },
            "shell" => RequestKind::Shell,
            "exec" => RequestKind::Exec {
                command: r.string()?.to_vec(),
            },
            "subsystem" => RequestKind::Subsystem { name: s(&mut r)? },
            "window-change" => RequestKind::WindowChange {
                cols: r.u32()?,
                rows: r.u32()?,
                width_px: r.u32()?,
                height_px: r.u32()?,
            },
            "signal" => RequestKind::Signal { name: s(&mut r)? },
            "exit-status" => RequestKind::ExitStatus { code: r.u32()? },
            "exit-signal" => {
                let name = s(&mut r)?;
                let core_dumped = r.bool()?;
                let message = s(&mut r)?;
                let _language = if r.is_empty() { "" } else { r.utf8()? };
                RequestKind::ExitSignal {
                    name,
                    core_dumped,
                    message,
                }
            }
            "auth-agent-req@openssh.com" => RequestKind::AuthAgentReq,
            "keepalive@openssh.com" => RequestKind::KeepAlive,
            "eow@openssh.com" => RequestKind::Eow,
            other => RequestKind::Other {
                name: other.to_owned(),
                data: r.take_rest().to_vec(),
            },
        };
        r.finish()?;
        Ok(kind)
    }

    /// The request type name.
    pub fn name(&self) -> &str {
        match self {
            RequestKind::PtyReq { .. } => "pty-req",
            RequestKind::X11Req { .. } => "x11-req",
            RequestKind::Env { .. } => "env",
            RequestKind::Shell => "shell",
            RequestKind::Exec { .. } => "exec",
            RequestKind::Subsystem { .. } => "subsystem",
            RequestKind::WindowChange { .. } => "window-change",
            RequestKind::Signal { .. } => "signal",
            RequestKind::ExitStatus { .. } => "exit-status",
            RequestKind::ExitSignal { .. } => "exit-signal",
            RequestKind::AuthAgentReq => "auth-agent-req@openssh.com",
            RequestKind::KeepAlive => "keepalive@openssh.com",
            RequestKind::Eow => "eow@openssh.com",
            RequestKind::Other { name, .. } => name,
        }
    }

    /// The request data to send.
    pub fn to_data(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match self {
            RequestKind::PtyReq {
                term,
                cols,
                rows,
                width_px,
                height_px,
                modes,
            } => {
                put::string(&mut o, term.as_bytes());
                for v in [cols, rows, width_px, height_px] {
                    put::uint32(&mut o, *v);
                }
                put::string(&mut o, modes);
            }
            RequestKind::X11Req {
                single_connection,
                auth_protocol,
                auth_cookie,
                screen,
            } => {
                put::boolean(&mut o, *single_connection);
                put::string(&mut o, auth_protocol.as_bytes());
                put::string(&mut o, auth_cookie.as_bytes());
                put::uint32(&mut o, *screen);
            }
            RequestKind::Env { name, value } => {
                put::string(&mut o, name.as_bytes());
                put::string(&mut o, value.as_bytes());
            }
            RequestKind::Shell
            | RequestKind::AuthAgentReq
            | RequestKind::KeepAlive
            | RequestKind::Eow => {}
            RequestKind::Exec { command } => put::string(&mut o, command),
            RequestKind::Subsystem { name } | RequestKind::Signal { name } => {
                put::string(&mut o, name.as_bytes())
            }
            RequestKind::WindowChange {
                cols,
                rows,
                width_px,
                height_px,
            } => {
                for v in [cols, rows, width_px, height_px] {
                    put::uint32(&mut o, *v);
                }
            }
            RequestKind::ExitStatus { code } => put::uint32(&mut o, *code),
            RequestKind::ExitSignal {
                name,
                core_dumped,
                message,
            } => {
                put::string(&mut o, name.as_bytes());
                put::boolean(&mut o, *core_dumped);
                put::string(&mut o, message.as_bytes());
                put::string(&mut o, b"");
            }
            RequestKind::Other { data, .. } => o.extend_from_slice(data),
        }
        o
    }
}
