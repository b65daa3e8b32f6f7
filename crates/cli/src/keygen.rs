//! `nacre keygen`: ssh-keygen's generation and inspection, with its questions (file, passphrase
//! twice, overwrite), its output (`.pub` beside the key, fingerprint and randomart), `-l`/`-lv`
//! on files with several keys, `-y`, `-p`, `-F`/`-R` on known_hosts; files interchangeable
//! with OpenSSH's; certificates (`-s`, `-L`: keygen_cert.rs) and SSH signatures (`-Y`:
//! keygen_sig.rs). Failures exit 255, as ssh-keygen's.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use nacre::keys::{KeyError, KeyType, PrivateKey};
use zeroize::Zeroizing;

/// Arguments of `nacre keygen`.
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub struct KeygenArgs {
    /// Print help (`-h` is ssh-keygen's host certificate flag).
    #[arg(long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Key type: ed25519, ecdsa or rsa (with -s: the CA signature algorithm, e.g. rsa-sha2-256).
    #[arg(short = 't')]
    key_type: Option<String>,
    /// Bits: 256/384/521 for ecdsa, 2048..16384 for rsa (default 3072).
    #[arg(short = 'b')]
    bits: Option<usize>,
    /// Passphrase of the new key ('' for none); asked twice when absent.
    #[arg(short = 'N')]
    passphrase: Option<String>,
    /// Passphrase of an existing key (-y, -p, -l); asked when needed and absent.
    #[arg(short = 'P')]
    old_passphrase: Option<String>,
    /// Comment.
    #[arg(short = 'C')]
    comment: Option<String>,
    /// The key file (asked when absent), or the known_hosts file for -F/-R.
    #[arg(short = 'f')]
    file: Option<PathBuf>,
    /// Show the fingerprint of every key in the file (with -v the randomart too).
    #[arg(short = 'l')]
    fingerprint: bool,
    /// Print the public key of the private key file.
    #[arg(short = 'y')]
    public: bool,
    /// Change the passphrase of the private key file.
    #[arg(short = 'p')]
    change: bool,
    /// Find a host in known_hosts.
    #[arg(short = 'F')]
    find: Option<String>,
    /// Remove a host's keys from known_hosts (the old file kept as FILE.old).
    #[arg(short = 'R')]
    remove: Option<String>,
    /// Hash of the fingerprint: sha256 or md5.
    #[arg(short = 'E', default_value = "sha256")]
    hash: String,
    /// Quiet.
    #[arg(short = 'q')]
    quiet: bool,
    /// SSH signatures: sign, verify, find-principals, match-principals, check-novalidate.
    #[arg(short = 'Y')]
    sign_op: Option<String>,
    /// Certificate principals (with -s), or the signature namespace (with -Y).
    #[arg(short = 'n')]
    names: Option<String>,
    /// The CA key to sign certificates with, or the signature file (with -Y).
    #[arg(short = 's')]
    ca_or_signature: Option<PathBuf>,
    /// Certificate key id (with -s), or the signer's principal (with -Y verify).
    #[arg(short = 'I')]
    identity: Option<String>,
    /// Certificate validity interval (with -s): +52w, -1d:+1w, 20250101:20260101, always:forever.
    #[arg(short = 'V', allow_hyphen_values = true)]
    validity: Option<String>,
    /// Certificate serial number (with -s).
    #[arg(short = 'z')]
    serial: Option<u64>,
    /// Sign a host certificate (with -s).
    #[arg(short = 'h')]
    host: bool,
    /// Certificate options (with -s), or signature options (with -Y).
    #[arg(short = 'O')]
    options: Vec<String>,
    /// Show the certificates of the file given by -f.
    #[arg(short = 'L')]
    show_cert: bool,
    /// Public keys to certify (with -s), or files to sign (with -Y sign).
    files: Vec<PathBuf>,
}

impl KeygenArgs {
    fn key_type(&self) -> &str {
        self.key_type.as_deref().unwrap_or("ed25519")
    }
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// A line read from standard input (as ssh-keygen reads the file name and y/n).
fn stdin_line() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
    }
}

/// A secret as ssh-keygen reads one: on the terminal without echo, or from standard input
/// when it is not a terminal (the prompt then on stderr).
fn secret(prompt: &str) -> Zeroizing<String> {
    if std::io::stdin().is_terminal() {
        if let Some(s) = crate::prompt::secret(prompt) {
            return s;
        }
    }
    eprint!("{prompt}");
    Zeroizing::new(stdin_line().unwrap_or_default())
}

