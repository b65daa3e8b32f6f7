//! Whether a user certificate (PROTOCOL.certkeys §2) logs a user in, as sshd decides it
//! (auth2-pubkey.c): a CA trusted by `TrustedUserCAKeys` (with `AuthorizedPrincipalsFile`) or by
//! a `cert-authority` line of authorized_keys (with `principals=`), the certificate's type,
//! window, principals, critical options (§2.1, `source-address` checked against the client) and
//! extensions (§2.2), merged with the options of the line that trusted it.

use std::net::IpAddr;

use super::{CertOptions, CertType, Certificate};
use crate::authorized_keys::{AuthorizedKeys, FromPatterns, KeyOptions};
use crate::{KeyError, PublicKey};

impl CertOptions {
    /// The options as an authorized_keys line would give them: `restrict`, then each permission
    /// the certificate grants (§2.2), `command=` from `force-command` and `from=` from
    /// `source-address` (§2.1), `verify-required`, `no-touch-required`.
    pub fn to_key_options(&self) -> KeyOptions {
        KeyOptions {
            restrict: true,
            pty: self.permit_pty,
            port_forwarding: self.permit_port_forwarding,
            agent_forwarding: self.permit_agent_forwarding,
            x11_forwarding: self.permit_x11_forwarding,
            user_rc: self.permit_user_rc,
            no_touch_required: self.no_touch_required,
            verify_required: self.verify_required,
            command: self.force_command.clone(),
            from: self
                .source_address
                .as_ref()
                .and_then(|s| FromPatterns::parse(&s.text).ok()),
            ..KeyOptions::default()
        }
    }
}

/// OpenSSH's `sshauthopt_merge`: the options of the line that trusted a certificate (`primary`)
/// with the certificate's own. Permissions must be in both, `verify-required` in either; lists
/// (`from`, `permitopen`, `permitlisten`, `environment`, `tunnel`) come from the line when it
/// has them; two forced commands must be the same.
pub fn merge_options(primary: &KeyOptions, cert: &KeyOptions) -> Result<KeyOptions, KeyError> {
    let command = match (&primary.command, &cert.command) {
        (Some(a), Some(b)) if a != b => {
            return Err(KeyError::CertificateRefused(
                "forced command options do not match",
            ))
        }
        (Some(a), _) | (None, Some(a)) => Some(a.clone()),
        (None, None) => None,
    };
    Ok(KeyOptions {
        restrict: primary.restrict || cert.restrict,
        cert_authority: false,
        pty: primary.pty && cert.pty,
        port_forwarding: primary.port_forwarding && cert.port_forwarding,
        agent_forwarding: primary.agent_forwarding && cert.agent_forwarding,
        x11_forwarding: primary.x11_forwarding && cert.x11_forwarding,
        user_rc: primary.user_rc && cert.user_rc,
        no_touch_required: primary.no_touch_required && cert.no_touch_required,
        verify_required: primary.verify_required || cert.verify_required,
        command,
        from: primary.from.clone().or_else(|| cert.from.clone()),
        environment: prefer(&primary.environment, &cert.environment),
        expiry_time: match (primary.expiry_time, cert.expiry_time) {
            (Some(a), Some(b)) => Some(if a.unix_utc <= b.unix_utc { a } else { b }),
            (a, b) => a.or(b),
        },
        permit_open: prefer(&primary.permit_open, &cert.permit_open),
        permit_listen: prefer(&primary.permit_listen, &cert.permit_listen),
        principals: None,
        tunnel: primary.tunnel.or(cert.tunnel),
    })
}

/// The user certificate's own checks at `now` from `peer`: a user certificate in its window
/// (listing `user` unless `user` is None), options sshd can honour, `source-address` allowing
/// `peer`. Returns the options as authorized_keys options.
fn check_cert(
    cert: &Certificate,
    user: Option<&str>,
    now: u64,
    peer: IpAddr,
) -> Result<KeyOptions, KeyError> {
    cert.check_authority(CertType::User, now, user, false)?;
    cert.check_ca_algorithm(super::DEFAULT_CA_ALGORITHMS)?;
    let options = cert.options()?;
    if let Some(src) = &options.source_address {
        if !src.allows(peer) {
            return Err(KeyError::CertificateRefused(
                "Refused by certificate options: source-address does not allow the client",
            ));
        }
    }
    Ok(options.to_key_options())
}

