//! Fuzzing entry points for keys and key files (feature `fuzzing`; docs/FUZZING.md).
//!
//! Every function takes arbitrary bytes and must never panic, except through an `assert!` that
//! flags a real bug (a value that does not survive a write and a read, a key that does not verify
//! its own signature). The cargo-fuzz targets in `fuzz/` and the stable corpus replay test call them.

#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use nacre_wire::{fuzz_round_trip, Reader};

use crate::agent::codec::Extension;
use crate::agent::codec::{
    split_frame, AddIdentity, ExtensionFailure, Failure, IdentitiesAnswer, RemoveAllIdentities,
    RemoveIdentity, Request, RequestIdentities, Response, SignRequest, SignResponse, Success,
};
use crate::{
    decode_signature_blob, encode_signature_blob, AuthorizedKeys, HostKeyStatus, KeyType,
    KnownHosts, PrivateKey, PublicKey, SignatureAlgorithm,
};

/// The passphrase [`key_files_encrypted`] tries (the seed corpus is encrypted with it).
pub const PASSPHRASE: &[u8] = b"nacre-fuzz";

/// Largest RSA key the targets sign with (bigger ones are slow, not more interesting).
const MAX_SIGN_BITS: usize = 4096;

/// The data signed in signature round trips.
const SIGNED: &[u8] = b"nacre fuzz signed data";

/// Public keys: `data[0]` picks what the rest is read as —
/// - 0: a key blob (RFC 4253 §6.6): a key that decodes must encode to exactly these bytes;
/// - 1: an OpenSSH public key line: the key and comment must survive `to_openssh_line`;
/// - 2: a signature blob: a known algorithm's blob must encode back to the same bytes;
/// - 3: `string key-blob || string signature-blob`: verify the signature over fixed data with every
///   algorithm (it must not verify: the fuzzer holds no private key).
pub fn public_key(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(key) = PublicKey::from_blob(rest) {
                assert_eq!(
                    key.to_blob(),
                    rest,
                    "a key blob does not encode back to itself"
                );
                check_public(&key);
            }
        }
        1 => {
            let line = String::from_utf8_lossy(rest);
            if let Ok((key, comment)) = PublicKey::from_openssh_line(&line) {
                check_public(&key);
                let again = key.to_openssh_line(&comment);
                match PublicKey::from_openssh_line(&again) {
                    Ok((k2, c2)) => {
                        assert_eq!(k2, key, "key changed through a public key line");
                        assert_eq!(c2, comment, "comment changed through a public key line");
                    }
                    Err(e) => panic!("our own public key line does not parse: {e}: {again}"),
                }
            }
        }
        2 => {
            if let Ok((alg, sig)) = decode_signature_blob(rest) {
                let name = String::from_utf8_lossy(alg);
                if let Some(a) = SignatureAlgorithm::from_name(&name) {
                    assert_eq!(encode_signature_blob(a, sig), rest);
                }
            }
        }
        _ => {
            let mut r = Reader::new(rest);
            let (Ok(blob), Ok(sig)) = (r.string(), r.string()) else {
                return;
            };
            if let Ok(key) = PublicKey::from_blob(blob) {
                for &alg in SignatureAlgorithm::ALL.iter().chain(SignatureAlgorithm::SK) {
                    if key.verify_detailed(alg, SIGNED, sig).is_ok() {
                        panic!("a signature verified for a key whose private half nobody has");
                    }
                }
            }
        }
    }
}

fn check_public(key: &PublicKey) {
    let _ = key.fingerprint_sha256();
    let _ = key.fingerprint_md5();
    let _ = key.bits();
    assert_eq!(PublicKey::from_blob(&key.to_blob()).as_ref(), Ok(key));
}

