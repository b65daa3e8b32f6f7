#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use super::*;

fn text(seed: u64, len: usize) -> Vec<u8> {
    // Compressible but not trivial: words from a small vocabulary chosen by an LCG.
    let words: [&[u8]; 6] = [b"ssh ", b"nacre ", b"zlib ", b"packet ", b"deflate ", b"\n"];
    let mut x = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(words[(x >> 60) as usize % words.len()]);
    }
    out.truncate(len);
    out
}

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn names_round_trip() {
    for alg in CompressionAlg::ALL {
        assert_eq!(CompressionAlg::from_name(alg.name()), Some(alg));
    }
    assert_eq!(
        CompressionAlg::from_name("zlib@openssh.com"),
        Some(CompressionAlg::ZlibOpenssh)
    );
    assert_eq!(CompressionAlg::from_name("gzip"), None);
    assert!(CompressionAlg::ZlibOpenssh.is_delayed() && !CompressionAlg::Zlib.is_delayed());
    assert!(!CompressionAlg::None.compresses());
}

/// One stream across many packets: each packet inflates on its own to exactly what was
/// deflated (sync flush), compressible text shrinks, random bytes survive.
#[test]
fn a_stream_of_packets_round_trips() {
    let mut d = Deflater::new();
    let mut i = Inflater::new(256 * 1024);
    let mut wire = 0usize;
    let mut plain = 0usize;
    for n in 0..300u64 {
        let payload = match n % 3 {
            0 => text(n, 1 + (n as usize * 997) % 40_000),
            1 => noise(n, 1 + (n as usize * 131) % 9_000),
            _ => vec![94, 0, 0, 0, 1],
        };
        let mut out = Vec::new();
        d.compress(&payload, &mut out).unwrap();
        wire += out.len();
        plain += payload.len();
        assert_eq!(i.decompress(&out).unwrap(), &payload[..], "packet {n}");
    }
    assert!(wire < plain / 2, "{wire} bytes on the wire for {plain}");
}

/// The stream starts with a zlib header (RFC 1950: CMF 0x78), as OpenSSH's deflateInit writes.
#[test]
fn the_stream_has_a_zlib_header() {
    let mut out = Vec::new();
    Deflater::new().compress(b"\x5ehello", &mut out).unwrap();
    assert_eq!(out[0], 0x78);
    assert_eq!((u16::from(out[0]) << 8 | u16::from(out[1])) % 31, 0);
    // Sync flush: the packet ends with an empty stored block.
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
}

/// A peer flushing as OpenSSH does (`Z_PARTIAL_FLUSH`) inflates packet by packet.
#[test]
fn partial_flush_packets_inflate() {
    let mut c = Compress::new(Compression::new(6), true);
    let mut i = Inflater::new(256 * 1024);
    for n in 0..50u64 {
        let payload = text(n, 100 + n as usize * 300);
        let mut out = Vec::with_capacity(payload.len() + 1024);
        c.compress_vec(&payload, &mut out, FlushCompress::Partial)
            .unwrap();
        assert_eq!(i.decompress(&out).unwrap(), &payload[..], "packet {n}");
    }
}

/// A packet may inflate to exactly the limit; one byte more is a decompression bomb, and the
/// output buffer never grows past the limit.
#[test]
fn inflating_stops_at_the_limit() {
    let max = 64 * 1024;
    let mut d = Deflater::new();
    let mut i = Inflater::new(max);
    let mut out = Vec::new();
    d.compress(&vec![0u8; max], &mut out).unwrap();
    assert_eq!(i.decompress(&out).unwrap().len(), max);

    let mut d = Deflater::new();
    let mut i = Inflater::new(max);
    let mut out = Vec::new();
    d.compress(&vec![0u8; max + 1], &mut out).unwrap();
    assert!(matches!(
        i.decompress(&out),
        Err(TransportError::Compression(_))
    ));
    assert!(i.scratch.capacity() <= max + 1, "{}", i.scratch.capacity());
}

/// A bomb: 64 MiB of zeros deflate to ~64 KiB; inflating stops at the limit with an error
/// whose DISCONNECT reason is COMPRESSION_ERROR.
#[test]
fn a_decompression_bomb_is_an_error_not_memory() {
    let mut d = Deflater::new();
    let mut bomb = Vec::new();
    for _ in 0..64 {
        d.compress(&vec![0u8; 1 << 20], &mut bomb).unwrap();
    }
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    let mut i = Inflater::new(256 * 1024);
    let err = i.decompress(&bomb).unwrap_err();
    assert_eq!(
        err.reason(),
        nacre_wire::DisconnectReason::COMPRESSION_ERROR
    );
    assert!(i.scratch.capacity() <= 256 * 1024 + 1);
}

/// Corrupt data, a missing header and a truncated stream are errors, never a panic.
#[test]
fn corrupt_streams_are_errors() {
    let mut i = Inflater::new(1024);
    assert!(i.decompress(b"\x00\x01\x02\x03garbage").is_err());
    let mut out = Vec::new();
    Deflater::new().compress(&text(1, 5000), &mut out).unwrap();
    // Flip bits in the middle of the deflate data.
    let mut bad = out.clone();
    for b in bad.iter_mut().skip(10).take(20) {
        *b ^= 0xa5;
    }
    let r = Inflater::new(1 << 20).decompress(&bad).map(<[u8]>::to_vec);
    assert!(r.is_err() || r.unwrap() != text(1, 5000));
    // Every prefix and every byte changed: never a panic.
    for cut in 0..out.len() {
        let _ = Inflater::new(8192).decompress(&out[..cut]);
        let mut m = out.clone();
        m[cut] = m[cut].wrapping_add(1);
        let _ = Inflater::new(8192).decompress(&m);
    }
}

#[test]
fn direction_states_follow_newkeys_and_authentication() {
    let mut s = DirectionState::after_newkeys(CompressionAlg::ZlibOpenssh, false, || 1u8);
    assert!(!s.is_on());
    s.authenticated(|| 2u8);
    assert_eq!(s.stream().copied(), Some(2));
    let s = DirectionState::after_newkeys(CompressionAlg::ZlibOpenssh, true, || 3u8);
    assert!(s.is_on());
    let s = DirectionState::after_newkeys(CompressionAlg::Zlib, false, || 4u8);
    assert!(s.is_on());
    let mut s = DirectionState::after_newkeys(CompressionAlg::None, true, || 5u8);
    s.authenticated(|| 6u8);
    assert!(!s.is_on());
}
