//! The critical options (PROTOCOL.certkeys §2.1) and extensions (§2.2) of a user certificate,
//! read as sshd reads them (`cert_option_list` in OpenSSH's auth-options.c).

use std::net::IpAddr;

use nacre_wire::Reader;

use super::Certificate;
use crate::KeyError;

/// What a user certificate's options allow and require.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertOptions {
    /// `force-command` (critical, §2.1): the command run instead of the client's.
    pub force_command: Option<String>,
    /// `source-address` (critical, §2.1): the client addresses allowed.
    pub source_address: Option<SourceAddress>,
    /// `verify-required` (critical, §2.1): security key signatures must show user verification.
    pub verify_required: bool,
    /// `permit-X11-forwarding` (extension, §2.2).
    pub permit_x11_forwarding: bool,
    /// `permit-agent-forwarding` (extension, §2.2).
    pub permit_agent_forwarding: bool,
    /// `permit-port-forwarding` (extension, §2.2).
    pub permit_port_forwarding: bool,
    /// `permit-pty` (extension, §2.2).
    pub permit_pty: bool,
    /// `permit-user-rc` (extension, §2.2).
    pub permit_user_rc: bool,
    /// `no-touch-required` (extension, §2.2): security key signatures need no user presence.
    pub no_touch_required: bool,
    /// Extensions nacre does not know (ignored, as sshd ignores them).
    pub unknown_extensions: Vec<String>,
}

impl Certificate {
    /// Reads the certificate's critical options and extensions (PROTOCOL.certkeys §2.1, §2.2).
    /// An unknown critical option, a repeated `force-command`/`source-address`, an invalid
    /// address list or option data with extra bytes refuse the certificate, as sshd does.
    pub fn options(&self) -> Result<CertOptions, KeyError> {
        let mut out = CertOptions::default();
        for (name, data) in self.critical_options() {
            match name.as_str() {
                "verify-required" => {
                    no_data(data)?;
                    out.verify_required = true;
                }
                "force-command" => {
                    if out.force_command.is_some() {
                        return Err(KeyError::CertificateRefused(
                            "Certificate has multiple force-command options",
                        ));
                    }
                    out.force_command = Some(string_data(data)?);
                }
                "source-address" => {
                    if out.source_address.is_some() {
                        return Err(KeyError::CertificateRefused(
                            "Certificate has multiple source-address options",
                        ));
                    }
                    out.source_address = Some(SourceAddress::parse(&string_data(data)?)?);
                }
                _ => {
                    return Err(KeyError::CertificateRefused(
                        "Certificate critical option is not supported",
                    ))
                }
            }
        }
        for (name, data) in self.extensions() {
            let flag = match name.as_str() {
                "permit-X11-forwarding" => &mut out.permit_x11_forwarding,
                "permit-agent-forwarding" => &mut out.permit_agent_forwarding,
                "permit-port-forwarding" => &mut out.permit_port_forwarding,
                "permit-pty" => &mut out.permit_pty,
                "permit-user-rc" => &mut out.permit_user_rc,
                "no-touch-required" => &mut out.no_touch_required,
                other => {
                    out.unknown_extensions.push(other.to_owned());
                    continue;
                }
            };
            no_data(data)?;
            *flag = true;
        }
        Ok(out)
    }
}

fn no_data(data: &[u8]) -> Result<(), KeyError> {
    if data.is_empty() {
        Ok(())
    } else {
        Err(KeyError::CertificateRefused(
            "Certificate option corrupt (extra data)",
        ))
    }
}

/// Option data holding one string and nothing else.
fn string_data(data: &[u8]) -> Result<String, KeyError> {
    const BAD: KeyError = KeyError::CertificateRefused("Certificate option corrupt");
    let mut r = Reader::new(data);
    let value = r.string().map_err(|_| BAD)?;
    r.finish().map_err(|_| BAD)?;
    match std::str::from_utf8(value) {
        Ok(s) if !s.contains('\0') => Ok(s.to_owned()),
        _ => Err(BAD),
    }
}

/// A `source-address` list: comma-separated addresses or CIDR networks (OpenSSH's
/// `addr_match_cidr_list`: no names, no wildcards, no host bits beyond the prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceAddress {
    /// The list as written.
    pub text: String,
    networks: Vec<(IpAddr, u8)>,
}

impl SourceAddress {
    /// Parses the list; an invalid entry refuses the certificate, as sshd does.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        const BAD: KeyError =
            KeyError::CertificateRefused("Certificate source-address contents invalid");
        let mut networks = Vec::new();
        for entry in text.split(',') {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| BAD)?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                    b.parse::<u8>().map_err(|_| BAD)?
                }
                Some(_) => return Err(BAD),
            };
            if bits > max || to_u128(addr) & !mask(addr, bits) != 0 {
                return Err(BAD);
            }
            networks.push((addr, bits));
        }
        Ok(Self {
            text: text.to_owned(),
            networks,
        })
    }

    /// Whether `addr` is in one of the networks (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.networks.iter().any(|&(net, bits)| {
            net.is_ipv4() == addr.is_ipv4()
                && to_u128(addr) & mask(net, bits) == to_u128(net) & mask(net, bits)
        })
    }
}

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The network mask of `bits` for the family of `addr`, in the low bits of a u128.
fn mask(addr: IpAddr, bits: u8) -> u128 {
    let width: u32 = if addr.is_ipv4() { 32 } else { 128 };
    let bits = u32::from(bits).min(width);
    let all: u128 = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    if bits == 0 {
        0
    } else {
        all & !(all.checked_shr(bits).unwrap_or(0))
    }
}