/// `-f`, or `PROMPT (default): ` answered on standard input (empty: the default).
fn file_name(args: &KeygenArgs, prompt: &str) -> anyhow::Result<PathBuf> {
    if let Some(f) = &args.file {
        return Ok(f.clone());
    }
    let default = home().join(".ssh").join(format!("id_{}", args.key_type()));
    print!("{prompt} ({}): ", default.display());
    let _ = std::io::stdout().flush();
    let answer = stdin_line().context("no file name")?;
    Ok(if answer.is_empty() {
        default
    } else {
        PathBuf::from(answer)
    })
}

fn generate(args: &KeygenArgs) -> anyhow::Result<PrivateKey> {
    let mut rng = rand_core::OsRng;
    Ok(match (args.key_type(), args.bits) {
        ("ed25519", _) => PrivateKey::generate_ed25519(&mut rng),
        ("ecdsa", None | Some(256)) => {
            PrivateKey::generate_ecdsa(KeyType::EcdsaNistP256, &mut rng)?
        }
        ("ecdsa", Some(384)) => PrivateKey::generate_ecdsa(KeyType::EcdsaNistP384, &mut rng)?,
        ("ecdsa", Some(521)) => PrivateKey::generate_ecdsa(KeyType::EcdsaNistP521, &mut rng)?,
        ("ecdsa", Some(_)) => {
            bail!("Invalid ECDSA key length: valid lengths are 256, 384 or 521 bits")
        }
        ("rsa", b) => PrivateKey::generate_rsa(b.unwrap_or(3072), &mut rng)?,
        (t, _) => bail!("unknown key type {t}"),
    })
}

/// Writes `text` to `path` with `mode`, replacing the file.
fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("Saving key \"{}\" failed", path.display()))
        }
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("Saving key \"{}\" failed", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn pub_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// A private key file, its passphrase asked (`Enter passphrase: `) when it is encrypted and
/// `-P` was not given.
pub fn load_private(path: &Path, passphrase: Option<&str>) -> anyhow::Result<PrivateKey> {
    let shown = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("Load key \"{shown}\""))?;
    match PrivateKey::from_file_bytes(&bytes, None) {
        Err(KeyError::Encrypted) => {}
        other => return other.with_context(|| format!("Load key \"{shown}\"")),
    }
    let pass = match passphrase {
        Some(p) => Zeroizing::new(p.to_owned()),
        None => secret("Enter passphrase: "),
    };
    PrivateKey::from_file_bytes(&bytes, Some(pass.as_bytes())).map_err(|_| {
        anyhow::anyhow!(
            "Load key \"{shown}\": incorrect passphrase supplied to decrypt private key"
        )
    })
}

/// The new passphrase: `-N`, or asked twice until both agree.
fn new_passphrase(args: &KeygenArgs) -> Zeroizing<String> {
    if let Some(p) = &args.passphrase {
        return Zeroizing::new(p.clone());
    }
    loop {
        let a = secret("Enter passphrase (empty for no passphrase): ");
        let b = secret("Enter same passphrase again: ");
        if a == b {
            return a;
        }
        println!("Passphrases do not match.  Try again.");
    }
}

/// `FILE already exists.` / `Overwrite (y/n)? `: whether to go on.
pub(crate) fn may_write(path: &Path) -> bool {
    if !path.exists() {
        return true;
    }
    println!("{} already exists.", path.display());
    print!("Overwrite (y/n)? ");
    let _ = std::io::stdout().flush();
    stdin_line().is_some_and(|a| a.starts_with(['y', 'Y']))
}

/// Creates `~/.ssh` (0700) when the key goes there and it is missing, as ssh-keygen does.
fn ssh_dir(path: &Path, quiet: bool) -> anyhow::Result<()> {
    let dir = home().join(".ssh");
    if path.parent() == Some(dir.as_path()) && !dir.exists() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("Could not create directory '{}'", dir.display()))?;
        if !quiet {
            println!("Created directory '{}'.", dir.display());
        }
    }
    Ok(())
}

fn default_comment() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "nacre".into());
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    format!("{user}@{}", host.trim())
}

fn create(args: &KeygenArgs) -> anyhow::Result<i32> {
    if !args.quiet {
        println!("Generating public/private {} key pair.", args.key_type());
    }
    let key = generate(args)?;
    let path = file_name(args, "Enter file in which to save the key")?;
    ssh_dir(&path, args.quiet)?;
    if !may_write(&path) {
        return Ok(1);
    }
    let pass = new_passphrase(args);
    let comment = args.comment.clone().unwrap_or_else(default_comment);
    let text = key.to_openssh_encrypted(&comment, pass.as_bytes(), 0, &mut rand_core::OsRng)?;
    write_file(&path, &text, 0o600)?;
    if !args.quiet {
        println!("Your identification has been saved in {}", path.display());
    }
    let public = key.public_key();
    let pub_file = pub_path(&path);
    write_file(&pub_file, &(public.to_openssh_line(&comment) + "\n"), 0o644)?;
    if !args.quiet {
        let md5 = args.hash == "md5";
        println!("Your public key has been saved in {}", pub_file.display());
        println!("The key fingerprint is:");
        println!(
            "{} {comment}",
            crate::keygen_show::fingerprint(&public, md5)
        );
        println!("The key's randomart image is:");
        println!("{}", crate::keygen_show::randomart(&public, md5));
    }
    Ok(0)
}

