//! OpenSSH host patterns (ssh_config(5) "PATTERNS"): `*` matches any run of characters, `?`
//! exactly one, a leading `!` negates an entry of a comma-separated list, and a negated match
//! wins over every positive one. Host names compare without regard to ASCII case, as OpenSSH's
//! `match_hostname` does.

/// Whether `text` matches the glob `pattern` (`*` and `?` wildcards, no escapes), byte by byte.
///
/// Iterative with single-star backtracking: time is O(len(pattern) × len(text)) at worst, and no
/// recursion, whatever the input.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // Position of the last `*` seen in the pattern and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star swallow one more byte and retry from there.
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// The outcome of matching a name against a comma-separated pattern list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListMatch {
    /// No entry matched.
    None,
    /// A positive entry matched and no negated one did.
    Positive,
    /// A negated (`!`) entry matched: the list refuses the name.
    Negated,
}

/// Matches `name` against the pattern entries of a list (each `(negated, pattern)`), ASCII
/// case-insensitively, as OpenSSH's `match_pattern_list(name, list, 1)`.
pub(crate) fn match_list<'p>(
    name: &str,
    entries: impl IntoIterator<Item = (bool, &'p str)>,
) -> ListMatch {
    let name = name.to_ascii_lowercase();
    let mut result = ListMatch::None;
    for (negated, pattern) in entries {
        let pattern = pattern.to_ascii_lowercase();
        if glob_match(pattern.as_bytes(), name.as_bytes()) {
            if negated {
                return ListMatch::Negated;
            }
            result = ListMatch::Positive;
        }
    }
    result
}

/// Splits a comma-separated pattern list into `(negated, pattern)` entries, rejecting empty
/// entries (`a,,b`, a lone `!`), spaces and control characters.
pub(crate) fn split_list(list: &str) -> Result<Vec<(bool, String)>, crate::KeyError> {
    let mut out = Vec::new();
    for entry in list.split(',') {
        let (negated, pattern) = match entry.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, entry),
        };
        if pattern.is_empty() {
            return Err(crate::KeyError::InvalidHostPattern {
                pattern: list.to_owned(),
                reason: "empty entry in the pattern list",
            });
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(crate::KeyError::InvalidHostPattern {
                pattern: entry.to_owned(),
                reason: "whitespace or control character in a pattern",
            });
        }
        out.push((negated, pattern.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(glob_match(b"a*c", b"ac"));
        assert!(!glob_match(b"a*c", b"ab"));
        assert!(glob_match(b"?", b"x"));
        assert!(!glob_match(b"?", b""));
        assert!(!glob_match(b"?", b"xy"));
        assert!(glob_match(b"*.example.com", b"a.b.example.com"));
        assert!(!glob_match(b"*.example.com", b"example.com"));
        assert!(glob_match(b"192.0.2.*", b"192.0.2.77"));
        assert!(glob_match(b"host-??", b"host-12"));
        assert!(!glob_match(b"host-??", b"host-123"));
        assert!(glob_match(b"*a*b*c*", b"xxaxxbxxcxx"));
        assert!(!glob_match(b"*a*b*c*", b"xxaxxcxxbxx"));
        assert!(glob_match(b"", b""));
        assert!(!glob_match(b"", b"a"));
        assert!(glob_match(b"[*]:2222", b"[h]:2222"));
    }

    #[test]
    fn pathological_glob_is_fast() {
        let text = vec![b'a'; 4000];
        let mut pattern = b"*a".repeat(40);
        pattern.push(b'b');
        assert!(!glob_match(&pattern, &text));
    }

    #[test]
    fn lists() {
        let list = split_list("*.example.com,!bad.example.com").unwrap();
        let entries = || list.iter().map(|(n, p)| (*n, p.as_str()));
        assert_eq!(
            match_list("good.EXAMPLE.com", entries()),
            ListMatch::Positive
        );
        assert_eq!(match_list("bad.example.com", entries()), ListMatch::Negated);
        assert_eq!(match_list("example.org", entries()), ListMatch::None);
        assert!(split_list("a,,b").is_err());
        assert!(split_list("!").is_err());
        assert!(split_list("").is_err());
    }
}
