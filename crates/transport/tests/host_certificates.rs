#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! Host certificates (OpenSSH `PROTOCOL.certkeys`): a server holding a certificate for one of
//! its host keys offers `*-cert-v01@openssh.com` first; a client that asks for certificates gets
//! the certificate in its `HostKey` event, for every host key algorithm; a client that does not
//! ask negotiates the plain key as before.

use std::sync::Arc;

use nacre_keys::cert::CertBuilder;
use nacre_keys::{CertType, PrivateKey, SignatureAlgorithm};
use nacre_testkit::{all_host_keys, closed, Pair};
use nacre_transport::{Algorithms, Config, Event};

fn server() -> Config {
    let keys = all_host_keys();
    let ca = PrivateKey::from_ed25519_seed(&[4; 32]);
    let mut config = Config::server(keys.clone());
    config.algorithms = Algorithms::all();
    for k in &keys {
        let cert = CertBuilder::new(k.public_key(), CertType::Host)
            .principals(vec!["host.example".into()])
            .sign(&ca, None, &mut rand_core::OsRng)
            .unwrap();
        config.host_certificates.push(Arc::new(cert));
    }
    config
}

fn host_key_event(pair: &Pair) -> (SignatureAlgorithm, Option<Box<nacre_keys::Certificate>>) {
    pair.client_events
        .iter()
        .find_map(|e| match e {
            Event::HostKey {
                algorithm,
                certificate,
                ..
            } => Some((*algorithm, certificate.clone())),
            _ => None,
        })
        .expect("host key event")
}

#[test]
fn certificates_for_every_host_key_algorithm() {
    for (i, &alg) in SignatureAlgorithm::ALL.iter().enumerate() {
        let mut client = Config::client();
        client.algorithms = Algorithms::all();
        client.algorithms.host_key = vec![alg];
        client.host_key_certificates = true;
        let mut pair = Pair::new(client, server(), i as u64 + 1);
        pair.connect();
        assert!(
            closed(&pair.client_events).is_none(),
            "{alg}: {:?}",
            pair.client_events
        );
        let (got, cert) = host_key_event(&pair);
        assert_eq!(got, alg);
        let cert = cert.expect("a certificate");
        assert_eq!(cert.key().key_type(), alg.key_type());
        assert!(cert.check_host("host.example", 1).is_ok());
        assert!(pair.client.negotiated().unwrap().host_key_certificate);
    }
}

#[test]
fn plain_keys_unless_asked() {
    let mut pair = Pair::new(Config::client(), server(), 9);
    pair.connect();
    let (_, cert) = host_key_event(&pair);
    assert!(cert.is_none());
    assert!(!pair.client.negotiated().unwrap().host_key_certificate);
}
