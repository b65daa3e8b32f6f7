//! One session channel, as ssh runs it for `nacre ssh` and `nacre exec`: a command or a shell,
//! a pty when asked (the local terminal in raw mode, its size followed), the keyboard through
//! the escape filter, stdout and stderr apart, and the exit code ssh gives: the remote
//! command's, 255 for a signal, a lost connection or `~.`.

use std::io::{IsTerminal, Write};

use std::sync::Arc;

use nacre::connection::RequestKind;
use nacre::{Channel, ChannelWriter, Connection, ExitStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::client_opts::ClientOptions;
use crate::escape::{Action, Filter};
use crate::forward::Forwards;
use crate::socks::Dynamic;
use crate::terminal::{window_size, RawMode};

/// What to run and how.
pub struct Plan {
    /// The command (`None`: the login shell).
    pub command: Option<String>,
    /// Ask for a pty.
    pub pty: bool,
    /// The pty was asked for explicitly (`-t`, `RequestTTY yes/force`): its refusal ends the
    /// session, as ssh's.
    pub pty_required: bool,
    /// Standard input from /dev/null (`-n`).
    pub stdin_null: bool,
    /// The escape character (with a pty only, as ssh).
    pub escape: Option<u8>,
    /// `-q`: no `Connection to HOST closed.`.
    pub quiet: bool,
    /// `-s`: the command names a subsystem.
    pub subsystem: bool,
}

/// What the keyboard asks of the connection.
enum Event {
    Disconnect,
    Rekey,
    Break,
    Resized,
    /// `~C`: a command line typed at `ssh> `.
    Command(String),
}

/// How long the command's end may take to be reported once our output is gone.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// ssh's words when the server refuses a request on the session channel (`exec request failed
/// on channel 0`); with `\r\n` as ssh's log lines, since the terminal may be in raw mode.
fn refused(what: &str) {
    eprint!("{what} request failed on channel 0\r\n");
}

/// Asks for a pty; `false` when the server refused it (said as ssh says it).
async fn request_pty(ch: &Channel) -> anyhow::Result<bool> {
    let (cols, rows) = window_size();
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let pty = RequestKind::PtyReq {
        term,
        cols,
        rows,
        width_px: 0,
        height_px: 0,
        modes: vec![0],
    };
    let granted = ch.request(pty, true).await?;
    if !granted {
        refused("PTY allocation");
    }
    Ok(granted)
}

/// A BREAK of 1000 ms (RFC 4335), as ssh's `~B` sends it.
fn send_break() -> RequestKind {
    RequestKind::Other {
        name: "break".to_owned(),
        data: 1000u32.to_be_bytes().to_vec(),
    }
}

fn window_change() -> RequestKind {
    let (cols, rows) = window_size();
    RequestKind::WindowChange {
        cols,
        rows,
        width_px: 0,
        height_px: 0,
    }
}

/// Standard input to the channel (through the escape filter when there is one), then EOF.
async fn pump_stdin(
    mut writer: ChannelWriter,
    plan_escape: Option<u8>,
    raw: Option<Arc<RawMode>>,
    events: UnboundedSender<Event>,
) {
    let mut input = tokio::io::stdin();
    let mut filter = plan_escape.map(Filter::new);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match input.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let data = buf.get(..n).unwrap_or(&[]);
        let Some(f) = filter.as_mut() else {
            if writer.write_all(data).await.is_err() {
                return;
            }
            continue;
        };
        let mut actions = f.feed(data).into_iter();
        while let Some(action) = actions.next() {
            let echo = f.echo(&action);
            let _ = std::io::stderr().write_all(echo.as_bytes());
            match action {
                Action::Send(b) => {
                    if writer.write_all(&b).await.is_err() {
                        return;
                    }
                }
                Action::Disconnect => {
                    let _ = events.send(Event::Disconnect);
                    return;
                }
                Action::Help => {}
                Action::Break => {
                    let _ = events.send(Event::Break);
                }
                Action::Rekey => {
                    let _ = events.send(Event::Rekey);
                }
                Action::Suspend => {
                    crate::terminal::suspend(raw.as_deref());
                    let _ = events.send(Event::Resized);
                }
                Action::Command => {
                    // What was typed after `~C` in the same read starts the line.
                    let mut typed = Vec::new();
                    for rest in actions.by_ref() {
                        if let Action::Send(b) = rest {
                            typed.extend(b);
                        }
                    }
                    let line = command_line(&mut input, typed, raw.as_deref()).await;
                    let _ = events.send(Event::Command(line));
                }
            }
        }
    }
    let _ = writer.shutdown().await;
}