/// A private key that was read: its public half and comment survive `to_openssh`, and (for key
/// sizes that sign quickly) it verifies its own signature with every algorithm it supports.
fn check_private(key: &PrivateKey) {
    let public = key.public_key();
    let text = key.to_openssh(key.comment());
    match PrivateKey::from_openssh(text.as_bytes()) {
        Ok(again) => {
            assert_eq!(
                again.public_key(),
                public,
                "public key changed through to_openssh"
            );
            assert_eq!(
                again.comment(),
                key.comment(),
                "comment changed through to_openssh"
            );
        }
        Err(e) => panic!("our own openssh-key-v1 file does not read back: {e}"),
    }
    if public.key_type() == KeyType::Rsa && public.bits() > MAX_SIGN_BITS {
        return;
    }
    for &alg in key.key_type().signature_algorithms() {
        match key.sign(alg, SIGNED) {
            Ok(sig) => assert!(
                public.verify(alg, SIGNED, &sig).is_ok(),
                "a {alg:?} key read from a file does not verify its own signature"
            ),
            // Documented on `from_rsa_components`: an RSA key whose private exponent neither
            // *ring* nor the fallback accepts loads, and `sign` reports why.
            Err(_) if public.key_type() == KeyType::Rsa => {}
            Err(e) => panic!("a key read from a file cannot sign with {alg:?}: {e}"),
        }
    }
}

/// Private key files without a passphrase: openssh-key-v1, PEM PKCS#1/SEC1, PKCS#8 and PuTTY PPK
/// (found from the contents, as [`PrivateKey::from_file_bytes`] does). Encrypted files must
/// answer `Encrypted` without running a KDF. A key that loads is checked as described on
/// `check_private`.
pub fn key_files(data: &[u8]) {
    if let Ok(key) = PrivateKey::from_file_bytes(data, None) {
        check_private(&key);
    }
}

/// Encrypted private key files, decrypted with [`PASSPHRASE`]: openssh-key-v1 (bcrypt KDF, every
/// cipher), legacy encrypted PEM, PKCS#8 PBES2 and PPK v2/v3. Files asking for an expensive KDF
/// (more than 4 bcrypt rounds, 4096 PBKDF2 iterations, 256 KiB or 2 passes of Argon2) are skipped:
/// their cost is the point of the KDF, and the limits that bound it are tested elsewhere.
pub fn key_files_encrypted(data: &[u8]) {
    if !cheap_kdf(data) {
        return;
    }
    if let Ok(key) = PrivateKey::from_file_bytes(data, Some(PASSPHRASE)) {
        check_private(&key);
    }
}

/// Whether reading `data` with a passphrase runs only a cheap KDF (see [`key_files_encrypted`]).
fn cheap_kdf(data: &[u8]) -> bool {
    let start = data
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(data.len());
    if data[start..].starts_with(b"PuTTY-User-Key-File-") {
        let text = String::from_utf8_lossy(data);
        let header = |name: &str| -> Option<u64> {
            text.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.strip_prefix(": "))
                    .map(|v| v.trim().parse::<u64>().unwrap_or(u64::MAX))
            })
        };
        return header("Argon2-Memory").is_none_or(|m| m <= 256)
            && header("Argon2-Passes").is_none_or(|p| p <= 2)
            && header("Argon2-Parallelism").is_none_or(|p| p <= 4);
    }
    let Ok(armor) = crate::pem::decode_armor(data) else {
        return true;
    };
    if armor.label == crate::openssh::LABEL {
        let Some(rest) = armor.body.strip_prefix(crate::openssh::MAGIC) else {
            return true;
        };
        let mut r = Reader::new(rest);
        let (Ok(_cipher), Ok(_kdf), Ok(options)) = (r.string(), r.string(), r.string()) else {
            return true;
        };
        let mut o = Reader::new(options);
        return match (o.string(), o.u32()) {
            (Ok(_), Ok(rounds)) => rounds <= 4,
            _ => true,
        };
    }
    if armor.label == "ENCRYPTED PRIVATE KEY" {
        return pbkdf2_iterations(&armor.body).is_some_and(|n| n <= 4096);
    }
    true
}

