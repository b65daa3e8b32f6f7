//! Fuzzing entry points for the SFTP codec (feature `fuzzing`; docs/FUZZING.md).
//!
//! Each function takes arbitrary bytes and must never panic, except through an `assert!` that
//! flags a real bug (a value that does not survive decode → encode → decode). The cargo-fuzz
//! targets in `fuzz/` and the stable corpus replay test call these same functions.

#![allow(clippy::panic)]

use nacre_wire::Encode;

use crate::{
    ExtendedReply, ExtensionReply, FrameDecoder, LimitsReply, Request, Response, StatvfsReply,
    UsersGroupsByIdReply,
};

/// Decodes `data` as one client packet (type byte onwards); whatever decodes must re-encode to
/// the same bytes (request decoding has no lenient paths).
///
/// The server's tolerant decoding must agree: it accepts whatever the strict one does, with
/// nothing ignored, and what it accepts with ignored bytes is the strict decoding of the packet
/// without them.
pub fn request(data: &[u8]) {
    let strict = Request::decode_bytes(data);
    if let Ok(req) = &strict {
        assert_eq!(req.encoded_len(), data.len());
        assert_eq!(req.to_bytes(), data);
    }
    match Request::decode_tolerant(data) {
        Ok((req, 0)) => assert_eq!(strict, Ok(req)),
        Ok((req, ignored)) => {
            assert!(strict.is_err(), "strict decoding accepted trailing bytes");
            let used = data.len() - ignored;
            assert_eq!(req.to_bytes(), data.get(..used).unwrap_or_default());
        }
        Err(e) => assert!(strict.is_err(), "tolerant decoding refused {e}"),
    }
}

/// Decodes `data` as one server packet (type byte onwards), with the typed extension replies;
/// decode → encode → decode must give the same value (STATUS decoding is lenient, so the bytes
/// may differ). The client's tolerant decoding accepts whatever the strict one does.
pub fn response(data: &[u8]) {
    let strict = Response::decode_bytes(data);
    match Response::decode_tolerant(data) {
        Ok((resp, 0)) => assert_eq!(strict.as_ref(), Ok(&resp)),
        Ok(_) => assert!(strict.is_err(), "strict decoding accepted trailing bytes"),
        Err(e) => assert!(strict.is_err(), "tolerant decoding refused {e}"),
    }
    if let Ok(resp) = strict {
        let bytes = resp.to_bytes();
        assert_eq!(resp.encoded_len(), bytes.len());
        assert_eq!(Response::decode_bytes(&bytes).as_ref(), Ok(&resp));
        if let Response::ExtendedReply(reply) = &resp {
            typed_reply::<StatvfsReply>(reply);
            typed_reply::<LimitsReply>(reply);
            typed_reply::<UsersGroupsByIdReply<'_>>(reply);
        }
    }
}

/// Parses a typed extended reply both ways: the tolerant parse accepts whatever the strict one
/// does, with nothing ignored, and what it accepts with ignored bytes the strict one refuses.
fn typed_reply<'a, T: ExtensionReply<'a> + PartialEq + std::fmt::Debug>(reply: &ExtendedReply<'a>) {
    let strict = T::from_reply(reply);
    match T::from_reply_tolerant(reply) {
        Ok((value, 0)) => assert_eq!(strict, Ok(value)),
        Ok(_) => assert!(strict.is_err(), "strict parse accepted trailing bytes"),
        Err(e) => assert!(strict.is_err(), "tolerant parse refused {e}"),
    }
}

/// Feeds `data` to a frame decoder with a small cap, in chunks whose sizes come from the first
/// byte, and decodes every frame both ways.
pub fn frames(data: &[u8]) {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::with_max_len(4096);
    for piece in rest.chunks(chunk) {
        if decoder.push(piece).is_err() {
            return;
        }
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let _ = frame.request_id();
                    request(frame.bytes());
                    response(frame.bytes());
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
}

/// The `sftp_packets` target: `data` as one client packet, as one server packet (typed extension
/// requests and replies included, each round-tripped), and as a framed stream cut into chunks.
pub fn sftp_packets(data: &[u8]) {
    request(data);
    response(data);
    frames(data);
}
