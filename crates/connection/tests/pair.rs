//! Two connection protocol machines wired together in memory.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Bytes;
use nacre_connection::msg::channel::ChannelOpenFailure;
use nacre_connection::{
    ChannelKind, ConnectionConfig, ConnectionError, ConnectionProtocol, Event, RequestKind,
};
use nacre_wire::{decode_exact, put, ChannelOpenFailureReason, MsgNumber};

struct Pair {
    a: ConnectionProtocol,
    b: ConnectionProtocol,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    fn new(config: ConnectionConfig) -> Self {
        Pair {
            a: ConnectionProtocol::new(config.clone()),
            b: ConnectionProtocol::new(config),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// Moves packets until both are quiet. `b_auto` answers b's questions (accept opens, succeed requests).
    fn drive(&mut self, b_auto: bool) -> Result<(), ConnectionError> {
        loop {
            let mut progress = false;
            while let Some(p) = self.a.poll_transmit() {
                self.b.handle_packet(&Bytes::from(p))?;
                progress = true;
            }
            while let Some(p) = self.b.poll_transmit() {
                self.a.handle_packet(&Bytes::from(p))?;
                progress = true;
            }
            while let Some(ev) = self.b.poll_event() {
                if b_auto {
                    match &ev {
                        Event::OpenRequest { id, .. } => self.b.accept_open(*id),
                        Event::Request {
                            id,
                            want_reply: true,
                            token,
                            ..
                        } => self.b.reply_request(*id, *token, true),
                        _ => {}
                    }
                }
                self.b_events.push(ev);
                progress = true;
            }
            while let Some(ev) = self.a.poll_event() {
                self.a_events.push(ev);
                progress = true;
            }
            if !progress {
                return Ok(());
            }
        }
    }

    fn open_session(&mut self) -> u32 {
        let id = self.a.open(ChannelKind::Session).unwrap();
        self.drive(true).unwrap();
        assert!(self.a_events.contains(&Event::Opened { id }));
        id
    }
}

fn data_of(events: &[Event], id: u32) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Data {
                id: i,
                code: None,
                data,
            } if *i == id => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn session_exec_data_eof_close() {
    let mut p = Pair::new(ConnectionConfig::default());
    let id = p.open_session();
    assert!(p.a.request(
        id,
        &RequestKind::Exec {
            command: b"echo hi".to_vec()
        },
        true
    ));
    p.drive(true).unwrap();
    assert!(p.b_events.iter().any(|e| matches!(e, Event::Request { request: RequestKind::Exec { command }, .. } if command == b"echo hi")));
    assert!(p.a_events.contains(&Event::RequestReply { id, ok: true }));
    let b_id = match p.b_events[0] {
        Event::OpenRequest { id, .. } => id,
        _ => panic!(),
    };
    assert_eq!(p.a.send_data(id, None, b"stdin"), 5);
    p.drive(true).unwrap();
    assert_eq!(p.b.send_data(b_id, Some(1), b"stderr"), 6);
    assert_eq!(p.b.send_data(b_id, None, b"stdout"), 6);
    p.b.request(b_id, &RequestKind::ExitStatus { code: 42 }, false);
    p.b.eof(b_id);
    p.b.close(b_id);
    p.drive(true).unwrap();
    assert_eq!(data_of(&p.b_events, b_id), b"stdin");
    assert_eq!(data_of(&p.a_events, id), b"stdout");
    assert!(p
        .a_events
        .iter()
        .any(|e| matches!(e, Event::Data { code: Some(1), data, .. } if &data[..] == b"stderr")));
    assert!(p.a_events.iter().any(|e| matches!(
        e,
        Event::Request {
            request: RequestKind::ExitStatus { code: 42 },
            ..
        }
    )));
    assert!(p.a_events.contains(&Event::Eof { id }));
    assert!(p.a_events.contains(&Event::Closed { id }));
    assert!(p.b_events.contains(&Event::Closed { id: b_id }));
    assert_eq!((p.a.channel_count(), p.b.channel_count()), (0, 0));
}

#[test]
fn window_exhaustion_and_adjustment() {
    let cfg = ConnectionConfig {
        window_size: 64 * 1024,
        max_packet: 16 * 1024,
        ..ConnectionConfig::default()
    };
    let mut p = Pair::new(cfg);
    let id = p.open_session();
    let total: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    // Without consumption exactly one window goes through, in packets of at most 16 KiB.
    let first = p.a.send_data(id, None, &total);
    assert_eq!(first, 64 * 1024);
    assert_eq!(
        p.a.send_data(id, None, &total[first..]),
        0,
        "window exhausted"
    );
    p.drive(true).unwrap();
    assert!(p
        .b_events
        .iter()
        .all(|e| !matches!(e, Event::Data { data, .. } if data.len() > 16 * 1024)));
    let mut sent = first;
    let mut received = Vec::new();
    let mut adjusts = 0;
    while received.len() < total.len() {
        for e in std::mem::take(&mut p.b_events) {
            if let Event::Data { id: bid, data, .. } = e {
                received.extend_from_slice(&data);
                p.b.consume(bid, data.len());
            }
        }
        p.drive(true).unwrap();
        adjusts += p
            .a_events
            .iter()
            .filter(|e| matches!(e, Event::WindowAvailable { .. }))
            .count();
        p.a_events.clear();
        sent += p.a.send_data(id, None, &total[sent..]);
        p.drive(true).unwrap();
    }
    assert_eq!(received, total);
    assert!(
        adjusts >= 16,
        "{adjusts} window adjustments for 1 MiB through a 64 KiB window"
    );
}

#[test]
fn slow_consumer_does_not_block_another_channel() {
    let cfg = ConnectionConfig {
        window_size: 256 * 1024,
        ..ConnectionConfig::default()
    };
    let mut p = Pair::new(cfg);
    let slow = p.open_session();
    let fast = p.open_session();
    let chunk = vec![7u8; 64 * 1024];
    // The slow channel fills its window and stops.
    while p.a.send_data(slow, None, &chunk) > 0 {}
    p.drive(true).unwrap();
    // The fast channel moves 256 MiB while the slow one is never consumed.
    let mut moved = 0usize;
    while moved < 256 * 1024 * 1024 {
        let n = p.a.send_data(fast, None, &chunk);
        moved += n;
        p.drive(true).unwrap();
        let got: usize = p
            .b_events
            .iter()
            .filter_map(|e| {
                if let Event::Data { id: 1, data, .. } = e {
                    Some(data.len())
                } else {
                    None
                }
            })
            .sum();
        p.b.consume(1, got);
        p.b_events
            .retain(|e| !matches!(e, Event::Data { id: 1, .. }));
        assert!(n > 0 || got > 0, "fast channel stalled");
    }
    assert_eq!(p.a.send_capacity(slow), 0);
}

fn raw(msg: MsgNumber, fields: &[u32]) -> Bytes {
    let mut out = vec![msg.0];
    for f in fields {
        put::uint32(&mut out, *f);
    }
    Bytes::from(out)
}

#[test]
fn window_adjust_overflow_is_fatal() {
    let mut p = Pair::new(ConnectionConfig::default());
    let id = p.open_session();
    let err =
        p.a.handle_packet(&raw(MsgNumber::CHANNEL_WINDOW_ADJUST, &[id, u32::MAX]))
            .unwrap_err();
    assert_eq!(err, ConnectionError::WindowOverflow(id));
}

#[test]
fn data_beyond_the_window_or_packet_size_is_fatal() {
    let cfg = ConnectionConfig {
        window_size: 1000,
        max_packet: 500,
        ..ConnectionConfig::default()
    };
    let mut p = Pair::new(cfg);
    let id = p.open_session();
    let data = |n: usize| {
        let mut out = vec![MsgNumber::CHANNEL_DATA.0];
        put::uint32(&mut out, id);
        put::string(&mut out, &vec![0; n]);
        Bytes::from(out)
    };
    assert!(matches!(
        p.a.handle_packet(&data(501)),
        Err(ConnectionError::PacketTooLarge { .. })
    ));
    p.a.handle_packet(&data(500)).unwrap();
    p.a.handle_packet(&data(500)).unwrap();
    assert!(matches!(
        p.a.handle_packet(&data(1)),
        Err(ConnectionError::WindowExceeded { .. })
    ));
}

/// libssh 2026 class: data for a closed channel never reaches the application and is an error once
/// the number is gone.
#[test]
fn data_after_close_and_for_unknown_channels() {
    let mut p = Pair::new(ConnectionConfig::default());
    let id = p.open_session();
    p.a.close(id);
    // Data that was in flight before the peer saw our CLOSE is dropped silently.
    let mut d = vec![MsgNumber::CHANNEL_DATA.0];
    put::uint32(&mut d, id);
    put::string(&mut d, b"late");
    p.a.handle_packet(&Bytes::from(d.clone())).unwrap();
    assert!(
        p.a.poll_event().is_none(),
        "late data must not reach the application"
    );
    p.drive(true).unwrap();
    assert!(p.a_events.contains(&Event::Closed { id }));
    assert!(matches!(
        p.a.handle_packet(&Bytes::from(d)),
        Err(ConnectionError::UnknownChannel { .. })
    ));
    assert!(matches!(
        p.a.handle_packet(&raw(MsgNumber::CHANNEL_EOF, &[77])),
        Err(ConnectionError::UnknownChannel { .. })
    ));
}

/// A CHANNEL_OPEN with a maximum packet of 0 gets CHANNEL_OPEN_FAILURE (the connection goes on,
/// the channel never exists, so it never carries data); a CHANNEL_OPEN_CONFIRMATION with 0 for
/// our own open is still fatal (docs/TOLERANCE.md).
#[test]
fn zero_max_packet_is_refused() {
    let mut c = ConnectionProtocol::new(ConnectionConfig::default());
    let mut open = vec![MsgNumber::CHANNEL_OPEN.0];
    put::string(&mut open, b"session");
    for v in [7u32, 1 << 20, 0] {
        put::uint32(&mut open, v);
    }
    assert_eq!(c.handle_packet(&Bytes::from(open)), Ok(()));
    assert!(c.poll_event().is_none(), "the application is not asked");
    let reply = c.poll_transmit().unwrap();
    let f: ChannelOpenFailure<'_> = decode_exact(&reply).unwrap();
    assert_eq!(f.recipient, 7);
    assert_eq!(
        f.reason,
        ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED
    );
    assert_eq!(&*f.description, "maximum packet size of 0");
    assert!(c.poll_transmit().is_none());
    // No channel came of it: data for it is for an unknown channel.
    assert!(matches!(
        c.handle_packet(&raw(MsgNumber::CHANNEL_EOF, &[0])),
        Err(ConnectionError::UnknownChannel { .. })
    ));
    let mut p = Pair::new(ConnectionConfig::default());
    let id = p.a.open(ChannelKind::Session).unwrap();
    assert_eq!(
        p.a.handle_packet(&raw(
            MsgNumber::CHANNEL_OPEN_CONFIRMATION,
            &[id, 5, 1 << 20, 0]
        )),
        Err(ConnectionError::ZeroMaxPacket)
    );
}

#[test]
fn channel_limit_gives_resource_shortage() {
    let cfg = ConnectionConfig {
        max_channels: 2,
        ..ConnectionConfig::default()
    };
    let mut a = ConnectionProtocol::new(ConnectionConfig::default());
    let mut b = ConnectionProtocol::new(cfg);
    for _ in 0..3 {
        a.open(ChannelKind::Session).unwrap();
    }
    while let Some(p) = a.poll_transmit() {
        b.handle_packet(&Bytes::from(p)).unwrap();
    }
    while let Some(p) = b.poll_transmit() {
        a.handle_packet(&Bytes::from(p)).unwrap();
    }
    let failed: Vec<_> = std::iter::from_fn(|| a.poll_event())
        .filter(|e| matches!(e, Event::OpenFailed { reason, .. } if *reason == ChannelOpenFailureReason::RESOURCE_SHORTAGE))
        .collect();
    assert_eq!(failed.len(), 1);
}

#[test]
fn request_replies_go_out_in_order() {
    let mut p = Pair::new(ConnectionConfig::default());
    let id = p.open_session();
    p.a.request(
        id,
        &RequestKind::Env {
            name: "A".into(),
            value: "1".into(),
        },
        true,
    );
    p.a.request(id, &RequestKind::Shell, true);
    p.drive(false).unwrap();
    let tokens: Vec<(u32, nacre_connection::ReplyToken)> = p
        .b_events
        .iter()
        .filter_map(|e| {
            if let Event::Request { id, token, .. } = e {
                Some((*id, *token))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    // Answer the second first: nothing goes out until the first is answered.
    p.b.reply_request(tokens[1].0, tokens[1].1, true);
    assert!(p.b.poll_transmit().is_none());
    p.b.reply_request(tokens[0].0, tokens[0].1, false);
    p.drive(false).unwrap();
    let replies: Vec<_> = p
        .a_events
        .iter()
        .filter(|e| matches!(e, Event::RequestReply { .. }))
        .cloned()
        .collect();
    assert_eq!(
        replies,
        vec![
            Event::RequestReply { id, ok: false },
            Event::RequestReply { id, ok: true }
        ]
    );
}

#[test]
fn unknown_and_keepalive_global_requests_fail() {
    let mut p = Pair::new(ConnectionConfig::default());
    p.a.global_request("keepalive@openssh.com", &[], true);
    p.a.global_request("no-such-thing@example.com", &[], true);
    p.a.global_request(
        "tcpip-forward",
        &nacre_connection::msg::global::TcpipForward {
            address: "127.0.0.1",
            port: 0,
        }
        .to_data(),
        true,
    );
    p.drive(false).unwrap();
    let token = p
        .b_events
        .iter()
        .find_map(|e| {
            if let Event::GlobalRequest { token, name, .. } = e {
                (name == "tcpip-forward").then_some(*token)
            } else {
                None
            }
        })
        .unwrap();
    p.b.reply_global(token, true, &[0, 0, 0x1f, 0x90]);
    p.drive(false).unwrap();
    let replies: Vec<_> = p
        .a_events
        .iter()
        .filter(|e| matches!(e, Event::GlobalReply { .. }))
        .cloned()
        .collect();
    assert_eq!(
        replies,
        vec![
            Event::GlobalReply {
                ok: false,
                data: vec![]
            },
            Event::GlobalReply {
                ok: false,
                data: vec![]
            },
            Event::GlobalReply {
                ok: true,
                data: vec![0, 0, 0x1f, 0x90]
            },
        ]
    );
}

#[test]
fn replies_nobody_asked_for_are_fatal() {
    let mut c = ConnectionProtocol::new(ConnectionConfig::default());
    assert!(matches!(
        c.handle_packet(&raw(MsgNumber::REQUEST_SUCCESS, &[])),
        Err(ConnectionError::UnexpectedReply { .. })
    ));
    let mut p = Pair::new(ConnectionConfig::default());
    let id = p.open_session();
    assert!(matches!(
        p.a.handle_packet(&raw(MsgNumber::CHANNEL_SUCCESS, &[id])),
        Err(ConnectionError::UnexpectedReply { .. })
    ));
}

mod liveness {
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use nacre_connection::{
        ConnectionConfig, ConnectionError, ConnectionProtocol, Event, LivenessConfig,
    };

    fn keepalive(interval: u64, max: u32) -> ConnectionProtocol {
        let mut c = ConnectionProtocol::new(ConnectionConfig::default());
        c.set_liveness(LivenessConfig {
            keepalive_interval: Some(Duration::from_secs(interval)),
            keepalive_max: max,
            unused_timeout: None,
        });
        c
    }

    #[test]
    fn unanswered_keepalives_end_the_connection_on_the_simulated_clock() {
        let mut c = keepalive(15, 3);
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(15)));
        let mut probes = 0;
        let mut t = t0;
        let err = loop {
            t += Duration::from_secs(15);
            match c.handle_timeout(t) {
                Ok(()) => {}
                Err(e) => break e,
            }
            while let Some(p) = c.poll_transmit() {
                assert_eq!(p[0], 80);
                assert!(p.windows(21).any(|w| w == b"keepalive@openssh.com"));
                probes += 1;
            }
        };
        assert_eq!(probes, 3);
        assert_eq!(err, ConnectionError::KeepaliveTimeout(3));
        assert_eq!(t - t0, Duration::from_secs(60));
    }

    #[test]
    fn answered_keepalives_keep_it_alive_and_stay_internal() {
        let mut c = keepalive(10, 1);
        let mut t = Instant::now();
        c.handle_timeout(t).unwrap();
        for _ in 0..20 {
            t += Duration::from_secs(10);
            c.handle_timeout(t).unwrap();
            if let Some(p) = c.poll_transmit() {
                assert_eq!(p[0], 80);
                // The peer answers (failure, as OpenSSH does): activity resets the count.
                c.handle_packet(&Bytes::from_static(&[82])).unwrap();
            }
        }
        assert!(
            c.poll_event().is_none(),
            "keepalive replies never reach the application"
        );
    }

    #[test]
    fn unused_connection_timeout() {
        let mut c = ConnectionProtocol::new(ConnectionConfig::default());
        c.set_liveness(LivenessConfig {
            unused_timeout: Some(Duration::from_secs(30)),
            ..LivenessConfig::default()
        });
        let t0 = Instant::now();
        c.handle_timeout(t0).unwrap();
        c.handle_timeout(t0 + Duration::from_secs(29)).unwrap();
        assert_eq!(
            c.handle_timeout(t0 + Duration::from_secs(30)),
            Err(ConnectionError::Inactive)
        );
        // With a channel open, the clock does not run.
        let mut c = ConnectionProtocol::new(ConnectionConfig::default());
        c.set_liveness(LivenessConfig {
            unused_timeout: Some(Duration::from_secs(30)),
            ..LivenessConfig::default()
        });
        c.open(nacre_connection::ChannelKind::Session).unwrap();
        c.handle_timeout(t0).unwrap();
        c.handle_timeout(t0 + Duration::from_secs(3600)).unwrap();
        let _ = Event::Eof { id: 0 };
    }
}

#[test]
fn send_data_bytes_frames_views_of_the_data_as_send_data_frames_copies() {
    let config = ConnectionConfig {
        max_packet: 1000,
        ..ConnectionConfig::default()
    };
    let mut copied = Pair::new(config.clone());
    let mut viewed = Pair::new(config);
    let data: Vec<u8> = (0..2500u32).map(|i| (i * 7) as u8).collect();
    let shared = Bytes::from(data.clone());
    let (c, v) = (copied.open_session(), viewed.open_session());
    assert_eq!(copied.a.send_data(c, Some(1), &data), 2500);
    assert_eq!(viewed.a.send_data_bytes(v, Some(1), shared.clone()), 2500);
    let mut whole = Vec::new();
    while let Some(p) = copied.a.poll_transmit() {
        whole.push(p);
    }
    let mut parts = Vec::new();
    while let Some(p) = viewed.a.poll_transmit_parts() {
        parts.push(p);
    }
    // Same payloads, split at the peer's maximum packet size (1000 bytes of data each) ...
    assert_eq!(parts.len(), 3);
    assert_eq!(whole.len(), 3);
    for (w, p) in whole.iter().zip(&parts) {
        assert_eq!(w, &p.clone().into_vec());
        assert_eq!(p.head[0], MsgNumber::CHANNEL_EXTENDED_DATA.0);
        assert_eq!(p.head.len(), 13, "header only");
        // ... whose data are views of the application's buffer, not copies.
        let range = shared.as_ptr() as usize..shared.as_ptr() as usize + shared.len();
        assert!(range.contains(&(p.body.as_ptr() as usize)));
    }
    // The peer decodes them into the same bytes.
    for p in parts {
        viewed.b.handle_packet(&Bytes::from(p.into_vec())).unwrap();
    }
    while let Some(ev) = viewed.b.poll_event() {
        viewed.b_events.push(ev);
    }
    let b_id = match viewed.b_events[0] {
        Event::OpenRequest { id, .. } => id,
        _ => panic!(),
    };
    let got: Vec<u8> = viewed
        .b_events
        .iter()
        .filter_map(|e| match e {
            Event::Data {
                id,
                code: Some(1),
                data,
            } if *id == b_id => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(got, data);
}

/// After `no-more-sessions@openssh.com` a session open is fatal (sshd disconnects: "Possible
/// attack: attempt to open a session after additional sessions disabled"); other channel types
/// still open, and before the request sessions open as usual.
#[test]
fn no_more_sessions_then_a_session_open_is_fatal() {
    let mut p = Pair::new(ConnectionConfig::default());
    p.a.open(ChannelKind::Session).unwrap();
    p.drive(true).unwrap();
    p.a.global_request("no-more-sessions@openssh.com", &[], false);
    p.drive(true).unwrap();
    p.a.open(ChannelKind::DirectTcpip {
        host: "localhost".into(),
        port: 22,
        originator: "127.0.0.1".into(),
        originator_port: 1,
    })
    .unwrap();
    p.drive(true).unwrap();
    assert_eq!(p.b.channel_count(), 2);
    p.a.open(ChannelKind::Session).unwrap();
    let err = p.drive(true).unwrap_err();
    assert_eq!(err, ConnectionError::NoMoreSessions);
    assert_eq!(err.reason(), nacre_wire::DisconnectReason::PROTOCOL_ERROR);
}

/// `eow@openssh.com` is a request kind of its own, with no data, and round-trips.
#[test]
fn eow_is_parsed_and_encoded() {
    let kind = RequestKind::parse("eow@openssh.com", &[]).unwrap();
    assert_eq!(kind, RequestKind::Eow);
    assert_eq!(kind.name(), "eow@openssh.com");
    assert!(kind.to_data().is_empty());
    assert!(RequestKind::parse("eow@openssh.com", &[0]).is_err());
}

/// The window b grants a for channel `id` (a's view: what a may still send).
fn remote_window(p: &Pair, id: u32) -> u32 {
    p.a.channels()
        .into_iter()
        .find(|c| c.id == id)
        .map(|c| c.windows.1)
        .unwrap()
}

/// Sends `n` bytes from a to b on `id` (b consuming all), as far as the window lets.
fn pump(p: &mut Pair, id: u32, n: usize) -> usize {
    let data = vec![5u8; n];
    let sent = p.a.send_data(id, None, &data);
    p.drive(true).unwrap();
    for e in std::mem::take(&mut p.b_events) {
        if let Event::Data { id: bid, data, .. } = e {
            p.b.consume(bid, data.len());
        }
    }
    p.drive(true).unwrap();
    sent
}

#[test]
fn windows_widen_for_channels_in_bulk_within_their_bounds() {
    const K: u32 = 1024;
    let cfg = ConnectionConfig {
        window_size: 64 * K,
        max_packet: 16 * K,
        max_window_size: 1024 * K,
        max_window_total: u64::from(3 * 64 * K + 960 * K + 200 * K),
        ..ConnectionConfig::default()
    };
    let mut p = Pair::new(cfg);
    let (bulk, idle, other) = (p.open_session(), p.open_session(), p.open_session());
    assert_eq!(remote_window(&p, bulk), 64 * K);
    // `bulk` and `other` carry half a window or more; `idle` a few bytes.
    let traffic = |p: &mut Pair| {
        assert!(pump(p, bulk, 64 * 1024) >= 32 * 1024);
        pump(p, idle, 100);
        assert!(pump(p, other, 40 * 1024) >= 32 * 1024);
    };
    traffic(&mut p);
    // A target narrower than the windows changes nothing.
    assert_eq!(p.b.widen_windows(32 * 1024, u64::MAX), 0);
    traffic(&mut p);
    let before: Vec<u32> = [bulk, idle, other].map(|c| remote_window(&p, c)).to_vec();
    // 4 MiB asked: 1 MiB at most per channel, and the total bound shares the rest.
    assert_eq!(
        p.b.widen_windows(4 * 1024 * 1024, u64::MAX),
        u64::from(960 * K + 200 * K)
    );
    assert_eq!(p.b.widened_bytes(), u64::from(960 * K + 200 * K));
    p.drive(true).unwrap();
    let after: Vec<u32> = [bulk, idle, other].map(|c| remote_window(&p, c)).to_vec();
    let grown: Vec<u32> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(grown[1], 0, "an idle channel keeps its window");
    assert_eq!(grown[0] + grown[2], 960 * K + 200 * K, "{grown:?}");
    assert!(grown.iter().all(|g| *g <= 960 * K), "{grown:?}");
    let total: u64 = p.b.channels().iter().map(|c| u64::from(c.windows.0)).sum();
    assert!(total <= u64::from(3 * 64 * K + 1160 * K), "{total}");
    // Nothing left to give: the bound holds on the next call.
    traffic(&mut p);
    assert_eq!(p.b.widen_windows(4 * 1024 * 1024, u64::MAX), 0);
    // The wider window is usable at once: more than the old 64 KiB goes in one send.
    let widest = if grown[0] > grown[2] { bulk } else { other };
    assert!(pump(&mut p, widest, 1024 * 1024) > 512 * 1024);
}

#[test]
fn widening_stays_within_the_budget_given() {
    const K: u32 = 1024;
    let cfg = ConnectionConfig {
        window_size: 64 * K,
        max_packet: 16 * K,
        ..ConnectionConfig::default()
    };
    let mut p = Pair::new(cfg);
    let id = p.open_session();
    assert!(pump(&mut p, id, 64 * 1024) >= 32 * 1024);
    assert_eq!(p.b.widen_windows(8 << 20, 100 * 1024), 100 * 1024);
    p.drive(true).unwrap();
    let n = pump(&mut p, id, 1024 * 1024);
    assert!(n >= 100 * 1024, "{n}");
    assert_eq!(p.b.widen_windows(8 << 20, 0), 0, "no budget: no widening");
    assert_eq!(p.b.widened_bytes(), 100 * 1024);
    // A closed channel gives its widening back.
    p.a.close(id);
    p.drive(true).unwrap();
    assert_eq!(p.b.widened_bytes(), 0);
}
