//! ssh-agent messages (draft-miller-ssh-agent, OpenSSH `PROTOCOL.agent`), one struct per message.
//!
//! ```text
//! frame    uint32 length, byte[length] message          (length ≤ MAX_MESSAGE_LEN)
//! message  byte type, type-specific fields
//! ```
//!
//! Decoding borrows from the frame; every count and length is checked against the bytes that
//! remain before anything is allocated.

use nacre_wire::{put, Decode, Encode, Reader, WireError};

/// The largest agent message accepted or sent, 256 KiB (OpenSSH's `AGENT_MAX_LEN`).
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;

/// Sign-request flag: sign an RSA key with `rsa-sha2-256` (RFC 8332 §3.1).
pub const SSH_AGENT_RSA_SHA2_256: u32 = 2;
/// Sign-request flag: sign an RSA key with `rsa-sha2-512` (RFC 8332 §3.1).
pub const SSH_AGENT_RSA_SHA2_512: u32 = 4;

nacre_wire::open_enum! {
    /// Agent message numbers (draft-miller-ssh-agent §7.1, `PROTOCOL.agent`).
    pub struct AgentMsg(u8) {
        /// SSH_AGENT_FAILURE.
        FAILURE = 5,
        /// SSH_AGENT_SUCCESS.
        SUCCESS = 6,
        /// SSH_AGENTC_REQUEST_IDENTITIES.
        REQUEST_IDENTITIES = 11,
        /// SSH_AGENT_IDENTITIES_ANSWER.
        IDENTITIES_ANSWER = 12,
        /// SSH_AGENTC_SIGN_REQUEST.
        SIGN_REQUEST = 13,
        /// SSH_AGENT_SIGN_RESPONSE.
        SIGN_RESPONSE = 14,
        /// SSH_AGENTC_ADD_IDENTITY.
        ADD_IDENTITY = 17,
        /// SSH_AGENTC_REMOVE_IDENTITY.
        REMOVE_IDENTITY = 18,
        /// SSH_AGENTC_REMOVE_ALL_IDENTITIES.
        REMOVE_ALL_IDENTITIES = 19,
        /// SSH_AGENTC_ADD_SMARTCARD_KEY.
        ADD_SMARTCARD_KEY = 20,
        /// SSH_AGENTC_REMOVE_SMARTCARD_KEY.
        REMOVE_SMARTCARD_KEY = 21,
        /// SSH_AGENTC_LOCK.
        LOCK = 22,
        /// SSH_AGENTC_UNLOCK.
        UNLOCK = 23,
        /// SSH_AGENTC_ADD_ID_CONSTRAINED.
        ADD_ID_CONSTRAINED = 25,
        /// SSH_AGENTC_ADD_SMARTCARD_KEY_CONSTRAINED.
        ADD_SMARTCARD_KEY_CONSTRAINED = 26,
        /// SSH_AGENTC_EXTENSION.
        EXTENSION = 27,
        /// SSH_AGENT_EXTENSION_FAILURE.
        EXTENSION_FAILURE = 28,
    }
}

/// Encoded length of a `string` holding `len` bytes.
const fn slen(len: usize) -> usize {
    4 + len
}

/// Appends a frame (`uint32 length || message`) holding `msg`.
pub fn encode_frame(msg: &impl Encode, out: &mut Vec<u8>) {
    out.reserve(4 + msg.encoded_len());
    put::uint32(out, put::len32(msg.encoded_len()));
    msg.encode(out);
}

/// The message length announced by a frame header, checked: 1 ..= [`MAX_MESSAGE_LEN`].
pub fn frame_len(header: [u8; 4]) -> Result<usize, WireError> {
    let len = usize::try_from(u32::from_be_bytes(header)).unwrap_or(usize::MAX);
    if len == 0 {
        return Err(WireError::InvalidValue("empty agent message"));
    }
    if len > MAX_MESSAGE_LEN {
        return Err(WireError::TooLong {
            what: "agent message",
            len,
            max: MAX_MESSAGE_LEN,
        });
    }
    Ok(len)
}

