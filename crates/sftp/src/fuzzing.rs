//! Fuzzing entry points for the SFTP server and client (feature `fuzzing`; docs/FUZZING.md).
//!
//! Every function takes arbitrary bytes and must never panic, except through an `assert!` that
//! flags a real bug. The cargo-fuzz targets in `fuzz/` and the stable corpus replay test call them.

#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use nacre_sftp_codec::ext::names;
use nacre_sftp_codec::{
    parse_frame, Close, CopyData, ExpandPath, FrameDecoder, Fstat, HomeDirectory, Lstat, Mkdir,
    Open, OpenFlags, Opendir, PacketType, PosixRename, Read, Readlink, Realpath, Rename, Request,
    Response, Seq, Stat, Statvfs, UsersGroupsById,
};

pub use crate::memfs::{normalize, MemFs, MAX_FILE_LEN, MAX_NODES};
use crate::server::{extensions::version_frame, ServerConfig, Session};
use crate::testing::{Driver, MemServer, Peer};
use crate::{Accounts, Attributes, ClientConfig, ClientProto, Reply};

/// Handle limit of the fuzzed servers (small, so the limit is reached).
pub const FUZZ_MAX_HANDLES: usize = 4;

fn accounts() -> Arc<Accounts> {
    static ACCOUNTS: OnceLock<Arc<Accounts>> = OnceLock::new();
    ACCOUNTS
        .get_or_init(|| {
            Arc::new(Accounts::parse(
                "root:x:0:0::/:/bin/sh\nfuzz:x:1000:1000::/home:/bin/sh\n",
                "root:x:0:\nfuzz:x:1000:\n",
            ))
        })
        .clone()
}

/// The SFTP server's dispatcher ([`Session`]) over a fresh [`MemFs`]: `data[0]` picks read-only
/// and how the rest is cut into chunks; the rest is a stream of SFTP frames (length-prefixed
/// requests), decoded as the server's connection task does and handed to the session.
///
/// Checks: VERSION decodes; every reply is exactly one frame that decodes as a server packet and
/// echoes the request id; open handles never exceed the limit; the in-memory tree only ever holds
/// normalized absolute paths, and no file grows over its cap.
pub fn sftp_server(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let fs = Arc::new(MemFs::new());
    let config = ServerConfig {
        read_only: flags & 1 == 1,
        max_handles: FUZZ_MAX_HANDLES,
        handle_budgets: Vec::new(),
        max_in_flight: 1,
        accounts: accounts(),
        log_label: String::new(),
    };
    let version = version_frame(&*fs);
    check_reply(&version, None);
    let session = Session::new(fs.clone(), config);
    let chunk = usize::from(flags >> 1).max(1) * 7;
    let mut decoder = FrameDecoder::with_max_len(crate::MAX_PACKET_LEN);
    for piece in rest.chunks(chunk) {
        if decoder.push(piece).is_err() {
            break;
        }
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return finish(&fs),
            };
            if frame.packet_type() == PacketType::INIT {
                continue;
            }
            if let Ok(req) = crate::server::decode_request(frame.bytes()) {
                let reply = session.handle(&req);
                check_reply(&reply, Some(req.id().unwrap_or(0)));
                if let Some(id) = frame.request_id() {
                    check_reply(&reply, Some(id));
                }
            }
            assert!(
                session.open_handles() <= FUZZ_MAX_HANDLES,
                "more handles than the limit"
            );
        }
    }
    finish(&fs);
}

fn finish(fs: &MemFs) {
    for p in fs.paths() {
        assert!(p.is_absolute(), "relative path {p:?} in the tree");
        assert_eq!(normalize(&p), p, "path {p:?} not normalized");
    }
}

/// A fuzz oracle: it panics on purpose when the server's reply breaks the protocol, which is how
/// libFuzzer reports a finding (this module is compiled only with the `fuzzing` feature, never
/// on a path a peer reaches in the library).
fn check_reply(reply: &[u8], id: Option<u32>) {
    let (frame, used) = match parse_frame(reply, 1 << 20) {
        Ok(Some(f)) => f,
        other => panic!("the server's reply is not one frame: {other:?}"),
    };
    assert_eq!(used, reply.len(), "bytes after the reply frame");
    let resp = Response::decode_bytes(frame.bytes())
        .unwrap_or_else(|e| panic!("the server's reply does not decode: {e}"));
    match id {
        Some(id) => assert_eq!(resp.id(), Some(id), "reply to another request id"),
        None => assert!(matches!(resp, Response::Version(_))),
    }
}

/// A cursor over fuzz input that never fails.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// The fuzzed client's settings: small requests and window, so pipelines fill and wrap; a
/// request timeout, so replies that never come (a wrong id) exercise the deadlines.
fn client_config() -> ClientConfig {
    ClientConfig {
        max_request_len: 4096,
        max_in_flight: 4,
        initial_in_flight: 1,
        max_packet_len: 1 << 20,
        max_listing_entries: 10_000,
        request_timeout: Some(Duration::from_secs(30)),
        ..ClientConfig::default()
    }
}

