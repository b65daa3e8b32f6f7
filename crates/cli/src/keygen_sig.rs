//! `nacre keygen -Y sign|verify|find-principals|match-principals|check-novalidate`: SSH
//! signatures of files (OpenSSH `PROTOCOL.sshsig`) with ssh-keygen's arguments, messages and
//! exit codes (255 on failure), and allowed_signers files.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nacre::keys::{AllowedSigners, KeyOrCert, SshSig, SshsigHash, SshsigHasher};

/// What `-Y` needs from the command line.
pub struct SigArgs<'a> {
    /// `-Y` operation.
    pub op: &'a str,
    /// `-f`: the signing key (sign) or the allowed_signers file.
    pub file: Option<&'a Path>,
    /// `-n`: the namespace.
    pub namespace: Option<&'a str>,
    /// `-s`: the signature file.
    pub signature: Option<&'a Path>,
    /// `-I`: the signer's identity (principal).
    pub identity: Option<&'a str>,
    /// `-O`: `hashalg=`, `verify-time=`, `print-pubkey`.
    pub options: &'a [String],
    /// Files to sign (none: standard input).
    pub files: &'a [PathBuf],
    /// `-P`: the key's passphrase.
    pub passphrase: Option<&'a str>,
    /// `-q`.
    pub quiet: bool,
    /// `-E md5`.
    pub md5: bool,
}

/// `sig_process_opts`.
#[derive(Default)]
struct SigOptions {
    hash: Option<SshsigHash>,
    verify_time: Option<u64>,
    print_pubkey: bool,
}

fn options(args: &SigArgs<'_>) -> anyhow::Result<SigOptions> {
    let mut out = SigOptions::default();
    for o in args.options {
        let lower = o.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("hashalg=").and(o.get(8..)) {
            out.hash = Some(
                SshsigHash::from_name(v)
                    .with_context(|| format!("unsupported hash algorithm \"{v}\""))?,
            );
        } else if let Some(v) = lower.strip_prefix("verify-time=").and(o.get(12..)) {
            out.verify_time = Some(
                crate::keygen_time::parse_absolute(v)
                    .filter(|t| *t != 0)
                    .context("Invalid \"verify-time\" option")?,
            );
        } else if lower == "print-pubkey" {
            out.print_pubkey = true;
        } else {
            bail!("Invalid option \"{o}\"");
        }
    }
    Ok(out)
}

/// Runs `-Y`; returns the exit code.
pub fn run(args: &SigArgs<'_>) -> anyhow::Result<i32> {
    let need = |what: Option<&str>, name: &str, missing: &str| -> anyhow::Result<()> {
        match what {
            Some(s) if !s.is_empty() => Ok(()),
            _ => bail!("Too few arguments for {name}: missing {missing}"),
        }
    };
    let file = args.file.map(|p| p.to_string_lossy().into_owned());
    let sig = args.signature.map(|p| p.to_string_lossy().into_owned());
    match args.op {
        op if op.starts_with("find-principals") => {
            need(sig.as_deref(), "find-principals", "signature file")?;
            need(file.as_deref(), "find-principals", "allowed keys file")?;
            find_principals(args)
        }
        op if op.starts_with("match-principals") => {
            need(file.as_deref(), "match-principals", "allowed keys file")?;
            need(args.identity, "match-principals", "principal ID")?;
            match_principals(args)
        }
        op if op.starts_with("sign") => {
            need(args.namespace, "sign", "namespace")?;
            need(file.as_deref(), "sign", "key")?;
            sign(args)
        }
        op if op.starts_with("check-novalidate") => {
            need(args.namespace, "check-novalidate", "namespace")?;
            need(sig.as_deref(), "check-novalidate", "signature file")?;
            verify(args, false)
        }
        op if op.starts_with("verify") => {
            need(args.namespace, "verify", "namespace")?;
            need(sig.as_deref(), "verify", "signature file")?;
            need(file.as_deref(), "sign", "allowed keys file")?;
            need(args.identity, "verify", "principal identity")?;
            verify(args, true)
        }
        op => bail!("Unsupported operation for -Y: \"{op}\""),
    }
}