/// ssh's `ssh> ` prompt: the terminal out of raw mode (the kernel echoes and edits the line),
/// Ctrl-C ignored meanwhile, the line read up to its end (`typed` holds what came already).
async fn command_line(
    input: &mut tokio::io::Stdin,
    mut typed: Vec<u8>,
    raw: Option<&RawMode>,
) -> String {
    if let Some(r) = raw {
        r.restore();
    }
    // As ssh: an interrupt does not end the session while the line is typed.
    let _ignore = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    let _ = std::io::stderr().write_all(b"\r\nssh> ");
    let mut byte = [0u8; 1];
    while !typed.iter().any(|b| *b == b'\n' || *b == b'\r') {
        match input.read(&mut byte).await {
            Ok(1) => typed.push(byte[0]),
            _ => break,
        }
    }
    if let Some(r) = raw {
        r.raw();
    }
    let end = typed
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .unwrap_or(typed.len());
    String::from_utf8_lossy(typed.get(..end).unwrap_or(&[])).into_owned()
}

/// Copies stdout and stderr; returns whether our standard output was closed by its reader.
async fn copy_outputs(ch: &mut Channel) -> bool {
    let mut stderr = ch.stderr();
    let err_copy = tokio::spawn(async move {
        let mut err = tokio::io::stderr();
        let r = tokio::io::copy(&mut stderr, &mut err).await;
        let _ = err.flush().await;
        r
    });
    let out_result = {
        let mut out = tokio::io::stdout();
        let r = tokio::io::copy(ch, &mut out).await;
        let _ = out.flush().await;
        r
    };
    // Our standard output closed (`nacre exec host yes | head -2`): nobody reads the rest, so
    // the channel is closed and the remote command ends (as ssh does), instead of waiting for
    // it for ever.
    let reader_gone = matches!(&out_result, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe);
    if reader_gone {
        let _ = ch.close();
    }
    // A stream that fails with the connection is reported later, with the connection's reason.
    let err_result = if reader_gone {
        match tokio::time::timeout(CLOSE_WAIT, err_copy).await {
            Ok(Ok(r)) => r,
            _ => Ok(0),
        }
    } else {
        err_copy.await.unwrap_or(Ok(0))
    };
    for r in [out_result, err_result] {
        if let Err(e) = r {
            tracing::debug!(error = %e, "copying the session's output");
        }
    }
    reader_gone
}

