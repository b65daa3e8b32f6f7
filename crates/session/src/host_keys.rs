//! Host key update and rotation (OpenSSH PROTOCOL §2.5, `hostkeys-00@openssh.com` and
//! `hostkeys-prove-00@openssh.com`): what each role computes, with no I/O.
//!
//! The server lists its plain host keys once the user is authenticated ([`offer`];
//! [`crate::ServerSession`] sends it and answers proofs itself with [`prove`]). A client that
//! keeps a known_hosts file parses the list ([`parse_offer`]), asks for proof of the keys it
//! does not know ([`prove_request`]), and checks the signatures ([`verify_proof`]) before it
//! writes anything. Each signature covers
//!
//! ```text
//! string    "hostkeys-prove-00@openssh.com"
//! string    session identifier
//! string    hostkey
//! ```
//!
//! An RSA key signs with the algorithm of the key exchange when that was an RSA one, and with
//! `rsa-sha2-512` otherwise; a client takes `rsa-sha2-512` or `rsa-sha2-256` (never SHA-1)
//! unless the exchange used RSA, and disregards other RSA proofs, as OpenSSH's clientloop.c.

use std::sync::Arc;

use nacre_connection::msg::host_keys::{prove_signed_data, HostKeyList};
use nacre_keys::{KeyType, PrivateKey, PublicKey, SignatureAlgorithm};
use nacre_wire::Reader;

