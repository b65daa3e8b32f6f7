//! Fuzzing entry points for the packet ciphers and MACs (feature `fuzzing`; docs/FUZZING.md).
//!
//! The functions take arbitrary bytes and never panic, except through an `assert!` that flags a real
//! bug. The cargo-fuzz targets in `fuzz/` and the stable corpus replay test call them.

#![allow(clippy::panic, clippy::indexing_slicing)]

use zeroize::Zeroizing;

use crate::cipher::{CipherAlg, DirectionKeys, MacAlg, PacketKey};
use crate::error::CryptoError;

/// Largest packet the entry points build or wait for (a real reader bounds the length first).
const MAX_PACKET: usize = 64 * 1024;

/// Every protection a connection can use: `None` is the initial no-cipher state, then each AEAD
/// cipher and each CTR cipher with each MAC.
pub fn suites() -> Vec<(Option<CipherAlg>, Option<MacAlg>)> {
    let mut all = vec![(None, None)];
    for &c in CipherAlg::ALL {
        if c.is_aead() {
            all.push((Some(c), None));
        } else {
            for &m in MacAlg::ALL {
                all.push((Some(c), Some(m)));
            }
        }
    }
    all
}

/// A key for `suite` with fixed key material derived from `salt`, so that a sealing key and an
/// opening key made with the same arguments match.
pub fn key_for(suite: (Option<CipherAlg>, Option<MacAlg>), salt: u8) -> PacketKey {
    let Some(cipher) = suite.0 else {
        return PacketKey::none();
    };
    let fill = |n: usize, letter: u8| -> Zeroizing<Vec<u8>> {
        Zeroizing::new(
            (0..n)
                .map(|i| (i as u8).wrapping_mul(31) ^ letter ^ salt)
                .collect(),
        )
    };
    let keys = DirectionKeys {
        cipher,
        mac: suite.1,
        enc_key: fill(cipher.key_len(), b'C'),
        iv: fill(cipher.iv_len(), b'A'),
        mac_key: fill(suite.1.map_or(0, MacAlg::key_len), b'E'),
    };
    match PacketKey::new(&keys) {
        Ok(k) => k,
        Err(e) => panic!("keys of the right lengths were refused: {e}"),
    }
}

/// Lays out the plaintext packet of `payload` for `key` (length, padding length, payload, zero
/// padding, room for the tag), as RFC 4253 §6 requires.
fn plaintext_packet(key: &PacketKey, payload: &[u8], extra_padding: usize) -> Vec<u8> {
    let block = key.block_size().max(8);
    let aad = if key.length_is_aad() { 4 } else { 0 };
    let unpadded = 5 + payload.len() - aad;
    let mut padding = block - unpadded % block;
    if padding < 4 {
        padding += block;
    }
    padding += (extra_padding % 8) * block;
    let packet_len = 1 + payload.len() + padding;
    let mut p = Vec::with_capacity(4 + packet_len + key.tag_len());
    p.extend_from_slice(&(packet_len as u32).to_be_bytes());
    p.push(padding as u8);
    p.extend_from_slice(payload);
    p.resize(4 + packet_len + key.tag_len(), 0);
    p
}

/// The packet opener of every cipher and MAC.
///
/// `data[0]` picks the suite, `data[1..5]` the sequence number, `data[5]` a mode:
/// - even: the rest is a received packet: `decrypt_length`, then `open` on exactly the bytes the
///   length announces, with the key the seeds are sealed with. Whatever the bytes, the result is
///   `Ok` or a `MacMismatch`/`InvalidLength` error, never a panic.
/// - odd: the rest is a payload that is sealed and opened again (it must come back unchanged),
///   then a byte of the sealed packet chosen by the input is flipped: an authenticated suite must
///   refuse it.
pub fn packet_open(data: &[u8]) {
    let all = suites();
    let [sel, s0, s1, s2, s3, mode, rest @ ..] = data else {
        return;
    };
    let suite = all[usize::from(*sel) % all.len()];
    let seq = u32::from_be_bytes([*s0, *s1, *s2, *s3]);
    if mode & 1 == 0 {
        open_garbage(suite, seq, rest);
    } else {
        seal_open(suite, seq, *mode >> 1, rest);
    }
}

