//! `nacre serve -o Name=value` with sshd's option names (LoginGraceTime, MaxAuthTries,
//! MaxStartups, MaxSessions, PubkeyAcceptedAlgorithms, Banner, PubkeyAuthentication,
//! PasswordAuthentication, KbdInteractiveAuthentication, AuthenticationMethods,
//! AllowTcpForwarding, AllowAgentForwarding, ClientAliveInterval, ClientAliveCountMax,
//! TrustedUserCAKeys, AuthorizedPrincipalsFile, HostCertificate, Compression): the
//! server-side ones are taken here,
//! the transport ones (KexAlgorithms, Ciphers, MACs, HostKeyAlgorithms, RekeyLimit, ModuliFile)
//! go to the transport configuration.

use std::time::Duration;

use anyhow::{bail, Context};
use nacre::auth::{AuthServerConfig, MethodKind};
use nacre::connection::LivenessConfig;
use nacre::keys::SignatureAlgorithm;
use nacre::transport::Config;
use nacre::ForwardingPolicy;

/// What the server options decide besides the transport.
#[derive(Clone)]
pub struct ServerOptions {
    /// Authentication limits and methods.
    pub auth: AuthServerConfig,
    /// Port forwarding.
    pub forwarding: ForwardingPolicy,
    /// ClientAliveInterval / ClientAliveCountMax.
    pub liveness: LivenessConfig,
    /// AllowAgentForwarding (default yes, as sshd; it matters only where commands may run).
    pub allow_agent_forwarding: bool,
    /// MaxStartups, MaxSessions and LoginGraceTime (which covers the whole handshake).
    pub limits: nacre::ServerLimits,
    /// TrustedUserCAKeys and AuthorizedPrincipalsFile (user certificates).
    pub certs: crate::serve_certs::CertSettings,
}

/// sshd's time format: `120`, `2m`, `1h30m`, `90s`.
fn parse_time(value: &str) -> anyhow::Result<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in value.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().with_context(|| format!("bad time {value:?}"))?;
        num.clear();
        total += n * match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604_800,
            _ => bail!("bad time unit in {value:?}"),
        };
    }
    if !num.is_empty() {
        total += num
            .parse::<u64>()
            .with_context(|| format!("bad time {value:?}"))?;
    }
    Ok(Duration::from_secs(total))
}

fn yes(value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => bail!("expected yes or no, not {other:?}"),
    }
}

fn method(name: &str) -> anyhow::Result<MethodKind> {
    Ok(match name {
        "publickey" => MethodKind::PublicKey,
        "password" => MethodKind::Password,
        "keyboard-interactive" => MethodKind::KeyboardInteractive,
        other => bail!("unknown authentication method {other:?}"),
    })
}

