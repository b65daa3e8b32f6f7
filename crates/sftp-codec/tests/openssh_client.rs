#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Known answers from a real session: OpenSSH's `sftp` client talking to OpenSSH's
//! `sftp-server`, both directions recorded by `tests/data/capture.sh` (a `tee` on each side of
//! the server's pipes), driven by `tests/data/batch`. Every packet of both directions decodes
//! and re-encodes to the bytes OpenSSH sent.
//!
//! One transcript is saved (`tests/data/openssh-9.2p1/`, OpenSSH 9.2p1 Debian) and always
//! checked; a fresh one is recorded and checked when `sftp` and `sftp-server` are installed.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use nacre_sftp_codec::ext::{names, OPENSSH_EXTENSIONS};
use nacre_sftp_codec::*;
use nacre_wire::Encode;

/// Splits a recorded stream into frames, one byte at a time and all at once, and checks both
/// give the same frames.
fn frames(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut whole = FrameDecoder::new();
    whole.push(stream).unwrap();
    let mut a = Vec::new();
    while let Some(f) = whole.next_frame().unwrap() {
        a.push(f.bytes().to_vec());
    }
    assert_eq!(whole.buffered(), 0, "a partial packet at the end");
    let mut bytewise = FrameDecoder::new();
    let mut b = Vec::new();
    for byte in stream {
        bytewise.push(std::slice::from_ref(byte)).unwrap();
        while let Some(f) = bytewise.next_frame().unwrap() {
            b.push(f.bytes().to_vec());
        }
    }
    assert_eq!(a, b);
    a
}

/// What the checks found, for the caller's assertions.
#[derive(Debug, Default)]
struct Summary {
    /// Request packet types, with the extension name for EXTENDED.
    requests: BTreeSet<String>,
    /// Response packet types.
    responses: BTreeSet<String>,
    /// Status codes seen.
    statuses: BTreeSet<u32>,
}

fn label(t: PacketType, ext: Option<&[u8]>) -> String {
    match ext {
        Some(name) => format!("EXTENDED {}", String::from_utf8_lossy(name)),
        None => format!("{t:?}"),
    }
}

/// The replies draft-ietf-secsh-filexfer-02 §6 and OpenSSH's `PROTOCOL` allow for a request;
/// STATUS fits every request.
fn reply_fits(request: &str, reply: PacketType) -> bool {
    if reply == PacketType::STATUS {
        return true;
    }
    let ext = |n: &str| request == format!("EXTENDED {n}");
    match reply {
        PacketType::HANDLE => ["OPEN", "OPENDIR"].contains(&request),
        PacketType::DATA => request == "READ",
        PacketType::NAME => {
            ["READDIR", "REALPATH", "READLINK"].contains(&request)
                || ext(names::EXPAND_PATH)
                || ext(names::HOME_DIRECTORY)
        }
        PacketType::ATTRS => ["STAT", "LSTAT", "FSTAT"].contains(&request),
        PacketType::EXTENDED_REPLY => {
            ext(names::LIMITS)
                || ext(names::STATVFS)
                || ext(names::FSTATVFS)
                || ext(names::USERS_GROUPS_BY_ID)
        }
        _ => false,
    }
}

