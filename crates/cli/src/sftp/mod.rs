//! `nacre sftp`: an SFTP client with OpenSSH's flags and commands, interactive (line editing,
//! history, completion, Ctrl-C cancelling a command) or from a batch file.

mod bwlimit;
mod commands;
mod editor;
mod glob;
mod listing;
mod local;
mod paths;
mod progress;
mod stripes;
mod transfer;

use std::path::PathBuf;

use anyhow::Context;

use crate::client_opts::ClientOptions;
use commands::{Session, Settings};

/// Arguments of `nacre sftp`.
#[derive(clap::Args)]
pub struct SftpArgs {
    /// Server port.
    #[arg(short = 'P')]
    port: Option<u16>,
    /// Identity files (repeatable).
    #[arg(short = 'i')]
    identities: Vec<PathBuf>,
    /// Batch file of commands ('-' for standard input); a command starting with '-' may fail.
    /// Implies BatchMode=yes (no questions on the terminal) and no progress meter.
    #[arg(short = 'b')]
    batch: Option<PathBuf>,
    /// ssh options (see `nacre exec --help`).
    #[arg(short = 'o')]
    options: Vec<String>,
    /// ssh config file.
    #[arg(short = 'F')]
    config: Option<PathBuf>,
    /// Jump host.
    #[arg(short = 'J')]
    jump: Option<String>,
    /// Recursive get and put by default.
    #[arg(short = 'r')]
    recursive: bool,
    /// Keep modification times, access times and modes of transferred files (get/put -p).
    #[arg(short = 'p')]
    preserve: bool,
    /// Resume transfers: get and put keep what the destination holds and send the rest (as
    /// reget/reput).
    #[arg(short = 'a')]
    resume: bool,
    /// Flush every downloaded file to disk when it is complete (as get -f; OpenSSH's sftp -f).
    #[arg(short = 'f')]
    fsync: bool,
    /// Limit the bandwidth of the session to this many Kbit/s (each direction, every byte of
    /// the SFTP stream counted, as OpenSSH's sftp).
    #[arg(short = 'l', value_parser = bwlimit::parse_limit)]
    limit: Option<u64>,
    /// Quiet: no progress meter, no `Fetching`/`Uploading` lines.
    #[arg(short = 'q')]
    quiet: bool,
    /// Not quiet: the `Fetching`/`Uploading` lines even with `-b` or `-q` (no progress meter).
    #[arg(short = 'N')]
    noisy: bool,
    /// -4, -6, -C, -c as ssh's.
    #[command(flatten)]
    shorthands: crate::shorthands::Shorthands,
    /// A file whose first line is the password (else NACRE_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// The most SFTP sessions a large put (64 MiB or more) uses at once when the server's
    /// channel window holds one session below 128 MiB/s over this path (sshd's 2 MiB over a
    /// long round trip); 1: one session, as OpenSSH's sftp.
    #[arg(long, default_value_t = stripes::DEFAULT_SESSIONS, value_parser = clap::value_parser!(u8).range(1..=64))]
    stripes: u8,
    /// `[user@]host[:path]` or `sftp://[user@]host[:port][/path]`: a folder path is where the
    /// session starts, a file is fetched (into the local path when given) and the program ends.
    destination: String,
    /// Where `host:file` is fetched to.
    local: Option<PathBuf>,
}

/// The connection ended under the session: OpenSSH's sftp says `Connection closed` and exits
/// with 255.
#[derive(Debug)]
pub struct Lost(pub String);

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Connection closed ({})", self.0)
    }
}

impl std::error::Error for Lost {}

/// Where to connect and what to open: from `[user@]host[:path]` or an `sftp://` URL.
#[derive(Debug, PartialEq, Eq)]
struct Destination {
    /// `[user@]host` as `ClientOptions::load` takes it.
    target: String,
    port: Option<u16>,
    path: Option<String>,
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: String = bytes.by_ref().take(2).map(char::from).collect();
            let v = u8::from_str_radix(&hex, 16).context("bad %-escape in the URL")?;
            out.push(v);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).context("the URL is not UTF-8")
}

