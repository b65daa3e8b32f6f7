//! The binary packet protocol (RFC 4253 §6): framing, padding, sequence numbers, and the per-direction
//! packet keys.

use bytes::{Bytes, BytesMut};
use nacre_crypto::{CryptoError, PacketKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::compress::{CompressionAlg, Deflater, DirectionState, Inflater};
use crate::error::TransportError;

/// SSH_MSG_USERAUTH_SUCCESS: delayed compression (`zlib@openssh.com`) starts after it.
const USERAUTH_SUCCESS: u8 = 52;

/// Smallest packet_length: padding_length byte, one payload byte and 4 bytes of padding would be 6,
/// but a packet of only padding_length and 4 padding bytes is well-formed framing; the empty payload
/// is refused separately.
const MIN_PACKET_LEN: u32 = 5;
/// Minimum padding (RFC 4253 §6).
const MIN_PADDING: usize = 4;

/// Counters of one direction since the last key exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets since the last NEWKEYS.
    pub packets: u64,
    /// Bytes on the wire since the last NEWKEYS.
    pub bytes: u64,
}

/// One decoded packet.
#[derive(Debug, Clone)]
pub struct Packet {
    /// The sequence number it was received with.
    pub seq: u32,
    /// The payload (message number first), a view into the input buffer.
    pub payload: Bytes,
}

/// The receiving direction: accumulates bytes and yields authenticated, decrypted payloads.
pub struct PacketReader {
    key: PacketKey,
    seq: u32,
    /// packet_length of the packet whose length was already decrypted.
    pending_len: Option<u32>,
    max_packet_len: usize,
    counters: Counters,
    compression: DirectionState<Inflater>,
    /// Client: a received USERAUTH_SUCCESS starts delayed compression.
    watch_success: bool,
    /// User authentication succeeded (as far as compression is concerned).
    after_auth: bool,
}

impl PacketReader {
    /// A reader with no encryption, as at the start of a connection.
    pub fn new(max_packet_len: usize) -> Self {
        PacketReader {
            key: PacketKey::none(),
            seq: 0,
            pending_len: None,
            max_packet_len,
            counters: Counters::default(),
            compression: DirectionState::Off,
            watch_success: false,
            after_auth: false,
        }
    }

    /// Client side: a USERAUTH_SUCCESS read from now on starts delayed compression (OpenSSH's
    /// `ssh_packet_enable_delayed_compress` on the receiving side).
    pub fn watch_userauth_success(&mut self, on: bool) {
        self.watch_success = on;
    }

    /// The compression in force from the next packet, after NEWKEYS was received: a fresh
    /// stream when it compresses now (see [`crate::compress`]).
    pub fn set_compression(&mut self, alg: CompressionAlg) {
        let max = self.max_packet_len;
        self.compression =
            DirectionState::after_newkeys(alg, self.after_auth, || Inflater::new(max));
    }

    /// Authentication succeeded: waiting delayed compression starts from the next packet.
    pub fn set_after_auth(&mut self) {
        self.after_auth = true;
        let max = self.max_packet_len;
        self.compression.authenticated(|| Inflater::new(max));
    }

    /// Whether authentication succeeded as far as compression is concerned.
    pub fn after_auth(&self) -> bool {
        self.after_auth
    }

    /// Whether incoming payloads are inflated now.
    pub fn compressing(&self) -> bool {
        self.compression.is_on()
    }

    /// Takes new keys (after NEWKEYS was received); strict kex also resets the sequence number.
    pub fn set_key(&mut self, key: PacketKey, reset_seq: bool) {
        self.key = key;
        if reset_seq {
            self.seq = 0;
        }
        self.counters = Counters::default();
    }

    /// The sequence number of the next packet.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Counters since the last key change.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Block size of the current cipher.
    pub fn block_size(&self) -> usize {
        self.key.block_size()
    }

