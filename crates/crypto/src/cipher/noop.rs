//! The no-op packet key of fuzz builds (docs/FUZZING.md).
//!
//! Compiled only under `--cfg fuzzing` (which `cargo fuzz` sets): it lets a fuzzer that plays the
//! peer complete a key exchange and then write plaintext packets, so the post-kex states of the
//! machines are reachable. No release build can name or select it.

use super::{Inner, PacketKey};

impl PacketKey {
    /// Fuzz builds only: a key that neither encrypts nor authenticates (framing as for `none`:
    /// 8-byte alignment, no tag).
    pub fn noop() -> Self {
        Self(Inner::None)
    }
}
