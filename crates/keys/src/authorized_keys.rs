//! OpenSSH `authorized_keys` files (sshd(8) "AUTHORIZED_KEYS FILE FORMAT").
//!
//! ```text
//! line     = [options SP] keytype SP base64-blob [SP comment]
//! options  = option *("," option)            no unquoted spaces; names are case-insensitive
//! option   = flag / name "=" DQUOTE value DQUOTE      inside a value, \" is a quote
//! flag     = "restrict" / "cert-authority" / ["no-"] ("pty" / "port-forwarding" /
//!            "agent-forwarding" / "X11-forwarding" / "user-rc" / "touch-required") /
//!            "verify-required"
//! name     = "command" / "environment" / "expiry-time" / "from" / "permitlisten" /
//!            "permitopen" / "principals" / "tunnel"
//! ```
//!
//! Parsing follows OpenSSH's `sshauthopt_parse`: options apply in order (`restrict` turns pty,
//! forwarding, agent and X11 forwarding and `~/.ssh/rc` off; a later positive flag turns one
//! back on), an unknown option or a bad value rejects the whole line, `command`, `from` and
//! `principals` may appear once, the first `environment` for a name wins and the earliest
//! `expiry-time` wins. A rejected line is reported with its number and never authorises anything.
//!
//! [`KeyOptions::check`] enforces `from=` and `expiry-time=` at authentication time; the other
//! options are typed fields for the session and connection layers to apply.

use std::net::IpAddr;

pub use crate::from_patterns::FromPatterns;

use crate::{KeyError, KeyType, PublicKey};

/// At most this many `environment=` options on a line (OpenSSH's `SSH_AUTHOPT_ENV_MAX`).
pub const MAX_ENVIRONMENT: usize = 1024;
/// At most this many `permitopen=` or `permitlisten=` options on a line (OpenSSH's
/// `SSH_AUTHOPT_PERMIT_MAX`).
pub const MAX_PERMITS: usize = 4096;
/// Largest `tunnel=` device number (OpenSSH's `SSH_TUNID_MAX`).
pub const MAX_TUNNEL_UNIT: u32 = 0x7fff_fffd;
/// Longest host name in `permitopen=`/`permitlisten=` (OpenSSH: below `NI_MAXHOST`).
const MAX_PERMIT_HOST: usize = 1024;

/// A parsed `authorized_keys` file.
///
/// ```
/// use nacre_keys::{AuthorizedKeys, PublicKey};
///
/// let key_line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEB+PO3GvLMi602cebTnZXhrXwKCuIcQ6/zSnwde00U2 alice@example";
/// let text = format!("# alice's keys\nrestrict,pty,from=\"10.0.0.0/8\" {key_line}\nnot a key\n");
/// let (file, errors) = AuthorizedKeys::parse(&text);
/// assert_eq!(errors.len(), 1); // line 3, reported and skipped
/// assert_eq!(errors[0].0, 3);
///
/// let (key, _) = PublicKey::from_openssh_line(key_line)?;
/// let entry = file.find(&key).expect("listed");
/// assert_eq!(entry.line, 2);
/// assert!(entry.options.restrict && entry.options.pty);
/// assert!(!entry.options.port_forwarding); // turned off by `restrict`
///
/// // from= is enforced when the key is used.
/// let now = 1_700_000_000;
/// assert!(entry.options.check("10.1.2.3".parse()?, None, now).is_ok());
/// assert!(entry.options.check("192.0.2.1".parse()?, None, now).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizedKeys {
    entries: Vec<AuthorizedKey>,
}

/// One valid line of an `authorized_keys` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizedKey {
    /// The line number in the parsed text, from 1.
    pub line: usize,
    /// The key (a CA key when [`KeyOptions::cert_authority`] is set).
    pub key: PublicKey,
    /// The comment after the key (empty when absent).
    pub comment: String,
    /// The options before the key.
    pub options: KeyOptions,
}