/// The private key for `path` (a private key, its `.pub` or its `-cert.pub`), and the
/// certificate when `path` is one (`load_sign_key`).
fn signing_key(
    path: &Path,
    passphrase: Option<&str>,
) -> anyhow::Result<(nacre::keys::PrivateKey, Option<nacre::keys::Certificate>)> {
    let text = path.to_string_lossy();
    let public = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.lines().find_map(|l| KeyOrCert::from_openssh_line(l).ok()));
    let private_path = ["-cert.pub", ".pub"]
        .iter()
        .find_map(|suffix| text.strip_suffix(suffix))
        .filter(|_| public.is_some())
        .map_or_else(|| path.to_path_buf(), PathBuf::from);
    if private_path != path && !private_path.exists() {
        bail!("No private key found for public key \"{}\"", path.display());
    }
    let key = crate::keygen::load_private(&private_path, passphrase)
        .with_context(|| format!("No private key found for \"{}\"", private_path.display()))?;
    let cert = match public {
        Some((KeyOrCert::Cert(c), _)) => Some(*c),
        Some((KeyOrCert::Key(k), _)) if k != key.public_key() => {
            bail!(
                "Public key {} doesn't match private {}",
                path.display(),
                private_path.display()
            )
        }
        _ => None,
    };
    if cert.as_ref().is_some_and(|c| *c.key() != key.public_key()) {
        bail!(
            "Public key {} doesn't match private {}",
            path.display(),
            private_path.display()
        );
    }
    Ok((key, cert))
}

/// Hashes a whole reader.
fn digest(hash: SshsigHash, mut input: impl Read) -> std::io::Result<Vec<u8>> {
    let mut h = SshsigHasher::new(hash);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What signs: a private key file, or the ssh-agent holding the key (as ssh-keygen prefers).
enum Signer {
    File(Box<(nacre::keys::PrivateKey, Option<nacre::keys::Certificate>)>),
    Agent(nacre::keys::agent::AgentClient, KeyOrCert),
}

impl Signer {
    fn sign(
        &mut self,
        namespace: &str,
        hash: SshsigHash,
        digest: &[u8],
    ) -> Result<SshSig, nacre::keys::KeyError> {
        match self {
            Signer::File(file) => {
                let (key, cert) = file.as_ref();
                SshSig::sign_digest(key, cert.as_ref(), namespace, hash, digest)
            }
            Signer::Agent(agent, public) => {
                let public = public.clone();
                let signed = |alg, data: &[u8]| {
                    let result = match &public {
                        KeyOrCert::Key(k) => agent.sign(k, data, alg),
                        KeyOrCert::Cert(c) => agent.sign_certificate(c, data, alg),
                    };
                    result.map_err(|_| nacre::keys::KeyError::SigningFailed)
                };
                SshSig::sign_with(public.clone(), namespace, hash, digest, signed)
            }
        }
    }
}

/// The public key (or certificate) of `path`: the file itself when it is a public key file,
/// else `path.pub`.
fn public_of(path: &Path) -> Option<KeyOrCert> {
    let mut with_pub = path.as_os_str().to_owned();
    with_pub.push(".pub");
    [path.to_path_buf(), PathBuf::from(with_pub)]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|t| {
            t.lines()
                .find_map(|l| KeyOrCert::from_openssh_line(l).ok())
                .map(|(k, _)| k)
        })
}

/// ssh-keygen's choice: the agent when `SSH_AUTH_SOCK` holds this key (or certificate), else
/// the private key file.
fn signer(path: &Path, passphrase: Option<&str>) -> anyhow::Result<Signer> {
    if let (Some(public), Ok(mut agent)) =
        (public_of(path), nacre::keys::agent::AgentClient::from_env())
    {
        let blob = public.to_blob();
        if agent
            .identity_blobs()
            .is_ok_and(|ids| ids.iter().any(|(b, _)| *b == blob))
        {
            return Ok(Signer::Agent(agent, public));
        }
    }
    let (key, cert) = signing_key(path, passphrase)?;
    Ok(Signer::File(Box::new((key, cert))))
}

fn sign(args: &SigArgs<'_>) -> anyhow::Result<i32> {
    let opts = options(args)?;
    let hash = opts.hash.unwrap_or_default();
    let namespace = args.namespace.unwrap_or_default();
    let stdin_only = args.files.is_empty() || args.files == [PathBuf::from("-")];
    if !stdin_only && args.files.iter().any(|f| f == Path::new("-")) {
        bail!("Cannot sign mix of paths and standard input");
    }
    let mut signer = signer(args.file.unwrap_or(Path::new("")), args.passphrase)?;
    if stdin_only {
        if !args.quiet {
            eprintln!("Signing data on standard input");
        }
        let d = digest(hash, std::io::stdin().lock()).context("read standard input")?;
        let sig = signer
            .sign(namespace, hash, &d)
            .context("Signing (stdin) failed")?;
        let mut out = std::io::stdout().lock();
        out.write_all(sig.to_armored().as_bytes())?;
        out.flush()?;
        return Ok(0);
    }
    for file in args.files {
        if !args.quiet {
            eprintln!("Signing file {}", file.display());
        }
        let f = std::fs::File::open(file)
            .with_context(|| format!("Cannot open {} for signing", file.display()))?;
        let d = digest(hash, f).with_context(|| format!("read {}", file.display()))?;
        let sig = signer
            .sign(namespace, hash, &d)
            .with_context(|| format!("Signing {} failed", file.display()))?;
        let mut out = file.as_os_str().to_owned();
        out.push(".sig");
        let out = PathBuf::from(out);
        if !crate::keygen::may_write(&out) {
            continue;
        }
        std::fs::write(&out, sig.to_armored())
            .with_context(|| format!("Cannot write to {}", out.display()))?;
        if !args.quiet {
            eprintln!("Write signature to {}", out.display());
        }
    }
    Ok(0)
}

