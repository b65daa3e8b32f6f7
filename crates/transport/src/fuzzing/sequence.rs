//! Structure-aware: arbitrary sequences of well-formed messages between two real machines.
//!
//! As Dropbear's fuzzers do, the input is not bytes on the wire but a script: a real client and a
//! real server complete a key exchange with real keys (one cipher, MAC and method picked by the
//! input), then the script has either side write messages built from typed fields — KEXINIT with
//! algorithm names from nacre's tables, NEWKEYS, ECDH values, EXT_INFO, service requests,
//! IGNORE/DEBUG/UNIMPLEMENTED/DISCONNECT, service-layer payloads, raw payloads — with the side's
//! own keys (`send_raw`), interleaved with deliveries in chunks, clock advances, rekeys and
//! authentication. No no-op keys are involved, so plain builds replay it exactly.

use std::time::{Duration, Instant};

use nacre_crypto::{CipherAlg, EcdhCurve, EcdhPrivateKey, MacAlg, SeededRng};
use nacre_keys::SignatureAlgorithm;
use nacre_wire::Encode;

use super::{base_time, narrowed, Input, NoopKeys};
use crate::kex::KexMethod;
use crate::machine::{Event, Transport};
use crate::msg::{
    Debug, Disconnect, ExtInfo, Ignore, KexDhGexRequest, KexEcdhInit, KexEcdhReply, KexInit,
    NewKeys, ServiceAccept, ServiceRequest, Unimplemented,
};
use crate::negotiate::{EXT_INFO_C, EXT_INFO_S, KEX_STRICT_C, KEX_STRICT_S};
use std::sync::Arc;

struct Side {
    t: Transport,
    /// Bytes written and not yet delivered to the other side.
    pending: Vec<u8>,
}

struct Pair {
    client: Side,
    server: Side,
    now: Instant,
}

impl Pair {
    fn side(&mut self, client: bool) -> &mut Side {
        if client {
            &mut self.client
        } else {
            &mut self.server
        }
    }

    /// Collects output and answers events on both sides.
    fn pump(&mut self) {
        for side in [&mut self.client, &mut self.server] {
            side.t.poll_transmit(&mut side.pending);
            while let Some(ev) = side.t.poll_event() {
                if matches!(ev, Event::HostKey { .. }) {
                    side.t.accept_host_key();
                    side.t.poll_transmit(&mut side.pending);
                }
            }
        }
    }

    /// Delivers up to `limit` pending bytes of one side, `chunk` at a time.
    fn deliver(&mut self, from_client: bool, limit: usize, chunk: usize) {
        self.pump();
        let (from, to) = if from_client {
            (&mut self.client, &mut self.server)
        } else {
            (&mut self.server, &mut self.client)
        };
        let n = limit.min(from.pending.len());
        let bytes: Vec<u8> = from.pending.drain(..n).collect();
        for piece in bytes.chunks(chunk.max(1)) {
            to.t.handle_input(piece);
        }
        self.pump();
    }

