//! The inflate side of compression ([`crate::compress`]): what a peer's compressed packets may do.

use super::Input;
use crate::compress::{Deflater, Inflater};
use nacre_wire::DisconnectReason;

/// One receiving zlib stream fed arbitrary packets, and the deflate → inflate round trip.
///
/// `data[0]` picks the inflate limit (64 B, 4 KiB, 35 000 B or 256 KiB), `data[1]` the mode:
/// - even: the rest is a list of packets (`u8 length`, bytes) inflated in turn by one stream.
///   Nothing may panic; an accepted packet inflates to at most the limit; an error is a
///   COMPRESSION_ERROR and ends the stream (a decompression bomb or a corrupt stream).
/// - odd: the rest is a list of payloads deflated by one stream and inflated by another: each
///   comes back unchanged.
pub fn packet_inflate(data: &[u8]) {
    let mut input = Input::new(data);
    let max = [64, 4096, 35_000, 256 * 1024][usize::from(input.u8() & 3)];
    let mode = input.u8();
    if mode & 1 == 0 {
        let mut inflater = Inflater::new(max);
        while !input.is_empty() {
            let packet = input.short();
            match inflater.decompress(packet) {
                Ok(out) => assert!(out.len() <= max),
                Err(e) => {
                    assert_eq!(e.reason(), DisconnectReason::COMPRESSION_ERROR);
                    return;
                }
            }
        }
        return;
    }
    let mut deflater = Deflater::new();
    let mut inflater = Inflater::new(256 * 1024);
    while !input.is_empty() {
        let payload = input.short();
        let mut wire = Vec::new();
        deflater.compress(payload, &mut wire).unwrap();
        assert_eq!(inflater.decompress(&wire).unwrap(), payload);
    }
}
