//! Public key authentication with OpenSSH certificates (`*-cert-v01@openssh.com`,
//! PROTOCOL.certkeys): the server verifies the signature with the certificate's key, echoes the
//! certificate algorithm and blob in PK_OK, and hands the certificate to the application.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use nacre_auth::msg::{signed_data, Method, PkOk, Request};
use nacre_auth::{AuthServer, AuthServerConfig, Decision, ServerEvent};
use nacre_keys::cert::CertBuilder;
use nacre_keys::{CertType, Certificate, PrivateKey, SignatureAlgorithm};
use nacre_wire::{decode_exact, Encode};

const SID: &[u8] = b"session-identifier-for-certificates";

fn server() -> AuthServer {
    let config = AuthServerConfig {
        failure_delay: Duration::ZERO,
        ..AuthServerConfig::default()
    };
    AuthServer::new(config, SID)
}

fn request(algorithm: &str, blob: &[u8], signature: Option<&[u8]>) -> Vec<u8> {
    Request {
        user: "alice",
        service: "ssh-connection",
        method: Method::PublicKey {
            algorithm,
            key_blob: blob,
            signature,
        },
    }
    .to_bytes()
}

fn certificate(user: &PrivateKey) -> Certificate {
    let ca = PrivateKey::from_ed25519_seed(&[5; 32]);
    CertBuilder::new(user.public_key(), CertType::User)
        .principals(vec!["alice".into()])
        .sign(&ca, None, &mut rand_core::OsRng)
        .unwrap()
}

#[test]
fn certificate_query_and_signature() {
    let now = Instant::now();
    let user = PrivateKey::from_ed25519_seed(&[6; 32]);
    let cert = certificate(&user);
    let alg = "ssh-ed25519-cert-v01@openssh.com";
    let mut s = server();
    s.handle_packet(&request(alg, cert.blob(), None), now)
        .unwrap();
    let Some(ServerEvent::PublicKeyQuery {
        id,
        key,
        certificate: Some(c),
        ..
    }) = s.poll_event()
    else {
        panic!("no certificate query");
    };
    assert_eq!(key, user.public_key());
    assert_eq!(*c, cert);
    s.decide(id, Decision::Accept, now).unwrap();
    let ok = s.poll_transmit().unwrap();
    let pk_ok: PkOk = decode_exact(&ok).unwrap();
    assert_eq!(pk_ok.algorithm, alg);
    assert_eq!(pk_ok.key_blob, cert.blob());

    let data = signed_data(SID, "alice", "ssh-connection", alg, cert.blob());
    let sig = user.sign(SignatureAlgorithm::Ed25519, &data).unwrap();
    s.handle_packet(&request(alg, cert.blob(), Some(&sig)), now)
        .unwrap();
    let Some(ServerEvent::PublicKeyVerified {
        id,
        certificate: Some(c),
        ..
    }) = s.poll_event()
    else {
        panic!("no verified certificate");
    };
    assert_eq!(*c, cert);
    s.decide(id, Decision::Accept, now).unwrap();
    let Some(ServerEvent::Success {
        key, certificate, ..
    }) = s.poll_event()
    else {
        panic!("no success");
    };
    assert_eq!(key, Some(user.public_key()));
    assert_eq!(certificate.map(|c| *c), Some(cert));
}

#[test]
fn rsa_certificate_algorithms_and_refusals() {
    let now = Instant::now();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/openssh-keys/rsa_1"
    );
    let user = PrivateKey::from_file_bytes(&std::fs::read(path).unwrap(), None).unwrap();
    let cert = certificate(&user);
    for (alg, sig_alg) in [
        (
            "rsa-sha2-512-cert-v01@openssh.com",
            SignatureAlgorithm::RsaSha512,
        ),
        (
            "rsa-sha2-256-cert-v01@openssh.com",
            SignatureAlgorithm::RsaSha256,
        ),
    ] {
        let mut s = server();
        let data = signed_data(SID, "alice", "ssh-connection", alg, cert.blob());
        let sig = user.sign(sig_alg, &data).unwrap();
        s.handle_packet(&request(alg, cert.blob(), Some(&sig)), now)
            .unwrap();
        assert!(matches!(
            s.poll_event(),
            Some(ServerEvent::PublicKeyVerified {
                certificate: Some(_),
                ..
            })
        ));
    }
    // The legacy ssh-rsa-cert algorithm is off by default; a plain key blob under a
    // certificate name, a signature by another key and a tampered certificate are failures.
    let plain = user.public_key().to_blob();
    let mut tampered = cert.to_blob();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let other = PrivateKey::from_ed25519_seed(&[8; 32]);
    let cases: [(&str, &[u8], SignatureAlgorithm, &PrivateKey); 4] = [
        (
            "ssh-rsa-cert-v01@openssh.com",
            cert.blob(),
            SignatureAlgorithm::SshRsa,
            &user,
        ),
        (
            "rsa-sha2-512-cert-v01@openssh.com",
            &plain,
            SignatureAlgorithm::RsaSha512,
            &user,
        ),
        (
            "rsa-sha2-512-cert-v01@openssh.com",
            &tampered,
            SignatureAlgorithm::RsaSha512,
            &user,
        ),
        (
            "ssh-ed25519-cert-v01@openssh.com",
            cert.blob(),
            SignatureAlgorithm::Ed25519,
            &other,
        ),
    ];
    for (alg, blob, sig_alg, signer) in cases {
        let mut s = server();
        let data = signed_data(SID, "alice", "ssh-connection", alg, blob);
        let sig = signer.sign(sig_alg, &data).unwrap();
        s.handle_packet(&request(alg, blob, Some(&sig)), now)
            .unwrap();
        assert_eq!(s.poll_event(), None, "{alg}");
        assert_eq!(s.failures(), 1, "{alg}");
    }
}