/// The options of an `authorized_keys` line, typed. [`KeyOptions::default`] is a line without
/// options: everything permitted, no forced command, no restriction.
///
/// [`KeyOptions::parse`] reads the options at the start of a line and returns the rest:
///
/// ```
/// use nacre_keys::KeyOptions;
///
/// let line = r#"command="uptime",permitopen="db:5432",no-pty ssh-ed25519 AAAA..."#;
/// let (options, rest) = KeyOptions::parse(line)?;
/// assert_eq!(options.command.as_deref(), Some("uptime"));
/// assert!(!options.pty);
/// assert!(options.permits_open("db", 5432));
/// assert!(!options.permits_open("db", 22));
/// assert!(rest.trim_start().starts_with("ssh-ed25519"));
///
/// assert!(KeyOptions::default().permits_open("anywhere", 22));
/// assert!(KeyOptions::parse("no-such-option ssh-ed25519 AAAA").is_err());
/// # Ok::<(), nacre_keys::KeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyOptions {
    /// `restrict` was given (later positive flags may have re-enabled some features).
    pub restrict: bool,
    /// `cert-authority`: the key is a CA trusted to sign user certificates, not a user key.
    pub cert_authority: bool,
    /// A pty may be allocated (`no-pty` / `pty`).
    pub pty: bool,
    /// TCP forwarding is allowed (`no-port-forwarding` / `port-forwarding`).
    pub port_forwarding: bool,
    /// Agent forwarding is allowed (`no-agent-forwarding` / `agent-forwarding`).
    pub agent_forwarding: bool,
    /// X11 forwarding is allowed (`no-X11-forwarding` / `X11-forwarding`).
    pub x11_forwarding: bool,
    /// `~/.ssh/rc` is run (`no-user-rc` / `user-rc`).
    pub user_rc: bool,
    /// `no-touch-required`: FIDO signatures without user presence are accepted.
    pub no_touch_required: bool,
    /// `verify-required`: FIDO signatures must attest user verification (PIN, biometrics).
    pub verify_required: bool,
    /// `command="..."`: the command run whatever the client asks.
    pub command: Option<String>,
    /// `from="..."`: where the client must connect from.
    pub from: Option<FromPatterns>,
    /// `environment="NAME=value"` pairs, first per name, in order.
    pub environment: Vec<(String, String)>,
    /// `expiry-time="..."`: the earliest given.
    pub expiry_time: Option<ExpiryTime>,
    /// `permitopen="host:port"`: the only destinations of local forwarding (empty: no limit).
    pub permit_open: Vec<PermitHostPort>,
    /// `permitlisten="[host:]port"`: the only listen addresses of remote forwarding (empty: no
    /// limit).
    pub permit_listen: Vec<PermitHostPort>,
    /// `principals="a,b"`: with `cert-authority`, the principals a certificate must name.
    pub principals: Option<Vec<String>>,
    /// `tunnel="n"`: forces this tun device.
    pub tunnel: Option<TunnelDevice>,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self {
            restrict: false,
            cert_authority: false,
            pty: true,
            port_forwarding: true,
            agent_forwarding: true,
            x11_forwarding: true,
            user_rc: true,
            no_touch_required: false,
            verify_required: false,
            command: None,
            from: None,
            environment: Vec::new(),
            expiry_time: None,
            permit_open: Vec::new(),
            permit_listen: Vec::new(),
            principals: None,
            tunnel: None,
        }
    }
}

/// A `permitopen` or `permitlisten` destination.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PermitHostPort {
    /// The host (brackets of `[ipv6]` removed); `*` for any.
    pub host: String,
    /// The port; `None` for `*` (any port).
    pub port: Option<u16>,
}