/// A complete frame's message and the bytes after it.
pub type SplitFrame<'a> = (&'a [u8], &'a [u8]);

/// Splits the first complete frame off `buf`: `Ok(Some((message, rest)))`, or `Ok(None)` when
/// more bytes are needed. An oversized or empty length is an error as soon as the header is in.
pub fn split_frame(buf: &[u8]) -> Result<Option<SplitFrame<'_>>, WireError> {
    let Some((header, body)) = buf.split_first_chunk::<4>() else {
        return Ok(None);
    };
    let len = frame_len(*header)?;
    Ok(body.get(..len).zip(body.get(len..)))
}

/// A message that is only its type byte.
macro_rules! empty_message {
    ($(#[$meta:meta])* $name:ident = $msg:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl<'a> Decode<'a> for $name {
            fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
                r.expect_msg(AgentMsg::$msg.0)?;
                Ok($name)
            }
        }

        impl Encode for $name {
            fn encoded_len(&self) -> usize {
                1
            }
            fn encode(&self, out: &mut Vec<u8>) {
                put::byte(out, AgentMsg::$msg.0);
            }
        }
    };
}

empty_message!(
    /// SSH_AGENTC_REQUEST_IDENTITIES: `byte 11`.
    RequestIdentities = REQUEST_IDENTITIES
);
empty_message!(
    /// SSH_AGENT_FAILURE: `byte 5`.
    Failure = FAILURE
);
empty_message!(
    /// SSH_AGENT_SUCCESS: `byte 6`.
    Success = SUCCESS
);
empty_message!(
    /// SSH_AGENTC_REMOVE_ALL_IDENTITIES: `byte 19`.
    RemoveAllIdentities = REMOVE_ALL_IDENTITIES
);
empty_message!(
    /// SSH_AGENT_EXTENSION_FAILURE: `byte 28`.
    ExtensionFailure = EXTENSION_FAILURE
);

/// One key of an [`IdentitiesAnswer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The public key blob (RFC 4253 §6.6; may be a certificate or a type this crate does not
    /// support).
    pub key_blob: &'a [u8],
    /// The comment (OpenSSH sends UTF-8, but nothing enforces it).
    pub comment: &'a [u8],
}

/// SSH_AGENT_IDENTITIES_ANSWER.
///
/// ```text
/// byte     SSH_AGENT_IDENTITIES_ANSWER (12)
/// uint32   nkeys
/// repeat nkeys times:
///   string key blob
///   string comment
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentitiesAnswer<'a> {
    /// The keys, in the agent's order.
    pub identities: Vec<Identity<'a>>,
}

impl<'a> Decode<'a> for IdentitiesAnswer<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(AgentMsg::IDENTITIES_ANSWER.0)?;
        let count = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        // Each identity takes at least 8 bytes: check before allocating.
        let max = r.remaining().len() / 8;
        if count > max {
            return Err(WireError::TooLong {
                what: "agent nkeys",
                len: count,
                max,
            });
        }
        let mut identities = Vec::with_capacity(count);
        for _ in 0..count {
            let key_blob = r.string()?;
            let comment = r.string()?;
            identities.push(Identity { key_blob, comment });
        }
        Ok(Self { identities })
    }
}

impl Encode for IdentitiesAnswer<'_> {
    fn encoded_len(&self) -> usize {
        5 + self
            .identities
            .iter()
            .map(|i| slen(i.key_blob.len()) + slen(i.comment.len()))
            .sum::<usize>()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, AgentMsg::IDENTITIES_ANSWER.0);
        put::uint32(out, put::len32(self.identities.len()));
        for i in &self.identities {
            put::string(out, i.key_blob);
            put::string(out, i.comment);
        }
    }
}