/// Applies the options in order; later ones override earlier ones.
pub fn parse(options: &[String], transport: &mut Config) -> anyhow::Result<ServerOptions> {
    let mut auth = AuthServerConfig::default();
    let mut forwarding = ForwardingPolicy::default();
    let mut liveness = LivenessConfig::default();
    let mut allow_agent_forwarding = true;
    let mut limits = nacre::ServerLimits::default();
    let mut enabled = [
        (MethodKind::PublicKey, true),
        (MethodKind::Password, true),
        (MethodKind::KeyboardInteractive, true),
    ];
    let mut explicit_methods: Option<Vec<Vec<MethodKind>>> = None;
    let mut certs = crate::serve_certs::CertSettings::default();

    for o in options {
        let (name, value) = o
            .split_once('=')
            .with_context(|| format!("option {o:?} is not Name=value"))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "logingracetime" => {
                let t = parse_time(value)?;
                auth.login_grace_time = (!t.is_zero()).then_some(t);
                limits.login_grace_time = auth.login_grace_time;
            }
            "maxstartups" => {
                limits.max_startups = value
                    .parse()
                    .with_context(|| format!("MaxStartups {value:?}"))?
            }
            "maxsessions" => limits.max_sessions = value.parse().context("MaxSessions")?,
            "maxauthtries" => auth.max_tries = value.parse().context("MaxAuthTries")?,
            "pubkeyacceptedalgorithms" => {
                auth.pubkey_algorithms = crate::options::list(
                    value,
                    &auth.pubkey_algorithms,
                    "signature algorithm",
                    SignatureAlgorithm::from_name,
                )?;
            }
            "banner" => {
                auth.banner = match value {
                    "none" => None,
                    path => Some(
                        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
                    ),
                }
            }
            "trustedusercakeys" => {
                certs.trusted_user_ca_keys =
                    (!value.eq_ignore_ascii_case("none")).then(|| value.into());
            }
            "authorizedprincipalsfile" => {
                certs.authorized_principals_file =
                    (!value.eq_ignore_ascii_case("none")).then(|| value.to_owned());
            }
            "hostcertificate" => {
                let text = std::fs::read_to_string(value)
                    .with_context(|| format!("HostCertificate {value}"))?;
                let line = text
                    .lines()
                    .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                    .unwrap_or_default();
                let (cert, _) = nacre::keys::Certificate::from_openssh_line(line)
                    .with_context(|| format!("HostCertificate {value}"))?;
                if cert.cert_type() != nacre::keys::CertType::Host {
                    bail!("HostCertificate {value} is not a host certificate");
                }
                if !transport
                    .host_keys
                    .iter()
                    .any(|k| k.public_key() == *cert.key())
                {
                    bail!("HostCertificate {value} does not certify any host key");
                }
                transport.host_certificates.push(std::sync::Arc::new(cert));
            }
            "pubkeyauthentication" => enabled[0].1 = yes(value)?,
            "passwordauthentication" => enabled[1].1 = yes(value)?,
            "kbdinteractiveauthentication" => enabled[2].1 = yes(value)?,
            "authenticationmethods" => {
                explicit_methods = Some(
                    value
                        .split_whitespace()
                        .map(|list| {
                            list.split(',')
                                .map(method)
                                .collect::<anyhow::Result<Vec<_>>>()
                        })
                        .collect::<anyhow::Result<_>>()?,
                )
            }
            "allowtcpforwarding" => {
                forwarding = ForwardingPolicy::from_allow_tcp_forwarding(value)
                    .with_context(|| format!("AllowTcpForwarding {value:?}"))?
            }
            "allowagentforwarding" => allow_agent_forwarding = yes(value)?,
            "clientaliveinterval" => {
                liveness.keepalive_interval = Some(parse_time(value)?).filter(|t| !t.is_zero())
            }
            "clientalivecountmax" => {
                liveness.keepalive_max = value.parse().context("ClientAliveCountMax")?
            }
            // sshd: `yes` (its default) and `delayed` mean zlib@openssh.com after
            // authentication; `no` offers only none.
            "compression" => {
                transport.algorithms.compression = match value.to_ascii_lowercase().as_str() {
                    "yes" | "delayed" => nacre::transport::config::compression_default(),
                    "no" => vec![nacre::transport::CompressionAlg::None],
                    other => bail!("Compression: expected yes, delayed or no, not {other:?}"),
                }
            }
            _ => crate::options::apply(transport, o)?,
        }
    }
    auth.methods = match explicit_methods {
        Some(m) => m,
        None => enabled
            .iter()
            .filter(|(_, on)| *on)
            .map(|(m, _)| vec![*m])
            .collect(),
    };
    if liveness.keepalive_interval.is_some() && liveness.keepalive_max == 0 {
        liveness.keepalive_max = 3;
    }
    Ok(ServerOptions {
        auth,
        forwarding,
        liveness,
        allow_agent_forwarding,
        limits,
        certs,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn sshd_options() {
        let mut t = Config::server(Vec::new());
        let o = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let s = parse(
            &o(&[
                "LoginGraceTime=1m30s",
                "MaxAuthTries=3",
                "PasswordAuthentication=no",
                "AllowTcpForwarding=local",
                "ClientAliveInterval=15",
                "Ciphers=aes128-ctr",
                "MaxStartups=3:50:9",
                "MaxSessions=2",
                "AllowAgentForwarding=no",
            ]),
            &mut t,
        )
        .unwrap();
        assert_eq!(s.auth.login_grace_time, Some(Duration::from_secs(90)));
        assert_eq!(s.limits.login_grace_time, Some(Duration::from_secs(90)));
        assert_eq!(s.limits.max_startups.to_string(), "3:50:9");
        assert_eq!(s.limits.max_sessions, 2);
        assert!(!s.allow_agent_forwarding);
        assert!(parse(&o(&["MaxStartups=9:50:3"]), &mut t).is_err());
        assert!(parse(&o(&["MaxSessions=many"]), &mut t).is_err());
        assert_eq!(s.auth.max_tries, 3);
        assert_eq!(
            s.auth.methods,
            vec![
                vec![MethodKind::PublicKey],
                vec![MethodKind::KeyboardInteractive]
            ]
        );
        assert!(s.forwarding.allow_local && !s.forwarding.allow_remote);
        assert_eq!(s.liveness.keepalive_interval, Some(Duration::from_secs(15)));
        assert_eq!(t.algorithms.cipher.len(), 1);
        let s = parse(
            &o(&[
                "AuthenticationMethods=publickey,password",
                "PubkeyAcceptedAlgorithms=-ssh-ed25519",
            ]),
            &mut t,
        )
        .unwrap();
        assert_eq!(
            s.auth.methods,
            vec![vec![MethodKind::PublicKey, MethodKind::Password]]
        );
        assert!(!s
            .auth
            .pubkey_algorithms
            .contains(&SignatureAlgorithm::Ed25519));
        assert!(parse(&o(&["NoSuchOption=1"]), &mut t).is_err());
    }
}
