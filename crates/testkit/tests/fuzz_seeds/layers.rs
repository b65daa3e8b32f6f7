//! Seeds of the connection and SFTP targets: in-memory sessions between two connection machines
//! and between nacre's SFTP client and server over the in-memory file system.

use bytes::Bytes;
use nacre_connection::{ChannelKind, ConnectionConfig, ConnectionProtocol, Event, RequestKind};
use nacre_wire::ChannelOpenFailureReason;

use super::seed;

/// Two connection machines: `a` is the fuzzed one, `b` plays the peer. Every payload `b` sends
/// goes into the script as a raw op (0, length, payload); `a`'s actions as the target's ops.
struct Sim {
    a: ConnectionProtocol,
    b: ConnectionProtocol,
    script: Vec<u8>,
    payloads: Vec<Vec<u8>>,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Sim {
    fn new(server: bool) -> Self {
        Sim {
            a: ConnectionProtocol::new(ConnectionConfig::default()),
            b: ConnectionProtocol::new(ConnectionConfig::default()),
            script: vec![0x7e | u8::from(server)],
            payloads: Vec::new(),
            a_events: Vec::new(),
            b_events: Vec::new(),
        }
    }

    /// Delivers everything queued, both ways, until both are quiet.
    fn flush(&mut self) {
        loop {
            let mut moved = false;
            while let Some(p) = self.a.poll_transmit() {
                moved = true;
                self.payloads.push(p.clone());
                self.b.handle_packet(&Bytes::from(p)).unwrap();
            }
            while let Some(ev) = self.b.poll_event() {
                self.b_events.push(ev);
            }
            while let Some(p) = self.b.poll_transmit() {
                moved = true;
                self.script.push(0);
                self.script
                    .extend_from_slice(&u16::try_from(p.len()).unwrap().to_be_bytes());
                self.script.extend_from_slice(&p);
                self.payloads.push(p.clone());
                self.a.handle_packet(&Bytes::from(p)).unwrap();
            }
            while let Some(ev) = self.a.poll_event() {
                self.a_events.push(ev);
            }
            if !moved {
                break;
            }
        }
    }

    /// `a` acts; `ops` are the target's bytes for the same action.
    fn a_op(&mut self, ops: &[u8], act: impl FnOnce(&mut ConnectionProtocol, &[Event])) {
        self.script.extend_from_slice(ops);
        act(&mut self.a, &self.a_events);
        self.flush();
    }

    fn b_act(&mut self, act: impl FnOnce(&mut ConnectionProtocol, &[Event])) {
        act(&mut self.b, &self.b_events);
        self.flush();
    }
}

fn b_token(events: &[Event]) -> nacre_connection::ReplyToken {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::Request {
                want_reply: true,
                token,
                ..
            }
            | Event::GlobalRequest {
                want_reply: true,
                token,
                ..
            } => Some(*token),
            _ => None,
        })
        .unwrap()
}

/// The fuzzed machine as a server: the peer opens a session, asks for a pty and a command; the
/// application answers, sends output and an exit status, and both sides close.
fn server_session() -> Sim {
    let mut s = Sim::new(true);
    s.b_act(|b, _| {
        b.open(ChannelKind::Session).unwrap();
    });
    s.a_op(&[8, 0, 1], |a, ev| {
        let id = ev
            .iter()
            .find_map(|e| match e {
                Event::OpenRequest { id, .. } => Some(*id),
                _ => None,
            })
            .unwrap();
        a.accept_open(id);
    });
    s.b_act(|b, _| {
        let pty = RequestKind::PtyReq {
            term: "xterm".into(),
            cols: 80,
            rows: 24,
            width_px: 0,
            height_px: 0,
            modes: vec![0],
        };
        b.request(0, &pty, true);
        b.request(
            0,
            &RequestKind::Exec {
                command: b"ls".to_vec(),
            },
            true,
        );
        b.send_data(0, None, b"input");
    });
    let tokens: Vec<nacre_connection::ReplyToken> = s
        .a_events
        .iter()
        .filter_map(|e| match e {
            Event::Request { token, .. } => Some(*token),
            _ => None,
        })
        .collect();
    for t in tokens {
        s.a_op(&[13, 1, 0, 0], |a, _| a.reply_request(0, t, true));
    }
    s.a_op(&[10, 0], |a, _| a.consume(0, 5));
    s.a_op(&[9, 0, 0, 12, 1], |a, _| {
        a.send_data(0, None, &[0x62; 12]);
    });
    s.a_op(&[9, 0, 0, 3, 0], |a, _| {
        a.send_data(0, Some(1), &[0x62; 3]);
    });
    s.a_op(&[12, 0, 0, 0, 0, 0, 0], |a, _| {
        a.request(0, &RequestKind::ExitStatus { code: 0 }, false);
    });
    s.a_op(&[11, 0, 0], |a, _| a.eof(0));
    s.a_op(&[11, 0, 1], |a, _| a.close(0));
    s
}

