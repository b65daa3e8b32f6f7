//! Fuzzing entry points for the wire codec (feature `fuzzing`; docs/FUZZING.md).
//!
//! Each function takes arbitrary bytes and must never panic, except through an `assert!` that flags
//! a real bug (a value that does not survive decode → encode → decode). The cargo-fuzz targets in
//! `fuzz/` and the stable corpus replay test call these same functions.

#![allow(clippy::panic, clippy::indexing_slicing)]

use crate::{put, DisconnectReason, Mpint, MsgNumber, NameList, Reader, WireError};

/// One decoded primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value<'a> {
    Byte(u8),
    Bool(bool),
    U32(u32),
    U64(u64),
    String(&'a [u8]),
    Utf8(&'a str),
    Mpint(Mpint<'a>),
    NameList(NameList<'a>),
    Array([u8; 3]),
}

fn read_value<'a>(tag: u8, r: &mut Reader<'a>) -> Result<Value<'a>, WireError> {
    Ok(match tag % 9 {
        0 => Value::Byte(r.u8()?),
        1 => Value::Bool(r.bool()?),
        2 => Value::U32(r.u32()?),
        3 => Value::U64(r.u64()?),
        4 => Value::String(r.string()?),
        5 => Value::Utf8(r.utf8()?),
        6 => Value::Mpint(r.mpint()?),
        7 => Value::NameList(r.name_list()?),
        _ => Value::Array(r.array::<3>()?),
    })
}

fn write_value(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Byte(b) => put::byte(out, *b),
        Value::Bool(b) => put::boolean(out, *b),
        Value::U32(n) => put::uint32(out, *n),
        Value::U64(n) => put::uint64(out, *n),
        Value::String(s) => put::string(out, s),
        Value::Utf8(s) => put::string(out, s.as_bytes()),
        Value::Mpint(m) => put::mpint_raw(out, m.as_bytes()),
        Value::NameList(l) => {
            let names: Vec<&str> = l.iter().collect();
            put::name_list(out, &names);
        }
        Value::Array(a) => out.extend_from_slice(a),
    }
}

/// The wire primitives: `data` is a sequence of `tag value` pairs, the tag choosing the type
/// (byte, boolean, uint32, uint64, string, UTF-8 string, mpint, name-list, 3 raw bytes). Every
/// value decoded is encoded again and the encoding must decode to the same values; mpints and
/// name-lists are checked against their canonical encoders; the open enums must format any number.
pub fn wire_primitives(data: &[u8]) {
    let mut r = Reader::new(data);
    let mut values = Vec::new();
    let mut tags = Vec::new();
    while let Ok(tag) = r.u8() {
        let before = r.remaining().len();
        match read_value(tag, &mut r) {
            Ok(v) => {
                assert!(r.remaining().len() <= before, "reader moved backwards");
                check_value(&v);
                tags.push(tag);
                values.push(v);
            }
            Err(e) => {
                // A failed read: the error must describe itself and the input is unchanged for
                // the nom parsers (the reader may or may not have advanced).
                let _ = e.to_string();
                break;
            }
        }
    }
    let mut out = Vec::new();
    for v in &values {
        write_value(v, &mut out);
    }
    let mut again = Reader::new(&out);
    for (tag, v) in tags.iter().zip(&values) {
        match read_value(*tag, &mut again) {
            Ok(w) => assert_eq!(&w, v, "value changed in a round trip"),
            Err(e) => panic!("re-encoded value {v:?} does not decode: {e}"),
        }
    }
    assert!(again.is_empty(), "re-encoding left trailing bytes");

    // The registries format any number without panicking.
    if let Some(&b) = data.first() {
        let _ = format!("{:?}", MsgNumber(b));
    }
    if let Some(n) = data.first_chunk::<4>() {
        let _ = format!("{:?}", DisconnectReason(u32::from_be_bytes(*n)));
    }
    // `bytes(n)` with a length taken from the input.
    let mut r = Reader::new(data);
    if let Ok(n) = r.u32() {
        let n = n as usize;
        let rest = r.remaining().len();
        match r.bytes(n) {
            Ok(b) => assert_eq!(b.len(), n),
            Err(WireError::Truncated { needed }) => assert_eq!(needed, n - rest),
            Err(e) => panic!("unexpected error from bytes(): {e}"),
        }
    }
}

fn check_value(v: &Value<'_>) {
    match v {
        Value::Mpint(m) => {
            if let Ok(mag) = m.unsigned_magnitude() {
                let mut canon = Vec::new();
                put::mpint_unsigned(&mut canon, mag);
                assert_eq!(canon.len(), put::mpint_unsigned_len(mag));
                let mut raw = Vec::new();
                put::mpint_raw(&mut raw, m.as_bytes());
                assert_eq!(canon, raw, "a decoded mpint is not in canonical form");
                assert_eq!(m.is_zero(), mag.is_empty());
            } else {
                assert!(m.is_negative());
            }
        }
        Value::NameList(l) => {
            assert_eq!(l.is_empty(), l.first().is_none());
            for name in l.iter() {
                assert!(!name.is_empty() && !name.contains(','));
                assert!(l.contains(name));
            }
            let again = NameList::new(l.as_str().as_bytes());
            assert_eq!(again.as_ref(), Ok(l));
        }
        _ => {}
    }
}

/// decode → encode → decode for one message type: evaluates to whether `$data` decoded (exactly,
/// no trailing bytes). When it did, `encoded_len` must equal the length `encode` writes and the
/// encoding must decode to an equal value; otherwise the macro panics, flagging a codec bug.
///
/// A macro rather than a function so that `$ty` (e.g. `KexInit<'_>`) borrows each input with its
/// own lifetime.
#[macro_export]
macro_rules! fuzz_round_trip {
    ($ty:ty, $data:expr) => {{
        match $crate::decode_exact::<$ty>($data) {
            Ok(first) => {
                let bytes = $crate::Encode::to_bytes(&first);
                assert_eq!(
                    bytes.len(),
                    $crate::Encode::encoded_len(&first),
                    "encoded_len disagrees with encode for {:?}",
                    first
                );
                match $crate::decode_exact::<$ty>(&bytes) {
                    Ok(second) => {
                        assert_eq!(second, first, "value changed in decode → encode → decode")
                    }
                    Err(e) => panic!("re-encoded {:?} does not decode: {}", first, e),
                }
                true
            }
            Err(_) => false,
        }
    }};
}