/// SSH_AGENTC_SIGN_REQUEST.
///
/// ```text
/// byte     SSH_AGENTC_SIGN_REQUEST (13)
/// string   key blob
/// string   data
/// uint32   flags            SSH_AGENT_RSA_SHA2_256 (2), SSH_AGENT_RSA_SHA2_512 (4)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignRequest<'a> {
    /// The public key blob of the key to sign with.
    pub key_blob: &'a [u8],
    /// The data to sign.
    pub data: &'a [u8],
    /// The flags.
    pub flags: u32,
}

impl<'a> Decode<'a> for SignRequest<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(AgentMsg::SIGN_REQUEST.0)?;
        Ok(Self {
            key_blob: r.string()?,
            data: r.string()?,
            flags: r.u32()?,
        })
    }
}

impl Encode for SignRequest<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.key_blob.len()) + slen(self.data.len()) + 4
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, AgentMsg::SIGN_REQUEST.0);
        put::string(out, self.key_blob);
        put::string(out, self.data);
        put::uint32(out, self.flags);
    }
}

/// SSH_AGENT_SIGN_RESPONSE.
///
/// ```text
/// byte     SSH_AGENT_SIGN_RESPONSE (14)
/// string   signature blob   (string algorithm, string signature)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignResponse<'a> {
    /// The signature blob.
    pub signature: &'a [u8],
}

impl<'a> Decode<'a> for SignResponse<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(AgentMsg::SIGN_RESPONSE.0)?;
        Ok(Self {
            signature: r.string()?,
        })
    }
}

impl Encode for SignResponse<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.signature.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, AgentMsg::SIGN_RESPONSE.0);
        put::string(out, self.signature);
    }
}

/// SSH_AGENTC_ADD_IDENTITY, or SSH_AGENTC_ADD_ID_CONSTRAINED when constraints are present.
///
/// ```text
/// byte     SSH_AGENTC_ADD_IDENTITY (17) / SSH_AGENTC_ADD_ID_CONSTRAINED (25)
/// string   key type
/// ...      type-specific private key fields (as in openssh-key-v1's private section)
/// string   comment
/// byte[]   constraints      (25 only: the rest of the message)
/// ```
///
/// Key fields by type (`PROTOCOL.agent`, draft-miller-ssh-agent §3.2.3):
///
/// ```text
/// ssh-ed25519            string public (32), string private || public (64)
/// ecdsa-sha2-<curve>     string curve, string Q, mpint d
/// ssh-rsa                mpint n, mpint e, mpint d, mpint iqmp, mpint p, mpint q
/// ssh-dss                mpint p, mpint q, mpint g, mpint y, mpint x
/// ```
///
/// Holds secrets: an encoded message should be wiped after use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AddIdentity<'a> {
    /// The key type name.
    pub key_type: &'a str,
    /// The raw type-specific fields, exactly as on the wire.
    pub key_fields: &'a [u8],
    /// The comment.
    pub comment: &'a [u8],
    /// The raw constraints of SSH_AGENTC_ADD_ID_CONSTRAINED (`None` for ADD_IDENTITY).
    pub constraints: Option<&'a [u8]>,
}

impl std::fmt::Debug for AddIdentity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddIdentity")
            .field("key_type", &self.key_type)
            .field("key_fields", &"<secret>")
            .field("comment", &String::from_utf8_lossy(self.comment))
            .field("constraints", &self.constraints)
            .finish()
    }
}

/// Reads past the private fields of `key_type` and returns them.
fn private_fields<'a>(key_type: &str, r: &mut Reader<'a>) -> Result<&'a [u8], WireError> {
    let start = r.remaining();
    match key_type {
        "ssh-ed25519" => {
            r.string()?;
            r.string()?;
        }
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            r.string()?;
            r.string()?;
            r.mpint()?;
        }
        "ssh-rsa" => {
            for _ in 0..6 {
                r.mpint()?;
            }
        }
        "ssh-dss" => {
            for _ in 0..5 {
                r.mpint()?;
            }
        }
        _ => return Err(WireError::InvalidValue("key type of ADD_IDENTITY")),
    }
    let used = start.len() - r.remaining().len();
    start
        .get(..used)
        .ok_or(WireError::InvalidValue("key type of ADD_IDENTITY"))
}

