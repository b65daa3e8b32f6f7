#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Property tests: random input after a valid banner and mutated real transcripts never panic,
//! never hang, and give the same result whatever the split of the input.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use nacre_crypto::SeededRng;
use nacre_testkit::script::ScriptPeer;
use nacre_testkit::{all_host_keys, Pair};
use nacre_transport::{Config, Event, Role, Transport};
use proptest::prelude::*;

fn machine(role: Role, seed: u64, now: Instant) -> Transport {
    match role {
        Role::Client => Transport::client(
            Arc::new(Config::client()),
            Box::new(SeededRng::new(seed)),
            now,
        ),
        Role::Server => Transport::server(
            Arc::new(Config::server(all_host_keys())),
            Box::new(SeededRng::new(seed)),
            now,
        ),
    }
}

/// Everything a machine does with `input` delivered in the given chunk sizes: the bytes it sends,
/// its events (host keys answered with accept) and whether it closed.
#[derive(Debug, PartialEq)]
struct Outcome {
    sent: Vec<u8>,
    events: Vec<Event>,
    closed: bool,
}

fn run(mut t: Transport, input: &[u8], chunks: &[usize]) -> Outcome {
    let mut sent = Vec::new();
    let mut events = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunks
            .get(i)
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        i += 1;
        t.handle_input(&rest[..n]);
        rest = &rest[n..];
        while let Some(e) = t.poll_event() {
            if matches!(e, Event::HostKey { .. }) {
                t.accept_host_key();
            }
            events.push(e);
        }
    }
    t.poll_transmit(&mut sent);
    // A closed machine reports exactly one Closed event, last.
    let closes = events
        .iter()
        .filter(|e| matches!(e, Event::Closed(_)))
        .count();
    assert_eq!(closes, usize::from(t.is_closed()));
    if t.is_closed() {
        assert!(matches!(events.last(), Some(Event::Closed(_))));
        assert_eq!(t.poll_timeout(), None);
    }
    Outcome {
        sent,
        events,
        closed: t.is_closed(),
    }
}

/// Events the application would act on: random input must never produce one.
fn acts(e: &Event) -> bool {
    matches!(
        e,
        Event::Packet(_)
            | Event::ServiceStarted(_)
            | Event::ServiceAccepted(_)
            | Event::KexComplete { .. }
            | Event::HostKey { .. }
    )
}

/// Random plain packets: framing is right, contents are not.
fn random_packets(role: Role, packets: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut peer = ScriptPeer::new(role);
    let mut out = peer.banner();
    for (n, body) in packets {
        let mut payload = vec![*n];
        payload.extend_from_slice(body);
        out.extend(peer.packet(&payload));
    }
    out
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..64, 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_after_a_banner(
        role in prop_oneof![Just(Role::Client), Just(Role::Server)],
        junk in prop::collection::vec(any::<u8>(), 0..3000),
        split in chunks(),
    ) {
        let now = Instant::now();
        let mut input = b"SSH-2.0-fuzz\r\n".to_vec();
        input.extend_from_slice(&junk);
        let whole = run(machine(role, 1, now), &input, &[]);
        let split = run(machine(role, 1, now), &input, &split);
        prop_assert_eq!(&whole, &split);
        // Never anything the application would act on.
        prop_assert!(!whole.events.iter().any(acts), "{:?}", whole.events);
    }

    #[test]
    fn random_well_framed_packets(
        role in prop_oneof![Just(Role::Client), Just(Role::Server)],
        packets in prop::collection::vec(
            (prop_oneof![0u8..=60, Just(20u8), Just(21u8), Just(30u8), Just(31u8), any::<u8>()],
             prop::collection::vec(any::<u8>(), 0..200)),
            0..8),
        split in chunks(),
    ) {
        let now = Instant::now();
        let other = if role == Role::Client { Role::Server } else { Role::Client };
        let input = random_packets(other, &packets);
        let whole = run(machine(role, 2, now), &input, &[]);
        let split = run(machine(role, 2, now), &input, &split);
        prop_assert_eq!(&whole, &split);
        prop_assert!(!whole.events.iter().any(acts), "{:?}", whole.events);
    }
}

/// One recorded connection: the client's bytes and the server's answers, with the seeds used.
struct Transcript {
    client_wire: Vec<u8>,
    server_wire: Vec<u8>,
    /// Where the client's bytes after its first NEWKEYS begin: everything before (banner,
    /// KEXINIT, the key exchange message) is input to the exchange hash, so a change there
    /// legitimately changes what the server answers.
    encrypted_from: usize,
}

/// The offset just past the client's first NEWKEYS packet (banner line, then plaintext packets).
fn encrypted_from(wire: &[u8]) -> usize {
    let mut at = wire.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    loop {
        let len = u32::from_be_bytes(wire[at..at + 4].try_into().unwrap()) as usize;
        let msg = wire[at + 5];
        at += 4 + len;
        if msg == 21 {
            return at;
        }
    }
}

const SEED: u64 = 77;

fn transcript() -> &'static Transcript {
    static T: OnceLock<Transcript> = OnceLock::new();
    T.get_or_init(|| {
        let mut pair = Pair::default_pair(SEED);
        pair.connect();
        pair.client.send(&[94, 1, 2, 3]).unwrap();
        pair.drive();
        Transcript {
            encrypted_from: encrypted_from(&pair.client_wire),
            client_wire: pair.client_wire.clone(),
            server_wire: pair.server_wire.clone(),
        }
    })
}

/// The server of [`Pair::default_pair`] with the pair's seed.
fn replay_server() -> Transport {
    Transport::server(
        Arc::new(Config::server(all_host_keys())),
        Box::new(SeededRng::new(SEED ^ 0x5eed)),
        Instant::now(),
    )
}

#[test]
fn unmutated_transcript_replays_exactly() {
    let t = transcript();
    let out = run(replay_server(), &t.client_wire, &[]);
    assert!(!out.closed);
    assert!(
        out.sent == t.server_wire,
        "the server is deterministic for a seed"
    );
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, Event::Packet(p) if p[..] == [94, 1, 2, 3])));
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
        any::<usize>().prop_map(Mutation::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// A mutated client transcript: the server never panics and does the same whatever the
    /// split; and when only the encrypted part was changed (the keys are then those of the real
    /// connection), as long as it has not closed it has said nothing it would not have said to
    /// the real client. (A change before the client's NEWKEYS changes the exchange hash, so the
    /// server's signature legitimately differs: found when a run flipped a KEXINIT bit and left
    /// the server waiting for the rest of a garbage packet.)
    #[test]
    fn mutated_transcripts(muts in prop::collection::vec(mutation(), 1..4), split in chunks()) {
        let t = transcript();
        let mut input = t.client_wire.clone();
        let mut first_change = usize::MAX;
        for m in &muts {
            let at = match *m {
                Mutation::Flip(i, x) => { let n = input.len(); input[i % n] ^= x; i % n }
                Mutation::Insert(i, x) => { let n = input.len() + 1; input.insert(i % n, x); i % n }
                Mutation::Delete(i) => { let n = input.len(); input.remove(i % n); i % n }
            };
            first_change = first_change.min(at);
        }
        let whole = run(replay_server(), &input, &[]);
        let split = run(replay_server(), &input, &split);
        prop_assert_eq!(&whole, &split);
        if !whole.closed && first_change >= t.encrypted_from {
            prop_assert!(t.server_wire.starts_with(&whole.sent));
        }
    }
}
