//! `nacre serve`: the SSH server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use nacre::keys::PrivateKey;
use nacre::transport::Config;
use nacre::wire::{put, DisconnectReason, MsgNumber};
use nacre::Connection;
use tokio::net::TcpListener;

/// Arguments of `nacre serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2222")]
    listen: String,
    /// Host key files (OpenSSH format); repeatable. Default: an ed25519 key generated once in the state folder.
    #[arg(long = "host-key")]
    host_keys: Vec<PathBuf>,
    /// Folder for generated host keys (default: $XDG_STATE_HOME/nacre or ~/.local/state/nacre).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// sshd-style option overrides, e.g. -o KexAlgorithms=curve25519-sha256.
    #[arg(short = 'o')]
    options: Vec<String>,
}

fn state_dir(args: &ServeArgs) -> PathBuf {
    if let Some(d) = &args.state_dir {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(d).join("nacre");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/nacre")
}

fn load_or_generate(dir: &Path) -> anyhow::Result<PrivateKey> {
    let path = dir.join("ssh_host_ed25519_key");
    if path.exists() {
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        return PrivateKey::from_openssh(&text)
            .with_context(|| format!("parsing {}", path.display()));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = PrivateKey::generate_ed25519(&mut rand_core::OsRng);
    write_private(&path, &key.to_openssh("nacre host key"))?;
    std::fs::write(
        dir.join("ssh_host_ed25519_key.pub"),
        key.public_key().to_openssh_line("nacre host key") + "\n",
    )?;
    tracing::info!(path = %path.display(), "generated a new host key");
    Ok(key)
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Runs the server until interrupted.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    for path in &args.host_keys {
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        keys.push(Arc::new(
            PrivateKey::from_openssh(&text)
                .with_context(|| format!("parsing {}", path.display()))?,
        ));
    }
    if keys.is_empty() {
        keys.push(Arc::new(load_or_generate(&state_dir(&args))?));
    }
    let mut config = Config::server(keys.clone());
    for o in &args.options {
        crate::options::apply(&mut config, o)?;
    }
    let config = Arc::new(config);
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    for key in &keys {
        println!(
            "host key {} {}",
            key.key_type().name(),
            key.public_key().fingerprint_sha256()
        );
    }
    println!("listening on {addr}");
    println!(
        "try: ssh -p {} -o UserKnownHostsFile=/dev/null user@{}",
        addr.port(),
        addr.ip()
    );
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                let _ = stream.set_nodelay(true);
                let config = config.clone();
                tokio::spawn(async move {
                    match Connection::accept(stream, config).await {
                        Ok(conn) => session(conn, peer).await,
                        Err(e) => tracing::info!(%peer, error = %e, "handshake failed"),
                    }
                });
            }
            _ = tokio::signal::ctrl_c() => {
                println!("shutting down");
                return Ok(());
            }
        }
    }
}

/// Serves one connection after its `ssh-userauth` service started. User authentication is not
/// built yet (issue 3): every USERAUTH_REQUEST is answered with USERAUTH_FAILURE listing no method
/// (RFC 4252 §5.1), so clients report "no authentication methods" rather than hanging.
async fn session(mut conn: Connection, peer: std::net::SocketAddr) {
    let info = conn.info().clone();
    tracing::info!(%peer, client = %info.peer_identification, negotiated = ?info.negotiated, "ssh-userauth service started");
    while let Some(packet) = conn.recv().await {
        if packet.first() == Some(&MsgNumber::USERAUTH_REQUEST.0) {
            let mut reply = vec![MsgNumber::USERAUTH_FAILURE.0];
            put::name_list::<&str>(&mut reply, &[]);
            put::boolean(&mut reply, false);
            if conn.send(Bytes::from(reply)).await.is_err() {
                break;
            }
        } else {
            conn.disconnect(
                DisconnectReason::PROTOCOL_ERROR,
                "unexpected message before authentication",
            )
            .await;
            return;
        }
    }
    let reason = conn.closed().await;
    tracing::info!(%peer, %reason, "connection closed");
}
