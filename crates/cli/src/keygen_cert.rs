//! `nacre keygen -s CA -I id [-n principals] [-V validity] [-z serial] [-h] [-O option] key.pub`
//! (sign certificates, written to `key-cert.pub`) and `nacre keygen -L -f cert` (show them), with
//! ssh-keygen's options, messages and output (OpenSSH `PROTOCOL.certkeys`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nacre::keys::cert::{CertBuilder, SourceAddress};
use nacre::keys::{CertType, Certificate, KeyOrCert, SignatureAlgorithm};

/// What `-s` needs from the command line.
pub struct SignArgs<'a> {
    /// `-s`: the CA's private key.
    pub ca: &'a Path,
    /// `-I`: the key id.
    pub key_id: Option<&'a str>,
    /// `-n`: comma-separated principals.
    pub principals: Option<&'a str>,
    /// `-V`: the validity interval.
    pub validity: Option<&'a str>,
    /// `-z`: the serial.
    pub serial: Option<u64>,
    /// `-h`: a host certificate.
    pub host: bool,
    /// `-O`: certificate options.
    pub options: &'a [String],
    /// `-t`: the CA signature algorithm (`rsa-sha2-256`, ...).
    pub algorithm: Option<&'a str>,
    /// `-P`: the CA key's passphrase.
    pub passphrase: Option<&'a str>,
    /// The public keys to certify.
    pub keys: &'a [PathBuf],
    /// `-q`.
    pub quiet: bool,
}

/// The flag extensions ssh-keygen's `-O` switches, by their option names.
const FLAGS: &[(&str, &str)] = &[
    ("x11-forwarding", "permit-X11-forwarding"),
    ("agent-forwarding", "permit-agent-forwarding"),
    ("port-forwarding", "permit-port-forwarding"),
    ("pty", "permit-pty"),
    ("user-rc", "permit-user-rc"),
];

/// Certificate options as ssh-keygen's `add_cert_option` and `finalise_cert_exts` build them.
#[derive(Default)]
struct Options {
    flags: Vec<&'static str>,
    force_command: Option<String>,
    source_address: Option<String>,
    verify_required: bool,
    no_touch_required: bool,
    custom: Vec<(String, Option<String>, bool)>,
}

fn parse_options(list: &[String], host: bool) -> anyhow::Result<Options> {
    let mut o = Options::default();
    if !host {
        o.flags = FLAGS.iter().map(|(_, ext)| *ext).collect();
    }
    for opt in list {
        let lower = opt.to_ascii_lowercase();
        let value = |prefix: &str| opt.get(prefix.len()..).unwrap_or_default().to_owned();
        if lower == "clear" {
            o.flags.clear();
            o.no_touch_required = false;
            o.verify_required = false;
        } else if let Some((_, ext)) = FLAGS.iter().find(|(n, _)| lower == format!("no-{n}")) {
            o.flags.retain(|f| f != ext);
        } else if let Some((_, ext)) = FLAGS.iter().find(|(n, _)| lower == format!("permit-{n}")) {
            if !o.flags.contains(ext) {
                o.flags.push(ext);
            }
        } else if lower == "touch-required" {
            o.no_touch_required = false;
        } else if lower == "no-touch-required" {
            o.no_touch_required = true;
        } else if lower == "no-verify-required" {
            o.verify_required = false;
        } else if lower == "verify-required" {
            o.verify_required = true;
        } else if lower.starts_with("force-command=") {
            let v = value("force-command=");
            if v.is_empty() {
                bail!("Empty force-command option");
            }
            if o.force_command.replace(v).is_some() {
                bail!("force-command already specified");
            }
        } else if lower.starts_with("source-address=") {
            let v = value("source-address=");
            if v.is_empty() {
                bail!("Empty source-address option");
            }
            SourceAddress::parse(&v).map_err(|_| anyhow::anyhow!("Invalid source-address list"))?;
            if o.source_address.replace(v).is_some() {
                bail!("source-address already specified");
            }
        } else if lower.starts_with("extension:") || lower.starts_with("critical:") {
            let crit = lower.starts_with("critical:");
            let rest = opt.split_once(':').map(|(_, r)| r).unwrap_or_default();
            let (name, val) = match rest.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (rest.to_owned(), None),
            };
            o.custom.push((name, val, crit));
        } else {
            bail!("Unsupported certificate option \"{opt}\"");
        }
    }
    Ok(o)
}

