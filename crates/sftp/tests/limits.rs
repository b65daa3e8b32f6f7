//! Limits and misbehaving peers: handle exhaustion, huge READ lengths, oversize packets in both
//! directions, undecodable requests, and a scripted malicious server whose listings hold
//! hostile names for a recursive download.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{data, pair, pair_with};
use nacre_sftp::codec::{
    encode_frame, Attrs, Data, FrameDecoder, Handle, Init, Name, NameEntry, OpenFlags, Request,
    Response, Seq, Status, StatusCode, Version,
};
use nacre_sftp::{Attributes, ClientConfig, Error, LocalFs, ServerConfig, SftpClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const T: Duration = Duration::from_secs(30);

#[tokio::test]
async fn handle_exhaustion_gives_failure() {
    let server = ServerConfig {
        max_handles: 8,
        ..ServerConfig::default()
    };
    let p = pair_with(server, ClientConfig::default()).await;
    assert_eq!(p.client.limits().unwrap().max_open_handles, 8);
    std::fs::write(p.root().join("f"), b"x").unwrap();
    let mut handles = Vec::new();
    for _ in 0..8 {
        handles.push(
            p.client
                .open("/f", OpenFlags::READ, &Attributes::EMPTY)
                .await
                .unwrap(),
        );
    }
    let e = p
        .client
        .open("/f", OpenFlags::READ, &Attributes::EMPTY)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FAILURE));
    let e = p.client.opendir("/").await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FAILURE));
    p.client.close(&handles.pop().unwrap()).await.unwrap();
    let h = p.client.opendir("/").await.unwrap();
    p.client.close(&h).await.unwrap();
    // A closed handle is gone for good.
    let e = p.client.close(&h).await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::FAILURE));
}

#[tokio::test]
async fn huge_read_is_clamped() {
    let p = pair().await;
    std::fs::write(p.root().join("big"), data(1024 * 1024, 5)).unwrap();
    let h = p
        .client
        .open("/big", OpenFlags::READ, &Attributes::EMPTY)
        .await
        .unwrap();
    let d = p.client.read(&h, 0, u32::MAX).await.unwrap().unwrap();
    assert_eq!(d.len(), 255 * 1024);
    let d = p.client.read(&h, u64::MAX - 10, u32::MAX).await.unwrap();
    assert_eq!(d, None);
}

/// Starts nacre's server on an empty folder and returns the client's raw stream ends.
fn raw_server() -> (
    DuplexStream,
    DuplexStream,
    tokio::task::JoinHandle<std::io::Result<()>>,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().unwrap();
    let fs = LocalFs::new(tmp.path()).unwrap();
    let (c2s_w, c2s_r) = tokio::io::duplex(1 << 20);
    let (s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    let task = tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        nacre_sftp::WriteSink::new(s2c_w),
        Arc::new(fs),
        ServerConfig::default(),
    ));
    (c2s_w, s2c_r, task, tmp)
}

async fn read_frame(r: &mut DuplexStream, dec: &mut FrameDecoder) -> Option<Vec<u8>> {
    let mut buf = [0u8; 65536];
    loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return Some(f.bytes().to_vec());
        }
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return None;
        }
        dec.push(&buf[..n]).unwrap();
    }
}

#[tokio::test]
async fn oversize_request_ends_the_session() {
    let (mut w, mut r, task, _tmp) = raw_server();
    let mut out = Vec::new();
    encode_frame(&Init::v3(), &mut out);
    w.write_all(&out).await.unwrap();
    let mut dec = FrameDecoder::new();
    let v = read_frame(&mut r, &mut dec).await.unwrap();
    assert!(matches!(
        Response::decode_bytes(&v).unwrap(),
        Response::Version(_)
    ));
    // A packet claiming 16 MiB: refused on its length field, before its body arrives.
    w.write_all(&(16u32 << 20).to_be_bytes()).await.unwrap();
    w.write_all(&[3, 0, 0, 0, 1]).await.unwrap();
    let result = tokio::time::timeout(T, task).await.unwrap().unwrap();
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::InvalidData);
    // The server closed its side.
    assert!(read_frame(&mut r, &mut dec).await.is_none());
}