    /// Moves everything until neither side has anything to say.
    fn settle(&mut self) {
        for _ in 0..64 {
            self.pump();
            if self.client.pending.is_empty() && self.server.pending.is_empty() {
                return;
            }
            self.deliver(true, usize::MAX, usize::MAX);
            self.deliver(false, usize::MAX, usize::MAX);
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let now = self.now;
        for side in [&mut self.client, &mut self.server] {
            side.t.handle_timeout(now);
            if let Some(next) = side.t.poll_timeout() {
                assert!(next > now, "poll_timeout returned a deadline in the past");
            }
        }
        self.pump();
    }
}

/// Arbitrary sequences of well-formed messages between a real client and a real server after a
/// completed key exchange (module documentation). `data[0..3]` picks the algorithms, the rest is
/// the script. Checks: no panic, deadlines never in the past, a closed side stays silent.
pub fn transport_sequence(data: &[u8]) {
    let _plain = NoopKeys::set(false);
    let mut input = Input::new(data);
    let pick = u32::from(input.u8()) | (u32::from(input.u8()) << 8) | (u32::from(input.u8()) << 16);
    let (client_cfg, server_cfg) = narrowed(pick);
    let now = base_time();
    let client = Transport::client(
        Arc::new(client_cfg),
        Box::new(SeededRng::new(u64::from(pick))),
        now,
    );
    let server = Transport::server(
        Arc::new(server_cfg),
        Box::new(SeededRng::new(u64::from(pick) ^ 0x5eed)),
        now,
    );
    let mut pair = Pair {
        client: Side {
            t: client,
            pending: Vec::new(),
        },
        server: Side {
            t: server,
            pending: Vec::new(),
        },
        now,
    };
    pair.client.t.request_service("ssh-userauth");
    pair.settle();
    let mut ecdh_rng = SeededRng::new(99);

    let mut steps = 0;
    while !input.is_empty() && steps < 256 {
        steps += 1;
        let op = input.u8();
        let from_client = op & 0x80 != 0;
        match op & 0x0f {
            0..=5 => {
                let payload = build_message(&mut input, from_client, &mut ecdh_rng);
                let side = pair.side(from_client);
                side.t.send_raw(&payload);
                side.t.poll_transmit(&mut side.pending);
            }
            6 | 7 => {
                let limit = usize::from(input.u16());
                let chunk = usize::from(input.u8()) + 1;
                pair.deliver(from_client, limit, chunk);
            }
            8 => {
                let secs = u64::from(input.u16());
                pair.advance(Duration::from_secs(secs));
            }
            9 => pair.side(from_client).t.rekey(),
            10 => pair.side(from_client).t.set_authenticated(),
            11 => {
                let body = input.short();
                let mut payload = vec![50 + input.u8() % 206];
                payload.extend_from_slice(body);
                let _ = pair.side(from_client).t.send(&payload);
            }
            12 => {
                let data = input.short();
                pair.side(from_client).t.send_ignore(data);
            }
            13 => pair.settle(),
            14 => pair.side(from_client).t.handle_eof(),
            _ => {
                let side = pair.side(from_client);
                side.t.request_service("ssh-connection");
            }
        }
        pair.pump();
    }
    pair.settle();
    for side in [&mut pair.client, &mut pair.server] {
        if side.t.is_closed() {
            side.t
                .handle_input(&[0, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            side.t.send_ignore(b"late");
            assert!(!side.t.has_transmit(), "a closed machine wrote more bytes");
        }
    }
}

/// A well-formed message from typed fields.
fn build_message(input: &mut Input<'_>, from_client: bool, rng: &mut SeededRng) -> Vec<u8> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match input.u8() % 14 {
        0 => Ignore {
            data: input.short(),
        }
        .to_bytes(),
        1 => {
            let always_display = input.u8() & 1 == 1;
            let message = text(input.short());
            Debug {
                always_display,
                message: message.into(),
                language: b"",
            }
            .to_bytes()
        }
        2 => Unimplemented { seq: input.u32() }.to_bytes(),
        3 => {
            let reason = nacre_wire::DisconnectReason(input.u32() % 20);
            let description = text(input.short());
            Disconnect {
                reason,
                description: description.into(),
                language: b"",
            }
            .to_bytes()
        }
        4 => {
            let name = service_name(input);
            ServiceRequest { name: &name }.to_bytes()
        }
        5 => {
            let name = service_name(input);
            ServiceAccept { name: &name }.to_bytes()
        }
        6 => {
            let algs = names(input, SignatureAlgorithm::ALL.iter().map(|a| a.name()));
            let extra = input.short();
            let mut extensions = vec![("server-sig-algs", algs.as_bytes())];
            if !extra.is_empty() {
                extensions.push(("ping@openssh.com", extra));
            }
            ExtInfo { extensions }.to_bytes()
        }
        7 => kexinit(input, from_client),
        8 => NewKeys.to_bytes(),
        9 => {
            let curve = [EcdhCurve::X25519, EcdhCurve::NistP256, EcdhCurve::NistP384]
                [usize::from(input.u8() % 3)];
            let public = EcdhPrivateKey::generate(curve, rng).public_key();
            KexEcdhInit { q_c: &public }.to_bytes()
        }
        10 => {
            let k_s = input.short();
            let q_s = input.short();
            let signature = input.short();
            KexEcdhReply {
                k_s,
                q_s,
                signature,
            }
            .to_bytes()
        }
        11 => KexDhGexRequest {
            min: u32::from(input.u16()),
            n: u32::from(input.u16()),
            max: u32::from(input.u16()),
        }
        .to_bytes(),
        12 => {
            // A service-layer message (50..=255) with a raw body.
            let mut p = vec![50 + input.u8() % 206];
            p.extend_from_slice(input.short());
            p
        }
        _ => {
            // Raw: any message number, any body.
            let mut p = vec![input.u8()];
            p.extend_from_slice(input.short());
            p
        }
    }
}

fn service_name(input: &mut Input<'_>) -> String {
    match input.u8() % 4 {
        0 => "ssh-userauth".to_owned(),
        1 => "ssh-connection".to_owned(),
        2 => String::new(),
        _ => String::from_utf8_lossy(input.short()).into_owned(),
    }
}

/// A comma-separated list of the names whose bit is set in the next input bytes (in a rotated
/// order, so preference orders vary).
fn names<'n>(input: &mut Input<'_>, all: impl Iterator<Item = &'n str>) -> String {
    let all: Vec<&str> = all.collect();
    let mask = input.u16();
    let rotate = usize::from(input.u8());
    let n = all.len().max(1);
    let chosen: Vec<&str> = (0..all.len())
        .map(|i| all[(i + rotate) % n])
        .enumerate()
        .filter(|(i, _)| mask & (1 << (i % 16)) != 0)
        .map(|(_, s)| s)
        .collect();
    chosen.join(",")
}

fn kexinit(input: &mut Input<'_>, from_client: bool) -> Vec<u8> {
    let mut kex = names(input, KexMethod::ALL.iter().map(|m| m.name()));
    let markers = input.u8();
    let extra: [&str; 2] = if from_client {
        [EXT_INFO_C, KEX_STRICT_C]
    } else {
        [EXT_INFO_S, KEX_STRICT_S]
    };
    for (i, m) in extra.iter().enumerate() {
        if markers & (1 << i) != 0 {
            if !kex.is_empty() {
                kex.push(',');
            }
            kex.push_str(m);
        }
    }
    let host = names(input, SignatureAlgorithm::ALL.iter().map(|a| a.name()));
    let cipher_c2s = names(input, CipherAlg::ALL.iter().map(|c| c.name()));
    let cipher_s2c = names(input, CipherAlg::ALL.iter().map(|c| c.name()));
    let mac_c2s = names(input, MacAlg::ALL.iter().map(|m| m.name()));
    let mac_s2c = names(input, MacAlg::ALL.iter().map(|m| m.name()));
    let compression = if markers & 4 == 0 {
        "none"
    } else {
        "zlib,none"
    };
    let mut cookie = [0u8; 16];
    cookie.copy_from_slice(&{
        let mut c = input.bytes(16).to_vec();
        c.resize(16, 0);
        c
    });
    let list = |s: &str| -> Vec<u8> { s.as_bytes().to_vec() };
    let lists = [
        list(&kex),
        list(&host),
        list(&cipher_c2s),
        list(&cipher_s2c),
        list(&mac_c2s),
        list(&mac_s2c),
        list(compression),
        list(compression),
        Vec::new(),
        Vec::new(),
    ];
    let decoded: Vec<nacre_wire::NameList<'_>> = lists
        .iter()
        .map(|l| nacre_wire::NameList::new(l).unwrap_or_default())
        .collect();
    KexInit {
        cookie,
        kex_algorithms: decoded[0],
        server_host_key_algorithms: decoded[1],
        encryption_c2s: decoded[2],
        encryption_s2c: decoded[3],
        mac_c2s: decoded[4],
        mac_s2c: decoded[5],
        compression_c2s: decoded[6],
        compression_s2c: decoded[7],
        languages_c2s: decoded[8],
        languages_s2c: decoded[9],
        first_kex_packet_follows: markers & 8 != 0,
        reserved: 0,
    }
    .to_bytes()
}
