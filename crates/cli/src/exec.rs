//! `nacre exec`: run a command on a server with stdin, stdout and stderr streamed and the exit
//! status propagated, like `ssh host command`.

use anyhow::Context;
use nacre::ExitStatus;

use crate::client_opts::ConnectArgs;
use tokio::io::AsyncWriteExt;

/// Arguments of `nacre exec`.
#[derive(clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Local forward `[bind_address:]port:host:hostport` (repeatable), like ssh -L.
    #[arg(short = 'L')]
    local: Vec<String>,
    /// Remote forward `[bind_address:]port:host:hostport` (repeatable), like ssh -R.
    #[arg(short = 'R')]
    remote: Vec<String>,
    /// [user@]host
    destination: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// How long the command's end may take to be reported once our output is gone.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// `[bind_address:]port:host:hostport`.
fn forward_spec(spec: &str) -> anyhow::Result<(Option<String>, u16, String, u16)> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (bind, rest) = match parts.len() {
        3 => (None, parts.as_slice()),
        4 => (
            parts.first().map(|b| (*b).to_owned()),
            parts.get(1..).unwrap_or(&[]),
        ),
        _ => anyhow::bail!("bad forward {spec:?}: [bind_address:]port:host:hostport"),
    };
    match rest {
        [port, host, hostport] => Ok((
            bind,
            port.parse().context("port")?,
            (*host).to_owned(),
            hostport.parse().context("hostport")?,
        )),
        _ => anyhow::bail!("bad forward {spec:?}"),
    }
}

/// Runs `nacre exec`; returns the process exit code.
pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let opts = args.connect.client_options(&args.destination)?;
    let mut conn = opts.connect().await?;
    let mut forwards: (Vec<nacre::LocalForward>, Vec<nacre::RemoteForward>) =
        (Vec::new(), Vec::new());
    for spec in &args.local {
        let (bind, port, host, hostport) = forward_spec(spec)?;
        let addr: std::net::SocketAddr =
            format!("{}:{port}", bind.as_deref().unwrap_or("127.0.0.1"))
                .parse()
                .with_context(|| format!("-L {spec}"))?;
        forwards.0.push(
            conn.forward_local(addr, &host, hostport)
                .await
                .with_context(|| format!("-L {spec}"))?,
        );
    }
    for spec in &args.remote {
        let (bind, port, host, hostport) = forward_spec(spec)?;
        let bind = bind.unwrap_or_else(|| "localhost".to_owned());
        forwards.1.push(
            conn.forward_remote(&bind, u32::from(port), (&host, hostport))
                .await
                .with_context(|| format!("-R {spec}"))?,
        );
    }
    let ch = opts.open_session(&conn).await?;
    let command = args.command.join(" ");
    crate::status::command(format_args!("exec \"{command}\""));
    ch.exec(&command).await?;
    let mut stderr = ch.stderr();
    let mut writer = ch.writer();
    let stdin = tokio::spawn(async move {
        let mut input = tokio::io::stdin();
        let _ = tokio::io::copy(&mut input, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let mut ch = ch;
    let err_copy = tokio::spawn(async move {
        let mut err = tokio::io::stderr();
        let r = tokio::io::copy(&mut stderr, &mut err).await;
        let _ = err.flush().await;
        r
    });
    let out_result = {
        let mut out = tokio::io::stdout();
        let r = tokio::io::copy(&mut ch, &mut out).await;
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
    // A stream that fails with the connection is reported below, with the connection's reason.
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
            tracing::debug!(error = %e, "copying the command's output");
        }
    }
    stdin.abort();
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
    let code = match exit {
        Some(ExitStatus::Code(c)) => i32::try_from(c).unwrap_or(255),
        Some(ExitStatus::Signal { name, .. }) => {
            eprintln!(
                "remote command killed by signal {}",
                crate::visible::visible(name.as_bytes())
            );
            255
        }
        None => {
            report_close(&mut conn, &opts.host_name, opts.port).await;
            255
        }
    };
    let _ = ch.close();
    drop(forwards);
    Ok(code)
}

/// After a channel ended without an exit status: when the connection ended too (the server
/// broke the protocol, disconnected, or the network failed), says why on stderr, as OpenSSH
/// names the cause; the reason may quote the server, so it is escaped.
pub async fn report_close(conn: &mut nacre::Connection, host: &str, port: u16) {
    let wait = std::time::Duration::from_secs(1);
    if let Ok(reason) = tokio::time::timeout(wait, conn.closed()).await {
        let text = crate::visible::visible_text(&reason.to_string(), false);
        crate::status::error(format_args!("connection closed: {text}"));
        eprintln!("Connection to {host} port {port} closed: {text}");
    }
}
