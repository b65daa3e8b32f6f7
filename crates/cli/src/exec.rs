//! `nacre exec`: run a command on a server with stdin, stdout and stderr streamed and the exit
//! status propagated, like `ssh host command`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use nacre::keys::PrivateKey;
use nacre::transport::Config;
use nacre::{
    known_hosts_verifier, AuthResult, ClientConfig, Connection, Credential, ExitStatus,
    UnknownHosts,
};
use tokio::io::AsyncWriteExt;

/// Arguments of `nacre exec`.
#[derive(clap::Args)]
pub struct ExecArgs {
    /// Server port.
    #[arg(short = 'p', default_value_t = 22)]
    port: u16,
    /// Identity files (repeatable); default ~/.ssh/id_ed25519, id_ecdsa, id_rsa when present.
    #[arg(short = 'i')]
    identities: Vec<PathBuf>,
    /// User name (else from user@host, else $USER).
    #[arg(short = 'l')]
    user: Option<String>,
    /// ssh options: StrictHostKeyChecking=yes|accept-new|no, UserKnownHostsFile=PATH, and the
    /// algorithm lists (KexAlgorithms, Ciphers, MACs, HostKeyAlgorithms).
    #[arg(short = 'o')]
    options: Vec<String>,
    /// [user@]host
    destination: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Splits the ssh-style options into host key settings and transport settings.
fn settings(args: &ExecArgs, config: &mut Config) -> anyhow::Result<(PathBuf, UnknownHosts, bool)> {
    let mut known_hosts = home().join(".ssh/known_hosts");
    let mut unknown = UnknownHosts::AcceptNew { hashed: false };
    let mut check = true;
    for o in &args.options {
        let (name, value) = o
            .split_once('=')
            .with_context(|| format!("option {o:?} is not Name=value"))?;
        match (name.to_ascii_lowercase().as_str(), value) {
            ("stricthostkeychecking", "yes") => unknown = UnknownHosts::Reject,
            ("stricthostkeychecking", "accept-new") => {
                unknown = UnknownHosts::AcceptNew { hashed: false }
            }
            ("stricthostkeychecking", "no") => check = false,
            ("userknownhostsfile", path) => known_hosts = PathBuf::from(path),
            _ => crate::options::apply(config, o)?,
        }
    }
    Ok((known_hosts, unknown, check))
}

fn credentials(args: &ExecArgs) -> Vec<Credential> {
    let mut out = Vec::new();
    if let Some(sock) = std::env::var_os("SSH_AUTH_SOCK") {
        out.push(Credential::Agent(PathBuf::from(sock)));
    }
    let files = if args.identities.is_empty() {
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|n| home().join(".ssh").join(n))
            .filter(|p| p.exists())
            .collect()
    } else {
        args.identities.clone()
    };
    for f in files {
        match std::fs::read(&f)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(PrivateKey::from_file_bytes(&b, None)?))
        {
            Ok(k) => out.push(Credential::Key(Arc::new(k))),
            Err(e) => tracing::warn!(file = %f.display(), error = %e, "skipping identity"),
        }
    }
    if let Ok(pw) = std::env::var("NACRE_PASSWORD") {
        out.push(Credential::Password(zeroize::Zeroizing::new(pw)));
    }
    out
}

/// Runs `nacre exec`; returns the process exit code.
pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let (user, host) = match args.destination.split_once('@') {
        Some((u, h)) => (u.to_owned(), h.to_owned()),
        None => (
            args.user
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "root".into()),
            args.destination.clone(),
        ),
    };
    let mut config = Config::client();
    let (known_hosts, unknown, check) = settings(&args, &mut config)?;
    let verify: nacre::HostKeyVerifier = if check {
        known_hosts_verifier(known_hosts, &host, args.port, unknown)
    } else {
        Arc::new(|_| true)
    };
    let mut conn = Connection::connect(
        (host.as_str(), args.port),
        ClientConfig {
            transport: Arc::new(config),
            verify_host_key: verify,
        },
    )
    .await
    .with_context(|| format!("connecting to {host}:{}", args.port))?;
    let creds = credentials(&args);
    if conn.authenticate(&user, &creds).await? != AuthResult::Success {
        bail!(
            "{user}@{host}: permission denied ({})",
            conn.allowed_methods().unwrap_or_default().join(",")
        );
    }
    let ch = conn.open_session().await?;
    ch.exec(&args.command.join(" ")).await?;
    let mut stderr = ch.stderr();
    let mut writer = ch.writer();
    let stdin = tokio::spawn(async move {
        let mut input = tokio::io::stdin();
        let _ = tokio::io::copy(&mut input, &mut writer).await;
        let _ = writer.shutdown().await;
    });
    let mut ch = ch;
    let (a, b) = tokio::join!(
        async {
            let mut out = tokio::io::stdout();
            let r = tokio::io::copy(&mut ch, &mut out).await;
            let _ = out.flush().await;
            r
        },
        async {
            let mut err = tokio::io::stderr();
            let r = tokio::io::copy(&mut stderr, &mut err).await;
            let _ = err.flush().await;
            r
        }
    );
    a?;
    b?;
    stdin.abort();
    let code = match ch.exit_status().await {
        Some(ExitStatus::Code(c)) => i32::try_from(c).unwrap_or(255),
        Some(ExitStatus::Signal { name, .. }) => {
            eprintln!("remote command killed by signal {name}");
            255
        }
        None => 255,
    };
    let _ = ch.close();
    Ok(code)
}
