#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The frame decoder: any split, the 256 KiB cap, errors that stick.

use nacre_sftp_codec::*;
use nacre_wire::{Encode, WireError};

/// A stream of assorted frames.
fn stream() -> (Vec<u8>, Vec<Vec<u8>>) {
    let payload = vec![0x5a; 40_000];
    let msgs: Vec<Vec<u8>> = vec![
        Init::v3().to_bytes(),
        Open {
            id: 1,
            filename: b"f",
            pflags: OpenFlags::READ,
            attrs: FileAttributes::EMPTY,
        }
        .to_bytes(),
        Write {
            id: 2,
            handle: b"h",
            offset: 0,
            data: &payload,
        }
        .to_bytes(),
        Status::ok(2).to_bytes(),
        Limits { id: 3 }.to_bytes(),
        Data { id: 4, data: &[] }.to_bytes(),
    ];
    let mut out = Vec::new();
    for m in &msgs {
        out.extend_from_slice(&(m.len() as u32).to_be_bytes());
        out.extend_from_slice(m);
    }
    (out, msgs)
}

fn drain(dec: &mut FrameDecoder, into: &mut Vec<Vec<u8>>) {
    while let Some(frame) = dec.next_frame().unwrap() {
        into.push(frame.bytes().to_vec());
    }
}

#[test]
fn one_byte_at_a_time() {
    let (bytes, msgs) = stream();
    let mut dec = FrameDecoder::new();
    let mut got = Vec::new();
    for b in &bytes {
        dec.push(std::slice::from_ref(b)).unwrap();
        drain(&mut dec, &mut got);
    }
    assert_eq!(got, msgs);
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn all_at_once_and_in_odd_chunks() {
    let (bytes, msgs) = stream();
    for chunk in [1usize, 2, 3, 4, 5, 7, 13, 4096, 40_009, bytes.len()] {
        let mut dec = FrameDecoder::new();
        let mut got = Vec::new();
        for c in bytes.chunks(chunk) {
            dec.push(c).unwrap();
            drain(&mut dec, &mut got);
        }
        assert_eq!(got, msgs, "chunk {chunk}");
    }
    // Pushing everything before draining works too.
    let mut dec = FrameDecoder::new();
    for c in bytes.chunks(3) {
        dec.push(c).unwrap();
    }
    let mut got = Vec::new();
    drain(&mut dec, &mut got);
    assert_eq!(got, msgs);
}

#[test]
fn frames_decode_as_messages() {
    let (bytes, _) = stream();
    let mut dec = FrameDecoder::new();
    dec.push(&bytes).unwrap();
    let mut kinds = Vec::new();
    while let Some(frame) = dec.next_frame().unwrap() {
        if frame.packet_type().is_request() {
            kinds.push(frame.decode_request().unwrap().packet_type());
        } else {
            kinds.push(frame.decode_response().unwrap().packet_type());
        }
    }
    assert_eq!(
        kinds,
        [
            PacketType::INIT,
            PacketType::OPEN,
            PacketType::WRITE,
            PacketType::STATUS,
            PacketType::EXTENDED,
            PacketType::DATA
        ]
    );
}

#[test]
fn the_cap_is_256_kib_inclusive() {
    assert_eq!(DEFAULT_MAX_PACKET_LEN, 262_144);
    // Exactly 256 KiB is accepted.
    let data = vec![1u8; DEFAULT_MAX_PACKET_LEN - 9];
    let mut framed = Vec::new();
    encode_frame(&Data { id: 1, data: &data }, &mut framed);
    assert_eq!(framed.len(), 4 + DEFAULT_MAX_PACKET_LEN);
    let mut dec = FrameDecoder::new();
    dec.push(&framed).unwrap();
    let frame = dec.next_frame().unwrap().unwrap();
    assert_eq!(frame.bytes().len(), DEFAULT_MAX_PACKET_LEN);
    // One more byte is refused as soon as the length arrives, before anything is buffered.
    let mut dec = FrameDecoder::new();
    let header = ((DEFAULT_MAX_PACKET_LEN + 1) as u32).to_be_bytes();
    dec.push(&header[..3]).unwrap();
    let err = dec.push(&header[3..]).unwrap_err();
    assert_eq!(
        err,
        WireError::TooLong {
            what: "SFTP packet",
            len: DEFAULT_MAX_PACKET_LEN + 1,
            max: DEFAULT_MAX_PACKET_LEN
        }
    );
    assert_eq!(dec.buffered(), 3);
    // The error sticks.
    assert_eq!(dec.push(&[0; 10]).unwrap_err(), err);
    assert_eq!(dec.next_frame().unwrap_err(), err);
}

#[test]
fn a_huge_length_is_refused_before_allocating() {
    let mut dec = FrameDecoder::new();
    let mut bytes = u32::MAX.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 1000]);
    assert!(matches!(
        dec.push(&bytes),
        Err(WireError::TooLong { len, .. }) if len == u32::MAX as usize
    ));
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn oversize_later_in_a_chunk_is_caught_when_reached() {
    let mut bytes = Vec::new();
    encode_frame(&Status::ok(1), &mut bytes);
    bytes.extend_from_slice(&(1u32 << 31).to_be_bytes());
    let mut dec = FrameDecoder::new();
    dec.push(&bytes).unwrap();
    assert!(dec.next_frame().unwrap().is_some());
    assert!(matches!(dec.next_frame(), Err(WireError::TooLong { .. })));
}

#[test]
fn the_cap_is_configurable() {
    let mut dec = FrameDecoder::with_max_len(34_000);
    assert_eq!(dec.max_len(), 34_000);
    let mut ok = Vec::new();
    encode_frame(
        &Data {
            id: 1,
            data: &[0; 34_000 - 9],
        },
        &mut ok,
    );
    dec.push(&ok).unwrap();
    assert!(dec.next_frame().unwrap().is_some());
    let mut too_big = Vec::new();
    encode_frame(
        &Data {
            id: 1,
            data: &[0; 34_000 - 8],
        },
        &mut too_big,
    );
    assert!(dec.push(&too_big).is_err());
    // parse_frame applies the cap given to it.
    assert!(parse_frame(&too_big, 34_000).is_err());
    assert!(parse_frame(&too_big, 34_001).unwrap().is_some());
}

#[test]
fn empty_packets_are_refused() {
    let mut dec = FrameDecoder::new();
    assert_eq!(
        dec.push(&[0, 0, 0, 0]),
        Err(WireError::InvalidValue("empty SFTP packet"))
    );
    assert!(parse_frame(&[0, 0, 0, 0, 1], 100).is_err());
}

#[test]
fn parse_frame_needs_whole_frames() {
    let mut bytes = Vec::new();
    encode_frame(
        &Close {
            id: 1,
            handle: b"abc",
        },
        &mut bytes,
    );
    for cut in 0..bytes.len() {
        assert!(parse_frame(&bytes[..cut], 1000).unwrap().is_none(), "{cut}");
    }
    let (frame, used) = parse_frame(&bytes, 1000).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(frame.packet_type(), PacketType::CLOSE);
}

#[test]
fn encode_frame_appends() {
    let mut out = vec![0xee];
    let n = encode_frame(&Status::ok(1), &mut out);
    assert_eq!(out.len(), 1 + n);
    assert_eq!(out[0], 0xee);
    assert_eq!(n, frame_len(&Status::ok(1)));
}