/// The PBKDF2 iteration count of a PKCS#8 `EncryptedPrivateKeyInfo`: after the PBKDF2 OID
/// (1.2.840.113549.1.5.12) comes `SEQUENCE { OCTET STRING salt, INTEGER iterations, ... }`.
fn pbkdf2_iterations(der: &[u8]) -> Option<u64> {
    const OID: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    let at = der.windows(OID.len()).position(|w| w == OID)?;
    let rest = der.get(at + OID.len()..)?;
    let [0x30, seq_len, 0x04, salt_len, rest @ ..] = rest else {
        return None;
    };
    if *seq_len >= 0x80 || *salt_len >= 0x80 {
        return None;
    }
    let rest = rest.get(usize::from(*salt_len)..)?;
    let [0x02, int_len, rest @ ..] = rest else {
        return None;
    };
    let int = rest.get(..usize::from(*int_len))?;
    if int.is_empty() || int.len() > 8 {
        return None;
    }
    Some(int.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// `known_hosts`: `data` is `uint16 port || byte n || host[n] || file text`. The file is parsed
/// and looked up for the host with every key it lists; then a line nacre writes for the host
/// (plain and hashed) must parse back and match that host and key.
pub fn known_hosts(data: &[u8]) {
    let [p0, p1, n, rest @ ..] = data else {
        return;
    };
    let port = u16::from_be_bytes([*p0, *p1]);
    let n = usize::from(*n).min(rest.len());
    let (host, text) = rest.split_at(n);
    let host = String::from_utf8_lossy(host);
    let text = String::from_utf8_lossy(text);
    let (kh, errors) = KnownHosts::parse(&text);
    for (line, e) in &errors {
        assert!(*line >= 1);
        let _ = e.to_string();
    }
    let mut keys: Vec<PublicKey> = kh.entries().iter().map(|e| e.key.clone()).collect();
    for entry in kh.entries() {
        let _ = entry.matches_host(&host, port);
    }
    for key in &keys {
        let _ = kh.lookup(&host, port, key);
    }
    let _ = kh.known_key_types(&host, port);
    keys.truncate(2);
    if keys.is_empty() {
        keys.push(PrivateKey::from_ed25519_seed(&[5; 32]).public_key());
    }
    let mut rng = rand_core::OsRng;
    for key in &keys {
        for hashed in [false, true] {
            let Ok(line) = KnownHosts::entry_line(&host, port, key, hashed, &mut rng) else {
                continue;
            };
            let (written, errors) = KnownHosts::parse(&line);
            assert!(
                errors.is_empty(),
                "our own known_hosts line does not parse: {line}: {errors:?}"
            );
            assert_eq!(
                written.lookup(&host, port, key),
                HostKeyStatus::Match,
                "our own known_hosts line does not match its host: {line}"
            );
        }
    }
}

/// `authorized_keys`: `data` is the file text. Every entry's options are queried (forwarding
/// permissions, `from=`/`expiry-time=` checks); each entry's key must be found again, with the
/// options of the first line that lists it.
pub fn authorized_keys(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (ak, errors) = AuthorizedKeys::parse(&text);
    for (line, e) in &errors {
        assert!(*line >= 1);
        let _ = e.to_string();
    }
    let addr = std::net::IpAddr::from([192, 0, 2, 7]);
    let addr6 = std::net::IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]);
    for entry in ak.entries() {
        let o = &entry.options;
        let _ = o.check(addr, Some("host.example"), 1_700_000_000);
        let _ = o.check(addr6, None, u64::MAX);
        let _ = o.permits_open("localhost", 22);
        let _ = o.permits_listen("0.0.0.0", 8080);
        if !o.cert_authority {
            let found = ak.find(&entry.key);
            assert!(found.is_some(), "an entry's key is not found");
            assert!(found.is_some_and(|f| f.line <= entry.line));
        }
    }
}

