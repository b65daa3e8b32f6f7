//! Questions to the person at the terminal, as OpenSSH asks them: on `/dev/tty` (so they work
//! while standard input and output carry data), secrets without echo. No terminal, or
//! `BatchMode=yes`: no question is asked.

use std::io::{BufRead, Write};
use std::os::fd::AsFd;

use zeroize::Zeroizing;

/// The controlling terminal, if the process has one.
fn tty() -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// Whether a question can be asked (a controlling terminal exists).
pub fn available() -> bool {
    tty().is_some()
}

/// Asks `prompt` on the terminal and reads a line without echo (a password, a passphrase);
/// `None` without a terminal or at end of input.
pub fn secret(prompt: &str) -> Option<Zeroizing<String>> {
    let mut tty = tty()?;
    let saved = rustix::termios::tcgetattr(tty.as_fd()).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(
            tty.as_fd(),
            rustix::termios::OptionalActions::Flush,
            &quiet,
        );
    }
    let _ = write!(tty, "{prompt}");
    let _ = tty.flush();
    let mut line = Zeroizing::new(String::new());
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if let Some(saved) = &saved {
        let _ =
            rustix::termios::tcsetattr(tty.as_fd(), rustix::termios::OptionalActions::Now, saved);
    }
    let _ = writeln!(tty);
    match read {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
            Some(Zeroizing::new(trimmed))
        }
    }
}

/// Asks `prompt` on the terminal and reads a line, echoed (a yes/no answer); `None` without a
/// terminal or at end of input.
pub fn line(prompt: &str) -> Option<String> {
    let mut tty = tty()?;
    let _ = write!(tty, "{prompt}");
    let _ = tty.flush();
    let mut line = String::new();
    match std::io::BufReader::new(&tty).read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
    }
}

/// Says `text` on the terminal (a warning the person must see even when stderr is redirected).
pub fn say(text: &str) {
    if let Some(mut tty) = tty() {
        let _ = writeln!(tty, "{text}");
    } else {
        eprintln!("{text}");
    }
}
