//! Every cipher × MAC: seal then open with a twin key, tampering, framing errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_crypto::{CipherAlg, CryptoError, DirectionKeys, MacAlg, PacketKey, Zeroizing};

/// All (cipher, mac) pairs the transport can negotiate.
fn combos() -> Vec<(CipherAlg, Option<MacAlg>)> {
    let mut v = Vec::new();
    for &c in CipherAlg::ALL {
        if c.is_aead() {
            v.push((c, None));
        } else {
            v.extend(MacAlg::ALL.iter().map(|&m| (c, Some(m))));
        }
    }
    v
}

fn keys(cipher: CipherAlg, mac: Option<MacAlg>, salt: u8) -> DirectionKeys {
    let fill = |n: usize, base: u8| {
        Zeroizing::new(
            (0..n)
                .map(|i| base ^ salt ^ (i as u8).wrapping_mul(31))
                .collect::<Vec<u8>>(),
        )
    };
    DirectionKeys {
        cipher,
        mac,
        enc_key: fill(cipher.key_len(), 0x11),
        iv: fill(cipher.iv_len(), 0x22),
        mac_key: fill(mac.map_or(0, MacAlg::key_len), 0x33),
    }
}

fn pair(cipher: CipherAlg, mac: Option<MacAlg>) -> (PacketKey, PacketKey) {
    (
        PacketKey::new(&keys(cipher, mac, 0)).unwrap(),
        PacketKey::new(&keys(cipher, mac, 0)).unwrap(),
    )
}

/// A plaintext packet with padding as RFC 4253 §6 asks, plus room for the tag.
fn build(key: &PacketKey, payload: &[u8]) -> Vec<u8> {
    let bs = key.block_size();
    let covered_base = if key.length_is_aad() {
        1 + payload.len()
    } else {
        5 + payload.len()
    };
    let mut pad = bs - covered_base % bs;
    if pad < 4 {
        pad += bs;
    }
    let packet_length = 1 + payload.len() + pad;
    let mut p = Vec::new();
    p.extend_from_slice(&(packet_length as u32).to_be_bytes());
    p.push(pad as u8);
    p.extend_from_slice(payload);
    p.extend((0..pad).map(|i| i as u8 ^ 0xa5));
    p.resize(p.len() + key.tag_len(), 0);
    p
}

/// Opens `wire` as a transport would: length first, then the whole packet.
fn receive(key: &mut PacketKey, seq: u32, wire: &mut [u8]) -> Result<usize, CryptoError> {
    let n = key.length_prefix_len();
    let len = key.decrypt_length(seq, &mut wire[..n])? as usize;
    let total = 4 + len + key.tag_len();
    assert!(
        total <= wire.len(),
        "decrypted length {len} beyond the buffer"
    );
    key.open(seq, &mut wire[..total])?;
    Ok(len)
}

#[test]
fn names_round_trip() {
    for &c in CipherAlg::ALL {
        assert_eq!(CipherAlg::from_name(c.name()), Some(c));
    }
    for &m in MacAlg::ALL {
        assert_eq!(MacAlg::from_name(m.name()), Some(m));
        assert_eq!(m.is_etm(), m.name().contains("-etm@"));
        assert_eq!(m.is_legacy(), m.name().starts_with("hmac-sha1"));
    }
    assert_eq!(CipherAlg::ALL.len(), 6);
    assert_eq!(CipherAlg::ALL[0], CipherAlg::Chacha20Poly1305);
    assert_eq!(CipherAlg::from_name("aes128-cbc"), None);
    assert_eq!(MacAlg::from_name("umac-64@openssh.com"), None);
}

