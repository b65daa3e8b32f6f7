//! Encoders for the SSH data types of RFC 4251 §5, appending to a `Vec<u8>`.
//!
//! ```
//! use nacre_wire::put;
//!
//! let mut out = Vec::new();
//! put::boolean(&mut out, true);
//! put::uint32(&mut out, 0x0102_0304);
//! put::string(&mut out, b"ab");
//! put::name_list(&mut out, &["aes128-ctr", "aes256-ctr"]);
//! put::mpint_unsigned(&mut out, &[0x00, 0x80]); // leading zero dropped, sign byte added
//!
//! assert_eq!(&out[..11], &[1, 1, 2, 3, 4, 0, 0, 0, 2, b'a', b'b']);
//! assert_eq!(&out[11..15], &[0, 0, 0, 21]);
//! assert_eq!(&out[15..36], b"aes128-ctr,aes256-ctr");
//! assert_eq!(&out[36..], &[0, 0, 0, 2, 0x00, 0x80]);
//! ```

/// Appends a `byte`.
pub fn byte(out: &mut Vec<u8>, value: u8) {
    out.push(value);
}

/// Appends a `boolean` (0 or 1).
pub fn boolean(out: &mut Vec<u8>, value: bool) {
    out.push(u8::from(value));
}

/// Appends a `uint32`.
pub fn uint32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a `uint64`.
pub fn uint64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Converts a length to the `uint32` of the wire. Lengths here are bounded by the packet limits
/// (256 KiB), far below 4 GiB; a longer value saturates, which a peer would then reject.
pub fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Appends a `string`.
pub fn string(out: &mut Vec<u8>, value: &[u8]) {
    uint32(out, len32(value.len()));
    out.extend_from_slice(value);
}

/// Encoded length of an mpint whose magnitude is `magnitude` (big-endian, unsigned).
pub fn mpint_unsigned_len(magnitude: &[u8]) -> usize {
    let trimmed = trim_leading_zeros(magnitude);
    let sign = trimmed.first().is_some_and(|b| b & 0x80 != 0);
    4 + trimmed.len() + usize::from(sign)
}

/// Appends a non-negative `mpint` given its big-endian magnitude (leading zeros are removed, and a
/// 0x00 byte is prepended when the high bit is set, RFC 4251 §5).
pub fn mpint_unsigned(out: &mut Vec<u8>, magnitude: &[u8]) {
    let trimmed = trim_leading_zeros(magnitude);
    let sign = trimmed.first().is_some_and(|b| b & 0x80 != 0);
    uint32(out, len32(trimmed.len() + usize::from(sign)));
    if sign {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
}

/// Appends an `mpint` already in two's complement form (as decoded by [`crate::Mpint`]).
pub fn mpint_raw(out: &mut Vec<u8>, twos_complement: &[u8]) {
    string(out, twos_complement);
}

/// Appends a `name-list` from its names.
pub fn name_list<S: AsRef<str>>(out: &mut Vec<u8>, names: &[S]) {
    let len: usize =
        names.iter().map(|n| n.as_ref().len()).sum::<usize>() + names.len().saturating_sub(1);
    uint32(out, len32(len));
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(name.as_ref().as_bytes());
    }
}

fn trim_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or(&[])
}