    /// Decodes the next complete packet at the front of `buf`, removing its bytes; `Ok(None)` when
    /// more bytes are needed. Works for any split of the input, one byte at a time included.
    pub fn next_packet(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, TransportError> {
        let len = match self.pending_len {
            Some(len) => len,
            None => {
                let prefix = self.key.length_prefix_len();
                let Some(head) = buf.get_mut(..prefix) else {
                    return Ok(None);
                };
                let len = self
                    .key
                    .decrypt_length(self.seq, head)
                    .map_err(crypto_error)?;
                self.check_length(len)?;
                self.pending_len = Some(len);
                len
            }
        };
        let body = 4 + len as usize;
        let total = body + self.key.tag_len();
        let Some(packet) = buf.get_mut(..total) else {
            return Ok(None);
        };
        self.key.open(self.seq, packet).map_err(crypto_error)?;
        let padding = packet.get(4).copied().unwrap_or(0);
        if usize::from(padding) < MIN_PADDING || u32::from(padding) >= len {
            return Err(TransportError::Padding { padding, len });
        }
        let payload_len = len as usize - 1 - usize::from(padding);
        if payload_len == 0 {
            return Err(TransportError::EmptyPayload);
        }
        self.pending_len = None;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        self.counters.packets += 1;
        self.counters.bytes += total as u64;
        let whole = buf.split_to(total).freeze();
        let mut payload = whole.slice(5..5 + payload_len);
        if let Some(inflater) = self.compression.stream() {
            let inflated = inflater.decompress(&payload)?;
            if inflated.is_empty() {
                return Err(TransportError::Compression("packet inflates to nothing"));
            }
            payload = Bytes::copy_from_slice(inflated);
        }
        let msg = payload.first().copied().unwrap_or(0);
        tracing::debug!(target: "nacre::packet", "<- seq {seq} {:?} payload {} bytes", nacre_wire::MsgNumber(msg), payload.len());
        if self.watch_success && msg == USERAUTH_SUCCESS && !self.after_auth {
            self.set_after_auth();
        }
        Ok(Some(Packet { seq, payload }))
    }

    fn check_length(&self, len: u32) -> Result<(), TransportError> {
        if len < MIN_PACKET_LEN || len as usize > self.max_packet_len {
            return Err(TransportError::PacketLength {
                len,
                max: self.max_packet_len,
            });
        }
        let block = self.key.block_size();
        let aligned = if self.key.length_is_aad() {
            len as usize
        } else {
            4 + len as usize
        };
        if block > 0 && aligned % block != 0 {
            return Err(TransportError::PacketAlignment { len, block });
        }
        Ok(())
    }
}

fn crypto_error(e: CryptoError) -> TransportError {
    match e {
        CryptoError::MacMismatch => TransportError::Mac,
        other => TransportError::Crypto(other),
    }
}

/// The sending direction: frames, pads and seals payloads into an output buffer.
pub struct PacketWriter {
    key: PacketKey,
    seq: u32,
    padding_rng: ChaCha8Rng,
    counters: Counters,
    compression: DirectionState<Deflater>,
    /// The uncompressed payload while compressing.
    scratch: Vec<u8>,
    /// Server: a sent USERAUTH_SUCCESS starts delayed compression.
    watch_success: bool,
    /// User authentication succeeded (as far as compression is concerned).
    after_auth: bool,
}

impl PacketWriter {
    /// A writer with no encryption; `seed` seeds the padding generator.
    pub fn new(seed: [u8; 32]) -> Self {
        PacketWriter {
            key: PacketKey::none(),
            seq: 0,
            padding_rng: ChaCha8Rng::from_seed(seed),
            counters: Counters::default(),
            compression: DirectionState::Off,
            scratch: Vec::new(),
            watch_success: false,
            after_auth: false,
        }
    }

    /// Server side: a USERAUTH_SUCCESS written from now on starts delayed compression after it
    /// (OpenSSH's `ssh_packet_enable_delayed_compress` on the sending side).
    pub fn watch_userauth_success(&mut self, on: bool) {
        self.watch_success = on;
    }

