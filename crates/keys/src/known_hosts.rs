//! OpenSSH `known_hosts` files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").
//!
//! ```text
//! line      = [marker SP] hosts SP keytype SP base64-blob [SP comment]
//! marker    = "@cert-authority" / "@revoked"
//! hosts     = pattern *("," pattern)                 plain: `*` and `?` wildcards, `!` negates
//!           / "|1|" base64(salt) "|" base64(hash)    hashed: hash = HMAC-SHA1(salt, name)
//! name      = host            for port 22
//!           / "[" host "]:" port    for any other port
//! ```
//!
//! Blank lines and lines whose first non-blank character is `#` are ignored. A malformed line is
//! reported with its number and skipped; it never makes the whole file unusable, as in OpenSSH.
//!
//! [`KnownHosts::lookup`] answers as OpenSSH's `check_key_in_hostkeys` for plain keys: a key
//! listed in an `@revoked` line that matches the host is [`HostKeyStatus::Revoked`] whatever else
//! the file says; a listed key is a [`HostKeyStatus::Match`]; a host that has another key of the
//! *same* type is a [`HostKeyStatus::Mismatch`] (the "REMOTE HOST IDENTIFICATION HAS CHANGED"
//! case); keys of other types only are [`HostKeyStatus::Unknown`]. `@cert-authority` lines are
//! parsed and kept but never match a plain host key (this crate has no certificates yet).

use std::io::{Read as _, Seek as _, Write as _};
use std::path::Path;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::pattern::{match_list, split_list, ListMatch};
use crate::{KeyError, KeyType, PublicKey};

/// Length of the salt and of the hash in a `|1|` hashed host (the SHA-1 output size).
pub const HASHED_HOST_LEN: usize = 20;

/// The default SSH port: names on it are written bare, others as `[host]:port`.
const DEFAULT_PORT: u16 = 22;

/// A parsed `known_hosts` file.
///
/// ```
/// use nacre_keys::{HostKeyStatus, KnownHosts, PrivateKey, PublicKey};
///
/// let key_line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEB+PO3GvLMi602cebTnZXhrXwKCuIcQ6/zSnwde00U2 alice@example";
/// let text = format!("example.com,192.0.2.7 {key_line}\n[git.example.com]:2222 {key_line}\n");
/// let (known, errors) = KnownHosts::parse(&text);
/// assert!(errors.is_empty());
/// let (key, _) = PublicKey::from_openssh_line(key_line)?;
///
/// assert_eq!(known.lookup("example.com", 22, &key), HostKeyStatus::Match);
/// assert_eq!(known.lookup("git.example.com", 2222, &key), HostKeyStatus::Match);
/// assert_eq!(known.lookup("git.example.com", 22, &key), HostKeyStatus::Unknown);
///
/// // Another Ed25519 key for a known host: the host key changed.
/// let other = PrivateKey::from_ed25519_seed(&[1; 32]).public_key();
/// let status = known.lookup("192.0.2.7", 22, &other);
/// assert_eq!(status, HostKeyStatus::Mismatch { known: vec![key.clone()] });
///
/// // A new line to append, hashed as `HashKnownHosts yes` writes it.
/// let line = KnownHosts::entry_line("new.example", 22, &other, true, &mut rand_core::OsRng)?;
/// assert!(line.starts_with("|1|"));
/// assert_eq!(KnownHosts::parse(&line).0.lookup("new.example", 22, &other), HostKeyStatus::Match);
/// # Ok::<(), nacre_keys::KeyError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownHosts {
    entries: Vec<KnownHostsEntry>,
}

/// One valid line of a `known_hosts` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHostsEntry {
    /// The line number in the parsed text, from 1.
    pub line: usize,
    /// The marker at the start of the line, if any.
    pub marker: Marker,
    /// The host patterns or the hashed host name.
    pub hosts: HostField,
    /// The host key (or CA key for `@cert-authority`, revoked key for `@revoked`).
    pub key: PublicKey,
    /// The comment after the key (empty when absent).
    pub comment: String,
}

/// The marker that may start a `known_hosts` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Marker {
    /// No marker: a plain host key.
    None,
    /// `@cert-authority`: the key is a CA that signs host certificates for these hosts.
    CertAuthority,
    /// `@revoked`: the key must never be accepted for these hosts.
    Revoked,
}

/// The host field of a `known_hosts` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostField {
    /// A comma-separated list of plain patterns.
    Patterns(Vec<HostPattern>),
    /// A hashed name (`|1|salt|hash`), as `ssh-keygen -H` and `HashKnownHosts yes` write.
    Hashed(HashedHost),
}

/// One entry of a plain host pattern list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPattern {
    /// `!pattern`: a name that matches it is refused by the whole line.
    pub negated: bool,
    /// The pattern without its `!`: a name, address or `[name]:port`, with `*`/`?` wildcards.
    pub pattern: String,
}