fn apply(o: Options, mut b: CertBuilder) -> CertBuilder {
    if let Some(c) = o.force_command {
        b = b.critical_option("force-command", Some(c));
    }
    if let Some(s) = o.source_address {
        b = b.critical_option("source-address", Some(s));
    }
    if o.verify_required {
        b = b.critical_option("verify-required", None);
    }
    for f in o.flags {
        b = b.extension(f, None);
    }
    if o.no_touch_required {
        b = b.extension("no-touch-required", None);
    }
    for (name, val, crit) in o.custom {
        b = if crit {
            b.critical_option(name, val)
        } else {
            b.extension(name, val)
        };
    }
    b
}

/// `-s`: certifies every key; returns the exit code.
pub fn sign(args: &SignArgs<'_>) -> anyhow::Result<i32> {
    let key_id = args
        .key_id
        .context("Must specify key id (-I) when certifying")?;
    let ca = crate::keygen::load_private(args.ca, args.passphrase)?;
    let alg = match args.algorithm {
        None => None,
        Some(name) => {
            let alg = SignatureAlgorithm::from_name(name)
                .filter(|a| ca.key_type().supports(*a))
                .with_context(|| {
                    format!(
                        "CA key type {} doesn't match specified {name}",
                        ca.key_type()
                    )
                })?;
            Some(alg)
        }
    };
    let principals: Vec<String> = match args.principals {
        None => Vec::new(),
        Some(list) => {
            let v: Vec<String> = list.split(',').map(str::to_owned).collect();
            if v.iter().any(String::is_empty) {
                bail!("Empty principal name");
            }
            v
        }
    };
    let (after, before) = match args.validity {
        None => (0, u64::MAX),
        Some(spec) => crate::keygen_time::parse_validity(spec, crate::keygen_time::now())?,
    };
    let cert_type = if args.host {
        CertType::Host
    } else {
        CertType::User
    };
    for path in args.keys {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("load pubkey \"{}\"", path.display()))?;
        let (key, comment) = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(KeyOrCert::from_openssh_line)
            .transpose()
            .with_context(|| format!("load pubkey \"{}\"", path.display()))?
            .with_context(|| format!("load pubkey \"{}\"", path.display()))?;
        let key = match key {
            KeyOrCert::Key(k) => k,
            KeyOrCert::Cert(c) => bail!(
                "key \"{}\" type {} cannot be certified",
                path.display(),
                c.type_name()
            ),
        };
        let opts = parse_options(args.options, args.host)?;
        let builder = CertBuilder::new(key, cert_type)
            .serial(args.serial.unwrap_or(0))
            .key_id(key_id)
            .principals(principals.clone())
            .validity(after, before);
        let cert = apply(opts, builder)
            .sign(&ca, alg, &mut rand_core::OsRng)
            .with_context(|| format!("Couldn't certify key {}", path.display()))?;
        let shown = path.to_string_lossy();
        let out = PathBuf::from(format!(
            "{}-cert.pub",
            shown.strip_suffix(".pub").unwrap_or(&shown)
        ));
        std::fs::write(&out, cert.to_openssh_line(&comment) + "\n")
            .with_context(|| format!("Unable to save public key to {}", out.display()))?;
        if !args.quiet {
            let for_principals = args
                .principals
                .map(|p| format!(" for {p}"))
                .unwrap_or_default();
            // OpenSSH's logit() ends its stderr lines with CR LF.
            eprint!(
                "Signed {} key {}: id \"{}\" serial {}{for_principals} valid {}\r\n",
                cert_type.name(),
                out.display(),
                cert.key_id(),
                cert.serial(),
                crate::keygen_time::format_validity(after, before)
            );
        }
    }
    Ok(0)
}

