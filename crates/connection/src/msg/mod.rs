//! Connection protocol messages (RFC 4254), one module per family.

pub mod channel;
pub mod global;
pub mod host_keys;
pub mod kinds;
pub mod requests;

pub(crate) const fn slen(len: usize) -> usize {
    4 + len
}
