//! Global requests (RFC 4254 §4).

use nacre_wire::{put, Decode, Encode, MsgNumber, Reader, WireError};

use super::slen;

/// SSH_MSG_GLOBAL_REQUEST (RFC 4254 §4).
///
/// ```text
/// byte      SSH_MSG_GLOBAL_REQUEST
/// string    request name in US-ASCII only
/// boolean   want reply
/// ....      request-specific data follows
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalRequest<'a> {
    /// Request name.
    pub name: &'a str,
    /// Whether a reply is wanted.
    pub want_reply: bool,
    /// Request-specific data.
    pub data: &'a [u8],
}

impl<'a> Decode<'a> for GlobalRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::GLOBAL_REQUEST.0)?;
        Ok(GlobalRequest {
            name: r.utf8()?,
            want_reply: r.bool()?,
            data: r.take_rest(),
        })
    }
}

impl Encode for GlobalRequest<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.name.len()) + 1 + self.data.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::GLOBAL_REQUEST.0);
        put::string(out, self.name.as_bytes());
        put::boolean(out, self.want_reply);
        out.extend_from_slice(self.data);
    }
}

/// `tcpip-forward` / `cancel-tcpip-forward` data (RFC 4254 §7.1).
///
/// ```text
/// string    address to bind (e.g., "0.0.0.0")
/// uint32    port number to bind
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpipForward<'a> {
    /// Address to bind.
    pub address: &'a str,
    /// Port to bind (0: let the server choose).
    pub port: u32,
}

impl<'a> TcpipForward<'a> {
    /// Parses the request-specific data.
    pub fn parse(data: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(data);
        let v = TcpipForward {
            address: r.utf8()?,
            port: r.u32()?,
        };
        r.finish()?;
        Ok(v)
    }

    /// Encodes the request-specific data.
    pub fn to_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.address.len());
        put::string(&mut out, self.address.as_bytes());
        put::uint32(&mut out, self.port);
        out
    }
}

/// `streamlocal-forward@openssh.com` / cancel data (OpenSSH PROTOCOL §2.4): `string socket path`.
pub fn parse_streamlocal_forward(data: &[u8]) -> Result<&str, WireError> {
    let mut r = Reader::new(data);
    let path = r.utf8()?;
    r.finish()?;
    Ok(path)
}

/// SSH_MSG_REQUEST_SUCCESS (RFC 4254 §4): `byte` then response-specific data (for
/// `tcpip-forward` with port 0, `uint32 port that was bound`).
pub fn request_success(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + data.len());
    put::byte(&mut out, MsgNumber::REQUEST_SUCCESS.0);
    out.extend_from_slice(data);
    out
}

/// SSH_MSG_REQUEST_FAILURE (RFC 4254 §4).
pub fn request_failure() -> Vec<u8> {
    vec![MsgNumber::REQUEST_FAILURE.0]
}