/// A hashed host name: `|1|base64(salt)|base64(HMAC-SHA1(key = salt, name))`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HashedHost {
    salt: [u8; HASHED_HOST_LEN],
    hash: [u8; HASHED_HOST_LEN],
}

/// The answer of [`KnownHosts::lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// The key is listed for the host.
    Match,
    /// The host is listed with other keys of the same type, and not with this one: the host key
    /// changed, which may be an attack. Carries the keys that are known.
    Mismatch {
        /// The keys of the same type known for the host.
        known: Vec<PublicKey>,
    },
    /// The key is listed in an `@revoked` line that matches the host.
    Revoked,
    /// No key of this type is known for the host.
    Unknown,
}

/// The name a host is known by: `host` on port 22, `[host]:port` otherwise, lowercased (ASCII),
/// as OpenSSH's `put_host_port` and `lowercase`.
pub fn host_port_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == DEFAULT_PORT || port == 0 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

impl HashedHost {
    /// Hashes `name` (see [`host_port_name`]) with `salt`.
    pub fn new(salt: [u8; HASHED_HOST_LEN], name: &str) -> Self {
        let hash = Self::mac(&salt, name).finalize().into_bytes().into();
        Self { salt, hash }
    }

    /// Parses `|1|base64(salt)|base64(hash)`. Both must decode to 20 bytes.
    pub fn parse(field: &str) -> Result<Self, KeyError> {
        let rest = field.strip_prefix("|1|").ok_or(KeyError::InvalidHostHash(
            "unknown hash type (expected \"|1|\")",
        ))?;
        let (salt, hash) = rest.split_once('|').ok_or(KeyError::InvalidHostHash(
            "missing '|' between salt and hash",
        ))?;
        Ok(Self {
            salt: decode_20(salt, "salt is not base64", "salt is not 20 bytes")?,
            hash: decode_20(hash, "hash is not base64", "hash is not 20 bytes")?,
        })
    }

    /// Whether this is the hash of `name` (constant-time comparison).
    pub fn matches(&self, name: &str) -> bool {
        Self::mac(&self.salt, name).verify_slice(&self.hash).is_ok()
    }

    /// The salt.
    pub fn salt(&self) -> &[u8; HASHED_HOST_LEN] {
        &self.salt
    }

    /// The HMAC-SHA1 of the name.
    pub fn hash(&self) -> &[u8; HASHED_HOST_LEN] {
        &self.hash
    }

    fn mac(salt: &[u8; HASHED_HOST_LEN], name: &str) -> Hmac<Sha1> {
        // HMAC accepts keys of any length; 20 bytes never fails.
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(salt)
            .unwrap_or_else(|_| <Hmac<Sha1> as Mac>::new(&Default::default()));
        mac.update(name.as_bytes());
        mac
    }
}

impl std::fmt::Display for HashedHost {
    /// `|1|base64(salt)|base64(hash)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b64 = base64::engine::general_purpose::STANDARD;
        write!(f, "|1|{}|{}", b64.encode(self.salt), b64.encode(self.hash))
    }
}

fn decode_20(
    b64: &str,
    not_b64: &'static str,
    wrong_len: &'static str,
) -> Result<[u8; HASHED_HOST_LEN], KeyError> {
    let bytes = crate::BASE64_LENIENT
        .decode(b64)
        .map_err(|_| KeyError::InvalidHostHash(not_b64))?;
    bytes
        .try_into()
        .map_err(|_| KeyError::InvalidHostHash(wrong_len))
}

impl HostField {
    /// Parses a host field: hashed when it starts with `|`, a pattern list otherwise.
    pub fn parse(field: &str) -> Result<Self, KeyError> {
        if field.starts_with('|') {
            return HashedHost::parse(field).map(Self::Hashed);
        }
        let patterns = split_list(field)?
            .into_iter()
            .map(|(negated, pattern)| HostPattern { negated, pattern })
            .collect();
        Ok(Self::Patterns(patterns))
    }

    /// Whether the field matches `name` (as built by [`host_port_name`]): a hashed field when the
    /// hash is the name's; a pattern list when an entry matches and no negated entry does.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Hashed(h) => h.matches(name),
            Self::Patterns(p) => {
                match_list(name, p.iter().map(|e| (e.negated, e.pattern.as_str())))
                    == ListMatch::Positive
            }
        }
    }
}

impl std::fmt::Display for HostField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Hashed(h) => h.fmt(f),
            Self::Patterns(patterns) => {
                for (i, p) in patterns.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    let bang = if p.negated { "!" } else { "" };
                    write!(f, "{sep}{bang}{}", p.pattern)?;
                }
                Ok(())
            }
        }
    }
}

