//! ssh_config(5) option names and values as OpenSSH checks them (the file itself is read by
//! [`crate::config_file`]): no silent misconfiguration: an option name OpenSSH does not know is an error naming the
//! file and line (or `command-line` for `-o`), as is a bad value of an option nacre uses. Options
//! OpenSSH knows and nacre does not implement are accepted and ignored, so a real
//! `~/.ssh/config` works.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// Every client option name of OpenSSH 9.x (ssh_config(5), deprecated aliases included), in
/// lower case, and nacre's own `requesttimeout`.
const KNOWN: &[&str] = &[
    "addkeystoagent",
    "addressfamily",
    "batchmode",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "certificatefile",
    "challengeresponseauthentication",
    "channeltimeout",
    "checkhostip",
    "ciphers",
    "clearallforwardings",
    "compression",
    "connectionattempts",
    "connecttimeout",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "dynamicforward",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardagent",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "globalknownhostsfile",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "hashknownhosts",
    "host",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "hostkeyalias",
    "hostname",
    "identitiesonly",
    "identityagent",
    "identityfile",
    "ignoreunknown",
    "include",
    "ipqos",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "kexalgorithms",
    "knownhostscommand",
    "localcommand",
    "localforward",
    "loglevel",
    "logverbose",
    "macs",
    "match",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "passwordauthentication",
    "permitlocalcommand",
    "permitremoteopen",
    "pkcs11provider",
    "port",
    "preferredauthentications",
    "protocol",
    "proxycommand",
    "proxyjump",
    "proxyusefdpass",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "rekeylimit",
    "remotecommand",
    "remoteforward",
    "requesttty",
    "requiredrsasize",
    "revokedhostkeys",
    "securitykeyprovider",
    "sendenv",
    "serveralivecountmax",
    "serveraliveinterval",
    "sessiontype",
    "setenv",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "stricthostkeychecking",
    "syslogfacility",
    "tag",
    "tcpkeepalive",
    "tunnel",
    "tunneldevice",
    "updatehostkeys",
    "useprivilegedport",
    "user",
    "userknownhostsfile",
    "verifyhostkeydns",
    "visualhostkey",
    "xauthlocation",
    "requesttimeout",
];

/// Options whose value is yes or no.
const YES_NO: &[&str] = &[
    "batchmode",
    "identitiesonly",
    "passwordauthentication",
    "pubkeyauthentication",
    "kbdinteractiveauthentication",
    "compression",
    "hashknownhosts",
    "checkhostip",
];

/// Options whose value is a number (of seconds, of tries, a port).
const NUMBERS: &[&str] = &[
    "port",
    "connecttimeout",
    "serveraliveinterval",
    "serveralivecountmax",
    "requesttimeout",
    "numberofpasswordprompts",
    "connectionattempts",
];

/// Checks one option: its name must be one OpenSSH knows (or match an `IgnoreUnknown` pattern,
/// then `Ok(false)`: skip it), and the value of the options nacre uses must parse. `place` is
/// `FILE: line N` or `command-line`.
pub fn check(name: &str, value: &str, place: &str, ignore: &[String]) -> anyhow::Result<bool> {
    let lower = name.to_ascii_lowercase();
    if !KNOWN.contains(&lower.as_str()) {
        if ignore
            .iter()
            .any(|p| super::client_opts::pattern_matches(p, &lower))
        {
            return Ok(false);
        }
        bail!("{place}: Bad configuration option: {name}");
    }
    let v = value.to_ascii_lowercase();
    let bad = if YES_NO.contains(&lower.as_str()) {
        !matches!(v.as_str(), "yes" | "no" | "true" | "false")
    } else if NUMBERS.contains(&lower.as_str()) {
        v.parse::<u64>().is_err() && !(lower == "connecttimeout" && v == "none")
    } else if lower == "addressfamily" {
        !matches!(v.as_str(), "any" | "inet" | "inet6")
    } else if lower == "stricthostkeychecking" {
        !matches!(
            v.as_str(),
            "yes" | "no" | "ask" | "accept-new" | "off" | "true" | "false"
        )
    } else {
        false
    };
    if bad {
        bail!("{place}: bad value for {name}: \"{value}\"");
    }
    Ok(true)
}

/// The files an `Include` line names: `~` expanded, relative paths under `~/.ssh`, a `*` or `?`
/// in the last component matching the folder's entries (sorted, as glob(3)).
pub fn include_paths(value: &str, home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        let path = match word.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None if word.starts_with('/') => PathBuf::from(word),
            None => home.join(".ssh").join(word),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.contains(['*', '?']) {
            out.push(path);
            continue;
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                super::client_opts::pattern_matches(&name, &e.file_name().to_string_lossy())
            })
            .map(|e| e.path())
            .collect();
        found.sort();
        out.extend(found);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_and_bad_values_are_errors_known_ones_pass() {
        assert!(check("HostName", "x", "cmd", &[]).unwrap());
        assert!(check("AddKeysToAgent", "yes", "cmd", &[]).unwrap());
        let e = check("Bogus", "1", "command-line", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "command-line: Bad configuration option: Bogus"
        );
        assert!(!check("UseKeychain", "yes", "f: line 2", &["usekeychain".into()]).unwrap());
        assert!(check("Port", "abc", "cmd", &[]).is_err());
        assert!(check("BatchMode", "maybe", "cmd", &[]).is_err());
        assert!(check("StrictHostKeyChecking", "accept-new", "cmd", &[]).unwrap());
    }

    #[test]
    fn includes_expand_and_glob() {
        let home = tempfile::tempdir().unwrap();
        let d = home.path().join(".ssh/config.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("b.conf"), "").unwrap();
        std::fs::write(d.join("a.conf"), "").unwrap();
        std::fs::write(d.join("other"), "").unwrap();
        assert_eq!(
            include_paths("config.d/*.conf", home.path()),
            vec![d.join("a.conf"), d.join("b.conf")]
        );
        assert_eq!(
            include_paths("~/x /etc/y", home.path()),
            vec![home.path().join("x"), PathBuf::from("/etc/y")]
        );
    }
}
