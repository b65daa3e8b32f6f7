//! `nacre serve`: the SSH server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use nacre::keys::PrivateKey;
use nacre::transport::Config;
use tokio::net::TcpListener;

use crate::status;

/// Arguments of `nacre serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: `HOST:PORT`, or a port alone for 127.0.0.1 (default 127.0.0.1:2222).
    #[arg(long)]
    listen: Option<String>,
    /// Port to listen on (sshd's -p), on 127.0.0.1 unless --listen names an address.
    #[arg(short = 'p', value_name = "PORT")]
    port: Option<u16>,
    /// A TOML configuration file (users with password hashes, authorized_keys and roots; flag
    /// defaults; sshd options) — see `nacre serve --help` and the serve_config module docs.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Host key files (OpenSSH format); repeatable. Default: an ed25519 key generated once in the state folder.
    #[arg(long = "host-key")]
    host_keys: Vec<PathBuf>,
    /// Folder for generated host keys (default: $XDG_STATE_HOME/nacre or ~/.local/state/nacre).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// sshd-style option overrides, e.g. -o KexAlgorithms=curve25519-sha256.
    #[arg(short = 'o')]
    options: Vec<String>,
    /// An OpenSSH authorized_keys file for `--user` (from= and expiry-time= are enforced).
    #[arg(long)]
    authorized_keys: Option<PathBuf>,
    /// Let clients run commands and shells (as the authenticated user when running as root).
    #[arg(long)]
    allow_exec: bool,
    /// The folder the `sftp` subsystem serves as `/` (default: the current folder).
    #[arg(long)]
    root: Option<PathBuf>,
    /// Serve SFTP read-only.
    #[arg(long)]
    read_only: bool,
    /// Serve SFTP in a `nacre sftp-server` process run as the logged-in user (as sshd runs
    /// sftp-server), so files are created and checked with that user's permissions; without it the
    /// server's own process serves SFTP (faster, with the server's permissions).
    #[arg(long)]
    sftp_as_user: bool,
    /// When started as root: the Unix account every login acts as (its files and commands have
    /// that account's rights only; `root` gives clients root's rights and must be named). Without
    /// it a login that is a Unix account acts as itself, and others (and root) as the served
    /// folder's owner, or `nobody` when root owns it.
    #[arg(long, value_name = "ACCOUNT")]
    run_as: Option<String>,
    /// The user name clients log in as (default: $USER, else "nacre").
    #[arg(long)]
    user: Option<String>,
    /// A file whose first line is the user's password. Without it and without --authorized-keys, a
    /// password is generated and printed at start.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Threads serving connections, each connection on one of them (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Builds the users policy from the flags; returns it and a generated password to print, if any.
