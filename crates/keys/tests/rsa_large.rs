//! RSA keys above ring's 8192-bit verification limit (OpenSSH allows up to 16384): a 9216-bit key
//! and its SSHSIG signature made by ssh-keygen (vectors/rsa9216, see vectors/README.md) verify.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use nacre_keys::{KeyError, PublicKey};

#[test]
fn rsa_9216_signature_from_ssh_keygen_verifies() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/rsa9216");
    let (key, _) =
        PublicKey::from_openssh_line(common::read_text(&dir.join("k.pub")).trim()).unwrap();
    assert_eq!(key.bits(), 9216);
    let sig = common::parse_sshsig(&common::read_text(&dir.join("message.sig")));
    assert_eq!(PublicKey::from_blob(&sig.public_key).unwrap(), key);
    let message = common::read(&dir.join("message"));
    let signed = common::sshsig_signed_data(&sig.namespace, &sig.hash_algorithm, &message);
    let alg = common::blob_algorithm(&sig.signature);
    key.verify(alg, &signed, &sig.signature).unwrap();
    let mut tampered = signed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        key.verify(alg, &tampered, &sig.signature),
        Err(KeyError::BadSignature)
    );
}