/// The ssh-agent codec: `data` is a stream of frames (`uint32 length || message`). Each message
/// is decoded as a request and as a response, and with every message decoder; each that accepts it
/// must round-trip.
pub fn agent_messages(data: &[u8]) {
    let mut buf = data;
    while let Ok(Some((message, rest))) = split_frame(buf) {
        let _ = Request::decode_message(message);
        let _ = Response::decode_message(message);
        fuzz_round_trip!(RequestIdentities, message);
        fuzz_round_trip!(Failure, message);
        fuzz_round_trip!(Success, message);
        fuzz_round_trip!(RemoveAllIdentities, message);
        fuzz_round_trip!(ExtensionFailure, message);
        fuzz_round_trip!(IdentitiesAnswer<'_>, message);
        fuzz_round_trip!(SignRequest<'_>, message);
        fuzz_round_trip!(SignResponse<'_>, message);
        fuzz_round_trip!(AddIdentity<'_>, message);
        fuzz_round_trip!(RemoveIdentity<'_>, message);
        fuzz_round_trip!(Extension<'_>, message);
        assert!(rest.len() < buf.len());
        buf = rest;
    }
}

/// Certificates, SSHSIG signatures and allowed_signers files (OpenSSH `PROTOCOL.certkeys`,
/// `PROTOCOL.sshsig`); `data[0]` picks what the rest is read as —
/// - 0: a certificate blob: one that parses (its CA signature verified) encodes back to the same
///   bytes, and its options and checks answer without panicking;
/// - 1: the fields of a certificate after the subject key (serial, type, key id, principals,
///   validity, options, extensions, reserved), completed with a fixed CA's key and *signed* by it,
///   so that the parsing behind the signature check is reached: the certificate must parse iff its
///   fields are well-formed, and then report exactly those fields;
/// - 2: an armoured SSHSIG signature, then its blob: a signature that parses re-encodes to the same
///   blob and does not verify over fixed data (the fuzzer holds no private key);
/// - 3: an allowed_signers file searched for a fixed key and a certificate.
pub fn cert_parse(data: &[u8]) {
    use crate::cert::{CertType, Certificate};
    use crate::{AllowedSigners, KeyOrCert, SshSig};
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ca = PrivateKey::from_ed25519_seed(&[7u8; 32]);
    match mode % 4 {
        0 => {
            if let Ok(cert) = Certificate::from_blob(rest) {
                assert_eq!(cert.to_blob(), rest, "a certificate does not encode back");
                check_cert(&cert);
            }
            let _ = KeyOrCert::from_openssh_line(&String::from_utf8_lossy(rest));
        }
        1 => {
            let subject = PrivateKey::from_ed25519_seed(&[9u8; 32]).public_key();
            let mut blob = Vec::new();
            nacre_wire::put::string(&mut blob, b"ssh-ed25519-cert-v01@openssh.com");
            nacre_wire::put::string(&mut blob, &[1u8; 32]);
            nacre_wire::put::string(&mut blob, subject.ed25519_bytes().unwrap());
            blob.extend_from_slice(rest);
            nacre_wire::put::string(&mut blob, &ca.public_key().to_blob());
            let sig = ca.sign(SignatureAlgorithm::Ed25519, &blob).unwrap();
            nacre_wire::put::string(&mut blob, &sig);
            if let Ok(cert) = Certificate::from_blob(&blob) {
                assert_eq!(cert.key(), &subject);
                assert_eq!(cert.signature_key(), &ca.public_key());
                assert!(matches!(cert.cert_type(), CertType::User | CertType::Host));
                check_cert(&cert);
            }
        }
        2 => {
            if let Ok(sig) = SshSig::from_armored(rest) {
                let again = SshSig::from_blob(&sig.to_blob()).unwrap();
                assert_eq!(again, sig, "an SSHSIG blob does not survive a round trip");
                assert!(sig.verify(sig.namespace(), SIGNED).is_err());
            }
            if let Ok(sig) = SshSig::from_blob(rest) {
                assert_eq!(sig.to_blob(), rest, "an SSHSIG blob does not encode back");
                assert!(sig.verify(sig.namespace(), SIGNED).is_err());
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            let signers = AllowedSigners::new(&text);
            let key: KeyOrCert = ca.public_key().into();
            let cert = crate::cert::CertBuilder::new(ca.public_key(), CertType::User)
                .principals(vec!["alice".into()])
                .nonce(vec![0; 32])
                .sign(&ca, None, &mut rand_core::OsRng)
                .unwrap();
            let cert: KeyOrCert = cert.into();
            for signer in [&key, &cert] {
                let _ = signers.check(signer, "alice", "git", 1_700_000_000);
                let _ = signers.find_principals(signer, 1_700_000_000);
            }
            let _ = signers.match_principals("alice");
            let _ = signers.lines();
        }
    }
}

/// Every question a certificate answers, at a few times and names.
fn check_cert(cert: &crate::Certificate) {
    use crate::cert::CertType;
    let _ = cert.options();
    for now in [0, cert.valid_after(), cert.valid_before(), u64::MAX] {
        for want in [CertType::User, CertType::Host] {
            let _ = cert.check_authority(want, now, None, false);
            let _ = cert.check_authority(want, now, Some("alice"), true);
        }
        let _ = cert.check_host("host.example.com", now);
        let _ = cert.check_user(&["alice", "root"], now);
    }
}
