//! Errors of the wire codec.

/// Why bytes could not be decoded as SSH wire data (RFC 4251 §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended before the value did.
    #[error("truncated input: {needed} more byte(s) needed")]
    Truncated {
        /// How many more bytes the value needs (at least).
        needed: usize,
    },
    /// Bytes were left after a message that must fill its input exactly.
    #[error("{len} trailing byte(s) after the message")]
    TrailingData {
        /// Number of unread bytes.
        len: usize,
    },
    /// A length field exceeds what this decoder accepts.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A boolean byte other than 0 or 1 where a strict boolean is required.
    #[error("invalid boolean value {0}")]
    InvalidBoolean(u8),
    /// A text field is not valid UTF-8.
    #[error("invalid UTF-8 in a text field")]
    InvalidUtf8,
    /// An mpint has an unnecessary leading byte, or is negative where it must not be.
    #[error("invalid mpint: {0}")]
    InvalidMpint(&'static str),
    /// A name-list holds an empty name, a non-ASCII byte or a control character.
    #[error("invalid name-list: {0}")]
    InvalidNameList(&'static str),
    /// A message had an unexpected message number.
    #[error("unexpected message number {found} (expected {expected})")]
    UnexpectedMessage {
        /// The message number expected.
        expected: u8,
        /// The message number found.
        found: u8,
    },
    /// A field value is outside its allowed set.
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
}

impl<I> nom::error::ParseError<I> for WireError {
    fn from_error_kind(_input: I, _kind: nom::error::ErrorKind) -> Self {
        WireError::InvalidValue("nom parse")
    }

    fn append(_input: I, _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Converts a nom error produced by this crate's parsers into a [`WireError`].
pub(crate) fn from_nom(e: nom::Err<WireError>) -> WireError {
    match e {
        nom::Err::Incomplete(nom::Needed::Size(n)) => WireError::Truncated { needed: n.get() },
        nom::Err::Incomplete(nom::Needed::Unknown) => WireError::Truncated { needed: 1 },
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
    }
}
