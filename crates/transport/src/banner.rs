//! Identification string exchange (RFC 4253 §4.2).
//!
//! `SSH-protoversion-softwareversion SP comments CR LF`. The client tolerates other lines before
//! the server's identification (up to [`crate::Limits::max_banner_lines`]); the server accepts none.
//! Lines ending in a bare LF are accepted, as OpenSSH does.

use crate::config::{Limits, Role};
use crate::error::BannerError;

/// The peer's identification string, without its line ending: this is V_C or V_S of the exchange hash.
///
/// ```
/// use nacre_transport::{BannerError, Identification};
///
/// let id = Identification::parse(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13")?;
/// assert_eq!(id.proto_version, "2.0");
/// assert_eq!(id.software_version, "OpenSSH_9.6p1");
/// assert_eq!(id.comments.as_deref(), Some("Ubuntu-3ubuntu13"));
///
/// assert!(matches!(
///     Identification::parse(b"SSH-1.5-old"),
///     Err(BannerError::UnsupportedVersion(v)) if v == "1.5"
/// ));
/// # Ok::<(), BannerError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    /// The whole line as hashed (without CR LF).
    pub line: Vec<u8>,
    /// `protoversion`: "2.0" (or "1.99").
    pub proto_version: String,
    /// `softwareversion`.
    pub software_version: String,
    /// Comments after the first space, if any.
    pub comments: Option<String>,
}

impl Identification {
    /// Parses one line (without its line ending) that starts with `SSH-`.
    pub fn parse(line: &[u8]) -> Result<Self, BannerError> {
        if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(BannerError::Malformed(
                "NUL or line break inside the identification string",
            ));
        }
        // Any other byte is accepted, as OpenSSH accepts it (kex.c, kex_exchange_identification;
        // RFC 4253 §4.2 asks for printable US-ASCII): the line is hashed as received, and the
        // parts are kept as text with invalid UTF-8 replaced (docs/TOLERANCE.md).
        let text = String::from_utf8_lossy(line);
        let rest = text
            .strip_prefix("SSH-")
            .ok_or(BannerError::NotIdentification)?;
        let (proto, rest) = rest
            .split_once('-')
            .ok_or(BannerError::Malformed("no software version"))?;
        if proto != "2.0" && proto != "1.99" {
            return Err(BannerError::UnsupportedVersion(proto.to_owned()));
        }
        let (software, comments) = match rest.split_once(' ') {
            Some((s, c)) => (s, Some(c.to_owned())),
            None => (rest, None),
        };
        if software.is_empty() {
            return Err(BannerError::Malformed("software version empty"));
        }
        Ok(Identification {
            line: line.to_vec(),
            proto_version: proto.to_owned(),
            software_version: software.to_owned(),
            comments,
        })
    }
}

/// Builds our identification line (without CR LF).
pub fn our_identification(software_version: &str, comments: Option<&str>) -> Vec<u8> {
    let mut line = format!("SSH-2.0-{software_version}");
    if let Some(c) = comments {
        line.push(' ');
        line.push_str(c);
    }
    // RFC 4253 §4.2: at most 255 characters including CR LF. Cut the bytes, not the string: a
    // configured non-ASCII version or comment must not panic on a char boundary.
    let mut line = line.into_bytes();
    line.truncate(MAX_SENT_IDENTIFICATION_LEN - 2);
    line
}

/// Longest identification line sent, CR LF included (RFC 4253 §4.2).
pub const MAX_SENT_IDENTIFICATION_LEN: usize = 255;

/// Incremental reader of the peer's identification, fed any split of bytes.
#[derive(Debug)]
pub struct BannerReader {
    role: Role,
    lines_before: usize,
    /// Bytes of `buf` already scanned as complete non-identification lines.
    offset: usize,
    max_lines: usize,
    max_line_len: usize,
    /// Lines the server sent before its identification (shown to users by some clients).
    pub preamble: Vec<String>,
}

impl BannerReader {
    /// A reader for the given role (the role of *this* side).
    pub fn new(role: Role, limits: &Limits) -> Self {
        BannerReader {
            role,
            lines_before: 0,
            offset: 0,
            max_lines: limits.max_banner_lines,
            max_line_len: limits.max_banner_line_len,
            preamble: Vec::new(),
        }
    }

    /// Takes the number of bytes at the front of the buffer that hold complete lines already
    /// counted before the identification: the caller drops them, so a chatty server cannot make
    /// the client hold its whole preamble (up to 1024 lines of 8 KiB) in memory.
    pub fn take_consumed(&mut self) -> usize {
        std::mem::take(&mut self.offset)
    }

    /// Looks for complete lines at the front of `buf`. Returns the identification and the number of
    /// bytes consumed once the `SSH-` line is complete; `Ok(None)` when more bytes are needed.
    pub fn poll(&mut self, buf: &[u8]) -> Result<Option<(Identification, usize)>, BannerError> {
        let mut start = self.offset;
        loop {
            let rest = buf.get(start..).unwrap_or(&[]);
            // The server accepts no other line: a wrong start is refused before any length check,
            // so the error does not depend on how much of the line has arrived (found by fuzzing).
            let n = rest.len().min(4);
            if self.role == Role::Server && rest.get(..n) != b"SSH-".get(..n) {
                return Err(BannerError::NotIdentification);
            }
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > self.max_line_len {
                    return Err(BannerError::LineTooLong(self.max_line_len));
                }
                self.offset = start;
                return Ok(None);
            };
            if nl + 1 > self.max_line_len {
                return Err(BannerError::LineTooLong(self.max_line_len));
            }
            let raw = rest.get(..nl).unwrap_or(&[]);
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            start += nl + 1;
            if line.starts_with(b"SSH-") {
                return Identification::parse(line).map(|id| Some((id, start)));
            }
            if self.role == Role::Server {
                return Err(BannerError::NotIdentification);
            }
            self.lines_before += 1;
            if self.lines_before > self.max_lines {
                return Err(BannerError::TooManyLines(self.max_lines));
            }
            if self.preamble.len() < 32 {
                self.preamble
                    .push(String::from_utf8_lossy(line).into_owned());
            }
        }
    }
}