fn open_garbage(suite: (Option<CipherAlg>, Option<MacAlg>), seq: u32, rest: &[u8]) {
    let mut key = key_for(suite, 0);
    let mut buf = rest.to_vec();
    let prefix = key.length_prefix_len();
    if buf.len() < prefix {
        assert!(
            key.decrypt_length(seq, &mut buf).is_err(),
            "decrypt_length read a length from a short prefix"
        );
        return;
    }
    let len = match key.decrypt_length(seq, &mut buf[..prefix]) {
        Ok(len) => len as usize,
        Err(e) => panic!("decrypt_length refused a full prefix: {e}"),
    };
    if len > MAX_PACKET {
        return;
    }
    let total = 4 + len + key.tag_len();
    let Some(packet) = buf.get_mut(..total) else {
        return;
    };
    // The key is fixed, so an input may hold a packet really sealed with it (the seeds do):
    // success is possible; forgeries are the business of the bit-flip checks below.
    match key.open(seq, packet) {
        Ok(()) => {}
        Err(CryptoError::MacMismatch | CryptoError::InvalidLength { .. }) => {}
        Err(e) => panic!("unexpected error from open: {e}"),
    }
}

fn seal_open(suite: (Option<CipherAlg>, Option<MacAlg>), seq: u32, knob: u8, rest: &[u8]) {
    let (flip_at, payload) = match rest {
        [a, b, payload @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), payload),
        _ => (0, rest),
    };
    if payload.is_empty() || payload.len() > MAX_PACKET {
        return;
    }
    let mut sealer = key_for(suite, 1);
    let mut plain = plaintext_packet(&sealer, payload, usize::from(knob));
    let body_len = plain.len() - sealer.tag_len();
    let expected = plain[..body_len].to_vec();
    if let Err(e) = sealer.seal(seq, &mut plain) {
        panic!("sealing a well-formed packet failed for {suite:?}: {e}");
    }
    let sealed = plain;

    // Opening the sealed packet gives the plaintext back.
    let mut wire = sealed.clone();
    let mut opener = key_for(suite, 1);
    let prefix = opener.length_prefix_len();
    let len = match opener.decrypt_length(seq, &mut wire[..prefix]) {
        Ok(len) => len as usize,
        Err(e) => panic!("decrypt_length failed on a sealed packet: {e}"),
    };
    assert_eq!(4 + len, body_len, "length changed through seal/open");
    if let Err(e) = opener.open(seq, &mut wire) {
        panic!("opening a sealed packet failed for {suite:?}: {e}");
    }
    assert_eq!(
        &wire[..body_len],
        &expected[..],
        "payload changed for {suite:?}"
    );

    // Another sequence number must not open it: chacha20-poly1305 uses it as the nonce and the
    // MACs cover it. (AES-GCM binds the order through its own invocation counter instead.)
    let binds_seq = suite
        .0
        .is_some_and(|c| !matches!(c, CipherAlg::Aes128Gcm | CipherAlg::Aes256Gcm));
    if binds_seq {
        let mut wire = sealed.clone();
        let mut opener = key_for(suite, 1);
        let other = seq.wrapping_add(1);
        if let Ok(l) = opener.decrypt_length(other, &mut wire[..prefix]) {
            if l as usize == len {
                assert!(
                    opener.open(other, &mut wire).is_err(),
                    "{suite:?} opened a packet under the wrong sequence number"
                );
            }
        }
    }

    // A flipped bit is refused by every authenticated suite.
    if suite.0.is_some() {
        let mut wire = sealed;
        let at = flip_at % wire.len();
        wire[at] ^= 1 << (knob % 8);
        let mut opener = key_for(suite, 1);
        match opener.decrypt_length(seq, &mut wire[..prefix]) {
            Ok(l) if l as usize == len => assert!(
                opener.open(seq, &mut wire).is_err(),
                "{suite:?} accepted a packet with byte {at} flipped"
            ),
            // A changed length makes the packet another size: the reader waits for more bytes
            // or refuses the length; either way these bytes are not accepted as this packet.
            Ok(_) | Err(_) => {}
        }
    }
}
