#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use nacre_testkit::{closed, Pair};
use nacre_transport::Event;

#[test]
fn handshake_reaches_userauth_service() {
    let mut pair = Pair::default_pair(1);
    pair.connect();
    assert!(
        closed(&pair.client_events).is_none(),
        "client closed: {:?}",
        pair.client_events
    );
    assert!(
        closed(&pair.server_events).is_none(),
        "server closed: {:?}",
        pair.server_events
    );
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::ServiceAccepted(s) if s == "ssh-userauth")));
    assert!(pair
        .server_events
        .iter()
        .any(|e| matches!(e, Event::ServiceStarted(s) if s == "ssh-userauth")));
    assert_eq!(pair.client.session_id(), pair.server.session_id());
    assert!(pair.client.strict_kex() && pair.server.strict_kex());
    assert!(pair
        .client
        .server_sig_algs()
        .unwrap()
        .iter()
        .any(|a| a == "ssh-ed25519"));
    pair.client.send(&[94, 1, 2, 3]).unwrap();
    pair.server.send(&[95, 4, 5]).unwrap();
    pair.drive();
    assert_eq!(pair.server_packets(), vec![vec![94, 1, 2, 3]]);
    assert_eq!(pair.client_packets(), vec![vec![95, 4, 5]]);
}
