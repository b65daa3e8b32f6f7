//! glob(7) on both sides, as OpenSSH's sftp expands `get *.log`, `ls *.txt`, `put *.c`: `*`,
//! `?` and `[...]` (with `!`/`^` negation and ranges) match within one path component, a
//! backslash escapes, names starting with `.` match only a pattern starting with `.`. Remote
//! components are listed through SFTP, local ones with the file system.

use std::path::{Path, PathBuf};

use nacre_sftp::{Attributes, SftpClient};

/// Whether `s` has an unescaped glob character.
pub fn has_magic(s: &str) -> bool {
    let mut escaped = false;
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// `s` with its backslash escapes removed.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if c == '\\' && !escaped {
            escaped = true;
        } else {
            out.push(c);
            escaped = false;
        }
    }
    out
}

/// `s` with glob characters escaped (a folder name used as a pattern's prefix).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '[' | ']' | '?' | '*' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// fnmatch(3) of one component, without FNM_PATHNAME subtleties (names hold no `/`).
pub fn matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') && !pattern.starts_with("\\.") {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fnmatch(&p, &n)
}

fn fnmatch(p: &[char], n: &[char]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some(('*', rest)) => (0..=n.len()).any(|i| fnmatch(rest, n.get(i..).unwrap_or(&[]))),
        Some(('?', rest)) => n.split_first().is_some_and(|(_, tail)| fnmatch(rest, tail)),
        Some(('[', rest)) => match (class(rest), n.split_first()) {
            (Some((hit, after)), Some((c, tail))) => hit(*c) && fnmatch(after, tail),
            (None, Some(('[', tail))) => fnmatch(rest, tail),
            _ => false,
        },
        Some(('\\', rest)) => match (rest.split_first(), n.split_first()) {
            (Some((pc, prest)), Some((nc, ntail))) => pc == nc && fnmatch(prest, ntail),
            (None, Some(('\\', ntail))) => ntail.is_empty(),
            _ => false,
        },
        Some((pc, rest)) => n
            .split_first()
            .is_some_and(|(nc, tail)| pc == nc && fnmatch(rest, tail)),
    }
}

/// A bracket expression after its `[`: the membership test and the pattern after its `]`.
#[allow(clippy::type_complexity)]
fn class(p: &[char]) -> Option<(Box<dyn Fn(char) -> bool>, &[char])> {
    let (negate, mut i) = match p.first() {
        Some('!' | '^') => (true, 1),
        _ => (false, 0),
    };
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == ']' && !first {
            break;
        }
        first = false;
        let (lo, next) = match (c, p.get(i + 1)) {
            ('\\', Some(e)) => (*e, i + 2),
            _ => (c, i + 1),
        };
        match (p.get(next), p.get(next + 1)) {
            (Some('-'), Some(hi)) if *hi != ']' => {
                ranges.push((lo, *hi));
                i = next + 2;
            }
            _ => {
                ranges.push((lo, lo));
                i = next;
            }
        }
    }
    let test = move |c: char| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != negate;
    Some((Box::new(test), p.get(i + 1..).unwrap_or(&[])))
}

/// A remote match: the path and, when the listing gave them, its attributes.
pub struct Match {
    pub path: String,
    pub attrs: Option<Attributes>,
}

fn child(base: &str, name: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// Expands the absolute remote `pattern`, sorted by name. A pattern without glob characters
/// yields itself when it exists (`stat`), nothing otherwise; an unreadable folder matches
/// nothing. Intermediate components only go through folders.
pub async fn remote(client: &SftpClient, pattern: &str) -> Vec<Match> {
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let mut found = vec![Match {
        path: "/".to_owned(),
        attrs: None,
    }];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            if !has_magic(part) {
                next.push(Match {
                    path: child(&base.path, &unescape(part)),
                    attrs: None,
                });
                continue;
            }
            let Ok(entries) = client.list_dir(base.path.as_bytes()).await else {
                continue;
            };
            for e in entries {
                let name = e.name_lossy();
                if name == "." || name == ".." || !matches(part, &name) {
                    continue;
                }
                let attrs = Some(e.attrs);
                next.push(Match {
                    path: child(&base.path, &name),
                    attrs,
                });
            }
        }
        if !last {
            next = only_dirs(client, next).await;
        }
        found = next;
    }
    for m in &mut found {
        if m.attrs.as_ref().is_none_or(Attributes::is_symlink) {
            m.attrs = client.stat(m.path.as_bytes()).await.ok();
        }
    }
    found.retain(|m| m.attrs.is_some());
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

async fn only_dirs(client: &SftpClient, candidates: Vec<Match>) -> Vec<Match> {
    let mut out = Vec::new();
    for m in candidates {
        let dir = match &m.attrs {
            Some(a) if !a.is_symlink() => a.is_dir(),
            _ => client
                .stat(m.path.as_bytes())
                .await
                .is_ok_and(|a| a.is_dir()),
        };
        if dir {
            out.push(m);
        }
    }
    out
}

/// Expands the local `pattern` (relative to `cwd` unless absolute), sorted. As glob(3) with
/// GLOB_NOCHECK: a pattern without glob characters yields itself even when it does not exist;
/// one that matches nothing yields nothing.
pub fn local(cwd: &Path, pattern: &str) -> Vec<PathBuf> {
    if !has_magic(pattern) {
        return vec![cwd.join(unescape(pattern))];
    }
    let (mut found, rest) = if pattern.starts_with('/') {
        (vec![PathBuf::from("/")], pattern)
    } else {
        (vec![cwd.to_path_buf()], pattern)
    };
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for base in &found {
            if !has_magic(part) {
                next.push(base.join(unescape(part)));
                continue;
            }
            let Ok(dir) = std::fs::read_dir(base) else {
                continue;
            };
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if matches(part, &name) {
                    next.push(base.join(name));
                }
            }
        }
        next.retain(|p| if last { p.exists() } else { p.is_dir() });
        found = next;
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*.log", "a.log"));
        assert!(!matches("*.log", "a.txt"));
        assert!(!matches("*", ".hidden"));
        assert!(matches(".*", ".hidden"));
        assert!(matches("file?.txt", "file1.txt"));
        assert!(matches("[ab]*", "beta"));
        assert!(!matches("[!ab]*", "beta"));
        assert!(matches("[a-c]x", "bx"));
        assert!(matches("a\\*b", "a*b"));
        assert!(!matches("a\\*b", "axb"));
        assert!(has_magic("x/*.c") && !has_magic("a\\*b"));
        assert_eq!(unescape("a\\*b\\\\"), "a*b\\");
        assert_eq!(escape("a*b"), "a\\*b");
    }
}