/// The primary list when it has entries, else the other (OpenSSH prefers the line's lists).
fn prefer<T: Clone>(primary: &[T], other: &[T]) -> Vec<T> {
    if primary.is_empty() {
        other.to_vec()
    } else {
        primary.to_vec()
    }
}

/// A line's own `from=`/`expiry-time=` checks.
fn check_line(options: &KeyOptions, peer: IpAddr, now: u64) -> Result<(), KeyError> {
    options
        .check(peer, None, now)
        .map_err(|_| KeyError::CertificateRefused("Refused by certificate principals options"))
}

/// An `AuthorizedPrincipalsFile` (sshd_config(5)): one principal per line, optionally after
/// authorized_keys options; the options of the first line naming one of the certificate's
/// principals, or None.
pub fn match_principals_file(text: &str, cert: &Certificate) -> Option<KeyOptions> {
    for line in text.lines() {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.trim_end_matches(['\n', '\r', ' ', '\t']);
        let (options, principal) = match line.rfind([' ', '\t']) {
            Some(i) => {
                let (opts, name) = line.split_at(i);
                match KeyOptions::parse(opts) {
                    Ok((o, rest)) if rest.trim().is_empty() => (o, name.trim_start()),
                    _ => continue,
                }
            }
            None => (KeyOptions::default(), line),
        };
        if cert.principals().iter().any(|p| p == principal) {
            return Some(options);
        }
    }
    None
}

/// sshd's `TrustedUserCAKeys` path (`user_cert_trusted_ca`): the certificate's CA must be one
/// of `cas`; with `principals_file` (the text of `AuthorizedPrincipalsFile`) a certificate
/// principal must be listed there (and that line's options apply), without it the certificate
/// must list `user`. Returns the merged options.
pub fn authorize_by_trusted_ca(
    cas: &[PublicKey],
    principals_file: Option<&str>,
    cert: &Certificate,
    user: &str,
    now: u64,
    peer: IpAddr,
) -> Result<KeyOptions, KeyError> {
    if !cas.contains(cert.signature_key()) {
        return Err(KeyError::CertificateRefused("CA is not trusted"));
    }
    let line_options = match principals_file {
        Some(text) => Some(match_principals_file(text, cert).ok_or(
            KeyError::CertificateRefused("Certificate does not contain an authorized principal"),
        )?),
        None => None,
    };
    let name = if line_options.is_some() {
        None
    } else {
        Some(user)
    };
    let cert_options = check_cert(cert, name, now, peer)?;
    match line_options {
        None => Ok(cert_options),
        Some(line) => {
            check_line(&line, peer, now)?;
            merge_options(&line, &cert_options)
        }
    }
}

