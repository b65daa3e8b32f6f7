//! Host key rotation in a `known_hosts` file, as OpenSSH's client does it for `UpdateHostKeys`
//! (clientloop.c `hostkeys_find`, `check_old_keys_othernames`; hostfile.c
//! `hostfile_replace_entries`).
//!
//! [`plan`] compares the keys a server listed (`hostkeys-00@openssh.com`, after their proof)
//! with the lines for the host: which keys are new, which listed keys are gone. It refuses,
//! as ssh does, when a line for the host has a marker (`@cert-authority`, `@revoked`) or a
//! wildcard or a list of more than two names, when an offered key is listed under another name,
//! or when a key to remove is also listed under another name. [`replace`] then rewrites the
//! file: the plain lines for the host whose key is no longer offered are dropped (marker lines
//! and every other line are kept byte for byte), the new keys are appended, through a temporary
//! file renamed over the original, the original kept as `FILE.old`.

use std::io::Write as _;
use std::path::Path;

use crate::known_hosts::{host_port_name, HostField, KnownHosts, KnownHostsEntry, Marker};
use crate::PublicKey;

/// What an update would change for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Offered keys the file does not list for the host (to be proven, then added).
    pub new: Vec<PublicKey>,
    /// Keys listed for the host that the server no longer offers (to be removed).
    pub old: Vec<PublicKey>,
}

impl Plan {
    /// Nothing to add and nothing to remove.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.old.is_empty()
    }
}

/// Why the file is left alone (each is a `debug` message of ssh, which skips the update too).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// A line for the host has `@cert-authority` or `@revoked`, a wildcard, or more than two
    /// names: ssh never writes such lines, so it does not touch them.
    #[error("CA/revocation marker, manual host list or wildcard host pattern found")]
    ComplexLine,
    /// An offered key is listed under another name or address.
    #[error("host key found matching a different name/address")]
    OtherName,
    /// A key to remove is also listed under another name or address.
    #[error("key(s) to remove exist under other names")]
    OldKeyElsewhere,
}

/// Whether ssh would rewrite a line with this host field (a single name, or a name and an
/// address; hashed lines hold one name).
fn is_simple(hosts: &HostField) -> bool {
    match hosts {
        HostField::Hashed(_) => true,
        HostField::Patterns(p) => p.len() <= 2 && p.iter().all(|e| !e.pattern.contains(['*', '?'])),
    }
}

/// Compares `offered` with what `known` lists for `host`:`port` (see the module documentation).
pub fn plan(
    known: &KnownHosts,
    host: &str,
    port: u16,
    offered: &[PublicKey],
) -> Result<Plan, Blocked> {
    let name = host_port_name(host, port);
    let mut seen = vec![false; offered.len()];
    let mut old: Vec<PublicKey> = Vec::new();
    let (mut complex, mut other_name) = (false, false);
    for e in known.entries() {
        if !e.hosts.matches(&name) {
            other_name |= offered.contains(&e.key);
            continue;
        }
        if e.marker != Marker::None || !is_simple(&e.hosts) {
            complex = true;
            continue;
        }
        match offered.iter().position(|k| *k == e.key) {
            Some(i) => {
                if let Some(s) = seen.get_mut(i) {
                    *s = true;
                }
            }
            None if !old.contains(&e.key) => old.push(e.key.clone()),
            None => {}
        }
    }
    let new: Vec<PublicKey> = offered
        .iter()
        .zip(&seen)
        .filter(|(_, s)| !**s)
        .map(|(k, _)| k.clone())
        .collect();
    let plan = Plan { new, old };
    if plan.is_empty() {
        return Ok(plan);
    }
    if complex {
        return Err(Blocked::ComplexLine);
    }
    if other_name {
        return Err(Blocked::OtherName);
    }
    let elsewhere = known
        .entries()
        .iter()
        .any(|e| !e.hosts.matches(&name) && plan.old.contains(&e.key));
    if elsewhere {
        return Err(Blocked::OldKeyElsewhere);
    }
    Ok(plan)
}

