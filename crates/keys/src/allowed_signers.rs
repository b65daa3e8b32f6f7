//! allowed_signers files (ssh-keygen(1) "ALLOWED SIGNERS"), which say who may make SSHSIG
//! signatures (OpenSSH `PROTOCOL.sshsig`) and for which namespaces:
//!
//! ```text
//! line       = principals [options] key
//! principals = pattern[,pattern...]      ("*" and "?" wildcards, "!" negates; may be quoted)
//! options    = option[,option...]        cert-authority | namespaces="list" |
//!                                        valid-after="time" | valid-before="time"
//! ```
//!
//! Lines are read as OpenSSH's sshsig.c reads them: a line that cannot be parsed matches
//! nothing (and the search goes on), the first matching line wins.

use crate::authorized_keys::{parse_expiry_time, ExpiryTime};
use crate::cert::key_or_cert::split_token;
use crate::cert::CertType;
use crate::pattern::glob_match;
use crate::{KeyError, KeyOrCert};

/// An allowed_signers file's text, searched line by line.
#[derive(Clone, Copy)]
pub struct AllowedSigners<'a> {
    text: &'a str,
    local_offset: fn(i64) -> i64,
}

impl std::fmt::Debug for AllowedSigners<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllowedSigners")
            .field("lines", &self.text.lines().count())
            .finish_non_exhaustive()
    }
}

/// One parsed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerLine {
    /// The principal patterns as written (after unquoting).
    pub principals: String,
    /// The key, or with `cert_authority` the CA key.
    pub key: KeyOrCert,
    /// `cert-authority`: the key is a CA whose user certificates may sign.
    pub cert_authority: bool,
    /// `namespaces="..."`: the namespace patterns the key may sign in.
    pub namespaces: Option<String>,
    /// `valid-after="..."`.
    pub valid_after: Option<ExpiryTime>,
    /// `valid-before="..."`.
    pub valid_before: Option<ExpiryTime>,
}

fn utc(_: i64) -> i64 {
    0
}

impl<'a> AllowedSigners<'a> {
    /// The file's text. Times without `Z` are read as UTC unless
    /// [`AllowedSigners::with_local_offset`] says otherwise.
    pub fn new(text: &'a str) -> Self {
        Self {
            text,
            local_offset: utc,
        }
    }

    /// How to read local times: `offset(t)` is local time's offset from UTC at `t`.
    pub fn with_local_offset(mut self, offset: fn(i64) -> i64) -> Self {
        self.local_offset = offset;
        self
    }

    /// Whether `signer` may sign as `principal` in `namespace` at `now` (OpenSSH's
    /// `sshsig_check_allowed_keys`): the first line listing `principal` whose key is the
    /// signer's (or, with `cert-authority`, the CA of the signer's user certificate valid for
    /// `principal`), whose namespaces allow `namespace` and whose window holds `now`.
    pub fn check(&self, signer: &KeyOrCert, principal: &str, namespace: &str, now: u64) -> bool {
        self.text.lines().any(|line| {
            self.check_line(line, signer, Some(principal), Some(namespace), now)
                .is_some()
        })
    }

    /// The principals of the first line that allows `signer` at `now` in any namespace
    /// (OpenSSH's `sshsig_find_principals`); for a certificate, the certificate's principals
    /// that match the line's patterns.
    pub fn find_principals(&self, signer: &KeyOrCert, now: u64) -> Option<Vec<String>> {
        self.text
            .lines()
            .find_map(|line| self.check_line(line, signer, None, None, now))
    }

    /// The principal lists of every line whose patterns match `principal`
    /// (`ssh-keygen -Y match-principals`). A line that matches but cannot be parsed is an error.
    pub fn match_principals(&self, principal: &str) -> Result<Vec<String>, KeyError> {
        let mut out = Vec::new();
        for (i, line) in self.text.lines().enumerate() {
            match parse_line(line, Some(principal)) {
                Ok(Some(l)) => out.push(l.principals),
                Ok(None) => {}
                Err(reason) => {
                    return Err(KeyError::InvalidAllowedSigners {
                        path: String::new(),
                        line: i + 1,
                        reason,
                    })
                }
            }
        }
        Ok(out)
    }

