//! Packet protection: the ciphers and MACs of the binary packet protocol (RFC 4253 §6).
//!
//! A packet on the wire is
//!
//! ```text
//! uint32    packet_length
//! byte      padding_length
//! byte[n1]  payload
//! byte[n2]  random padding
//! byte[m]   mac or AEAD tag
//! ```
//!
//! [`PacketKey`] protects one direction of one connection. It works in place on the caller's
//! buffer and never allocates on the data path.

mod chacha;
mod ctr;
mod gcm;
mod mac;
mod none;
#[cfg(fuzzing)]
mod noop;

use zeroize::Zeroizing;

use crate::error::CryptoError;

pub use mac::MacAlg;
pub use none::NAME as NONE_NAME;

/// Length of the `uint32 packet_length` field.
pub(crate) const LENGTH_LEN: usize = 4;

/// A negotiated encryption algorithm (RFC 4253 §6.3, RFC 4344 §4, RFC 5647 §6,
/// OpenSSH `PROTOCOL.chacha20poly1305`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CipherAlg {
    /// `chacha20-poly1305@openssh.com`.
    Chacha20Poly1305,
    /// `aes128-gcm@openssh.com` (RFC 5647 with OpenSSH's naming).
    Aes128Gcm,
    /// `aes256-gcm@openssh.com`.
    Aes256Gcm,
    /// `aes128-ctr` (RFC 4344 §4).
    Aes128Ctr,
    /// `aes192-ctr` (RFC 4344 §4).
    Aes192Ctr,
    /// `aes256-ctr` (RFC 4344 §4).
    Aes256Ctr,
}

impl CipherAlg {
    /// Every supported cipher, in OpenSSH's default preference order.
    pub const ALL: &'static [CipherAlg] = &[
        CipherAlg::Chacha20Poly1305,
        CipherAlg::Aes128Ctr,
        CipherAlg::Aes192Ctr,
        CipherAlg::Aes256Ctr,
        CipherAlg::Aes128Gcm,
        CipherAlg::Aes256Gcm,
    ];

    /// The algorithm name used in KEXINIT.
    pub fn name(self) -> &'static str {
        match self {
            CipherAlg::Chacha20Poly1305 => "chacha20-poly1305@openssh.com",
            CipherAlg::Aes128Gcm => "aes128-gcm@openssh.com",
            CipherAlg::Aes256Gcm => "aes256-gcm@openssh.com",
            CipherAlg::Aes128Ctr => "aes128-ctr",
            CipherAlg::Aes192Ctr => "aes192-ctr",
            CipherAlg::Aes256Ctr => "aes256-ctr",
        }
    }

    /// The cipher called `name` in KEXINIT, if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Encryption key length in bytes (chacha20-poly1305 takes K_2 || K_1, 64 bytes).
    pub fn key_len(self) -> usize {
        match self {
            CipherAlg::Chacha20Poly1305 => 64,
            CipherAlg::Aes128Gcm | CipherAlg::Aes128Ctr => 16,
            CipherAlg::Aes192Ctr => 24,
            CipherAlg::Aes256Gcm | CipherAlg::Aes256Ctr => 32,
        }
    }

    /// IV length in bytes: 12 for GCM (RFC 5647 §7.1), 16 for CTR, 0 for chacha20-poly1305.
    pub fn iv_len(self) -> usize {
        match self {
            CipherAlg::Chacha20Poly1305 => 0,
            CipherAlg::Aes128Gcm | CipherAlg::Aes256Gcm => 12,
            CipherAlg::Aes128Ctr | CipherAlg::Aes192Ctr | CipherAlg::Aes256Ctr => 16,
        }
    }

    /// The block size that padding aligns to (RFC 4253 §6): 8 for chacha20-poly1305, 16 for AES.
    pub fn block_size(self) -> usize {
        match self {
            CipherAlg::Chacha20Poly1305 => 8,
            _ => 16,
        }
    }

    /// True for AEAD ciphers, whose negotiated MAC is ignored (RFC 5647 §5.1).
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            CipherAlg::Chacha20Poly1305 | CipherAlg::Aes128Gcm | CipherAlg::Aes256Gcm
        )
    }
}

