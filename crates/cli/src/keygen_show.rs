//! `ssh-keygen -l`/`-lv` as OpenSSH prints it: one line per key of a key file, authorized_keys
//! or known_hosts file (`BITS FINGERPRINT COMMENT (TYPE)`), and with `-v` the key's randomart
//! drawn by the "drunken bishop" of OpenSSH's sshkey.c.

use std::path::Path;

use anyhow::Context;
use nacre::keys::{KeyType, PublicKey};

/// OpenSSH's key type name in fingerprints and randomart titles.
pub fn type_label(key: &PublicKey) -> &'static str {
    match key.key_type() {
        KeyType::Ed25519 => "ED25519",
        KeyType::EcdsaNistP256 | KeyType::EcdsaNistP384 | KeyType::EcdsaNistP521 => "ECDSA",
        KeyType::Rsa => "RSA",
        KeyType::SkEd25519 => "ED25519-SK",
        KeyType::SkEcdsaNistP256 => "ECDSA-SK",
    }
}

/// The fingerprint with `hash` (`sha256` or `md5`).
pub fn fingerprint(key: &PublicKey, md5: bool) -> String {
    if md5 {
        key.fingerprint_md5()
    } else {
        key.fingerprint_sha256()
    }
}

/// The digest the randomart walks.
fn digest(key: &PublicKey, md5: bool) -> Vec<u8> {
    if md5 {
        let hex = key.fingerprint_md5();
        hex.trim_start_matches("MD5:")
            .split(':')
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect()
    } else {
        key.fingerprint_sha256_bytes().to_vec()
    }
}

const WIDTH: usize = 17;
const HEIGHT: usize = 9;
const SYMBOLS: &[u8] = b" .o+=*BOX@%&#/^SE";

/// A border line with `label` centred as OpenSSH centres it.
fn border(label: &str) -> String {
    let label: String = label.chars().take(WIDTH - 1).collect();
    let left = (WIDTH - label.len()) / 2;
    let right = WIDTH - left - label.len();
    format!("+{}{label}{}+", "-".repeat(left), "-".repeat(right))
}

/// The randomart box of `key` (without a final newline), as `ssh-keygen -lv` draws it.
pub fn randomart(key: &PublicKey, md5: bool) -> String {
    let mut field = [[0u8; HEIGHT]; WIDTH];
    let top = u8::try_from(SYMBOLS.len() - 1).unwrap_or(16);
    let (mut x, mut y) = (WIDTH / 2, HEIGHT / 2);
    for byte in digest(key, md5) {
        let mut input = byte;
        for _ in 0..4 {
            x = if input & 1 == 1 {
                (x + 1).min(WIDTH - 1)
            } else {
                x.saturating_sub(1)
            };
            y = if input & 2 == 2 {
                (y + 1).min(HEIGHT - 1)
            } else {
                y.saturating_sub(1)
            };
            if let Some(cell) = field.get_mut(x).and_then(|c| c.get_mut(y)) {
                if *cell < top - 2 {
                    *cell += 1;
                }
            }
            input >>= 2;
        }
    }
    if let Some(c) = field.get_mut(WIDTH / 2).and_then(|c| c.get_mut(HEIGHT / 2)) {
        *c = top - 1;
    }
    if let Some(c) = field.get_mut(x).and_then(|c| c.get_mut(y)) {
        *c = top;
    }
    let mut out = border(&format!("[{} {}]", type_label(key), key.bits()));
    for row in 0..HEIGHT {
        out.push_str("\n|");
        for column in &field {
            let v = column.get(row).copied().unwrap_or(0);
            out.push(char::from(*SYMBOLS.get(usize::from(v)).unwrap_or(&b'?')));
        }
        out.push('|');
    }
    out.push('\n');
    out.push_str(&border(if md5 { "[MD5]" } else { "[SHA256]" }));
    out
}

/// `BITS FINGERPRINT COMMENT (TYPE)`, and the randomart with `verbose`.
pub fn line(key: &PublicKey, comment: Option<&str>, md5: bool, verbose: bool) -> String {
    let mut s = format!(
        "{} {} {} ({})",
        key.bits(),
        fingerprint(key, md5),
        comment.unwrap_or("no comment"),
        type_label(key)
    );
    if verbose {
        s.push('\n');
        s.push_str(&randomart(key, md5));
    }
    s
}

/// `type base64 [rest]` at the start of `text`: the key and what follows it.
fn key_at(text: &str) -> Option<(PublicKey, &str)> {
    let text = text.trim_start_matches([' ', '\t']);
    let mut parts = text.splitn(3, [' ', '\t']);
    let (kind, b64) = (parts.next()?, parts.next()?);
    let (key, _) = PublicKey::from_openssh_line(&format!("{kind} {b64}")).ok()?;
    Some((key, parts.next().unwrap_or("")))
}

