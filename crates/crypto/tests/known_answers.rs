//! AES-GCM against the RustCrypto `aes-gcm` crate, AES-CTR against NIST SP 800-38A, all through
//! `PacketKey`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use nacre_crypto::{CipherAlg, DirectionKeys, MacAlg, PacketKey, Zeroizing};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn key(cipher: CipherAlg, mac: Option<MacAlg>, enc: &[u8], iv: &[u8], mac_key: &[u8]) -> PacketKey {
    PacketKey::new(&DirectionKeys {
        cipher,
        mac,
        enc_key: Zeroizing::new(enc.to_vec()),
        iv: Zeroizing::new(iv.to_vec()),
        mac_key: Zeroizing::new(mac_key.to_vec()),
    })
    .unwrap()
}

/// RustCrypto's AES-GCM over `len || rest` with `len` as AAD: returns ciphertext || tag.
fn rustcrypto_gcm(cipher: CipherAlg, k: &[u8], nonce: &[u8; 12], body: &[u8]) -> Vec<u8> {
    let (aad, rest) = body.split_at(4);
    let mut buf = rest.to_vec();
    let n = aes_gcm::Nonce::from_slice(nonce);
    let tag = match cipher {
        CipherAlg::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(k)
            .unwrap()
            .encrypt_in_place_detached(n, aad, &mut buf),
        CipherAlg::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(k)
            .unwrap()
            .encrypt_in_place_detached(n, aad, &mut buf),
        _ => unreachable!(),
    }
    .unwrap();
    [aad, &buf, tag.as_slice()].concat()
}

#[test]
fn aes_gcm_matches_rustcrypto() {
    for cipher in [CipherAlg::Aes128Gcm, CipherAlg::Aes256Gcm] {
        let k: Vec<u8> = (0..cipher.key_len() as u8)
            .map(|i| i.wrapping_mul(13) ^ 0x5c)
            .collect();
        // The invocation counter starts two below 2^64 so it wraps (RFC 5647 §7.1: the fixed
        // field never changes).
        let iv = h("a1a2a3a4 fffffffffffffffe");
        let mut tx = key(cipher, None, &k, &iv, &[]);
        let mut rx = key(cipher, None, &k, &iv, &[]);
        let counters = [0xffff_ffff_ffff_fffe_u64, 0xffff_ffff_ffff_ffff, 0, 1];
        for (i, &ctr) in counters.iter().enumerate() {
            let payload_len = 16 * i + 11; // 1 + payload + 4 padding = multiple of 16
            let packet_length = 1 + payload_len + 4;
            let mut body = (packet_length as u32).to_be_bytes().to_vec();
            body.push(4);
            body.extend((0..payload_len).map(|j| (j * 3 + i) as u8));
            body.extend([0u8; 4]);
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&iv[..4]);
            nonce[4..].copy_from_slice(&ctr.to_be_bytes());
            let want = rustcrypto_gcm(cipher, &k, &nonce, &body);

            let mut wire = body.clone();
            wire.resize(body.len() + 16, 0);
            tx.seal(i as u32, &mut wire).unwrap();
            assert_eq!(
                hex::encode(&wire),
                hex::encode(&want),
                "{cipher:?} packet {i}"
            );

            // and RustCrypto's output opens with ours
            let mut theirs = want.clone();
            assert_eq!(
                rx.decrypt_length(i as u32, &mut theirs[..4]).unwrap() as usize,
                packet_length
            );
            rx.open(i as u32, &mut theirs).unwrap();
            assert_eq!(&theirs[..body.len()], &body[..]);
        }
    }
}

/// NIST SP 800-38A appendix F.5 (CTR-AES*.Encrypt), counter block f0f1..feff.
const CTR_IV: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
const CTR_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
                         30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