/// `show_options`: one option per line, values of the known ones after a space.
fn show_options(out: &mut String, options: &[(String, Vec<u8>)], critical: bool) {
    const FLAG_EXTS: &[&str] = &[
        "permit-X11-forwarding",
        "permit-agent-forwarding",
        "permit-port-forwarding",
        "permit-pty",
        "permit-user-rc",
        "no-touch-required",
    ];
    for (name, data) in options {
        out.push_str(&format!("                {name}"));
        let known_value = critical && (name == "force-command" || name == "source-address");
        if (!critical && FLAG_EXTS.contains(&name.as_str()))
            || (critical && name == "verify-required")
        {
            out.push('\n');
        } else if known_value {
            // string value: a 4-byte length, then the bytes.
            let v = data.get(4..).unwrap_or_default();
            out.push_str(&format!(" {}\n", String::from_utf8_lossy(v)));
        } else if !data.is_empty() {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&format!(" UNKNOWN OPTION: {hex} (len {})\n", data.len()));
        } else {
            out.push_str(" UNKNOWN FLAG OPTION\n");
        }
    }
}

/// `print_cert`: the certificate as `ssh-keygen -L` shows it.
pub fn describe(cert: &Certificate, md5: bool) -> String {
    let label = crate::keygen_show::type_label(cert.key());
    let ca_label = crate::keygen_show::type_label(cert.signature_key());
    let fp = crate::keygen_show::fingerprint(cert.key(), md5);
    let ca_fp = crate::keygen_show::fingerprint(cert.signature_key(), md5);
    let mut out = String::new();
    out.push_str(&format!(
        "        Type: {} {} certificate\n",
        cert.type_name(),
        cert.cert_type().name()
    ));
    out.push_str(&format!("        Public key: {label}-CERT {fp}\n"));
    out.push_str(&format!(
        "        Signing CA: {ca_label} {ca_fp} (using {})\n",
        cert.signature_algorithm()
    ));
    out.push_str(&format!("        Key ID: \"{}\"\n", cert.key_id()));
    out.push_str(&format!("        Serial: {}\n", cert.serial()));
    out.push_str(&format!(
        "        Valid: {}\n",
        crate::keygen_time::format_validity(cert.valid_after(), cert.valid_before())
    ));
    out.push_str("        Principals: ");
    if cert.principals().is_empty() {
        out.push_str("(none)\n");
    } else {
        for p in cert.principals() {
            out.push_str(&format!("\n                {p}"));
        }
        out.push('\n');
    }
    out.push_str("        Critical Options: ");
    if cert.critical_options().is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push('\n');
        show_options(&mut out, cert.critical_options(), true);
    }
    out.push_str("        Extensions: ");
    if cert.extensions().is_empty() {
        out.push_str("(none)\n");
    } else {
        out.push('\n');
        show_options(&mut out, cert.extensions(), false);
    }
    out
}

/// `-L`: every certificate of the file (or `-` for standard input); exit 1 when none.
pub fn show(path: &Path, md5: bool) -> anyhow::Result<i32> {
    let is_stdin = path == Path::new("-");
    let (text, shown) = if is_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s)?;
        (s, "(stdin)".to_owned())
    } else {
        let t = std::fs::read_to_string(path)
            .with_context(|| format!("{}: {}", "nacre keygen", path.display()))?;
        (t, path.display().to_string())
    };
    let mut ok = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match KeyOrCert::from_openssh_line(line) {
            Err(e) => eprintln!("{shown}:{n}: invalid key: {e}"),
            Ok((KeyOrCert::Key(_), _)) => eprintln!("{shown}:{n} is not a certificate"),
            Ok((KeyOrCert::Cert(c), _)) => {
                ok = true;
                if !is_stdin && n == 1 {
                    println!("{shown}:");
                } else {
                    println!("{shown}:{n}:");
                }
                print!("{}", describe(&c, md5));
            }
        }
    }
    Ok(if ok { 0 } else { 1 })
}
