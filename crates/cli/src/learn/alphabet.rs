//! The abstract alphabet: each input symbol is one message the mapper sends (docs/LEARNING.md
//! has what each one carries), and each output is the list of the messages the server sent back
//! within the step, by name, in the order they arrived.

/// One abstract input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// KEXINIT (RFC 4253 §7.1): curve25519-sha256, the strict kex marker unless disabled, the
    /// server's own host key, cipher, MAC and compression lists.
    KexInit,
    /// KEX_ECDH_INIT (RFC 5656 §4) with a fresh X25519 public value.
    KexEcdhInit,
    /// NEWKEYS (RFC 4253 §7.3); the mapper's outgoing keys change after it.
    NewKeys,
    /// SERVICE_REQUEST `ssh-userauth` (RFC 4253 §10).
    ServiceRequestAuth,
    /// USERAUTH_REQUEST `publickey` with a signature over the session identifier (RFC 4252 §7).
    UaPkOk,
    /// USERAUTH_REQUEST `publickey` with a signature by a key the server does not accept.
    UaPkNok,
    /// USERAUTH_REQUEST `password` with the right password (RFC 4252 §8).
    UaPwOk,
    /// USERAUTH_REQUEST `password` with a wrong password.
    UaPwNok,
    /// USERAUTH_REQUEST `none` (RFC 4252 §5.2).
    UaNone,
    /// CHANNEL_OPEN `session` (RFC 4254 §6.1); `CH_MAX` without sending when one is open.
    ChOpen,
    /// CHANNEL_REQUEST `pty-req` with want_reply (RFC 4254 §6.2); `CH_NONE` without a channel.
    ChRequestPty,
    /// CHANNEL_DATA of 4 bytes (RFC 4254 §5.2); `CH_NONE` without a channel.
    ChData,
    /// CHANNEL_EOF (RFC 4254 §5.3); `CH_NONE` without a channel.
    ChEof,
    /// CHANNEL_CLOSE (RFC 4254 §5.3); `CH_NONE` without a channel.
    ChClose,
    /// GLOBAL_REQUEST of an unknown name with want_reply (RFC 4254 §4).
    GlobalRequest,
    /// IGNORE (RFC 4253 §11.2).
    Ignore,
    /// DEBUG (RFC 4253 §11.3).
    Debug,
    /// UNIMPLEMENTED (RFC 4253 §11.4) naming sequence number 0xFFFFFFFF (never one the server
    /// used at that point).
    Unimplemented,
    /// DISCONNECT BY_APPLICATION (RFC 4253 §11.1); the connection is over after it.
    Disconnect,
}

impl Input {
    /// Every input, in documentation order.
    pub const ALL: [Input; 19] = [
        Input::KexInit,
        Input::KexEcdhInit,
        Input::NewKeys,
        Input::ServiceRequestAuth,
        Input::UaPkOk,
        Input::UaPkNok,
        Input::UaPwOk,
        Input::UaPwNok,
        Input::UaNone,
        Input::ChOpen,
        Input::ChRequestPty,
        Input::ChData,
        Input::ChEof,
        Input::ChClose,
        Input::GlobalRequest,
        Input::Ignore,
        Input::Debug,
        Input::Unimplemented,
        Input::Disconnect,
    ];

    /// The symbol on the line protocol.
    pub fn name(self) -> &'static str {
        match self {
            Input::KexInit => "KEXINIT",
            Input::KexEcdhInit => "KEX_ECDH_INIT",
            Input::NewKeys => "NEWKEYS",
            Input::ServiceRequestAuth => "SERVICE_REQUEST_AUTH",
            Input::UaPkOk => "UA_PK_OK",
            Input::UaPkNok => "UA_PK_NOK",
            Input::UaPwOk => "UA_PW_OK",
            Input::UaPwNok => "UA_PW_NOK",
            Input::UaNone => "UA_NONE",
            Input::ChOpen => "CH_OPEN",
            Input::ChRequestPty => "CH_REQUEST_PTY",
            Input::ChData => "CH_DATA",
            Input::ChEof => "CH_EOF",
            Input::ChClose => "CH_CLOSE",
            Input::GlobalRequest => "GLOBAL_REQUEST",
            Input::Ignore => "IGNORE",
            Input::Debug => "DEBUG",
            Input::Unimplemented => "UNIMPLEMENTED",
            Input::Disconnect => "DISCONNECT",
        }
    }

    /// The input a symbol names (exactly, upper case).
    pub fn parse(symbol: &str) -> Option<Input> {
        Input::ALL.into_iter().find(|i| i.name() == symbol)
    }
}

/// The output name of a message the server sent. 30 and 31 are read as the ECDH method's
/// messages (the only method the mapper offers) and 60 as USERAUTH_PK_OK.
pub fn message_name(n: u8) -> String {
    let name = match n {
        1 => "DISCONNECT",
        2 => "IGNORE",
        3 => "UNIMPLEMENTED",
        4 => "DEBUG",
        5 => "SERVICE_REQUEST",
        6 => "SERVICE_ACCEPT",
        7 => "EXT_INFO",
        20 => "KEXINIT",
        21 => "NEWKEYS",
        30 => "KEX_ECDH_INIT",
        31 => "KEX_ECDH_REPLY",
        50 => "USERAUTH_REQUEST",
        51 => "USERAUTH_FAILURE",
        52 => "USERAUTH_SUCCESS",
        53 => "USERAUTH_BANNER",
        60 => "USERAUTH_PK_OK",
        80 => "GLOBAL_REQUEST",
        81 => "REQUEST_SUCCESS",
        82 => "REQUEST_FAILURE",
        90 => "CHANNEL_OPEN",
        91 => "CHANNEL_OPEN_CONFIRMATION",
        92 => "CHANNEL_OPEN_FAILURE",
        93 => "CHANNEL_WINDOW_ADJUST",
        94 => "CHANNEL_DATA",
        95 => "CHANNEL_EXTENDED_DATA",
        96 => "CHANNEL_EOF",
        97 => "CHANNEL_CLOSE",
        98 => "CHANNEL_REQUEST",
        99 => "CHANNEL_SUCCESS",
        100 => "CHANNEL_FAILURE",
        n => return format!("MSG_{n}"),
    };
    name.to_owned()
}

/// The step's output when the server sent nothing and the connection is still open.
pub const NO_RESP: &str = "NO_RESP";
/// The step's output when the connection is (or just became) closed and nothing came.
pub const NO_CONN: &str = "NO_CONN";
/// CH_OPEN while the mapper's one channel is open: nothing is sent.
pub const CH_MAX: &str = "CH_MAX";
/// A channel input without an open channel: nothing is sent.
pub const CH_NONE: &str = "CH_NONE";
/// Bytes that do not decrypt or frame as a packet under the keys the mapper holds.
pub const BAD_PACKET: &str = "BAD_PACKET";
