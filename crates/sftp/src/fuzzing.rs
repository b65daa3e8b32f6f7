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

use nacre_sftp_codec::{parse_frame, FrameDecoder, PacketType, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use crate::memfs::{normalize, MemFs, MAX_FILE_LEN, MAX_NODES};
use crate::server::{extensions::version_frame, ServerConfig, Session};
use crate::{Accounts, ClientConfig, SftpClient};

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

thread_local! {
    /// One current-thread runtime per thread, with paused time: when every task waits, the clock
    /// jumps to the next timer, so the scripted server notices at once that the client waits.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        // Building a current-thread runtime fails only without OS resources: the harness stops.
        .expect("runtime");
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

/// The SFTP client fed server replies: it runs over an in-memory duplex on a current-thread
/// runtime against a scripted server. The input is the server's side: `data[0]` picks the
/// client's operations; then for each request the client sends (INIT included), one reply body
/// (`u16` length, bytes) whose request id is patched to the request's when the body's first
/// byte asks for it, framed and sent. When the input runs out the server closes the stream.
///
/// Checks: the client never panics, never hangs (every call ends once the stream closes), and
/// every request it sends is a well-formed frame.
pub fn sftp_client(data: &[u8]) {
    let Some((&ops, rest)) = data.split_first() else {
        return;
    };
    RUNTIME.with(|rt| rt.block_on(client_session(ops, rest.to_vec())));
}

async fn client_session(ops: u8, script: Vec<u8>) {
    {
        let (client_side, server_side) = tokio::io::duplex(64 * 1024);
        let (mut sr, mut sw) = tokio::io::split(server_side);
        let server = tokio::spawn(async move {
            let mut input = Input(&script);
            let mut decoder = FrameDecoder::with_max_len(1 << 20);
            let mut buf = vec![0u8; 64 * 1024];
            'outer: loop {
                while let Ok(Some(frame)) = decoder.next_frame() {
                    let id = frame.request_id();
                    if frame.packet_type() != PacketType::INIT {
                        assert!(
                            Request::decode_bytes(frame.bytes()).is_ok(),
                            "the client sent a malformed request"
                        );
                    }
                    if input.0.is_empty() {
                        break 'outer;
                    }
                    let len = usize::from(u16::from_be_bytes([input.u8(), input.u8()]));
                    let mut body = input.bytes(len).to_vec();
                    if let (Some(id), Some(b)) = (id, body.get_mut(1..5)) {
                        if b[0] & 0x80 == 0 {
                            b.copy_from_slice(&id.to_be_bytes());
                        }
                    }
                    let mut out = (body.len() as u32).to_be_bytes().to_vec();
                    out.extend_from_slice(&body);
                    if sw.write_all(&out).await.is_err() {
                        break 'outer;
                    }
                }
                // Nothing more from the client while every task waits: it waits for a reply that
                // will not come (paused time jumps straight to the timeout).
                let read = tokio::time::timeout(Duration::from_secs(60), sr.read(&mut buf));
                match read.await {
                    Err(_) | Ok(Ok(0) | Err(_)) => break,
                    Ok(Ok(n)) => {
                        if decoder.push(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sw.shutdown().await;
        });
        let (cr, cw) = tokio::io::split(client_side);
        let config = ClientConfig {
            max_request_len: 4096,
            max_in_flight: 4,
            initial_in_flight: 1,
            max_packet_len: 1 << 20,
            max_listing_entries: 10_000,
            ..ClientConfig::default()
        };
        if let Ok(client) = SftpClient::with_config(cr, cw, config).await {
            let _ = (client.read_len(), client.write_len(8), client.limits());
            run_ops(&client, ops).await;
        }
        if let Err(e) = server.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

async fn run_ops(client: &SftpClient, ops: u8) {
    match ops % 8 {
        0 => {
            let _ = client.stat("/a").await;
            let _ = client.realpath(".").await;
            let _ = client.readlink("/l").await;
        }
        1 => {
            let _ = client.list_dir("/").await;
        }
        2 => {
            if let Ok(h) = client
                .open(
                    "/f",
                    nacre_sftp_codec::OpenFlags::READ,
                    &crate::Attributes::EMPTY,
                )
                .await
            {
                let _ = client.read(&h, 0, 4096).await;
                let _ = client.fstat(&h).await;
                let _ = client.close(&h).await;
            }
        }
        3 => {
            let mut out = Vec::new();
            if let Ok(mut f) = client.open_read("/f").await {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut f, &mut out).await;
            }
        }
        4 => {
            let _ = client.statvfs("/").await;
            let _ = client.users_groups_by_id(&[0, 1], &[0]).await;
            let _ = client.expand_path("~/x").await;
            let _ = client.home_directory("fuzz").await;
        }
        5 => {
            if let Ok(mut f) = client.create("/new").await {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut f, &[7u8; 10_000]).await;
                let _ = f.close().await;
            }
        }
        6 => {
            let a = client.stat("/a");
            let b = client.lstat("/b");
            let c = client.mkdir("/c", &crate::Attributes::EMPTY);
            let _ = tokio::join!(a, b, c);
        }
        _ => {
            let _ = client.copy_file("/a", "/b").await;
            let _ = client.rename("/a", "/b").await;
        }
    }
}

/// Records a real session for the seed corpus: nacre's client running the operations `ops`
/// picks (as [`sftp_client`] does) against nacre's server over a [`MemFs`], on an in-memory
/// duplex. Returns what the client sent (frames, INIT first) and the server's reply frames
/// without their length prefixes, in order.
pub fn record_session(ops: u8) -> (Vec<u8>, Vec<Vec<u8>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (client_side, proxy_c) = tokio::io::duplex(1 << 20);
        let (proxy_s, server_side) = tokio::io::duplex(1 << 20);
        let (sr, sw) = tokio::io::split(server_side);
        let config = ServerConfig {
            max_handles: FUZZ_MAX_HANDLES,
            accounts: accounts(),
            ..ServerConfig::default()
        };
        let server = tokio::spawn(crate::serve_with(sr, sw, Arc::new(MemFs::new()), config));
        let (mut pcr, mut pcw) = tokio::io::split(proxy_c);
        let (mut psr, mut psw) = tokio::io::split(proxy_s);
        let up = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = pcr.read(&mut buf).await {
                if n == 0 || psw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            let _ = psw.shutdown().await;
            seen
        });
        let down = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = psr.read(&mut buf).await {
                if n == 0 || pcw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            let _ = pcw.shutdown().await;
            seen
        });
        {
            let (cr, cw) = tokio::io::split(client_side);
            let config = ClientConfig {
                max_request_len: 4096,
                max_in_flight: 4,
                initial_in_flight: 1,
                max_packet_len: 1 << 20,
                max_listing_entries: 10_000,
                ..ClientConfig::default()
            };
            // The recorded session is against nacre's own server over a pipe: a failed INIT is a
            // bug worth the panic (this records seeds, it serves no peer).
            let client = SftpClient::with_config(cr, cw, config)
                .await
                .expect("client");
            run_ops(&client, ops).await;
        }
        let sent = up.await.expect("proxy");
        let replies = down.await.expect("proxy");
        let _ = server.await;
        let mut decoder = FrameDecoder::with_max_len(1 << 20);
        decoder.push(&replies).expect("frames");
        let mut bodies = Vec::new();
        while let Ok(Some(frame)) = decoder.next_frame() {
            bodies.push(frame.bytes().to_vec());
        }
        (sent, bodies)
    })
}
