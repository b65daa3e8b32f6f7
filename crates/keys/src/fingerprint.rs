//! Key fingerprints as `ssh-keygen -l` prints them: `SHA256:` + unpadded base64 of the SHA-256 of
//! the public key blob (the default since OpenSSH 6.8), or the legacy `MD5:` + colon-separated hex.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::PublicKey;

impl PublicKey {
    /// The SHA-256 digest of the public key blob (RFC 4253 §6.6 encoding).
    pub fn fingerprint_sha256_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.to_blob()).into()
    }

    /// `SHA256:` followed by the unpadded base64 of the blob's SHA-256, as `ssh-keygen -l`.
    pub fn fingerprint_sha256(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(self.fingerprint_sha256_bytes());
        format!("SHA256:{b64}")
    }

    /// `MD5:` followed by the blob's MD5 as lowercase hex pairs joined by colons, as
    /// `ssh-keygen -l -E md5`.
    pub fn fingerprint_md5(&self) -> String {
        let digest = crate::md5::md5(&self.to_blob());
        let hex: Vec<String> = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("MD5:{}", hex.join(":"))
    }
}
