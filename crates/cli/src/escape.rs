//! ssh's escape sequences on an interactive session: the escape character (`~` by default,
//! `-e char`, `-e none`, `EscapeChar`) right after a newline (or at the start) begins one:
//! `~.` disconnects, `~?` lists them, `~~` sends one `~`, `~^Z` suspends, `~R` rekeys, `~B` sends
//! a BREAK (RFC 4335), `~C` opens ssh's command line (`ssh> -L...`, src/cmdline.rs); any
//! other character after it is sent with the escape character before it.

/// What the keyboard's bytes ask for, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Bytes for the server.
    Send(Vec<u8>),
    /// `~.`: end the connection.
    Disconnect,
    /// `~?`: list the escapes.
    Help,
    /// `~^Z`: suspend.
    Suspend,
    /// `~R`: rekey.
    Rekey,
    /// `~B`: a BREAK for the remote system.
    Break,
    /// `~C`: the command line (`ssh> `) that adds and cancels forwards.
    Command,
}

/// The escape state between reads.
pub struct Filter {
    escape: u8,
    line_start: bool,
    pending: bool,
}

/// `-e`/`EscapeChar`'s value: `none`, a single character, or `^X` for a control character.
pub fn parse_escape(value: &str) -> anyhow::Result<Option<u8>> {
    match value.as_bytes() {
        b"none" => Ok(None),
        [c] => Ok(Some(*c)),
        [b'^', c] if (64..=127).contains(c) => Ok(Some(*c & 31)),
        _ => anyhow::bail!("Bad escape character '{value}'."),
    }
}

/// How ssh shows the escape character (`~`, `^]`).
fn shown(c: u8) -> String {
    if c < 32 {
        format!("^{}", char::from(c + 64))
    } else {
        char::from(c).to_string()
    }
}

impl Filter {
    /// A filter for the escape character `escape`.
    pub fn new(escape: u8) -> Self {
        Self {
            escape,
            line_start: true,
            pending: false,
        }
    }

    /// The actions of the bytes typed.
    pub fn feed(&mut self, input: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        let mut send = Vec::new();
        for &b in input {
            if self.pending {
                self.pending = false;
                let action = match b {
                    b'.' => Action::Disconnect,
                    b'?' => Action::Help,
                    0x1a => Action::Suspend,
                    b'R' => Action::Rekey,
                    b'B' => Action::Break,
                    b'C' => Action::Command,
                    _ => {
                        if b != self.escape {
                            send.push(self.escape);
                        }
                        send.push(b);
                        self.line_start = b == b'\r' || b == b'\n';
                        continue;
                    }
                };
                if !send.is_empty() {
                    out.push(Action::Send(std::mem::take(&mut send)));
                }
                let stop = action == Action::Disconnect;
                out.push(action);
                if stop {
                    return out;
                }
                continue;
            }
            if self.line_start && b == self.escape {
                self.pending = true;
                continue;
            }
            send.push(b);
            self.line_start = b == b'\r' || b == b'\n';
        }
        if !send.is_empty() {
            out.push(Action::Send(send));
        }
        out
    }

    /// What ssh echoes on stderr for an action (raw mode: `\r\n` line ends).
    pub fn echo(&self, action: &Action) -> String {
        let e = shown(self.escape);
        match action {
            Action::Send(_) | Action::Command => String::new(),
            Action::Disconnect => format!("{e}.\r\n"),
            Action::Suspend => format!("{e}^Z [suspend nacre]\r\n"),
            Action::Rekey => format!("{e}R\r\n"),
            Action::Break => format!("{e}B\r\n"),
            Action::Help => {
                let mut s = format!("{e}?\r\nSupported escape sequences:\r\n");
                for (arg, text) in [
                    (".", "terminate connection"),
                    ("B", "send a BREAK to the remote system"),
                    ("C", "open a command line"),
                    ("R", "request rekey"),
                    ("^Z", "suspend nacre"),
                    ("?", "this message"),
                ] {
                    s.push_str(&format!(" {e}{arg:<3} - {text}\r\n"));
                }
                s.push_str(&format!(
                    " {e}{e}   - send the escape character by typing it twice\r\n\
                     (Note that escapes are only recognized immediately after newline.)\r\n"
                ));
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn send(b: &[u8]) -> Action {
        Action::Send(b.to_vec())
    }

    #[test]
    fn escapes_only_after_a_newline() {
        let mut f = Filter::new(b'~');
        assert_eq!(f.feed(b"~."), vec![Action::Disconnect]);
        let mut f = Filter::new(b'~');
        assert_eq!(f.feed(b"a~.b"), vec![send(b"a~.b")]);
        assert_eq!(f.feed(b"\r~?"), vec![send(b"\r"), Action::Help]);
        // Still at the start of a line after ~?.
        assert_eq!(f.feed(b"~~x"), vec![send(b"~x")]);
        assert_eq!(f.feed(b"\n~q"), vec![send(b"\n~q")]);
        assert_eq!(f.feed(b"\n~"), vec![send(b"\n")]);
        assert_eq!(f.feed(b"."), vec![Action::Disconnect]);
        let mut f = Filter::new(b'%');
        assert_eq!(f.feed(b"~.\r%\x1a"), vec![send(b"~.\r"), Action::Suspend]);
        let mut f = Filter::new(b'~');
        assert_eq!(f.feed(b"~Bx"), vec![Action::Break, send(b"x")]);
        assert_eq!(f.echo(&Action::Break), "~B\r\n");
        assert_eq!(
            f.feed(b"\r~Cx"),
            vec![send(b"\r"), Action::Command, send(b"x")]
        );
    }

    #[test]
    fn escape_char_values() {
        assert_eq!(parse_escape("none").unwrap(), None);
        assert_eq!(parse_escape("~").unwrap(), Some(b'~'));
        assert_eq!(parse_escape("^]").unwrap(), Some(0x1d));
        assert!(parse_escape("ab").is_err());
        let help = Filter::new(b'~').echo(&Action::Help);
        assert!(help
            .starts_with("~?\r\nSupported escape sequences:\r\n ~.   - terminate connection\r\n"));
        assert!(help.contains(" ~~   - send the escape character by typing it twice\r\n"));
    }
}
