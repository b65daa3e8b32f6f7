//! Reading an ssh_config(5) file as OpenSSH does: `Host` and `Match` blocks (`all`, `host`,
//! `originalhost`, `user`, `localuser`, `exec`, `canonical`, `final`, `tagged`, negated with
//! `!`), `Include` (up to 16 deep), `IgnoreUnknown`; the first value obtained wins. A `Match`
//! criterion sees what the lines before it set (`host` the `HostName`, `user` the `User`), and
//! `canonical`/`final` ask for a second, final pass (nacre does not canonicalize host names, so
//! both match in that pass only, as OpenSSH's do with `CanonicalizeHostname no`).

use std::path::Path;

use crate::client_opts::pattern_matches;

/// The options gathered from the command line and config files, and what `Match` needs.
pub struct Reader {
    /// The host name as typed (`%n`, `originalhost`).
    pub alias: String,
    /// The user given on the command line (`-l`, `user@`).
    pub cli_user: Option<String>,
    /// The port given on the command line.
    pub cli_port: Option<u16>,
    /// Whether this is the final pass.
    pub final_pass: bool,
    /// Whether a `Match canonical`/`final` asked for a final pass.
    pub wants_final: bool,
    /// `IgnoreUnknown` patterns.
    pub ignore: Vec<String>,
    /// `(lower-case name, value)` in the order read.
    pub pairs: Vec<(String, String)>,
}

fn local_user() -> String {
    std::env::var("USER").unwrap_or_default()
}

fn home() -> std::path::PathBuf {
    std::env::var_os("HOME").map_or_else(|| ".".into(), std::path::PathBuf::from)
}

/// The words of a `Match` line: spaces separate them, double quotes group them.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut any) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

impl Reader {
    /// A reader for `alias` with the command line's user and port.
    pub fn new(alias: &str, cli_user: Option<String>, cli_port: Option<u16>) -> Self {
        Self {
            alias: alias.to_owned(),
            cli_user,
            cli_port,
            final_pass: false,
            wants_final: false,
            ignore: Vec::new(),
            pairs: Vec::new(),
        }
    }

    /// The first value of `name` (lower case) read so far.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The host name so far: `HostName` (with `%h`) or the alias.
    pub fn host(&self) -> String {
        self.first("hostname")
            .map_or_else(|| self.alias.clone(), |h| h.replace("%h", &self.alias))
    }

    /// The remote user so far: the command line's, the config's `User`, the local one.
    pub fn user(&self) -> String {
        self.cli_user
            .clone()
            .or_else(|| self.first("user").map(str::to_owned))
            .unwrap_or_else(local_user)
    }

    fn port(&self) -> String {
        self.cli_port
            .map(|p| p.to_string())
            .or_else(|| self.first("port").map(str::to_owned))
            .unwrap_or_else(|| "22".to_owned())
    }

    /// `%h %p %r %u %n %d %l %L %%` in a `Match exec` command, as ssh expands them.
    fn expand(&self, cmd: &str) -> String {
        let host_name = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let host_name = host_name.trim();
        let mut out = String::new();
        let mut chars = cmd.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('h') => out.push_str(&self.host()),
                Some('p') => out.push_str(&self.port()),
                Some('r') => out.push_str(&self.user()),
                Some('u') => out.push_str(&local_user()),
                Some('n') => out.push_str(&self.alias),
                Some('d') => out.push_str(&home().to_string_lossy()),
                Some('l') => out.push_str(host_name),
                Some('L') => out.push_str(host_name.split('.').next().unwrap_or("")),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        out
    }

    /// `Match exec`: the command through `$SHELL -c`, standard input and output on /dev/null;
    /// it matches when it exits 0.
    fn exec_matches(&self, cmd: &str) -> bool {
        let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned());
        std::process::Command::new(shell)
            .arg("-c")
            .arg(self.expand(cmd))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// What a `Match` line's criteria say. A criterion nacre cannot evaluate (`localnetwork`)
    /// makes the block not apply, with a warning, rather than apply it wrongly.
    pub fn match_applies(&mut self, criteria: &str, place: &str) -> bool {
        let words = words(criteria);
        let mut i = 0;
        let mut applies = true;
        while let Some(word) = words.get(i) {
            let (negate, key) = match word.strip_prefix('!') {
                Some(k) => (true, k.to_ascii_lowercase()),
                None => (false, word.to_ascii_lowercase()),
            };
            let arg = words.get(i + 1).map_or("", String::as_str);
            i += 2;
            let result = match key.as_str() {
                "all" => {
                    i -= 1;
                    true
                }
                "canonical" | "final" => {
                    i -= 1;
                    self.wants_final = true;
                    self.final_pass
                }
                "host" => pattern_matches(arg, &self.host()),
                "originalhost" => pattern_matches(arg, &self.alias),
                "user" => pattern_matches(arg, &self.user()),
                "localuser" => pattern_matches(arg, &local_user()),
                "tagged" => pattern_matches(arg, self.first("tag").unwrap_or("")),
                // As ssh: a command is not run once an earlier criterion failed.
                "exec" => applies && self.exec_matches(arg),
                other => {
                    tracing::warn!("{place}: Match {other} is not supported: the block is skipped");
                    return false;
                }
            };
            applies &= result != negate;
        }
        applies
    }