impl PermitHostPort {
    /// Whether `host`/`port` is allowed by this entry (a `*` host or port matches anything;
    /// host names compare without regard to ASCII case).
    pub fn allows(&self, host: &str, port: u16) -> bool {
        (self.host == "*" || self.host.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

/// A `tunnel=` device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelDevice {
    /// `any`: the server picks one.
    Any,
    /// A device number, at most [`MAX_TUNNEL_UNIT`].
    Unit(u32),
}

/// An `expiry-time=` value, `YYYYMMDD[HHMM[SS]][Z]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExpiryTime {
    /// The time read as UTC, in seconds since the Unix epoch.
    pub unix_utc: u64,
    /// The value ended in `Z` (UTC). Without it OpenSSH reads the time in the server's local
    /// time zone; this crate has no time zone database, so [`KeyOptions::check`] reads it as
    /// UTC. Use [`ExpiryTime::unix_with_offset`] with the server's offset to be exact.
    pub utc: bool,
}

impl ExpiryTime {
    /// The expiry instant for a server whose local time is `utc_offset_seconds` ahead of UTC
    /// (ignored when the value was given in UTC).
    pub fn unix_with_offset(&self, utc_offset_seconds: i64) -> i64 {
        let t = i64::try_from(self.unix_utc).unwrap_or(i64::MAX);
        if self.utc {
            t
        } else {
            t.saturating_sub(utc_offset_seconds)
        }
    }
}

/// Why [`KeyOptions::check`] refused a key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client's address or host name is not allowed by `from=`.
    #[error("key not permitted from {address} (host {host:?}); from=\"{patterns}\"")]
    From {
        /// The client's address.
        address: IpAddr,
        /// The client's host name, when known.
        host: Option<String>,
        /// The `from=` list.
        patterns: String,
    },
    /// The key's `expiry-time=` has passed.
    #[error("key expired at {expired_at} (Unix time)")]
    Expired {
        /// The expiry, in seconds since the Unix epoch (read as UTC).
        expired_at: u64,
    },
}

/// Parses `YYYYMMDD[HHMM[SS]][Z]` (OpenSSH's `parse_absolute_time`).
pub fn parse_expiry_time(text: &str) -> Result<ExpiryTime, KeyError> {
    const BAD: KeyError = KeyError::InvalidKeyOption {
        option: "expiry-time",
        reason: "expected YYYYMMDD[HHMM[SS]][Z]",
    };
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (text, false),
    };
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    let field = |range: std::ops::Range<usize>| -> u64 {
        digits
            .get(range)
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    };
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    let (hour, minute, second) = (field(8..10), field(10..12), field(12..14));
    if year < 1970 {
        return Err(KeyError::InvalidKeyOption {
            option: "expiry-time",
            reason: "the time is before 1970",
        });
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(KeyError::InvalidKeyOption {
            option: "expiry-time",
            reason: "the date or time is out of range",
        });
    }
    let days = days_from_civil(year, month, day);
    let unix = days * 86_400 + hour * 3600 + minute * 60 + second;
    if unix == 0 {
        return Err(KeyError::InvalidKeyOption {
            option: "expiry-time",
            reason: "the time is the epoch",
        });
    }
    Ok(ExpiryTime {
        unix_utc: unix,
        utc,
    })
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (year ≥ 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let before_year: u64 = (1970..year)
        .map(|y| if is_leap(y) { 366 } else { 365 })
        .sum();
    let before_month: u64 = (1..month).map(|m| days_in_month(year, m)).sum();
    before_year + before_month + day - 1
}

/// Reads a quoted value at the start of `s` (OpenSSH's `opt_dequote`): `"` ... `"`, where `\"`
/// stands for a quote and any other backslash is kept. Returns the value and the rest.
fn dequote<'s>(s: &'s str, option: &'static str) -> Result<(String, &'s str), KeyError> {
    let body = s.strip_prefix('"').ok_or(KeyError::InvalidKeyOption {
        option,
        reason: "the value must be in double quotes",
    })?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let rest = body.get(i + 1..).unwrap_or_default();
                return Ok((value, rest));
            }
            '\\' if body.get(i + 1..).is_some_and(|r| r.starts_with('"')) => {
                value.push('"');
                chars.next();
            }
            _ => value.push(c),
        }
    }
    Err(KeyError::InvalidKeyOption {
        option,
        reason: "missing closing quote",
    })
}

/// Matches a flag name at the start of `s`, ASCII case-insensitively (OpenSSH's `opt_flag`).
/// Returns `(enabled, rest)`: `no-name` gives `false` when `negatable`.
fn flag<'s>(s: &'s str, name: &str, negatable: bool) -> Option<(bool, &'s str)> {
    let (enabled, body) = match strip_prefix_ci(s, "no-") {
        Some(rest) if negatable => (false, rest),
        _ => (true, s),
    };
    strip_prefix_ci(body, name).map(|rest| (enabled, rest))
}