/// Key material of one direction, as derived by RFC 4253 §7.2.
pub struct DirectionKeys {
    /// The negotiated cipher.
    pub cipher: CipherAlg,
    /// The negotiated MAC; `None` for AEAD ciphers (ignored if given for one).
    pub mac: Option<MacAlg>,
    /// Encryption key ("C"/"D"), exactly `cipher.key_len()` bytes.
    pub enc_key: Zeroizing<Vec<u8>>,
    /// Initial IV ("A"/"B"), exactly `cipher.iv_len()` bytes.
    pub iv: Zeroizing<Vec<u8>>,
    /// Integrity key ("E"/"F"), exactly `mac.key_len()` bytes; empty for AEAD ciphers.
    pub mac_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectionKeys")
            .field("cipher", &self.cipher)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

enum Inner {
    None,
    Chacha(Box<chacha::ChachaKey>),
    Gcm(Box<gcm::GcmKey>),
    Ctr(Box<ctr::CtrKey>),
}

/// Packet protection of one direction (RFC 4253 §6).
///
/// Packet: `uint32 packet_length || byte padding_length || payload || padding || tag`.
///
/// Reading a packet: call [`decrypt_length`](Self::decrypt_length) once on the first
/// [`length_prefix_len`](Self::length_prefix_len) bytes, wait until `4 + packet_length +
/// tag_len()` bytes are there, then call [`open`](Self::open) on exactly those bytes.
/// Writing: lay out the plaintext packet followed by `tag_len()` bytes of room and call
/// [`seal`](Self::seal).
///
/// ```
/// use nacre_crypto::{CipherAlg, DirectionKeys, PacketKey, Zeroizing};
///
/// let keys = DirectionKeys {
///     cipher: CipherAlg::from_name("chacha20-poly1305@openssh.com").unwrap(),
///     mac: None,
///     enc_key: Zeroizing::new(vec![7; 64]),
///     iv: Zeroizing::new(Vec::new()),
///     mac_key: Zeroizing::new(Vec::new()),
/// };
/// let (mut sender, mut receiver) = (PacketKey::new(&keys)?, PacketKey::new(&keys)?);
///
/// // packet_length 16 = padding_length (1) + payload (5) + padding (10), then 16 bytes of tag.
/// let mut plain = vec![0, 0, 0, 16, 10];
/// plain.extend_from_slice(b"hello");
/// plain.extend_from_slice(&[0; 10]);
/// let mut packet = plain.clone();
/// packet.resize(plain.len() + sender.tag_len(), 0);
/// sender.seal(3, &mut packet)?;
/// assert_ne!(packet[4..20], plain[4..]);
///
/// assert_eq!(receiver.decrypt_length(3, &mut packet[..4])?, 16);
/// receiver.open(3, &mut packet)?;
/// assert_eq!(packet[..20], plain[..]);
/// # Ok::<(), nacre_crypto::CryptoError>(())
/// ```
pub struct PacketKey(Inner);

impl std::fmt::Debug for PacketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.cipher().map_or("none", CipherAlg::name);
        let mac = self.mac().map(MacAlg::name);
        f.debug_struct("PacketKey")
            .field("cipher", &name)
            .field("mac", &mac)
            .finish_non_exhaustive()
    }
}

impl PacketKey {
    /// The initial state of a connection: no encryption and no MAC (RFC 4253 §6).
    pub fn none() -> Self {
        Self(Inner::None)
    }

