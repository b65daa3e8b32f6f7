//! The `-v` status log, in FileZilla's style: one line per step, on standard error, tagged
//! `Status:` (what is happening), `Command:` (what we ask the peer), `Response:` (what it
//! answered) or `Error:`. `-vv` adds the packet lines (`nacre::packet`, from the transport).
//!
//! ```text
//! Status: Connecting to 127.0.0.1:22...
//! Status: Connected to 127.0.0.1:22, server SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3
//! Status: Key exchange curve25519-sha256, host key ssh-ed25519 SHA256:..., cipher aes128-gcm@openssh.com
//! Status: Using username "peer".
//! Command: Pass: ********
//! Status: Authenticated with password
//! Command: ls
//! Status: Listing directory /home/peer
//! Status: Directory listing of "/home/peer" successful (3 entries)
//! ```

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);

/// Turns the log on (`-v` or more).
pub fn init(verbose: u8) {
    ON.store(verbose >= 1, Ordering::Relaxed);
}

/// Whether `-v` was given.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// One line; what a server said (a banner, a name, a status message) is escaped
/// ([`crate::visible`]), a line break included, so one line stays one line.
fn line(tag: &str, message: &dyn Display) {
    if enabled() {
        let text = crate::visible::visible_text(&message.to_string(), false);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{tag}: {text}");
    }
}

/// `Status: ...`
pub fn status(message: impl Display) {
    line("Status", &message);
}

/// `Command: ...`
pub fn command(message: impl Display) {
    line("Command", &message);
}

/// `Response: ...`
pub fn response(message: impl Display) {
    line("Response", &message);
}

/// `Error: ...`
pub fn error(message: impl Display) {
    line("Error", &message);
}

/// "1 second" / "N seconds", as FileZilla words transfer times.
pub fn seconds(d: std::time::Duration) -> String {
    let s = d.as_secs().max(1);
    if s == 1 {
        "1 second".to_owned()
    } else {
        format!("{s} seconds")
    }
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_times_read_like_filezilla() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_485_760), "10,485,760");
        assert_eq!(seconds(std::time::Duration::from_millis(10)), "1 second");
        assert_eq!(seconds(std::time::Duration::from_secs(12)), "12 seconds");
    }
}
