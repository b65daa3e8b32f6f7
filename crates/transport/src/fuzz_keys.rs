//! Fuzz builds only (`--cfg fuzzing`, set by `cargo fuzz`): no-op packet keys after NEWKEYS.
//!
//! When switched on for the current thread, every key exchange installs
//! [`PacketKey::noop`](nacre_crypto::PacketKey::noop) in both directions instead of the derived
//! keys, so a fuzzer playing the peer can write plaintext packets after NEWKEYS. This module does
//! not exist in any other build: no configuration of a release build can select these keys.

use std::cell::Cell;

use nacre_crypto::PacketKey;

thread_local! {
    static NOOP: Cell<bool> = const { Cell::new(false) };
}

/// Switches no-op keys on or off for machines on this thread; returns the previous setting.
pub fn set_noop_keys(on: bool) -> bool {
    NOOP.with(|n| n.replace(on))
}

/// Sets the no-op key switch for a scope and restores the previous setting on drop.
#[derive(Debug)]
pub struct NoopKeys {
    previous: bool,
}

impl NoopKeys {
    /// Switches no-op keys `on` (or off) until the guard is dropped.
    pub fn set(on: bool) -> Self {
        NoopKeys {
            previous: set_noop_keys(on),
        }
    }
}

impl Drop for NoopKeys {
    fn drop(&mut self) {
        set_noop_keys(self.previous);
    }
}

/// The keys to install: the derived ones, or no-op keys when switched on.
pub(crate) fn select(c2s: PacketKey, s2c: PacketKey) -> (PacketKey, PacketKey) {
    if NOOP.with(Cell::get) {
        (PacketKey::noop(), PacketKey::noop())
    } else {
        (c2s, s2c)
    }
}