/// Matches `name=` at the start of `s`, ASCII case-insensitively (OpenSSH's `opt_match`).
fn valued<'s>(s: &'s str, name: &str) -> Option<&'s str> {
    strip_prefix_ci(s, name).and_then(|rest| rest.strip_prefix('='))
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The unparsed text at `s`, shortened for an error message.
fn option_name(s: &str) -> String {
    s.split([',', ' ', '\t', '='])
        .next()
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect()
}

fn is_blank(s: &str) -> bool {
    s.is_empty() || s.starts_with([' ', '\t'])
}

impl KeyOptions {
    /// Parses the options at the start of `s` up to the first space or tab outside quotes.
    /// Returns the options and the rest of the line.
    pub fn parse(mut s: &str) -> Result<(Self, &str), KeyError> {
        let mut o = Self::default();
        while !is_blank(s) {
            s = o.parse_one(s)?;
            if is_blank(s) {
                break;
            }
            s = s
                .strip_prefix(',')
                .ok_or_else(|| KeyError::UnknownKeyOption(option_name(s)))?;
            if s.is_empty() {
                return Err(KeyError::InvalidKeyOption {
                    option: "options",
                    reason: "the options end with a comma",
                });
            }
        }
        Ok((o, s))
    }

    /// Parses one option at the start of `s` (or nothing, for an empty entry such as `a,,b`,
    /// which OpenSSH accepts) and returns the rest.
    fn parse_one<'s>(&mut self, s: &'s str) -> Result<&'s str, KeyError> {
        if let Some((_, rest)) = flag(s, "restrict", false) {
            self.restrict = true;
            self.port_forwarding = false;
            self.agent_forwarding = false;
            self.x11_forwarding = false;
            self.pty = false;
            self.user_rc = false;
            return Ok(rest);
        }
        if let Some((_, rest)) = flag(s, "cert-authority", false) {
            self.cert_authority = true;
            return Ok(rest);
        }
        type Setter = fn(&mut KeyOptions, bool);
        let flags: [(&str, Setter); 7] = [
            ("port-forwarding", |o, v| o.port_forwarding = v),
            ("agent-forwarding", |o, v| o.agent_forwarding = v),
            ("x11-forwarding", |o, v| o.x11_forwarding = v),
            ("touch-required", |o, v| o.no_touch_required = !v),
            ("verify-required", |o, v| o.verify_required = v),
            ("pty", |o, v| o.pty = v),
            ("user-rc", |o, v| o.user_rc = v),
        ];
        for (name, set) in flags {
            if let Some((enabled, rest)) = flag(s, name, true) {
                set(self, enabled);
                return Ok(rest);
            }
        }
        if let Some(rest) = valued(s, "command") {
            if self.command.is_some() {
                return Err(repeated("command"));
            }
            let (v, rest) = dequote(rest, "command")?;
            self.command = Some(v);
            return Ok(rest);
        }
        if let Some(rest) = valued(s, "principals") {
            if self.principals.is_some() {
                return Err(repeated("principals"));
            }
            let (v, rest) = dequote(rest, "principals")?;
            self.principals = Some(v.split(',').map(str::to_owned).collect());
            return Ok(rest);
        }
        if let Some(rest) = valued(s, "from") {
            if self.from.is_some() {
                return Err(repeated("from"));
            }
            let (v, rest) = dequote(rest, "from")?;
            self.from = Some(FromPatterns::parse(&v)?);
            return Ok(rest);
        }
        if let Some(rest) = valued(s, "expiry-time") {
            let (v, rest) = dequote(rest, "expiry-time")?;
            let t = parse_expiry_time(&v)?;
            if self.expiry_time.is_none_or(|old| t.unix_utc < old.unix_utc) {
                self.expiry_time = Some(t);
            }
            return Ok(rest);
        }
        if let Some(rest) = valued(s, "environment") {
            return self.parse_environment(rest);
        }
        if let Some(rest) = valued(s, "permitopen") {
            if self.permit_open.len() >= MAX_PERMITS {
                return Err(too_many("permitopen"));
            }
            let (v, rest) = dequote(rest, "permitopen")?;
            self.permit_open
                .push(parse_permit(&v, false, "permitopen")?);
            return Ok(rest);
        }
        if let Some(rest) = valued(s, "permitlisten") {
            if self.permit_listen.len() >= MAX_PERMITS {
                return Err(too_many("permitlisten"));
            }
            let (v, rest) = dequote(rest, "permitlisten")?;
            self.permit_listen
                .push(parse_permit(&v, true, "permitlisten")?);
            return Ok(rest);
        }
        if let Some(rest) = valued(s, "tunnel") {
            let (v, rest) = dequote(rest, "tunnel")?;
            self.tunnel = Some(parse_tunnel(&v)?);
            return Ok(rest);
        }
        if s.starts_with(',') {
            return Ok(s);
        }
        Err(KeyError::UnknownKeyOption(option_name(s)))
    }

    fn parse_environment<'s>(&mut self, rest: &'s str) -> Result<&'s str, KeyError> {
        const OPT: &str = "environment";
        if self.environment.len() >= MAX_ENVIRONMENT {
            return Err(too_many(OPT));
        }
        let (v, rest) = dequote(rest, OPT)?;
        let (name, value) = v.split_once('=').ok_or(KeyError::InvalidKeyOption {
            option: OPT,
            reason: "expected NAME=value",
        })?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(KeyError::InvalidKeyOption {
                option: OPT,
                reason: "the name must be letters, digits and '_'",
            });
        }
        if !self.environment.iter().any(|(n, _)| n == name) {
            self.environment.push((name.to_owned(), value.to_owned()));
        }
        Ok(rest)
    }

    /// Checks the options that decide whether the key may authenticate at all: `from=` against
    /// the client's address and host name (the address stands for the name when `None`, as with
    /// `UseDNS no`), and `expiry-time=` against `now_unix` (a key is valid up to and including its
    /// expiry second, as in OpenSSH).
    pub fn check(
        &self,
        client_addr: IpAddr,
        client_host: Option<&str>,
        now_unix: u64,
    ) -> Result<(), Refusal> {
        if let Some(expiry) = self.expiry_time {
            if now_unix > expiry.unix_utc {
                return Err(Refusal::Expired {
                    expired_at: expiry.unix_utc,
                });
            }
        }
        if let Some(from) = &self.from {
            if !from.matches(client_addr, client_host) {
                return Err(Refusal::From {
                    address: crate::from_patterns::canonical(client_addr),
                    host: client_host.map(str::to_owned),
                    patterns: from.text.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether local forwarding to `host`/`port` is allowed: forwarding on, and `permitopen`
    /// absent or listing it.
    pub fn permits_open(&self, host: &str, port: u16) -> bool {
        self.port_forwarding
            && (self.permit_open.is_empty()
                || self.permit_open.iter().any(|p| p.allows(host, port)))
    }

    /// Whether remote forwarding listening on `host`/`port` is allowed: forwarding on, and
    /// `permitlisten` absent or listing it.
    pub fn permits_listen(&self, host: &str, port: u16) -> bool {
        self.port_forwarding
            && (self.permit_listen.is_empty()
                || self.permit_listen.iter().any(|p| p.allows(host, port)))
    }
}

fn repeated(option: &'static str) -> KeyError {
    KeyError::InvalidKeyOption {
        option,
        reason: "given more than once",
    }
}

fn too_many(option: &'static str) -> KeyError {
    KeyError::InvalidKeyOption {
        option,
        reason: "too many of this option",
    }
}

/// Parses `host:port`, `[host]:port`, `host/port` (and a bare `port` for `permitlisten`) as
/// OpenSSH's `handle_permit`.
fn parse_permit(
    value: &str,
    allow_bare_port: bool,
    option: &'static str,
) -> Result<PermitHostPort, KeyError> {
    let bad_host = KeyError::InvalidKeyOption {
        option,
        reason: "invalid host",
    };
    let bad_port = KeyError::InvalidKeyOption {
        option,
        reason: "invalid port (expected 1-65535 or *)",
    };
    let owned;
    let value = if allow_bare_port && !value.contains(':') {
        owned = format!("*:{value}");
        owned.as_str()
    } else {
        value
    };
    let (host, port) = if let Some(inner) = value.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or(bad_host.clone())?;
        let port = after
            .strip_prefix(':')
            .or_else(|| after.strip_prefix('/'))
            .ok_or(bad_port.clone())?;
        (host, port)
    } else {
        value.split_once([':', '/']).ok_or(bad_port.clone())?
    };
    if host.is_empty()
        || host.len() > MAX_PERMIT_HOST
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad_host);
    }
    let port = if port == "*" {
        None
    } else {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Some(p),
            _ => return Err(bad_port),
        }
    };
    Ok(PermitHostPort {
        host: host.to_owned(),
        port,
    })
}

