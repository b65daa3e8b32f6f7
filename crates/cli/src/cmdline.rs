//! ssh's `~C` command line (clientloop.c's `process_cmdline`): `ssh> ` asked with the terminal
//! out of raw mode, then `-L`, `-R` or `-D` adds a forward to the running session, `-KL`,
//! `-KR` or `-KD` cancels one, `?`/`-h` lists the commands, each answered in ssh's words
//! (`Forwarding port.`, `Canceled forwarding.`, `Unknown port forwarding.`, ...).

use crate::forward::{cancel_spec, valid_spec, Statics};
use crate::socks::{bind_spec, Dynamic};

/// ssh's `~C` help.
const HELP: &str = "Commands:\r
      -L[bind_address:]port:host:hostport    Request local forward\r
      -R[bind_address:]port:host:hostport    Request remote forward\r
      -D[bind_address:]port                  Request dynamic forward\r
      -KL[bind_address:]port                 Cancel local forward\r
      -KR[bind_address:]port                 Cancel remote forward\r
      -KD[bind_address:]port                 Cancel dynamic forward\r
";

/// What a command line asks.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    Nothing,
    Help,
    Invalid,
    Add(char, &'a str),
    Cancel(char, &'a str),
}

fn parse(line: &str) -> Request<'_> {
    let s = line.trim_start();
    let s = s.strip_prefix('-').unwrap_or(s);
    let s = s.trim_end_matches(['\r', '\n']);
    if s.is_empty() {
        return Request::Nothing;
    }
    if s.starts_with(['h', 'H', '?']) {
        return Request::Help;
    }
    let (cancel, s) = match s.strip_prefix('K') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut chars = s.chars();
    let Some(kind @ ('L' | 'R' | 'D')) = chars.next() else {
        return Request::Invalid;
    };
    let spec = chars.as_str().trim();
    if cancel {
        Request::Cancel(kind, spec)
    } else {
        Request::Add(kind, spec)
    }
}

/// Runs one command line against the session's forwards; returns what ssh prints for it
/// (`\r\n` line ends).
pub async fn run(
    line: &str,
    conn: &nacre::Connection,
    statics: &mut Statics,
    dynamic: &Dynamic,
) -> String {
    let said = match parse(line) {
        Request::Nothing => return String::new(),
        Request::Help => return HELP.to_owned(),
        Request::Invalid => "Invalid command.",
        Request::Cancel(kind, spec) => match cancel_spec(spec) {
            None => "Bad forwarding close specification.",
            Some((bind, port)) => {
                let found = match kind {
                    'L' => statics.cancel_local(bind.as_deref(), port),
                    'R' => statics.cancel_remote(bind.as_deref(), port),
                    _ => dynamic.cancel(bind.as_deref(), port),
                };
                if found {
                    "Canceled forwarding."
                } else {
                    "Unknown port forwarding."
                }
            }
        },
        Request::Add('D', spec) => match bind_spec(spec) {
            Err(_) => "Bad local forwarding specification.",
            Ok((host, port)) => match dynamic.listen(&host, port).await {
                Ok(_) => "Forwarding port.",
                Err(e) => {
                    return format!("bind [{host}]:{port}: {e}\r\nPort forwarding failed.\r\n")
                }
            },
        },
        Request::Add(kind, spec) if !valid_spec(spec) => {
            if kind == 'R' {
                "Bad remote forwarding specification."
            } else {
                "Bad local forwarding specification."
            }
        }
        Request::Add(kind, spec) => {
            let added = if kind == 'L' {
                statics.add_local(conn, spec).await
            } else {
                statics.add_remote(conn, spec).await
            };
            match added {
                Ok(()) => "Forwarding port.",
                Err(e) => {
                    let why = crate::visible::visible_text(&format!("{e:#}"), false);
                    return format!("{why}\r\nPort forwarding failed.\r\n");
                }
            }
        }
    };
    format!("{said}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_as_ssh_reads_them() {
        assert_eq!(parse("  \r"), Request::Nothing);
        assert_eq!(parse("?"), Request::Help);
        assert_eq!(parse("-h"), Request::Help);
        assert_eq!(
            parse("-L8080:localhost:80"),
            Request::Add('L', "8080:localhost:80")
        );
        assert_eq!(parse("R 9000:h:22\n"), Request::Add('R', "9000:h:22"));
        assert_eq!(parse("-KD1080"), Request::Cancel('D', "1080"));
        assert_eq!(parse("-x"), Request::Invalid);
        assert_eq!(parse("-KX1"), Request::Invalid);
    }
}