impl<'a> Decode<'a> for AddIdentity<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let msg = r.u8()?;
        let constrained = match AgentMsg(msg) {
            AgentMsg::ADD_IDENTITY => false,
            AgentMsg::ADD_ID_CONSTRAINED => true,
            _ => {
                return Err(WireError::UnexpectedMessage {
                    expected: AgentMsg::ADD_IDENTITY.0,
                    found: msg,
                })
            }
        };
        let key_type = r.utf8()?;
        let key_fields = private_fields(key_type, r)?;
        let comment = r.string()?;
        let constraints = constrained.then(|| r.take_rest());
        Ok(Self {
            key_type,
            key_fields,
            comment,
            constraints,
        })
    }
}

impl Encode for AddIdentity<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.key_type.len())
            + self.key_fields.len()
            + slen(self.comment.len())
            + self.constraints.map_or(0, <[u8]>::len)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        let msg = if self.constraints.is_some() {
            AgentMsg::ADD_ID_CONSTRAINED
        } else {
            AgentMsg::ADD_IDENTITY
        };
        put::byte(out, msg.0);
        put::string(out, self.key_type.as_bytes());
        out.extend_from_slice(self.key_fields);
        put::string(out, self.comment);
        if let Some(c) = self.constraints {
            out.extend_from_slice(c);
        }
    }
}

/// SSH_AGENTC_REMOVE_IDENTITY: `byte 18, string key blob`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoveIdentity<'a> {
    /// The public key blob of the key to remove.
    pub key_blob: &'a [u8],
}

impl<'a> Decode<'a> for RemoveIdentity<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(AgentMsg::REMOVE_IDENTITY.0)?;
        Ok(Self {
            key_blob: r.string()?,
        })
    }
}

impl Encode for RemoveIdentity<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.key_blob.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, AgentMsg::REMOVE_IDENTITY.0);
        put::string(out, self.key_blob);
    }
}

/// SSH_AGENTC_EXTENSION: `byte 27, string extension type, byte[] contents` (the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension name (`query`, `session-bind@openssh.com`, ...).
    pub name: &'a str,
    /// The extension-specific contents.
    pub contents: &'a [u8],
}

impl<'a> Decode<'a> for Extension<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(AgentMsg::EXTENSION.0)?;
        Ok(Self {
            name: r.utf8()?,
            contents: r.take_rest(),
        })
    }
}

impl Encode for Extension<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.name.len()) + self.contents.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, AgentMsg::EXTENSION.0);
        put::string(out, self.name.as_bytes());
        out.extend_from_slice(self.contents);
    }
}

