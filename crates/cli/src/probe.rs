//! `nacre probe`: what a server offers — banner, every KEXINIT list, each host key with its
//! fingerprint, strict kex and ext-info support, server-sig-algs, authentication methods for a
//! user, a Terrapin verdict and weak-algorithm flags — as text or JSON.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use nacre::keys::{PublicKey, SignatureAlgorithm};
use nacre::transport::{Algorithms, Config, PeerAlgorithms, Transport};
use nacre::{ClientConfig, Connection};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::status;

/// Arguments of `nacre probe`.
#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 22)]
    port: u16,
    /// Also list the authentication methods offered to this user.
    #[arg(long)]
    user: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// ssh options: KexAlgorithms, Ciphers, MACs, HostKeyAlgorithms (what the probe offers;
    /// default: every algorithm nacre knows), Port, User, ConnectTimeout.
    #[arg(short = 'o')]
    options: Vec<String>,
    /// Server host name or address.
    host: String,
}

#[derive(Serialize, Default)]
struct HostKeyReport {
    algorithm: String,
    key_type: String,
    fingerprint: String,
}

#[derive(Serialize, Default)]
struct Report {
    banner: String,
    kex_algorithms: Vec<String>,
    host_key_algorithms: Vec<String>,
    ciphers_c2s: Vec<String>,
    ciphers_s2c: Vec<String>,
    macs_c2s: Vec<String>,
    macs_s2c: Vec<String>,
    compression_c2s: Vec<String>,
    compression_s2c: Vec<String>,
    strict_kex: bool,
    ext_info: bool,
    server_sig_algs: Option<Vec<String>>,
    host_keys: Vec<HostKeyReport>,
    auth_methods: Option<Vec<String>>,
    terrapin_vulnerable: bool,
    weak_algorithms: Vec<String>,
}

/// What the probe offers and where it connects, after `-o`.
struct Probe {
    host: String,
    port: u16,
    user: Option<String>,
    config: Config,
    timeout: std::time::Duration,
}

impl Probe {
    fn new(args: &ProbeArgs) -> anyhow::Result<Probe> {
        let mut config = Config::client();
        config.algorithms = Algorithms::all();
        let mut probe = Probe {
            host: args.host.clone(),
            port: args.port,
            user: args.user.clone(),
            config,
            timeout: std::time::Duration::from_secs(20),
        };
        for o in &args.options {
            let (name, value) = o
                .split_once('=')
                .with_context(|| format!("option {o:?} is not Name=value"))?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "port" => probe.port = value.parse().context("Port")?,
                "user" => probe.user = Some(value.to_owned()),
                "hostname" => probe.host = value.to_owned(),
                "connecttimeout" => {
                    probe.timeout =
                        std::time::Duration::from_secs(value.parse().context("ConnectTimeout")?)
                }
                _ => crate::options::apply(&mut probe.config, o)?,
            }
        }
        Ok(probe)
    }
}