fn check_transcript(c2s: &[u8], s2c: &[u8]) -> Summary {
    let requests = frames(c2s);
    let responses = frames(s2c);
    let mut summary = Summary::default();
    // sftp-server answers every request once, in order: pair them up by position.
    let mut asked: Vec<(u32, String)> = Vec::new();
    let mut answered: Vec<(u32, PacketType)> = Vec::new();
    let mut writes = Vec::new();
    let mut symlinks = Vec::new();

    for (i, bytes) in requests.iter().enumerate() {
        let req = Request::decode_bytes(bytes).unwrap();
        assert_eq!(&req.to_bytes(), bytes, "re-encoding {req:?}");
        assert!(!matches!(req, Request::Unknown(_)), "{req:?}");
        summary
            .requests
            .insert(label(req.packet_type(), req.extension_name()));
        match req {
            Request::Init(init) => {
                assert_eq!(i, 0, "INIT comes first");
                assert_eq!(init.version, 3);
                assert!(init.extensions.is_empty());
            }
            Request::Write(w) => writes.push(w.data.to_vec()),
            Request::Symlink(s) => symlinks.push((s.link_path.to_vec(), s.target_path.to_vec())),
            _ => {}
        }
        if let Some(id) = req.id() {
            asked.push((id, label(req.packet_type(), req.extension_name())));
        }
    }

    for (i, bytes) in responses.iter().enumerate() {
        let resp = Response::decode_bytes(bytes).unwrap();
        assert_eq!(&resp.to_bytes(), bytes, "re-encoding {resp:?}");
        summary
            .responses
            .insert(format!("{:?}", resp.packet_type()));
        match &resp {
            Response::Version(v) => {
                assert_eq!(i, 0, "VERSION comes first");
                assert_eq!(v.version, 3);
                assert_eq!(v.extensions.to_vec(), OPENSSH_EXTENSIONS.to_vec());
            }
            Response::Status(s) => {
                summary.statuses.insert(s.code.0);
                assert_eq!(s.message, s.code.default_message());
                assert!(s.language.is_empty());
            }
            Response::Handle(h) => assert!(h.handle.len() <= MAX_HANDLE_LEN),
            Response::Unknown(u) => panic!("unknown response {u:?}"),
            _ => {}
        }
        if let Some(id) = resp.id() {
            answered.push((id, resp.packet_type()));
        }
    }
    assert_eq!(asked.len(), answered.len());
    for ((id, req), (reply_id, reply)) in asked.iter().zip(&answered) {
        assert_eq!(id, reply_id, "{req} answered out of order");
        assert!(reply_fits(req, *reply), "{req} answered with {reply:?}");
    }

    // Each upload (`put`, `put -fp`) went out in one WRITE.
    assert_eq!(writes, [b"hello sftp\n".to_vec(), b"hello sftp\n".to_vec()]);
    // `ln -s f link`: OpenSSH sends targetpath first; decoded in its order the link is
    // `.../d/link` (made absolute by the client) and the target `f` (kept verbatim).
    assert_eq!(symlinks.len(), 1);
    assert!(symlinks[0].0.ends_with(b"/d/link"), "{symlinks:?}");
    assert_eq!(symlinks[0].1, b"f");
    summary
}

fn expect_session(summary: &Summary) {
    let want_requests = [
        "INIT", "REALPATH", "STAT", "LSTAT", "MKDIR", "OPEN", "WRITE", "READ", "FSETSTAT",
        "SETSTAT", "CLOSE", "OPENDIR", "READDIR", "SYMLINK", "REMOVE", "RMDIR",
    ];
    for r in want_requests {
        assert!(summary.requests.contains(r), "no {r}: {summary:#?}");
    }
    for ext in [
        names::LIMITS,
        names::HARDLINK,
        names::LSETSTAT,
        names::STATVFS,
        names::COPY_DATA,
        names::USERS_GROUPS_BY_ID,
        names::POSIX_RENAME,
        names::FSYNC,
    ] {
        let l = format!("EXTENDED {ext}");
        assert!(summary.requests.contains(&l), "no {l}: {summary:#?}");
    }
    for r in [
        "VERSION",
        "STATUS",
        "HANDLE",
        "DATA",
        "NAME",
        "ATTRS",
        "EXTENDED_REPLY",
    ] {
        assert!(summary.responses.contains(r), "no {r}: {summary:#?}");
    }
    // OK, EOF (reads and directory listings end), NO_SUCH_FILE (`get nosuchfile`) and FAILURE
    // (lsetstat of a link's mode).
    for code in [0, 1, 2, 4] {
        assert!(summary.statuses.contains(&code), "{summary:#?}");
    }
}

fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}

#[test]
fn saved_openssh_transcript_decodes() {
    let dir = data_dir().join("openssh-9.2p1");
    let c2s = std::fs::read(dir.join("c2s.bin")).unwrap();
    let s2c = std::fs::read(dir.join("s2c.bin")).unwrap();
    let summary = check_transcript(&c2s, &s2c);
    expect_session(&summary);
}

#[test]
fn live_openssh_transcript_decodes() {
    let installed = ["/usr/lib/openssh/sftp-server", "/usr/bin/sftp"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !installed {
        eprintln!("skipped: OpenSSH sftp or sftp-server is not installed");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("sh")
        .arg(data_dir().join("capture.sh"))
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let c2s = std::fs::read(out.path().join("c2s.bin")).unwrap();
    let s2c = std::fs::read(out.path().join("s2c.bin")).unwrap();
    let summary = check_transcript(&c2s, &s2c);
    expect_session(&summary);
}
