//! What a server lets its clients forward: sshd's `AllowTcpForwarding`,
//! `AllowStreamLocalForwarding`, `PermitOpen`, `PermitListen` and `GatewayPorts`, narrowed by the
//! `authorized_keys` options of the key that logged in (`no-port-forwarding`, `restrict`,
//! `permitopen`, `permitlisten`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nacre_keys::authorized_keys::PermitHostPort;
use nacre_keys::KeyOptions;

/// Most remote forwards (listeners) one connection may hold by default.
pub const MAX_LISTENERS: usize = 64;

/// Server forwarding policy. The default forbids every kind of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardingPolicy {
    /// `direct-tcpip` channels (`ssh -L`).
    pub allow_local: bool,
    /// `tcpip-forward` requests (`ssh -R`).
    pub allow_remote: bool,
    /// Unix socket forwarding, both directions (`direct-streamlocal@openssh.com`,
    /// `streamlocal-forward@openssh.com`).
    pub allow_streamlocal: bool,
    /// The only destinations of local forwarding (sshd's `PermitOpen`); empty: any.
    pub permit_open: Vec<PermitHostPort>,
    /// The only listen addresses of remote forwarding (sshd's `PermitListen`); empty: any.
    pub permit_listen: Vec<PermitHostPort>,
    /// Bind remote forwards on the address the client names (sshd's `GatewayPorts
    /// clientspecified`); otherwise they listen on loopback only (`GatewayPorts no`).
    pub gateway_ports: bool,
    /// Most remote forwards one connection may hold.
    pub max_listeners: usize,
}

impl Default for ForwardingPolicy {
    fn default() -> Self {
        Self::deny_all()
    }
}

impl ForwardingPolicy {
    /// Nothing may be forwarded.
    pub fn deny_all() -> Self {
        ForwardingPolicy {
            allow_local: false,
            allow_remote: false,
            allow_streamlocal: false,
            permit_open: Vec::new(),
            permit_listen: Vec::new(),
            gateway_ports: false,
            max_listeners: MAX_LISTENERS,
        }
    }

    /// TCP and Unix socket forwarding both ways, to and on any address (remote forwards on
    /// loopback only): sshd's defaults.
    pub fn allow_all() -> Self {
        ForwardingPolicy {
            allow_local: true,
            allow_remote: true,
            allow_streamlocal: true,
            ..Self::deny_all()
        }
    }

    /// Like sshd's `AllowTcpForwarding yes|no|local|remote|all` (Unix sockets follow `yes`/`all`
    /// as `AllowStreamLocalForwarding` does by default). `None` for another word.
    pub fn from_allow_tcp_forwarding(value: &str) -> Option<Self> {
        let (local, remote) = match value.to_ascii_lowercase().as_str() {
            "yes" | "all" => (true, true),
            "no" => (false, false),
            "local" => (true, false),
            "remote" => (false, true),
            _ => return None,
        };
        Some(ForwardingPolicy {
            allow_local: local,
            allow_remote: remote,
            allow_streamlocal: local && remote,
            ..Self::deny_all()
        })
    }

    /// May the client open a `direct-tcpip` channel to `host`:`port`?
    pub fn may_open(&self, key: Option<&KeyOptions>, host: &str, port: u32) -> bool {
        let Ok(port) = u16::try_from(port) else {
            return false;
        };
        self.allow_local
            && listed(&self.permit_open, host, port)
            && key.is_none_or(|k| k.permits_open(host, port))
    }

    /// May the client ask for a remote forward listening on `address`:`port` (0: any free port)?
    pub fn may_listen(&self, key: Option<&KeyOptions>, address: &str, port: u32) -> bool {
        let Ok(port) = u16::try_from(port) else {
            return false;
        };
        self.allow_remote
            && listed(&self.permit_listen, address, port)
            && key.is_none_or(|k| k.permits_listen(address, port))
    }

    /// May the client connect to, or listen on, a Unix socket? (`no-port-forwarding` and
    /// `restrict` forbid it too, as in sshd.)
    pub fn may_streamlocal(&self, key: Option<&KeyOptions>) -> bool {
        self.allow_streamlocal && key.is_none_or(|k| k.port_forwarding)
    }

    /// The address a remote forward for `requested` binds: loopback unless [`Self::gateway_ports`]
    /// (then `""`, `*`, `0.0.0.0` mean every IPv4 address, `::` every IPv6 one, `localhost`
    /// loopback, and other names are resolved when binding).
    pub fn bind_host(&self, requested: &str) -> BindHost {
        let loopback = |v6: bool| {
            if v6 {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        };
        let v6 = requested.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6());
        if !self.gateway_ports {
            return BindHost::Ip(loopback(v6));
        }
        match requested {
            "" | "*" | "0.0.0.0" => BindHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            "::" => BindHost::Ip(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            "localhost" => BindHost::Ip(loopback(false)),
            other => match other.parse::<IpAddr>() {
                Ok(ip) => BindHost::Ip(ip),
                Err(_) => BindHost::Name(other.to_owned()),
            },
        }
    }
}

/// Where a remote forward listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindHost {
    /// An address.
    Ip(IpAddr),
    /// A name to resolve.
    Name(String),
}

