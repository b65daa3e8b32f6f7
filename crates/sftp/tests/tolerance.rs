//! Input nacre's SFTP server and client accept because OpenSSH's do (docs/TOLERANCE.md): bytes
//! after a request's or a reply's last field, a STATUS without message and language tag. The
//! server's case runs against nacre's server in-process and, where the machine has it, against
//! OpenSSH's `sftp-server` over pipes, and both must agree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use nacre_sftp::codec::{
    encode_frame, Attrs, Close, ExtensionPair, FileAttributes, FrameDecoder, Init, LimitsReply,
    Open, OpenFlags, Response, Seq, Status, StatusCode, Version, Write,
};
use nacre_sftp::{Attributes, LocalFs, ServerConfig, SftpClient};
use nacre_wire::Encode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPENSSH_SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

/// INIT, OPEN `path` for writing, a WRITE of `abcd` followed by 12 bytes that belong to no
/// field in the same packet, and CLOSE: the client's bytes.
fn padded_write_script(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&Init::v3(), &mut out);
    encode_frame(
        &Open {
            id: 1,
            filename: path,
            pflags: OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
            attrs: FileAttributes::EMPTY,
        },
        &mut out,
    );
    out
}

/// The padded WRITE and the CLOSE for `handle`.
fn padded_write_and_close(handle: &[u8]) -> Vec<u8> {
    let mut write = Write {
        id: 2,
        handle,
        offset: 0,
        data: b"abcd",
    }
    .to_bytes();
    write.extend_from_slice(&[0xee; 12]);
    let mut out = (write.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&write);
    encode_frame(&Close { id: 3, handle }, &mut out);
    out
}

/// The handle in OPEN's answer.
fn handle_of(frame: &[u8]) -> Vec<u8> {
    match Response::decode_bytes(frame).unwrap() {
        Response::Handle(h) => h.handle.to_vec(),
        other => panic!("OPEN answered {other:?}"),
    }
}

async fn next(r: &mut tokio::io::DuplexStream, dec: &mut FrameDecoder) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return f.bytes().to_vec();
        }
        let n = r.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed the stream");
        dec.push(&buf[..n]).unwrap();
    }
}

/// The id and code of a STATUS.
fn status_of(frame: &[u8]) -> (u32, StatusCode) {
    match Response::decode_bytes(frame).unwrap() {
        Response::Status(s) => (s.id, s.code),
        other => panic!("expected a STATUS, got {other:?}"),
    }
}

/// Runs the padded WRITE against nacre's server on `root`; returns the WRITE's and CLOSE's
/// statuses.
async fn nacre_padded_write(root: &Path) -> Vec<(u32, StatusCode)> {
    let fs = LocalFs::new(root).unwrap();
    let (mut w, c2s_r) = tokio::io::duplex(1 << 20);
    let (s2c_w, mut r) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        nacre_sftp::WriteSink::new(s2c_w),
        Arc::new(fs),
        ServerConfig::default(),
    ));
    let mut dec = FrameDecoder::new();
    w.write_all(&padded_write_script(b"/f")).await.unwrap();
    next(&mut r, &mut dec).await; // VERSION
    let handle = handle_of(&next(&mut r, &mut dec).await);
    w.write_all(&padded_write_and_close(&handle)).await.unwrap();
    let statuses = vec![
        status_of(&next(&mut r, &mut dec).await),
        status_of(&next(&mut r, &mut dec).await),
    ];
    drop(w);
    task.await.unwrap().unwrap();
    statuses
}

#[tokio::test]
async fn padded_write_is_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let statuses = nacre_padded_write(tmp.path()).await;
    assert_eq!(statuses, [(2, StatusCode::OK), (3, StatusCode::OK)]);
    assert_eq!(std::fs::read(tmp.path().join("f")).unwrap(), b"abcd");
}

/// The same bytes to OpenSSH's sftp-server over pipes: it answers the same and writes the same
/// four bytes. Skipped (with a note) where the machine has no sftp-server.
#[tokio::test]
async fn padded_write_matches_openssh_sftp_server() {
    if !Path::new(OPENSSH_SFTP_SERVER).exists() {
        eprintln!("skipped: no {OPENSSH_SFTP_SERVER}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let theirs = tmp.path().join("openssh");
    let ours = tmp.path().join("nacre");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::create_dir(&ours).unwrap();

    let mut child = Command::new(OPENSSH_SFTP_SERVER)
        .arg("-e")
        .arg("-l")
        .arg("QUIET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut dec = FrameDecoder::new();
    let mut buf = vec![0u8; 65536];
    let mut next = || loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return f.bytes().to_vec();
        }
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "sftp-server closed the stream");
        dec.push(&buf[..n]).unwrap();
    };
    let path = theirs.join("f");
    stdin
        .write_all(&padded_write_script(path.to_str().unwrap().as_bytes()))
        .unwrap();
    next(); // VERSION
    let handle = handle_of(&next());
    stdin.write_all(&padded_write_and_close(&handle)).unwrap();
    let openssh = vec![status_of(&next()), status_of(&next())];
    drop(stdin);
    child.wait().unwrap();

    let nacre = nacre_padded_write(&ours).await;
    assert_eq!(openssh, [(2, StatusCode::OK), (3, StatusCode::OK)]);
    assert_eq!(nacre, openssh);
    assert_eq!(std::fs::read(&path).unwrap(), b"abcd");
    assert_eq!(std::fs::read(ours.join("f")).unwrap(), b"abcd");
}

