//! The generic authentication messages (RFC 4252 §5).

use nacre_wire::{put, Decode, Encode, NameList, Reader, WireError};

use nacre_wire::MsgNumber;

use super::slen;

/// The method-specific part of a USERAUTH_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method<'a> {
    /// `none` (RFC 4252 §5.2): asks which methods can continue.
    None,
    /// `password` (RFC 4252 §8).
    ///
    /// ```text
    /// boolean   FALSE / TRUE (change)
    /// string    plaintext password in ISO-10646 UTF-8 encoding
    /// [string   plaintext new password]   (only when TRUE)
    /// ```
    Password {
        /// The (current) password.
        password: &'a str,
        /// The new password when changing it.
        new_password: Option<&'a str>,
    },
    /// `publickey` (RFC 4252 §7).
    ///
    /// ```text
    /// boolean   FALSE (query) / TRUE (signed)
    /// string    public key algorithm name
    /// string    public key blob
    /// [string   signature]   (only when TRUE)
    /// ```
    PublicKey {
        /// Signature algorithm name.
        algorithm: &'a str,
        /// Public key blob.
        key_blob: &'a [u8],
        /// The signature blob, absent in a query.
        signature: Option<&'a [u8]>,
    },
    /// `keyboard-interactive` (RFC 4256 §3.1).
    ///
    /// ```text
    /// string    language tag (deprecated)
    /// string    submethods
    /// ```
    KeyboardInteractive {
        /// Language tag.
        language: &'a str,
        /// Submethod hints.
        submethods: &'a str,
    },
    /// Any other method: its name and the unparsed rest.
    Other {
        /// Method name.
        name: &'a str,
        /// Method-specific fields.
        rest: &'a [u8],
    },
}

impl Method<'_> {
    /// The method name on the wire.
    pub fn name(&self) -> &str {
        match self {
            Method::None => "none",
            Method::Password { .. } => "password",
            Method::PublicKey { .. } => "publickey",
            Method::KeyboardInteractive { .. } => "keyboard-interactive",
            Method::Other { name, .. } => name,
        }
    }
}

/// SSH_MSG_USERAUTH_REQUEST (RFC 4252 §5).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_REQUEST
/// string    user name in ISO-10646 UTF-8 encoding
/// string    service name in US-ASCII
/// string    method name in US-ASCII
/// ....      method specific fields
/// ```
///
/// ```
/// use nacre_auth::msg::{Method, Request};
/// use nacre_wire::{decode_exact, Encode};
///
/// let method = Method::Password { password: "hunter2", new_password: None };
/// let request = Request { user: "alice", service: "ssh-connection", method };
/// let payload = request.to_bytes();
/// assert_eq!(payload[0], 50); // SSH_MSG_USERAUTH_REQUEST
///
/// let decoded: Request = decode_exact(&payload)?;
/// assert_eq!(decoded, request);
/// assert_eq!(decoded.method.name(), "password");
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// User name.
    pub user: &'a str,
    /// Service to start after authentication (`ssh-connection`).
    pub service: &'a str,
    /// The method and its fields.
    pub method: Method<'a>,
}

impl<'a> Decode<'a> for Request<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::USERAUTH_REQUEST.0)?;
        let user = r.utf8()?;
        let service = r.utf8()?;
        let name = r.utf8()?;
        let method = match name {
            "none" => Method::None,
            "password" => {
                let change = r.bool()?;
                let password = r.utf8()?;
                let new_password = if change { Some(r.utf8()?) } else { None };
                Method::Password {
                    password,
                    new_password,
                }
            }
            "publickey" => {
                let signed = r.bool()?;
                let algorithm = r.utf8()?;
                let key_blob = r.string()?;
                let signature = if signed { Some(r.string()?) } else { None };
                Method::PublicKey {
                    algorithm,
                    key_blob,
                    signature,
                }
            }
            "keyboard-interactive" => Method::KeyboardInteractive {
                language: r.utf8()?,
                submethods: r.utf8()?,
            },
            other => Method::Other {
                name: other,
                rest: r.take_rest(),
            },
        };
        Ok(Request {
            user,
            service,
            method,
        })
    }
}

