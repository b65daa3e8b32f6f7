//! Regression tests for bugs the fuzz targets found (docs/FUZZING.md), one per bug, named after it.
//! The inputs that found them are replayed too, from `fuzz/regressions/<target>/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use nacre_connection::msg::channel::{ChannelOpenConfirmation, ChannelRequest};
use nacre_connection::{ChannelKind, ConnectionConfig, ConnectionProtocol, Event};
use nacre_wire::Encode;

/// A client machine with session channel 0 open (the peer's number 5).
fn open_session() -> ConnectionProtocol {
    let mut m = ConnectionProtocol::new(ConnectionConfig::default());
    let id = m.open(ChannelKind::Session).unwrap();
    assert_eq!(id, 0);
    assert!(m.poll_transmit().is_some(), "CHANNEL_OPEN");
    let confirm = ChannelOpenConfirmation {
        recipient: 0,
        sender: 5,
        initial_window: 1024,
        max_packet: 512,
        data: &[],
    };
    m.handle_packet(&Bytes::from(confirm.to_bytes())).unwrap();
    assert_eq!(m.poll_event(), Some(Event::Opened { id: 0 }));
    m
}

fn request(name: &str) -> Bytes {
    Bytes::from(
        ChannelRequest {
            recipient: 0,
            request_type: name,
            want_reply: true,
            data: &[],
        }
        .to_bytes(),
    )
}

/// fuzz target `connection_machine`: an answer to the peer's want-reply channel request went out
/// after our CHANNEL_CLOSE (the application answered after closing, or the peer's keepalive
/// crossed our CLOSE), which RFC 4254 §5.3 forbids. `reply_request` now sends nothing once CLOSE
/// was sent.
#[test]
fn channel_request_reply_after_close() {
    // The application closes, then answers.
    let mut m = open_session();
    m.handle_packet(&request("shell")).unwrap();
    let Some(Event::Request { token, .. }) = m.poll_event() else {
        panic!("request event");
    };
    m.close(0);
    assert_eq!(m.poll_transmit().unwrap()[0], 97, "CHANNEL_CLOSE");
    m.reply_request(0, token, true);
    assert_eq!(m.poll_transmit(), None, "nothing after CLOSE");

    // The peer's keepalive arrives after our CLOSE: answered by nobody.
    let mut m = open_session();
    m.close(0);
    assert_eq!(m.poll_transmit().unwrap()[0], 97, "CHANNEL_CLOSE");
    m.handle_packet(&request("keepalive@openssh.com")).unwrap();
    assert_eq!(m.poll_transmit(), None, "nothing after CLOSE");
}