/// The scripted server of [`sftp_client`]: one reply body from the script per request frame.
struct Scripted<'a> {
    input: Input<'a>,
    decoder: FrameDecoder,
    closed: bool,
}

impl Peer for Scripted<'_> {
    fn exchange(&mut self, from_client: &[u8]) -> Option<Vec<u8>> {
        if self.closed || self.decoder.push(from_client).is_err() {
            return None;
        }
        let mut out = Vec::new();
        while let Ok(Some(frame)) = self.decoder.next_frame() {
            if frame.packet_type() != PacketType::INIT {
                assert!(
                    Request::decode_bytes(frame.bytes()).is_ok(),
                    "the client sent a malformed request"
                );
            }
            if self.input.0.is_empty() {
                self.closed = true;
                break;
            }
            let len = usize::from(u16::from_be_bytes([self.input.u8(), self.input.u8()]));
            let mut body = self.input.bytes(len).to_vec();
            if let (Some(id), Some(b)) = (frame.request_id(), body.get_mut(1..5)) {
                if b[0] & 0x80 == 0 {
                    b.copy_from_slice(&id.to_be_bytes());
                }
            }
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
            out.extend_from_slice(&body);
        }
        if self.closed && out.is_empty() {
            None
        } else {
            Some(out)
        }
    }
}

/// The SFTP client machine ([`ClientProto`]) fed server replies, with no runtime and a
/// simulated clock. The input is the server's side: `data[0]` picks the client's operations
/// (low three bits) and the size of the pieces the replies arrive in (the rest; 0: whole);
/// then for each request the client sends (INIT included), one reply body (`u16` length, bytes)
/// whose request id is patched to the request's when the body's first byte asks for it. When
/// the input runs out the server closes the stream; when nothing moves, the clock jumps to the
/// next deadline (a reply with a wrong id times its request out).
///
/// Checks: the client never panics, never hangs (every operation ends), every request it sends
/// is a well-formed frame, and once the stream is closed no request is left waiting.
pub fn sftp_client(data: &[u8]) {
    let Some((&ops, rest)) = data.split_first() else {
        return;
    };
    let peer = Scripted {
        input: Input(rest),
        decoder: FrameDecoder::with_max_len(1 << 20),
        closed: false,
    };
    let mut d = Driver::new(ClientProto::new(client_config()), peer);
    d.split = usize::from(ops >> 3);
    if d.handshake().is_ok() {
        let p = &d.proto;
        let _ = (p.read_len(), p.write_len(8), p.limits());
        run_ops(&mut d, ops);
    }
    d.proto.handle_eof();
    while d.proto.poll_event().is_some() {}
    assert_eq!(
        d.proto.in_flight(),
        0,
        "requests left waiting after the end"
    );
    assert_eq!(d.proto.poll_timeout(), None, "deadlines left after the end");
}

/// The handle of a HANDLE reply.
fn handle(reply: crate::Result<Reply>) -> Option<Vec<u8>> {
    match reply.ok()?.decode().ok()? {
        Response::Handle(h) => Some(h.handle.to_vec()),
        _ => None,
    }
}

/// The size in an ATTRS reply.
fn size(reply: crate::Result<Reply>) -> Option<u64> {
    match reply.ok()?.decode().ok()? {
        Response::Attrs(a) => a.attrs.size,
        _ => None,
    }
}

fn open<P: Peer>(d: &mut Driver<P>, path: &[u8], pflags: OpenFlags) -> Option<Vec<u8>> {
    let attrs = Attributes::EMPTY.to_wire();
    handle(d.call(|id| Open {
        id,
        filename: path,
        pflags,
        attrs,
    }))
}

fn close<P: Peer>(d: &mut Driver<P>, handle: &[u8]) {
    let _ = d.call(|id| Close { id, handle });
}