#[tokio::test]
async fn undecodable_and_unknown_requests_get_status() {
    let (mut w, mut r, _task, _tmp) = raw_server();
    let mut out = Vec::new();
    encode_frame(&Init::v3(), &mut out);
    // OPEN with a truncated body (id 7), an unknown type 99 (id 8), an unknown extension (id 9).
    out.extend_from_slice(&[0, 0, 0, 7, 3, 0, 0, 0, 7, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 5, 99, 0, 0, 0, 8]);
    let ext = [&[200u8, 0, 0, 0, 9, 0, 0, 0, 3][..], b"foo"].concat();
    out.extend_from_slice(&(ext.len() as u32).to_be_bytes());
    out.extend_from_slice(&ext);
    w.write_all(&out).await.unwrap();
    let mut dec = FrameDecoder::new();
    read_frame(&mut r, &mut dec).await.unwrap();
    let mut codes = Vec::new();
    for _ in 0..3 {
        let f = read_frame(&mut r, &mut dec).await.unwrap();
        match Response::decode_bytes(&f).unwrap() {
            Response::Status(s) => codes.push((s.id, s.code)),
            other => panic!("{other:?}"),
        }
    }
    codes.sort_by_key(|c| c.0);
    assert_eq!(
        codes,
        [
            (7, StatusCode::BAD_MESSAGE),
            (8, StatusCode::OP_UNSUPPORTED),
            (9, StatusCode::OP_UNSUPPORTED)
        ]
    );
}

/// A scripted server: answers INIT with VERSION (no extensions), then each request with
/// `answer(request) -> reply frames`.
fn scripted<F>(answer: F) -> (DuplexStream, DuplexStream)
where
    F: Fn(&Request<'_>) -> Vec<u8> + Send + 'static,
{
    let (c2s_w, mut c2s_r) = tokio::io::duplex(1 << 20);
    let (mut s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let mut dec = FrameDecoder::new();
        let mut first = true;
        while let Some(f) = read_frame(&mut c2s_r, &mut dec).await {
            let mut out = Vec::new();
            if first {
                first = false;
                encode_frame(
                    &Version {
                        version: 3,
                        extensions: Seq::new(),
                    },
                    &mut out,
                );
            } else {
                out = answer(&Request::decode_bytes(&f).unwrap());
            }
            if s2c_w.write_all(&out).await.is_err() {
                return;
            }
        }
    });
    (c2s_w, s2c_r)
}

#[tokio::test]
async fn oversize_reply_is_a_connection_error() {
    let (w, r) = scripted(|req| {
        let mut out = (16u32 << 20).to_be_bytes().to_vec();
        out.extend_from_slice(&[101]);
        out.extend_from_slice(&req.id().unwrap().to_be_bytes());
        out
    });
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(r),
        nacre_sftp::WriteSink::new(w),
        nacre_sftp::ClientConfig::default(),
    )
    .await
    .unwrap();
    let e = tokio::time::timeout(T, client.stat("/x"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::ConnectionLost(_)), "{e:?}");
    let e = tokio::time::timeout(T, client.stat("/y"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::ConnectionLost(_)), "{e:?}");
}