/// The comment after a key: none when empty or a `#` comment.
fn comment_of(rest: &str) -> Option<&str> {
    let rest = rest.trim_start_matches([' ', '\t']);
    (!rest.is_empty() && !rest.starts_with('#')).then_some(rest)
}

/// The first word of a line (host names or key options, double quotes kept together) and the
/// rest.
fn first_word(line: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut prev = '\0';
    for (i, c) in line.char_indices() {
        match c {
            '"' if prev != '\\' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                return (line.get(..i).unwrap_or(""), line.get(i..).unwrap_or(""))
            }
            _ => {}
        }
        prev = c;
    }
    (line, "")
}

/// The key and comment of one line of a public key, authorized_keys or known_hosts file
/// (`None` for blank, comment and marker lines and lines without a key).
pub fn parse_line(line: &str) -> Option<(PublicKey, Option<String>)> {
    let line = line.trim_start_matches([' ', '\t']);
    if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
        return None;
    }
    if let Some((key, rest)) = key_at(line) {
        return Some((key, comment_of(rest).map(str::to_owned)));
    }
    let (first, rest) = first_word(line);
    let (key, rest) = key_at(rest)?;
    let comment = comment_of(rest).unwrap_or(first);
    Some((key, Some(comment.to_owned())))
}

/// A certificate line (`type-cert-v01@openssh.com base64 [comment]`) and its comment.
fn cert_line(line: &str) -> Option<(nacre::keys::Certificate, Option<String>)> {
    let line = line.trim_start_matches([' ', '\t']);
    let (cert, comment) = nacre::keys::Certificate::from_openssh_line(line).ok()?;
    Some((cert, (!comment.is_empty()).then_some(comment)))
}

/// `-l` on `path`: a private key file (its `.pub` when present), or every key line.
pub fn list(path: &Path, passphrase: Option<&str>, md5: bool, verbose: bool) -> anyhow::Result<()> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).with_context(|| format!("{shown}: No such file or directory"))?;
    let text = String::from_utf8_lossy(&bytes);
    if text
        .lines()
        .next()
        .is_some_and(|l| l.contains("PRIVATE KEY"))
    {
        let pub_path = format!("{shown}.pub");
        let (key, comment) = match std::fs::read_to_string(&pub_path)
            .ok()
            .and_then(|t| t.lines().find_map(parse_line))
        {
            Some((key, comment)) => (key, Some(comment.unwrap_or(pub_path))),
            None => {
                let key = crate::keygen::load_private(path, passphrase)?;
                let comment = (!key.comment().is_empty()).then(|| key.comment().to_owned());
                (key.public_key(), comment)
            }
        };
        println!("{}", line(&key, comment.as_deref(), md5, verbose));
        return Ok(());
    }
    let mut any = false;
    for l in text.lines() {
        if let Some((key, comment)) = parse_line(l) {
            println!("{}", line(&key, comment.as_deref(), md5, verbose));
            any = true;
        } else if let Some((cert, comment)) = cert_line(l) {
            // A certificate: its key's fingerprint, the type as `ED25519-CERT`.
            let key = cert.key();
            let label = type_label(key);
            // OpenSSH's randomart title: `[TYPE BITS]`, or `[TYPE]` when that does not fit 17.
            let mut title = format!("[{label}-CERT {}]", key.bits());
            if title.len() > WIDTH {
                title = format!("[{label}-CERT]");
            }
            let text = line(key, comment.as_deref(), md5, verbose)
                .replacen(&format!("({label})"), &format!("({label}-CERT)"), 1)
                .replacen(
                    &border(&format!("[{label} {}]", key.bits())),
                    &border(&title),
                    1,
                );
            println!("{text}");
            any = true;
        }
    }
    anyhow::ensure!(any, "{shown} is not a public key file.");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICeA1onAXrYuFCXKXnh0w9Fb9m1JCWUrTkk02dPA4Cc7";

    #[test]
    fn comments_as_ssh_keygen_finds_them() {
        let c = |l: &str| parse_line(l).map(|(_, c)| c);
        assert_eq!(c(KEY), Some(None));
        assert_eq!(c(&format!("{KEY} x y ")), Some(Some("x y ".to_owned())));
        assert_eq!(
            c(&format!("from=\"a b\" {KEY} opt")),
            Some(Some("opt".into()))
        );
        assert_eq!(c(&format!("host {KEY} #c")), Some(Some("host".into())));
        assert_eq!(c(&format!("@revoked host {KEY}")), None);
        assert_eq!(c("# comment"), None);
    }

    #[test]
    fn randomart_of_a_known_key() {
        let (key, _) = PublicKey::from_openssh_line(KEY).unwrap();
        let want = "+--[ED25519 256]--+\n|B+o=.++o+ .      |\n|==+.+.=E + +     |\n|=+.. ..o  = .    |\n|=+...      .     |\n|=.=.o   S        |\n|o+ + = .         |\n|. . = o .        |\n|..   . .         |\n|+.               |\n+----[SHA256]-----+";
        assert_eq!(randomart(&key, false), want);
    }
}