/// The client's operations, picked by `ops % 8`.
fn run_ops<P: Peer>(d: &mut Driver<P>, ops: u8) {
    let write = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
    match ops % 8 {
        0 => {
            let _ = d.call(|id| Stat { id, path: b"/a" });
            let _ = d.call(|id| Realpath { id, path: b"." });
            let _ = d.call(|id| Readlink { id, path: b"/l" });
        }
        1 => {
            if let Some(h) = handle(d.call(|id| Opendir { id, path: b"/" })) {
                let _ = d.list(&h);
            }
        }
        2 => {
            if let Some(h) = open(d, b"/home/a.txt", OpenFlags::READ) {
                let (handle, offset, len) = (&h[..], 0, 4096);
                let _ = d.call(|id| Read {
                    id,
                    handle,
                    offset,
                    len,
                });
                let _ = d.call(|id| Fstat { id, handle });
                close(d, &h);
            }
        }
        3 => {
            if let Some(h) = open(d, b"/home/link", OpenFlags::READ) {
                let hint = size(d.call(|id| Fstat { id, handle: &h }));
                let _ = d.download(&h, hint);
                close(d, &h);
            }
        }
        4 => extensions(d),
        5 => {
            if let Some(h) = open(d, b"/new", write) {
                let _ = d.upload(&h, &[7u8; 10_000]);
                // Three lanes of a striped upload over the same handle, small blocks.
                let data = [9u8; 10_000];
                let jobs: Vec<_> = (0..3)
                    .map(|index| {
                        let lane = crate::client::proto::Lane {
                            block: 3000,
                            lanes: 3,
                            index,
                            end: data.len() as u64,
                        };
                        d.proto.upload_lane(&h, lane)
                    })
                    .collect();
                let _ = d.upload_jobs(&jobs, &data);
                close(d, &h);
            }
        }
        6 => {
            let now = d.now;
            let ids = [
                d.proto.request(now, |id| Stat { id, path: b"/a" }),
                d.proto.request(now, |id| Lstat { id, path: b"/b" }),
                d.proto.request(now, |id| Mkdir {
                    id,
                    path: b"/c",
                    attrs: Attributes::EMPTY.to_wire(),
                }),
            ];
            for id in ids.into_iter().flatten() {
                let _ = d.wait(id);
            }
        }
        _ => copy_and_rename(d, write),
    }
}

/// OpenSSH's extensions, each when announced.
fn extensions<P: Peer>(d: &mut Driver<P>) {
    if d.proto.supports(names::STATVFS, "2") {
        let _ = d.call(|id| Statvfs { id, path: b"/" });
    }
    if d.proto.supports(names::USERS_GROUPS_BY_ID, "1") {
        let (uids, gids) = ([0, 1], [0]);
        let _ = d.call(|id| UsersGroupsById {
            id,
            uids: Seq::from_slice(&uids),
            gids: Seq::from_slice(&gids),
        });
    }
    if d.proto.supports(names::EXPAND_PATH, "1") {
        let _ = d.call(|id| ExpandPath { id, path: b"~/x" });
    }
    if d.proto.supports(names::HOME_DIRECTORY, "1") {
        let _ = d.call(|id| HomeDirectory {
            id,
            username: b"fuzz",
        });
    }
}

/// A server-side copy (`copy-data`) and a rename (`posix-rename@openssh.com` when announced).
fn copy_and_rename<P: Peer>(d: &mut Driver<P>, write: OpenFlags) {
    if let Some(src) = open(d, b"/home/a.txt", OpenFlags::READ) {
        let _ = d.call(|id| Fstat { id, handle: &src });
        if let Some(dst) = open(d, b"/b", write) {
            if d.proto.supports(names::COPY_DATA, "1") {
                let _ = d.call(|id| CopyData {
                    id,
                    read_from_handle: &src,
                    read_from_offset: 0,
                    read_data_length: 0,
                    write_to_handle: &dst,
                    write_to_offset: 0,
                });
            }
            close(d, &dst);
        }
        close(d, &src);
    }
    let (oldpath, newpath) = (&b"/a"[..], &b"/b"[..]);
    if d.proto.supports(names::POSIX_RENAME, "1") {
        let _ = d.call(|id| PosixRename {
            id,
            oldpath,
            newpath,
        });
    } else {
        let _ = d.call(|id| Rename {
            id,
            oldpath,
            newpath,
        });
    }
}

/// A [`MemServer`] that records both directions.
struct Recording {
    server: MemServer,
    sent: Vec<u8>,
    replies: Vec<u8>,
}

impl Peer for Recording {
    fn exchange(&mut self, from_client: &[u8]) -> Option<Vec<u8>> {
        self.sent.extend_from_slice(from_client);
        let answer = self.server.exchange(from_client)?;
        self.replies.extend_from_slice(&answer);
        Some(answer)
    }
}

/// Records a real session for the seed corpus: the client machine running the operations `ops`
/// picks (as [`sftp_client`] does) against nacre's server dispatcher over a [`MemFs`], with no
/// runtime. Returns what the client sent (frames, INIT first) and the server's reply frames
/// without their length prefixes, in order.
pub fn record_session(ops: u8) -> (Vec<u8>, Vec<Vec<u8>>) {
    let config = ServerConfig {
        max_handles: FUZZ_MAX_HANDLES,
        accounts: accounts(),
        ..ServerConfig::default()
    };
    let peer = Recording {
        server: MemServer::new(config),
        sent: Vec::new(),
        replies: Vec::new(),
    };
    let mut d = Driver::new(ClientProto::new(client_config()), peer);
    // Against nacre's own server in memory a failed INIT is a bug worth the panic (this records
    // seeds, it serves no peer).
    d.handshake().expect("handshake");
    run_ops(&mut d, ops);
    let mut decoder = FrameDecoder::with_max_len(1 << 20);
    decoder.push(&d.peer.replies).expect("frames");
    let mut bodies = Vec::new();
    while let Ok(Some(frame)) = decoder.next_frame() {
        bodies.push(frame.bytes().to_vec());
    }
    (std::mem::take(&mut d.peer.sent), bodies)
}
