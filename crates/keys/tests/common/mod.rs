//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use nacre_keys::{PublicKey, SignatureAlgorithm};
use sha2::{Digest, Sha256, Sha512};

/// OpenSSH's key test data (read in place, never copied).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/openssh-keys/"
    ))
}

/// The SSHSIG test data.
pub fn sshsig_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/sshsig/"
    ))
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

pub fn read_text(path: &Path) -> String {
    String::from_utf8(read(path)).unwrap()
}

/// `ssh-keygen` when it is installed.
pub fn ssh_keygen() -> Option<PathBuf> {
    let ok = Command::new("ssh-keygen").arg("-?").output().is_ok();
    if ok {
        Some(PathBuf::from("ssh-keygen"))
    } else {
        eprintln!("ssh-keygen not found: skipping the OpenSSH interop part");
        None
    }
}

/// Runs a command, asserts success and returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes `contents` to `path` with mode 0600 (ssh-keygen refuses readable private keys).
pub fn write_private(path: &Path, contents: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(contents).unwrap();
}

/// A parsed SSHSIG (OpenSSH PROTOCOL.sshsig).
pub struct SshSig {
    pub public_key: Vec<u8>,
    pub namespace: Vec<u8>,
    pub hash_algorithm: String,
    pub signature: Vec<u8>,
}

fn take_string(buf: &mut &[u8]) -> Vec<u8> {
    let (len, rest) = buf.split_at(4);
    let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
    let (s, rest) = rest.split_at(len);
    *buf = rest;
    s.to_vec()
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Parses an armoured `-----BEGIN SSH SIGNATURE-----` file.
pub fn parse_sshsig(text: &str) -> SshSig {
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let mut buf = bytes.strip_prefix(b"SSHSIG").expect("SSHSIG magic");
    let (version, rest) = buf.split_at(4);
    assert_eq!(version, [0, 0, 0, 1]);
    buf = rest;
    let public_key = take_string(&mut buf);
    let namespace = take_string(&mut buf);
    let _reserved = take_string(&mut buf);
    let hash_algorithm = String::from_utf8(take_string(&mut buf)).unwrap();
    let signature = take_string(&mut buf);
    assert!(buf.is_empty());
    SshSig {
        public_key,
        namespace,
        hash_algorithm,
        signature,
    }
}

/// The data an SSHSIG signature covers.
pub fn sshsig_signed_data(namespace: &[u8], hash_algorithm: &str, message: &[u8]) -> Vec<u8> {
    let digest = match hash_algorithm {
        "sha256" => Sha256::digest(message).to_vec(),
        "sha512" => Sha512::digest(message).to_vec(),
        other => panic!("hash {other}"),
    };
    let mut out = b"SSHSIG".to_vec();
    put_string(&mut out, namespace);
    put_string(&mut out, b"");
    put_string(&mut out, hash_algorithm.as_bytes());
    put_string(&mut out, &digest);
    out
}

/// Builds an armoured SSHSIG from a signature blob made by nacre.
pub fn make_sshsig(public: &PublicKey, namespace: &[u8], signature_blob: &[u8]) -> String {
    let mut out = b"SSHSIG".to_vec();
    out.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut out, &public.to_blob());
    put_string(&mut out, namespace);
    put_string(&mut out, b"");
    put_string(&mut out, b"sha512");
    put_string(&mut out, signature_blob);
    let b64 = base64::engine::general_purpose::STANDARD.encode(out);
    let mut text = String::from("-----BEGIN SSH SIGNATURE-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        text.push_str(std::str::from_utf8(chunk).unwrap());
        text.push('\n');
    }
    text.push_str("-----END SSH SIGNATURE-----\n");
    text
}

/// The algorithm named at the start of a signature blob.
pub fn blob_algorithm(signature_blob: &[u8]) -> SignatureAlgorithm {
    let (name, _) = nacre_keys::decode_signature_blob(signature_blob).unwrap();
    SignatureAlgorithm::from_name(std::str::from_utf8(name).unwrap()).unwrap()
}
