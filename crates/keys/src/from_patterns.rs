//! `from=` pattern lists of authorized_keys (and a certificate's `source-address`): host name and
//! address patterns with `*`/`?`, CIDR networks, each negatable with `!` (sshd(8)
//! "AUTHORIZED_KEYS FILE FORMAT", OpenSSH's `addr_match_list` and `match_host_and_ip`).

use std::net::IpAddr;

use crate::pattern::{glob_match, match_list, ListMatch};
use crate::KeyError;

/// A `from=` pattern list: host name and address patterns with `*`/`?`, CIDR networks
/// (`192.0.2.0/24`, `2001:db8::/32`), each negatable with `!`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FromPatterns {
    /// The list as written.
    pub text: String,
    entries: Vec<FromEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FromEntry {
    negated: bool,
    pattern: String,
    /// The network, when the pattern is an address or `address/bits`.
    network: Option<(IpAddr, u8)>,
}

impl FromPatterns {
    /// Parses a `from=` list. Rejects empty entries, spaces, and networks whose mask length
    /// is too large or that have bits set beyond the mask (OpenSSH refuses those too, at
    /// authentication time).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let mut entries = Vec::new();
        for (negated, pattern) in crate::pattern::split_list(text)? {
            let network = parse_network(&pattern)?;
            entries.push(FromEntry {
                negated,
                pattern,
                network,
            });
        }
        Ok(Self {
            text: text.to_owned(),
            entries,
        })
    }

    /// OpenSSH's `match_host_and_ip`: refused when a negated entry matches the address or the
    /// host name; allowed when some entry matches either; refused otherwise. `host` is the
    /// client's host name; without one (`UseDNS no`) the address text stands for it.
    pub fn matches(&self, address: IpAddr, host: Option<&str>) -> bool {
        let address = canonical(address);
        let address_text = address.to_string();
        let mut address_match = ListMatch::None;
        for e in &self.entries {
            let hit = match e.network {
                Some((net, bits)) => in_network(address, net, bits),
                None => glob_match(
                    e.pattern.to_ascii_lowercase().as_bytes(),
                    address_text.as_bytes(),
                ),
            };
            if hit {
                if e.negated {
                    return false;
                }
                address_match = ListMatch::Positive;
            }
        }
        let host = host.unwrap_or(&address_text);
        let host_match = match_list(
            host,
            self.entries.iter().map(|e| (e.negated, e.pattern.as_str())),
        );
        match host_match {
            ListMatch::Negated => false,
            ListMatch::Positive => true,
            ListMatch::None => address_match == ListMatch::Positive,
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address (OpenSSH's `ipv64_normalise_mapped`).
pub(crate) fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// `address` or `address/bits` → the network; other patterns → `None`.
fn parse_network(pattern: &str) -> Result<Option<(IpAddr, u8)>, KeyError> {
    let bad = |reason| {
        Err(KeyError::InvalidHostPattern {
            pattern: pattern.to_owned(),
            reason,
        })
    };
    let Some((addr, bits)) = pattern.split_once('/') else {
        return Ok(pattern
            .parse::<IpAddr>()
            .ok()
            .map(|a| (canonical(a), max_bits(canonical(a)))));
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return bad("not an address before '/'");
    };
    let addr = canonical(addr);
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return bad("the mask length is not a number");
    }
    match bits.parse::<u8>() {
        Ok(bits) if bits <= max_bits(addr) => {
            if network_of(addr, bits) != addr {
                return bad("the address has bits set beyond the mask length");
            }
            Ok(Some((addr, bits)))
        }
        _ => bad("the mask length is too large for the address"),
    }
}

fn max_bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The network mask of `bits` leading ones, in the low `width` bits of a `u128`.
fn mask(addr: IpAddr, bits: u8) -> u128 {
    let width = u32::from(max_bits(addr));
    let bits = u32::from(bits).min(width);
    if bits == 0 {
        0
    } else {
        (u128::MAX << (128 - bits)) >> (128 - width)
    }
}

fn network_of(addr: IpAddr, bits: u8) -> IpAddr {
    let v = to_u128(addr) & mask(addr, bits);
    match addr {
        IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::from(
            u32::try_from(v).unwrap_or_default(),
        )),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::from(v)),
    }
}

/// Whether `address` is in `net`/`bits` (same family only).
fn in_network(address: IpAddr, net: IpAddr, bits: u8) -> bool {
    if address.is_ipv4() != net.is_ipv4() {
        return false;
    }
    let m = mask(net, bits);
    to_u128(address) & m == to_u128(net) & m
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert!(parse_network("192.0.2.0/24").unwrap().is_some());
        assert!(parse_network("192.0.2.1/24").is_err());
        assert!(parse_network("192.0.2.0/33").is_err());
        assert!(parse_network("2001:db8::/32").unwrap().is_some());
        assert!(parse_network("2001:db8::1/32").is_err());
        assert!(parse_network("0.0.0.0/0").unwrap().is_some());
        assert!(parse_network("::/0").unwrap().is_some());
        assert!(parse_network("host/24").is_err());
        assert!(parse_network("10.0.0.0/x").is_err());
        assert_eq!(parse_network("*.example.com").unwrap(), None);
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(in_network(v4, "10.0.0.0".parse().unwrap(), 8));
        assert!(!in_network(v4, "10.0.0.0".parse().unwrap(), 16));
        assert!(in_network(v4, "0.0.0.0".parse().unwrap(), 0));
        assert!(!in_network(v4, "::".parse().unwrap(), 0));
        assert!(in_network(v4, v4, 32));
    }
}