/// Reads the server's banner and first KEXINIT with a bare transport (works even when no
/// algorithm is in common).
async fn first_kexinit(probe: &Probe) -> anyhow::Result<(String, PeerAlgorithms)> {
    let (host, port) = (probe.host.as_str(), probe.port);
    let mut stream = tokio::time::timeout(probe.timeout, TcpStream::connect((host, port)))
        .await
        .context("connect timeout")?
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let mut t = Transport::client(
        Arc::new(probe.config.clone()),
        Box::new(nacre::crypto::SystemRng),
        std::time::Instant::now(),
    );
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + probe.timeout;
    loop {
        t.poll_transmit(&mut out);
        if !out.is_empty() {
            stream.write_all(&out).await?;
            out.clear();
        }
        if let (Some(id), Some(algs)) = (t.peer_identification(), t.peer_algorithms()) {
            return Ok((String::from_utf8_lossy(&id.line).into_owned(), algs.clone()));
        }
        if let Some(e) = t.close_reason() {
            anyhow::bail!("the server closed before its KEXINIT: {e}");
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .context("timed out")??;
        if n == 0 {
            anyhow::bail!("connection closed before the server's KEXINIT");
        }
        t.handle_input(buf.get(..n).unwrap_or(&[]));
    }
}

/// Connects with only `alg` as host key algorithm and returns the key the server proved.
async fn host_key(probe: &Probe, alg: SignatureAlgorithm) -> Option<(PublicKey, Connection)> {
    let mut config = probe.config.clone();
    config.algorithms.host_key = vec![alg];
    let seen: Arc<Mutex<Option<PublicKey>>> = Arc::default();
    let record = seen.clone();
    // A probe only reports the key: it sends no secret, so it goes on past verification.
    let verify = Arc::new(move |k: &PublicKey| {
        if let Ok(mut s) = record.lock() {
            *s = Some(k.clone());
        }
        true
    });
    let connect = Connection::connect(
        (probe.host.as_str(), probe.port),
        ClientConfig {
            transport: Arc::new(config),
            verify_host_key: verify,
        },
    );
    let conn = tokio::time::timeout(probe.timeout, connect)
        .await
        .ok()?
        .ok()?;
    let key = seen.lock().ok()?.clone()?;
    Some((key, conn))
}

fn weak(name: &str) -> bool {
    const WEAK: &[&str] = &[
        "sha1", "md5", "-cbc", "3des", "arcfour", "blowfish", "cast128", "umac-64", "-96",
        "ssh-dss", "group1-",
    ];
    name == "ssh-rsa" || WEAK.iter().any(|w| name.contains(w))
}

fn build_report(banner: String, algs: &PeerAlgorithms) -> Report {
    let all: Vec<&String> = algs
        .kex
        .iter()
        .chain(&algs.host_key)
        .chain(&algs.cipher_c2s)
        .chain(&algs.mac_c2s)
        .collect();
    let mut weak_algorithms: Vec<String> = all.into_iter().filter(|n| weak(n)).cloned().collect();
    weak_algorithms.dedup();
    let strict_kex = algs.kex.iter().any(|k| k == "kex-strict-s-v00@openssh.com");
    let ciphers = algs.cipher_c2s.iter().chain(&algs.cipher_s2c);
    let chacha = ciphers
        .clone()
        .any(|c| c == "chacha20-poly1305@openssh.com");
    let cbc_etm = ciphers.clone().any(|c| c.ends_with("-cbc"))
        && algs
            .mac_c2s
            .iter()
            .chain(&algs.mac_s2c)
            .any(|m| m.contains("-etm@"));
    Report {
        banner,
        kex_algorithms: algs.kex.clone(),
        host_key_algorithms: algs.host_key.clone(),
        ciphers_c2s: algs.cipher_c2s.clone(),
        ciphers_s2c: algs.cipher_s2c.clone(),
        macs_c2s: algs.mac_c2s.clone(),
        macs_s2c: algs.mac_s2c.clone(),
        compression_c2s: algs.compression_c2s.clone(),
        compression_s2c: algs.compression_s2c.clone(),
        strict_kex,
        ext_info: algs.kex.iter().any(|k| k == "ext-info-s"),
        terrapin_vulnerable: (chacha || cbc_etm) && !strict_kex,
        weak_algorithms,
        ..Report::default()
    }
}

/// Runs `nacre probe`.
pub async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let probe = Probe::new(&args)?;
    status::status(format_args!(
        "Connecting to {}:{}...",
        probe.host, probe.port
    ));
    let (banner, algs) = first_kexinit(&probe).await?;
    status::status(format_args!(
        "Server {banner}: {} key exchange methods, {} host key algorithms, {} ciphers",
        algs.kex.len(),
        algs.host_key.len(),
        algs.cipher_c2s.len()
    ));
    let mut report = build_report(banner, &algs);
    for name in &algs.host_key {
        let Some(alg) = SignatureAlgorithm::from_name(name) else {
            status::status(format_args!(
                "Skipping host key algorithm {name} (unknown to nacre)"
            ));
            continue;
        };
        if !probe.config.algorithms.host_key.contains(&alg) {
            continue;
        }
        status::command(format_args!("Key exchange with host key algorithm {name}"));
        let Some((key, mut conn)) = host_key(&probe, alg).await else {
            status::response(format_args!("{name}: no key exchange"));
            continue;
        };
        status::response(format_args!("{name}: {}", key.fingerprint_sha256()));
        report.host_keys.push(HostKeyReport {
            algorithm: name.clone(),
            key_type: key.key_type().name().to_owned(),
            fingerprint: key.fingerprint_sha256(),
        });
        if report.server_sig_algs.is_none() {
            report.server_sig_algs = conn.info().server_sig_algs.clone();
            // RFC 8308 may also arrive in the server's EXT_INFO even without ext-info-s in its list.
            report.ext_info |= conn.info().server_sig_algs.is_some();
        }
        if let (Some(user), None) = (&probe.user, &report.auth_methods) {
            status::command(format_args!("Authentication methods for \"{user}\""));
            if let Ok(nacre::AuthResult::Failure { methods, .. }) =
                conn.authenticate(user, &[]).await
            {
                report.auth_methods = Some(methods);
            }
        }
        conn.disconnect(nacre::wire::DisconnectReason::BY_APPLICATION, "probe done")
            .await;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn print_text(r: &Report) {
    println!("banner: {}", r.banner);
    for (label, list) in [
        ("kex", &r.kex_algorithms),
        ("host key", &r.host_key_algorithms),
        ("ciphers c2s", &r.ciphers_c2s),
        ("ciphers s2c", &r.ciphers_s2c),
        ("macs c2s", &r.macs_c2s),
        ("macs s2c", &r.macs_s2c),
        ("compression", &r.compression_c2s),
    ] {
        println!("{label}: {}", list.join(","));
    }
    for k in &r.host_keys {
        println!("host key {}: {} {}", k.algorithm, k.key_type, k.fingerprint);
    }
    println!("strict kex: {}", r.strict_kex);
    println!("ext-info: {}", r.ext_info);
    println!(
        "server-sig-algs: {}",
        r.server_sig_algs
            .as_ref()
            .map_or("<none>".to_owned(), |v| v.join(","))
    );
    if let Some(m) = &r.auth_methods {
        println!("authentication methods: {}", m.join(","));
    }
    println!(
        "terrapin (CVE-2023-48795): {}",
        if r.terrapin_vulnerable {
            "VULNERABLE"
        } else {
            "not vulnerable"
        }
    );
    if !r.weak_algorithms.is_empty() {
        println!("weak algorithms: {}", r.weak_algorithms.join(","));
    }
}
