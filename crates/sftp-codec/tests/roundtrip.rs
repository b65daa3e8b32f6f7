#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! decode(encode(x)) == x for every message, through its own type and through
//! `Request`/`Response`, with exact `encoded_len`s.

use std::borrow::Cow;
use std::fmt::Debug;

use nacre_sftp_codec::ext::OPENSSH_EXTENSIONS;
use nacre_sftp_codec::*;
use nacre_wire::{decode_exact, Decode, Encode};

/// Checks one message through its own `Decode`/`Encode`.
fn check_message<'a, M: Decode<'a> + Encode + PartialEq + Debug>(value: &M, bytes: &'a [u8]) {
    assert_eq!(value.encoded_len(), bytes.len(), "encoded_len of {value:?}");
    let back: M = decode_exact(bytes).unwrap();
    assert_eq!(&back, value);
    assert_eq!(back.to_bytes(), bytes);
}

/// Checks a request through its type, `Request` and the framing.
macro_rules! rt_request {
    ($value:expr, $variant:ident) => {{
        let value = $value;
        let bytes = value.to_bytes();
        check_message(&value, &bytes);
        let req = Request::$variant(value.clone());
        assert_eq!(req.packet_type(), PacketType(bytes[0]));
        assert!(req.packet_type().is_request());
        let mut framed = Vec::new();
        let n = encode_frame(&req, &mut framed);
        assert_eq!(n, framed.len());
        assert_eq!(n, frame_len(&req));
        assert_eq!(&framed[4..], &bytes[..]);
        let (frame, used) = parse_frame(&framed, DEFAULT_MAX_PACKET_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(used, framed.len());
        assert_eq!(frame.decode_request().unwrap(), req);
        assert_eq!(frame.request_id(), req.id());
        req.id()
    }};
}

/// Checks a response through its type, `Response` and the framing.
macro_rules! rt_response {
    ($value:expr, $variant:ident) => {{
        let value = $value;
        let bytes = value.to_bytes();
        check_message(&value, &bytes);
        let resp = Response::$variant(value.clone());
        assert!(resp.packet_type().is_response());
        let mut framed = Vec::new();
        encode_frame(&resp, &mut framed);
        let (frame, _) = parse_frame(&framed, DEFAULT_MAX_PACKET_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(frame.decode_response().unwrap(), resp);
        assert_eq!(frame.request_id(), resp.id());
        resp.id()
    }};
}

const XPAIRS: [ExtensionPair<'static>; 2] = [
    ExtensionPair::new("acl@example.com", "rwx"),
    ExtensionPair::new("empty@example.com", ""),
];

fn full_attrs() -> FileAttributes<'static> {
    FileAttributes::default()
        .with_size(0x0102_0304_0506_0708)
        .with_uid_gid(1000, 100)
        .with_permissions(0o100644)
        .with_times(1_700_000_000, 1_700_000_001)
        .with_extended(&XPAIRS)
}

#[test]
fn every_request_round_trips() {
    let attrs = full_attrs();
    assert_eq!(rt_request!(Init::v3(), Init), None);
    let init = Init {
        version: 3,
        extensions: Seq::from_slice(&XPAIRS),
    };
    assert_eq!(init.extension("acl@example.com"), Some(&b"rwx"[..]));
    rt_request!(init, Init);
    let open = Open {
        id: 1,
        filename: b"/tmp/a file",
        pflags: OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
        attrs: FileAttributes::default().with_permissions(0o644),
    };
    assert_eq!(rt_request!(open, Open), Some(1));
    rt_request!(
        Open {
            id: 2,
            filename: b"x",
            pflags: OpenFlags(0xffff_ffff),
            attrs: FileAttributes::EMPTY,
        },
        Open
    );
    rt_request!(
        Close {
            id: 3,
            handle: b"h"
        },
        Close
    );
    rt_request!(
        Read {
            id: 4,
            handle: b"\x00\x01",
            offset: u64::MAX,
            len: 261_120,
        },
        Read
    );
    rt_request!(
        Write {
            id: 5,
            handle: b"h",
            offset: 1 << 40,
            data: &[0xaa; 1000],
        },
        Write
    );
    rt_request!(Lstat { id: 6, path: b"l" }, Lstat);
    rt_request!(
        Fstat {
            id: 7,
            handle: b"h"
        },
        Fstat
    );
    rt_request!(
        Setstat {
            id: 8,
            path: b"p",
            attrs,
        },
        Setstat
    );
    rt_request!(
        Fsetstat {
            id: 9,
            handle: b"h",
            attrs: FileAttributes::default().with_times(1, 2),
        },
        Fsetstat
    );
    rt_request!(Opendir { id: 10, path: b"." }, Opendir);
    rt_request!(
        Readdir {
            id: 11,
            handle: b"d"
        },
        Readdir
    );
    rt_request!(
        Remove {
            id: 12,
            filename: b"f",
        },
        Remove
    );
    rt_request!(
        Mkdir {
            id: 13,
            path: b"dir",
            attrs: FileAttributes::default().with_permissions(0o755),
        },
        Mkdir
    );
    rt_request!(
        Rmdir {
            id: 14,
            path: b"dir"
        },
        Rmdir
    );
    rt_request!(Realpath { id: 15, path: b"." }, Realpath);
    rt_request!(Stat { id: 16, path: b"/" }, Stat);
    rt_request!(
        Rename {
            id: 17,
            oldpath: b"a",
            newpath: b"b",
        },
        Rename
    );
    rt_request!(Readlink { id: 18, path: b"l" }, Readlink);
    rt_request!(
        Symlink {
            id: 19,
            link_path: b"link",
            target_path: b"target",
        },
        Symlink
    );
    assert_eq!(
        rt_request!(
            Extended {
                id: 20,
                name: b"vendor@example.com",
                data: b"\x00\x01anything",
            },
            Extended
        ),
        Some(20)
    );
    rt_request!(
        Extended {
            id: 21,
            name: b"\xff\xfe not utf-8",
            data: b"",
        },
        Extended
    );
}

#[test]
fn every_extension_request_round_trips() {
    let uids = [0u32, 1000, u32::MAX];
    let gids = [100u32];
    let cases: Vec<Request<'_>> = vec![
        Request::PosixRename(PosixRename {
            id: 1,
            oldpath: b"a",
            newpath: b"b",
        }),
        Request::Statvfs(Statvfs { id: 2, path: b"/" }),
        Request::Fstatvfs(Fstatvfs {
            id: 3,
            handle: b"h",
        }),
        Request::Hardlink(Hardlink {
            id: 4,
            oldpath: b"a",
            newpath: b"b",
        }),
        Request::Fsync(Fsync {
            id: 5,
            handle: b"h",
        }),
        Request::Lsetstat(Lsetstat {
            id: 6,
            path: b"l",
            attrs: full_attrs(),
        }),
        Request::Limits(Limits { id: 7 }),
        Request::ExpandPath(ExpandPath {
            id: 8,
            path: b"~/x",
        }),
        Request::CopyData(CopyData {
            id: 9,
            read_from_handle: b"r",
            read_from_offset: 10,
            read_data_length: 0,
            write_to_handle: b"w",
            write_to_offset: 20,
        }),
        Request::HomeDirectory(HomeDirectory {
            id: 10,
            username: b"",
        }),
        Request::UsersGroupsById(UsersGroupsById {
            id: 11,
            uids: Seq::from_slice(&uids),
            gids: Seq::from_slice(&gids),
        }),
        Request::UsersGroupsById(UsersGroupsById {
            id: 12,
            uids: Seq::new(),
            gids: Seq::new(),
        }),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for req in &cases {
        let bytes = req.to_bytes();
        assert_eq!(req.encoded_len(), bytes.len());
        assert_eq!(bytes[0], PacketType::EXTENDED.0);
        let back = Request::decode_bytes(&bytes).unwrap();
        assert_eq!(&back, req);
        // The same bytes decode as a raw EXTENDED with the same name.
        let raw: Extended<'_> = decode_exact(&bytes).unwrap();
        assert_eq!(Some(raw.name), req.extension_name());
        assert_eq!(raw.to_bytes(), bytes);
        assert_eq!(Some(raw.id), req.id());
        seen.insert(raw.name.to_vec());
    }
    // The typed structs through their own codec.
    let pr = PosixRename {
        id: 1,
        oldpath: b"a",
        newpath: b"b",
    };
    check_message(&pr, &pr.to_bytes());
    check_message(&Limits { id: 7 }, &Limits { id: 7 }.to_bytes());
    let ug = UsersGroupsById {
        id: 11,
        uids: Seq::from_slice(&uids),
        gids: Seq::from_slice(&gids),
    };
    check_message(&ug, &ug.to_bytes());
    // A typed struct refuses another extension's name.
    assert!(decode_exact::<Statvfs<'_>>(&pr.to_bytes()).is_err());
    // All 11 names covered.
    let all: std::collections::BTreeSet<Vec<u8>> =
        OPENSSH_EXTENSIONS.iter().map(|p| p.name.to_vec()).collect();
    assert_eq!(seen, all);
}

#[test]
fn every_response_round_trips() {
    rt_response!(
        Version {
            version: 3,
            extensions: Seq::from_slice(&OPENSSH_EXTENSIONS),
        },
        Version
    );
    assert_eq!(
        rt_response!(
            Version {
                version: 3,
                extensions: Seq::new(),
            },
            Version
        ),
        None
    );
    rt_response!(Status::ok(1), Status);
    rt_response!(
        Status {
            id: 2,
            code: StatusCode::NO_SUCH_FILE,
            message: Cow::Borrowed("No such file — ünïcode"),
            language: b"en",
        },
        Status
    );
    rt_response!(Status::from_code(3, StatusCode(1234)), Status);
    rt_response!(
        Handle {
            id: 4,
            handle: &[7; 256],
        },
        Handle
    );
    rt_response!(
        Data {
            id: 5,
            data: &[1, 2, 3],
        },
        Data
    );
    rt_response!(Data { id: 6, data: &[] }, Data);
    let entries = [
        NameEntry {
            filename: b".",
            longname: b"drwxr-xr-x    2 u g 4096 Jan  1 00:00 .",
            attrs: FileAttributes::default().with_permissions(0o040755),
        },
        NameEntry {
            filename: b"f",
            longname: b"",
            attrs: full_attrs(),
        },
        NameEntry {
            filename: b"\xff",
            longname: b"\xff",
            attrs: FileAttributes::EMPTY,
        },
    ];
    let name = Name {
        id: 7,
        entries: Seq::from_slice(&entries),
    };
    assert_eq!(name.first().unwrap().filename, b".");
    rt_response!(name, Name);
    rt_response!(
        Name {
            id: 8,
            entries: Seq::new(),
        },
        Name
    );
    rt_response!(
        Attrs {
            id: 9,
            attrs: full_attrs(),
        },
        Attrs
    );
    rt_response!(
        ExtendedReply {
            id: 10,
            data: b"\x00\x00\x00\x01",
        },
        ExtendedReply
    );
}

#[test]
fn typed_extension_replies_round_trip() {
    let statvfs = StatvfsReply {
        id: 1,
        f_bsize: 4096,
        f_frsize: 4096,
        f_blocks: 1 << 30,
        f_bfree: 1 << 29,
        f_bavail: 1 << 28,
        f_files: 1000,
        f_ffree: 900,
        f_favail: 800,
        f_fsid: 0xdead_beef,
        f_flag: StatvfsReply::ST_NOSUID,
        f_namemax: 255,
    };
    let limits = LimitsReply {
        id: 2,
        max_packet_length: 262_144,
        max_read_length: 261_120,
        max_write_length: 261_120,
        max_open_handles: 0,
    };
    let users = [&b"root"[..], b"", b"\xc3\xa9"];
    let groups = [&b"wheel"[..]];
    let ug = UsersGroupsByIdReply {
        id: 3,
        usernames: Seq::from_slice(&users),
        groupnames: Seq::from_slice(&groups),
    };

    macro_rules! check_reply {
        ($value:expr, $ty:ty) => {{
            let bytes = $value.to_bytes();
            check_message(&$value, &bytes);
            let Response::ExtendedReply(raw) = Response::decode_bytes(&bytes).unwrap() else {
                panic!("not an EXTENDED_REPLY");
            };
            let typed = <$ty>::from_reply(&raw).unwrap();
            assert_eq!(typed, $value);
            // A reply with a byte too many or too few is refused.
            let mut longer = raw.data.to_vec();
            longer.push(0);
            let bad = ExtendedReply {
                id: raw.id,
                data: &longer,
            };
            assert!(<$ty>::from_reply(&bad).is_err());
            // The client's tolerant parse ignores the extra byte (docs/TOLERANCE.md).
            assert_eq!(<$ty>::from_reply_tolerant(&bad).unwrap(), ($value, 1));
            assert_eq!(<$ty>::from_reply_tolerant(&raw).unwrap(), ($value, 0));
            let shorter = ExtendedReply {
                id: raw.id,
                data: &raw.data[..raw.data.len() - 1],
            };
            assert!(<$ty>::from_reply(&shorter).is_err());
            assert!(<$ty>::from_reply_tolerant(&shorter).is_err());
        }};
    }
    check_reply!(statvfs, StatvfsReply);
    check_reply!(limits, LimitsReply);
    check_reply!(ug, UsersGroupsByIdReply<'_>);
    assert_eq!(statvfs.total_bytes(), 4096 << 30);
    assert_eq!(statvfs.available_bytes(), 4096 << 28);
    assert_eq!(ug.usernames.to_vec(), users.to_vec());
}

#[test]
fn unknown_packet_types_round_trip() {
    let unknown = Unknown {
        packet_type: PacketType(150),
        id: 42,
        data: b"payload",
    };
    let bytes = unknown.to_bytes();
    let req = Request::decode_bytes(&bytes).unwrap();
    assert_eq!(req, Request::Unknown(unknown));
    assert_eq!(req.id(), Some(42));
    assert_eq!(req.to_bytes(), bytes);
    let resp = Response::decode_bytes(&bytes).unwrap();
    assert_eq!(resp, Response::Unknown(unknown));
    assert_eq!(resp.packet_type(), PacketType(150));
    // A request type arriving at a client is unknown to it, and vice versa.
    let open = Open {
        id: 9,
        filename: b"f",
        pflags: OpenFlags::READ,
        attrs: FileAttributes::EMPTY,
    }
    .to_bytes();
    let Response::Unknown(u) = Response::decode_bytes(&open).unwrap() else {
        panic!("OPEN is not a response");
    };
    assert_eq!((u.packet_type, u.id), (PacketType::OPEN, 9));
    let status = Status::ok(5).to_bytes();
    assert!(matches!(
        Request::decode_bytes(&status).unwrap(),
        Request::Unknown(Unknown { id: 5, .. })
    ));
}