/// Any reply an agent sends to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response<'a> {
    /// SSH_AGENT_SUCCESS.
    Success,
    /// SSH_AGENT_FAILURE.
    Failure,
    /// SSH_AGENT_EXTENSION_FAILURE.
    ExtensionFailure,
    /// SSH_AGENT_IDENTITIES_ANSWER.
    Identities(IdentitiesAnswer<'a>),
    /// SSH_AGENT_SIGN_RESPONSE.
    Signature(SignResponse<'a>),
    /// Another message number (extension replies use SUCCESS with contents or their own
    /// numbers): the number and the bytes after it.
    Other(AgentMsg, &'a [u8]),
}

impl<'a> Response<'a> {
    /// Decodes one whole message (no frame header); trailing bytes are an error except after
    /// SUCCESS, which extension replies may follow with contents (`PROTOCOL.agent`).
    pub fn decode_message(message: &'a [u8]) -> Result<Self, WireError> {
        let msg = AgentMsg(*message.first().ok_or(WireError::Truncated { needed: 1 })?);
        Ok(match msg {
            AgentMsg::SUCCESS => Self::Success,
            AgentMsg::FAILURE => Self::Failure.exact(message)?,
            AgentMsg::EXTENSION_FAILURE => Self::ExtensionFailure.exact(message)?,
            AgentMsg::IDENTITIES_ANSWER => Self::Identities(nacre_wire::decode_exact(message)?),
            AgentMsg::SIGN_RESPONSE => Self::Signature(nacre_wire::decode_exact(message)?),
            other => Self::Other(other, message.get(1..).unwrap_or_default()),
        })
    }

    fn exact(self, message: &[u8]) -> Result<Self, WireError> {
        if message.len() == 1 {
            Ok(self)
        } else {
            Err(WireError::TrailingData {
                len: message.len() - 1,
            })
        }
    }
}

/// Any request a client sends to an agent.
///
/// A client frames a request with [`encode_frame`]; the agent splits frames off its input with
/// [`split_frame`] and decodes them:
///
/// ```
/// use nacre_keys::agent::codec::{encode_frame, split_frame, Request, SignRequest};
/// use nacre_keys::PrivateKey;
///
/// let key_blob = PrivateKey::from_ed25519_seed(&[5; 32]).public_key().to_blob();
/// let mut stream = Vec::new();
/// encode_frame(&SignRequest { key_blob: &key_blob, data: b"challenge", flags: 0 }, &mut stream);
///
/// assert_eq!(split_frame(&stream[..10])?, None); // incomplete: wait for more bytes
/// let (message, rest) = split_frame(&stream)?.expect("a whole frame");
/// assert!(rest.is_empty());
/// let Request::Sign(req) = Request::decode_message(message)? else { unreachable!() };
/// assert_eq!(req.data, b"challenge");
/// assert_eq!(req.key_blob, key_blob);
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// SSH_AGENTC_REQUEST_IDENTITIES.
    RequestIdentities,
    /// SSH_AGENTC_SIGN_REQUEST.
    Sign(SignRequest<'a>),
    /// SSH_AGENTC_ADD_IDENTITY or SSH_AGENTC_ADD_ID_CONSTRAINED.
    AddIdentity(AddIdentity<'a>),
    /// SSH_AGENTC_REMOVE_IDENTITY.
    RemoveIdentity(RemoveIdentity<'a>),
    /// SSH_AGENTC_REMOVE_ALL_IDENTITIES.
    RemoveAllIdentities,
    /// SSH_AGENTC_EXTENSION.
    Extension(Extension<'a>),
    /// Another message number: the number and the bytes after it.
    Other(AgentMsg, &'a [u8]),
}

impl<'a> Request<'a> {
    /// Decodes one whole message (no frame header); trailing bytes are an error.
    pub fn decode_message(message: &'a [u8]) -> Result<Self, WireError> {
        let msg = AgentMsg(*message.first().ok_or(WireError::Truncated { needed: 1 })?);
        Ok(match msg {
            AgentMsg::REQUEST_IDENTITIES => {
                nacre_wire::decode_exact::<RequestIdentities>(message)?;
                Self::RequestIdentities
            }
            AgentMsg::SIGN_REQUEST => Self::Sign(nacre_wire::decode_exact(message)?),
            AgentMsg::ADD_IDENTITY | AgentMsg::ADD_ID_CONSTRAINED => {
                Self::AddIdentity(nacre_wire::decode_exact(message)?)
            }
            AgentMsg::REMOVE_IDENTITY => Self::RemoveIdentity(nacre_wire::decode_exact(message)?),
            AgentMsg::REMOVE_ALL_IDENTITIES => {
                nacre_wire::decode_exact::<RemoveAllIdentities>(message)?;
                Self::RemoveAllIdentities
            }
            AgentMsg::EXTENSION => Self::Extension(nacre_wire::decode_exact(message)?),
            other => Self::Other(other, message.get(1..).unwrap_or_default()),
        })
    }
}