fn users(args: &ServeArgs) -> anyhow::Result<(nacre::UsersPolicy, String, Option<String>)> {
    let name = args
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "nacre".to_owned());
    let mut policy = nacre::UsersPolicy::new();
    let mut generated = None;
    let password = match &args.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(text.lines().next().unwrap_or("").to_owned())
        }
        None if args.authorized_keys.is_none() => {
            let mut bytes = [0u8; 12];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
            let pw: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            generated = Some(pw.clone());
            Some(pw)
        }
        None => None,
    };
    let password_hash = match password {
        Some(p) => Some(
            nacre::hash_password(&p).map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?,
        ),
        None => None,
    };
    policy.insert(
        &name,
        nacre::User {
            password_hash,
            ..nacre::User::default()
        },
    );
    if let Some(path) = &args.authorized_keys {
        policy
            .load_authorized_keys(&name, path)
            .with_context(|| format!("reading {}", path.display()))?;
    }
    Ok((policy, name, generated))
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
pub async fn run(mut args: ServeArgs) -> anyhow::Result<()> {
    // Handlers first: a signal that comes once the port accepts must stop serve cleanly.
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    // Every connection is served in this one process: take the whole descriptor limit, then
    // divide it (nacre::HandleLimits, fitted when the limits below are made).
    match nacre::raise_descriptor_limit() {
        Ok(n) => tracing::debug!(descriptors = n, "descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
    }
    let file = match &args.config {
        Some(path) => crate::serve_config::ServeConfig::load(path)?,
        None => crate::serve_config::ServeConfig::default(),
    };
    if args.host_keys.is_empty() {
        args.host_keys = file.host_keys.clone();
    }
    args.allow_exec |= file.allow_exec;
    args.read_only |= file.read_only;
    args.sftp_as_user |= file.sftp_as_user;
    if args.run_as.is_none() {
        args.run_as = file.run_as.clone();
    }
    if args.root.is_none() {
        args.root = file.root.clone();
    }
    let listen = listen_address(
        args.listen.clone().or_else(|| file.listen.clone()),
        args.port,
    );
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
    let mut options = file.option_strings();
    options.extend(args.options.iter().cloned());
    let server_options = Arc::new(crate::server_options::parse(&options, &mut config)?);
    let config = Arc::new(config);
    let (policy, user, generated) = if file.users.is_empty() {
        users(&args)?
    } else {
        let first = file
            .users
            .first()
            .map(|u| u.name.clone())
            .unwrap_or_default();
        (file.policy()?, first, None)
    };
    let policy: Arc<dyn nacre::AuthPolicy> =
        crate::serve_certs::CertPolicy::wrap(Arc::new(policy), &server_options.certs);
    let mut notes = Vec::new();
    let mut session_for = |root: Option<PathBuf>,
                           run_as: Option<&str>|
     -> anyhow::Result<Arc<nacre::SessionConfig>> {
        let root = crate::sftp_server::root_or_cwd(root)?;
        let act_as = crate::serve_accounts::act_as(run_as.or(args.run_as.as_deref()), &root)?;
        if let Some(note) = crate::serve_accounts::describe(&act_as, &root) {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        let mut sessions = nacre::SessionConfig {
            allow_exec: args.allow_exec,
            allow_agent_forwarding: server_options.allow_agent_forwarding,
            act_as,
            ..nacre::SessionConfig::default()
        };
        let sftp = crate::sftp_server::SftpServerArgs::config(
            args.read_only,
            nacre_sftp::DEFAULT_MAX_HANDLES,
        );
        if args.sftp_as_user {
            sessions
                .subsystem_commands
                .insert("sftp".into(), sftp_server_command(&root, args.read_only)?);
        } else {
            sessions
                .subsystems
                .insert("sftp".into(), nacre::sftp_subsystem(root, sftp));
        }
        Ok(Arc::new(sessions))
    };
    let mut server_config = nacre::ServerConfig {
        session: session_for(args.root.clone(), None)?,
        // Forwarding is denied unless `-o AllowTcpForwarding=` allows it.
        forwarding: server_options.forwarding.clone(),
        liveness: server_options
            .liveness
            .keepalive_interval
            .map(|_| server_options.liveness),
        ..nacre::ServerConfig::default()
    };
    for u in &file.users {
        if u.root.is_some() || u.run_as.is_some() {
            let root = u.root.clone().or_else(|| args.root.clone());
            server_config
                .user_sessions
                .insert(u.name.clone(), session_for(root, u.run_as.as_deref())?);
        }
    }
    let server = nacre::Server::new(
        config,
        server_options.auth.clone(),
        policy,
        server_config,
        server_options.limits.clone(),
    );
    server.set_event_sink(Arc::new(report));
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    for key in &keys {
        println!(
            "host key {} {}",
            key.key_type().name(),
            key.public_key().fingerprint_sha256()
        );
    }
    println!("listening on {addr}");
    for note in &notes {
        println!("{note}");
    }
    if let Some(pw) = &generated {
        println!("user {user}, generated password: {pw}");
    }
    // What a newcomer runs next: sftp (serve's purpose), ssh only where commands are allowed.
    println!("try: sftp -P {} {user}@{}", addr.port(), addr.ip());
    if args.allow_exec {
        println!("     ssh -p {} {user}@{}", addr.port(), addr.ip());
    }
    tokio::select! {
        result = server.run_sharded(listener, args.threads) => result.context("accepting connections")?,
        _ = interrupt.recv() => println!("shutting down"),
        _ = terminate.recv() => println!("shutting down (SIGTERM)"),
    }
    Ok(())
}

/// The address to bind: `--listen` (a bare port means 127.0.0.1), its address with `-p`'s
/// port, or 127.0.0.1 with `-p`'s port or 2222.
fn listen_address(listen: Option<String>, port: Option<u16>) -> String {
    let host = |l: &str| match l.rsplit_once(':') {
        Some((h, _)) => h.to_owned(),
        None if l.parse::<u16>().is_ok() => "127.0.0.1".to_owned(),
        None => l.to_owned(),
    };
    match (listen, port) {
        (Some(l), Some(p)) => format!("{}:{p}", host(&l)),
        (Some(l), None) if l.parse::<u16>().is_ok() => format!("127.0.0.1:{l}"),
        (Some(l), None) => l,
        (None, p) => format!("127.0.0.1:{}", p.unwrap_or(2222)),
    }
}

/// `'/path/to/nacre' sftp-server --root '/root'`, quoted for the user's shell.
fn sftp_server_command(root: &Path, read_only: bool) -> anyhow::Result<String> {
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
    let exe = std::env::current_exe().context("finding the nacre binary")?;
    let root = root
        .canonicalize()
        .with_context(|| format!("resolving {}", root.display()))?;
    let mut command = format!("{} sftp-server --root {}", quote(&exe), quote(&root));
    if read_only {
        command.push_str(" --read-only");
    }
    Ok(command)
}

/// The `-v` status log of the server's connections.
fn report(event: &nacre::ServerEvent) {
    use nacre::ServerEvent as E;
    let peer = |p: &Option<std::net::SocketAddr>| p.map_or("?".to_owned(), |a| a.to_string());
    match event {
        E::Dropped { peer } => status::error(format_args!("{peer}: dropped (MaxStartups)")),
        E::Connected { peer: p, client } => {
            status::status(format_args!("Connection from {}, client {client}", peer(p)))
        }
        E::HandshakeFailed { peer: p, error } => {
            status::error(format_args!("{}: handshake failed: {error}", peer(p)))
        }
        E::Authenticated {
            peer: p,
            user,
            methods,
        } => status::status(format_args!(
            "{}: authenticated as \"{user}\" with {}",
            peer(p),
            methods
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(",")
        )),
        E::AuthenticationFailed { peer: p, error } => {
            status::error(format_args!("{}: authentication failed: {error}", peer(p)))
        }
        E::LoginGraceTimeExceeded { peer: p } => {
            status::error(format_args!("{}: login grace time exceeded", peer(p)))
        }
        E::Closed { peer: p, reason } => {
            status::status(format_args!("{}: connection closed ({reason})", peer(p)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::listen_address;

    #[test]
    fn listen_takes_a_port_an_address_or_dash_p() {
        assert_eq!(listen_address(None, None), "127.0.0.1:2222");
        assert_eq!(listen_address(None, Some(2200)), "127.0.0.1:2200");
        assert_eq!(listen_address(Some("2201".into()), None), "127.0.0.1:2201");
        assert_eq!(
            listen_address(Some("0.0.0.0:22".into()), None),
            "0.0.0.0:22"
        );
        assert_eq!(
            listen_address(Some("0.0.0.0:22".into()), Some(2202)),
            "0.0.0.0:2202"
        );
        assert_eq!(
            listen_address(Some("[::1]:22".into()), Some(2203)),
            "[::1]:2203"
        );
    }
}
