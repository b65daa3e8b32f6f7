//! The client machine on its own: scripted replies in every split, out of order, to unknown
//! ids, past their deadline on a simulated clock; listing limits; whole-file transfers against
//! the server's dispatcher over an in-memory file system. No runtime anywhere.
#![allow(clippy::panic)]

use std::time::{Duration, Instant};

use nacre_sftp_codec::ext::names;
use nacre_sftp_codec::{
    encode_frame, Attrs, Data, ExtensionPair, FrameDecoder, Handle, LimitsReply, Name, NameEntry,
    OpenFlags, PacketType, Request, Seq, Stat, Status, StatusCode, Version,
};
use nacre_wire::Encode;

use super::*;
use crate::attrs::Attributes;
use crate::server::ServerConfig;
use crate::testing::{Driver, MemServer, Peer};
use crate::Accounts;

fn frame<M: Encode + ?Sized>(msg: &M) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(msg, &mut out);
    out
}

fn version(limits: bool) -> Vec<u8> {
    let pairs = [ExtensionPair {
        name: names::LIMITS.as_bytes(),
        data: b"1",
    }];
    let extensions = if limits {
        Seq::from_slice(&pairs)
    } else {
        Seq::new()
    };
    frame(&Version {
        version: 3,
        extensions,
    })
}

/// The requests in what the client transmitted.
fn requests(p: &mut ClientProto) -> Vec<(PacketType, u32, Vec<u8>)> {
    let mut out = Vec::new();
    p.poll_transmit(&mut out);
    let mut dec = FrameDecoder::with_max_len(1 << 20);
    dec.push(&out).unwrap();
    let mut reqs = Vec::new();
    while let Some(f) = dec.next_frame().unwrap() {
        reqs.push((
            f.packet_type(),
            f.request_id().unwrap_or(0),
            f.bytes().to_vec(),
        ));
    }
    reqs
}

fn events(p: &mut ClientProto) -> Vec<Event> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn ready(config: ClientConfig, now: Instant) -> ClientProto {
    let mut p = ClientProto::new(config);
    let init = requests(&mut p);
    assert_eq!(init[0].0, PacketType::INIT);
    p.handle_input(now, &version(false));
    assert!(matches!(events(&mut p)[..], [Event::Handshake(Ok(()))]));
    p
}

fn stat_reply(id: u32, size: u64) -> Vec<u8> {
    frame(&Attrs {
        id,
        attrs: Attributes::EMPTY.with_size(size).to_wire(),
    })
}

