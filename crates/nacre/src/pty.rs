//! Pseudo-terminals for session channels (RFC 4254 §6.2, §6.7, §8).
//!
//! A `pty-req` is remembered as a [`PtyRequest`]; `shell`/`exec` then run the process on a new
//! pty from the `pty-process` crate: the child becomes a session leader with the pty slave as its
//! controlling terminal and as stdin, stdout and stderr (one stream: RFC 4254 §6.2), and the
//! server talks to it through the async master. The encoded terminal modes are applied to the
//! slave before the child starts, `window-change` sets the window size (the kernel then sends
//! SIGWINCH to the foreground process group), and `signal` requests go to the child's process
//! group. Terminal attributes, window sizes and signals use `rustix`, so there is no `unsafe`
//! here.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::termios::{
    self, ControlModes, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex,
    Termios, Winsize,
};

/// Permission bits of a session's pty slave, as sshd sets them: the user reads and writes, the
/// `tty` group may write (`write`, `wall`).
const SLAVE_MODE: u32 = 0o620;

/// A window size from `pty-req` or `window-change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowSize {
    /// Columns (characters).
    pub cols: u32,
    /// Rows (characters).
    pub rows: u32,
    /// Width in pixels.
    pub width_px: u32,
    /// Height in pixels.
    pub height_px: u32,
}

impl WindowSize {
    fn winsize(self) -> Winsize {
        let clamp = |v: u32| u16::try_from(v).unwrap_or(u16::MAX);
        Winsize {
            ws_row: clamp(self.rows),
            ws_col: clamp(self.cols),
            ws_xpixel: clamp(self.width_px),
            ws_ypixel: clamp(self.height_px),
        }
    }
}

/// What a `pty-req` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PtyRequest {
    /// The TERM environment variable value.
    pub term: String,
    /// The window size.
    pub size: WindowSize,
    /// Encoded terminal modes (RFC 4254 §8).
    pub modes: Vec<u8>,
}

/// Who should own the slave device (sshd gives it to the user, group `tty`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlaveOwner {
    pub uid: u32,
    pub gid: u32,
}

/// A process started on a pty: the async master and the child.
pub(crate) struct PtyProcess {
    /// The master side: the child's terminal input and output.
    pub master: pty_process::Pty,
    /// Another descriptor of the master, for window sizes once the master is split.
    pub control: OwnedFd,
    /// The child, a session leader whose controlling terminal is the pty.
    pub child: tokio::process::Child,
}

/// Starts `command` on a new pty set up as `request` says.
pub(crate) fn spawn(
    command: tokio::process::Command,
    request: &PtyRequest,
    owner: Option<SlaveOwner>,
) -> io::Result<PtyProcess> {
    let (master, slave) = pty_process::open().map_err(pty_error)?;
    let size = request.size.winsize();
    termios::tcsetwinsize(&master, size)?;
    match termios::tcgetattr(&slave) {
        Ok(mut attrs) => {
            apply_modes(&mut attrs, &request.modes);
            if let Err(e) = termios::tcsetattr(&slave, OptionalActions::Now, &attrs) {
                tracing::debug!(error = %e, "cannot set the terminal modes");
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot read the terminal modes"),
    }
    if let Some(owner) = owner {
        std::os::unix::fs::fchown(&slave, Some(owner.uid), Some(owner.gid))?;
        rustix::fs::fchmod(&slave, rustix::fs::Mode::from_raw_mode(SLAVE_MODE))?;
    }
    let control = master.as_fd().try_clone_to_owned()?;
    // `spawn` attaches the slave to stdin, stdout and stderr, runs setsid() and TIOCSCTTY in the
    // child, and drops our copies of the slave so the master sees EIO once the child side closes.
    let child = pty_process::Command::from(command)
        .spawn(slave)
        .map_err(pty_error)?;
    Ok(PtyProcess {
        master,
        control,
        child,
    })
}

/// Sets the window size of the pty whose master is `master`.
pub(crate) fn resize(master: impl AsFd, size: WindowSize) -> io::Result<()> {
    Ok(termios::tcsetwinsize(master, size.winsize())?)
}

fn pty_error(e: pty_process::Error) -> io::Error {
    match e {
        pty_process::Error::Io(e) => e,
        pty_process::Error::Rustix(e) => e.into(),
        other => io::Error::other(other.to_string()),
    }
}

/// The group id of `tty` from /etc/group, else `fallback`.
pub(crate) fn tty_group(fallback: u32) -> u32 {
    std::fs::read_to_string("/etc/group")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                match (f.next(), f.next(), f.next()) {
                    (Some("tty"), Some(_), Some(gid)) => gid.parse().ok(),
                    _ => None,
                }
            })
        })
        .unwrap_or(fallback)
}

