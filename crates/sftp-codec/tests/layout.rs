#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Byte layouts written out by hand from the draft's grammars, and malformed input refused with
//! the right error.

use nacre_sftp_codec::attrs::mode;
use nacre_sftp_codec::*;
use nacre_wire::{decode_exact, Encode, WireError};

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Concatenates byte pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn string(s: &[u8]) -> Vec<u8> {
    cat(&[&be32(s.len() as u32), s])
}

#[test]
fn init_frame_is_nine_bytes() {
    let mut out = Vec::new();
    encode_frame(&Init::v3(), &mut out);
    assert_eq!(out, [0, 0, 0, 5, 1, 0, 0, 0, 3]);
}

#[test]
fn version_lists_pairs_to_the_end() {
    let bytes = cat(&[
        &[2],
        &be32(3),
        &string(b"posix-rename@openssh.com"),
        &string(b"1"),
        &string(b"statvfs@openssh.com"),
        &string(b"2"),
    ]);
    let v: Version<'_> = decode_exact(&bytes).unwrap();
    assert_eq!(v.version, 3);
    assert_eq!(v.extensions.len(), 2);
    assert!(v.supports("statvfs@openssh.com", "2"));
    assert!(!v.supports("statvfs@openssh.com", "1"));
    assert_eq!(v.extension("posix-rename@openssh.com"), Some(&b"1"[..]));
    assert_eq!(v.extension("missing"), None);
    // A truncated last pair is refused.
    assert!(decode_exact::<Version<'_>>(&bytes[..bytes.len() - 1]).is_err());
    // A name without its data is refused.
    let half = cat(&[&[2], &be32(3), &string(b"x")]);
    assert!(matches!(
        decode_exact::<Version<'_>>(&half),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn attributes_follow_section_5() {
    let pairs = [ExtensionPair::new("a", "bc")];
    let attrs = FileAttributes::default()
        .with_size(5)
        .with_uid_gid(1, 2)
        .with_permissions(0o100600)
        .with_times(3, 4)
        .with_extended(&pairs);
    assert_eq!(attrs.flags(), 0x8000_000f);
    let open = Open {
        id: 7,
        filename: b"f",
        pflags: OpenFlags::READ,
        attrs,
    };
    let expected = cat(&[
        &[3],
        &be32(7),
        &string(b"f"),
        &be32(1),
        &be32(0x8000_000f),
        &5u64.to_be_bytes(),
        &be32(1),
        &be32(2),
        &be32(0o100600),
        &be32(3),
        &be32(4),
        &be32(1),
        &string(b"a"),
        &string(b"bc"),
    ]);
    assert_eq!(open.to_bytes(), expected);
    // Each flag alone.
    for (attrs, flag, extra) in [
        (FileAttributes::default().with_size(9), 1u32, 8usize),
        (FileAttributes::default().with_uid_gid(1, 2), 2, 8),
        (FileAttributes::default().with_permissions(7), 4, 4),
        (FileAttributes::default().with_times(1, 2), 8, 8),
        (
            FileAttributes {
                extended: Some(Seq::new()),
                ..FileAttributes::EMPTY
            },
            0x8000_0000,
            4,
        ),
    ] {
        let a = Attrs { id: 1, attrs };
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), 1 + 4 + 4 + extra);
        assert_eq!(&bytes[5..9], &be32(flag));
        assert_eq!(decode_exact::<Attrs<'_>>(&bytes).unwrap(), a);
    }
}

#[test]
fn unknown_attribute_flags_are_refused() {
    for flag in [0x10u32, 0x100, 0x4000_0000, 0x8000_0010] {
        let bytes = cat(&[&[105], &be32(1), &be32(flag), &[0; 64]]);
        assert_eq!(
            decode_exact::<Attrs<'_>>(&bytes),
            Err(WireError::InvalidValue("attribute flags (unknown bits)")),
            "flag {flag:#x}"
        );
    }
}

#[test]
fn counts_are_checked_before_parsing() {
    // NAME claiming 4 billion entries in a few bytes.
    let bytes = cat(&[&[104], &be32(1), &be32(u32::MAX), &[0; 12]]);
    assert!(matches!(
        Response::decode_bytes(&bytes),
        Err(WireError::Truncated { .. })
    ));
    // Extended attribute count bomb.
    let bytes = cat(&[&[105], &be32(1), &be32(0x8000_0000), &be32(u32::MAX)]);
    assert!(matches!(
        Response::decode_bytes(&bytes),
        Err(WireError::Truncated { .. })
    ));
    // A string longer than the packet.
    let bytes = cat(&[&[4], &be32(1), &be32(1 << 30), b"abc"]);
    assert!(matches!(
        Request::decode_bytes(&bytes),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = Close {
        id: 1,
        handle: b"h",
    }
    .to_bytes();
    bytes.push(0);
    assert_eq!(
        Request::decode_bytes(&bytes),
        Err(WireError::TrailingData { len: 1 })
    );
    // The server's decoding ignores them, as OpenSSH's sftp-server does (docs/TOLERANCE.md).
    assert_eq!(
        Request::decode_tolerant(&bytes),
        Ok((
            Request::Close(Close {
                id: 1,
                handle: b"h"
            }),
            1
        ))
    );
    // A truncated request is still refused.
    assert!(Request::decode_tolerant(&bytes[..bytes.len() - 2]).is_err());
    let mut bytes = Status::ok(1).to_bytes();
    bytes.push(0);
    assert!(Response::decode_bytes(&bytes).is_err());
    // The client's decoding ignores them, as OpenSSH's sftp client does.
    assert_eq!(
        Response::decode_tolerant(&bytes),
        Ok((Response::Status(Status::ok(1)), 1))
    );
}

#[test]
fn symlink_uses_openssh_order() {
    let s = Symlink {
        id: 9,
        link_path: b"link",
        target_path: b"target",
    };
    let openssh = cat(&[&[20], &be32(9), &string(b"target"), &string(b"link")]);
    assert_eq!(s.to_bytes(), openssh);
    let Request::Symlink(back) = Request::decode_bytes(&openssh).unwrap() else {
        panic!("not a symlink");
    };
    assert_eq!(back, s);

    // The draft's order, on request.
    let mut body = Vec::new();
    s.encode_ordered(&mut body, SymlinkOrder::Draft);
    assert_eq!(body, cat(&[&be32(9), &string(b"link"), &string(b"target")]));
    let mut r = nacre_wire::Reader::new(&body);
    assert_eq!(
        Symlink::decode_ordered(&mut r, SymlinkOrder::Draft).unwrap(),
        s
    );
    // A draft-order packet read with the default order has its paths swapped.
    let mut r = nacre_wire::Reader::new(&body);
    let misread = Symlink::decode_ordered(&mut r, SymlinkOrder::OpenSsh).unwrap();
    assert_eq!(misread.swapped(), s);
    let mut frame = Vec::new();
    s.encode_frame_ordered(&mut frame, SymlinkOrder::Draft);
    assert_eq!(&frame[..5], &[0, 0, 0, body.len() as u8 + 1, 20]);
    assert_eq!(&frame[5..], &body[..]);
    assert_eq!(SymlinkOrder::default(), SymlinkOrder::OpenSsh);
}

#[test]
fn status_tolerates_missing_strings() {
    // Pre-version-3 servers send only the code.
    let bare = cat(&[&[101], &be32(4), &be32(2)]);
    let Response::Status(s) = Response::decode_bytes(&bare).unwrap() else {
        panic!("not a status");
    };
    assert_eq!((s.id, s.code), (4, StatusCode::NO_SUCH_FILE));
    assert_eq!((s.message.as_ref(), s.language), ("", &b""[..]));
    // Message without a language tag.
    let no_lang = cat(&[&[101], &be32(4), &be32(4), &string(b"oops")]);
    let s: Status<'_> = decode_exact(&no_lang).unwrap();
    assert_eq!(s.message, "oops");
    // Bad UTF-8 in the message does not hide the code.
    let bad = cat(&[
        &[101],
        &be32(4),
        &be32(3),
        &string(b"\xffdenied"),
        &string(b""),
    ]);
    let s: Status<'_> = decode_exact(&bad).unwrap();
    assert_eq!(s.code, StatusCode::PERMISSION_DENIED);
    assert_eq!(s.message, "\u{fffd}denied");
    // What OpenSSH sends: message and an empty language tag.
    assert_eq!(
        Status::ok(1).to_bytes(),
        cat(&[
            &[101],
            &be32(1),
            &be32(0),
            &string(b"Success"),
            &string(b"")
        ])
    );
}

#[test]
fn handles_longer_than_256_bytes_are_refused() {
    let bytes = Handle {
        id: 1,
        handle: &[0; 257],
    }
    .to_bytes();
    assert_eq!(
        Response::decode_bytes(&bytes),
        Err(WireError::TooLong {
            what: "SFTP handle",
            len: 257,
            max: MAX_HANDLE_LEN
        })
    );
}

#[test]
fn extended_requests_dispatch_on_name() {
    // A known name with a malformed payload is an error, not a raw EXTENDED.
    let bad = cat(&[&[200], &be32(1), &string(b"statvfs@openssh.com")]);
    assert!(Request::decode_bytes(&bad).is_err());
    // An unknown name keeps its payload.
    let other = cat(&[&[200], &be32(2), &string(b"check-file"), b"\x01\x02"]);
    let Request::Extended(e) = Request::decode_bytes(&other).unwrap() else {
        panic!("not raw");
    };
    assert_eq!(
        (e.id, e.name_str(), e.data),
        (2, Some("check-file"), &[1u8, 2][..])
    );
    // users-groups-by-id id lists must be whole uint32s.
    let ragged = cat(&[
        &[200],
        &be32(3),
        &string(b"users-groups-by-id@openssh.com"),
        &string(&[0, 0, 0, 1, 0]),
        &string(b""),
    ]);
    assert!(Request::decode_bytes(&ragged).is_err());
    let good = cat(&[
        &[200],
        &be32(3),
        &string(b"users-groups-by-id@openssh.com"),
        &string(&[0, 0, 0, 1, 0, 0, 3, 0xe8]),
        &string(b""),
    ]);
    let Request::UsersGroupsById(u) = Request::decode_bytes(&good).unwrap() else {
        panic!("not typed");
    };
    assert_eq!(u.uids.to_vec(), vec![1, 1000]);
    assert!(u.gids.is_empty());
    // copy-data layout.
    let copy = CopyData {
        id: 4,
        read_from_handle: b"r",
        read_from_offset: 1,
        read_data_length: 2,
        write_to_handle: b"w",
        write_to_offset: 3,
    };
    assert_eq!(
        copy.to_bytes(),
        cat(&[
            &[200],
            &be32(4),
            &string(b"copy-data"),
            &string(b"r"),
            &1u64.to_be_bytes(),
            &2u64.to_be_bytes(),
            &string(b"w"),
            &3u64.to_be_bytes(),
        ])
    );
    assert_eq!(
        Limits { id: 5 }.to_bytes(),
        cat(&[&[200], &be32(5), &string(b"limits@openssh.com")])
    );
}

#[test]
fn zero_copy_frame_headers_match_the_full_encoding() {
    let data = [9u8; 300];
    let mut out = Vec::new();
    Write::encode_frame_header(&mut out, 7, b"handle", 1 << 33, data.len());
    out.extend_from_slice(&data);
    let mut full = Vec::new();
    encode_frame(
        &Write {
            id: 7,
            handle: b"handle",
            offset: 1 << 33,
            data: &data,
        },
        &mut full,
    );
    assert_eq!(out, full);

    let mut out = Vec::new();
    Data::encode_frame_header(&mut out, 8, data.len());
    out.extend_from_slice(&data);
    let mut full = Vec::new();
    encode_frame(&Data { id: 8, data: &data }, &mut full);
    assert_eq!(out, full);
}

#[test]
fn registries_print_names_and_numbers() {
    assert_eq!(format!("{:?}", StatusCode::NO_SUCH_FILE), "NO_SUCH_FILE");
    assert_eq!(format!("{:?}", StatusCode(99)), "StatusCode(99)");
    assert_eq!(StatusCode::OP_UNSUPPORTED.0, 8);
    assert_eq!(StatusCode::NO_MATCHING_BYTE_RANGE_LOCK.0, 31);
    assert!(StatusCode::OP_UNSUPPORTED.is_v3() && !StatusCode::INVALID_HANDLE.is_v3());
    assert_eq!(StatusCode::EOF.default_message(), "End of file");
    assert_eq!(StatusCode::KNOWN.len(), 32);
    assert_eq!(
        format!("{:?}", PacketType::EXTENDED_REPLY),
        "EXTENDED_REPLY"
    );
    assert_eq!(PacketType::KNOWN.len(), 27);
    for t in PacketType::KNOWN {
        assert_ne!(t.is_request(), t.is_response(), "{t:?}");
    }
    assert!(!PacketType(0).is_request() && !PacketType(0).is_response());
    assert!(!PacketType::INIT.has_request_id() && PacketType::OPEN.has_request_id());
    let f = OpenFlags::READ | OpenFlags::WRITE | OpenFlags(0x100);
    assert_eq!(format!("{f:?}"), "OpenFlags(READ | WRITE | 0x100)");
    assert_eq!(format!("{:?}", OpenFlags::empty()), "OpenFlags(empty)");
    assert!(f.contains(OpenFlags::READ) && !f.contains(OpenFlags::CREAT));
    assert_eq!(f.unknown_bits(), 0x100);
    assert_eq!((f & OpenFlags::WRITE), OpenFlags::WRITE);
    assert_eq!(
        status_for_error(&WireError::InvalidUtf8),
        StatusCode::BAD_MESSAGE
    );
}

#[test]
fn file_types_come_from_s_ifmt() {
    let cases = [
        (0o100644, FileType::Regular, '-'),
        (0o040755, FileType::Directory, 'd'),
        (0o120777, FileType::Symlink, 'l'),
        (0o020620, FileType::CharDevice, 'c'),
        (0o060660, FileType::BlockDevice, 'b'),
        (0o010644, FileType::Fifo, 'p'),
        (0o140755, FileType::Socket, 's'),
        (0o000644, FileType::Unknown(0), '?'),
        (0o170644, FileType::Unknown(0o170000), '?'),
    ];
    for (m, t, c) in cases {
        assert_eq!(FileType::from_mode(m), t);
        assert_eq!(t.ls_char(), c);
        assert_eq!(t.mode_bits(), m & mode::S_IFMT);
    }
    let a = FileAttributes::default().with_permissions(0o104755);
    assert!(a.is_regular() && !a.is_dir() && !a.is_symlink());
    assert_eq!(a.mode_bits(), Some(0o4755));
    assert_eq!(FileAttributes::EMPTY.file_type(), None);
    let pairs = [ExtensionPair::new("k", "v")];
    let a = FileAttributes::default().with_extended(&pairs);
    assert_eq!(a.extended_value(b"k"), Some(&b"v"[..]));
    assert_eq!(a.extended_value(b"z"), None);
    assert!(FileAttributes::EMPTY.is_empty() && !a.is_empty());
}

#[test]
fn frame_accessors() {
    let bytes = Read {
        id: 0x0102_0304,
        handle: b"h",
        offset: 0,
        len: 1,
    }
    .to_bytes();
    let frame = Frame::new(&bytes).unwrap();
    assert_eq!(frame.packet_type(), PacketType::READ);
    assert_eq!(frame.request_id(), Some(0x0102_0304));
    assert_eq!(frame.body(), &bytes[1..]);
    assert_eq!(frame.wire_len(), bytes.len() + 4);
    assert!(Frame::new(&[]).is_err());
    // Too short to hold an id.
    assert_eq!(Frame::new(&[5, 0, 0]).unwrap().request_id(), None);
    assert_eq!(Frame::new(&[1, 0, 0, 0, 3]).unwrap().request_id(), None);
}