/// `-p`: a new passphrase for a key file.
fn change(args: &KeygenArgs) -> anyhow::Result<i32> {
    let path = file_name(args, "Enter file in which the key is")?;
    let shown = path.display();
    let bytes = std::fs::read(&path).with_context(|| format!("{shown}"))?;
    let key = match PrivateKey::from_file_bytes(&bytes, None) {
        Err(KeyError::Encrypted) => {
            let old = match &args.old_passphrase {
                Some(p) => Zeroizing::new(p.clone()),
                None => secret("Enter old passphrase: "),
            };
            PrivateKey::from_file_bytes(&bytes, Some(old.as_bytes())).map_err(|_| {
                anyhow::anyhow!("Failed to load key {shown}: incorrect passphrase supplied to decrypt private key")
            })?
        }
        other => other.with_context(|| format!("Failed to load key {shown}"))?,
    };
    let comment = key.comment().to_owned();
    println!("Key has comment '{comment}'");
    let pass = match &args.passphrase {
        Some(p) => Zeroizing::new(p.clone()),
        None => {
            let a = secret("Enter new passphrase (empty for no passphrase): ");
            let b = secret("Enter same passphrase again: ");
            if a != b {
                println!("Pass phrases do not match.  Try again.");
                return Ok(1);
            }
            a
        }
    };
    let text = key.to_openssh_encrypted(&comment, pass.as_bytes(), 0, &mut rand_core::OsRng)?;
    write_file(&path, &text, 0o600)?;
    println!("Your identification has been saved with the new passphrase.");
    Ok(0)
}

/// `-y`: the public key line of a private key file (or of a public key file).
fn public(args: &KeygenArgs) -> anyhow::Result<i32> {
    let path = file_name(args, "Enter file in which the key is")?;
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some((key, comment)) = text.lines().find_map(crate::keygen_show::parse_line) {
        println!("{}", key.to_openssh_line(comment.as_deref().unwrap_or("")));
        return Ok(0);
    }
    let key = load_private(&path, args.old_passphrase.as_deref())?;
    println!("{}", key.public_key().to_openssh_line(key.comment()));
    Ok(0)
}

/// Runs `nacre keygen`; returns the exit code. `verbose` is `-v` (with `-l`: randomart).
pub fn run(args: KeygenArgs, verbose: u8) -> anyhow::Result<i32> {
    let md5 = match args.hash.as_str() {
        "md5" => true,
        "sha256" => false,
        other => bail!("Invalid hash algorithm \"{other}\""),
    };
    let known_hosts = || {
        args.file
            .clone()
            .unwrap_or_else(|| home().join(".ssh/known_hosts"))
    };
    if let Some(op) = &args.sign_op {
        return crate::keygen_sig::run(&crate::keygen_sig::SigArgs {
            op,
            file: args.file.as_deref(),
            namespace: args.names.as_deref(),
            signature: args.ca_or_signature.as_deref(),
            identity: args.identity.as_deref(),
            options: &args.options,
            files: &args.files,
            passphrase: args.old_passphrase.as_deref(),
            quiet: args.quiet,
            md5,
        });
    }
    if let Some(ca) = &args.ca_or_signature {
        if args.files.is_empty() {
            bail!("Too few arguments.");
        }
        return crate::keygen_cert::sign(&crate::keygen_cert::SignArgs {
            ca,
            key_id: args.identity.as_deref(),
            principals: args.names.as_deref(),
            validity: args.validity.as_deref(),
            serial: args.serial,
            host: args.host,
            options: &args.options,
            algorithm: args.key_type.as_deref(),
            passphrase: args.old_passphrase.as_deref(),
            keys: &args.files,
            quiet: args.quiet,
        });
    }
    if args.show_cert {
        let path = file_name(&args, "Enter file in which the key is")?;
        return crate::keygen_cert::show(&path, md5);
    }
    if let Some(host) = &args.find {
        return crate::keygen_hosts::find(&known_hosts(), host, args.fingerprint, md5);
    }
    if let Some(host) = &args.remove {
        crate::keygen_hosts::remove(&known_hosts(), host)?;
        return Ok(0);
    }
    if args.fingerprint {
        let path = file_name(&args, "Enter file in which the key is")?;
        let pass = args.old_passphrase.as_deref();
        crate::keygen_show::list(&path, pass, md5, verbose > 0)?;
        return Ok(0);
    }
    if args.public {
        return public(&args);
    }
    if args.change {
        return change(&args);
    }
    create(&args)
}