/// Runs the plan on a new session channel of `conn` (the SOCKS clients of the forwards served
/// meanwhile, `~C` adding and cancelling forwards); returns the exit code.
pub async fn run(
    opts: &ClientOptions,
    conn: &mut Connection,
    plan: &Plan,
    forwards: &mut Forwards,
) -> anyhow::Result<i32> {
    let Forwards { statics, dynamic } = forwards;
    let dynamic: &Dynamic = dynamic;
    let ch = opts.open_session(conn).await?;
    if plan.pty && !request_pty(&ch).await? && plan.pty_required {
        return Ok(255);
    }
    // A refused exec, shell or subsystem ends the session with 255, in ssh's words.
    let (what, started) = match &plan.command {
        Some(name) if plan.subsystem => {
            crate::status::command(format_args!("subsystem \"{name}\""));
            ("subsystem", ch.subsystem(name).await)
        }
        Some(command) => {
            crate::status::command(format_args!("exec \"{command}\""));
            ("exec", ch.exec(command).await)
        }
        None => {
            crate::status::command(if plan.pty {
                "shell (with a pty)"
            } else {
                "shell"
            });
            ("shell", ch.shell().await)
        }
    };
    match started {
        Ok(()) => {}
        Err(nacre::Error::Refused(_)) => {
            refused(what);
            return Ok(255);
        }
        Err(e) => return Err(e.into()),
    }
    let raw = (plan.pty && std::io::stdin().is_terminal()).then(|| Arc::new(RawMode::enter()));
    let (tx, mut events) = unbounded_channel();
    let escape = plan.escape.filter(|_| plan.pty);
    let stdin = if plan.stdin_null {
        let mut w = ch.writer();
        tokio::spawn(async move {
            let _ = w.shutdown().await;
        })
    } else {
        tokio::spawn(pump_stdin(ch.writer(), escape, raw.clone(), tx))
    };
    let resizer = ch.requester();
    let mut winch = if plan.pty {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
    } else {
        None
    };
    let keyboard = async {
        loop {
            let resized = async {
                match winch.as_mut() {
                    Some(w) => w.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(()) = resized => { let _ = resizer.send(window_change()); }
                ev = events.recv() => match ev {
                    Some(Event::Disconnect) => return,
                    Some(Event::Rekey) => { let _ = conn.rekey().await; }
                    Some(Event::Break) => { let _ = resizer.send(send_break()); }
                    Some(Event::Resized) => { let _ = resizer.send(window_change()); }
                    Some(Event::Command(line)) => {
                        let said = crate::cmdline::run(&line, conn, statics, dynamic).await;
                        let _ = std::io::stderr().write_all(said.as_bytes());
                    }
                    None => std::future::pending::<()>().await,
                },
            }
        }
    };
    let mut ch = ch;
    let (reader_gone, escaped) = tokio::select! {
        gone = copy_outputs(&mut ch) => (gone, false),
        () = keyboard => (false, true),
        () = dynamic.serve(conn) => (false, false),
    };
    stdin.abort();
    if let Some(r) = &raw {
        r.restore();
    }
    let code = if escaped {
        let _ = ch.close();
        255
    } else {
        exit_code(&ch, conn, opts, reader_gone).await
    };
    let _ = ch.close();
    if plan.pty && !plan.quiet {
        eprint!("Connection to {} closed.\r\n", opts.host_name);
    }
    Ok(code)
}

/// The exit code from the channel's exit status (or the connection's end).
async fn exit_code(
    ch: &Channel,
    conn: &mut Connection,
    opts: &ClientOptions,
    reader_gone: bool,
) -> i32 {
    let exit = if reader_gone {
        tokio::time::timeout(CLOSE_WAIT, ch.exit_status())
            .await
            .ok()
            .flatten()
    } else {
        ch.exit_status().await
    };
    crate::status::response(match &exit {
        Some(ExitStatus::Code(c)) => format!("exit status {c}"),
        Some(ExitStatus::Signal { name, .. }) => format!("killed by signal {name}"),
        None => "closed without an exit status".to_owned(),
    });
    match exit {
        Some(ExitStatus::Code(c)) => i32::try_from(c).unwrap_or(255),
        Some(ExitStatus::Signal { name, .. }) => {
            eprintln!(
                "remote command killed by signal {}",
                crate::visible::visible(name.as_bytes())
            );
            255
        }
        None => {
            report_close(conn, &opts.host_name, opts.port).await;
            255
        }
    }
}

/// `-N`: no session, the forwards only (the SOCKS clients of `dynamic` served), until the
/// connection ends or a signal: SIGTERM ends with 0, SIGINT with `Killed by signal 2.` and 255
/// (as ssh).
pub async fn no_command(
    opts: &ClientOptions,
    conn: &mut Connection,
    dynamic: &Dynamic,
) -> anyhow::Result<i32> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let ended = async {
        if !dynamic.is_empty() {
            dynamic.serve_while_open(conn).await;
        }
        conn.closed().await
    };
    tokio::select! {
        _ = term.recv() => Ok(0),
        _ = int.recv() => {
            eprintln!("Killed by signal 2.");
            Ok(255)
        }
        reason = ended => {
            let text = crate::visible::visible_text(&reason.to_string(), false);
            eprintln!("Connection to {} port {} closed: {text}", opts.host_name, opts.port);
            Ok(255)
        }
    }
}

/// After a channel ended without an exit status: when the connection ended too (the server
/// broke the protocol, disconnected, or the network failed), says why on stderr, as OpenSSH
/// names the cause; the reason may quote the server, so it is escaped.
pub async fn report_close(conn: &mut Connection, host: &str, port: u16) {
    let wait = std::time::Duration::from_secs(1);
    if let Ok(reason) = tokio::time::timeout(wait, conn.closed()).await {
        let text = crate::visible::visible_text(&reason.to_string(), false);
        crate::status::error(format_args!("connection closed: {text}"));
        eprintln!("Connection to {host} port {port} closed: {text}");
    }
}
