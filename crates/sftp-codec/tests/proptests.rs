#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests: attributes round trip, random bytes never panic the decoders, frames decode
//! the same in any split.

use nacre_sftp_codec::*;
use nacre_wire::{decode_exact, Encode};
use proptest::prelude::*;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug, Clone)]
struct AttrInput {
    size: Option<u64>,
    uid_gid: Option<(u32, u32)>,
    permissions: Option<u32>,
    times: Option<(u32, u32)>,
    extended: Option<Pairs>,
}

fn attr_input() -> impl Strategy<Value = AttrInput> {
    let pair = (
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(any::<u8>(), 0..32),
    );
    (
        any::<Option<u64>>(),
        any::<Option<(u32, u32)>>(),
        any::<Option<u32>>(),
        any::<Option<(u32, u32)>>(),
        proptest::option::of(proptest::collection::vec(pair, 0..4)),
    )
        .prop_map(|(size, uid_gid, permissions, times, extended)| AttrInput {
            size,
            uid_gid,
            permissions,
            times,
            extended,
        })
}

fn build<'a>(input: &AttrInput, pairs: &'a [ExtensionPair<'a>]) -> FileAttributes<'a> {
    FileAttributes {
        size: input.size,
        uid_gid: input.uid_gid.map(|(uid, gid)| UidGid { uid, gid }),
        permissions: input.permissions,
        ac_mod_time: input.times.map(|(atime, mtime)| AcModTime { atime, mtime }),
        extended: input.extended.as_ref().map(|_| Seq::from_slice(pairs)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn attributes_round_trip(input in attr_input(), id in any::<u32>()) {
        let owned = input.extended.clone().unwrap_or_default();
        let pairs: Vec<ExtensionPair<'_>> = owned
            .iter()
            .map(|(n, d)| ExtensionPair { name: n, data: d })
            .collect();
        let attrs = build(&input, &pairs);
        let msg = Attrs { id, attrs };
        let bytes = msg.to_bytes();
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        let back: Attrs<'_> = decode_exact(&bytes).unwrap();
        prop_assert_eq!(back, msg);
        prop_assert_eq!(back.to_bytes(), bytes.clone());
        prop_assert_eq!(back.attrs.flags() & !FileAttributes::KNOWN_FLAGS, 0);
        if let Some(ext) = back.attrs.extended {
            prop_assert_eq!(ext.len(), pairs.len());
        }
        // Inside SETSTAT and NAME too.
        let set = Setstat { id, path: b"p", attrs };
        let set_bytes = set.to_bytes();
        prop_assert_eq!(Request::decode_bytes(&set_bytes).unwrap(), Request::Setstat(set));
        let entries = [NameEntry { filename: b"f", longname: b"l", attrs }; 3];
        let name = Name { id, entries: Seq::from_slice(&entries) };
        let name_bytes = name.to_bytes();
        prop_assert_eq!(Response::decode_bytes(&name_bytes).unwrap(), Response::Name(name));
    }

    #[test]
    fn unknown_flag_bits_are_always_refused(bits in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let flags = bits | 0x10;
        let mut bytes = vec![105, 0, 0, 0, 1];
        bytes.extend_from_slice(&(flags & !0x8000_000f | 0x10).to_be_bytes());
        bytes.extend_from_slice(&tail);
        prop_assert!(decode_exact::<Attrs<'_>>(&bytes).is_err());
    }

    #[test]
    fn random_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Request::decode_bytes(&bytes);
        let _ = Response::decode_bytes(&bytes);
        let _ = parse_frame(&bytes, DEFAULT_MAX_PACKET_LEN);
        let mut dec = FrameDecoder::with_max_len(256);
        if dec.push(&bytes).is_ok() {
            while let Ok(Some(frame)) = dec.next_frame() {
                let _ = frame.request_id();
                if let Ok(req) = frame.decode_request() {
                    // Whatever decodes re-encodes to the same bytes.
                    prop_assert_eq!(req.to_bytes(), frame.bytes().to_vec());
                    let _ = req.id();
                }
                if let Ok(resp) = frame.decode_response() {
                    // STATUS decoding is lenient (missing strings, bad UTF-8), so compare
                    // values after a second round.
                    let again = resp.to_bytes();
                    prop_assert_eq!(Response::decode_bytes(&again).unwrap(), resp);
                }
            }
        }
    }

    #[test]
    fn random_bodies_behind_every_type_never_panic(
        kind in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&body);
        if let Ok(req) = Request::decode_bytes(&bytes) {
            prop_assert_eq!(req.to_bytes(), bytes.clone());
        }
        if let Ok(resp) = Response::decode_bytes(&bytes) {
            if let Response::ExtendedReply(r) = &resp {
                let _ = StatvfsReply::from_reply(r);
                let _ = LimitsReply::from_reply(r);
                let _ = UsersGroupsByIdReply::from_reply(r);
            }
            let again = resp.to_bytes();
            prop_assert_eq!(Response::decode_bytes(&again).unwrap(), resp.clone());
            if !matches!(resp, Response::Status(_)) {
                prop_assert_eq!(again, bytes.clone());
            }
        }
    }

    #[test]
    fn extended_payloads_never_panic(
        name in prop::sample::select(ext::OPENSSH_EXTENSIONS.to_vec()),
        payload in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = vec![200, 0, 0, 0, 9];
        bytes.extend_from_slice(&(name.name.len() as u32).to_be_bytes());
        bytes.extend_from_slice(name.name);
        bytes.extend_from_slice(&payload);
        if let Ok(req) = Request::decode_bytes(&bytes) {
            prop_assert_eq!(req.extension_name(), Some(name.name));
            prop_assert_eq!(req.to_bytes(), bytes.clone());
        }
    }

    #[test]
    fn any_split_gives_the_same_frames(
        sizes in proptest::collection::vec(0usize..300, 1..12),
        cuts in proptest::collection::vec(1usize..64, 1..64),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, n) in sizes.iter().enumerate() {
            let data = vec![i as u8; *n];
            let msg = Data { id: i as u32, data: &data };
            encode_frame(&msg, &mut stream);
            expected.push(msg.to_bytes());
        }
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < stream.len() {
            let n = cuts[i % cuts.len()].min(stream.len() - at);
            dec.push(&stream[at..at + n]).unwrap();
            at += n;
            i += 1;
            while let Some(frame) = dec.next_frame().unwrap() {
                got.push(frame.bytes().to_vec());
            }
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(dec.buffered(), 0);
    }
}

#[cfg(feature = "fuzzing")]
proptest! {
    #[test]
    fn fuzzing_entry_points_hold(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        nacre_sftp_codec::fuzzing::request(&bytes);
        nacre_sftp_codec::fuzzing::response(&bytes);
        nacre_sftp_codec::fuzzing::frames(&bytes);
    }
}