/// OpenSSH's `parse_uri` then `parse_user_host_path`: a URL's path is relative to the login
/// folder (`sftp://host//abs` for an absolute one), user parameters after `;` are ignored.
fn destination(text: &str) -> anyhow::Result<Destination> {
    if let Some(rest) = text.strip_prefix("sftp://") {
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.split(';').next().unwrap_or(u)), h),
            None => (None, authority),
        };
        let (host, port) = split_port(hostport)?;
        let host = percent_decode(host)?;
        let target = match user {
            Some(u) => format!("{}@{host}", percent_decode(u)?),
            None => host,
        };
        let path = path
            .filter(|p| !p.is_empty())
            .map(percent_decode)
            .transpose()?;
        return Ok(Destination { target, port, path });
    }
    let (user, rest) = match text.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, text),
    };
    let (host, path) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, after) = inner.split_once(']').context("unmatched [ in the host")?;
        (h.to_owned(), after.strip_prefix(':').map(str::to_owned))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
            None => (rest.to_owned(), None),
        }
    };
    let target = match user {
        Some(u) => format!("{u}@{host}"),
        None => host,
    };
    let path = path.filter(|p| !p.is_empty());
    Ok(Destination {
        target,
        port: None,
        path,
    })
}

/// `host:port` or `[v6]:port` of a URL's authority.
fn split_port(s: &str) -> anyhow::Result<(&str, Option<u16>)> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (h, after) = inner.split_once(']').context("unmatched [ in the URL")?;
        (h, after.strip_prefix(':'))
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = port
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u16>().context("bad port in the URL"))
        .transpose()?;
    Ok((host, port))
}

/// Runs `nacre sftp`; returns the exit code (1 when a batch command failed, 255 when the
/// connection was lost).
pub async fn run(args: SftpArgs) -> anyhow::Result<i32> {
    let dest = destination(&args.destination)?;
    let mut options = args.shorthands.options();
    options.extend(args.options.iter().cloned());
    if let Some(j) = &args.jump {
        options.push(format!("ProxyJump={j}"));
    }
    if args.batch.is_some() {
        options.push("BatchMode=yes".to_owned());
    }
    let mut opts = ClientOptions::load(
        &dest.target,
        dest.port.or(args.port),
        None,
        &options,
        &args.identities,
        args.config.as_deref(),
    )?;
    if let Some(f) = &args.password_file {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        opts.password_text = Some(text.lines().next().unwrap_or("").to_owned());
    }
    let script = match &args.batch {
        Some(path) if path.as_os_str() == "-" => Some(std::io::read_to_string(std::io::stdin())?),
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("{} ({})", "No such file or directory", path.display()))?,
        ),
        None => None,
    };
    // The sftp subsystem is a remote command for UpdateHostKeys (no `ask`, as ssh for sftp).
    opts.remote_command = true;
    let mut conn = opts.connect().await?;
    let config = nacre_sftp::ClientConfig {
        request_timeout: opts.request_timeout,
        // As OpenSSH's sftp: a download is flushed to disk only with -f (asked per download).
        sync_downloads: false,
        ..nacre_sftp::ClientConfig::default()
    };
    let channel = conn.open_session().await?;
    channel.subsystem("sftp").await?;
    let (client, stripes) = match args.limit {
        Some(kbit) => {
            let writer = bwlimit::LimitedSink::new(channel.writer(), kbit);
            let reader = bwlimit::LimitedSource::new(channel, kbit);
            (
                nacre_sftp::SftpClient::new(reader, writer, config).await?,
                None,
            )
        }
        None => {
            // Large puts over a long path may go over more sessions (not under a limit).
            let stripes =
                stripes::Stripes::new(conn.opener(), config.clone(), channel.id(), args.stripes);
            let writer = channel.writer();
            let client = nacre_sftp::SftpClient::new(channel, writer, config).await?;
            (client, Some(stripes))
        }
    };
    let interactive = script.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin());
    let settings = Settings {
        recursive: args.recursive,
        preserve: args.preserve,
        resume: args.resume,
        fsync: args.fsync,
        progress: script.is_none() && !args.quiet,
        quiet: (script.is_some() || args.quiet) && !args.noisy,
        stripes,
    };
    let mut session = Session::new(client, settings).await?;
    let code = {
        let mut closed = Box::pin(conn.closed());
        let outcome = async {
            if let Some(path) = &dest.path {
                if let Some(code) = start_path(&mut session, path, args.local.as_deref()).await? {
                    return Ok(code);
                }
            }
            match &script {
                Some(text) => session.batch(text, true).await,
                None if interactive => editor::interactive(&mut session, &mut closed).await,
                None => {
                    let text = std::io::read_to_string(std::io::stdin())?;
                    session.batch(&text, false).await
                }
            }
        };
        outcome.await
    };
    match code {
        Ok(code) => {
            // As OpenSSH's sftp at `bye`: the channel closes, then the connection ends with a
            // DISCONNECT the server reads (not a dropped TCP connection).
            drop(session);
            crate::update_host_keys::settle().await;
            // The channel's CLOSE (sent as the client drops) goes out before the DISCONNECT.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let bye = conn.disconnect(
                nacre::wire::DisconnectReason::BY_APPLICATION,
                "disconnected by user",
            );
            let _ = tokio::time::timeout(std::time::Duration::from_secs(3), bye).await;
            Ok(code)
        }
        Err(e) if commands::connection_lost(&e) => {
            // As OpenSSH's sftp.
            eprint!("\rConnection closed.  \n");
            Ok(255)
        }
        Err(e) => Err(e),
    }
}