fn parse_tunnel(value: &str) -> Result<TunnelDevice, KeyError> {
    if value.eq_ignore_ascii_case("any") {
        return Ok(TunnelDevice::Any);
    }
    match value.parse::<u32>() {
        Ok(n) if n <= MAX_TUNNEL_UNIT && value.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(TunnelDevice::Unit(n))
        }
        _ => Err(KeyError::InvalidKeyOption {
            option: "tunnel",
            reason: "expected \"any\" or a device number",
        }),
    }
}

/// Whether the first whitespace-delimited token is a key type name (known or known
/// unsupported), in which case the line has no options.
fn starts_with_key_type(line: &str) -> bool {
    let token = line.split([' ', '\t']).next().unwrap_or_default();
    matches!(
        KeyType::from_name(token),
        Ok(_) | Err(KeyError::UnsupportedKeyType(_))
    )
}

impl AuthorizedKey {
    /// Parses one non-blank, non-comment line.
    fn parse(line_no: usize, line: &str) -> Result<Self, KeyError> {
        let (options, rest) = if starts_with_key_type(line) {
            (KeyOptions::default(), line)
        } else {
            KeyOptions::parse(line)?
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() || rest.starts_with('#') {
            return Err(KeyError::InvalidAuthorizedKeys("no key after the options"));
        }
        let (key, comment) = PublicKey::from_openssh_line(rest)?;
        Ok(Self {
            line: line_no,
            key,
            comment,
            options,
        })
    }
}

impl AuthorizedKeys {
    /// Parses the text of an `authorized_keys` file. Malformed lines are skipped and reported
    /// with their line number (from 1).
    pub fn parse(text: &str) -> (Self, Vec<(usize, KeyError)>) {
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line_no = i + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let trimmed = line.trim_start_matches([' ', '\t']);
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match AuthorizedKey::parse(line_no, trimmed) {
                Ok(entry) => entries.push(entry),
                Err(e) => errors.push((line_no, e)),
            }
        }
        (Self { entries }, errors)
    }

