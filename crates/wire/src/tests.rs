#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;

use crate::{
    decode_exact, parse, put, Decode, DisconnectReason, Mpint, MsgNumber, NameList, Reader,
    WireError,
};

#[test]
fn rfc4251_mpint_examples() {
    // RFC 4251 §5 examples.
    let cases: &[(&[u8], &[u8])] = &[
        (&[], &[0, 0, 0, 0]),
        (
            &[0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7],
            &[0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7],
        ),
        (&[0x80], &[0, 0, 0, 2, 0x00, 0x80]),
    ];
    for (mag, enc) in cases {
        let mut out = Vec::new();
        put::mpint_unsigned(&mut out, mag);
        assert_eq!(&out, enc);
        assert_eq!(put::mpint_unsigned_len(mag), enc.len());
        let m = Reader::new(enc).mpint().unwrap();
        assert_eq!(m.unsigned_magnitude().unwrap(), *mag);
    }
    // Negative values decode but are refused as magnitudes.
    let neg = Reader::new(&[0, 0, 0, 2, 0xed, 0xcc]).mpint().unwrap();
    assert!(neg.is_negative());
    assert!(neg.unsigned_magnitude().is_err());
    // Leading zero mpints refused.
    assert_eq!(
        Mpint::new(&[0, 0x7f]),
        Err(WireError::InvalidMpint("unnecessary leading zero"))
    );
    assert!(Mpint::new(&[0]).is_err());
    assert!(Mpint::new(&[0xff, 0x80]).is_err());
}

#[test]
fn rfc4251_name_list_examples() {
    let mut out = Vec::new();
    put::name_list::<&str>(&mut out, &[]);
    assert_eq!(out, [0, 0, 0, 0]);
    out.clear();
    put::name_list(&mut out, &["zlib"]);
    assert_eq!(out, b"\0\0\0\x04zlib");
    out.clear();
    put::name_list(&mut out, &["zlib", "none"]);
    assert_eq!(out, b"\0\0\0\x09zlib,none");
    let nl = Reader::new(&out).name_list().unwrap();
    assert_eq!(nl.iter().collect::<Vec<_>>(), ["zlib", "none"]);
    assert!(nl.contains("none"));
    assert!(NameList::new(b"a,,b").is_err());
    assert!(NameList::new(b"a,").is_err());
    assert!(NameList::new(b"a b").is_err());
    assert!(NameList::new(b"a\xc3\xa9").is_err());
}

#[test]
fn string_length_checked_before_use() {
    // A length of 4 GiB with 3 bytes following: truncated, nothing allocated.
    let input = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    match Reader::new(&input).string() {
        Err(WireError::Truncated { needed }) => assert_eq!(needed, 0xffff_ffff - 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decode_exact_rejects_trailing() {
    struct U(u32);
    impl<'a> Decode<'a> for U {
        fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
            Ok(U(r.u32()?))
        }
    }
    assert_eq!(decode_exact::<U>(&[0, 0, 0, 7]).unwrap().0, 7);
    assert_eq!(
        decode_exact::<U>(&[0, 0, 0, 7, 1]).err(),
        Some(WireError::TrailingData { len: 1 })
    );
    assert!(matches!(
        decode_exact::<U>(&[0, 0]),
        Err(WireError::Truncated { needed: 2 })
    ));
}

#[test]
fn open_enums_debug() {
    assert_eq!(format!("{:?}", MsgNumber::KEXINIT), "KEXINIT");
    assert_eq!(format!("{:?}", MsgNumber(200)), "MsgNumber(200)");
    assert_eq!(format!("{:?}", DisconnectReason::MAC_ERROR), "MAC_ERROR");
    assert_eq!(DisconnectReason::from(99u32).name(), None);
}

fn arb_name() -> impl Strategy<Value = String> {
    "[!-+\\--~]{1,20}"
}

proptest! {
    #[test]
    fn roundtrip_u32(v: u32) {
        let mut out = Vec::new();
        put::uint32(&mut out, v);
        prop_assert_eq!(Reader::new(&out).u32().unwrap(), v);
    }

    #[test]
    fn roundtrip_u64_bool_byte(v: u64, b: bool, x: u8) {
        let mut out = Vec::new();
        put::uint64(&mut out, v);
        put::boolean(&mut out, b);
        put::byte(&mut out, x);
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.u64().unwrap(), v);
        prop_assert_eq!(r.bool().unwrap(), b);
        prop_assert_eq!(r.u8().unwrap(), x);
        prop_assert!(r.finish().is_ok());
    }

    #[test]
    fn roundtrip_string(v in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut out = Vec::new();
        put::string(&mut out, &v);
        let mut r = Reader::new(&out);
        prop_assert_eq!(r.string().unwrap(), &v[..]);
        prop_assert!(r.finish().is_ok());
    }

    #[test]
    fn roundtrip_mpint(v in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut out = Vec::new();
        put::mpint_unsigned(&mut out, &v);
        prop_assert_eq!(out.len(), put::mpint_unsigned_len(&v));
        let m = Reader::new(&out).mpint().unwrap();
        let start = v.iter().position(|&b| b != 0).unwrap_or(v.len());
        prop_assert_eq!(m.unsigned_magnitude().unwrap(), &v[start..]);
    }

    #[test]
    fn roundtrip_name_list(names in proptest::collection::vec(arb_name(), 0..10)) {
        let mut out = Vec::new();
        put::name_list(&mut out, &names);
        let nl = Reader::new(&out).name_list().unwrap();
        prop_assert_eq!(nl.iter().map(str::to_owned).collect::<Vec<_>>(), names);
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse::string(&input);
        let _ = parse::mpint(&input);
        let _ = parse::name_list(&input);
        let _ = parse::utf8(&input);
        let mut r = Reader::new(&input);
        while r.u8().is_ok() {
            let _ = r.clone().string();
            let _ = r.clone().mpint();
            let _ = r.clone().name_list();
            let _ = r.clone().u64();
        }
    }
}
