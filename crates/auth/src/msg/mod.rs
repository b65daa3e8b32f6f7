//! User authentication messages (RFC 4252 §5, §7, §8; RFC 4256 §3), one module per family.
//! Message number 60 means PK_OK, PASSWD_CHANGEREQ or INFO_REQUEST depending on the method in
//! progress: it is decoded by the state machines, never from a global table.

pub mod keyboard;
pub mod password;
pub mod publickey;
pub mod userauth;

pub use keyboard::{InfoRequest, InfoResponse, Prompt};
pub use password::PasswdChangeReq;
pub use publickey::{signed_data, PkOk};
pub use userauth::{Banner, Failure, Method, Request, Success};

/// SSH_MSG_USERAUTH_REQUEST.
pub const USERAUTH_REQUEST: u8 = 50;
/// SSH_MSG_USERAUTH_FAILURE.
pub const USERAUTH_FAILURE: u8 = 51;
/// SSH_MSG_USERAUTH_SUCCESS.
pub const USERAUTH_SUCCESS: u8 = 52;
/// SSH_MSG_USERAUTH_BANNER.
pub const USERAUTH_BANNER: u8 = 53;
/// Method-specific number 60 (PK_OK, PASSWD_CHANGEREQ, INFO_REQUEST).
pub const USERAUTH_60: u8 = 60;
/// SSH_MSG_USERAUTH_INFO_RESPONSE (RFC 4256 §3.4).
pub const USERAUTH_INFO_RESPONSE: u8 = 61;

pub(crate) const fn slen(len: usize) -> usize {
    4 + len
}
