//! OpenSSH `moduli(5)` files: the groups a server offers for Diffie-Hellman group exchange
//! (RFC 4419 §3), and the choice among them (OpenSSH `choose_dh`).
//!
//! Each line is `timestamp type tests tries size generator modulus`, numbers in decimal except
//! the generator and modulus in hex; `size` is the bit length minus one.

use num_bigint::BigUint;

use crate::dh::DhGroup;

/// `type` 2: safe prime, `(p-1)/2` also prime.
const TYPE_SAFE: u32 = 2;
/// `tests` bit: found composite.
const TESTS_COMPOSITE: u32 = 0x01;
/// `tests` bit: passed Miller-Rabin.
const TESTS_MILLER_RABIN: u32 = 0x04;

/// One usable group of a moduli file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuliEntry {
    /// Bit length of `p`: the file's size field plus one, as OpenSSH does.
    pub bits: usize,
    /// The group.
    pub group: DhGroup,
}

/// Parses a moduli file, skipping comments, blank lines and any line that is malformed or not
/// a Miller-Rabin tested safe prime whose size matches its modulus.
pub fn parse_moduli(text: &str) -> Vec<ModuliEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<ModuliEntry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut f = line.split_whitespace();
    let _timestamp: u64 = f.next()?.parse().ok()?;
    let kind: u32 = f.next()?.parse().ok()?;
    let tests: u32 = f.next()?.parse().ok()?;
    let _tries: u32 = f.next()?.parse().ok()?;
    let size: usize = f.next()?.parse().ok()?;
    let g = BigUint::parse_bytes(f.next()?.as_bytes(), 16)?;
    let p = BigUint::parse_bytes(f.next()?.as_bytes(), 16)?;
    if f.next().is_some()
        || kind != TYPE_SAFE
        || tests & TESTS_COMPOSITE != 0
        || tests & TESTS_MILLER_RABIN == 0
    {
        return None;
    }
    let bits = size.checked_add(1)?;
    let group = DhGroup::from_be_bytes(&p.to_bytes_be(), &g.to_bytes_be()).ok()?;
    (group.bits() == bits).then_some(ModuliEntry { bits, group })
}

/// Chooses a group for a client's `min`, preferred `n` and `max` (RFC 4419 §3) as OpenSSH's
/// `choose_dh`: among sizes in `[min, max]`, the smallest one at least `n`, else the largest
/// below it; the first entry of that size.
pub fn choose_group(entries: &[ModuliEntry], min: u32, n: u32, max: u32) -> Option<DhGroup> {
    let (min, n, max) = (min as usize, n as usize, max as usize);
    let mut best = 0usize;
    for e in entries {
        if e.bits > max || e.bits < min {
            continue;
        }
        if (e.bits > n && e.bits < best) || (e.bits > best && best < n) {
            best = e.bits;
        }
    }
    entries
        .iter()
        .find(|e| best != 0 && e.bits == best)
        .map(|e| e.group.clone())
}

/// A group from RFC 3526 (groups 14 to 18, 2048 to 8192 bits) for a client's `min`, `n`,
/// `max`: the smallest at least `n` within `[min, max]`, else the largest within it.
pub fn builtin_group(min: u32, n: u32, max: u32) -> Option<DhGroup> {
    const SIZES: [(u32, fn() -> DhGroup); 5] = [
        (2048, DhGroup::group14),
        (3072, DhGroup::group15),
        (4096, DhGroup::group16),
        (6144, DhGroup::group17),
        (8192, DhGroup::group18),
    ];
    let fits = |bits: &u32| *bits >= min && *bits <= max;
    SIZES
        .iter()
        .find(|(bits, _)| fits(bits) && *bits >= n)
        .or_else(|| SIZES.iter().rev().find(|(bits, _)| fits(bits)))
        .map(|(_, make)| make())
}
