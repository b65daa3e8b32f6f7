//! The key log: Wireshark's SSH key log format as nacre writes it (`SSHKEYLOGFILE`).
//!
//! ```text
//! <hex KEXINIT cookie> SHARED_SECRET <hex K>      K's magnitude (the hybrids: the K string's bytes)
//! <hex KEXINIT cookie> PRIVATE_KEY <hex key>      an ECDH private key (curve25519, NIST curves)
//! <hex KEXINIT cookie> <hex key>                  the same, in the form tshark 4.0 reads
//! ```
//!
//! The cookie is that of the side that wrote the line; either side's cookie finds the exchange.
//! Lines starting with `#` and lines of another form are skipped.

use std::collections::HashMap;

/// What the key log knows about one exchange, by KEXINIT cookie.
#[derive(Debug, Default, Clone)]
pub struct Entry {
    /// K (the magnitude, or the hybrids' K bytes).
    pub shared_secret: Option<Vec<u8>>,
    /// The ECDH private key of the side whose cookie this is (X25519, or a NIST curve's scalar).
    pub ecdh_private: Option<Vec<u8>>,
}

/// A parsed key log.
#[derive(Debug, Default)]
pub struct KeyLog {
    entries: HashMap<[u8; 16], Entry>,
}

impl KeyLog {
    /// Parses the text of a key log file.
    pub fn parse(text: &str) -> KeyLog {
        let mut log = KeyLog::default();
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let (cookie, kind, value) = match words.as_slice() {
                [c, k, v] => (*c, *k, *v),
                [c, v] => (*c, "PRIVATE_KEY", *v),
                _ => continue,
            };
            let (Some(cookie), Some(value)) = (unhex(cookie), unhex(value)) else {
                continue;
            };
            let Ok(cookie) = <[u8; 16]>::try_from(cookie) else {
                continue;
            };
            let entry = log.entries.entry(cookie).or_default();
            match kind {
                "SHARED_SECRET" => entry.shared_secret = Some(value),
                "PRIVATE_KEY" => entry.ecdh_private = Some(value),
                _ => {}
            }
        }
        log
    }

    /// The entry written under this cookie.
    pub fn get(&self, cookie: &[u8; 16]) -> Option<&Entry> {
        self.entries.get(cookie)
    }
}

/// Bytes of a hex string (either case); `None` unless it is all hex digits in pairs.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let cookie = "00112233445566778899aabbccddeeff";
        let log = KeyLog::parse(&format!(
            "# comment\n{cookie} SHARED_SECRET 0a0b\n{cookie} 0c0d\nnot a line\n"
        ));
        let e = log
            .get(&<[u8; 16]>::try_from(unhex(cookie).unwrap()).unwrap())
            .unwrap();
        assert_eq!(e.shared_secret.as_deref(), Some(&[10u8, 11][..]));
        assert_eq!(e.ecdh_private.as_deref(), Some(&[12u8, 13][..]));
    }
}