/// A scripted server: VERSION (announcing `limits@openssh.com`) for INIT, then
/// `answer(request bytes)` (the reply packets, framed) for each request.
fn scripted<F>(answer: F) -> (tokio::io::DuplexStream, tokio::io::DuplexStream)
where
    F: Fn(&[u8]) -> Vec<u8> + Send + 'static,
{
    let (c2s_w, mut c2s_r) = tokio::io::duplex(1 << 20);
    let (mut s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut dec = FrameDecoder::new();
        let mut first = true;
        loop {
            let mut buf = vec![0u8; 65536];
            let f = loop {
                if let Some(f) = dec.next_frame().unwrap() {
                    break f.bytes().to_vec();
                }
                let n = c2s_r.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                dec.push(&buf[..n]).unwrap();
            };
            let out = if std::mem::take(&mut first) {
                let mut out = Vec::new();
                let limits = [ExtensionPair {
                    name: b"limits@openssh.com",
                    data: b"1",
                }];
                encode_frame(
                    &Version {
                        version: 3,
                        extensions: Seq::from_slice(&limits),
                    },
                    &mut out,
                );
                out
            } else {
                answer(&f)
            };
            if s2c_w.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    (c2s_w, s2c_r)
}

/// Frames `body` (type byte onwards) with `extra` bytes after its fields.
fn padded(body: Vec<u8>, extra: &[u8]) -> Vec<u8> {
    let body = [body, extra.to_vec()].concat();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// nacre's client ignores bytes after a reply's fields, typed extended replies included, as
/// OpenSSH's sftp client does (it reads the fields it needs from the packet and frees the rest); a STATUS without message and
/// language tag is read as OpenSSH's `get_status` reads it (code only).
#[tokio::test]
async fn client_ignores_bytes_after_a_replys_fields() {
    let (w, r) = scripted(|req| {
        let id = u32::from_be_bytes(req[1..5].try_into().unwrap());
        match req[0] {
            // limits@openssh.com (asked at start): the reply, then 5 bytes of nothing.
            200 => padded(
                LimitsReply {
                    id,
                    max_packet_length: 34000,
                    max_read_length: 32768,
                    max_write_length: 32768,
                    max_open_handles: 9,
                }
                .to_bytes(),
                &[2; 5],
            ),
            // STAT: ATTRS with a size, then 7 bytes of nothing.
            17 => padded(
                Attrs {
                    id,
                    attrs: FileAttributes::EMPTY.with_size(42),
                }
                .to_bytes(),
                &[1; 7],
            ),
            // MKDIR: a bare STATUS OK (no message, no language tag).
            14 => {
                let mut body = vec![101];
                body.extend_from_slice(&id.to_be_bytes());
                body.extend_from_slice(&0u32.to_be_bytes());
                padded(body, &[])
            }
            // REMOVE: STATUS NO_SUCH_FILE with message, language tag and 3 bytes more.
            _ => padded(
                Status {
                    id,
                    code: StatusCode::NO_SUCH_FILE,
                    message: "gone".into(),
                    language: b"en",
                }
                .to_bytes(),
                &[9; 3],
            ),
        }
    });
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(r),
        nacre_sftp::WriteSink::new(w),
        nacre_sftp::ClientConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(client.limits().unwrap().max_open_handles, 9);
    assert_eq!(client.stat("/x").await.unwrap().size, Some(42));
    client.mkdir("/d", &Attributes::EMPTY).await.unwrap();
    let e = client.remove("/y").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::NO_SUCH_FILE));
}

/// OPEN with pflag bits version 3 does not define is served with the bits ignored, and OPEN
/// with neither READ nor WRITE opens for reading, as OpenSSH's `flags_from_portable` does.
#[tokio::test]
async fn unknown_open_flags_are_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("f"), b"hello").unwrap();
    let fs = LocalFs::new(tmp.path()).unwrap();
    let (c2s_w, c2s_r) = tokio::io::duplex(1 << 20);
    let (s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        nacre_sftp::WriteSink::new(s2c_w),
        Arc::new(fs),
        ServerConfig::default(),
    ));
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(s2c_r),
        nacre_sftp::WriteSink::new(c2s_w),
        nacre_sftp::ClientConfig::default(),
    )
    .await
    .unwrap();
    for flags in [OpenFlags::READ | OpenFlags(0x4000_0100), OpenFlags(0)] {
        let h = client.open("/f", flags, &Attributes::EMPTY).await.unwrap();
        let data = client.read(&h, 0, 100).await.unwrap().unwrap();
        assert_eq!(&data[..], b"hello");
        client.close(&h).await.unwrap();
    }
}

/// A second INIT gets VERSION again (OpenSSH's `process()` runs `process_init()` for every
/// INIT), and the session goes on.
#[tokio::test]
async fn second_init_gets_version_again() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = LocalFs::new(tmp.path()).unwrap();
    let (mut w, c2s_r) = tokio::io::duplex(1 << 20);
    let (s2c_w, mut r) = tokio::io::duplex(1 << 20);
    tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        nacre_sftp::WriteSink::new(s2c_w),
        Arc::new(fs),
        ServerConfig::default(),
    ));
    let mut out = Vec::new();
    encode_frame(&Init::v3(), &mut out);
    encode_frame(&Init::v3(), &mut out);
    encode_frame(
        &Close {
            id: 5,
            handle: b"none",
        },
        &mut out,
    );
    w.write_all(&out).await.unwrap();
    let mut dec = FrameDecoder::new();
    for _ in 0..2 {
        let v = next(&mut r, &mut dec).await;
        assert!(matches!(
            Response::decode_bytes(&v).unwrap(),
            Response::Version(_)
        ));
    }
    let (id, code) = status_of(&next(&mut r, &mut dec).await);
    assert_eq!(id, 5);
    assert_ne!(code, StatusCode::OK);
}