    /// The compression in force from the next packet, after NEWKEYS was sent: a fresh stream
    /// when it compresses now (see [`crate::compress`]).
    pub fn set_compression(&mut self, alg: CompressionAlg) {
        self.compression = DirectionState::after_newkeys(alg, self.after_auth, Deflater::new);
    }

    /// Authentication succeeded: waiting delayed compression starts from the next packet.
    pub fn set_after_auth(&mut self) {
        self.after_auth = true;
        self.compression.authenticated(Deflater::new);
    }

    /// Whether authentication succeeded as far as compression is concerned.
    pub fn after_auth(&self) -> bool {
        self.after_auth
    }

    /// Whether outgoing payloads are deflated now.
    pub fn compressing(&self) -> bool {
        self.compression.is_on()
    }

    /// Takes new keys (after NEWKEYS was sent); strict kex also resets the sequence number.
    pub fn set_key(&mut self, key: PacketKey, reset_seq: bool) {
        self.key = key;
        if reset_seq {
            self.seq = 0;
        }
        self.counters = Counters::default();
    }

    /// The sequence number of the next packet.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Counters since the last key change.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Block size of the current cipher.
    pub fn block_size(&self) -> usize {
        self.key.block_size()
    }

    /// Appends one sealed packet to `out` whose payload `encode` writes directly into the output
    /// buffer (no intermediate copy).
    pub fn write_with(
        &mut self,
        out: &mut Vec<u8>,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), TransportError> {
        let start = out.len();
        out.extend_from_slice(&[0; 5]);
        let msg = if let Some(deflater) = self.compression.stream() {
            let mut plain = std::mem::take(&mut self.scratch);
            plain.clear();
            encode(&mut plain);
            let compressed = deflater.compress(&plain, out);
            let msg = plain.first().copied().unwrap_or(0);
            self.scratch = plain;
            compressed?;
            msg
        } else {
            encode(out);
            out.get(start + 5).copied().unwrap_or(0)
        };
        let payload_len = out.len() - start - 5;
        let block = self.key.block_size().max(8);
        let aad = if self.key.length_is_aad() { 4 } else { 0 };
        let unpadded = 5 + payload_len - aad;
        let mut padding = block - unpadded % block;
        if padding < MIN_PADDING {
            padding += block;
        }
        let packet_len = 1 + payload_len + padding;
        let pad_start = out.len();
        out.resize(pad_start + padding, 0);
        if let Some(pad) = out.get_mut(pad_start..) {
            self.padding_rng.fill_bytes(pad);
        }
        let tag_len = self.key.tag_len();
        out.resize(out.len() + tag_len, 0);
        let Some(packet) = out.get_mut(start..) else {
            return Err(TransportError::KexFailed("output buffer"));
        };
        tracing::debug!(target: "nacre::packet", "-> seq {} {:?} payload {payload_len} bytes", self.seq, nacre_wire::MsgNumber(msg));
        let len_bytes = u32::try_from(packet_len).unwrap_or(u32::MAX).to_be_bytes();
        for (dst, src) in packet
            .iter_mut()
            .zip(len_bytes.iter().chain(std::iter::once(&(padding as u8))))
        {
            *dst = *src;
        }
        self.key
            .seal(self.seq, packet)
            .map_err(TransportError::Crypto)?;
        self.seq = self.seq.wrapping_add(1);
        self.counters.packets += 1;
        self.counters.bytes += (4 + packet_len + tag_len) as u64;
        if self.watch_success && msg == USERAUTH_SUCCESS && !self.after_auth {
            self.set_after_auth();
        }
        Ok(())
    }

    /// Appends one sealed packet holding `payload`.
    pub fn write(&mut self, out: &mut Vec<u8>, payload: &[u8]) -> Result<(), TransportError> {
        self.write_with(out, |o| o.extend_from_slice(payload))
    }
}