    /// Keys one direction.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] if a key or IV has the wrong length,
    /// [`CryptoError::Unsupported`] if a non-AEAD cipher comes without a MAC.
    pub fn new(keys: &DirectionKeys) -> Result<Self, CryptoError> {
        let cipher = keys.cipher;
        check_len("encryption key", &keys.enc_key, cipher.key_len())?;
        check_len("iv", &keys.iv, cipher.iv_len())?;
        let inner = match cipher {
            CipherAlg::Chacha20Poly1305 => {
                Inner::Chacha(Box::new(chacha::ChachaKey::new(&keys.enc_key)?))
            }
            CipherAlg::Aes128Gcm | CipherAlg::Aes256Gcm => {
                Inner::Gcm(Box::new(gcm::GcmKey::new(cipher, &keys.enc_key, &keys.iv)?))
            }
            CipherAlg::Aes128Ctr | CipherAlg::Aes192Ctr | CipherAlg::Aes256Ctr => {
                let alg = keys
                    .mac
                    .ok_or(CryptoError::Unsupported("a non-AEAD cipher needs a MAC"))?;
                check_len("integrity key", &keys.mac_key, alg.key_len())?;
                let mac = mac::MacKey::new(alg, &keys.mac_key);
                Inner::Ctr(Box::new(ctr::CtrKey::new(
                    cipher,
                    &keys.enc_key,
                    &keys.iv,
                    mac,
                )?))
            }
        };
        Ok(Self(inner))
    }

    /// The cipher in use; `None` before the first NEWKEYS.
    pub fn cipher(&self) -> Option<CipherAlg> {
        match &self.0 {
            Inner::None => None,
            Inner::Chacha(_) => Some(CipherAlg::Chacha20Poly1305),
            Inner::Gcm(k) => Some(k.alg()),
            Inner::Ctr(k) => Some(k.alg()),
        }
    }

    /// The MAC in use; `None` for the none cipher and for AEAD ciphers.
    pub fn mac(&self) -> Option<MacAlg> {
        match &self.0 {
            Inner::Ctr(k) => Some(k.mac_alg()),
            _ => None,
        }
    }

    /// The block size padding aligns to: 8 for none and chacha20-poly1305, 16 for AES.
    pub fn block_size(&self) -> usize {
        self.cipher().map_or(8, CipherAlg::block_size)
    }

    /// Length of the AEAD tag or MAC that follows each packet; 0 for none.
    pub fn tag_len(&self) -> usize {
        match &self.0 {
            Inner::None => 0,
            Inner::Chacha(_) => chacha::TAG_LEN,
            Inner::Gcm(_) => gcm::TAG_LEN,
            Inner::Ctr(k) => k.mac_alg().tag_len(),
        }
    }

    /// True when `packet_length` is sent in the clear or as associated data (chacha, GCM, ETM).
    /// Padding then aligns `padding_length || payload || padding` to the block size rather than
    /// the whole packet (RFC 5647 §7.2, OpenSSH `PROTOCOL`).
    pub fn length_is_aad(&self) -> bool {
        match &self.0 {
            Inner::None => false,
            Inner::Chacha(_) | Inner::Gcm(_) => true,
            Inner::Ctr(k) => k.mac_alg().is_etm(),
        }
    }

    /// Bytes needed before `packet_length` can be read: the block size (16) for CTR with a
    /// plain MAC, whose length is inside the first encrypted block; 4 otherwise.
    pub fn length_prefix_len(&self) -> usize {
        if self.length_is_aad() || matches!(self.0, Inner::None) {
            LENGTH_LEN
        } else {
            self.block_size()
        }
    }

    /// Reads `packet_length` from the first [`length_prefix_len`](Self::length_prefix_len)
    /// bytes of a packet.
    ///
    /// CTR with a plain MAC decrypts that first block *in place* (call exactly once per packet,
    /// before [`open`](Self::open)); chacha20-poly1305 decrypts a copy with K_1 and leaves the
    /// buffer as it is; none, GCM and ETM read the clear length. The value is not yet
    /// authenticated: the caller must bound it before waiting for that many bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] if `prefix` is shorter than `length_prefix_len()`.
    pub fn decrypt_length(&mut self, seq: u32, prefix: &mut [u8]) -> Result<u32, CryptoError> {
        if prefix.len() < self.length_prefix_len() {
            return Err(CryptoError::InvalidLength {
                what: "packet length prefix",
                len: prefix.len(),
            });
        }
        match &mut self.0 {
            Inner::None | Inner::Gcm(_) => read_length(prefix),
            Inner::Chacha(k) => k.decrypt_length(seq, prefix),
            Inner::Ctr(k) => k.decrypt_length(prefix),
        }
    }

