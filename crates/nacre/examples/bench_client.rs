//! nacre's client side of `scripts/bench`: SFTP get and put of one file, logins per second, and idle
//! authenticated sessions held open while the script measures the server's memory.
//!
//! ```text
//! bench_client COMMON get REMOTE LOCAL      connect, authenticate, download, disconnect
//! bench_client COMMON put LOCAL REMOTE      connect, authenticate, upload, disconnect
//! bench_client COMMON logins N CONCURRENCY  N times: connect, kex, public-key auth, exec `true`
//! bench_client COMMON idle N CONCURRENCY    open N authenticated connections, print `ready N`, hold them
//!                                           until standard input closes (or a line arrives)
//! COMMON: --port P --user U --key PRIVATE_KEY --host-key PUB_FILE (repeatable: the only keys trusted)
//!         [--cipher NAME] [--kex NAME] [--host-key-algorithm NAME]
//!         [--request-len BYTES] [--in-flight N]   (SFTP client settings; default 255 KiB, 64)
//! ```
//! Each command prints one line `RESULT key=value ...` (bytes, seconds, MiB/s, logins/s).
//!
//! Build with `cargo build --release -p nacre --example bench_client`.

use std::error::Error;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use nacre::crypto::CipherAlg;
use nacre::keys::{PrivateKey, PublicKey, SignatureAlgorithm};
use nacre::transport::{Config, KexMethod};
use nacre::wire::DisconnectReason;
use nacre::{AuthResult, ClientConfig, Connection, ExitStatus};

type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

struct Common {
    port: u16,
    user: String,
    key: Arc<PrivateKey>,
    config: ClientConfig,
    sftp: nacre_sftp::ClientConfig,
}

fn usage() -> Box<dyn Error + Send + Sync> {
    "usage: bench_client --port P --user U --key KEY --host-key PUB [--cipher C] [--kex K] \
     [--host-key-algorithm A] (get REMOTE LOCAL | put LOCAL REMOTE | logins N CONCURRENCY | \
     idle N CONCURRENCY)"
        .into()
}

fn parse(args: &[String]) -> Res<(Common, Vec<String>)> {
    let mut port = None;
    let mut user = None;
    let mut key = None;
    let mut host_keys = Vec::new();
    let mut config = Config::client();
    let mut rest = Vec::new();
    let mut sftp = nacre_sftp::ClientConfig::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(usage);
        match a.as_str() {
            "--port" => port = Some(value()?.parse::<u16>()?),
            "--user" => user = Some(value()?),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--host-key" => {
                let text = std::fs::read_to_string(value()?)?;
                host_keys.push(PublicKey::from_openssh_line(text.trim())?.0);
            }
            "--cipher" => {
                let name = value()?;
                let c = CipherAlg::from_name(&name).ok_or(format!("unknown cipher {name}"))?;
                config.algorithms.cipher = vec![c];
            }
            "--kex" => {
                let name = value()?;
                let k = KexMethod::from_name(&name).ok_or(format!("unknown kex {name}"))?;
                config.algorithms.kex = vec![k];
            }
            "--request-len" => sftp.max_request_len = value()?.parse()?,
            "--in-flight" => sftp.max_in_flight = value()?.parse()?,
            "--host-key-algorithm" => {
                let name = value()?;
                let h = SignatureAlgorithm::from_name(&name)
                    .ok_or(format!("unknown host key algorithm {name}"))?;
                config.algorithms.host_key = vec![h];
            }
            _ => rest.push(a.clone()),
        }
    }
    let key_text = std::fs::read(key.ok_or_else(usage)?)?;
    let common = Common {
        port: port.ok_or_else(usage)?,
        user: user.ok_or_else(usage)?,
        key: Arc::new(PrivateKey::from_openssh(&key_text)?),
        config: ClientConfig {
            transport: Arc::new(config),
            verify_host_key: Arc::new(move |k: &PublicKey| host_keys.contains(k)),
        },
        sftp,
    };
    Ok((common, rest))
}

async fn login(c: &Common) -> Res<Connection> {
    let mut conn = Connection::connect(("127.0.0.1", c.port), c.config.clone()).await?;
    match conn.authenticate_publickey(&c.user, &c.key).await? {
        AuthResult::Success => Ok(conn),
        other => Err(format!("authentication failed: {other:?}").into()),
    }
}

async fn bye(conn: Connection) {
    conn.disconnect(DisconnectReason::BY_APPLICATION, "done")
        .await;
}

fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9)
}

async fn transfer(c: &Common, get: bool, from: &str, to: &str) -> Res<()> {
    let start = Instant::now();
    let conn = login(c).await?;
    let sftp = conn.sftp_with(c.sftp.clone()).await?;
    let bytes = if get {
        sftp.download(from, to).await?
    } else {
        sftp.upload(from, to).await?
    };
    drop(sftp);
    bye(conn).await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT bytes={bytes} seconds={secs:.3} mib_s={:.1}",
        mib_per_s(bytes, secs)
    );
    Ok(())
}

async fn one_login(c: &Common) -> Res<()> {
    let conn = login(c).await?;
    let out = conn.exec("true").await?;
    if out.status != Some(ExitStatus::Code(0)) {
        return Err(format!("`true` ended with {:?}", out.status).into());
    }
    bye(conn).await;
    Ok(())
}

async fn logins(c: Arc<Common>, n: usize, concurrency: usize) -> Res<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (c, next) = (c.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                one_login(&c).await?;
            }
            Res::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT logins={n} concurrency={concurrency} seconds={secs:.3} logins_s={:.1}",
        n as f64 / secs.max(1e-9)
    );
    Ok(())
}

async fn idle(c: Arc<Common>, n: usize, concurrency: usize) -> Res<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (c, next) = (c.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut held = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                held.push(login(&c).await?);
            }
            Res::Ok(held)
        }));
    }
    let mut held = Vec::new();
    for t in tasks {
        held.extend(t.await??);
    }
    println!(
        "RESULT sessions={} seconds={:.3}",
        held.len(),
        start.elapsed().as_secs_f64()
    );
    println!("ready {}", held.len());
    // Hold them until the script says so (a line, or standard input closed).
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
    drop(held);
    Ok(())
}

async fn run(args: Vec<String>) -> Res<()> {
    let (c, rest) = parse(&args)?;
    let c = Arc::new(c);
    let arg = |i: usize| rest.get(i).cloned().ok_or_else(usage);
    match arg(0)?.as_str() {
        "get" => transfer(&c, true, &arg(1)?, &arg(2)?).await,
        "put" => transfer(&c, false, &arg(1)?, &arg(2)?).await,
        "logins" => logins(c.clone(), arg(1)?.parse()?, arg(2)?.parse()?).await,
        "idle" => idle(c.clone(), arg(1)?.parse()?, arg(2)?.parse()?).await,
        _ => Err(usage()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A transfer is one connection: one thread keeps its tasks on one core (as `nacre sftp`).
    // Logins and idle sessions are many connections at once: all cores.
    let many = args.iter().any(|a| a == "logins" || a == "idle");
    let runtime = if many {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        eprintln!("bench_client: {e}");
        std::process::exit(1);
    }
}