    /// Every valid line, in file order.
    pub fn entries(&self) -> &[AuthorizedKey] {
        &self.entries
    }

    /// The first line that lists `key` as a user key (`cert-authority` lines are skipped: they
    /// name CAs, not keys that may log in). As in OpenSSH, the first matching line's options
    /// apply.
    pub fn find(&self, key: &PublicKey) -> Option<&AuthorizedKey> {
        self.entries
            .iter()
            .find(|e| !e.options.cert_authority && e.key == *key)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn expiry_parse() {
        assert_eq!(parse_expiry_time("19700102").unwrap().unix_utc, 86_400);
        let t = parse_expiry_time("20240229123456Z").unwrap();
        assert_eq!(t.unix_utc, 1_709_210_096);
        assert!(t.utc);
        assert_eq!(
            parse_expiry_time("203001011200").unwrap().unix_utc,
            1_893_499_200
        );
        for bad in [
            "2024",
            "20240230",
            "20231301",
            "202401011260",
            "2024010112",
            "19691231",
            "19700101",
            "2024-01-01",
            "20240101Zx",
            "",
        ] {
            assert!(parse_expiry_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dequoting() {
        assert_eq!(
            dequote(r#""a \"b\" c\d",x"#, "o").unwrap(),
            (r#"a "b" c\d"#.to_owned(), ",x")
        );
        assert!(dequote("noquote", "o").is_err());
        assert!(dequote("\"open", "o").is_err());
        assert_eq!(dequote("\"\"", "o").unwrap(), (String::new(), ""));
    }
}
