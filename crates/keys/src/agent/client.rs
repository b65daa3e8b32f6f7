//! A blocking ssh-agent client over a Unix socket (`SSH_AUTH_SOCK`).

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use nacre_wire::{Encode, WireError};
use zeroize::Zeroizing;

use super::codec::{
    encode_frame, frame_len, AddIdentity, AgentMsg, Extension, RemoveAllIdentities, RemoveIdentity,
    RequestIdentities, Response, SignRequest, SSH_AGENT_RSA_SHA2_256, SSH_AGENT_RSA_SHA2_512,
};
use crate::{KeyError, PrivateKey, PublicKey, SignatureAlgorithm};

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// `SSH_AUTH_SOCK` is not set (or empty).
    #[error("SSH_AUTH_SOCK is not set: no agent")]
    NoAgent,
    /// Connecting, reading or writing failed (a timeout is an I/O error of kind `WouldBlock`
    /// or `TimedOut`).
    #[error("agent I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The agent's reply is malformed or too long.
    #[error("malformed agent reply: {0}")]
    Wire(#[from] WireError),
    /// A key or signature problem (unsupported algorithm for the key, the agent signed with
    /// another algorithm than asked, ...).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The agent answered SSH_AGENT_FAILURE (unknown key, refused by a constraint or the user,
    /// locked agent, ...).
    #[error("the agent refused the request")]
    Refused,
    /// The agent answered SSH_AGENT_EXTENSION_FAILURE.
    #[error("the agent refused the extension request")]
    ExtensionRefused,
    /// The agent answered with a message that does not fit the request.
    #[error("unexpected agent reply {0}")]
    UnexpectedReply(AgentMsg),
    /// The request would exceed the 256 KiB message limit.
    #[error("agent request of {0} bytes is too long")]
    RequestTooLong(usize),
}

/// A connection to an ssh-agent. Requests are answered in order, one at a time.
///
/// After an I/O error (a timeout included) the connection may be in the middle of a message:
/// drop it and connect again.
#[derive(Debug)]
pub struct AgentClient {
    stream: UnixStream,
}

impl AgentClient {
    /// Read and write timeout set by [`AgentClient::connect`]: agents may ask the user to
    /// confirm a signature, so it is generous.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// Connects to the agent socket at `path`, with [`AgentClient::DEFAULT_TIMEOUT`].
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, AgentError> {
        let stream = UnixStream::connect(path)?;
        let client = Self { stream };
        client.set_timeout(Some(Self::DEFAULT_TIMEOUT))?;
        Ok(client)
    }

    /// Connects to the agent named by `SSH_AUTH_SOCK`.
    pub fn from_env() -> Result<Self, AgentError> {
        match std::env::var_os("SSH_AUTH_SOCK") {
            Some(path) if !path.is_empty() => Self::connect(path),
            _ => Err(AgentError::NoAgent),
        }
    }

    /// Wraps an already connected stream (timeouts left as they are).
    pub fn from_stream(stream: UnixStream) -> Self {
        Self { stream }
    }