/// sshd's authorized_keys path for certificates: the first `cert-authority` line whose key is
/// the certificate's CA; the certificate must list one of the line's `principals=` (exact
/// names), or `user` when the line has none. Returns the merged options.
pub fn authorize_by_authorized_keys(
    keys: &AuthorizedKeys,
    cert: &Certificate,
    user: &str,
    now: u64,
    peer: IpAddr,
) -> Result<KeyOptions, KeyError> {
    let mut last = KeyError::CertificateRefused("CA is not trusted");
    for entry in keys.entries() {
        if !entry.options.cert_authority || entry.key != *cert.signature_key() {
            continue;
        }
        let result = (|| {
            let name = match &entry.options.principals {
                None => Some(user),
                Some(list) => {
                    if !cert.principals().iter().any(|p| list.contains(p)) {
                        return Err(KeyError::CertificateRefused(
                            "Certificate does not contain an authorized principal",
                        ));
                    }
                    None
                }
            };
            let cert_options = check_cert(cert, name, now, peer)?;
            check_line(&entry.options, peer, now)?;
            merge_options(&entry.options, &cert_options)
        })();
        match result {
            Ok(o) => return Ok(o),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cert::CertBuilder;
    use crate::PrivateKey;

    fn cert(
        ca: &PrivateKey,
        principals: &[&str],
        build: impl Fn(CertBuilder) -> CertBuilder,
    ) -> Certificate {
        let user = PrivateKey::from_ed25519_seed(&[9; 32]);
        build(
            CertBuilder::new(user.public_key(), CertType::User)
                .principals(principals.iter().map(|s| (*s).to_owned()).collect())
                .validity(100, 200)
                .with_default_user_extensions(),
        )
        .sign(ca, None, &mut rand_core::OsRng)
        .unwrap()
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn trusted_ca_with_and_without_principals_file() {
        let ca = PrivateKey::from_ed25519_seed(&[1; 32]);
        let other = PrivateKey::from_ed25519_seed(&[2; 32]);
        let cas = [ca.public_key()];
        let c = cert(&ca, &["alice", "ops"], |b| b);
        assert!(authorize_by_trusted_ca(&cas, None, &c, "alice", 150, LOCAL).is_ok());
        assert!(authorize_by_trusted_ca(&cas, None, &c, "bob", 150, LOCAL).is_err());
        assert!(authorize_by_trusted_ca(&cas, None, &c, "alice", 250, LOCAL).is_err());
        assert!(authorize_by_trusted_ca(&cas, None, &c, "alice", 50, LOCAL).is_err());
        let by_other = cert(&other, &["alice"], |b| b);
        assert!(authorize_by_trusted_ca(&cas, None, &by_other, "alice", 150, LOCAL).is_err());
        // A principals file: the login name is not enough, a listed principal is, with its options.
        let file = "# x\nno-pty,command=\"/bin/id\" ops\n";
        let o = authorize_by_trusted_ca(&cas, Some(file), &c, "bob", 150, LOCAL).unwrap();
        assert_eq!(o.command.as_deref(), Some("/bin/id"));
        assert!(!o.pty && o.port_forwarding);
        let only_alice = cert(&ca, &["alice"], |b| b);
        assert!(
            authorize_by_trusted_ca(&cas, Some(file), &only_alice, "alice", 150, LOCAL).is_err()
        );
    }

    #[test]
    fn options_from_the_certificate_and_merged() {
        let ca = PrivateKey::from_ed25519_seed(&[1; 32]);
        let cas = [ca.public_key()];
        let c = cert(&ca, &["alice"], |b| {
            b.clear_extensions()
                .extension("permit-pty", None)
                .critical_option("force-command", Some("/bin/date".into()))
                .critical_option("source-address", Some("10.0.0.0/8".into()))
        });
        assert!(authorize_by_trusted_ca(&cas, None, &c, "alice", 150, LOCAL).is_err());
        let inside: IpAddr = "10.9.8.7".parse().unwrap();
        let o = authorize_by_trusted_ca(&cas, None, &c, "alice", 150, inside).unwrap();
        assert_eq!(o.command.as_deref(), Some("/bin/date"));
        assert!(o.pty && !o.port_forwarding && !o.agent_forwarding && !o.x11_forwarding);
        // Two different forced commands do not merge.
        let (line, _) = KeyOptions::parse("command=\"/bin/other\"").unwrap();
        assert!(merge_options(&line, &o).is_err());
        let (line, _) = KeyOptions::parse("no-pty,permitopen=\"h:1\"").unwrap();
        let m = merge_options(&line, &o).unwrap();
        assert!(!m.pty && m.permit_open.len() == 1 && m.command.is_some());
    }

    #[test]
    fn authorized_keys_cert_authority_lines() {
        let ca = PrivateKey::from_ed25519_seed(&[1; 32]);
        let text = format!(
            "cert-authority,principals=\"ops,dev\" {}\n",
            ca.public_key().to_openssh_line("")
        );
        let (keys, errors) = AuthorizedKeys::parse(&text);
        assert!(errors.is_empty());
        let ops = cert(&ca, &["ops"], |b| b);
        assert!(authorize_by_authorized_keys(&keys, &ops, "alice", 150, LOCAL).is_ok());
        let alice = cert(&ca, &["alice"], |b| b);
        assert!(authorize_by_authorized_keys(&keys, &alice, "alice", 150, LOCAL).is_err());
        let open = format!(
            "cert-authority,from=\"10.0.0.0/8\" {}\n",
            ca.public_key().to_openssh_line("")
        );
        let (keys, _) = AuthorizedKeys::parse(&open);
        assert!(authorize_by_authorized_keys(&keys, &alice, "alice", 150, LOCAL).is_err());
        let inside: IpAddr = "10.1.1.1".parse().unwrap();
        assert!(authorize_by_authorized_keys(&keys, &alice, "alice", 150, inside).is_ok());
        assert!(authorize_by_authorized_keys(&keys, &ops, "alice", 150, inside).is_err());
    }
}