/// A malicious server whose folder `/d` lists `hostile` next to a normal file.
fn hostile_server(hostile: &'static [u8]) -> (DuplexStream, DuplexStream) {
    let listed = std::sync::atomic::AtomicBool::new(false);
    scripted(move |req| {
        let mut out = Vec::new();
        let file = Attributes::EMPTY.with_permissions(0o100644).with_size(5);
        let dir = Attributes::EMPTY.with_permissions(0o040755);
        match req {
            Request::Stat(m) => encode_frame(
                &Attrs {
                    id: m.id,
                    attrs: dir.to_wire(),
                },
                &mut out,
            ),
            Request::Opendir(m) => encode_frame(
                &Handle {
                    id: m.id,
                    handle: b"h",
                },
                &mut out,
            ),
            // fine.txt: five bytes.
            Request::Open(m) => encode_frame(
                &Handle {
                    id: m.id,
                    handle: b"f",
                },
                &mut out,
            ),
            Request::Fstat(m) => encode_frame(
                &Attrs {
                    id: m.id,
                    attrs: file.to_wire(),
                },
                &mut out,
            ),
            Request::Read(m) if m.offset == 0 => encode_frame(
                &Data {
                    id: m.id,
                    data: b"hello",
                },
                &mut out,
            ),
            Request::Readdir(m) if !listed.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                let entries = [
                    NameEntry {
                        filename: b".",
                        longname: b"",
                        attrs: dir.to_wire(),
                    },
                    NameEntry {
                        filename: b"..",
                        longname: b"",
                        attrs: dir.to_wire(),
                    },
                    NameEntry {
                        filename: b"fine.txt",
                        longname: b"",
                        attrs: file.to_wire(),
                    },
                    NameEntry {
                        filename: hostile,
                        longname: b"",
                        attrs: file.to_wire(),
                    },
                ];
                encode_frame(
                    &Name {
                        id: m.id,
                        entries: Seq::from_slice(&entries),
                    },
                    &mut out,
                )
            }
            other => encode_frame(
                &Status::from_code(
                    other.id().unwrap(),
                    if matches!(other, Request::Readdir(_) | Request::Read(_)) {
                        StatusCode::EOF
                    } else if matches!(other, Request::Close(_)) {
                        StatusCode::OK
                    } else {
                        StatusCode::PERMISSION_DENIED
                    },
                ),
                &mut out,
            ),
        };
        out
    })
}