    /// Sets the read and write timeouts (`None`: wait forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), AgentError> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)?;
        Ok(())
    }

    /// Sends one request and reads the reply message (without its frame header).
    fn request(&mut self, msg: &impl Encode) -> Result<Zeroizing<Vec<u8>>, AgentError> {
        let len = msg.encoded_len();
        if len > super::codec::MAX_MESSAGE_LEN {
            return Err(AgentError::RequestTooLong(len));
        }
        let mut frame = Zeroizing::new(Vec::new());
        encode_frame(msg, &mut frame);
        self.stream.write_all(&frame)?;
        self.stream.flush()?;
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header)?;
        let len = frame_len(header)?;
        let mut reply = Zeroizing::new(vec![0u8; len]);
        self.stream.read_exact(&mut reply)?;
        Ok(reply)
    }

    /// Sends a request that the agent answers with SUCCESS or FAILURE.
    fn simple(&mut self, msg: &impl Encode) -> Result<(), AgentError> {
        let reply = self.request(msg)?;
        match Response::decode_message(&reply)? {
            Response::Success => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The keys the agent holds, as raw blobs with their comments (certificates and key types
    /// this crate does not support included).
    pub fn identity_blobs(&mut self) -> Result<Vec<(Vec<u8>, String)>, AgentError> {
        let reply = self.request(&RequestIdentities)?;
        match Response::decode_message(&reply)? {
            Response::Identities(answer) => Ok(answer
                .identities
                .iter()
                .map(|i| {
                    (
                        i.key_blob.to_vec(),
                        String::from_utf8_lossy(i.comment).into_owned(),
                    )
                })
                .collect()),
            other => Err(unexpected(&other)),
        }
    }

    /// The keys the agent holds that this crate supports, with their comments, in the agent's
    /// order. Certificates and other key types are left out (see
    /// [`AgentClient::identity_blobs`]).
    pub fn identities(&mut self) -> Result<Vec<(PublicKey, String)>, AgentError> {
        Ok(self
            .identity_blobs()?
            .into_iter()
            .filter_map(|(blob, comment)| {
                PublicKey::from_blob(&blob).ok().map(|key| (key, comment))
            })
            .collect())
    }

    /// The OpenSSH certificates the agent holds (PROTOCOL.certkeys; `ssh-add` loads
    /// `KEY-cert.pub` with `KEY`), with their comments, in the agent's order.
    pub fn certificates(&mut self) -> Result<Vec<(crate::Certificate, String)>, AgentError> {
        Ok(self
            .identity_blobs()?
            .into_iter()
            .filter_map(|(blob, comment)| {
                crate::Certificate::from_blob(&blob)
                    .ok()
                    .map(|c| (c, comment))
            })
            .collect())
    }

    /// Asks the agent to sign `data` with the key of the certificate `cert` (named by the
    /// certificate's blob, as the agent holds it) using `alg`; as [`AgentClient::sign`].
    pub fn sign_certificate(
        &mut self,
        cert: &crate::Certificate,
        data: &[u8],
        alg: SignatureAlgorithm,
    ) -> Result<Vec<u8>, AgentError> {
        self.sign_blob(cert.key(), cert.blob(), data, alg)
    }

    /// Asks the agent to sign `data` with `key` using `alg`, and returns the signature blob
    /// (`string algorithm, string signature`). For RSA keys the request carries the
    /// `SSH_AGENT_RSA_SHA2_256`/`_512` flag `alg` needs; a reply signed with another algorithm
    /// (an agent that ignored the flag) is an error.
    pub fn sign(
        &mut self,
        key: &PublicKey,
        data: &[u8],
        alg: SignatureAlgorithm,
    ) -> Result<Vec<u8>, AgentError> {
        self.sign_blob(key, &key.to_blob(), data, alg)
    }

    fn sign_blob(
        &mut self,
        key: &PublicKey,
        blob: &[u8],
        data: &[u8],
        alg: SignatureAlgorithm,
    ) -> Result<Vec<u8>, AgentError> {
        if !key.key_type().supports(alg) {
            return Err(KeyError::IncompatibleAlgorithm {
                key_type: key.key_type(),
                algorithm: alg,
            }
            .into());
        }
        let flags = match alg {
            SignatureAlgorithm::RsaSha256 => SSH_AGENT_RSA_SHA2_256,
            SignatureAlgorithm::RsaSha512 => SSH_AGENT_RSA_SHA2_512,
            _ => 0,
        };
        let reply = self.request(&SignRequest {
            key_blob: blob,
            data,
            flags,
        })?;
        let signature = match Response::decode_message(&reply)? {
            Response::Signature(s) => s.signature,
            other => return Err(unexpected(&other)),
        };
        // A security key signature carries flags and a counter after the signature string
        // (PROTOCOL.u2f); the others are exactly `string alg, string signature`.
        let name = if alg.is_sk() {
            crate::SkSignature::decode(signature)?.algorithm
        } else {
            crate::decode_signature_blob(signature)?.0
        };
        if name != alg.name().as_bytes() {
            return Err(KeyError::SignatureAlgorithmMismatch {
                expected: alg,
                found: String::from_utf8_lossy(name).into_owned(),
            }
            .into());
        }
        Ok(signature.to_vec())
    }

    /// Gives `key` to the agent (SSH_AGENTC_ADD_IDENTITY) with `comment`. The encoded request,
    /// which holds the private key, is wiped after sending.
    pub fn add_identity(&mut self, key: &PrivateKey, comment: &str) -> Result<(), AgentError> {
        let mut fields = Zeroizing::new(Vec::new());
        key.write_private_fields(&mut fields);
        self.simple(&AddIdentity {
            key_type: key.key_type().name(),
            key_fields: &fields,
            comment: comment.as_bytes(),
            constraints: None,
        })
    }

    /// Removes `key` from the agent (SSH_AGENTC_REMOVE_IDENTITY).
    pub fn remove_identity(&mut self, key: &PublicKey) -> Result<(), AgentError> {
        let blob = key.to_blob();
        self.simple(&RemoveIdentity { key_blob: &blob })
    }

    /// Removes every key from the agent (SSH_AGENTC_REMOVE_ALL_IDENTITIES).
    pub fn remove_all(&mut self) -> Result<(), AgentError> {
        self.simple(&RemoveAllIdentities)
    }

    /// Sends SSH_AGENTC_EXTENSION `name` with `contents` and returns the contents of the
    /// SUCCESS reply (empty when the extension returns none).
    pub fn extension(&mut self, name: &str, contents: &[u8]) -> Result<Vec<u8>, AgentError> {
        let reply = self.request(&Extension { name, contents })?;
        match Response::decode_message(&reply)? {
            Response::Success => Ok(reply.get(1..).unwrap_or_default().to_vec()),
            other => Err(unexpected(&other)),
        }
    }
}

/// The error for a reply that does not answer the request.
fn unexpected(reply: &Response<'_>) -> AgentError {
    match reply {
        Response::Failure => AgentError::Refused,
        Response::ExtensionFailure => AgentError::ExtensionRefused,
        Response::Success => AgentError::UnexpectedReply(AgentMsg::SUCCESS),
        Response::Identities(_) => AgentError::UnexpectedReply(AgentMsg::IDENTITIES_ANSWER),
        Response::Signature(_) => AgentError::UnexpectedReply(AgentMsg::SIGN_RESPONSE),
        Response::Other(msg, _) => AgentError::UnexpectedReply(*msg),
    }
}
