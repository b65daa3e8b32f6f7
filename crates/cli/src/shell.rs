//! `nacre ssh`: an interactive shell, with a pseudo-terminal when standard input is a terminal
//! (raw mode locally, window size followed), like `ssh host`.

use std::io::IsTerminal;
use std::os::fd::AsFd;

use nacre::connection::RequestKind;
use nacre::ExitStatus;
use tokio::io::AsyncWriteExt;

use crate::client_opts::ConnectArgs;

/// Arguments of `nacre ssh`.
#[derive(clap::Args)]
pub struct SshArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Force a pseudo-terminal even when standard input is not a terminal.
    #[arg(short = 't')]
    force_tty: bool,
    /// [user@]host
    destination: String,
}

/// Restores the terminal's settings when dropped.
struct RawMode(Option<rustix::termios::Termios>);

impl RawMode {
    fn enter() -> Self {
        let stdin = std::io::stdin();
        let Ok(saved) = rustix::termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ =
            rustix::termios::tcsetattr(stdin.as_fd(), rustix::termios::OptionalActions::Now, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin().as_fd(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

fn window_size() -> (u32, u32) {
    match rustix::termios::tcgetwinsize(std::io::stdout().as_fd())
        .or_else(|_| rustix::termios::tcgetwinsize(std::io::stdin().as_fd()))
    {
        Ok(ws) if ws.ws_col > 0 => (u32::from(ws.ws_col), u32::from(ws.ws_row)),
        _ => (80, 24),
    }
}

/// Runs `nacre ssh`; returns the remote shell's exit code.
pub async fn run(args: SshArgs) -> anyhow::Result<i32> {
    let opts = args.connect.client_options(&args.destination)?;
    let mut conn = opts.connect().await?;
    let ch = opts.open_session(&conn).await?;
    let tty = args.force_tty || std::io::stdin().is_terminal();
    let _raw = if tty {
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
        if !ch.request(pty, true).await? {
            eprintln!("PTY allocation request failed");
        }
        std::io::stdin().is_terminal().then(RawMode::enter)
    } else {
        None
    };
    crate::status::command(if tty { "shell (with a pty)" } else { "shell" });
    ch.shell().await?;
    let mut writer = ch.writer();
    let stdin = tokio::spawn(async move {
        let mut input = tokio::io::stdin();
        let _ = tokio::io::copy(&mut input, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let resizer = ch.requester();
    let winch = if tty {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
    } else {
        None
    };
    let mut stderr = ch.stderr();
    let mut ch = ch;
    let copy_out = async {
        let mut out = tokio::io::stdout();
        let r = tokio::io::copy(&mut ch, &mut out).await;
        let _ = out.flush().await;
        r
    };
    let copy_err = async {
        let mut err = tokio::io::stderr();
        let r = tokio::io::copy(&mut stderr, &mut err).await;
        let _ = err.flush().await;
        r
    };
    let resize_loop = async {
        let Some(mut winch) = winch else {
            return std::future::pending::<()>().await;
        };
        while winch.recv().await.is_some() {
            let (cols, rows) = window_size();
            let _ = resizer.send(RequestKind::WindowChange {
                cols,
                rows,
                width_px: 0,
                height_px: 0,
            });
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        (a, b) = async { tokio::join!(copy_out, copy_err) } => {
            // A failure with the connection is reported below, with the connection's reason.
            for r in [a, b] {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "copying the shell's output");
                }
            }
        }
        () = resize_loop => {}
    }
    stdin.abort();
    drop(_raw);
    let code = match ch.exit_status().await {
        Some(ExitStatus::Code(c)) => i32::try_from(c).unwrap_or(255),
        Some(ExitStatus::Signal { name, .. }) => {
            eprintln!(
                "remote shell killed by signal {}",
                crate::visible::visible(name.as_bytes())
            );
            255
        }
        None => {
            crate::exec::report_close(&mut conn, &opts.host_name, opts.port).await;
            255
        }
    };
    let _ = ch.close();
    Ok(code)
}