#[test]
fn seal_open_every_combination() {
    let sizes = [0usize, 1, 7, 15, 16, 17, 100, 1000, 4096, 32768];
    for (cipher, mac) in combos() {
        let (mut tx, mut rx) = pair(cipher, mac);
        assert_eq!(tx.cipher(), Some(cipher));
        assert_eq!(tx.mac(), mac);
        assert_eq!(tx.block_size(), cipher.block_size());
        assert_eq!(tx.tag_len(), mac.map_or(16, MacAlg::tag_len));
        let aad = cipher.is_aead() || mac.is_some_and(MacAlg::is_etm);
        assert_eq!(tx.length_is_aad(), aad);
        assert_eq!(tx.length_prefix_len(), if aad { 4 } else { 16 });
        // sequence numbers wrap around 2^32 in the middle of the run
        let mut seq = u32::MAX - 4;
        for round in 0..2 {
            for &size in &sizes {
                let payload: Vec<u8> = (0..size).map(|i| (i * 7 + round) as u8).collect();
                let plain = build(&tx, &payload);
                let body = plain.len() - tx.tag_len();
                let mut wire = plain.clone();
                tx.seal(seq, &mut wire).unwrap();
                let start = if aad { 4 } else { 0 };
                assert_ne!(
                    &wire[start..body],
                    &plain[start..body],
                    "{cipher:?}/{mac:?} encrypts"
                );
                let len = receive(&mut rx, seq, &mut wire)
                    .unwrap_or_else(|e| panic!("{cipher:?}/{mac:?} size {size}: {e}"));
                assert_eq!(len + 4, body);
                assert_eq!(
                    &wire[..body],
                    &plain[..body],
                    "{cipher:?}/{mac:?} size {size}"
                );
                seq = seq.wrapping_add(1);
            }
        }
    }
}

#[test]
fn every_flipped_byte_is_refused() {
    for (cipher, mac) in combos() {
        let (mut tx, _) = pair(cipher, mac);
        let plain = build(&tx, b"the quick brown fox jumps over the lazy dog");
        let mut sealed = plain.clone();
        tx.seal(7, &mut sealed).unwrap();
        for pos in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[pos] ^= 0x40;
            let mut rx = PacketKey::new(&keys(cipher, mac, 0)).unwrap();
            // The transport reads the length first; a tampered length may decode to anything, so
            // open the original span regardless.
            let n = rx.length_prefix_len();
            rx.decrypt_length(7, &mut bad[..n]).unwrap();
            assert_eq!(
                rx.open(7, &mut bad),
                Err(CryptoError::MacMismatch),
                "{cipher:?}/{mac:?}: byte {pos} of {}",
                sealed.len()
            );
        }
        // A different key is refused as well.
        let mut other = PacketKey::new(&keys(cipher, mac, 1)).unwrap();
        let mut wire = sealed.clone();
        let n = other.length_prefix_len();
        other.decrypt_length(7, &mut wire[..n]).unwrap();
        assert_eq!(other.open(7, &mut wire), Err(CryptoError::MacMismatch));
        // So is a wrong sequence number, except for GCM, whose nonce is its own counter
        // (RFC 5647 §7.1) and does not include the sequence number.
        if !matches!(cipher, CipherAlg::Aes128Gcm | CipherAlg::Aes256Gcm) {
            let mut rx = PacketKey::new(&keys(cipher, mac, 0)).unwrap();
            let mut wire = sealed.clone();
            let n = rx.length_prefix_len();
            rx.decrypt_length(8, &mut wire[..n]).unwrap();
            assert_eq!(
                rx.open(8, &mut wire),
                Err(CryptoError::MacMismatch),
                "{cipher:?}/{mac:?}"
            );
        }
    }
}

#[test]
fn gcm_counter_keeps_both_sides_in_step() {
    // Opening the second packet with a fresh key (counter not advanced) fails.
    for cipher in [CipherAlg::Aes128Gcm, CipherAlg::Aes256Gcm] {
        let (mut tx, mut rx) = pair(cipher, None);
        let mut a = build(&tx, b"first");
        let mut b = build(&tx, b"second");
        tx.seal(0, &mut a).unwrap();
        tx.seal(1, &mut b).unwrap();
        let mut fresh = PacketKey::new(&keys(cipher, None, 0)).unwrap();
        assert_eq!(fresh.open(1, &mut b.clone()), Err(CryptoError::MacMismatch));
        receive(&mut rx, 0, &mut a).unwrap();
        receive(&mut rx, 1, &mut b).unwrap();
    }
}

