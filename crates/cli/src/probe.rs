//! `nacre probe`: connect, negotiate, and report.

use std::sync::{Arc, Mutex};

use nacre::keys::PublicKey;
use nacre::transport::{Algorithms, Config};
use nacre::{ClientConfig, Connection};

/// Arguments of `nacre probe`.
#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 22)]
    port: u16,
    /// ssh-style option overrides, e.g. -o KexAlgorithms=diffie-hellman-group-exchange-sha256.
    #[arg(short = 'o')]
    options: Vec<String>,
    /// Server host name or address.
    host: String,
}

/// Connects once and prints the banner, the negotiated algorithms, the host key and extensions.
pub async fn run(args: ProbeArgs) -> anyhow::Result<()> {
    let mut config = Config::client();
    config.algorithms = Algorithms::all();
    for o in &args.options {
        crate::options::apply(&mut config, o)?;
    }
    let seen: Arc<Mutex<Option<PublicKey>>> = Arc::default();
    let record = seen.clone();
    let verify = Arc::new(move |k: &PublicKey| {
        if let Ok(mut s) = record.lock() {
            *s = Some(k.clone());
        }
        // A probe reports the key; it sends nothing secret, so it continues past verification.
        true
    });
    let conn = Connection::connect(
        (args.host.as_str(), args.port),
        ClientConfig {
            transport: Arc::new(config),
            verify_host_key: verify,
        },
    )
    .await?;
    let info = conn.info();
    println!("banner: {}", info.peer_identification);
    if let Some(n) = &info.negotiated {
        println!("kex: {}", n.kex.name());
        println!("host key algorithm: {}", n.host_key.name());
        println!("cipher: {} / {}", n.cipher_c2s.name(), n.cipher_s2c.name());
        let mac = |m: Option<nacre::crypto::MacAlg>| m.map_or("<implicit>", |m| m.name());
        println!("mac: {} / {}", mac(n.mac_c2s), mac(n.mac_s2c));
    }
    if let Ok(guard) = seen.lock() {
        if let Some(k) = guard.as_ref() {
            println!(
                "host key: {} {}",
                k.key_type().name(),
                k.fingerprint_sha256()
            );
        }
    }
    println!("strict kex: {}", info.strict_kex);
    println!(
        "server-sig-algs: {}",
        info.server_sig_algs
            .as_ref()
            .map_or("<none>".to_owned(), |v| v.join(","))
    );
    conn.disconnect(nacre::wire::DisconnectReason::BY_APPLICATION, "probe done")
        .await;
    Ok(())
}