    /// Authenticates and decrypts one packet in place.
    ///
    /// `packet` is `4 + packet_length` bytes followed by `tag_len()` bytes of tag (for CTR with
    /// a plain MAC the first block was already decrypted by
    /// [`decrypt_length`](Self::decrypt_length)). The tag or MAC is checked in constant time;
    /// on success `packet[..4 + packet_length]` is plaintext, length field included. A plain MAC
    /// covers `uint32 seq || plaintext packet` (RFC 4253 §6.4), an ETM MAC
    /// `uint32 seq || packet_length || ciphertext`.
    ///
    /// # Errors
    /// [`CryptoError::MacMismatch`] if the tag does not verify; [`CryptoError::InvalidLength`]
    /// if the packet is empty or not aligned to the block size.
    pub fn open(&mut self, seq: u32, packet: &mut [u8]) -> Result<(), CryptoError> {
        let (bs, aad, tag_len) = (self.block_size(), self.length_is_aad(), self.tag_len());
        let body_len = packet
            .len()
            .checked_sub(tag_len)
            .ok_or(CryptoError::InvalidLength {
                what: "packet shorter than its tag",
                len: packet.len(),
            })?;
        check_alignment(body_len, bs, aad)?;
        let (body, tag) = packet.split_at_mut(body_len);
        match &mut self.0 {
            Inner::None => Ok(()),
            Inner::Chacha(k) => k.open(seq, body, tag),
            Inner::Gcm(k) => k.open(body, tag),
            Inner::Ctr(k) => k.open(seq, body, tag),
        }
    }

    /// Encrypts one packet in place and writes its tag.
    ///
    /// `packet` is `4 + packet_length` bytes of plaintext followed by `tag_len()` bytes of room.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] if the packet is empty or not aligned to the block size.
    pub fn seal(&mut self, seq: u32, packet: &mut [u8]) -> Result<(), CryptoError> {
        let (bs, aad, tag_len) = (self.block_size(), self.length_is_aad(), self.tag_len());
        let body_len = packet
            .len()
            .checked_sub(tag_len)
            .ok_or(CryptoError::InvalidLength {
                what: "packet shorter than its tag",
                len: packet.len(),
            })?;
        check_alignment(body_len, bs, aad)?;
        let (body, tag) = packet.split_at_mut(body_len);
        match &mut self.0 {
            Inner::None => Ok(()),
            Inner::Chacha(k) => k.seal(seq, body, tag),
            Inner::Gcm(k) => k.seal(body, tag),
            Inner::Ctr(k) => k.seal(seq, body, tag),
        }
    }
}

fn check_len(what: &'static str, got: &[u8], want: usize) -> Result<(), CryptoError> {
    if got.len() == want {
        Ok(())
    } else {
        Err(CryptoError::InvalidLength {
            what,
            len: got.len(),
        })
    }
}

/// RFC 4253 §6: the packet (or, when the length is AAD, everything after it) must be a non-empty
/// multiple of the block size.
fn check_alignment(
    body_len: usize,
    block_size: usize,
    length_is_aad: bool,
) -> Result<(), CryptoError> {
    let covered = if length_is_aad {
        body_len.checked_sub(LENGTH_LEN)
    } else {
        Some(body_len)
    };
    let bad = CryptoError::InvalidLength {
        what: "packet not a non-zero multiple of the block size",
        len: body_len,
    };
    match covered {
        Some(n) if n > 0 && body_len > LENGTH_LEN && n % block_size.max(1) == 0 => Ok(()),
        _ => Err(bad),
    }
}

/// Reads the big-endian `uint32` at the start of `buf`.
pub(crate) fn read_length(buf: &[u8]) -> Result<u32, CryptoError> {
    buf.first_chunk::<LENGTH_LEN>()
        .map(|b| u32::from_be_bytes(*b))
        .ok_or(CryptoError::InvalidLength {
            what: "packet length field",
            len: buf.len(),
        })
}
