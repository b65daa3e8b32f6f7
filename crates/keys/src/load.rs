//! Reading a private key file of any supported format.

use crate::{KeyError, PrivateKey};

impl PrivateKey {
    /// Reads a private key file in any supported format, found from its contents: PuTTY PPK
    /// (`PuTTY-User-Key-File-2/3`), `openssh-key-v1`, PEM PKCS#1 / SEC1 (also legacy-encrypted)
    /// and PKCS#8 (also PBES2-encrypted).
    ///
    /// An encrypted file without a `passphrase` fails with [`KeyError::Encrypted`]; a wrong one
    /// with [`KeyError::BadPassphrase`]. Unencrypted files ignore the passphrase.
    pub fn from_file_bytes(text: &[u8], passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let start = text
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(text.len());
        if text
            .get(start..)
            .is_some_and(|t| t.starts_with(b"PuTTY-User-Key-File-"))
        {
            return Self::from_ppk(text, passphrase);
        }
        match passphrase {
            Some(pass) => Self::from_openssh_with_passphrase(text, pass),
            None => Self::from_openssh(text),
        }
    }
}
