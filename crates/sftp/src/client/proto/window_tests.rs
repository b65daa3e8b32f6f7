//! The window against a simulated path: a delay each way and a bottleneck rate, on a simulated
//! clock. The window grows past the configured count to cover the path, and no further than a
//! few times what it holds.
#![allow(clippy::panic, clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nacre_sftp_codec::{encode_frame, Data, FrameDecoder, PacketType, Request};

use super::*;

/// Runs a download of `replies` READs over a path of `one_way` delay and `bytes_per_ms` rate;
/// returns the window and the measured path after it.
fn download_over_path(
    chunk: usize,
    one_way: Duration,
    bytes_per_ms: u64,
    replies: usize,
) -> (usize, u64) {
    let t0 = Instant::now();
    let config = ClientConfig {
        max_request_len: chunk,
        max_in_flight: 8,
        initial_in_flight: 1,
        ..ClientConfig::default()
    };
    let mut p = ClientProto::new(config);
    let mut init = Vec::new();
    p.poll_transmit(&mut init);
    let mut version = Vec::new();
    encode_frame(
        &nacre_sftp_codec::Version {
            version: 3,
            extensions: nacre_sftp_codec::Seq::new(),
        },
        &mut version,
    );
    p.handle_input(t0, &version);
    while p.poll_event().is_some() {}
    let job = p.download_start(t0, b"h", 0, None);
    // Frames the client receives, by arrival time (and a sequence number for ties).
    let mut arrivals: BTreeMap<(Instant, u64), Vec<u8>> = BTreeMap::new();
    let mut link_free = t0;
    let mut seq = 0u64;
    let mut now = t0;
    let mut answered = 0;
    let mut window = (0, 0);
    while answered < replies {
        // What the client sent reaches the server after `one_way`; the replies leave one after
        // another at the bottleneck rate and arrive `one_way` later.
        let mut out = Vec::new();
        p.poll_transmit(&mut out);
        let mut dec = FrameDecoder::with_max_len(1 << 20);
        dec.push(&out).unwrap();
        while let Some(f) = dec.next_frame().unwrap() {
            assert_eq!(f.packet_type(), PacketType::READ);
            let Ok(Request::Read(r)) = Request::decode_bytes(f.bytes()) else {
                panic!()
            };
            let at_server = now + one_way;
            let wire = Duration::from_micros(u64::from(r.len) * 1000 / bytes_per_ms);
            link_free = link_free.max(at_server) + wire;
            let mut reply = Vec::new();
            let data = vec![3u8; r.len as usize];
            encode_frame(
                &Data {
                    id: r.id,
                    data: &data,
                },
                &mut reply,
            );
            seq += 1;
            arrivals.insert((link_free + one_way, seq), reply);
        }
        let Some(((at, _), reply)) = arrivals.pop_first() else {
            panic!("nothing in flight");
        };
        now = at;
        p.handle_input(now, &reply);
        answered += 1;
        while let DownloadStep::Data(_) = p.download_next(now, job) {}
        window = p.transfer_window(job).unwrap();
    }
    window
}

#[test]
fn the_window_grows_to_cover_a_long_fast_path_and_no_further() {
    // 25 ms each way, 4 000 bytes per ms (32 Mbit/s): the path holds 50 ms × 4 000 = 200 000
    // bytes, 48.8 requests of 4 KiB; the configured maximum is 8.
    let (size, path) = download_over_path(4096, Duration::from_millis(25), 4000, 6000);
    assert!(
        (150_000..=260_000).contains(&path),
        "measured path {path} bytes, 200 000 expected"
    );
    let requests = 200_000 / 4096;
    assert!(
        (requests..=3 * requests).contains(&size),
        "window {size} requests for a path of {requests}"
    );
}

#[test]
fn a_short_path_keeps_the_configured_window() {
    // 0.1 ms each way at the same rate: 800 bytes in flight cover it; the window stays at 8.
    let (size, path) = download_over_path(4096, Duration::from_micros(100), 4000, 2000);
    assert!(path < 8 * 4096, "measured path {path}");
    assert_eq!(size, 8);
}
