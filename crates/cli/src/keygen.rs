//! `nacre keygen`: key generation and inspection with ssh-keygen's flags; files interchangeable
//! with OpenSSH's.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use nacre::keys::{KeyType, PrivateKey, PublicKey};

/// Arguments of `nacre keygen`.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Key type: ed25519, ecdsa or rsa.
    #[arg(short = 't', default_value = "ed25519")]
    key_type: String,
    /// Bits: 256/384/521 for ecdsa, 2048..16384 for rsa (default 3072).
    #[arg(short = 'b')]
    bits: Option<usize>,
    /// Passphrase of the new key ('' for none).
    #[arg(short = 'N', default_value = "")]
    passphrase: String,
    /// Passphrase of an existing key, for -y.
    #[arg(short = 'P', default_value = "")]
    old_passphrase: String,
    /// Comment.
    #[arg(short = 'C')]
    comment: Option<String>,
    /// The key file.
    #[arg(short = 'f')]
    file: PathBuf,
    /// Show the fingerprint of the key file (private or .pub).
    #[arg(short = 'l')]
    fingerprint: bool,
    /// Print the public key of the private key file.
    #[arg(short = 'y')]
    public: bool,
    /// Hash of the fingerprint: sha256 or md5.
    #[arg(short = 'E', default_value = "sha256")]
    hash: String,
    /// Quiet.
    #[arg(short = 'q')]
    quiet: bool,
}

fn generate(args: &KeygenArgs) -> anyhow::Result<PrivateKey> {
    let mut rng = rand_core::OsRng;
    Ok(match (args.key_type.as_str(), args.bits) {
        ("ed25519", _) => PrivateKey::generate_ed25519(&mut rng),
        ("ecdsa", None | Some(256)) => {
            PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut rng)?
        }
        ("ecdsa", Some(384)) => PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut rng)?,
        ("ecdsa", Some(521)) => PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut rng)?,
        ("ecdsa", Some(b)) => bail!("ECDSA keys are 256, 384 or 521 bits, not {b}"),
        ("rsa", b) => PrivateKey::generate_rsa(b.unwrap_or(3072), &mut rng)?,
        (t, _) => bail!("unknown key type {t:?} (ed25519, ecdsa, rsa)"),
    })
}

fn write_file(path: &PathBuf, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// The public key in a private or public key file.
fn public_of(args: &KeygenArgs) -> anyhow::Result<(PublicKey, String)> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    if let Ok(text) = std::str::from_utf8(&bytes) {
        if let Ok((key, comment)) = PublicKey::from_openssh_line(text.trim()) {
            return Ok((key, comment));
        }
    }
    let pass = (!args.old_passphrase.is_empty()).then_some(args.old_passphrase.as_bytes());
    match PrivateKey::from_file_bytes(&bytes, pass) {
        Ok(key) => Ok((key.public_key(), key.comment().to_owned())),
        Err(e) => {
            // An encrypted key without its passphrase: the .pub beside it, as ssh-keygen -l does.
            let mut pub_path = args.file.clone().into_os_string();
            pub_path.push(".pub");
            let text = std::fs::read_to_string(&pub_path)
                .map_err(|_| e.clone())
                .with_context(|| format!("loading {}", args.file.display()))?;
            Ok(PublicKey::from_openssh_line(text.trim())?)
        }
    }
}

fn key_type_label(key: &PublicKey) -> &'static str {
    match key.key_type() {
        KeyType::Ed25519 => "ED25519",
        KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521 => "ECDSA",
        KeyType::Rsa => "RSA",
    }
}

/// Runs `nacre keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<()> {
    if args.fingerprint {
        let (key, comment) = public_of(&args)?;
        let fp = if args.hash == "md5" {
            key.fingerprint_md5()
        } else {
            key.fingerprint_sha256()
        };
        let comment = if comment.is_empty() {
            "no comment".to_owned()
        } else {
            comment
        };
        println!("{} {fp} {comment} ({})", key.bits(), key_type_label(&key));
        return Ok(());
    }
    if args.public {
        let (key, comment) = public_of(&args)?;
        println!("{}", key.to_openssh_line(&comment));
        return Ok(());
    }
    let key = generate(&args)?;
    let comment = args.comment.clone().unwrap_or_else(|| {
        let user = std::env::var("USER").unwrap_or_else(|_| "nacre".into());
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{user}@{}", host.trim())
    });
    let text = key.to_openssh_encrypted(
        &comment,
        args.passphrase.as_bytes(),
        0,
        &mut rand_core::OsRng,
    )?;
    write_file(&args.file, &text, 0o600)?;
    let mut pub_path = args.file.clone().into_os_string();
    pub_path.push(".pub");
    write_file(
        &PathBuf::from(pub_path),
        &(key.public_key().to_openssh_line(&comment) + "\n"),
        0o644,
    )?;
    if !args.quiet {
        println!(
            "Your identification has been saved in {}",
            args.file.display()
        );
        println!(
            "The key fingerprint is:\n{} {comment}",
            key.public_key().fingerprint_sha256()
        );
    }
    Ok(())
}
