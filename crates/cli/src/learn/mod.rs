//! `nacre learn-adapter`: a state-learning mapper for SSH servers (issue 20, item 5).
//!
//! A learner (AALpy, LearnLib) talks to it over stdin/stdout, one line per query step: `RESET`
//! opens a new connection (answer `OK`, or `ERROR text`), an input symbol of the abstract
//! alphabet (`alphabet.rs`: KEXINIT, KEX_ECDH_INIT, NEWKEYS, SERVICE_REQUEST_AUTH, UA_PW_OK,
//! CH_OPEN, ...) sends that message and answers with the messages the server sent back, by name,
//! joined with `+` (`KEX_ECDH_REPLY+NEWKEYS`), or `NO_RESP`, `NO_CONN` (the connection is
//! closed), `CH_NONE`/`CH_MAX` (a channel input the mapper did not send). `ALPHABET` lists the
//! inputs, `QUIT` or the end of input ends. The mapper (`mapper.rs`) runs the real key exchange
//! and encrypts once keys are taken, whatever order the learner chooses. `--memory` talks to
//! nacre's own server session in memory, deterministically (`memory.rs`); otherwise to any server
//! over TCP, where "no response" means nothing for `--timeout` seconds. docs/LEARNING.md has the
//! protocol, the alphabet, the AALpy example and nacre serve's learned model.

mod alphabet;
mod exchange;
mod mapper;
mod memory;
mod peer;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nacre::keys::PrivateKey;

pub use alphabet::Input;
use mapper::{Mapper, Settings};
use memory::MemoryPeer;
use peer::{Peer, TcpPeer};

/// Arguments of `nacre learn-adapter`.
#[derive(clap::Args, Debug)]
pub struct LearnArgs {
    /// Talk to nacre's own server session in memory (deterministic; no network).
    #[arg(long, conflicts_with = "host")]
    memory: bool,
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 22)]
    port: u16,
    /// User of the UA_* inputs (default: learn).
    #[arg(long, short = 'l')]
    user: Option<String>,
    /// Password of UA_PW_OK (default: learn; also NACRE_PASSWORD).
    #[arg(long)]
    password: Option<String>,
    /// Private key of UA_PK_OK (default: a fixed Ed25519 key; in memory the server accepts it).
    #[arg(short = 'i')]
    identity: Option<PathBuf>,
    /// Seconds of silence that end a step over TCP.
    #[arg(long, default_value_t = 0.3)]
    timeout: f64,
    /// Do not announce strict kex in KEXINIT.
    #[arg(long)]
    no_strict_kex: bool,
    /// Seed of the mapper's (and in memory the server's) random source: with --memory every
    /// connection sends the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Server host name or address.
    #[arg(required_unless_present = "memory")]
    host: Option<String>,
}

/// The user, password and key of the UA_* inputs.
#[derive(Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password of UA_PW_OK.
    pub password: String,
    /// Key of UA_PK_OK.
    pub key: Arc<PrivateKey>,
}

/// Runs `nacre learn-adapter`.
pub async fn run(args: LearnArgs) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_blocking(&args)).await?
}

fn run_blocking(args: &LearnArgs) -> anyhow::Result<()> {
    let key = match &args.identity {
        Some(path) => {
            let pass = std::env::var("NACRE_PASSPHRASE").ok();
            crate::keygen::load_private(path, Some(pass.as_deref().unwrap_or("")))?
        }
        None => PrivateKey::from_ed25519_seed(&[9; 32]),
    };
    let creds = Credentials {
        user: args.user.clone().unwrap_or_else(|| "learn".into()),
        password: args
            .password
            .clone()
            .or_else(|| std::env::var("NACRE_PASSWORD").ok())
            .unwrap_or_else(|| "learn".into()),
        key: Arc::new(key),
    };
    let settings = Settings {
        creds: creds.clone(),
        strict_kex: !args.no_strict_kex,
        seed: args.memory.then_some(args.seed),
    };
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    if args.memory {
        serve_lines(
            Mapper::new(MemoryPeer::new(creds, args.seed), settings),
            stdin,
            stdout,
        )
    } else {
        let host = args.host.clone().unwrap_or_default();
        let quiet = Duration::from_secs_f64(args.timeout.clamp(0.01, 60.0));
        let peer = TcpPeer::new(&host, args.port, quiet);
        serve_lines(Mapper::new(peer, settings), stdin, stdout)
    }
}

/// The line protocol: one request per line, one answer line each.
fn serve_lines<P: Peer>(
    mut mapper: Mapper<P>,
    input: impl BufRead,
    mut out: impl Write,
) -> anyhow::Result<()> {
    for line in input.lines() {
        let line = line?;
        let request = line.trim();
        let answer = match request {
            "" => continue,
            "QUIT" => break,
            "RESET" => match mapper.reset() {
                Ok(()) => "OK".to_owned(),
                Err(e) => format!("ERROR {e}"),
            },
            "ALPHABET" => Input::ALL.map(Input::name).join(" "),
            symbol => match Input::parse(symbol) {
                Some(i) => mapper.step(i),
                None => format!("ERROR unknown input {symbol:?}"),
            },
        };
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}