    /// Every line parsed (blank and comment lines skipped), with its number or why it failed.
    pub fn lines(&self) -> Vec<(usize, Result<SignerLine, &'static str>)> {
        self.text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| match parse_line(l, None) {
                Ok(None) => None,
                Ok(Some(s)) => Some((i + 1, Ok(s))),
                Err(e) => Some((i + 1, Err(e))),
            })
            .collect()
    }

    fn unix(&self, t: &ExpiryTime) -> u64 {
        let guess = i64::try_from(t.unix_utc).unwrap_or(i64::MAX);
        u64::try_from(t.unix_with_offset((self.local_offset)(guess))).unwrap_or(0)
    }

    /// `check_allowed_keys_line`: the principals the line grants, or None.
    fn check_line(
        &self,
        line: &str,
        signer: &KeyOrCert,
        principal: Option<&str>,
        namespace: Option<&str>,
        now: u64,
    ) -> Option<Vec<String>> {
        let l = parse_line(line, principal).ok().flatten()?;
        let mut granted: Vec<String> = split(&l.principals);
        match (l.cert_authority, signer) {
            (false, s) if *s == l.key => {}
            (true, KeyOrCert::Cert(cert)) if cert.signature_key() == l.key.key() => {
                if let Some(p) = principal {
                    cert.check_authority(CertType::User, now, Some(p), false)
                        .ok()?;
                } else {
                    cert.check_authority(CertType::User, now, None, false)
                        .ok()?;
                    granted = cert
                        .principals()
                        .iter()
                        .filter(|cp| {
                            granted
                                .iter()
                                .any(|pat| glob_match(pat.as_bytes(), cp.as_bytes()))
                        })
                        .cloned()
                        .collect();
                    if granted.is_empty() {
                        return None;
                    }
                }
            }
            _ => return None,
        }
        if let (Some(list), Some(ns)) = (&l.namespaces, namespace) {
            if !match_pattern_list(ns, list) {
                return None;
            }
        }
        if l.valid_after.is_some_and(|t| now < self.unix(&t)) {
            return None;
        }
        if l.valid_before.is_some_and(|t| now > self.unix(&t)) {
            return None;
        }
        Some(granted)
    }
}

/// The comma-separated entries of a list (empty entries end it, as `strsep` loops do).
fn split(list: &str) -> Vec<String> {
    list.split(',')
        .take_while(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// OpenSSH's `match_pattern_list(name, list, 0)` == 1: case-sensitive, a `!` entry that
/// matches refuses.
pub(crate) fn match_pattern_list(name: &str, list: &str) -> bool {
    let mut positive = false;
    for entry in list.split(',') {
        let (negated, pattern) = match entry.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, entry),
        };
        if glob_match(pattern.as_bytes(), name.as_bytes()) {
            if negated {
                return false;
            }
            positive = true;
        }
    }
    positive
}

/// The principals token (OpenSSH's `strdelimw`): up to whitespace, or a quoted run.
fn principals_token(s: &str) -> Option<(String, &str)> {
    let stop = s.find([' ', '\t', '\r', '\n', '"'])?;
    let (head, tail) = s.split_at(stop);
    if let Some(quoted) = tail.strip_prefix('"') {
        let close = quoted.find('"')?;
        let (inner, after) = quoted.split_at(close);
        let after = after.get(1..).unwrap_or_default();
        return Some((format!("{head}{inner}"), after.trim_start()));
    }
    Some((head.to_owned(), tail.trim_start()))
}

/// Splits leading options off (OpenSSH's `sshkey_advance_past_options`): up to the first
/// space or tab outside double quotes.
fn split_options(s: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if quoted => escaped = !escaped,
            '"' if !escaped => {
                quoted = !quoted;
                escaped = false;
            }
            ' ' | '\t' if !quoted => {
                let (opts, rest) = s.split_at(i);
                return Some((opts, rest.trim_start()));
            }
            _ => escaped = false,
        }
    }
    None
}

