//! `-o Option=value` overrides with OpenSSH's option names.

use anyhow::{bail, Context};
use nacre::crypto::{CipherAlg, MacAlg};
use nacre::keys::SignatureAlgorithm;
use nacre::transport::{Config, KexMethod};

/// An algorithm list with OpenSSH's prefixes: `+a,b` appends to `current`, `-a,b` removes,
/// `^a,b` puts first; otherwise the list replaces `current`.
pub fn list<T: Clone + PartialEq>(
    value: &str,
    current: &[T],
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    let rest = value.get(1..).unwrap_or("");
    Ok(match value.chars().next() {
        Some('+') => {
            let mut out = current.to_vec();
            out.extend(
                parse_list(rest, what, &parse)?
                    .into_iter()
                    .filter(|a| !current.contains(a)),
            );
            out
        }
        Some('-') => {
            let drop = parse_list(rest, what, &parse)?;
            current
                .iter()
                .filter(|a| !drop.contains(a))
                .cloned()
                .collect()
        }
        Some('^') => {
            let mut out = parse_list(rest, what, &parse)?;
            let others: Vec<T> = current
                .iter()
                .filter(|a| !out.contains(a))
                .cloned()
                .collect();
            out.extend(others);
            out
        }
        _ => parse_list(value, what, &parse)?,
    })
}

fn parse_list<T>(
    value: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> anyhow::Result<Vec<T>> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|name| parse(name).with_context(|| format!("unknown {what} {name:?}")))
        .collect()
}

/// Applies one `Name=value` option to a transport config.
pub fn apply(config: &mut Config, option: &str) -> anyhow::Result<()> {
    let Some((name, value)) = option.split_once('=') else {
        bail!("option {option:?} is not Name=value");
    };
    let algs = &mut config.algorithms;
    match name.to_ascii_lowercase().as_str() {
        "kexalgorithms" => {
            algs.kex = list(
                value,
                &algs.kex,
                "key exchange method",
                KexMethod::from_name,
            )?
        }
        "ciphers" => algs.cipher = list(value, &algs.cipher, "cipher", CipherAlg::from_name)?,
        "macs" => algs.mac = list(value, &algs.mac, "MAC", MacAlg::from_name)?,
        "hostkeyalgorithms" => {
            algs.host_key = list(
                value,
                &algs.host_key,
                "host key algorithm",
                SignatureAlgorithm::from_name,
            )?
        }
        "modulifile" => {
            let text =
                std::fs::read_to_string(value).with_context(|| format!("reading {value}"))?;
            config.gex.moduli = nacre::crypto::parse_moduli(&text);
            if config.gex.moduli.is_empty() {
                bail!("no usable group in moduli file {value}");
            }
        }
        "rekeylimit" => {
            let bytes = parse_size(value.split_whitespace().next().unwrap_or(""))?;
            config.limits.rekey_bytes = Some(bytes);
        }
        _ => bail!("unsupported option {name:?}"),
    }
    Ok(())
}

/// `1M`, `512K`, `1G` or a plain number of bytes.
fn parse_size(s: &str) -> anyhow::Result<u64> {
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    Ok(num
        .parse::<u64>()
        .with_context(|| format!("bad size {s:?}"))?
        * mult)
}