#[tokio::test]
async fn recursive_download_refuses_hostile_names() {
    for hostile in [
        &b"../escape"[..],
        b"../../escape",
        b"/tmp/escape",
        b"/",
        b"",
        b"a/../../escape",
        b"sub/escape",
        b"nul\0name",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("a/b/target");
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let (w, r) = hostile_server(hostile);
        let client = SftpClient::new(
            nacre_sftp::ReadChunks::new(r),
            nacre_sftp::WriteSink::new(w),
            nacre_sftp::ClientConfig::default(),
        )
        .await
        .unwrap();
        let e = tokio::time::timeout(T, client.download_dir("/d", &target))
            .await
            .unwrap()
            .unwrap_err();
        // The hostile name is refused and named; the rest is fetched (as OpenSSH's sftp does).
        let Error::HostileNames { names, stats } = e else {
            panic!("{hostile:?}: {e:?}");
        };
        let mut want = b"/d/".to_vec();
        want.extend_from_slice(hostile);
        assert_eq!(names, vec![want], "{hostile:?}");
        assert_eq!((stats.files, stats.bytes), (1, 5), "{hostile:?}");
        assert_eq!(std::fs::read(target.join("fine.txt")).unwrap(), b"hello");
        // Nothing else was written: no file outside the target, none for the hostile name.
        let mut all = Vec::new();
        for entry in walk(tmp.path()) {
            all.push(entry);
        }
        all.sort();
        assert_eq!(
            all,
            ["a", "a/b", "a/b/target", "a/b/target/fine.txt"],
            "{hostile:?}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn go(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            out.push(e.path().strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                go(base, &e.path(), out);
            }
        }
    }
    go(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn pipelined_writes_are_answered_in_order() {
    // paramiko's pipelined writes match answers in order: anything but READ is answered in
    // request order even with hundreds in flight.
    let (mut w, mut r, _task, _tmp) = raw_server();
    let mut dec = FrameDecoder::new();
    let mut out = Vec::new();
    encode_frame(&Init::v3(), &mut out);
    encode_frame(
        &nacre_sftp::codec::Open {
            id: 1,
            filename: b"/f",
            pflags: OpenFlags::WRITE | OpenFlags::CREAT,
            attrs: Attributes::EMPTY.to_wire(),
        },
        &mut out,
    );
    w.write_all(&out).await.unwrap();
    read_frame(&mut r, &mut dec).await.unwrap();
    let f = read_frame(&mut r, &mut dec).await.unwrap();
    let handle = match Response::decode_bytes(&f).unwrap() {
        Response::Handle(h) => h.handle.to_vec(),
        other => panic!("{other:?}"),
    };
    let chunk = vec![7u8; 4096];
    let mut out = Vec::new();
    for i in 0..400u32 {
        encode_frame(
            &nacre_sftp::codec::Write {
                id: 10 + i,
                handle: &handle,
                offset: u64::from(i) * 4096,
                data: &chunk,
            },
            &mut out,
        );
    }
    encode_frame(
        &nacre_sftp::codec::Fstat {
            id: 410,
            handle: &handle,
        },
        &mut out,
    );
    let writer = tokio::spawn(async move {
        w.write_all(&out).await.unwrap();
        w
    });
    let mut ids = Vec::new();
    for _ in 0..401 {
        let f = tokio::time::timeout(T, read_frame(&mut r, &mut dec))
            .await
            .unwrap()
            .unwrap();
        let reply = Response::decode_bytes(&f).unwrap();
        if let Response::Attrs(a) = &reply {
            assert_eq!(a.attrs.size, Some(400 * 4096));
        }
        ids.push(reply.id().unwrap());
    }
    assert_eq!(ids, (10..=410).collect::<Vec<u32>>());
    drop(writer.await.unwrap());
}

/// Handle budgets shared by sessions: the second session gets FAILURE ("too many open handles")
/// once the budget both count against is spent, opens again after the first closes one, and a
/// session's end gives back every handle it held.
#[tokio::test]
async fn shared_handle_budget_spans_sessions() {
    let budget = nacre_sftp::HandleBudget::new(5);
    let config = || ServerConfig {
        handle_budgets: vec![budget.clone()],
        ..ServerConfig::default()
    };
    let a = pair_with(config(), ClientConfig::default()).await;
    let b = pair_with(config(), ClientConfig::default()).await;
    assert_eq!(a.client.limits().unwrap().max_open_handles, 5);
    std::fs::write(a.root().join("f"), b"x").unwrap();
    std::fs::write(b.root().join("f"), b"x").unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(a.client.open_read("/f").await.unwrap());
    }
    let mut held_b = Vec::new();
    for _ in 0..2 {
        held_b.push(b.client.open_read("/f").await.unwrap());
    }
    assert_eq!(budget.in_use(), 5);
    let err = b.client.open_read("/f").await.unwrap_err();
    assert!(err.to_string().contains("too many open handles"), "{err}");
    let err = a.client.opendir("/").await.unwrap_err();
    assert!(err.to_string().contains("too many open handles"), "{err}");
    // A CLOSE gives one back.
    held.pop().unwrap().close().await.unwrap();
    assert_eq!(budget.in_use(), 4);
    held_b.push(b.client.open_read("/f").await.unwrap());
    // The end of a session gives back all it held.
    drop(held);
    drop(a);
    for _ in 0..100 {
        if budget.in_use() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(budget.in_use(), 3);
}

/// A server whose listings never end: `list_dir` stops at `max_listing_entries` with
/// `Error::TooManyEntries` (and the session goes on).
#[tokio::test]
async fn an_endless_listing_stops_at_the_cap() {
    let counter = std::sync::atomic::AtomicU64::new(0);
    let (w, r) = scripted(move |req| {
        let mut out = Vec::new();
        match req {
            Request::Opendir(m) => enc(
                &Handle {
                    id: m.id,
                    handle: b"h",
                },
                &mut out,
            ),
            Request::Readdir(m) => {
                let names: Vec<Vec<u8>> = (0..100)
                    .map(|_| {
                        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        format!("f{n:09}").into_bytes()
                    })
                    .collect();
                let file = Attributes::EMPTY.with_permissions(0o100644).to_wire();
                let entries: Vec<NameEntry<'_>> = names
                    .iter()
                    .map(|n| NameEntry {
                        filename: n,
                        longname: n,
                        attrs: file,
                    })
                    .collect();
                encode_frame(
                    &Name {
                        id: m.id,
                        entries: Seq::from_slice(&entries),
                    },
                    &mut out,
                );
            }
            other => enc(
                &Status::from_code(other.id().unwrap(), StatusCode::OK),
                &mut out,
            ),
        }
        out
    });
    let config = ClientConfig {
        max_listing_entries: 5_000,
        ..ClientConfig::default()
    };
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(r),
        nacre_sftp::WriteSink::new(w),
        config,
    )
    .await
    .unwrap();
    let e = tokio::time::timeout(T, client.list_dir("/d"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(e, Error::TooManyEntries { entries: 5_000, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("too many entries"), "{e}");
    // The byte cap too.
    let config = ClientConfig {
        max_listing_bytes: 100_000,
        ..ClientConfig::default()
    };
    let (w2, r2) = scripted(|req| {
        let mut out = Vec::new();
        let id = req.id().unwrap();
        match req {
            Request::Opendir(_) => enc(&Handle { id, handle: b"h" }, &mut out),
            Request::Readdir(_) => {
                let long = vec![b'x'; 1000];
                let entries = [NameEntry {
                    filename: b"n",
                    longname: &long,
                    attrs: Attributes::EMPTY.to_wire(),
                }];
                encode_frame(
                    &Name {
                        id,
                        entries: Seq::from_slice(&entries),
                    },
                    &mut out,
                );
            }
            _ => enc(&Status::from_code(id, StatusCode::OK), &mut out),
        }
        out
    });
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(r2),
        nacre_sftp::WriteSink::new(w2),
        config,
    )
    .await
    .unwrap();
    let e = client.list_dir("/d").await.unwrap_err();
    assert!(matches!(e, Error::TooManyEntries { .. }), "{e:?}");
    // The session goes on.
    client.remove("/x").await.unwrap();
}

/// A server that never answers READ: with `request_timeout` the read fails with
/// `Error::Timeout`, a download fails the same way, and the session goes on (other requests
/// are answered). Without it the call would wait for ever.
#[tokio::test]
async fn an_unanswered_request_times_out_and_the_session_goes_on() {
    let (w, r) = scripted(|req| {
        let mut out = Vec::new();
        let id = req.id().unwrap();
        match req {
            Request::Read(_) => {} // never answered
            Request::Open(_) => enc(&Handle { id, handle: b"f" }, &mut out),
            Request::Stat(_) | Request::Fstat(_) | Request::Lstat(_) => enc(
                &Attrs {
                    id,
                    attrs: Attributes::EMPTY
                        .with_permissions(0o100644)
                        .with_size(1 << 20)
                        .to_wire(),
                },
                &mut out,
            ),
            _ => enc(&Status::from_code(id, StatusCode::OK), &mut out),
        }
        out
    });
    let config = ClientConfig {
        request_timeout: Some(Duration::from_millis(300)),
        ..ClientConfig::default()
    };
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(r),
        nacre_sftp::WriteSink::new(w),
        config,
    )
    .await
    .unwrap();
    let handle = client
        .open("/file.bin", OpenFlags::READ, &Attributes::EMPTY)
        .await
        .unwrap();
    let e = tokio::time::timeout(T, client.read(&handle, 0, 100))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    let tmp = tempfile::tempdir().unwrap();
    let e = tokio::time::timeout(T, client.download("/file.bin", tmp.path().join("out")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e:?}");
    assert!(client.stat("/file.bin").await.is_ok());
}

/// `encode_frame` as a statement (match arms of scripted servers).
fn enc<M: nacre_wire::Encode + ?Sized>(msg: &M, out: &mut Vec<u8>) {
    encode_frame(msg, out);
}