/// Parses a line; `Ok(None)` for blank and comment lines and for lines whose principals do not
/// match `required` (checked before the key is read, as OpenSSH does).
fn parse_line(line: &str, required: Option<&str>) -> Result<Option<SignerLine>, &'static str> {
    let line = line.trim_start_matches([' ', '\t', '\r', '\n']);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (principals, rest) = principals_token(line).ok_or("invalid line")?;
    if let Some(p) = required {
        if !match_pattern_list(p, &principals) {
            return Ok(None);
        }
    }
    let rest = rest.trim_end_matches(['\r', '\n']);
    let (options, key) = match KeyOrCert::from_openssh_line(rest) {
        Ok((key, _)) if is_key_token(rest) => (None, key),
        _ => {
            let (opts, after) = split_options(rest).ok_or("missing key")?;
            if after.is_empty() {
                return Err("missing key");
            }
            let (key, _) = KeyOrCert::from_openssh_line(after).map_err(|_| "invalid key")?;
            (Some(opts), key)
        }
    };
    let mut out = SignerLine {
        principals,
        key,
        cert_authority: false,
        namespaces: None,
        valid_after: None,
        valid_before: None,
    };
    if let Some(opts) = options {
        parse_options(opts, &mut out)?;
    }
    Ok(Some(out))
}

/// Whether the first token looks like a key type (so that options are not read as a key).
fn is_key_token(s: &str) -> bool {
    let (t, _) = split_token(s);
    !t.contains(['=', '"', ','])
}

/// `sshsigopt_parse`.
fn parse_options(mut opts: &str, out: &mut SignerLine) -> Result<(), &'static str> {
    while !opts.is_empty() {
        if let Some(rest) = strip_prefix_ci(opts, "cert-authority") {
            out.cert_authority = true;
            opts = rest;
        } else if let Some(rest) = strip_prefix_ci(opts, "namespaces=") {
            if out.namespaces.is_some() {
                return Err("multiple \"namespaces\" clauses");
            }
            let (v, rest) = dequote(rest)?;
            out.namespaces = Some(v);
            opts = rest;
        } else if let Some(rest) = strip_prefix_ci(opts, "valid-after=") {
            if out.valid_after.is_some() {
                return Err("multiple \"valid-after\" clauses");
            }
            let (v, rest) = dequote(rest)?;
            out.valid_after =
                Some(parse_expiry_time(&v).map_err(|_| "invalid \"valid-after\" time")?);
            opts = rest;
        } else if let Some(rest) = strip_prefix_ci(opts, "valid-before=") {
            if out.valid_before.is_some() {
                return Err("multiple \"valid-before\" clauses");
            }
            let (v, rest) = dequote(rest)?;
            out.valid_before =
                Some(parse_expiry_time(&v).map_err(|_| "invalid \"valid-before\" time")?);
            opts = rest;
        }
        if opts.is_empty() {
            break;
        }
        opts = opts.strip_prefix(',').ok_or("unknown key option")?;
        if opts.is_empty() {
            return Err("unexpected end-of-options");
        }
    }
    if let (Some(a), Some(b)) = (out.valid_after, out.valid_before) {
        if b.unix_utc <= a.unix_utc && a.utc == b.utc {
            return Err("\"valid-before\" time is before \"valid-after\"");
        }
    }
    Ok(())
}

fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// `opt_dequote`: `"value"` where `\"` is a quote.
fn dequote(s: &str) -> Result<(String, &str), &'static str> {
    let body = s.strip_prefix('"').ok_or("missing start quote")?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, body.get(i + 1..).unwrap_or_default())),
            '\\' if chars.peek().is_some_and(|&(_, n)| n == '"') => {
                out.push('"');
                chars.next();
            }
            other => out.push(other),
        }
    }
    Err("missing end quote")
}

#[cfg(test)]
#[path = "allowed_signers_tests.rs"]
mod tests;