/// Why a host key list or proof was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostKeysError {
    /// The data is not a list of strings.
    #[error("malformed host key list: {0}")]
    Malformed(#[from] nacre_wire::WireError),
    /// The server listed one key twice (OpenSSH gives up the update).
    #[error("the server listed the {0} host key twice")]
    Duplicate(String),
    /// The proof has not one signature per key asked for.
    #[error("{got} signatures for {asked} keys")]
    Count {
        /// Keys asked for.
        asked: usize,
        /// Signatures received.
        got: usize,
    },
    /// A signature does not verify.
    #[error("bad signature for the {key_type} host key: {reason}")]
    BadSignature {
        /// The key's type.
        key_type: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The client asked for a key the server does not have.
    #[error("not one of our host keys")]
    UnknownKey,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The data of `hostkeys-00@openssh.com`: the public blobs of every host key (certificates
/// are never listed: they are not in `host_keys`), in order.
pub fn offer(host_keys: &[Arc<PrivateKey>]) -> Vec<u8> {
    let blobs: Vec<Vec<u8>> = host_keys.iter().map(|k| k.public_key().to_blob()).collect();
    HostKeyList {
        items: blobs.iter().map(Vec::as_slice).collect(),
    }
    .to_data()
}

/// The RSA algorithm a proof uses: the key exchange's when it was RSA, else `rsa-sha2-512`.
fn rsa_algorithm(kex: SignatureAlgorithm) -> SignatureAlgorithm {
    if kex.key_type() == KeyType::Rsa {
        kex
    } else {
        SignatureAlgorithm::RsaSha512
    }
}

/// The signature algorithm a key proves with (`kex`: the key exchange's host key algorithm).
fn proof_algorithm(key_type: KeyType, kex: SignatureAlgorithm) -> Option<SignatureAlgorithm> {
    if key_type == KeyType::Rsa {
        return Some(rsa_algorithm(kex));
    }
    key_type.signature_algorithms().first().copied()
}

/// Server: answers `hostkeys-prove-00@openssh.com` with the REQUEST_SUCCESS data (one signature
/// per requested key, in order), or refuses the whole request when a key is not one of
/// `host_keys` or the data is malformed (sshd answers REQUEST_FAILURE then).
pub fn prove(
    session_id: &[u8],
    kex: SignatureAlgorithm,
    host_keys: &[Arc<PrivateKey>],
    request: &[u8],
) -> Result<Vec<u8>, HostKeysError> {
    let list = HostKeyList::parse(request)?;
    let mut signatures = Vec::with_capacity(list.items.len());
    for blob in list.items {
        let key = host_keys
            .iter()
            .find(|k| k.public_key().to_blob() == blob)
            .ok_or(HostKeysError::UnknownKey)?;
        let alg = proof_algorithm(key.key_type(), kex).ok_or(HostKeysError::UnknownKey)?;
        let data = prove_signed_data(session_id, blob);
        let sig = key
            .sign(alg, &data)
            .map_err(|e| HostKeysError::Sign(e.to_string()))?;
        signatures.push(sig);
    }
    Ok(HostKeyList {
        items: signatures.iter().map(Vec::as_slice).collect(),
    }
    .to_data())
}

/// Client: the keys of a `hostkeys-00@openssh.com` list. Blobs of unknown types and
/// certificates are skipped (OpenSSH skips them too); a key listed twice is an error.
pub fn parse_offer(data: &[u8]) -> Result<Vec<PublicKey>, HostKeysError> {
    let list = HostKeyList::parse(data)?;
    let mut keys: Vec<PublicKey> = Vec::new();
    for blob in list.items {
        let Ok(key) = PublicKey::from_blob(blob) else {
            tracing::debug!("skipping a host key nacre does not know");
            continue;
        };
        if keys.contains(&key) {
            return Err(HostKeysError::Duplicate(key.key_type().name().to_owned()));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Client: the data of `hostkeys-prove-00@openssh.com` for `keys` (sent with want-reply).
pub fn prove_request(keys: &[PublicKey]) -> Vec<u8> {
    let blobs: Vec<Vec<u8>> = keys.iter().map(PublicKey::to_blob).collect();
    HostKeyList {
        items: blobs.iter().map(Vec::as_slice).collect(),
    }
    .to_data()
}

/// Client: checks the server's proof (`reply`: the REQUEST_SUCCESS data after the message
/// number) for `keys`, asked for in that order. Returns, per key, whether it is proven; an
/// RSA proof with SHA-1 when the exchange did not use RSA is disregarded (false), as OpenSSH
/// does; any signature that does not verify fails the whole proof.
pub fn verify_proof(
    session_id: &[u8],
    kex: SignatureAlgorithm,
    keys: &[PublicKey],
    reply: &[u8],
) -> Result<Vec<bool>, HostKeysError> {
    let list = HostKeyList::parse(reply)?;
    if list.items.len() != keys.len() {
        return Err(HostKeysError::Count {
            asked: keys.len(),
            got: list.items.len(),
        });
    }
    let mut proven = Vec::with_capacity(keys.len());
    for (key, sig) in keys.iter().zip(list.items) {
        let key_type = key.key_type();
        let bad = |reason: String| HostKeysError::BadSignature {
            key_type: key_type.name(),
            reason,
        };
        let named = Reader::new(sig).utf8().map_err(|e| bad(e.to_string()))?;
        let alg = if key_type == KeyType::Rsa && kex.key_type() != KeyType::Rsa {
            match SignatureAlgorithm::from_name(named) {
                Some(a @ (SignatureAlgorithm::RsaSha512 | SignatureAlgorithm::RsaSha256)) => a,
                _ => {
                    tracing::debug!(alg = named, "disregarding an RSA proof with this algorithm");
                    proven.push(false);
                    continue;
                }
            }
        } else {
            proof_algorithm(key_type, kex).ok_or_else(|| bad("no algorithm".into()))?
        };
        let data = prove_signed_data(session_id, &key.to_blob());
        key.verify(alg, &data, sig)
            .map_err(|e| bad(e.to_string()))?;
        proven.push(true);
    }
    Ok(proven)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn keys() -> Vec<Arc<PrivateKey>> {
        vec![
            Arc::new(PrivateKey::from_ed25519_seed(&[1; 32])),
            Arc::new(PrivateKey::from_ed25519_seed(&[2; 32])),
        ]
    }

    #[test]
    fn offer_parses_back_and_proofs_verify() {
        let host = keys();
        let offered = parse_offer(&offer(&host)).unwrap();
        assert_eq!(offered, vec![host[0].public_key(), host[1].public_key()]);
        let kex = SignatureAlgorithm::Ed25519;
        let ask = prove_request(&offered[1..]);
        let reply = prove(b"session", kex, &host, &ask).unwrap();
        assert_eq!(
            verify_proof(b"session", kex, &offered[1..], &reply).unwrap(),
            vec![true]
        );
        // Another session's proof is refused.
        assert!(matches!(
            verify_proof(b"other", kex, &offered[1..], &reply),
            Err(HostKeysError::BadSignature { .. })
        ));
        // A proof for the wrong key, or with a missing signature, is refused.
        assert!(verify_proof(b"session", kex, &offered[..1], &reply).is_err());
        assert!(matches!(
            verify_proof(b"session", kex, &offered, &reply),
            Err(HostKeysError::Count { asked: 2, got: 1 })
        ));
    }

    #[test]
    fn the_server_refuses_keys_it_does_not_have() {
        let stranger = PrivateKey::from_ed25519_seed(&[9; 32]).public_key();
        let ask = prove_request(&[keys()[0].public_key(), stranger]);
        assert_eq!(
            prove(b"s", SignatureAlgorithm::Ed25519, &keys(), &ask),
            Err(HostKeysError::UnknownKey)
        );
        assert!(prove(b"s", SignatureAlgorithm::Ed25519, &keys(), &[0, 0, 0, 9]).is_err());
    }

    #[test]
    fn duplicates_are_refused_and_unknown_blobs_skipped() {
        let host = keys();
        let blob = host[0].public_key().to_blob();
        let dup = HostKeyList {
            items: vec![&blob, &blob],
        }
        .to_data();
        assert!(matches!(
            parse_offer(&dup),
            Err(HostKeysError::Duplicate(_))
        ));
        let odd = HostKeyList {
            items: vec![b"\0\0\0\x07unknown", &blob],
        }
        .to_data();
        assert_eq!(parse_offer(&odd).unwrap(), vec![host[0].public_key()]);
    }
}