#[test]
fn none_is_identity() {
    let mut k = PacketKey::none();
    assert_eq!(
        (k.block_size(), k.tag_len(), k.length_prefix_len()),
        (8, 0, 4)
    );
    assert!(!k.length_is_aad());
    assert_eq!(k.cipher(), None);
    let plain = build(&k, b"hello");
    let mut wire = plain.clone();
    k.seal(3, &mut wire).unwrap();
    assert_eq!(wire, plain);
    assert_eq!(receive(&mut k, 3, &mut wire).unwrap() + 4, plain.len());
    assert_eq!(wire, plain);
}

#[test]
fn bad_keys_are_refused() {
    for (cipher, mac) in combos() {
        let mut k = keys(cipher, mac, 0);
        k.enc_key.push(0);
        assert!(matches!(
            PacketKey::new(&k),
            Err(CryptoError::InvalidLength { .. })
        ));
        let mut k = keys(cipher, mac, 0);
        k.iv.push(0);
        assert!(matches!(
            PacketKey::new(&k),
            Err(CryptoError::InvalidLength { .. })
        ));
        if let Some(m) = mac {
            let mut k = keys(cipher, Some(m), 0);
            k.mac_key.pop();
            assert!(matches!(
                PacketKey::new(&k),
                Err(CryptoError::InvalidLength { .. })
            ));
            let k = keys(cipher, None, 0);
            assert!(matches!(
                PacketKey::new(&k),
                Err(CryptoError::Unsupported(_))
            ));
        }
    }
}

#[test]
fn framing_errors() {
    for (cipher, mac) in combos() {
        let (mut tx, mut rx) = pair(cipher, mac);
        // short length prefix
        let mut short = vec![0u8; rx.length_prefix_len() - 1];
        assert!(matches!(
            rx.decrypt_length(0, &mut short),
            Err(CryptoError::InvalidLength { .. })
        ));
        // misaligned packets are refused on both sides
        let mut p = build(&tx, b"x");
        p.insert(5, 0);
        assert!(matches!(
            tx.seal(0, &mut p),
            Err(CryptoError::InvalidLength { .. })
        ));
        assert!(matches!(
            rx.open(0, &mut p),
            Err(CryptoError::InvalidLength { .. })
        ));
        // shorter than the tag, and empty
        let mut tiny = vec![0u8; rx.tag_len().saturating_sub(1)];
        assert!(matches!(
            rx.open(0, &mut tiny),
            Err(CryptoError::InvalidLength { .. })
        ));
        let mut bare = vec![0u8; 4 + rx.tag_len()];
        assert!(matches!(
            rx.open(0, &mut bare),
            Err(CryptoError::InvalidLength { .. })
        ));
    }
}

#[test]
fn debug_hides_keys() {
    let (tx, _) = pair(CipherAlg::Aes256Ctr, Some(MacAlg::HmacSha512Etm));
    let s = format!("{tx:?}");
    assert!(
        s.contains("aes256-ctr") && s.contains("hmac-sha2-512-etm"),
        "{s}"
    );
    let k = keys(CipherAlg::Aes256Ctr, None, 0);
    assert!(!format!("{k:?}").contains("enc_key"));
}

#[test]
fn keys_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<PacketKey>();
    assert_send_sync::<nacre_crypto::EcdhPrivateKey>();
    assert_send_sync::<nacre_crypto::DhPrivateKey>();
    assert_send_sync::<nacre_crypto::SharedSecret>();
    assert_send::<nacre_crypto::SeededRng>();
    assert_send::<nacre_crypto::SystemRng>();
}