/// The new text of a known_hosts file in which `host`:`port` has exactly the keys `keys`
/// (plain lines for the host with other keys dropped, missing keys appended as `entry_line`
/// writes them), or `None` when nothing changes.
pub fn replaced_text(
    text: &str,
    host: &str,
    port: u16,
    keys: &[PublicKey],
    hashed: bool,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Option<String>, crate::KeyError> {
    let name = host_port_name(host, port);
    let mut present = vec![false; keys.len()];
    let mut out = String::with_capacity(text.len() + 128);
    let mut modified = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let entry = (!trimmed.is_empty() && !trimmed.starts_with('#'))
            .then(|| KnownHostsEntry::parse(i + 1, trimmed).ok())
            .flatten();
        if let Some(e) = entry.filter(|e| e.marker == Marker::None && e.hosts.matches(&name)) {
            match keys.iter().position(|k| *k == e.key) {
                Some(k) => {
                    if let Some(p) = present.get_mut(k) {
                        *p = true;
                    }
                }
                None => {
                    // Hostname matches and no marker: removed by not writing it.
                    modified = true;
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for (key, _) in keys.iter().zip(&present).filter(|(_, p)| !**p) {
        out.push_str(&KnownHosts::entry_line(host, port, key, hashed, rng)?);
        out.push('\n');
        modified = true;
    }
    Ok(modified.then_some(out))
}

/// Creates `path` (it must not exist) with mode 0600 and writes `bytes` to disk.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Rewrites the known_hosts file at `path` so that `host`:`port` has exactly `keys` (see
/// [`replaced_text`]): the new text goes to a temporary file (mode 0600) beside it, the old
/// file is kept as `PATH.old`, and the temporary file is renamed over `path`. Returns whether
/// the file changed; a missing file is left missing, as ssh leaves it.
pub fn replace(
    path: &Path,
    host: &str,
    port: u16,
    keys: &[PublicKey],
    hashed: bool,
    rng: &mut impl rand_core::CryptoRngCore,
) -> std::io::Result<bool> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let invalid = |e: crate::KeyError| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let Some(new_text) = replaced_text(&text, host, port, keys, hashed, rng).map_err(invalid)?
    else {
        return Ok(false);
    };
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut suffix = [0u8; 8];
    rng.fill_bytes(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let temp = path.with_file_name(format!("{file_name}.{suffix}"));
    let written = write_new(&temp, new_text.as_bytes());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let backup = path.with_file_name(format!("{file_name}.old"));
    let swapped = (|| {
        match std::fs::remove_file(&backup) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        std::fs::hard_link(path, &backup)?;
        std::fs::rename(&temp, path)
    })();
    if swapped.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    swapped?;
    Ok(true)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::PrivateKey;

    fn key(n: u8) -> PublicKey {
        PrivateKey::from_ed25519_seed(&[n; 32]).public_key()
    }

    fn line(hosts: &str, k: &PublicKey) -> String {
        format!("{hosts} {}", k.to_openssh_line(""))
    }

    #[test]
    fn plan_finds_new_and_old_keys_of_the_host_only() {
        let text = [
            line("[127.0.0.1]:2200", &key(1)),
            line("[127.0.0.1]:2200", &key(2)),
            line("other.example", &key(5)),
        ]
        .join("\n");
        let known = KnownHosts::parse(&text).0;
        let p = plan(&known, "127.0.0.1", 2200, &[key(1), key(3)]).unwrap();
        assert_eq!(p.new, vec![key(3)]);
        assert_eq!(p.old, vec![key(2)]);
        let same = plan(&known, "127.0.0.1", 2200, &[key(1), key(2)]).unwrap();
        assert!(same.is_empty());
    }

    #[test]
    fn plan_refuses_what_ssh_refuses() {
        let ca = format!("@cert-authority {}", line("[h]:2200", &key(9)));
        let known = KnownHosts::parse(&format!("{}\n{ca}", line("[h]:2200", &key(1)))).0;
        assert_eq!(
            plan(&known, "h", 2200, &[key(1), key(2)]),
            Err(Blocked::ComplexLine)
        );
        let wild = KnownHosts::parse(&line("[h*]:2200", &key(1))).0;
        assert_eq!(
            plan(&wild, "h", 2200, &[key(1), key(2)]),
            Err(Blocked::ComplexLine)
        );
        let elsewhere = [line("[h]:2200", &key(1)), line("g", &key(2))].join("\n");
        let known = KnownHosts::parse(&elsewhere).0;
        assert_eq!(
            plan(&known, "h", 2200, &[key(1), key(2)]),
            Err(Blocked::OtherName)
        );
        let old_elsewhere = [
            line("[h]:2200", &key(1)),
            line("[h]:2200", &key(3)),
            line("g", &key(3)),
        ]
        .join("\n");
        let known = KnownHosts::parse(&old_elsewhere).0;
        assert_eq!(
            plan(&known, "h", 2200, &[key(1)]),
            Err(Blocked::OldKeyElsewhere)
        );
    }

    #[test]
    fn replace_keeps_other_lines_and_writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let original = format!(
            "# comment\n{}\n{}\nnot a valid line\n{}\n",
            line("[h]:2200", &key(1)),
            line("[h]:2200", &key(2)),
            line("g", &key(7)),
        );
        std::fs::write(&path, &original).unwrap();
        let mut rng = rand_core::OsRng;
        assert!(replace(&path, "h", 2200, &[key(1), key(3)], false, &mut rng).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = format!(
            "# comment\n{}\nnot a valid line\n{}\n{}\n",
            line("[h]:2200", &key(1)),
            line("g", &key(7)),
            line("[h]:2200", &key(3)),
        );
        assert_eq!(text, expected);
        let old = std::fs::read_to_string(dir.path().join("known_hosts.old")).unwrap();
        assert_eq!(old, original);
        // Nothing more to do: the file stays as it is.
        assert!(!replace(&path, "h", 2200, &[key(1), key(3)], false, &mut rng).unwrap());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file left behind");
        // A missing file stays missing.
        let none = dir.path().join("missing");
        assert!(!replace(&none, "h", 2200, &[key(1)], false, &mut rng).unwrap());
        assert!(!none.exists());
    }
}