/// The fuzzed machine as a client: it opens a session and runs a command; the peer confirms,
/// answers, sends output and closes; a remote forward is asked for and granted.
fn client_session() -> Sim {
    let mut s = Sim::new(false);
    s.a_op(&[7, 0], |a, _| {
        a.open(ChannelKind::Session).unwrap();
    });
    s.b_act(|b, ev| {
        if let Some(Event::OpenRequest { id, .. }) = ev.last() {
            b.accept_open(*id);
        }
    });
    s.a_op(&[12, 0, 4, 2, b'i', b'd', 1], |a, _| {
        a.request(
            0,
            &RequestKind::Exec {
                command: b"id".to_vec(),
            },
            true,
        );
    });
    s.b_act(|b, ev| {
        b.reply_request(0, b_token(ev), true);
        b.send_data(0, None, b"uid=0(root)\n");
        b.send_data(0, Some(1), b"warning\n");
        b.request(0, &RequestKind::ExitStatus { code: 0 }, false);
        b.eof(0);
    });
    s.a_op(&[10, 0], |a, _| a.consume(0, 12));
    s.a_op(&[14, 0, 1], |a, _| {
        a.global_request("tcpip-forward", &[], true)
    });
    s.b_act(|b, ev| b.reply_global(b_token(ev), true, &[0, 0, 0x1f, 0x90]));
    s.a_op(&[14, 4, 0], |a, _| {
        a.global_request("keepalive@openssh.com", &[], false)
    });
    s.b_act(|b, _| {
        b.close(0);
        b.open(ChannelKind::DirectTcpip {
            host: "localhost".into(),
            port: 80,
            originator: "127.0.0.1".into(),
            originator_port: 5000,
        });
    });
    s.a_op(&[8, 0, 0], |a, ev| {
        if let Some(Event::OpenRequest { id, .. }) = ev.last() {
            a.reject_open(*id, ChannelOpenFailureReason::CONNECT_FAILED, "no");
        }
    });
    s
}

pub fn connection_seeds() {
    for (name, sim) in [("server", server_session()), ("client", client_session())] {
        seed("connection_machine", name, &sim.script);
        // The script replays in the target without an error: all of it is used.
        nacre_connection::fuzzing::connection_machine(&sim.script);
        for (i, p) in sim.payloads.iter().enumerate() {
            seed("connection_messages", &format!("{name}-{i}"), p);
        }
    }
    // Keepalive and the unused timeout: flags with liveness on, then time steps.
    seed(
        "connection_machine",
        "liveness",
        &[0xfe, 15, 20, 15, 20, 15, 70],
    );
}

pub fn sftp_seeds() {
    for ops in 0..8u8 {
        let (sent, replies) = nacre_sftp::fuzzing::record_session(ops);
        for flags in [0xfe, 0x10] {
            let mut d = vec![flags];
            d.extend_from_slice(&sent);
            seed("sftp_server", &format!("ops{ops}-{flags:02x}"), &d);
        }
        let mut d = vec![ops];
        for r in &replies {
            d.extend_from_slice(&u16::try_from(r.len()).unwrap().to_be_bytes());
            d.extend_from_slice(r);
        }
        seed("sftp_client", &format!("ops{ops}"), &d);
        nacre_sftp::fuzzing::sftp_client(&d);
        // Packets: each request and reply alone, and the client's stream framed.
        let mut decoder = nacre_sftp_codec::FrameDecoder::with_max_len(1 << 20);
        decoder.push(&sent).unwrap();
        let mut i = 0;
        while let Ok(Some(frame)) = decoder.next_frame() {
            if frame.bytes().len() < 512 {
                seed("sftp_packets", &format!("req{ops}-{i}"), frame.bytes());
            }
            i += 1;
        }
        for (i, r) in replies.iter().enumerate() {
            if r.len() < 512 {
                seed("sftp_packets", &format!("reply{ops}-{i}"), r);
            }
        }
    }
}
