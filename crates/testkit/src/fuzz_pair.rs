//! The `session_pair` fuzz target's entry point: one input drives a whole client and a whole
//! server ([`SessionPair`]) through key exchange, authentication and a channel, choosing the
//! applications' answers, which side moves, how bytes are split, and bytes injected into either
//! side. Oracles: no panic; memory stays bounded; what the client receives on the channel is
//! always a prefix of what it sent (the server echoes), and all of it once both sides reached
//! the channel and nothing disturbed the link.
//!
//! With bit 7 of the size byte the channel runs the `sftp` subsystem instead of the echo: the
//! sans-IO SFTP client uploads the payload to nacre's dispatcher over an in-memory file system and
//! downloads it again (oracles: the download is a prefix of the file, and all of it, unchanged,
//! on an undisturbed link).
//!
//! Input: three header bytes (flags, seed, payload length in KiB), then operations (one byte
//! each, some followed by arguments). Under `cargo fuzz` (`--cfg fuzzing`) flag bit 0 installs
//! no-op packet keys after NEWKEYS, so injected bytes can reach authentication and channels
//! as plaintext packets.

use std::sync::Arc;
use std::time::Duration;

use nacre_keys::KeyType;
use nacre_transport::KexMethod;

use crate::link::Fault;
use crate::session_pair::{default_configs, ClientScript, SessionPair};

/// Most bytes any buffer may hold at a check: far above a healthy session, far below a leak.
const MEMORY_BOUND: usize = 64 * 1024 * 1024;
/// Operations read from one input.
const MAX_OPS: usize = 256;

/// Reads bytes off the front of the input.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// The fuzz target: see the module's documentation.
pub fn session_pair(data: &[u8]) {
    run(data);
}

/// Runs one input with every oracle and returns the pair, for tests to look at.
pub fn run(data: &[u8]) -> SessionPair {
    let mut input = Input(data);
    let flags = input.byte().unwrap_or(0b110);
    let seed = u64::from(input.byte().unwrap_or(0));
    let size = input.byte().unwrap_or(1);
    let kib = usize::from(size % 64);
    let sftp = size & 0x80 != 0;
    #[cfg(fuzzing)]
    let _keys = nacre_transport::fuzz_keys::NoopKeys::set(flags & 1 != 0);
    let noop = cfg!(fuzzing) && flags & 1 != 0;
    let mut pair = build(flags, seed, kib, sftp);
    let mut disturbed = false;
    for _ in 0..MAX_OPS {
        let Some(op) = input.byte() else {
            break;
        };
        disturbed |= apply(&mut pair, op, &mut input);
        check_memory(&pair);
        check_prefix(&pair, noop && disturbed);
    }
    pair.drive();
    check_memory(&pair);
    check_prefix(&pair, noop && disturbed);
    check_complete(&pair, disturbed);
    pair
}

fn build(flags: u8, seed: u64, kib: usize, sftp: bool) -> SessionPair {
    let payload: Vec<u8> = (0..kib * 1024 + usize::from(flags))
        .map(|i| (i % 251) as u8)
        .collect();
    let mut script = ClientScript {
        trust_host_key: flags & 2 != 0,
        password: if flags & 4 != 0 { "secret" } else { "wrong" }.to_owned(),
        payload: payload.clone(),
        ..ClientScript::default()
    };
    if sftp {
        script.request = nacre_connection::RequestKind::Subsystem {
            name: "sftp".to_owned(),
        };
        script.payload = Vec::new();
    }
    let (client, mut server) = default_configs(&script.user);
    let mut transport = nacre_transport::Config::server(vec![crate::host_key(KeyType::Ed25519, 7)]);
    if flags & 8 == 0 {
        // One fast method unless the input asks for the defaults (post-quantum hybrids first).
        transport.algorithms.kex = vec![KexMethod::Curve25519Sha256];
    }
    server.transport = Arc::new(transport);
    let mut pair = SessionPair::with_configs(client, server, script, seed);
    if sftp {
        pair.app.sftp = Some(crate::sftp_pair::SftpApp::new(payload));
        pair.set_services(Box::new(|req| match req {
            nacre_connection::RequestKind::Subsystem { name } if name == "sftp" => {
                Some(Box::new(crate::sftp_pair::SftpService::default()))
            }
            _ => None,
        }));
    }
    pair.to_server.chunk = [0, 1, 7, 1000][usize::from(flags >> 4 & 3)];
    pair.to_client.chunk = [0, 1, 13, 4096][usize::from(flags >> 6 & 3)];
    pair
}

