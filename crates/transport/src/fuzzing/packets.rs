//! The packet reader (framing, padding, MAC and AEAD paths) for every cipher and MAC.

use bytes::BytesMut;
use nacre_crypto::fuzzing::{key_for, suites};

use super::Input;
use crate::error::TransportError;
use crate::packet::{PacketReader, PacketWriter};

/// The packet reader of every cipher and MAC (and of the initial `none` state).
///
/// `data[0]` picks the suite, `data[1]` the packet size limit and the chunk size, `data[2]` the
/// mode:
/// - even: the rest is received bytes, fed in chunks to a reader keyed as the seeds were sealed
///   (so mutated real packets reach the padding and length checks behind the MAC). Nothing may
///   panic; an accepted payload is non-empty and within the size limit; an error is final.
/// - odd: the rest is a list of payloads (`u8 length`, bytes) written by a [`PacketWriter`] with
///   the same keys and read back in chunks: the payloads and sequence numbers must come back
///   unchanged. Then one byte of the stream, chosen by `data[3..5]`, is flipped: an authenticated
///   reader must fail (or keep waiting) rather than return a payload that was not written.
pub fn packet_reader(data: &[u8]) {
    let mut input = Input::new(data);
    let all = suites();
    let suite = all[usize::from(input.u8()) % all.len()];
    let sizes = input.u8();
    let max_len = [35_000, 256 * 1024, 64, 1 << 20][usize::from(sizes & 3)];
    let chunk = usize::from(sizes >> 2) + 1;
    let mode = input.u8();
    let authenticated = suite.0.is_some();
    if mode & 1 == 0 {
        let rest = input.bytes(usize::MAX);
        let mut reader = PacketReader::new(max_len);
        reader.set_key(key_for(suite, 0), false);
        let mut buf = BytesMut::new();
        'feed: for piece in rest.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match reader.next_packet(&mut buf) {
                    Ok(Some(p)) => {
                        assert!(!p.payload.is_empty());
                        assert!(p.payload.len() <= max_len);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        check_error(&e);
                        break 'feed;
                    }
                }
            }
        }
        return;
    }

    let flip = usize::from(input.u16());
    let mut payloads = Vec::new();
    while !input.is_empty() && payloads.len() < 64 {
        let p = input.short();
        if !p.is_empty() {
            payloads.push(p.to_vec());
        }
    }
    let mut writer = PacketWriter::new([3; 32]);
    writer.set_key(key_for(suite, 1), false);
    let mut wire = Vec::new();
    for p in &payloads {
        if let Err(e) = writer.write(&mut wire, p) {
            panic!("writing a {} byte payload failed: {e}", p.len());
        }
    }
    // Read back.
    let read = read_all(suite, &wire, chunk, 1 << 20);
    match read {
        Ok((got, rest)) => {
            assert_eq!(got, payloads, "payloads changed through {suite:?}");
            assert_eq!(rest, 0, "bytes left after the last packet");
        }
        Err(e) => panic!("reading back sealed packets failed for {suite:?}: {e}"),
    }
    // A flipped bit.
    if authenticated && !wire.is_empty() {
        let at = flip % wire.len();
        wire[at] ^= 1 << (mode >> 5);
        if let Ok((got, _)) = read_all(suite, &wire, chunk, 1 << 20) {
            assert!(
                got.iter().zip(&payloads).all(|(a, b)| a == b),
                "{suite:?} returned a payload that was not written (byte {at} flipped)"
            );
            assert!(
                got.len() < payloads.len(),
                "{suite:?} read every packet with byte {at} flipped"
            );
        }
    }
}

/// Reads every packet of `wire` in chunks: the payloads, and the bytes left unread.
fn read_all(
    suite: (
        Option<nacre_crypto::CipherAlg>,
        Option<nacre_crypto::MacAlg>,
    ),
    wire: &[u8],
    chunk: usize,
    max_len: usize,
) -> Result<(Vec<Vec<u8>>, usize), TransportError> {
    let mut reader = PacketReader::new(max_len);
    reader.set_key(key_for(suite, 1), false);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(p) = reader.next_packet(&mut buf)? {
            assert_eq!(p.seq as usize, got.len(), "sequence numbers out of step");
            got.push(p.payload.to_vec());
        }
    }
    Ok((got, buf.len()))
}

fn check_error(e: &TransportError) {
    // Every reader error is a clean, reportable protocol error.
    let _ = e.reason();
    let _ = e.description();
}
