//! The `none` cipher and MAC (RFC 4253 §6.3, §6.4): the state before the first NEWKEYS.
//!
//! It has no key material; [`PacketKey::none`](super::PacketKey::none) stands for it and
//! only checks the framing (packets aligned to 8 bytes). It must never be negotiated.

/// Name of the none cipher and MAC in KEXINIT (RFC 4253 §6.3).
pub const NAME: &str = "none";