const CTR_CASES: [(CipherAlg, &str, &str); 3] = [
    (
        CipherAlg::Aes128Ctr, // F.5.1
        "2b7e151628aed2a6abf7158809cf4f3c",
        "874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
         5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee",
    ),
    (
        CipherAlg::Aes192Ctr, // F.5.3
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        "1abc932417521ca24f2b0459fe7e6e0b 090339ec0aa6faefd5ccc2c6f4ce8e94
         1e36b26bd1ebc670d1bd1d665620abf7 4f78a7f6d29809585a97daec58c6b050",
    ),
    (
        CipherAlg::Aes256Ctr, // F.5.5
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        "601ec313775789a5b7a7f504bbf3d228 f443e3ca4d62b59aca84e990cacaf5c5
         2b0930daa23de94ce87017ba2d84988d dfc9c58db67aada613c2dd08457941a6",
    ),
];

#[test]
fn aes_ctr_sp800_38a_plain_mac() {
    // With a plain MAC the whole packet is encrypted: two 32-byte packets take the four blocks,
    // showing the keystream carries over from one packet to the next (RFC 4344 §4).
    let mac_key = [0x42u8; 32];
    for (cipher, k, ct) in CTR_CASES {
        let (plain, ct) = (h(CTR_PLAIN), h(ct));
        let mut tx = key(
            cipher,
            Some(MacAlg::HmacSha256),
            &h(k),
            &h(CTR_IV),
            &mac_key,
        );
        let mut rx = key(
            cipher,
            Some(MacAlg::HmacSha256),
            &h(k),
            &h(CTR_IV),
            &mac_key,
        );
        for (seq, half) in [(5u32, 0..32), (6, 32..64)] {
            let mut wire = plain[half.clone()].to_vec();
            wire.resize(32 + 32, 0);
            tx.seal(seq, &mut wire).unwrap();
            assert_eq!(
                hex::encode(&wire[..32]),
                hex::encode(&ct[half.clone()]),
                "{cipher:?}"
            );
            let mac = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &mac_key),
                &[&seq.to_be_bytes()[..], &plain[half.clone()]].concat(),
            );
            assert_eq!(&wire[32..], mac.as_ref(), "MAC over seq || plaintext");
            // the receiver decrypts the first block in place to learn the length
            let len = rx.decrypt_length(seq, &mut wire[..16]).unwrap();
            assert_eq!(&wire[..16], &plain[half.start..half.start + 16]);
            assert_eq!(
                len,
                u32::from_be_bytes(plain[half.start..half.start + 4].try_into().unwrap())
            );
            rx.open(seq, &mut wire).unwrap();
            assert_eq!(&wire[..32], &plain[half]);
        }
    }
}

#[test]
fn aes_ctr_sp800_38a_etm() {
    // With ETM the 4-byte length stays clear and the keystream starts after it; the MAC covers
    // seq || length || ciphertext.
    let mac_key = [0x24u8; 64];
    for (cipher, k, ct) in CTR_CASES {
        let (plain, ct) = (h(CTR_PLAIN), h(ct));
        let mut tx = key(
            cipher,
            Some(MacAlg::HmacSha512Etm),
            &h(k),
            &h(CTR_IV),
            &mac_key,
        );
        let mut rx = key(
            cipher,
            Some(MacAlg::HmacSha512Etm),
            &h(k),
            &h(CTR_IV),
            &mac_key,
        );
        let mut wire = 64u32.to_be_bytes().to_vec();
        wire.extend_from_slice(&plain);
        wire.resize(4 + 64 + 64, 0);
        tx.seal(0, &mut wire).unwrap();
        assert_eq!(hex::encode(&wire[4..68]), hex::encode(&ct), "{cipher:?}");
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA512, &mac_key),
            &[&[0u8; 4][..], &wire[..68]].concat(),
        );
        assert_eq!(&wire[68..], mac.as_ref());
        assert_eq!(rx.decrypt_length(0, &mut wire[..4]).unwrap(), 64);
        rx.open(0, &mut wire).unwrap();
        assert_eq!(&wire[4..68], &plain[..]);
    }
}
