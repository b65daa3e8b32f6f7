//! The acceptance table of the connection layer: all 256 message numbers, well-formed and bare,
//! through a [`ConnectionProtocol`] in every channel state, each either handled or refused (an
//! error the runtime turns into a DISCONNECT), never a panic. A refused message raises no event:
//! no channel appears, no data or request reaches the application.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Bytes;
use nacre_connection::{
    ChannelKind, ConnectionConfig, ConnectionError, ConnectionProtocol, Event, RequestKind,
};
use nacre_wire::{put, DisconnectReason};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    /// No channel.
    Fresh,
    /// We opened channel 0; no answer yet.
    Opening,
    /// The peer opened channel 0; the application has not answered.
    Offered,
    /// Channel 0 is open.
    Open,
    /// Open, and one of our want-reply requests is outstanding.
    RequestOut,
    /// Open, and the peer sent EOF.
    PeerEof,
    /// Open, and we sent CLOSE.
    CloseSent,
    /// One of our want-reply global requests is outstanding.
    GlobalOut,
}

const STATES: [St; 8] = [
    St::Fresh,
    St::Opening,
    St::Offered,
    St::Open,
    St::RequestOut,
    St::PeerEof,
    St::CloseSent,
    St::GlobalOut,
];

fn msg(n: u8, fields: impl FnOnce(&mut Vec<u8>)) -> Bytes {
    let mut m = vec![n];
    fields(&mut m);
    Bytes::from(m)
}

fn open_msg() -> Bytes {
    msg(90, |m| {
        put::string(m, b"session");
        put::uint32(m, 7);
        put::uint32(m, 1 << 20);
        put::uint32(m, 32 * 1024);
    })
}

fn confirmation() -> Bytes {
    msg(91, |m| {
        for v in [0u32, 7, 1 << 20, 32 * 1024] {
            put::uint32(m, v);
        }
    })
}

fn machine_in(state: St) -> ConnectionProtocol {
    let mut c = ConnectionProtocol::new(ConnectionConfig::default());
    match state {
        St::Fresh => {}
        St::GlobalOut => c.global_request("example@nacre", b"", true),
        St::Offered => c.handle_packet(&open_msg()).unwrap(),
        _ => {
            assert_eq!(c.open(ChannelKind::Session), Some(0));
            if state != St::Opening {
                c.handle_packet(&confirmation()).unwrap();
            }
            match state {
                St::RequestOut => assert!(c.request(0, &RequestKind::Shell, true)),
                St::PeerEof => c.handle_packet(&msg(96, |m| put::uint32(m, 0))).unwrap(),
                St::CloseSent => c.close(0),
                _ => {}
            }
        }
    }
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    c
}

/// A well-formed message `n` for channel 0.
fn payload(n: u8) -> Bytes {
    let ch0 = |m: &mut Vec<u8>| put::uint32(m, 0);
    match n {
        80 => msg(n, |m| {
            put::string(m, b"keepalive@openssh.com");
            put::boolean(m, true);
        }),
        81 | 82 => msg(n, |_| {}),
        90 => open_msg(),
        91 => confirmation(),
        92 => msg(n, |m| {
            put::uint32(m, 0);
            put::uint32(m, 2);
            put::string(m, b"no");
            put::string(m, b"");
        }),
        93 => msg(n, |m| {
            put::uint32(m, 0);
            put::uint32(m, 100);
        }),
        94 => msg(n, |m| {
            put::uint32(m, 0);
            put::string(m, b"abc");
        }),
        95 => msg(n, |m| {
            put::uint32(m, 0);
            put::uint32(m, 1);
            put::string(m, b"abc");
        }),
        96 | 97 | 99 | 100 => msg(n, ch0),
        98 => msg(n, |m| {
            put::uint32(m, 0);
            put::string(m, b"env");
            put::boolean(m, false);
            put::string(m, b"LANG");
            put::string(m, b"C");
        }),
        _ => msg(n, ch0),
    }
}

/// Whether a well-formed `n` is handled in `state`.
fn handles(state: St, n: u8) -> bool {
    use St::*;
    let open = matches!(state, Open | RequestOut | PeerEof | CloseSent);
    match n {
        // Global requests and new channels: always answered (unknown requests fail).
        80 | 90 => true,
        // Replies only to what we asked.
        81 | 82 => state == GlobalOut,
        91 | 92 => state == Opening,
        93 | 97 | 98 => open,
        // No data or second EOF after the peer's EOF.
        94..=96 => open && state != PeerEof,
        99 | 100 => state == RequestOut,
        // Not a connection-layer message: 0-79 belong to lower layers, 83-89 and 101-255 are
        // unassigned here.
        _ => false,
    }
}

#[test]
fn all_256_numbers_in_every_channel_state() {
    for state in STATES {
        for n in 0..=255u8 {
            for well_formed in [true, false] {
                let p = if well_formed {
                    payload(n)
                } else {
                    Bytes::from(vec![n])
                };
                // A bare 81/82 is the whole message.
                let well_formed = well_formed || matches!(n, 81 | 82);
                let at = format!("{state:?}, msg {n}, well-formed {well_formed}");
                let mut c = machine_in(state);
                let before = c.channel_count();
                let result = c.handle_packet(&p);
                let handled = well_formed && handles(state, n);
                let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
                match &result {
                    Ok(()) => assert!(handled, "{at}: accepted, events {events:?}"),
                    Err(e) => {
                        assert!(!handled, "{at}: refused with {e}");
                        assert_eq!(e.reason(), DisconnectReason::PROTOCOL_ERROR, "{at}");
                        assert!(events.is_empty(), "{at}: {events:?}");
                        assert!(c.channel_count() <= before, "{at}: no channel appears");
                    }
                }
                if !(80..=100).contains(&n) {
                    assert_eq!(
                        result,
                        Err(ConnectionError::NotConnectionMessage(n)),
                        "{at}"
                    );
                }
                // Data that arrives after we closed is dropped, never handed up.
                if state == St::CloseSent && matches!(n, 94 | 95) {
                    assert!(events.is_empty(), "{at}: {events:?}");
                }
            }
        }
    }
}