/// Opcodes of RFC 4254 §8 (and RFC 8160's IUTF8).
mod op {
    pub const TTY_OP_END: u8 = 0;
    pub const TTY_OP_ISPEED: u8 = 128;
    pub const TTY_OP_OSPEED: u8 = 129;
    /// Opcodes 160 to 255 are not defined: they stop the parsing.
    pub const FIRST_UNDEFINED: u8 = 160;
}

/// A terminal mode flag an opcode sets or clears.
enum Flag {
    Input(InputModes),
    Local(LocalModes),
    Output(OutputModes),
    Control(ControlModes),
    /// CS7 / CS8: a value of the CSIZE field.
    CharSize(ControlModes),
}

fn special_code(opcode: u8) -> Option<SpecialCodeIndex> {
    Some(match opcode {
        1 => SpecialCodeIndex::VINTR,
        2 => SpecialCodeIndex::VQUIT,
        3 => SpecialCodeIndex::VERASE,
        4 => SpecialCodeIndex::VKILL,
        5 => SpecialCodeIndex::VEOF,
        6 => SpecialCodeIndex::VEOL,
        7 => SpecialCodeIndex::VEOL2,
        8 => SpecialCodeIndex::VSTART,
        9 => SpecialCodeIndex::VSTOP,
        10 => SpecialCodeIndex::VSUSP,
        12 => SpecialCodeIndex::VREPRINT,
        13 => SpecialCodeIndex::VWERASE,
        14 => SpecialCodeIndex::VLNEXT,
        18 => SpecialCodeIndex::VDISCARD,
        _ => return None,
    })
}

fn flag(opcode: u8) -> Option<Flag> {
    Some(match opcode {
        30 => Flag::Input(InputModes::IGNPAR),
        31 => Flag::Input(InputModes::PARMRK),
        32 => Flag::Input(InputModes::INPCK),
        33 => Flag::Input(InputModes::ISTRIP),
        34 => Flag::Input(InputModes::INLCR),
        35 => Flag::Input(InputModes::IGNCR),
        36 => Flag::Input(InputModes::ICRNL),
        37 => Flag::Input(InputModes::IUCLC),
        38 => Flag::Input(InputModes::IXON),
        39 => Flag::Input(InputModes::IXANY),
        40 => Flag::Input(InputModes::IXOFF),
        41 => Flag::Input(InputModes::IMAXBEL),
        42 => Flag::Input(InputModes::IUTF8),
        50 => Flag::Local(LocalModes::ISIG),
        51 => Flag::Local(LocalModes::ICANON),
        52 => Flag::Local(LocalModes::XCASE),
        53 => Flag::Local(LocalModes::ECHO),
        54 => Flag::Local(LocalModes::ECHOE),
        55 => Flag::Local(LocalModes::ECHOK),
        56 => Flag::Local(LocalModes::ECHONL),
        57 => Flag::Local(LocalModes::NOFLSH),
        58 => Flag::Local(LocalModes::TOSTOP),
        59 => Flag::Local(LocalModes::IEXTEN),
        60 => Flag::Local(LocalModes::ECHOCTL),
        61 => Flag::Local(LocalModes::ECHOKE),
        62 => Flag::Local(LocalModes::PENDIN),
        70 => Flag::Output(OutputModes::OPOST),
        71 => Flag::Output(OutputModes::OLCUC),
        72 => Flag::Output(OutputModes::ONLCR),
        73 => Flag::Output(OutputModes::OCRNL),
        74 => Flag::Output(OutputModes::ONOCR),
        75 => Flag::Output(OutputModes::ONLRET),
        90 => Flag::CharSize(ControlModes::CS7),
        91 => Flag::CharSize(ControlModes::CS8),
        92 => Flag::Control(ControlModes::PARENB),
        93 => Flag::Control(ControlModes::PARODD),
        _ => return None,
    })
}

/// Applies encoded terminal modes (RFC 4254 §8: `opcode uint32` pairs up to TTY_OP_END) to
/// `attrs`. Opcodes this system lacks are skipped, as sshd does; parsing stops at an undefined
/// opcode (160..=255) or a truncated argument.
pub(crate) fn apply_modes(attrs: &mut Termios, modes: &[u8]) {
    let mut rest = modes;
    while let [opcode, tail @ ..] = rest {
        let opcode = *opcode;
        if opcode == op::TTY_OP_END || opcode >= op::FIRST_UNDEFINED {
            return;
        }
        let [a, b, c, d, tail @ ..] = tail else {
            return;
        };
        rest = tail;
        let value = u32::from_be_bytes([*a, *b, *c, *d]);
        let on = value != 0;
        match opcode {
            op::TTY_OP_ISPEED => {
                let _ = attrs.set_input_speed(value);
            }
            op::TTY_OP_OSPEED => {
                let _ = attrs.set_output_speed(value);
            }
            _ => {
                if let Some(index) = special_code(opcode) {
                    // 255 means "disabled" (_POSIX_VDISABLE, which is 0 on Linux).
                    let c = match u8::try_from(value) {
                        Ok(255) | Err(_) => 0,
                        Ok(c) => c,
                    };
                    attrs.special_codes[index] = c;
                    continue;
                }
                match flag(opcode) {
                    Some(Flag::Input(f)) => attrs.input_modes.set(f, on),
                    Some(Flag::Local(f)) => attrs.local_modes.set(f, on),
                    Some(Flag::Output(f)) => attrs.output_modes.set(f, on),
                    Some(Flag::Control(f)) => attrs.control_modes.set(f, on),
                    Some(Flag::CharSize(f)) if on => {
                        attrs.control_modes.remove(ControlModes::CSIZE);
                        attrs.control_modes.insert(f);
                    }
                    Some(Flag::CharSize(_)) | None => {}
                }
            }
        }
    }
}

