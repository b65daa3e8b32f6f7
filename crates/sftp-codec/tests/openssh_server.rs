#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Known answers from OpenSSH's sftp-server: requests built with this codec are written to a
//! real `/usr/lib/openssh/sftp-server` over pipes, every reply is decoded with this codec,
//! checked against the file system, and re-encoded to the exact bytes the server sent.
//! Skipped (with a note) when sftp-server is not installed.

mod common;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{b, command_output, Server};

use nacre_sftp_codec::ext::OPENSSH_EXTENSIONS;
use nacre_sftp_codec::*;

#[test]
fn openssh_sftp_server_answers_decode() {
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf = tmp.path().canonicalize().unwrap();
    let Some(mut s) = Server::start(&root) else {
        return;
    };
    let p = |rel: &str| root.join(rel);

    // Hello: version 3 and exactly the 11 extensions of OpenSSH 9.2, in its order.
    s.send(&Init::v3());
    let bytes = s.recv();
    let Response::Version(v) = Response::decode_bytes(&bytes).unwrap() else {
        panic!("expected VERSION");
    };
    assert_eq!(v.version, 3);
    assert_eq!(v.extensions.to_vec(), OPENSSH_EXTENSIONS.to_vec());
    assert!(v.supports(ext::names::STATVFS, "2"));

    // REALPATH "." is the server's working directory.
    let id = s.id();
    let cwd = s.name(&Realpath { id, path: b"." }, id);
    assert_eq!(cwd, root.as_os_str().as_encoded_bytes());

    // MKDIR with permissions.
    let id = s.id();
    let mkdir = Mkdir {
        id,
        path: b"d",
        attrs: FileAttributes::default().with_permissions(0o750),
    };
    assert_eq!(s.status(&mkdir, id), StatusCode::OK);
    assert_eq!(std::fs::metadata(p("d")).unwrap().mode() & 0o7777, 0o750);

    // OPEN for writing, WRITE, FSTAT, FSETSTAT, FSYNC, FSTATVFS, CLOSE.
    let id = s.id();
    let open = Open {
        id,
        filename: b"d/f",
        pflags: OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
        attrs: FileAttributes::default().with_permissions(0o640),
    };
    let wh = s.handle(&open, id);
    assert!(wh.len() <= MAX_HANDLE_LEN);
    let id = s.id();
    let write = Write {
        id,
        handle: &wh,
        offset: 0,
        data: b"hello world",
    };
    assert_eq!(s.status(&write, id), StatusCode::OK);
    let id = s.id();
    let a = s.attrs(&Fstat { id, handle: &wh }, id);
    let meta = std::fs::metadata(p("d/f")).unwrap();
    assert_eq!(a.size, Some(11));
    assert_eq!(
        a.uid_gid,
        Some(UidGid {
            uid: meta.uid(),
            gid: meta.gid()
        })
    );
    assert_eq!(a.permissions, Some(0o100640));
    assert_eq!(
        FileType::from_mode(a.permissions.unwrap()),
        FileType::Regular
    );
    let id = s.id();
    let fsetstat = Fsetstat {
        id,
        handle: &wh,
        attrs: FileAttributes::default().with_times(1_000_000, 2_000_000),
    };
    assert_eq!(s.status(&fsetstat, id), StatusCode::OK);
    assert_eq!(std::fs::metadata(p("d/f")).unwrap().mtime(), 2_000_000);
    let id = s.id();
    assert_eq!(s.status(&Fsync { id, handle: &wh }, id), StatusCode::OK);
    let id = s.id();
    let bytes = s.extended_reply(&Fstatvfs { id, handle: &wh }, id);
    let Response::ExtendedReply(raw) = Response::decode_bytes(&bytes).unwrap() else {
        panic!();
    };
    let fst = StatvfsReply::from_reply(&raw).unwrap();
    assert!(fst.f_bsize > 0 && fst.f_frsize > 0 && fst.f_namemax > 0);
    assert!(fst.f_bfree <= fst.f_blocks && fst.f_bavail <= fst.f_blocks);
    let id = s.id();
    assert_eq!(s.status(&Close { id, handle: &wh }, id), StatusCode::OK);

    // STATVFS of a path on the same file system agrees on the constant fields.
    let id = s.id();
    let bytes = s.extended_reply(&Statvfs { id, path: b"d" }, id);
    let Response::ExtendedReply(raw) = Response::decode_bytes(&bytes).unwrap() else {
        panic!();
    };
    let st = StatvfsReply::from_reply(&raw).unwrap();
    assert_eq!(
        (
            st.f_bsize,
            st.f_frsize,
            st.f_blocks,
            st.f_fsid,
            st.f_namemax
        ),
        (
            fst.f_bsize,
            fst.f_frsize,
            fst.f_blocks,
            fst.f_fsid,
            fst.f_namemax
        )
    );

    // STAT sees the new times; SETSTAT changes permissions.
    let id = s.id();
    let a = s.attrs(&Stat { id, path: b"d/f" }, id);
    assert_eq!(
        a.times,
        Some(AcModTime {
            atime: 1_000_000,
            mtime: 2_000_000
        })
    );
    let id = s.id();
    let setstat = Setstat {
        id,
        path: b"d/f",
        attrs: FileAttributes::default().with_permissions(0o600),
    };
    assert_eq!(s.status(&setstat, id), StatusCode::OK);
    assert_eq!(std::fs::metadata(p("d/f")).unwrap().mode() & 0o7777, 0o600);

    // OPEN for reading, READ (short at end of file), READ at EOF.
    let id = s.id();
    let open = Open {
        id,
        filename: b"d/f",
        pflags: OpenFlags::READ,
        attrs: FileAttributes::EMPTY,
    };
    let rh = s.handle(&open, id);
    let id = s.id();
    let bytes = s.call(
        &Read {
            id,
            handle: &rh,
            offset: 6,
            len: 100,
        },
        id,
    );
    let Response::Data(d) = Response::decode_bytes(&bytes).unwrap() else {
        panic!("expected DATA");
    };
    assert_eq!(d.data, b"world");
    let id = s.id();
    let read = Read {
        id,
        handle: &rh,
        offset: 11,
        len: 100,
    };
    assert_eq!(s.status(&read, id), StatusCode::EOF);

    // SYMLINK in OpenSSH's order creates link_path -> target_path.
    let id = s.id();
    let symlink = Symlink {
        id,
        link_path: b"d/link",
        target_path: b"f",
    };
    assert_eq!(s.status(&symlink, id), StatusCode::OK);
    assert_eq!(std::fs::read_link(p("d/link")).unwrap(), Path::new("f"));
    let id = s.id();
    assert_eq!(
        s.name(
            &Readlink {
                id,
                path: b"d/link"
            },
            id
        ),
        b"f"
    );
    let id = s.id();
    let a = s.attrs(
        &Lstat {
            id,
            path: b"d/link",
        },
        id,
    );
    assert_eq!(
        FileType::from_mode(a.permissions.unwrap()),
        FileType::Symlink
    );
    let id = s.id();
    let lsetstat = Lsetstat {
        id,
        path: b"d/link",
        attrs: FileAttributes::default().with_times(3_000_000, 4_000_000),
    };
    assert_eq!(s.status(&lsetstat, id), StatusCode::OK);
    assert_eq!(
        std::fs::symlink_metadata(p("d/link")).unwrap().mtime(),
        4_000_000
    );
    assert_eq!(std::fs::metadata(p("d/f")).unwrap().mtime(), 2_000_000);

    // HARDLINK.
    let id = s.id();
    let hardlink = Hardlink {
        id,
        oldpath: b"d/f",
        newpath: b"d/hard",
    };
    assert_eq!(s.status(&hardlink, id), StatusCode::OK);
    assert_eq!(std::fs::metadata(p("d/f")).unwrap().nlink(), 2);

    // copy-data from the read handle into a new file; the same handle twice is refused.
    let id = s.id();
    let open = Open {
        id,
        filename: b"d/copy",
        pflags: OpenFlags::WRITE | OpenFlags::CREAT,
        attrs: FileAttributes::EMPTY,
    };
    let ch = s.handle(&open, id);
    let id = s.id();
    let copy = CopyData {
        id,
        read_from_handle: &rh,
        read_from_offset: 0,
        read_data_length: 0,
        write_to_handle: &ch,
        write_to_offset: 0,
    };
    assert_eq!(s.status(&copy, id), StatusCode::OK);
    let id = s.id();
    let same = CopyData {
        id,
        read_from_handle: &ch,
        read_from_offset: 0,
        read_data_length: 0,
        write_to_handle: &ch,
        write_to_offset: 0,
    };
    assert!(!s.status(&same, id).is_ok());
    for h in [&rh, &ch] {
        let id = s.id();
        assert_eq!(s.status(&Close { id, handle: h }, id), StatusCode::OK);
    }
    assert_eq!(std::fs::read(p("d/copy")).unwrap(), b"hello world");

    // RENAME refuses to replace; posix-rename replaces.
    let id = s.id();
    let rename = Rename {
        id,
        oldpath: b"d/copy",
        newpath: b"d/hard",
    };
    assert_eq!(s.status(&rename, id), StatusCode::FAILURE);
    let id = s.id();
    let rename = Rename {
        id,
        oldpath: b"d/copy",
        newpath: b"d/renamed",
    };
    assert_eq!(s.status(&rename, id), StatusCode::OK);
    let id = s.id();
    let posix = PosixRename {
        id,
        oldpath: b"d/renamed",
        newpath: b"d/hard",
    };
    assert_eq!(s.status(&posix, id), StatusCode::OK);
    assert_eq!(std::fs::metadata(p("d/f")).unwrap().nlink(), 1);

    // OPENDIR / READDIR until EOF.
    let id = s.id();
    let dh = s.handle(&Opendir { id, path: b"d" }, id);
    let mut names = Vec::new();
    loop {
        let id = s.id();
        let bytes = s.call(&Readdir { id, handle: &dh }, id);
        match Response::decode_bytes(&bytes).unwrap() {
            Response::Name(n) => {
                assert!(!n.entries.is_empty());
                for e in n.entries {
                    let name = String::from_utf8(e.filename.to_vec()).unwrap();
                    let long = String::from_utf8(e.longname.to_vec()).unwrap();
                    assert!(long.ends_with(&name), "{long}");
                    let kind = e.attrs.file_type().unwrap();
                    assert!(long.starts_with(kind.ls_char()), "{long}");
                    names.push(name);
                }
            }
            Response::Status(st) => {
                assert_eq!(st.code, StatusCode::EOF);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, [".", "..", "f", "hard", "link"]);
    let id = s.id();
    assert_eq!(s.status(&Close { id, handle: &dh }, id), StatusCode::OK);

    // limits@openssh.com: OpenSSH's 256 KiB packets and 255 KiB reads and writes.
    let id = s.id();
    let bytes = s.extended_reply(&Limits { id }, id);
    let Response::ExtendedReply(raw) = Response::decode_bytes(&bytes).unwrap() else {
        panic!();
    };
    let limits = LimitsReply::from_reply(&raw).unwrap();
    assert_eq!(limits.max_packet_length, DEFAULT_MAX_PACKET_LEN as u64);
    assert_eq!(limits.max_read_length, 255 * 1024);
    assert_eq!(limits.max_write_length, 255 * 1024);
    assert!(limits.max_open_handles > 0);

    // home-directory and expand-path@openssh.com agree on the home directory. OpenSSH 9.2
    // looks the user name up with getpwnam(3), so the empty name (documented as "the current
    // user") fails there: ask by name.
    let user = command_output("id", "-un");
    let id = s.id();
    assert_eq!(
        s.status(&HomeDirectory { id, username: b"" }, id),
        StatusCode::FAILURE
    );
    let id = s.id();
    let home = s.name(
        &HomeDirectory {
            id,
            username: user.as_bytes(),
        },
        id,
    );
    // OpenSSH resolves "~" and "~/" against its working directory (the home directory when
    // sshd starts it), "~user" with the password database.
    let id = s.id();
    let expanded = s.name(&ExpandPath { id, path: b"~" }, id);
    assert_eq!(expanded, cwd);
    let id = s.id();
    let sub = s.name(&ExpandPath { id, path: b"~/x" }, id);
    assert_eq!(sub, p("x").as_os_str().as_encoded_bytes());
    let id = s.id();
    let tilde_user = format!("~{user}");
    let by_name = s.name(
        &ExpandPath {
            id,
            path: tilde_user.as_bytes(),
        },
        id,
    );
    assert_eq!(by_name, home);
    let id = s.id();
    let relative = s.name(&ExpandPath { id, path: b"d" }, id);
    assert_eq!(relative, p("d").as_os_str().as_encoded_bytes());

    // users-groups-by-id@openssh.com names our ids and root's, in request order.
    let me = std::fs::metadata(p("d/f")).unwrap();
    let uids = [me.uid(), 0];
    let gids = [me.gid(), 0];
    let id = s.id();
    let ug = UsersGroupsById {
        id,
        uids: Seq::from_slice(&uids),
        gids: Seq::from_slice(&gids),
    };
    let bytes = s.extended_reply(&ug, id);
    let Response::ExtendedReply(raw) = Response::decode_bytes(&bytes).unwrap() else {
        panic!();
    };
    let names = UsersGroupsByIdReply::from_reply(&raw).unwrap();
    assert_eq!(
        names.usernames.to_vec(),
        [b(&command_output("id", "-un")), b"root"]
    );
    assert_eq!(
        names.groupnames.to_vec(),
        [b(&command_output("id", "-gn")), b"root"]
    );

    // An extension the server does not know; a handle it never issued; a missing file.
    let id = s.id();
    let unknown = Extended {
        id,
        name: b"nacre-test@example.com",
        data: b"\x00",
    };
    assert_eq!(s.status(&unknown, id), StatusCode::OP_UNSUPPORTED);
    let id = s.id();
    let bogus = Read {
        id,
        handle: b"no such handle",
        offset: 0,
        len: 1,
    };
    assert_eq!(s.status(&bogus, id), StatusCode::FAILURE);
    let id = s.id();
    assert_eq!(
        s.status(
            &Stat {
                id,
                path: b"missing"
            },
            id
        ),
        StatusCode::NO_SUCH_FILE
    );

    // Clean up: REMOVE and RMDIR.
    for f in ["d/f", "d/hard", "d/link"] {
        let id = s.id();
        let remove = Remove {
            id,
            filename: f.as_bytes(),
        };
        assert_eq!(s.status(&remove, id), StatusCode::OK);
    }
    let id = s.id();
    assert_eq!(s.status(&Rmdir { id, path: b"d" }, id), StatusCode::OK);
    assert!(!p("d").exists());
}

#[test]
fn openssh_sftp_server_pipelines_requests() {
    // Many requests in flight, written in one go, answered in order and decoded from one
    // buffer.
    let tmp = tempfile::tempdir().unwrap();
    let Some(mut s) = Server::start(tmp.path()) else {
        return;
    };
    std::fs::write(tmp.path().join("big"), vec![7u8; 400_000]).unwrap();
    s.send(&Init::v3());
    s.recv();
    let id = s.id();
    let open = Open {
        id,
        filename: b"big",
        pflags: OpenFlags::READ,
        attrs: FileAttributes::EMPTY,
    };
    let h = s.handle(&open, id);
    let mut batch = Vec::new();
    let first = s.next_id + 1;
    for i in 0..10u64 {
        let read = Read {
            id: s.id(),
            handle: &h,
            offset: i * 32_768,
            len: 32_768,
        };
        encode_frame(&read, &mut batch);
    }
    // A READ larger than the server's limit is answered with a shorter DATA.
    let big = Read {
        id: s.id(),
        handle: &h,
        offset: 0,
        len: 1 << 20,
    };
    encode_frame(&big, &mut batch);
    s.stdin.write_all(&batch).unwrap();
    let mut total = 0;
    for i in 0..10u32 {
        let bytes = s.recv();
        let Response::Data(d) = Response::decode_bytes(&bytes).unwrap() else {
            panic!("expected DATA");
        };
        assert_eq!(d.id, first + i);
        total += d.data.len();
        assert!(d.data.iter().all(|&x| x == 7));
    }
    assert_eq!(total, 10 * 32_768);
    let bytes = s.recv();
    let Response::Data(d) = Response::decode_bytes(&bytes).unwrap() else {
        panic!("expected DATA");
    };
    assert_eq!(d.data.len(), 255 * 1024);
}
