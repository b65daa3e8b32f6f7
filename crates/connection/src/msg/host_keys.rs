//! OpenSSH's host key update and rotation (PROTOCOL §2.5, draft-miller-sshm-hostkey-update):
//! the global requests `hostkeys-00@openssh.com` and `hostkeys-prove-00@openssh.com`, and the
//! reply to the latter. The keys and signatures are opaque blobs here: the session layer
//! parses, signs and verifies them.

use nacre_wire::{put, Reader, WireError};

/// The server's list of its host keys, sent after user authentication without want-reply.
pub const HOSTKEYS: &str = "hostkeys-00@openssh.com";

/// The client's request that the server prove it holds the private halves of some keys.
pub const HOSTKEYS_PROVE: &str = "hostkeys-prove-00@openssh.com";

/// The data of `hostkeys-00@openssh.com` and of `hostkeys-prove-00@openssh.com` (PROTOCOL §2.5),
/// and of the REQUEST_SUCCESS that answers the latter (then the strings are signatures).
///
/// ```text
/// byte      SSH_MSG_GLOBAL_REQUEST
/// string    "hostkeys-00@openssh.com"        (or "hostkeys-prove-00@openssh.com")
/// char      0 /* want-reply */               (1 for the prove request)
/// string[]  hostkeys                          <- this type: strings up to the end
///
/// byte      SSH_MSG_REQUEST_SUCCESS
/// string[]  signatures                        <- this type, in the order of the request
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostKeyList<'a> {
    /// The public key blobs (RFC 4253 §6.6) or the signature blobs, in order.
    pub items: Vec<&'a [u8]>,
}

impl<'a> HostKeyList<'a> {
    /// Parses the strings that fill `data` to its end (a truncated string is an error; every
    /// length is checked against what remains before anything is kept).
    pub fn parse(data: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(data);
        let mut items = Vec::new();
        while !r.is_empty() {
            items.push(r.string()?);
        }
        Ok(HostKeyList { items })
    }

    /// Encodes the strings one after the other.
    pub fn to_data(&self) -> Vec<u8> {
        let len = self.items.iter().map(|i| 4 + i.len()).sum();
        let mut out = Vec::with_capacity(len);
        for item in &self.items {
            put::string(&mut out, item);
        }
        out
    }
}

/// The bytes a host key signs to prove it is held (PROTOCOL §2.5):
///
/// ```text
/// string    "hostkeys-prove-00@openssh.com"
/// string    session identifier
/// string    hostkey
/// ```
pub fn prove_signed_data(session_id: &[u8], key_blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + HOSTKEYS_PROVE.len() + session_id.len() + key_blob.len());
    put::string(&mut out, HOSTKEYS_PROVE.as_bytes());
    put::string(&mut out, session_id);
    put::string(&mut out, key_blob);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_truncation_is_an_error() {
        let list = HostKeyList {
            items: vec![b"one", b"", b"three"],
        };
        let data = list.to_data();
        assert_eq!(data.len(), 4 + 3 + 4 + 4 + 5);
        assert_eq!(HostKeyList::parse(&data).unwrap(), list);
        assert!(HostKeyList::parse(&data[..data.len() - 1]).is_err());
        assert_eq!(HostKeyList::parse(&[]).unwrap().items.len(), 0);
        // A length beyond the data is refused before anything is allocated.
        assert!(HostKeyList::parse(&[0xff, 0xff, 0xff, 0xff, 1]).is_err());
    }

    #[test]
    fn signed_data_is_three_strings() {
        let d = prove_signed_data(b"sid", b"blob");
        let mut r = Reader::new(&d);
        assert_eq!(r.string().unwrap(), HOSTKEYS_PROVE.as_bytes());
        assert_eq!(r.string().unwrap(), b"sid");
        assert_eq!(r.string().unwrap(), b"blob");
        assert!(r.is_empty());
    }
}
