#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! The acceptance table (`Transport::classify`): all 256 message numbers in every reachable state
//! of both roles, against the invariants of RFC 4253, RFC 8308 and strict kex.

use nacre_testkit::script::{KexInitSpec, ScriptPeer};
use nacre_testkit::{split_plain_packets, Pair};
use nacre_transport::{Config, Disposition, Role, Transport};

/// What a test knows about the state a machine was put in.
#[derive(Clone, Copy, Debug, Default)]
struct Facts {
    established: bool,
    /// Both KEXINITs known: the method runs (30–49 belong to it).
    kex_running: bool,
    /// The peer sent KEXINIT and not yet NEWKEYS.
    peer_in_kex: bool,
    /// Strict kex agreed and the first exchange not finished.
    strict_initial: bool,
    service_active: bool,
    /// Client: SERVICE_REQUEST sent, no answer yet.
    service_requested: bool,
    /// The next packet may be EXT_INFO (right after the first NEWKEYS).
    ext_info_window: bool,
    /// Client: the late EXT_INFO before USERAUTH_SUCCESS is possible.
    late_ext_info: bool,
    /// Server: "ssh-userauth" runs and nobody is authenticated yet. A repeated SERVICE_REQUEST
    /// is then handled, not refused: sshd answers it again (auth2.c, input_service_request)
    /// and paramiko sends one before each method (docs/TOLERANCE.md).
    userauth_pending: bool,
    /// The user is authenticated: a server answers SERVICE_REQUEST with UNIMPLEMENTED and
    /// goes on, as sshd's server loop does (Twisted Conch sends one after every re-exchange;
    /// docs/TOLERANCE.md).
    authenticated: bool,
}

fn check(name: &str, t: &Transport, f: Facts) {
    let role = t.role();
    for n in 0..=255u8 {
        let d = t.classify(n);
        let at = format!("{name} ({role:?}) msg {n}: {d:?} with {f:?}");
        let refused = matches!(d, Disposition::Refuse(_));
        // Fixed meanings.
        match n {
            1 => assert_eq!(d, Disposition::Disconnect, "{at}"),
            20 => assert_eq!(d, Disposition::KexInit, "{at}"),
            21 => assert_eq!(d, Disposition::NewKeys, "{at}"),
            _ => {}
        }
        // Nothing below 50 ever reaches the service layer, and nothing at or above 50 is taken
        // by the transport.
        if n < 50 {
            assert_ne!(d, Disposition::Application, "{at}");
        } else {
            let open = f.established && f.service_active && !f.peer_in_kex;
            // PING and PONG (OpenSSH PROTOCOL §1.8) are the transport's own once the user is
            // authenticated, where a service-layer message is accepted.
            let accepted = if matches!(n, 192 | 193) && f.authenticated {
                Disposition::Ping
            } else {
                Disposition::Application
            };
            let expected = if open { accepted } else { d };
            assert_eq!(d, expected, "{at}");
            assert!(open || refused, "{at}");
        }
        // Strict initial kex: only 1, 20, 21 and 30–49 are not refused.
        if f.strict_initial && f.peer_in_kex {
            let allowed = matches!(n, 1 | 20 | 21 | 30..=49);
            assert_eq!(!refused, allowed, "{at}");
        }
        match n {
            2..=4 if !f.strict_initial || !f.peer_in_kex => {
                assert_eq!(d, Disposition::Generic, "{at}")
            }
            5 | 6 => {
                let ok = f.established
                    && !f.peer_in_kex
                    && match (role, n) {
                        (Role::Server, 5) => {
                            !f.authenticated && (!f.service_active || f.userauth_pending)
                        }
                        (Role::Client, 6) => f.service_requested,
                        _ => false,
                    };
                let unimplemented = role == Role::Server
                    && n == 5
                    && f.authenticated
                    && f.established
                    && !f.peer_in_kex;
                let expected = if ok {
                    Disposition::Service
                } else if unimplemented {
                    Disposition::Unimplemented
                } else {
                    d
                };
                assert_eq!(d, expected, "{at}");
                assert!(ok || unimplemented || refused, "{at}");
            }
            7 => {
                let ok = f.ext_info_window || f.late_ext_info;
                assert_eq!(d == Disposition::ExtInfo, ok, "{at}");
                assert!(ok || refused, "{at}");
            }
            30..=49 if f.kex_running => assert_eq!(d, Disposition::KexMethod, "{at}"),
            30..=49 if !f.established => assert!(refused, "{at}"),
            0 | 8..=19 | 22..=49 if f.established || !(f.strict_initial && f.peer_in_kex) => {
                assert_eq!(d, Disposition::Unimplemented, "{at}")
            }
            _ => {}
        }
    }
}

fn fresh(role: Role) -> Transport {
    let now = std::time::Instant::now();
    let rng = Box::new(nacre_crypto::SeededRng::new(81));
    match role {
        Role::Client => Transport::client(std::sync::Arc::new(Config::client()), rng, now),
        Role::Server => Transport::server(
            std::sync::Arc::new(Config::server(nacre_testkit::all_host_keys())),
            rng,
            now,
        ),
    }
}

#[test]
fn fresh_machines() {
    for role in [Role::Client, Role::Server] {
        check("fresh", &fresh(role), Facts::default());
    }
}