/// Splits off the first token delimited by spaces or tabs (OpenSSH's known_hosts separators).
fn split_field(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    match s.find([' ', '\t']) {
        Some(i) => s.split_at(i),
        None => (s, ""),
    }
}

impl KnownHostsEntry {
    /// Parses one non-blank, non-comment line.
    pub(crate) fn parse(line_no: usize, line: &str) -> Result<Self, KeyError> {
        let (mut first, mut rest) = split_field(line);
        let marker = if first.starts_with('@') {
            let marker = match first {
                "@cert-authority" => Marker::CertAuthority,
                "@revoked" => Marker::Revoked,
                other => return Err(KeyError::UnknownMarker(other.to_owned())),
            };
            (first, rest) = split_field(rest);
            if first.is_empty() {
                return Err(KeyError::InvalidKnownHosts("nothing after the marker"));
            }
            marker
        } else {
            Marker::None
        };
        let hosts = HostField::parse(first)?;
        let key_part = rest.trim_start_matches([' ', '\t']);
        if key_part.is_empty() || key_part.starts_with('#') {
            return Err(KeyError::InvalidKnownHosts("no key after the host field"));
        }
        let (key, comment) = PublicKey::from_openssh_line(key_part)?;
        Ok(Self {
            line: line_no,
            marker,
            hosts,
            key,
            comment,
        })
    }

    /// Whether the line's host field matches `host` on `port`.
    pub fn matches_host(&self, host: &str, port: u16) -> bool {
        self.hosts.matches(&host_port_name(host, port))
    }
}