/// `host:path`: `cd` there when it is a folder (and no local path is given), else `get` it and
/// end (`Some(exit code)`).
async fn start_path(
    session: &mut Session,
    path: &str,
    local: Option<&std::path::Path>,
) -> anyhow::Result<Option<i32>> {
    let quoted = format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""));
    if local.is_none() && session.remote_is_dir(path).await {
        let dir = session.remote(path);
        println!("Changing to: {}", crate::visible::visible(dir.as_bytes()));
        session.execute(&format!("cd {quoted}")).await?;
        return Ok(None);
    }
    let dst = local.map_or_else(String::new, |l| {
        let l = l.to_string_lossy();
        format!(" \"{}\"", l.replace('\\', "\\\\").replace('"', "\\\""))
    });
    match session.execute(&format!("get {quoted}{dst}")).await {
        Ok(_) => Ok(Some(0)),
        Err(e) if commands::connection_lost(&e) => Err(e),
        Err(e) => {
            commands::report(&e);
            Ok(Some(1))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn destinations_as_openssh_parses_them() {
        let d = destination("sftp://bob;fingerprint=x@example.com:2200/dir/f%20g").unwrap();
        assert_eq!(
            d,
            Destination {
                target: "bob@example.com".into(),
                port: Some(2200),
                path: Some("dir/f g".into())
            }
        );
        let d = destination("sftp://[::1]").unwrap();
        assert_eq!((d.target.as_str(), d.port, d.path), ("::1", None, None));
        let d = destination("alice@host:/var/log").unwrap();
        assert_eq!(
            (d.target.as_str(), d.path.as_deref()),
            ("alice@host", Some("/var/log"))
        );
        let d = destination("host:").unwrap();
        assert_eq!((d.target.as_str(), d.path), ("host", None));
        let d = destination("u@[fe80::1]:x").unwrap();
        assert_eq!(
            (d.target.as_str(), d.path.as_deref()),
            ("u@fe80::1", Some("x"))
        );
    }
}