fn listed(list: &[PermitHostPort], host: &str, port: u16) -> bool {
    list.is_empty() || list.iter().any(|p| p.allows(host, port))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(line_options: &str) -> KeyOptions {
        KeyOptions::parse(line_options).unwrap().0
    }

    fn hp(host: &str, port: Option<u16>) -> PermitHostPort {
        PermitHostPort {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn default_denies_everything() {
        let p = ForwardingPolicy::default();
        assert!(!p.may_open(None, "127.0.0.1", 22));
        assert!(!p.may_listen(None, "localhost", 0));
        assert!(!p.may_streamlocal(None));
        assert_eq!(p, ForwardingPolicy::deny_all());
    }

    #[test]
    fn allow_all_allows_without_key_limits() {
        let p = ForwardingPolicy::allow_all();
        assert!(p.may_open(None, "example.org", 443));
        assert!(p.may_open(Some(&KeyOptions::default()), "10.0.0.1", 1));
        assert!(p.may_listen(None, "localhost", 0));
        assert!(p.may_listen(Some(&KeyOptions::default()), "", 8080));
        assert!(p.may_streamlocal(Some(&KeyOptions::default())));
    }

    #[test]
    fn ports_beyond_16_bits_are_refused() {
        let p = ForwardingPolicy::allow_all();
        assert!(!p.may_open(None, "localhost", 65536));
        assert!(!p.may_listen(None, "localhost", u32::MAX));
        assert!(p.may_open(None, "localhost", 65535));
    }

    #[test]
    fn allow_tcp_forwarding_words() {
        let local = ForwardingPolicy::from_allow_tcp_forwarding("local").unwrap();
        assert!(local.may_open(None, "h", 1) && !local.may_listen(None, "h", 1));
        let remote = ForwardingPolicy::from_allow_tcp_forwarding("Remote").unwrap();
        assert!(!remote.may_open(None, "h", 1) && remote.may_listen(None, "h", 1));
        let no = ForwardingPolicy::from_allow_tcp_forwarding("no").unwrap();
        assert!(!no.may_open(None, "h", 1) && !no.may_listen(None, "h", 1));
        assert!(!no.may_streamlocal(None));
        let yes = ForwardingPolicy::from_allow_tcp_forwarding("yes").unwrap();
        assert!(yes.may_open(None, "h", 1) && yes.may_listen(None, "h", 1));
        assert!(yes.may_streamlocal(None));
        assert!(ForwardingPolicy::from_allow_tcp_forwarding("maybe").is_none());
    }

    #[test]
    fn key_options_narrow_the_policy() {
        let p = ForwardingPolicy::allow_all();
        let no_fwd = key("no-port-forwarding");
        assert!(!p.may_open(Some(&no_fwd), "127.0.0.1", 80));
        assert!(!p.may_listen(Some(&no_fwd), "localhost", 0));
        assert!(!p.may_streamlocal(Some(&no_fwd)));
        let restrict = key("restrict");
        assert!(!p.may_open(Some(&restrict), "127.0.0.1", 80));
        assert!(!p.may_streamlocal(Some(&restrict)));
        let restrict_but = key("restrict,port-forwarding");
        assert!(p.may_open(Some(&restrict_but), "127.0.0.1", 80));
        assert!(p.may_listen(Some(&restrict_but), "localhost", 9000));
    }

    #[test]
    fn permitopen_and_permitlisten_from_the_key() {
        let p = ForwardingPolicy::allow_all();
        let k = key("permitopen=\"127.0.0.1:8080\",permitopen=\"db.internal:*\"");
        assert!(p.may_open(Some(&k), "127.0.0.1", 8080));
        assert!(!p.may_open(Some(&k), "127.0.0.1", 8081));
        assert!(p.may_open(Some(&k), "DB.internal", 5432));
        assert!(!p.may_open(Some(&k), "other", 8080));
        // permitopen does not limit remote forwards.
        assert!(p.may_listen(Some(&k), "localhost", 1234));
        let l = key("permitlisten=\"localhost:9000\",permitlisten=\"7000\"");
        assert!(p.may_listen(Some(&l), "localhost", 9000));
        assert!(!p.may_listen(Some(&l), "localhost", 9001));
        assert!(!p.may_listen(Some(&l), "localhost", 0));
        assert!(p.may_open(Some(&l), "anything", 1));
    }

    #[test]
    fn server_lists_and_key_lists_both_apply() {
        let p = ForwardingPolicy {
            permit_open: vec![hp("127.0.0.1", None)],
            permit_listen: vec![hp("*", Some(9000)), hp("localhost", Some(9001))],
            ..ForwardingPolicy::allow_all()
        };
        assert!(p.may_open(None, "127.0.0.1", 1));
        assert!(!p.may_open(None, "10.0.0.1", 1));
        let k = key("permitopen=\"127.0.0.1:22\"");
        assert!(p.may_open(Some(&k), "127.0.0.1", 22));
        assert!(!p.may_open(Some(&k), "127.0.0.1", 23));
        assert!(p.may_listen(None, "0.0.0.0", 9000));
        assert!(p.may_listen(None, "localhost", 9001));
        assert!(!p.may_listen(None, "0.0.0.0", 9001));
        let l = key("permitlisten=\"9001\"");
        assert!(!p.may_listen(Some(&l), "0.0.0.0", 9000));
        assert!(p.may_listen(Some(&l), "localhost", 9001));
    }

    #[test]
    fn bind_host_follows_gateway_ports() {
        let p = ForwardingPolicy::allow_all();
        let v4 = BindHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for requested in ["", "*", "0.0.0.0", "localhost", "example.org", "10.1.2.3"] {
            assert_eq!(p.bind_host(requested), v4, "{requested}");
        }
        assert_eq!(
            p.bind_host("::"),
            BindHost::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        let g = ForwardingPolicy {
            gateway_ports: true,
            ..p
        };
        assert_eq!(
            g.bind_host(""),
            BindHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            g.bind_host("*"),
            BindHost::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(g.bind_host("localhost"), v4);
        assert_eq!(
            g.bind_host("10.1.2.3"),
            BindHost::Ip("10.1.2.3".parse().unwrap())
        );
        assert_eq!(
            g.bind_host("example.org"),
            BindHost::Name("example.org".into())
        );
    }
}