/// Runs one operation; true when it disturbed the link or the sessions' bytes.
fn apply(pair: &mut SessionPair, op: u8, input: &mut Input<'_>) -> bool {
    match op % 12 {
        0..=3 => {
            pair.step();
        }
        4 => {
            pair.drive();
        }
        5 => {
            let n = usize::from(input.byte().unwrap_or(0));
            let bytes = input.bytes(n).to_vec();
            pair.server.handle_input(&bytes);
            return true;
        }
        6 => {
            let n = usize::from(input.byte().unwrap_or(0));
            let bytes = input.bytes(n).to_vec();
            pair.client.handle_input(&bytes);
            return true;
        }
        7 => {
            let secs = u64::from(input.byte().unwrap_or(0));
            pair.advance(Duration::from_secs(secs * secs));
        }
        8 => pair.client.rekey(),
        9 => pair.server.rekey(),
        10 => {
            let at = pair.to_server.sent() + u64::from(input.byte().unwrap_or(0));
            let mask = input.byte().unwrap_or(1) | 1;
            pair.to_server.faults.push(Fault::Corrupt { at, mask });
            return true;
        }
        _ => {
            let at = pair.to_client.sent() + u64::from(input.byte().unwrap_or(0));
            let len = u64::from(input.byte().unwrap_or(1));
            pair.to_client.faults.push(Fault::Drop { at, len });
            return true;
        }
    }
    false
}

fn check_memory(pair: &SessionPair) {
    for b in [
        pair.client.transport().buffered(),
        pair.server.transport().buffered(),
    ] {
        let total = b.input + b.output + b.queued_bytes;
        assert!(
            total < MEMORY_BOUND,
            "transport buffers hold {total} bytes: {b:?}"
        );
        assert!(b.events < 100_000, "{} events waiting", b.events);
    }
    assert!(pair.client.held_bytes() < MEMORY_BOUND);
    assert!(pair.server.held_bytes() < MEMORY_BOUND);
}

/// What the client received is what it sent, so far (unless no-op keys let injected bytes
/// through as if they were the server's).
fn check_prefix(pair: &SessionPair, unprotected: bool) {
    if !unprotected {
        assert!(
            pair.script.payload.starts_with(&pair.app.received),
            "received bytes that were never sent"
        );
        if let Some(sftp) = &pair.app.sftp {
            assert!(
                sftp.file.starts_with(&sftp.downloaded),
                "downloaded bytes that were never uploaded"
            );
        }
    }
}

/// Once both sides reached the channel on an undisturbed link and nothing closed, every byte
/// made the round trip.
fn check_complete(pair: &SessionPair, disturbed: bool) {
    let reached = pair.app.channel.is_some() && pair.authenticated();
    let open = !pair.client.is_closed() && !pair.server.is_closed();
    if reached && open && !disturbed {
        assert_eq!(
            pair.app.received.len(),
            pair.script.payload.len(),
            "data lost on an undisturbed link"
        );
        if let Some(sftp) = &pair.app.sftp {
            assert_eq!(
                sftp.result,
                Some(Ok(())),
                "SFTP failed on an undisturbed link"
            );
            assert!(sftp.downloaded == sftp.file, "the file changed on the way");
        }
    }
}
