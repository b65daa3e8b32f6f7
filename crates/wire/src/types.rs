//! Borrowed views of the composite SSH data types (RFC 4251 §5).

use crate::error::WireError;

/// An `mpint` (RFC 4251 §5): a two's complement, big-endian integer with no unnecessary leading byte.
/// Borrowed from the input; zero is the empty string.
///
/// ```
/// use nacre_wire::{put, Mpint, Reader};
///
/// // 0x80 needs a sign byte to stay positive (RFC 4251 §5 examples).
/// let mut wire = Vec::new();
/// put::mpint_unsigned(&mut wire, &[0x80]);
/// assert_eq!(wire, [0, 0, 0, 2, 0x00, 0x80]);
///
/// let value = Reader::new(&wire).mpint()?;
/// assert!(!value.is_negative());
/// assert_eq!(value.unsigned_magnitude()?, &[0x80]);
///
/// // Non-minimal encodings are refused.
/// assert!(Mpint::new(&[0x00, 0x01]).is_err());
/// assert!(Mpint::new(&[]).is_ok_and(|m| m.is_zero()));
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Mpint<'a>(&'a [u8]);

impl<'a> Mpint<'a> {
    /// Validates the two's complement encoding: a leading 0x00 is only allowed before a byte with the
    /// high bit set, a leading 0xff only before a byte without it.
    pub fn new(bytes: &'a [u8]) -> Result<Self, WireError> {
        match bytes {
            [0, next, ..] if next & 0x80 == 0 => {
                Err(WireError::InvalidMpint("unnecessary leading zero"))
            }
            [0] => Err(WireError::InvalidMpint(
                "zero must be encoded as an empty string",
            )),
            [0xff, next, ..] if next & 0x80 != 0 => {
                Err(WireError::InvalidMpint("unnecessary leading 0xff"))
            }
            _ => Ok(Mpint(bytes)),
        }
    }

    /// The two's complement bytes as they were on the wire.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// True when the value is negative.
    pub fn is_negative(&self) -> bool {
        self.0.first().is_some_and(|b| b & 0x80 != 0)
    }

    /// True when the value is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// The big-endian magnitude of a non-negative value, without the sign byte.
    pub fn unsigned_magnitude(&self) -> Result<&'a [u8], WireError> {
        if self.is_negative() {
            return Err(WireError::InvalidMpint(
                "negative value where a positive one is required",
            ));
        }
        match self.0 {
            [0, rest @ ..] => Ok(rest),
            all => Ok(all),
        }
    }
}

impl std::fmt::Debug for Mpint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mpint(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A `name-list` (RFC 4251 §5): comma-separated, non-empty names of printable US-ASCII.
///
/// ```
/// use nacre_wire::NameList;
///
/// let kex = NameList::new(b"curve25519-sha256,ext-info-c")?;
/// assert_eq!(kex.first(), Some("curve25519-sha256"));
/// assert!(kex.contains("ext-info-c"));
/// assert_eq!(kex.iter().count(), 2);
///
/// // Empty names, spaces and control characters are refused.
/// assert!(NameList::new(b"a,,b").is_err());
/// assert!(NameList::new(b"a b").is_err());
/// assert!(NameList::new(b"").is_ok_and(|l| l.is_empty()));
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct NameList<'a>(&'a str);

impl<'a> NameList<'a> {
    /// Validates a name-list: ASCII without controls, spaces or empty names (RFC 4251 §5 forbids
    /// empty names; an empty list is the empty string).
    pub fn new(bytes: &'a [u8]) -> Result<Self, WireError> {
        if bytes.iter().any(|&b| !(0x21..=0x7e).contains(&b)) {
            return Err(WireError::InvalidNameList(
                "name contains a byte outside printable US-ASCII",
            ));
        }
        let text =
            std::str::from_utf8(bytes).map_err(|_| WireError::InvalidNameList("not ASCII"))?;
        if !text.is_empty() && text.split(',').any(str::is_empty) {
            return Err(WireError::InvalidNameList("empty name"));
        }
        Ok(NameList(text))
    }

    /// The list as one comma-separated string.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let s = self.0;
        s.split(',').filter(|n| !n.is_empty())
    }

    /// True when `name` is one of the names.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }

    /// True when the list has no names.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first name, if any.
    pub fn first(&self) -> Option<&'a str> {
        self.iter().next()
    }
}
