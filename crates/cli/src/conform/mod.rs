//! `nacre conform ssh|sftp`: clause-by-clause conformance checks against any SSH server (issue 20).
//!
//! Each check is named, cites the clause it tests and ends PASS (the server did what the clause
//! asks), FAIL (it did not) or INFO (the clause leaves a choice, or the check could not run);
//! every outcome says what was sent and what came back. One file per check family:
//! `ident.rs` (identification strings), `kexinit.rs` (KEXINIT and ext-info), `strict.rs`
//! (strict kex), `states.rs` (message numbers in the wrong state), `packets.rs` (binary packet
//! violations), `auth.rs` (user authentication), `channels.rs` (windows, requests, rekey) and
//! `sftp/` (the SFTP suite). `raw.rs` speaks plaintext packets byte by byte (everything before
//! NEWKEYS), `client.rs` drives nacre's sans-IO `Transport` over a blocking TCP socket for
//! everything after it. docs/CONFORMANCE.md has the results against real servers.

mod auth;
mod channels;
pub(crate) mod client;
mod ident;
mod kexinit;
mod listen;
mod listen_auth;
mod packets;
pub(crate) mod raw;
mod report;
mod sftp;
mod states;
mod strict;

use std::path::PathBuf;
use std::time::Duration;

pub use report::{Outcome, Verdict};

/// Arguments of `nacre conform`.
#[derive(clap::Args)]
pub struct ConformArgs {
    #[command(subcommand)]
    suite: Suite,
}

#[derive(clap::Subcommand)]
enum Suite {
    /// SSH transport, authentication and connection checks (RFC 4253/4252/4254/8308, strict kex).
    Ssh(SshArgs),
    /// SFTP v3 and OpenSSH extension checks, inside a scratch folder the suite creates and removes.
    Sftp(sftp::SftpArgs),
}

/// Output options shared by both suites.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct OutputArgs {
    /// Print JSON (one object: target, checks, counts).
    #[arg(long)]
    pub json: bool,
    /// Also write the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Exit with status 1 when a check fails.
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of `nacre conform ssh`.
#[derive(clap::Args, Clone, Debug)]
pub struct SshArgs {
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 22)]
    pub port: u16,
    /// User for the authentication and connection checks (without credentials they are INFO).
    #[arg(long, short = 'l')]
    pub user: Option<String>,
    /// The user's password.
    #[arg(long)]
    pub password: Option<String>,
    /// A file whose first line is the password.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// The user's private key (unencrypted or with NACRE_PASSPHRASE).
    #[arg(short = 'i')]
    pub identity: Option<PathBuf>,
    /// Seconds to wait for each reaction of the server.
    #[arg(long, default_value_t = 2.0)]
    pub timeout: f64,
    /// Run only the checks whose name contains this text (repeatable).
    #[arg(long = "only")]
    pub only: Vec<String>,
    /// Output formats.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The role reversed: wait for a client on ADDR (e.g. 127.0.0.1:2223) and check it; it connects
    /// twice (handshake, then authentication, connection layer and framing).
    #[arg(long, value_name = "ADDR", conflicts_with = "host")]
    pub listen: Option<String>,
    /// Server host name or address.
    #[arg(required_unless_present = "listen")]
    pub host: Option<String>,
}

/// Where the checks connect and with what.
#[derive(Clone)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name, if any.
    pub user: Option<String>,
    /// Password, if any.
    pub password: Option<String>,
    /// Private key, if any.
    pub key: Option<std::sync::Arc<nacre::keys::PrivateKey>>,
    /// How long to wait for one reaction.
    pub timeout: Duration,
    /// Run only checks whose name contains one of these (all when empty).
    pub only: Vec<String>,
}

impl Target {
    /// `host:port` for messages.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Whether the check `name` is selected by `--only`.
    pub fn wants(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| name.contains(o.as_str()))
    }

    /// Whether the authentication-dependent checks can log in.
    pub fn has_credentials(&self) -> bool {
        self.user.is_some() && (self.password.is_some() || self.key.is_some())
    }
}

/// Runs `nacre conform`.
pub async fn run(args: ConformArgs) -> anyhow::Result<()> {
    match args.suite {
        Suite::Ssh(a) if a.listen.is_some() => {
            let addr = a.listen.clone().unwrap_or_default();
            let timeout = Duration::from_secs_f64(a.timeout.clamp(0.1, 60.0));
            let at = addr.clone();
            let outcomes = tokio::task::spawn_blocking(move || listen::run(&at, timeout)).await??;
            report::emit(&format!("client on {addr}"), &outcomes, &a.output)
        }
        Suite::Ssh(a) => {
            let output = a.output.clone();
            let target = ssh_target(&a)?;
            let only = a.only.clone();
            let name = format!("ssh {}", target.addr());
            let outcomes = tokio::task::spawn_blocking(move || run_ssh(&target, &only)).await?;
            report::emit(&name, &outcomes, &output)
        }
        Suite::Sftp(a) => sftp::run(a).await,
    }
}

fn ssh_target(a: &SshArgs) -> anyhow::Result<Target> {
    let password = match (&a.password, &a.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        ),
        (None, None) => std::env::var("NACRE_PASSWORD").ok(),
    };
    let key = match &a.identity {
        Some(path) => {
            let pass = std::env::var("NACRE_PASSPHRASE").ok();
            Some(std::sync::Arc::new(crate::keygen::load_private(
                path,
                Some(pass.as_deref().unwrap_or("")),
            )?))
        }
        None => None,
    };
    Ok(Target {
        host: a.host.clone().unwrap_or_default(),
        port: a.port,
        user: a.user.clone(),
        password,
        key,
        timeout: Duration::from_secs_f64(a.timeout.clamp(0.1, 60.0)),
        only: a.only.clone(),
    })
}

/// A family of checks: every outcome it produces for a target.
type Family = fn(&Target) -> Vec<Outcome>;

/// Every check of the SSH suite, in order, filtered by `only` (names containing one of them).
pub fn run_ssh(target: &Target, only: &[String]) -> Vec<Outcome> {
    // Each family with the prefixes of its check names.
    let families: [(&[&str], Family); 8] = [
        (&["ident"], ident::checks),
        (&["kexinit"], kexinit::checks),
        (&["strict"], strict::checks),
        (&["packet"], packets::checks),
        (&["state"], states::checks),
        (&["auth"], auth::checks),
        (&["channel", "global"], channels::checks),
        (&["ext-info"], kexinit::ext_info_checks),
    ];
    let mut all = Vec::new();
    for (prefixes, run) in families {
        let selected = only.is_empty()
            || only.iter().any(|o| {
                prefixes
                    .iter()
                    .any(|p| p.starts_with(o.as_str()) || o.starts_with(p))
            });
        if !selected {
            continue;
        }
        for outcome in run(target) {
            if target.wants(&outcome.name) {
                all.push(outcome);
            }
        }
    }
    all
}
