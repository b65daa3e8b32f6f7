//! Fuzzing entry points for the transport (feature `fuzzing`; docs/FUZZING.md).
//!
//! Every function takes arbitrary bytes and must never panic, except through an `assert!` that
//! flags a real bug: a message that does not survive decode → encode → decode, output that depends
//! on how the input was split, a deadline in the past. The cargo-fuzz targets in `fuzz/` and the
//! stable corpus replay test call these same functions.
//!
//! The machines run with seeded randomness on a fixed clock, so a run depends only on its input.
//! Fuzz builds (`--cfg fuzzing`) also switch the packet keys to no-op keys after each NEWKEYS
//! ([`set_noop_keys`]), so a fuzzer playing the peer can complete a key exchange and then write
//! plaintext packets: recorded sessions in the seed corpus take it straight to the post-kex states.
//! Plain builds have no such keys; there the same inputs stop at the first encrypted packet.

#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod inflate;
mod machine;
mod messages;
mod packets;
mod sequence;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use nacre_crypto::{CipherAlg, DhGroup, MacAlg, ModuliEntry};
use nacre_keys::{KeyType, PrivateKey, SignatureAlgorithm};

use crate::config::{Algorithms, Config};
use crate::kex::KexMethod;

pub use inflate::packet_inflate;
pub use machine::{
    transport_client, transport_server, CLIENT_BANNER, CLIENT_SEED, SERVER_BANNER, SERVER_SEED,
};
pub use messages::{banner, kex_messages, transport_messages};
pub use packets::packet_reader;
pub use sequence::transport_sequence;

#[cfg(fuzzing)]
pub use crate::fuzz_keys::{set_noop_keys, NoopKeys};

/// Without `--cfg fuzzing` there are no no-op keys: the guard does nothing.
#[cfg(not(fuzzing))]
#[derive(Debug)]
pub struct NoopKeys;

#[cfg(not(fuzzing))]
impl NoopKeys {
    /// Does nothing outside fuzz builds.
    pub fn set(_on: bool) -> Self {
        NoopKeys
    }
}

/// The clock every fuzzed machine starts at.
pub fn base_time() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Key exchange methods fast enough to fuzz: everything but the 4096- and 8192-bit groups.
fn fuzz_kex() -> Vec<KexMethod> {
    KexMethod::ALL
        .iter()
        .copied()
        .filter(|m| !matches!(m, KexMethod::DhGroup16Sha512 | KexMethod::DhGroup18Sha512))
        .collect()
}

/// The host keys of the fuzzed server: Ed25519 and ECDSA P-256, fixed.
pub fn host_keys() -> Vec<Arc<PrivateKey>> {
    static KEYS: OnceLock<Vec<Arc<PrivateKey>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = vec![Arc::new(PrivateKey::from_ed25519_seed(&[7; 32]))];
        if let Ok(k) = PrivateKey::from_ecdsa_scalar(KeyType::EcdsaNistP256, &[9; 32]) {
            keys.push(Arc::new(k));
        }
        keys
    })
    .clone()
}

/// The server configuration of the fuzz targets: every algorithm nacre implements (legacy ones
/// too) except the slow big DH groups, group exchange answered from the 2048-bit group 14.
pub fn server_config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut c = Config::server(host_keys());
            c.algorithms = Algorithms {
                kex: fuzz_kex(),
                ..Algorithms::all()
            };
            c.gex.moduli = vec![ModuliEntry {
                bits: 2048,
                group: DhGroup::group14(),
            }];
            c.server_sig_algs = SignatureAlgorithm::ALL.to_vec();
            Arc::new(c)
        })
        .clone()
}

/// The client configuration of the fuzz targets: every algorithm nacre implements except the slow
/// big DH groups; group exchange asks for 2048..4096 bits.
pub fn client_config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut c = Config::client();
            c.algorithms = Algorithms {
                kex: fuzz_kex(),
                ..Algorithms::all()
            };
            c.gex.min = 2048;
            c.gex.n = 2048;
            c.gex.max = 4096;
            Arc::new(c)
        })
        .clone()
}

/// A configuration pair restricted to one kex method, cipher, MAC and host key algorithm, picked
/// by `pick` (24 bits), for the structure-aware target (so every cipher and method gets its share);
/// bit 20 turns on `zlib` compression in both.
pub(crate) fn narrowed(pick: u32) -> (Config, Config) {
    // The finite-field methods (~20 ms an exchange) and sntrup761 (~40 ms to make a key) are
    // slow: one input in eight may pick them.
    let kex: Vec<KexMethod> = fuzz_kex()
        .into_iter()
        .filter(|m| (pick >> 17) & 7 == 7 || !(m.is_ffdh() || m.name().starts_with("sntrup")))
        .collect();
    let kex = kex[(pick as usize) % kex.len()];
    let cipher = CipherAlg::ALL[((pick >> 4) as usize) % CipherAlg::ALL.len()];
    let mac = MacAlg::ALL[((pick >> 8) as usize) % MacAlg::ALL.len()];
    let host_key = if pick & (1 << 12) == 0 {
        SignatureAlgorithm::Ed25519
    } else {
        SignatureAlgorithm::EcdsaNistP256
    };
    let algorithms = Algorithms {
        kex: vec![kex],
        host_key: vec![host_key],
        cipher: vec![cipher],
        mac: vec![mac],
        // One input in two compresses from the first NEWKEYS (`zlib`), so scripts reach the
        // deflate and inflate streams across re-exchanges.
        compression: if pick & (1 << 20) == 0 {
            vec![crate::compress::CompressionAlg::None]
        } else {
            vec![
                crate::compress::CompressionAlg::Zlib,
                crate::compress::CompressionAlg::None,
            ]
        },
    };
    let strict = pick & (1 << 13) == 0;
    let ext_info = pick & (1 << 14) == 0;
    let mut client = (*client_config()).clone();
    client.algorithms = algorithms.clone();
    client.strict_kex = strict;
    client.ext_info = ext_info;
    let mut server = (*server_config()).clone();
    server.algorithms = algorithms;
    server.strict_kex = strict || pick & (1 << 15) != 0;
    server.ext_info = ext_info || pick & (1 << 16) != 0;
    (client, server)
}

/// A cursor over fuzz input that never fails: reads past the end give zeros or short slices.
pub(crate) struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Input { data }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
    /// A length-prefixed (one byte) slice.
    pub(crate) fn short(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.bytes(n)
    }
}