impl Encode for Request<'_> {
    fn encoded_len(&self) -> usize {
        let method = match &self.method {
            Method::None => 0,
            Method::Password {
                password,
                new_password,
            } => 1 + slen(password.len()) + new_password.map_or(0, |p| slen(p.len())),
            Method::PublicKey {
                algorithm,
                key_blob,
                signature,
            } => {
                1 + slen(algorithm.len())
                    + slen(key_blob.len())
                    + signature.map_or(0, |s| slen(s.len()))
            }
            Method::KeyboardInteractive {
                language,
                submethods,
            } => slen(language.len()) + slen(submethods.len()),
            Method::Other { rest, .. } => rest.len(),
        };
        1 + slen(self.user.len())
            + slen(self.service.len())
            + slen(self.method.name().len())
            + method
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::USERAUTH_REQUEST.0);
        put::string(out, self.user.as_bytes());
        put::string(out, self.service.as_bytes());
        put::string(out, self.method.name().as_bytes());
        match &self.method {
            Method::None => {}
            Method::Password {
                password,
                new_password,
            } => {
                put::boolean(out, new_password.is_some());
                put::string(out, password.as_bytes());
                if let Some(p) = new_password {
                    put::string(out, p.as_bytes());
                }
            }
            Method::PublicKey {
                algorithm,
                key_blob,
                signature,
            } => {
                put::boolean(out, signature.is_some());
                put::string(out, algorithm.as_bytes());
                put::string(out, key_blob);
                if let Some(s) = signature {
                    put::string(out, s);
                }
            }
            Method::KeyboardInteractive {
                language,
                submethods,
            } => {
                put::string(out, language.as_bytes());
                put::string(out, submethods.as_bytes());
            }
            Method::Other { rest, .. } => out.extend_from_slice(rest),
        }
    }
}

/// SSH_MSG_USERAUTH_FAILURE (RFC 4252 §5.1).
///
/// ```text
/// byte         SSH_MSG_USERAUTH_FAILURE
/// name-list    authentications that can continue
/// boolean      partial success
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure<'a> {
    /// Methods that can continue.
    pub methods: NameList<'a>,
    /// Whether the request succeeded but more methods are required.
    pub partial_success: bool,
}

impl<'a> Decode<'a> for Failure<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::USERAUTH_FAILURE.0)?;
        Ok(Failure {
            methods: r.name_list()?,
            partial_success: r.bool()?,
        })
    }
}

impl Encode for Failure<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.methods.as_str().len()) + 1
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::USERAUTH_FAILURE.0);
        put::string(out, self.methods.as_str().as_bytes());
        put::boolean(out, self.partial_success);
    }
}

/// SSH_MSG_USERAUTH_SUCCESS (RFC 4252 §5.1).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_SUCCESS
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Success;

impl<'a> Decode<'a> for Success {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::USERAUTH_SUCCESS.0)?;
        Ok(Success)
    }
}

impl Encode for Success {
    fn encoded_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::USERAUTH_SUCCESS.0);
    }
}

/// SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4).
///
/// ```text
/// byte      SSH_MSG_USERAUTH_BANNER
/// string    message in ISO-10646 UTF-8 encoding
/// string    language tag
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner<'a> {
    /// The message, decoded lossily.
    pub message: std::borrow::Cow<'a, str>,
    /// Language tag.
    pub language: &'a [u8],
}

impl<'a> Decode<'a> for Banner<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::USERAUTH_BANNER.0)?;
        let message = String::from_utf8_lossy(r.string()?);
        let language = if r.is_empty() { &[][..] } else { r.string()? };
        Ok(Banner { message, language })
    }
}

impl Encode for Banner<'_> {
    fn encoded_len(&self) -> usize {
        1 + slen(self.message.len()) + slen(self.language.len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::USERAUTH_BANNER.0);
        put::string(out, self.message.as_bytes());
        put::string(out, self.language);
    }
}