impl KnownHosts {
    /// Parses the text of a `known_hosts` file. Malformed lines are skipped and reported with
    /// their line number (from 1); they do not stop the parse.
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
            match KnownHostsEntry::parse(line_no, trimmed) {
                Ok(entry) => entries.push(entry),
                Err(e) => errors.push((line_no, e)),
            }
        }
        (Self { entries }, errors)
    }

    /// Reads and parses a `known_hosts` file (bytes that are not UTF-8 are replaced, which
    /// can only spoil the line they are in). A missing file is an empty list.
    pub fn read_file(path: &Path) -> std::io::Result<(Self, Vec<(usize, KeyError)>)> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Self::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Self::default(), Vec::new())),
            Err(e) => Err(e),
        }
    }

    /// Every valid line, in file order.
    pub fn entries(&self) -> &[KnownHostsEntry] {
        &self.entries
    }

    /// The lines whose host field matches `host` on `port`, markers included (what
    /// `ssh-keygen -F` lists).
    pub fn matching<'s>(
        &'s self,
        host: &str,
        port: u16,
    ) -> impl Iterator<Item = &'s KnownHostsEntry> + 's {
        let name = host_port_name(host, port);
        self.entries.iter().filter(move |e| e.hosts.matches(&name))
    }

    /// Checks the host key `key` presented by `host` on `port`. See the module documentation for
    /// the rules. To check an address as well as a name (OpenSSH's `CheckHostIP`), look both up.
    pub fn lookup(&self, host: &str, port: u16, key: &PublicKey) -> HostKeyStatus {
        let matching: Vec<&KnownHostsEntry> = self.matching(host, port).collect();
        if matching
            .iter()
            .any(|e| e.marker == Marker::Revoked && e.key == *key)
        {
            return HostKeyStatus::Revoked;
        }
        let plain = || matching.iter().filter(|e| e.marker == Marker::None);
        if plain().any(|e| e.key == *key) {
            return HostKeyStatus::Match;
        }
        let mut known: Vec<PublicKey> = Vec::new();
        for e in plain().filter(|e| e.key.key_type() == key.key_type()) {
            if !known.contains(&e.key) {
                known.push(e.key.clone());
            }
        }
        if known.is_empty() {
            HostKeyStatus::Unknown
        } else {
            HostKeyStatus::Mismatch { known }
        }
    }

    /// The types of the plain (unmarked) keys known for `host` on `port`, in file order without
    /// repeats: a client puts these first in its host key algorithms, as OpenSSH does.
    pub fn known_key_types(&self, host: &str, port: u16) -> Vec<KeyType> {
        let mut types = Vec::new();
        for e in self.matching(host, port) {
            if e.marker == Marker::None && !types.contains(&e.key.key_type()) {
                types.push(e.key.key_type());
            }
        }
        types
    }

    /// Formats a line (without newline) that makes `key` known for `host` on `port`: the name is
    /// `host` or `[host]:port` lowercased, hashed with a fresh 20-byte salt from `rng` when
    /// `hashed`. Refuses host names that would break the line or read as patterns or markers
    /// (empty, whitespace, control characters, `,`, `*`, `?`, a leading `!`, `@`, `|`, `#`, `[`).
    pub fn entry_line(
        host: &str,
        port: u16,
        key: &PublicKey,
        hashed: bool,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> Result<String, KeyError> {
        check_host_name(host)?;
        let name = host_port_name(host, port);
        let key_line = key.to_openssh_line("");
        if hashed {
            let mut salt = [0u8; HASHED_HOST_LEN];
            rng.fill_bytes(&mut salt);
            Ok(format!("{} {key_line}", HashedHost::new(salt, &name)))
        } else {
            Ok(format!("{name} {key_line}"))
        }
    }

    /// Appends [`KnownHosts::entry_line`] to the file at `path` (created with mode 0600 when
    /// missing), after a newline if the file does not end with one. The line is written with a
    /// single `write` call on a file opened for appending.
    pub fn append_to_file(
        path: &Path,
        host: &str,
        port: u16,
        key: &PublicKey,
        hashed: bool,
        rng: &mut impl rand_core::CryptoRngCore,
    ) -> std::io::Result<()> {
        let line = Self::entry_line(host, port, key, hashed, rng)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        let len = file.metadata()?.len();
        let mut text = String::with_capacity(line.len() + 2);
        if len > 0 {
            let mut last = [0u8; 1];
            file.seek(std::io::SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last != *b"\n" {
                text.push('\n');
            }
        }
        text.push_str(&line);
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.flush()
    }
}

/// Checks that `host` can be written as a plain known_hosts name.
fn check_host_name(host: &str) -> Result<(), KeyError> {
    let bad = |reason| {
        Err(KeyError::InvalidHostPattern {
            pattern: host.to_owned(),
            reason,
        })
    };
    if host.is_empty() {
        return bad("empty host name");
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '*' | '?'))
    {
        return bad("host names cannot hold whitespace, control characters, ',', '*' or '?'");
    }
    if host.starts_with(['!', '@', '|', '#', '[']) {
        return bad("host names cannot start with '!', '@', '|', '#' or '['");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const ED: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK9ks7jkua5YWIwByRnnnc6UPJQWI75O0e/UJdPYU1JI";

    #[test]
    fn host_port_names() {
        assert_eq!(host_port_name("Example.COM", 22), "example.com");
        assert_eq!(host_port_name("example.com", 2222), "[example.com]:2222");
        assert_eq!(host_port_name("2001:db8::1", 830), "[2001:db8::1]:830");
    }

    #[test]
    fn hashed_round_trip() {
        let h = HashedHost::new([7; 20], "host.example");
        let back = HashedHost::parse(&h.to_string()).unwrap();
        assert_eq!(back, h);
        assert!(back.matches("host.example"));
        assert!(!back.matches("host.example2"));
    }

    #[test]
    fn bad_hashes() {
        for (field, want) in [
            ("|2|AAAA|AAAA", "unknown hash type (expected \"|1|\")"),
            ("|1|AAAA", "missing '|' between salt and hash"),
            ("|1|!!!!|AAAA", "salt is not base64"),
            ("|1|AAAA|AAAA", "salt is not 20 bytes"),
        ] {
            assert_eq!(
                HashedHost::parse(field),
                Err(KeyError::InvalidHostHash(want)),
                "{field}"
            );
        }
        let line = format!("|1|B7t/AYabn8zgwU47Cb4A/Nqt3eI=|arQP {ED}");
        let (_, errors) = KnownHosts::parse(&line);
        assert_eq!(
            errors,
            vec![(1, KeyError::InvalidHostHash("hash is not 20 bytes"))]
        );
    }

    #[test]
    fn marker_errors() {
        let text = format!("@what host {ED}\n@revoked\n@revoked host\nhost\n  # comment\n\n");
        let (kh, errors) = KnownHosts::parse(&text);
        assert!(kh.entries().is_empty());
        assert_eq!(
            errors,
            vec![
                (1, KeyError::UnknownMarker("@what".into())),
                (2, KeyError::InvalidKnownHosts("nothing after the marker")),
                (
                    3,
                    KeyError::InvalidKnownHosts("no key after the host field")
                ),
                (
                    4,
                    KeyError::InvalidKnownHosts("no key after the host field")
                ),
            ]
        );
    }

    #[test]
    fn entry_line_refuses_bad_names() {
        let key = PublicKey::from_openssh_line(ED).unwrap().0;
        let mut rng = rand_core::OsRng;
        for host in [
            "", "a b", "a,b", "*.x", "!x", "@x", "|1|x", "#x", "a\nb", "[x]:2",
        ] {
            assert!(
                KnownHosts::entry_line(host, 22, &key, false, &mut rng).is_err(),
                "{host:?}"
            );
        }
        let line = KnownHosts::entry_line("Host", 2200, &key, false, &mut rng).unwrap();
        assert_eq!(line, format!("[host]:2200 {ED}"));
    }
}