fn size_of(reply: &Result<Reply>) -> u64 {
    match reply.as_ref().unwrap().decode().unwrap() {
        Response::Attrs(a) => a.attrs.size.unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_scripted_session_in_splits_of_every_size() {
    let now = Instant::now();
    // The server's whole side: VERSION with limits, the limits, three ATTRS.
    let limits = LimitsReply {
        id: 1,
        max_packet_length: 65536,
        max_read_length: 8192,
        max_write_length: 8192,
        max_open_handles: 10,
    };
    let mut handshake = version(true);
    handshake.extend(frame(&limits));
    let mut replies = Vec::new();
    for (id, size) in [(2, 10), (3, 20), (4, 30)] {
        replies.extend(stat_reply(id, size));
    }
    for split in 1..=handshake.len().max(replies.len()) {
        let mut p = ClientProto::new(ClientConfig::default());
        requests(&mut p);
        let mut got = Vec::new();
        for piece in handshake.chunks(split) {
            assert!(events(&mut p).is_empty());
            p.handle_input(now, piece);
        }
        assert!(matches!(events(&mut p)[..], [Event::Handshake(Ok(()))]));
        let ids: Vec<u32> = [&b"/a"[..], b"/b", b"/c"]
            .into_iter()
            .map(|path| p.request(now, |id| Stat { id, path }).unwrap().get())
            .collect();
        assert_eq!(ids, vec![2, 3, 4]);
        for piece in replies.chunks(split) {
            p.handle_input(now, piece);
            for e in events(&mut p) {
                match e {
                    Event::Reply { id, reply } => got.push((id.get(), size_of(&reply))),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(got, vec![(2, 10), (3, 20), (4, 30)], "split {split}");
        assert_eq!(p.limits().unwrap().max_read_length, 8192);
        assert_eq!(p.read_len(), 8192);
        assert_eq!(p.in_flight(), 0);
    }
}

#[test]
fn replies_out_of_order_go_to_their_requests_and_unknown_ids_are_dropped() {
    let now = Instant::now();
    let mut p = ready(ClientConfig::default(), now);
    let ids: Vec<RequestId> = (0..3)
        .map(|_| p.request(now, |id| Stat { id, path: b"/x" }).unwrap())
        .collect();
    let sent = requests(&mut p);
    assert_eq!(sent.len(), 3);
    let mut input = stat_reply(ids[2].get(), 3);
    input.extend(stat_reply(999, 9)); // nobody asked
    input.extend(stat_reply(ids[0].get(), 1));
    input.extend(stat_reply(ids[1].get(), 2));
    p.handle_input(now, &input);
    let got: Vec<(RequestId, u64)> = events(&mut p)
        .into_iter()
        .map(|e| match e {
            Event::Reply { id, reply } => (id, size_of(&reply)),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, vec![(ids[2], 3), (ids[0], 1), (ids[1], 2)]);
    assert!(p.is_ready());
    // A forgotten request's reply is dropped too.
    let id = p.request(now, |id| Stat { id, path: b"/y" }).unwrap();
    p.forget(id);
    p.handle_input(now, &stat_reply(id.get(), 5));
    assert!(events(&mut p).is_empty());
    // A packet without a request id ends the session; everything waiting fails.
    let id = p.request(now, |id| Stat { id, path: b"/z" }).unwrap();
    p.handle_input(now, &version(false));
    assert!(p.closed().unwrap().contains("without a request id"));
    match &events(&mut p)[..] {
        [Event::Reply {
            id: got,
            reply: Err(Error::ConnectionLost(_)),
        }] => assert_eq!(*got, id),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.request(now, |id| Stat { id, path: b"/" }),
        Err(Error::ConnectionLost(_))
    ));
}

#[test]
fn a_request_times_out_on_the_simulated_clock_and_the_session_goes_on() {
    let t0 = Instant::now();
    let config = ClientConfig {
        request_timeout: Some(Duration::from_secs(5)),
        ..ClientConfig::default()
    };
    let mut p = ready(config, t0);
    assert_eq!(p.poll_timeout(), None);
    let slow = p.request(t0, |id| Stat { id, path: b"/slow" }).unwrap();
    let t1 = t0 + Duration::from_secs(2);
    let fast = p.request(t1, |id| Stat { id, path: b"/fast" }).unwrap();
    assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    p.handle_timeout(t0 + Duration::from_secs(4));
    assert!(events(&mut p).is_empty());
    p.handle_timeout(t0 + Duration::from_secs(5));
    match &events(&mut p)[..] {
        [Event::Reply {
            id,
            reply: Err(Error::Timeout(d)),
        }] => {
            assert_eq!((*id, *d), (slow, Duration::from_secs(5)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.poll_timeout(), Some(t1 + Duration::from_secs(5)));
    // The late reply is dropped; the other request is answered.
    p.handle_input(t1, &stat_reply(slow.get(), 1));
    p.handle_input(t1, &stat_reply(fast.get(), 2));
    match &events(&mut p)[..] {
        [Event::Reply { id, reply }] => assert_eq!((*id, size_of(reply)), (fast, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.poll_timeout(), None);
    assert!(p.is_ready());
}

#[test]
fn the_handshake_fails_on_an_old_version_a_wrong_packet_or_an_early_end() {
    let now = Instant::now();
    let mut p = ClientProto::new(ClientConfig::default());
    p.handle_input(
        now,
        &frame(&Version {
            version: 2,
            extensions: Seq::new(),
        }),
    );
    match &events(&mut p)[..] {
        [Event::Handshake(Err(Error::Protocol(m)))] => assert!(m.contains("version 2")),
        other => panic!("{other:?}"),
    }
    let mut p = ClientProto::new(ClientConfig::default());
    p.handle_input(now, &stat_reply(1, 1));
    assert!(matches!(
        &events(&mut p)[..],
        [Event::Handshake(Err(Error::Protocol(_)))]
    ));
    let mut p = ClientProto::new(ClientConfig::default());
    p.handle_eof();
    match &events(&mut p)[..] {
        [Event::Handshake(Err(Error::ConnectionLost(m)))] => assert!(m.contains("before VERSION")),
        other => panic!("{other:?}"),
    }
    // An oversize packet is refused from its length alone.
    let mut p = ready(
        ClientConfig {
            max_packet_len: 1000,
            ..ClientConfig::default()
        },
        now,
    );
    let id = p.request(now, |id| Stat { id, path: b"/" }).unwrap();
    p.handle_input(now, &[0, 0, 0x10, 0]);
    assert!(p.closed().unwrap().contains("bad packet"));
    assert!(
        matches!(&events(&mut p)[..], [Event::Reply { id: i, reply: Err(Error::ConnectionLost(_)) }] if *i == id)
    );
}

/// A NAME reply of `n` entries named `f<k>` with long names of `long` bytes.
fn names_reply(id: u32, n: usize, long: usize) -> Vec<u8> {
    let names: Vec<Vec<u8>> = (0..n).map(|k| format!("f{k}").into_bytes()).collect();
    let longname = vec![b'x'; long];
    let entries: Vec<NameEntry<'_>> = names
        .iter()
        .map(|n| NameEntry {
            filename: n,
            longname: &longname,
            attrs: Attributes::EMPTY.to_wire(),
        })
        .collect();
    frame(&Name {
        id,
        entries: Seq::from_slice(&entries),
    })
}

/// Runs a listing against a server whose every READDIR gets `batch(id)`; returns the result
/// and the requests sent.
fn listing(
    config: ClientConfig,
    batches: usize,
    batch: impl Fn(u32) -> Vec<u8>,
) -> (Result<Vec<DirEntry>>, Vec<PacketType>) {
    let now = Instant::now();
    let mut p = ready(config, now);
    let job = p.list_start(now, b"dir").unwrap();
    let mut sent = Vec::new();
    for _ in 0..batches + 2 {
        for (kind, id, _) in requests(&mut p) {
            sent.push(kind);
            let reply = match kind {
                PacketType::READDIR if sent.len() <= batches => batch(id),
                PacketType::READDIR => frame(&Status::from_code(id, StatusCode::EOF)),
                _ => frame(&Status::from_code(id, StatusCode::OK)),
            };
            p.handle_input(now, &reply);
        }
        if let Some(r) = p.list_result(job) {
            sent.extend(requests(&mut p).into_iter().map(|r| r.0));
            return (r, sent);
        }
    }
    panic!("the listing did not end");
}

#[test]
fn a_listing_ends_with_close_and_stops_at_its_limits() {
    let (r, sent) = listing(ClientConfig::default(), 3, |id| names_reply(id, 100, 10));
    assert_eq!(r.unwrap().len(), 300);
    assert_eq!(sent.last(), Some(&PacketType::CLOSE));
    assert_eq!(sent.len(), 5);
    // The entry cap.
    let config = ClientConfig {
        max_listing_entries: 250,
        ..ClientConfig::default()
    };
    let (r, sent) = listing(config, 100, |id| names_reply(id, 100, 10));
    assert!(
        matches!(r, Err(Error::TooManyEntries { entries: 250, .. })),
        "{r:?}"
    );
    assert_eq!(
        sent,
        vec![
            PacketType::READDIR,
            PacketType::READDIR,
            PacketType::READDIR,
            PacketType::CLOSE
        ]
    );
    // The byte cap.
    let config = ClientConfig {
        max_listing_bytes: 100_000,
        ..ClientConfig::default()
    };
    let (r, _) = listing(config, 1000, |id| names_reply(id, 1, 1000));
    match r {
        Err(Error::TooManyEntries { entries, bytes }) => {
            assert!(bytes > 100_000 && entries < 100, "{entries} {bytes}");
        }
        other => panic!("{other:?}"),
    }
}

fn mem_driver<P: Peer>(peer: P, config: ClientConfig) -> Driver<P> {
    let mut d = Driver::new(ClientProto::new(config), peer);
    d.handshake().unwrap();
    d
}

fn server_config() -> ServerConfig {
    ServerConfig {
        accounts: std::sync::Arc::new(Accounts::parse("", "")),
        ..ServerConfig::default()
    }
}

fn small_requests() -> ClientConfig {
    ClientConfig {
        max_request_len: 4096,
        max_in_flight: 8,
        ..ClientConfig::default()
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn open_handle<P: Peer>(d: &mut Driver<P>, path: &[u8], pflags: OpenFlags) -> Vec<u8> {
    let attrs = Attributes::EMPTY.with_permissions(0o644).to_wire();
    let reply = d
        .call(|id| nacre_sftp_codec::Open {
            id,
            filename: path,
            pflags,
            attrs,
        })
        .unwrap();
    match reply.decode().unwrap() {
        Response::Handle(h) => h.handle.to_vec(),
        other => panic!("{other:?}"),
    }
}

/// Uploads `data` to `path` and downloads it back, through the machine's jobs.
fn round_trip<P: Peer>(d: &mut Driver<P>, path: &[u8], data: &[u8]) -> Vec<u8> {
    let write = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
    let h = open_handle(d, path, write);
    assert_eq!(d.upload(&h, data).unwrap(), data.len() as u64);
    crate::client::expect_ok(
        &d.call(|id| nacre_sftp_codec::Close { id, handle: &h })
            .unwrap(),
    )
    .unwrap();
    let h = open_handle(d, path, OpenFlags::READ);
    let got = d.download(&h, Some(data.len() as u64)).unwrap();
    let without_hint = d.download(&h, None).unwrap();
    assert_eq!(got, without_hint);
    got
}

#[test]
fn whole_files_go_up_and_down_against_the_dispatcher_over_memfs() {
    for (len, split) in [
        (0, 0),
        (1, 1),
        (4096, 0),
        (100_000, 0),
        (100_000, 7),
        (300_001, 4096),
    ] {
        let mut d = mem_driver(MemServer::new(server_config()), small_requests());
        d.split = split;
        let data = pattern(len);
        assert_eq!(
            round_trip(&mut d, b"/home/f", &data),
            data,
            "{len} bytes in pieces of {split}"
        );
        assert_eq!(d.proto.in_flight(), 0);
    }
}

/// A server whose replies of each exchange come in reverse order.
struct Reversing(MemServer);

impl Peer for Reversing {
    fn exchange(&mut self, from_client: &[u8]) -> Option<Vec<u8>> {
        let answer = self.0.exchange(from_client)?;
        let mut dec = FrameDecoder::with_max_len(1 << 20);
        dec.push(&answer).ok()?;
        let mut frames = Vec::new();
        while let Some(f) = dec.next_frame().ok()? {
            frames.push(f.bytes().to_vec());
        }
        let mut out = Vec::new();
        for f in frames.iter().rev() {
            out.extend_from_slice(&(f.len() as u32).to_be_bytes());
            out.extend_from_slice(f);
        }
        Some(out)
    }
}

#[test]
fn a_download_reassembles_replies_that_come_out_of_order() {
    let mut d = mem_driver(Reversing(MemServer::new(server_config())), small_requests());
    let data = pattern(200_000);
    assert_eq!(round_trip(&mut d, b"/home/r", &data), data);
}

#[test]
fn transfers_start_slow_and_double_each_round_trip() {
    let now = Instant::now();
    let mut p = ready(small_requests(), now);
    let job = p.download_start(now, b"h", 0, None);
    let mut windows = Vec::new();
    let mut offset_seen = 0u64;
    for _ in 0..5 {
        let reads = requests(&mut p);
        windows.push(reads.len());
        for (kind, id, bytes) in reads {
            assert_eq!(kind, PacketType::READ);
            let Ok(Request::Read(r)) = Request::decode_bytes(&bytes) else {
                panic!()
            };
            assert_eq!(r.offset, offset_seen);
            offset_seen += u64::from(r.len);
            let data = vec![1u8; r.len as usize];
            p.handle_input(now, &frame(&Data { id, data: &data }));
        }
        while let DownloadStep::Data(_) = p.download_next(now, job) {}
    }
    assert_eq!(windows, vec![1, 2, 4, 8, 8]);
    // A short reply asks for the rest of its range at once.
    for (_, id, bytes) in requests(&mut p) {
        let Ok(Request::Read(r)) = Request::decode_bytes(&bytes) else {
            panic!()
        };
        let data = vec![1u8; r.len as usize / 2];
        p.handle_input(now, &frame(&Data { id, data: &data }));
    }
    let again = requests(&mut p);
    assert!(again.len() >= 8, "{}", again.len());
}

/// A server that never answers WRITE or READ.
struct Mute(MemServer);

impl Peer for Mute {
    fn exchange(&mut self, from_client: &[u8]) -> Option<Vec<u8>> {
        let mut dec = FrameDecoder::with_max_len(1 << 20);
        dec.push(from_client).ok()?;
        while let Some(f) = dec.next_frame().ok()? {
            if matches!(f.packet_type(), PacketType::WRITE | PacketType::READ) {
                return Some(Vec::new());
            }
        }
        self.0.exchange(from_client)
    }
}

#[test]
fn transfers_fail_with_timeout_when_the_server_goes_quiet() {
    let config = ClientConfig {
        request_timeout: Some(Duration::from_secs(30)),
        ..small_requests()
    };
    let mut d = mem_driver(Mute(MemServer::new(server_config())), config);
    let start = d.now;
    let h = open_handle(&mut d, b"/home/a.txt", OpenFlags::READ);
    assert!(matches!(d.download(&h, None), Err(Error::Timeout(_))));
    let w = open_handle(&mut d, b"/home/w", OpenFlags::WRITE | OpenFlags::CREAT);
    assert!(matches!(
        d.upload(&w, &pattern(50_000)),
        Err(Error::Timeout(_))
    ));
    assert!(d.now >= start + Duration::from_secs(60));
    // The session goes on; nothing is left waiting.
    assert!(d.call(|id| Stat { id, path: b"/home" }).is_ok());
    assert_eq!(d.proto.in_flight(), 0);
}

#[test]
fn a_lost_stream_fails_requests_and_jobs() {
    let now = Instant::now();
    let mut p = ready(small_requests(), now);
    let id = p.request(now, |id| Stat { id, path: b"/" }).unwrap();
    let down = p.download_start(now, b"h", 0, None);
    let up = p.upload_start(b"h", 0);
    let UploadStep::Send(mut slot) = p.upload_next(up) else {
        panic!()
    };
    slot.buffer().extend_from_slice(&[1; 4096]);
    p.upload_send(now, slot).unwrap();
    let listing = p.list_start(now, b"d").unwrap();
    p.handle_error("reset by peer");
    let evs = events(&mut p);
    assert!(evs.iter().any(
        |e| matches!(e, Event::Reply { id: i, reply: Err(Error::ConnectionLost(_)) } if *i == id)
    ));
    assert!(matches!(
        p.download_next(now, down),
        DownloadStep::Done(Err(Error::ConnectionLost(_)))
    ));
    assert!(matches!(
        p.upload_next(up),
        UploadStep::Done(Err(Error::ConnectionLost(_)))
    ));
    assert!(matches!(
        p.list_result(listing),
        Some(Err(Error::ConnectionLost(_)))
    ));
    assert_eq!((p.in_flight(), p.poll_timeout()), (0, None));
    let _ = Handle { id: 0, handle: b"" };
}

#[test]
fn a_download_nobody_takes_stops_asking_after_a_window_of_data() {
    let now = Instant::now();
    let mut p = ready(small_requests(), now);
    let job = p.download_start(now, b"h", 0, None);
    let mut asked = 0;
    for _ in 0..40 {
        let reads = requests(&mut p);
        if reads.is_empty() {
            break;
        }
        for (_, id, bytes) in reads {
            asked += 1;
            let Ok(Request::Read(r)) = Request::decode_bytes(&bytes) else {
                panic!()
            };
            let data = vec![1u8; r.len as usize];
            p.handle_input(now, &frame(&Data { id, data: &data }));
        }
    }
    // No READ goes out while a window (8) of data waits untaken: what waits is at most that
    // window plus the READs already in flight (here 1 + 2 + 4 + 8 = 15 before the window filled).
    assert_eq!((asked, p.in_flight()), (15, 0));
    let mut taken = 0;
    while let DownloadStep::Data(_) = p.download_next(now, job) {
        taken += 1;
        if taken == 15 {
            break;
        }
    }
    assert_eq!(taken, 15);
    assert_eq!(
        requests(&mut p).len(),
        8,
        "taking the data lets the requests go on"
    );
}

/// The READs a transmit holds: (id, offset, length).
fn reads(p: &mut ClientProto) -> Vec<(u32, u64, u32)> {
    requests(p)
        .into_iter()
        .map(|(kind, id, bytes)| {
            assert_eq!(kind, PacketType::READ);
            let Ok(Request::Read(r)) = Request::decode_bytes(&bytes) else {
                panic!()
            };
            (id, r.offset, r.len)
        })
        .collect()
}

#[test]
fn a_file_of_known_size_is_read_and_its_end_asked_in_one_round_trip() {
    let now = Instant::now();
    let mut p = ready(small_requests(), now);
    let chunk = u32::try_from(small_requests().max_request_len).unwrap();
    // Smaller than one request: the READ stops at the size, the end is asked beside it.
    let job = p.download_start(now, b"h", 0, Some(1000));
    let first = reads(&mut p);
    assert_eq!(
        first.iter().map(|r| (r.1, r.2)).collect::<Vec<_>>(),
        vec![(0, 1000), (1000, chunk)]
    );
    p.handle_input(
        now,
        &frame(&Data {
            id: first[0].0,
            data: &pattern(1000),
        }),
    );
    let eof = Status::new(first[1].0, StatusCode::EOF, "");
    p.handle_input(now, &frame(&eof));
    assert!(reads(&mut p).is_empty(), "nothing more to ask");
    let DownloadStep::Data(d) = p.download_next(now, job) else {
        panic!()
    };
    assert_eq!(&d[..], &pattern(1000)[..]);
    assert!(matches!(
        p.download_next(now, job),
        DownloadStep::Done(Ok(1000))
    ));
    assert_eq!(p.bytes_in_flight(), 0);
    // A file that grew past the size it was listed with is read to its real end.
    let job = p.download_start(now, b"h", 0, Some(10));
    let first = reads(&mut p);
    assert_eq!(first.len(), 2);
    p.handle_input(
        now,
        &frame(&Data {
            id: first[0].0,
            data: &pattern(10),
        }),
    );
    p.handle_input(
        now,
        &frame(&Data {
            id: first[1].0,
            data: &pattern(5),
        }),
    );
    let more = reads(&mut p);
    assert_eq!(more.iter().map(|r| r.1).min(), Some(15), "{more:?}");
    for (id, _, _) in more {
        p.handle_input(now, &frame(&Status::new(id, StatusCode::EOF, "")));
    }
    let mut got = 0;
    loop {
        match p.download_next(now, job) {
            DownloadStep::Data(d) => got += d.len(),
            DownloadStep::Done(r) => {
                assert_eq!(r.unwrap(), 15);
                break;
            }
            DownloadStep::Pending => panic!("all answered"),
        }
    }
    assert_eq!(got, 15);
}

#[test]
fn transfers_together_stay_within_the_bytes_in_flight() {
    let now = Instant::now();
    let chunk = small_requests().max_request_len;
    let config = ClientConfig {
        initial_in_flight: 8,
        max_bytes_in_flight: 5 * chunk,
        ..small_requests()
    };
    let mut p = ready(config, now);
    let jobs: Vec<JobId> = (0..4)
        .map(|_| p.download_start(now, b"h", 0, None))
        .collect();
    let sent = reads(&mut p);
    // The first job takes five requests' worth; each other one still gets its one.
    assert_eq!(sent.len(), 5 + 3, "{sent:?}");
    assert!(p.bytes_in_flight() <= 8 * chunk);
    // Answers free room; what goes out never takes the total past the bound again.
    for (id, _, len) in sent {
        let data = vec![7u8; len as usize];
        p.handle_input(now, &frame(&Data { id, data: &data }));
        assert!(p.bytes_in_flight() <= 8 * chunk);
    }
    let again = reads(&mut p);
    assert!(!again.is_empty());
    assert!(p.bytes_in_flight() <= 5 * chunk + 3 * chunk);
    let uploads: Vec<JobId> = (0..2).map(|_| p.upload_start(b"u", 0)).collect();
    for job in uploads {
        // The bound is taken: an upload still gets its first WRITE, then waits.
        let UploadStep::Send(mut slot) = p.upload_next(job) else {
            panic!("the first WRITE of a job always goes")
        };
        let n = slot.max_len();
        slot.buffer().extend(vec![1u8; n]);
        p.upload_send(now, slot).unwrap();
        assert!(matches!(p.upload_next(job), UploadStep::Pending));
    }
    drop(jobs);
}

/// Lanes of a striped upload, driven together over one session: each writes only its own
/// blocks (what it sent says so), together they write the whole file, whatever the block,
/// the number of lanes and where the file ends.
#[test]
fn upload_lanes_write_their_own_blocks_and_together_the_file() {
    for (len, block, lanes) in [
        (0u64, 4096u64, 3u64),
        (1, 4096, 3),
        (4096, 4096, 2),
        (100_000, 10_000, 3),
        (100_001, 10_000, 4),
        (50_000, 3_000, 1),
        (30_000, 7_001, 8),
    ] {
        let mut d = mem_driver(MemServer::new(server_config()), small_requests());
        let data = pattern(len as usize);
        let write = OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC;
        let h = open_handle(&mut d, b"/home/striped", write);
        let jobs: Vec<JobId> = (0..lanes)
            .map(|index| {
                let lane = Lane {
                    block,
                    lanes,
                    index,
                    end: len,
                };
                d.proto.upload_lane(&h, lane)
            })
            .collect();
        let sent = d.upload_jobs(&jobs, &data).unwrap();
        let expected: Vec<u64> = (0..lanes)
            .map(|index| {
                (0..len.div_ceil(block))
                    .filter(|b| b % lanes == index)
                    .map(|b| (len - b * block).min(block))
                    .sum()
            })
            .collect();
        assert_eq!(
            sent, expected,
            "{len} bytes, blocks of {block}, {lanes} lanes"
        );
        let h = open_handle(&mut d, b"/home/striped", OpenFlags::READ);
        assert!(
            d.download(&h, None).unwrap() == data,
            "{len} bytes, blocks of {block}, {lanes} lanes"
        );
    }
}

/// A lane's WRITEs stay inside its blocks and never cross a block's end, and a lane whose
/// file is shorter than its first block sends nothing.
#[test]
fn a_lanes_writes_stay_inside_its_blocks() {
    let now = Instant::now();
    let mut p = ready(small_requests(), now);
    let lane = Lane {
        block: 6000,
        lanes: 3,
        index: 1,
        end: 40_000,
    };
    let job = p.upload_lane(b"h", lane);
    let mut slots = Vec::new();
    // Every WRITE is answered at once, so the lane never waits.
    let end = loop {
        match p.upload_next(job) {
            UploadStep::Send(mut slot) => {
                slots.push((slot.offset(), slot.max_len()));
                let n = slot.max_len();
                slot.buffer().extend_from_slice(&vec![7u8; n]);
                p.upload_send(now, slot).unwrap();
            }
            other => break other,
        }
        for (_, id, _) in requests(&mut p) {
            p.handle_input(now, &frame(&Status::new(id, StatusCode::OK, "")));
        }
    };
    // Blocks 1 (6000..12000) and 4 (24000..30000) in pieces of at most 4096; block 7 starts
    // past the end.
    assert_eq!(
        slots,
        [(6000, 4096), (10_096, 1904), (24_000, 4096), (28_096, 1904)]
    );
    assert!(matches!(end, UploadStep::Done(Ok(12_000))), "{end:?}");
    let past = Lane { index: 7, ..lane };
    let job = p.upload_lane(b"h", past);
    assert!(matches!(p.upload_next(job), UploadStep::Done(Ok(0))));
}