    /// Reads a config file's `text` (from `path`): an unknown option or a bad value is an
    /// error naming the file and line ([`crate::ssh_config::check`]).
    pub fn read(&mut self, text: &str, path: &Path, depth: usize) -> anyhow::Result<()> {
        let mut applies = true;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = match line.split_once(|c: char| c == '=' || c.is_whitespace()) {
                Some((k, v)) => (k.trim(), v.trim().trim_start_matches('=').trim()),
                None => (line, ""),
            };
            let place = format!("{}: line {}", path.display(), n + 1);
            let lower = key.to_ascii_lowercase();
            match lower.as_str() {
                "host" => applies = pattern_matches(value, &self.alias),
                "match" => applies = self.match_applies(value, &place),
                "ignoreunknown" if applies => {
                    let patterns = value.split(',').map(|p| p.trim().to_ascii_lowercase());
                    self.ignore.extend(patterns);
                }
                "include" if applies => {
                    if depth >= 16 {
                        anyhow::bail!("{place}: Include nested too deep");
                    }
                    for file in crate::ssh_config::include_paths(value, &home()) {
                        if let Ok(text) = std::fs::read_to_string(&file) {
                            self.read(&text, &file, depth + 1)?;
                        }
                    }
                }
                _ => {
                    let value = value.trim_matches('"');
                    if crate::ssh_config::check(key, value, &place, &self.ignore)? && applies {
                        self.pairs.push((lower, value.to_owned()));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn pairs(text: &str, alias: &str) -> Vec<(String, String)> {
        let mut r = Reader::new(alias, None, None);
        r.read(text, Path::new("config"), 0).unwrap();
        r.pairs
    }

    #[test]
    fn first_value_wins_and_host_blocks_apply() {
        let text = "Host db\n  HostName 10.0.0.5\n  Port 2200\nHost *\n  Port 22\n  User ops\n  IdentityFile ~/.ssh/id_test\n";
        let p = pairs(text, "db");
        let first = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(first("hostname"), Some("10.0.0.5"));
        assert_eq!(first("port"), Some("2200"));
        assert_eq!(first("user"), Some("ops"));
        let p = pairs(text, "web");
        assert_eq!(p.iter().find(|(k, _)| k == "port").unwrap().1, "22");
    }

    #[test]
    fn match_blocks_include_and_bad_options() {
        let p = pairs("Match host db\n  User dbadmin\nHost *\n  Port 22\n", "db");
        assert_eq!(p[0], ("user".to_owned(), "dbadmin".to_owned()));
        let mut r = Reader::new("db", None, None);
        let e = r
            .read("Host *\n  Bogus yes\n", Path::new("config"), 0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config: line 2: Bad configuration option: Bogus"
        );
        let text = "IgnoreUnknown UseKeychain\nHost *\n  UseKeychain yes\n  User u\n";
        assert_eq!(pairs(text, "db"), vec![("user".to_owned(), "u".to_owned())]);
    }

    #[test]
    fn match_criteria() {
        let mut r = Reader::new("db", Some("alice".into()), None);
        assert!(r.match_applies("all", "f"));
        assert!(r.match_applies("host db,web", "f"));
        assert!(!r.match_applies("host web", "f"));
        assert!(r.match_applies("!host web", "f"));
        assert!(r.match_applies("user alice", "f"));
        assert!(!r.match_applies("user bob", "f"));
        assert!(r.match_applies("exec true", "f"));
        assert!(!r.match_applies("exec false", "f"));
        assert!(r.match_applies("exec \"test %n = db\"", "f"));
        assert!(!r.match_applies("host web exec true", "f"));
        assert!(!r.wants_final);
        assert!(!r.match_applies("final", "f"));
        assert!(!r.match_applies("canonical host db", "f"));
        assert!(r.wants_final);
        r.final_pass = true;
        assert!(r.match_applies("final", "f"));
        assert!(!r.match_applies("localnetwork 10.0.0.0/8", "f"));
    }

    #[test]
    fn match_host_sees_the_host_name_set_before() {
        let text = "Host short\n  HostName long.example\nMatch host long.example\n  Port 2022\n";
        let p = pairs(text, "short");
        assert!(p.contains(&("port".to_owned(), "2022".to_owned())), "{p:?}");
    }
}
