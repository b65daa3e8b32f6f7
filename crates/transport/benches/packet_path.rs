//! Seal + open of 32 KiB payloads through the whole packet path (framing, padding, sequence
//! numbers, `PacketWriter` into the output buffer, `PacketReader` from the input buffer), next to
//! ring's raw AEAD sealing and opening the same number of bytes in place. Never asserted.
//!
//! `cargo bench -p nacre-transport --bench packet_path`; the ratios go to docs/PERFORMANCE.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nacre_crypto::{CipherAlg, DirectionKeys, MacAlg, PacketKey, Zeroizing};
use nacre_transport::packet::{PacketReader, PacketWriter};
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

fn packet_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_path_32k");
    group.throughput(Throughput::Bytes(SIZE as u64));
    let configs = [
        ("aes128-gcm", CipherAlg::Aes128Gcm, None),
        ("aes256-gcm", CipherAlg::Aes256Gcm, None),
        ("chacha20-poly1305", CipherAlg::Chacha20Poly1305, None),
        (
            "aes128-ctr+hmac-sha2-256-etm",
            CipherAlg::Aes128Ctr,
            Some(MacAlg::HmacSha256Etm),
        ),
    ];
    let mut payload = vec![0x5a; SIZE];
    payload[0] = 94;
    for (name, cipher, mac) in configs {
        let mut writer = PacketWriter::new([7; 32]);
        writer.set_key(PacketKey::new(&keys(cipher, mac)).unwrap(), true);
        let mut reader = PacketReader::new(256 * 1024);
        reader.set_key(PacketKey::new(&keys(cipher, mac)).unwrap(), true);
        let mut out = Vec::with_capacity(SIZE + 256);
        let mut input = BytesMut::with_capacity(4 * SIZE);
        group.bench_function(format!("nacre/{name}"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    out.clear();
                    writer.write(&mut out, &payload).unwrap();
                    spent += start.elapsed();
                    // The socket: the runtime reads straight into the transport's input buffer
                    // (`Transport::receive_buffer`), so this copy is the kernel's, not nacre's,
                    // and is left out of the time.
                    input.extend_from_slice(&out);
                    let start = Instant::now();
                    let p = reader.next_packet(&mut input).unwrap().unwrap();
                    assert_eq!(p.payload.len(), SIZE);
                    drop(p);
                    spent += start.elapsed();
                }
                spent
            })
        });
    }
    raw_ring(&mut group);
    group.finish();
}

fn raw_ring(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    for (name, alg) in [
        ("aes128-gcm", &aead::AES_128_GCM),
        ("aes256-gcm", &aead::AES_256_GCM),
    ] {
        let key =
            aead::LessSafeKey::new(aead::UnboundKey::new(alg, &vec![0x11; alg.key_len()]).unwrap());
        let mut buf = vec![0x5a; SIZE];
        group.bench_function(format!("raw/{name}"), |b| {
            b.iter(|| {
                let nonce = || aead::Nonce::assume_unique_for_key([1; 12]);
                let tag = key
                    .seal_in_place_separate_tag(nonce(), aead::Aad::from([0u8; 4]), &mut buf)
                    .unwrap();
                let mut whole = std::mem::take(&mut buf);
                whole.extend_from_slice(tag.as_ref());
                let n = key
                    .open_in_place(nonce(), aead::Aad::from([0u8; 4]), &mut whole)
                    .unwrap()
                    .len();
                whole.truncate(n);
                buf = whole;
            })
        });
    }
    raw_chacha(group);
    // ring's own construct, which nacre used before (its Poly1305 is portable C on x86_64).
    let seal = openssh::SealingKey::new(&[0x11; 64]);
    let open = openssh::OpeningKey::new(&[0x11; 64]);
    let mut buf = vec![0x5a; SIZE + 4];
    group.bench_function("ring-openssh/chacha20-poly1305", |b| {
        b.iter(|| {
            let mut tag = [0u8; openssh::TAG_LEN];
            seal.seal_in_place(3, &mut buf, &mut tag);
            open.open_in_place(3, &mut buf, &tag).unwrap();
        })
    });
}

/// The primitives nacre's chacha20-poly1305@openssh.com is built from (RustCrypto `chacha20` and
/// `poly1305`), applied directly: K_1 over the length, K_2's block 0 as the Poly1305 key, K_2 from
/// block 1 over the rest, the tag over the ciphertext; then the tag check and the decryption.
fn raw_chacha(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    use poly1305::universal_hash::KeyInit;
    let (k2, k1) = ([0x11u8; 32], [0x12u8; 32]);
    let streams = |seq: u64| {
        let nonce = seq.to_be_bytes();
        let header = chacha20::ChaCha20Legacy::new(&k1.into(), &nonce.into());
        let mut main = chacha20::ChaCha20Legacy::new(&k2.into(), &nonce.into());
        let mut block0 = [0u8; 64];
        main.apply_keystream(&mut block0);
        let poly_key: [u8; 32] = block0[..32].try_into().unwrap();
        (header, main, poly1305::Poly1305::new(&poly_key.into()))
    };
    let mut buf = vec![0x5a; SIZE + 4];
    group.bench_function("raw/chacha20-poly1305", |b| {
        b.iter(|| {
            let (mut header, mut main, mac) = streams(3);
            header.apply_keystream(&mut buf[..4]);
            main.apply_keystream(&mut buf[4..]);
            let tag = mac.compute_unpadded(&buf);
            let (mut header, mut main, mac) = streams(3);
            assert_eq!(mac.compute_unpadded(&buf), tag);
            header.apply_keystream(&mut buf[..4]);
            main.apply_keystream(&mut buf[4..]);
        })
    });
}

criterion_group!(benches, packet_path);
criterion_main!(benches);