/// RFC 4254 §6.10 signal names (without "SIG") and their signals.
const SIGNALS: &[(&str, rustix::process::Signal)] = {
    use rustix::process::Signal;
    &[
        ("ABRT", Signal::ABORT),
        ("ALRM", Signal::ALARM),
        ("FPE", Signal::FPE),
        ("HUP", Signal::HUP),
        ("ILL", Signal::ILL),
        ("INT", Signal::INT),
        ("KILL", Signal::KILL),
        ("PIPE", Signal::PIPE),
        ("QUIT", Signal::QUIT),
        ("SEGV", Signal::SEGV),
        ("TERM", Signal::TERM),
        ("USR1", Signal::USR1),
        ("USR2", Signal::USR2),
    ]
};

/// The RFC 4254 name of signal number `raw`; `None` for a signal outside the RFC's list.
pub(crate) fn signal_name(raw: i32) -> Option<&'static str> {
    SIGNALS
        .iter()
        .find(|(_, s)| s.as_raw() == raw)
        .map(|(n, _)| *n)
}

/// Sends the signal named `name` (RFC 4254 §6.9, without "SIG") to the process group led by
/// `pid` (a session's process is started as a group or session leader). Unknown names are
/// refused.
pub(crate) fn send_signal(pid: u32, name: &str) -> io::Result<()> {
    let Some((_, signal)) = SIGNALS.iter().find(|(n, _)| *n == name) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown signal {name:?}"),
        ));
    };
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad process id"))?;
    Ok(rustix::process::kill_process_group(pid, *signal)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn encode(pairs: &[(u8, u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        for (op, val) in pairs {
            v.push(*op);
            v.extend_from_slice(&val.to_be_bytes());
        }
        v.push(0);
        v
    }

    #[tokio::test]
    async fn modes_are_applied() {
        let (master, _slave) = pty_process::open().unwrap();
        let mut attrs = termios::tcgetattr(&master).unwrap();
        let modes = encode(&[
            (1, 3),    // VINTR ^C
            (3, 127),  // VERASE DEL
            (10, 255), // VSUSP disabled
            (53, 0),   // -ECHO
            (51, 1),   // ICANON
            (72, 1),   // ONLCR
            (42, 1),   // IUTF8
            (90, 1),   // CS7
            (128, 38400),
            (129, 38400),
        ]);
        apply_modes(&mut attrs, &modes);
        assert_eq!(attrs.special_codes[SpecialCodeIndex::VINTR], 3);
        assert_eq!(attrs.special_codes[SpecialCodeIndex::VERASE], 127);
        assert_eq!(attrs.special_codes[SpecialCodeIndex::VSUSP], 0);
        assert!(!attrs.local_modes.contains(LocalModes::ECHO));
        assert!(attrs.local_modes.contains(LocalModes::ICANON));
        assert!(attrs.output_modes.contains(OutputModes::ONLCR));
        assert!(attrs.input_modes.contains(InputModes::IUTF8));
        assert_eq!(attrs.control_modes & ControlModes::CSIZE, ControlModes::CS7);
        assert_eq!(attrs.output_speed(), 38400);
        termios::tcsetattr(&master, OptionalActions::Now, &attrs).unwrap();
    }

    #[tokio::test]
    async fn modes_parsing_stops_safely() {
        let mut attrs = termios::tcgetattr(pty_process::open().unwrap().0).unwrap();
        let before = format!("{attrs:?}");
        // Undefined opcode first, truncated argument, empty.
        for modes in [&[200u8, 0, 0, 0, 1, 53, 0, 0, 0, 0][..], &[53, 0, 0], &[]] {
            apply_modes(&mut attrs, modes);
            assert_eq!(format!("{attrs:?}"), before);
        }
        // Unknown but defined opcodes are skipped with their argument.
        apply_modes(&mut attrs, &encode(&[(99, 7), (53, 0)]));
        assert!(!attrs.local_modes.contains(LocalModes::ECHO));
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(15), Some("TERM"));
        assert_eq!(signal_name(9), Some("KILL"));
        assert_eq!(signal_name(17), None);
        assert!(send_signal(1, "NOPE").is_err());
    }
}
