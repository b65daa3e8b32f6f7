//! nom parsers for the SSH data types of RFC 4251 §5.
//!
//! Every parser is a `fn(&[u8]) -> IResult<&[u8], T, WireError>`. Lengths are checked against the
//! remaining input before anything is read, and nothing is allocated: strings are borrowed.

use nom::IResult;

use crate::error::WireError;
use crate::types::{Mpint, NameList};

/// Result type of the parsers in this module.
pub type PResult<'a, T> = IResult<&'a [u8], T, WireError>;

fn truncated<T>(needed: usize) -> Result<T, nom::Err<WireError>> {
    Err(nom::Err::Error(WireError::Truncated { needed }))
}

fn fixed<const N: usize>(input: &[u8]) -> PResult<'_, [u8; N]> {
    match input.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((rest, *head)),
        None => truncated(N - input.len()),
    }
}

/// `byte`: an arbitrary 8-bit value.
pub fn byte(input: &[u8]) -> PResult<'_, u8> {
    let (rest, [b]) = fixed::<1>(input)?;
    Ok((rest, b))
}

/// `boolean`: RFC 4251 §5 says any non-zero value is TRUE; applications MUST NOT store other than 0 and 1,
/// but we accept any non-zero byte as TRUE as the RFC requires of readers.
pub fn boolean(input: &[u8]) -> PResult<'_, bool> {
    let (rest, b) = byte(input)?;
    Ok((rest, b != 0))
}

/// `uint32`: four bytes, network byte order.
pub fn uint32(input: &[u8]) -> PResult<'_, u32> {
    let (rest, b) = fixed::<4>(input)?;
    Ok((rest, u32::from_be_bytes(b)))
}

/// `uint64`: eight bytes, network byte order.
pub fn uint64(input: &[u8]) -> PResult<'_, u64> {
    let (rest, b) = fixed::<8>(input)?;
    Ok((rest, u64::from_be_bytes(b)))
}

/// `string`: uint32 length followed by that many arbitrary bytes (borrowed).
pub fn string(input: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, len) = uint32(input)?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if rest.len() < len {
        return truncated(len - rest.len());
    }
    let (data, rest) = rest.split_at(len);
    Ok((rest, data))
}

/// A `string` that must hold UTF-8 text (ISO-10646 UTF-8, RFC 4251 §5).
pub fn utf8(input: &[u8]) -> PResult<'_, &str> {
    let (rest, data) = string(input)?;
    match std::str::from_utf8(data) {
        Ok(s) => Ok((rest, s)),
        Err(_) => Err(nom::Err::Error(WireError::InvalidUtf8)),
    }
}

/// `mpint`: two's complement, big-endian, in a `string`; no unnecessary leading 0x00 or 0xff byte.
pub fn mpint(input: &[u8]) -> PResult<'_, Mpint<'_>> {
    let (rest, data) = string(input)?;
    match Mpint::new(data) {
        Ok(m) => Ok((rest, m)),
        Err(e) => Err(nom::Err::Error(e)),
    }
}

/// `name-list`: a `string` of comma-separated, non-empty US-ASCII names.
pub fn name_list(input: &[u8]) -> PResult<'_, NameList<'_>> {
    let (rest, data) = string(input)?;
    match NameList::new(data) {
        Ok(n) => Ok((rest, n)),
        Err(e) => Err(nom::Err::Error(e)),
    }
}