fn read_signature(path: &Path) -> anyhow::Result<SshSig> {
    let bytes = std::fs::read(path).context("Couldn't read signature file")?;
    SshSig::from_armored(&bytes).map_err(|e| anyhow::anyhow!("Couldn't parse signature: {e}"))
}

/// `ssh-keygen`'s name of a key type in messages (`ED25519`, `ECDSA-CERT`, ...).
fn type_label(key: &KeyOrCert) -> String {
    let plain = crate::keygen_show::type_label(key.key());
    match key {
        KeyOrCert::Key(_) => plain.to_owned(),
        KeyOrCert::Cert(_) => format!("{plain}-CERT"),
    }
}

fn fingerprint(key: &KeyOrCert, md5: bool) -> String {
    crate::keygen_show::fingerprint(key.key(), md5)
}

/// `sig_verify`: with `allowed`, the signer must be in the allowed_signers file for `-I`.
fn verify(args: &SigArgs<'_>, allowed: bool) -> anyhow::Result<i32> {
    let opts = options(args)?;
    let namespace = args.namespace.unwrap_or_default();
    let result = (|| -> anyhow::Result<SshSig> {
        let sig = read_signature(args.signature.unwrap_or(Path::new("")))?;
        let d = digest(sig.hash(), std::io::stdin().lock()).context("read standard input")?;
        sig.verify_digest(namespace, &d)
            .map_err(|e| anyhow::anyhow!("Signature verification failed: {e}"))?;
        if allowed {
            let path = args.file.unwrap_or(Path::new(""));
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("Unable to open allowed keys file \"{}\"", path.display())
            })?;
            let now = opts.verify_time.unwrap_or_else(crate::keygen_time::now);
            let signers = AllowedSigners::new(&text).with_local_offset(crate::localtime::offset_at);
            let principal = args.identity.unwrap_or_default();
            if !signers.check(sig.public_key(), principal, namespace, now) {
                bail!("the key is not allowed for {principal} in this namespace or at this time");
            }
        }
        Ok(sig)
    })();
    match result {
        Ok(sig) => {
            let key = sig.public_key();
            if !args.quiet {
                let (label, fp) = (type_label(key), fingerprint(key, args.md5));
                match args.identity.filter(|_| allowed) {
                    Some(p) => {
                        println!("Good \"{namespace}\" signature for {p} with {label} key {fp}")
                    }
                    None => println!("Good \"{namespace}\" signature with {label} key {fp}"),
                }
            }
            if opts.print_pubkey {
                println!("{}", key.to_openssh_line(""));
            }
            Ok(0)
        }
        Err(e) => {
            eprintln!("{e:#}");
            if !args.quiet {
                println!("Could not verify signature.");
            }
            Ok(255)
        }
    }
}

fn find_principals(args: &SigArgs<'_>) -> anyhow::Result<i32> {
    let opts = options(args)?;
    let found = (|| -> anyhow::Result<Option<Vec<String>>> {
        let sig = read_signature(args.signature.unwrap_or(Path::new("")))?;
        let path = args.file.unwrap_or(Path::new(""));
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("Unable to open allowed keys file \"{}\"", path.display()))?;
        let now = opts.verify_time.unwrap_or_else(crate::keygen_time::now);
        Ok(AllowedSigners::new(&text)
            .with_local_offset(crate::localtime::offset_at)
            .find_principals(sig.public_key(), now))
    })();
    match found {
        Ok(Some(principals)) => {
            for p in principals {
                println!("{p}");
            }
            Ok(0)
        }
        Ok(None) => {
            eprintln!("No principal matched.");
            Ok(255)
        }
        Err(e) => {
            eprintln!("{e:#}");
            eprintln!("No principal matched.");
            Ok(255)
        }
    }
}

fn match_principals(args: &SigArgs<'_>) -> anyhow::Result<i32> {
    options(args)?;
    let path = args.file.unwrap_or(Path::new(""));
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Unable to open allowed keys file \"{}\"", path.display()))?;
    match AllowedSigners::new(&text).match_principals(args.identity.unwrap_or_default()) {
        Ok(list) if !list.is_empty() => {
            for p in list {
                println!("{p}");
            }
            Ok(0)
        }
        Ok(_) => {
            eprintln!("No principal matched.");
            Ok(255)
        }
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            eprintln!("No principal matched.");
            Ok(255)
        }
    }
}
