//! Regression tests for bugs the fuzz targets found (docs/FUZZING.md), one per bug, named after it.
//! The inputs that found them are replayed too, from `fuzz/regressions/<target>/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use nacre_auth::msg::Success;
use nacre_auth::{AuthClient, ClientEvent};
use nacre_keys::PrivateKey;
use nacre_wire::Encode;

/// fuzz target `auth_client`: once authenticated, a call to `password`, `publickey`,
/// `keyboard_interactive` or `change_password` sent a new USERAUTH_REQUEST and moved the client
/// out of its done state: `is_done()` turned false again and a second USERAUTH_SUCCESS was taken
/// as a second success. After success these calls now do nothing.
#[test]
fn client_request_after_success_reopens_authentication() {
    let key = PrivateKey::from_ed25519_seed(&[1; 32]).public_key();
    let calls: [&dyn Fn(&mut AuthClient); 4] = [
        &|c| c.password("pw"),
        &|c| c.publickey(&key),
        &|c| c.keyboard_interactive(""),
        &|c| c.change_password("old", "new"),
    ];
    for call in calls {
        let mut client = AuthClient::new("alice", b"session", None);
        assert!(client.poll_transmit().is_some(), "the none request");
        client.handle_packet(&Success.to_bytes()).unwrap();
        assert_eq!(client.poll_event(), Some(ClientEvent::Success));
        assert!(client.is_done());
        call(&mut client);
        assert!(client.is_done(), "still authenticated");
        assert!(client.poll_transmit().is_none(), "no request after success");
        assert!(
            client.handle_packet(&Success.to_bytes()).is_err(),
            "a second USERAUTH_SUCCESS is refused"
        );
        assert!(client.poll_event().is_none());
    }
}

/// fuzz target `auth_client`: `signature` called when no signature was asked for replaced the
/// client's state with "idle" before noticing: after success `is_done()` turned false, and with a
/// request outstanding the server's answer to it was then refused as unexpected.
#[test]
fn client_unasked_signature_clobbers_state() {
    // After success.
    let mut client = AuthClient::new("alice", b"session", None);
    client.poll_transmit();
    client.handle_packet(&Success.to_bytes()).unwrap();
    client.signature(b"unasked");
    assert!(client.is_done(), "still authenticated");
    assert!(client.poll_transmit().is_none());

    // With the none request outstanding: its FAILURE answer is still expected.
    let mut client = AuthClient::new("alice", b"session", None);
    client.poll_transmit();
    client.signature(b"unasked");
    assert!(client.poll_transmit().is_none(), "nothing sent");
    let failure = nacre_auth::msg::Failure {
        methods: nacre_wire::NameList::new(b"password").unwrap(),
        partial_success: false,
    }
    .to_bytes();
    client.handle_packet(&failure).unwrap();
    assert!(matches!(
        client.poll_event(),
        Some(ClientEvent::Failure { .. })
    ));
}
