//! User authentication messages (RFC 4252 §5, §7, §8; RFC 4256 §3), one module per family.
//! The generic numbers (50–53) are `nacre_wire::MsgNumber`'s; number 60 means PK_OK,
//! PASSWD_CHANGEREQ or INFO_REQUEST depending on the method in progress (RFC 4250 §4.1: 60–79
//! are method-specific), so it has one name per method here and is decoded by the state
//! machines, never from a global table.

pub mod keyboard;
pub mod password;
pub mod publickey;
pub mod userauth;

pub use keyboard::{InfoRequest, InfoResponse, Prompt};
pub use password::PasswdChangeReq;
pub use publickey::{signed_data, PkOk};
pub use userauth::{Banner, Failure, Method, Request, Success};

use nacre_wire::MsgNumber;

/// Number 60 after a `publickey` query: SSH_MSG_USERAUTH_PK_OK (RFC 4252 §7).
pub const USERAUTH_PK_OK: MsgNumber = MsgNumber(60);
/// Number 60 after a `password` request: SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (RFC 4252 §8).
pub const USERAUTH_PASSWD_CHANGEREQ: MsgNumber = MsgNumber(60);
/// Number 60 during `keyboard-interactive`: SSH_MSG_USERAUTH_INFO_REQUEST (RFC 4256 §3.2).
pub const USERAUTH_INFO_REQUEST: MsgNumber = MsgNumber(60);
/// SSH_MSG_USERAUTH_INFO_RESPONSE (RFC 4256 §3.4).
pub const USERAUTH_INFO_RESPONSE: MsgNumber = MsgNumber(61);

pub(crate) const fn slen(len: usize) -> usize {
    4 + len
}