#[test]
fn after_the_peers_kexinit_strict_and_not() {
    for role in [Role::Client, Role::Server] {
        for strict in [true, false] {
            let mut t = fresh(role);
            let other = if role == Role::Client {
                Role::Server
            } else {
                Role::Client
            };
            let mut script = ScriptPeer::new(other);
            let mut bytes = script.banner();
            bytes.extend(script.packet(&KexInitSpec::new(other, strict).payload()));
            script.take(&mut t);
            script.exchange(&mut t, &bytes);
            assert!(!t.is_closed());
            assert_eq!(t.strict_kex(), strict);
            let f = Facts {
                kex_running: true,
                peer_in_kex: true,
                strict_initial: strict,
                ..Facts::default()
            };
            check(&format!("peer KEXINIT, strict {strict}"), &t, f);
        }
    }
}

fn flight(from: &mut Transport) -> Vec<u8> {
    let mut b = Vec::new();
    from.poll_transmit(&mut b);
    b
}

/// Steps a real pair through the first exchange, a service request and a re-exchange, checking
/// the table at every stop.
#[test]
fn every_stop_of_a_connection() {
    let mut p = Pair::default_pair(82);
    let (c, s) = (&mut p.client, &mut p.server);
    let initial = Facts {
        kex_running: true,
        peer_in_kex: true,
        strict_initial: true,
        ..Facts::default()
    };
    s.handle_input(&flight(c)); // banner + KEXINIT
    check("server, client KEXINIT in", s, initial);
    check("client, nothing in yet", c, Facts::default());
    c.handle_input(&flight(s)); // banner + KEXINIT
    check("client, server KEXINIT in", c, initial);
    s.handle_input(&flight(c)); // ECDH_INIT
    check("server, reply and NEWKEYS sent", s, initial);
    // ECDH_REPLY, NEWKEYS, EXT_INFO: hold EXT_INFO back to look at the window.
    let (plain, ext_info) = split_plain_packets(&flight(s), 2);
    c.handle_input(&plain.concat());
    check("client, awaiting host key", c, initial);
    while c.poll_event().is_some() {}
    c.accept_host_key();
    let window = Facts {
        established: true,
        ext_info_window: true,
        ..Facts::default()
    };
    check("client, right after NEWKEYS", c, window);
    c.handle_input(&ext_info);
    check(
        "client, established",
        c,
        Facts {
            established: true,
            ..Facts::default()
        },
    );
    s.handle_input(&flight(c)); // NEWKEYS
    check("server, right after NEWKEYS", s, window);
    let established = Facts {
        established: true,
        ..Facts::default()
    };
    c.request_service("ssh-userauth");
    let requested = Facts {
        service_requested: true,
        ..established
    };
    check("client, service requested", c, requested);
    s.handle_input(&flight(c));
    let active = Facts {
        established: true,
        service_active: true,
        ..Facts::default()
    };
    check(
        "server, service active",
        s,
        Facts {
            userauth_pending: true,
            ..active
        },
    );
    c.handle_input(&flight(s));
    check(
        "client, service active",
        c,
        Facts {
            late_ext_info: true,
            ..active
        },
    );
    c.set_authenticated();
    s.set_authenticated();
    let active = Facts {
        authenticated: true,
        ..active
    };
    check("client, authenticated", c, active);
    check("server, authenticated", s, active);
    // Re-exchange started by the client.
    c.rekey();
    check("client, sent KEXINIT", c, active);
    s.handle_input(&flight(c));
    let peer_kex = Facts {
        kex_running: true,
        peer_in_kex: true,
        ..active
    };
    check("server, in re-exchange", s, peer_kex);
    c.handle_input(&flight(s));
    check("client, in re-exchange", c, peer_kex);
    s.handle_input(&flight(c)); // ECDH_INIT
    check("server, re-exchange reply sent", s, peer_kex);
    c.handle_input(&flight(s)); // ECDH_REPLY, NEWKEYS: no host key question this time
    check("client, re-exchange done", c, active);
    s.handle_input(&flight(c)); // NEWKEYS
    check("server, re-exchange done", s, active);
    assert!(!c.in_kex() && !s.in_kex() && !c.is_closed() && !s.is_closed());
}

/// A server never started a service while the client requested none: an idle established server.
#[test]
fn established_without_service() {
    let mut p = Pair::default_pair(83);
    p.drive();
    let f = Facts {
        established: true,
        ..Facts::default()
    };
    check("client", &p.client, f);
    // No packet from the client since its NEWKEYS: its EXT_INFO may still come.
    let window = Facts {
        ext_info_window: true,
        ..f
    };
    check("server", &p.server, window);
    // Any packet closes that window.
    p.client.send_raw(&[2, 0, 0, 0, 0]);
    p.drive();
    check("server after IGNORE", &p.server, f);
}

/// With strict kex off, the initial exchange still refuses service messages, but IGNORE, DEBUG
/// and unknown numbers are handled as usual.
#[test]
fn non_strict_pair_in_initial_exchange() {
    let mut c = Config::client();
    c.strict_kex = false;
    let mut p = Pair::new(c, Config::server(nacre_testkit::all_host_keys()), 84);
    let mut b = Vec::new();
    p.client.poll_transmit(&mut b);
    p.server.handle_input(&b);
    let f = Facts {
        kex_running: true,
        peer_in_kex: true,
        ..Facts::default()
    };
    check("server", &p.server, f);
    assert_eq!(p.server.classify(2), Disposition::Generic);
    assert_eq!(p.server.classify(15), Disposition::Unimplemented);
    assert!(matches!(p.server.classify(5), Disposition::Refuse(_)));
    assert!(matches!(p.server.classify(50), Disposition::Refuse(_)));
}
