//! The local terminal during an interactive session: raw mode (restored when dropped, and
//! around a suspension), the window size.

use std::os::fd::AsFd;

use rustix::termios::{tcgetattr, tcsetattr, OptionalActions, Termios};

/// The terminal's settings before raw mode; restored when dropped.
pub struct RawMode(Option<Termios>);

impl RawMode {
    /// Puts standard input's terminal in raw mode (nothing happens when it is not one).
    pub fn enter() -> Self {
        let Ok(saved) = tcgetattr(std::io::stdin().as_fd()) else {
            return RawMode(None);
        };
        let raw = RawMode(Some(saved));
        raw.raw();
        raw
    }

    /// Raw mode again (after [`RawMode::restore`]).
    pub fn raw(&self) {
        if let Some(saved) = &self.0 {
            let mut raw = saved.clone();
            raw.make_raw();
            let _ = tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, &raw);
        }
    }

    /// The settings from before.
    pub fn restore(&self) {
        if let Some(saved) = &self.0 {
            let _ = tcsetattr(std::io::stdin().as_fd(), OptionalActions::Now, saved);
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// The terminal's columns and rows (80x24 when unknown).
pub fn window_size() -> (u32, u32) {
    match rustix::termios::tcgetwinsize(std::io::stdout().as_fd())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin().as_fd()))
    {
        Ok(ws) if ws.ws_col > 0 => (u32::from(ws.ws_col), u32::from(ws.ws_row)),
        _ => (80, 24),
    }
}

/// Stops the process as the terminal's Ctrl-Z would (`~^Z`), the terminal restored meanwhile.
pub fn suspend(raw: Option<&RawMode>) {
    if let Some(r) = raw {
        r.restore();
    }
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::TSTP);
    if let Some(r) = raw {
        r.raw();
    }
}
