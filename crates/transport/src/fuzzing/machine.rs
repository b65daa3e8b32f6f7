//! The transport client and server fed arbitrary bytes after the peer's identification line.

use std::time::Duration;

use nacre_crypto::SeededRng;

use super::{base_time, client_config, server_config, NoopKeys};
use crate::machine::{Event, Transport};

/// The identification line the fuzzed server receives before the fuzz input.
pub const CLIENT_BANNER: &[u8] = b"SSH-2.0-nacre_fuzz_client\r\n";
/// The identification line the fuzzed client receives before the fuzz input.
pub const SERVER_BANNER: &[u8] = b"SSH-2.0-nacre_fuzz_server\r\n";
/// Seed of the fuzzed server's randomness (a seed corpus recorded with it replays exactly).
pub const SERVER_SEED: u64 = 0x5e4e_0001;
/// Seed of the fuzzed client's randomness.
pub const CLIENT_SEED: u64 = 0xc11e_0001;

/// Flags (the first input byte) of [`transport_server`] and [`transport_client`].
mod flag {
    /// Mark the connection authenticated from the start (re-exchanges may start).
    pub const AUTHENTICATED: u8 = 1;
    /// After the input: ask for a re-exchange.
    pub const REKEY: u8 = 2;
    /// After the input: send a service-layer payload and an IGNORE.
    pub const SEND: u8 = 4;
    /// Client: reject the host key instead of accepting it.
    pub const REJECT: u8 = 8;
    /// Also run the input in chunks of `(flags >> 4) + 1` bytes and compare.
    pub const SPLIT: u8 = 0x80;
}

/// What a run produced: every byte written and every event, in order.
#[derive(Debug, PartialEq)]
struct Run {
    out: Vec<u8>,
    events: Vec<Event>,
}

/// The server fed `data[1..]` after the client's identification line; `data[0]` holds flags
/// (authenticated from the start, rekey and send afterwards, compare with a chunked run).
///
/// Checks: the output and events do not depend on how the input was split; after a timeout the
/// next deadline is never in the past; a closed machine reports `Closed` once and writes nothing
/// more; in fuzz builds (no-op keys) the whole output decodes as a stream of well-formed packets.
pub fn transport_server(data: &[u8]) {
    run_both(data, false);
}

/// The client fed `data[1..]` after the server's identification line (the client has asked for
/// `ssh-userauth`); `data[0]` holds flags as for [`transport_server`], and whether a host key is
/// accepted or rejected. Same checks.
pub fn transport_client(data: &[u8]) {
    run_both(data, true);
}

fn run_both(data: &[u8], client: bool) {
    let _noop = NoopKeys::set(true);
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let whole = run(client, flags, input, 0);
    if flags & flag::SPLIT != 0 {
        let chunk = usize::from((flags >> 4) & 0x7) + 1;
        let split = run(client, flags, input, chunk);
        assert!(
            whole == split,
            "output depends on the input split (chunks of {chunk})"
        );
    }
}

fn run(client: bool, flags: u8, input: &[u8], chunk: usize) -> Run {
    let now = base_time();
    let mut t = if client {
        let mut t = Transport::client(client_config(), Box::new(SeededRng::new(CLIENT_SEED)), now);
        t.request_service("ssh-userauth");
        t.handle_input(SERVER_BANNER);
        t
    } else {
        let mut t = Transport::server(server_config(), Box::new(SeededRng::new(SERVER_SEED)), now);
        t.handle_input(CLIENT_BANNER);
        t
    };
    if flags & flag::AUTHENTICATED != 0 {
        t.set_authenticated();
    }
    let mut run = Run {
        out: Vec::new(),
        events: Vec::new(),
    };
    let pieces: Vec<&[u8]> = if chunk == 0 {
        vec![input]
    } else {
        input.chunks(chunk).collect()
    };
    for piece in pieces {
        t.handle_input(piece);
        pump(&mut t, &mut run, flags);
    }
    if flags & flag::REKEY != 0 {
        t.rekey();
    }
    if flags & flag::SEND != 0 {
        let _ = t.send(&[94, 0, 0, 0, 0, 0, 0, 0, 1, b'x']);
        t.send_ignore(b"fuzz");
    }
    pump(&mut t, &mut run, flags);
    // Time passes: a stalled exchange times out, a rekey deadline passes. The next deadline must
    // never be in the past, or a driver would spin.
    for minutes in [1, 30, 180] {
        let at = now + Duration::from_secs(60 * minutes);
        t.handle_timeout(at);
        pump(&mut t, &mut run, flags);
        if let Some(next) = t.poll_timeout() {
            assert!(next > at, "poll_timeout returned a deadline in the past");
        }
    }
    t.handle_eof();
    pump(&mut t, &mut run, flags);
    assert!(t.is_closed());
    let closes = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(closes, 1, "a closed machine reports Closed exactly once");
    // Nothing more once closed.
    t.handle_input(b"\0\0\0\x0c\x0a\x15\0\0\0\0\0\0\0\0\0\0");
    t.send_ignore(b"late");
    assert!(!t.has_transmit(), "a closed machine wrote more bytes");
    assert!(t.poll_event().is_none());
    #[cfg(fuzzing)]
    check_output(&run.out, client);
    run
}

/// Takes the machine's output and events; answers host key questions.
fn pump(t: &mut Transport, run: &mut Run, flags: u8) {
    loop {
        let mut progress = t.poll_transmit(&mut run.out) > 0;
        while let Some(ev) = t.poll_event() {
            progress = true;
            if matches!(ev, Event::HostKey { .. }) {
                if flags & flag::REJECT != 0 {
                    t.reject_host_key();
                } else {
                    t.accept_host_key();
                }
            }
            run.events.push(ev);
        }
        if !progress {
            return;
        }
    }
}

/// Fuzz builds: with no-op keys on both sides of every exchange, the output after the
/// identification line is plain framing throughout; every packet must decode.
#[cfg(fuzzing)]
fn check_output(out: &[u8], client: bool) {
    use crate::packet::PacketReader;
    use bytes::BytesMut;

    let Some(nl) = out.iter().position(|&b| b == b'\n') else {
        panic!("no identification line in the output");
    };
    let mut buf = BytesMut::from(&out[nl + 1..]);
    let mut reader = PacketReader::new(1 << 20);
    loop {
        match reader.next_packet(&mut buf) {
            Ok(Some(p)) => assert!(!p.payload.is_empty()),
            Ok(None) => break,
            Err(e) => panic!(
                "the {} wrote a malformed packet: {e}",
                if client { "client" } else { "server" }
            ),
        }
    }
    assert!(buf.is_empty(), "the output ends inside a packet");
}
