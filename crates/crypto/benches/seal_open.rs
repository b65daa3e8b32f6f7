//! Seal + open of one 32 KiB packet through `PacketKey`, next to ring's raw AEADs on the same
//! bytes. Never asserted; run with `cargo bench -p nacre-crypto --bench seal_open`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nacre_crypto::{CipherAlg, DirectionKeys, MacAlg, PacketKey, Zeroizing};
use ring::aead::{self, chacha20_poly1305_openssh as openssh};

const SIZE: usize = 32 * 1024;

fn keys(cipher: CipherAlg, mac: Option<MacAlg>) -> DirectionKeys {
    DirectionKeys {
        cipher,
        mac,
        enc_key: Zeroizing::new(vec![0x11; cipher.key_len()]),
        iv: Zeroizing::new(vec![0x22; cipher.iv_len()]),
        mac_key: Zeroizing::new(vec![0x33; mac.map_or(0, MacAlg::key_len)]),
    }
}

/// A packet whose encrypted part is SIZE bytes, with its tag space.
fn packet(key: &PacketKey) -> Vec<u8> {
    let (body, packet_length) = if key.length_is_aad() {
        (4 + SIZE, SIZE)
    } else {
        (SIZE, SIZE - 4)
    };
    let mut p = vec![0x5a; body + key.tag_len()];
    p[..4].copy_from_slice(&(packet_length as u32).to_be_bytes());
    p[4] = 4;
    p
}

fn packet_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal_open_32k");
    group.throughput(Throughput::Bytes(SIZE as u64));
    let configs = [
        ("nacre/aes128-gcm", CipherAlg::Aes128Gcm, None),
        ("nacre/aes256-gcm", CipherAlg::Aes256Gcm, None),
        ("nacre/chacha20-poly1305", CipherAlg::Chacha20Poly1305, None),
        (
            "nacre/aes128-ctr+hmac-sha2-256-etm",
            CipherAlg::Aes128Ctr,
            Some(MacAlg::HmacSha256Etm),
        ),
        (
            "nacre/aes128-ctr+hmac-sha2-256",
            CipherAlg::Aes128Ctr,
            Some(MacAlg::HmacSha256),
        ),
    ];
    for (name, cipher, mac) in configs {
        let mut tx = PacketKey::new(&keys(cipher, mac)).unwrap();
        let mut rx = PacketKey::new(&keys(cipher, mac)).unwrap();
        let mut buf = packet(&tx);
        let prefix = rx.length_prefix_len();
        let mut seq = 0u32;
        group.bench_function(name, |b| {
            b.iter(|| {
                tx.seal(seq, &mut buf).unwrap();
                rx.decrypt_length(seq, &mut buf[..prefix]).unwrap();
                rx.open(seq, &mut buf).unwrap();
                seq = seq.wrapping_add(1);
            })
        });
    }

    for (name, alg) in [
        ("ring/aes128-gcm", &aead::AES_128_GCM),
        ("ring/aes256-gcm", &aead::AES_256_GCM),
    ] {
        let key =
            aead::LessSafeKey::new(aead::UnboundKey::new(alg, &vec![0x11; alg.key_len()]).unwrap());
        let mut buf = vec![0x5a; SIZE];
        let aad = [0u8, 0, 0x80, 0];
        group.bench_function(name, |b| {
            b.iter(|| {
                let nonce = || aead::Nonce::assume_unique_for_key([0x22; 12]);
                let tag = key
                    .seal_in_place_separate_tag(nonce(), aead::Aad::from(aad), &mut buf)
                    .unwrap();
                key.open_in_place_separate_tag(nonce(), aead::Aad::from(aad), tag, &mut buf, 0..)
                    .unwrap();
            })
        });
    }

    let material = [0x11u8; openssh::KEY_LEN];
    let (sealing, opening) = (
        openssh::SealingKey::new(&material),
        openssh::OpeningKey::new(&material),
    );
    let mut buf = vec![0x5a; 4 + SIZE];
    let mut tag = [0u8; openssh::TAG_LEN];
    group.bench_function("ring/chacha20-poly1305-openssh", |b| {
        b.iter(|| {
            sealing.seal_in_place(1, &mut buf, &mut tag);
            opening.open_in_place(1, &mut buf, &tag).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, packet_key);
criterion_main!(benches);
