//! Client settings like OpenSSH's: `-o Name=value` options and `~/.ssh/config` (Host blocks with
//! `*`/`?`/`!` patterns; the first value obtained wins, command-line options first), then the
//! connection itself, through a `ProxyJump` host when configured.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use nacre::keys::SignatureAlgorithm;
use nacre::transport::Config;
use nacre::{AuthResult, ClientConfig, Connection, Credential};

use crate::{prompt, status};

/// The connection flags `nacre exec` and `nacre ssh` share, as ssh spells them.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Server port.
    #[arg(short = 'p')]
    port: Option<u16>,
    /// Identity files (repeatable); default ~/.ssh/id_ed25519, id_ecdsa, id_rsa when present.
    #[arg(short = 'i')]
    identities: Vec<PathBuf>,
    /// User name (else from user@host, else the config, else $USER).
    #[arg(short = 'l')]
    user: Option<String>,
    /// ssh options (Port, User, IdentityFile, IdentitiesOnly, StrictHostKeyChecking,
    /// UserKnownHostsFile, BatchMode, PasswordAuthentication, PubkeyAuthentication,
    /// KbdInteractiveAuthentication, PreferredAuthentications, ConnectTimeout,
    /// ServerAliveInterval, ServerAliveCountMax, ProxyJump, ForwardAgent, KexAlgorithms, Ciphers,
    /// MACs, HostKeyAlgorithms, PubkeyAcceptedAlgorithms, RekeyLimit; nacre's own:
    /// RequestTimeout=SECONDS, how long an SFTP request may wait for its answer, 0 for ever,
    /// default 120).
    #[arg(short = 'o')]
    options: Vec<String>,
    /// ssh config file (default ~/.ssh/config).
    #[arg(short = 'F')]
    config: Option<PathBuf>,
    /// Jump host `[user@]host[:port]` (like ssh -J).
    #[arg(short = 'J')]
    jump: Option<String>,
    /// A file whose first line is the password (else NACRE_PASSWORD).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Forward the agent at $SSH_AUTH_SOCK to the server's session (like ssh -A).
    #[arg(short = 'A')]
    forward_agent: bool,
    /// The shared flags of ssh and sftp that are options: -4, -6, -C, -c, -m.
    #[command(flatten)]
    pub shorthands: crate::shorthands::Shorthands,
}

impl ConnectArgs {
    /// The client options for `destination`: `-J` becomes `ProxyJump`, `--password-file` is read.
    pub fn client_options(&self, destination: &str) -> anyhow::Result<ClientOptions> {
        let mut options = self.shorthands.options();
        options.extend(self.options.iter().cloned());
        if let Some(j) = &self.jump {
            options.push(format!("ProxyJump={j}"));
        }
        if self.forward_agent {
            options.push("ForwardAgent=yes".to_owned());
        }
        let mut opts = ClientOptions::load(
            destination,
            self.port,
            self.user.as_deref(),
            &options,
            &self.identities,
            self.config.as_deref(),
        )?;
        if let Some(f) = &self.password_file {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            opts.password_text = Some(text.lines().next().unwrap_or("").to_owned());
        }
        Ok(opts)
    }
}

/// Everything a client subcommand needs to connect.
#[derive(Clone)]
pub struct ClientOptions {
    /// `HostName`.
    pub host_name: String,
    /// `Port`.
    pub port: u16,
    /// `User`.
    pub user: String,
    /// `IdentityFile` (repeatable).
    pub identity_files: Vec<PathBuf>,
    /// `IdentitiesOnly`: no agent keys.
    pub identities_only: bool,
    /// `StrictHostKeyChecking`: yes / accept-new / no.
    pub strict: String,
    /// `UserKnownHostsFile`.
    pub known_hosts: PathBuf,
    /// `PasswordAuthentication`, `PubkeyAuthentication`, `KbdInteractiveAuthentication`.
    pub password: bool,
    /// `PubkeyAuthentication`.
    pub pubkey: bool,
    /// `KbdInteractiveAuthentication`.
    pub kbd: bool,
    /// `PreferredAuthentications`.
    pub preferred: Option<Vec<String>>,
    /// `ConnectTimeout`: connecting and the key exchange (default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`], even without the option).
    pub connect_timeout: Option<Duration>,
    /// `RequestTimeout` (nacre's): how long an SFTP request may wait for its reply; `None`: for
    /// ever.
    pub request_timeout: Option<Duration>,
    /// `ServerAliveInterval` / `ServerAliveCountMax`.
    pub alive_interval: Option<Duration>,
    /// `ServerAliveCountMax`.
    pub alive_count_max: u32,
    /// `ProxyJump`: `[user@]host[:port]`.
    pub proxy_jump: Option<String>,
    /// A password for scripted logins (`--password-file`).
    pub password_text: Option<String>,
    /// `BatchMode`: never ask the person at the terminal.
    pub batch_mode: bool,
    /// `NumberOfPasswordPrompts` (default 3).
    pub password_prompts: u32,
    /// `ForwardAgent`: the agent socket sessions forward (`yes`: `$SSH_AUTH_SOCK`, or a path).
    pub forward_agent: Option<PathBuf>,
    /// `PubkeyAcceptedAlgorithms` (default: every signature algorithm).
    pub pubkey_algorithms: Option<Vec<SignatureAlgorithm>>,
    /// Algorithm lists and limits.
    pub transport: Config,
    /// Every option read (`-o` first, then the config), lower-case names, in order.
    pub pairs: Vec<(String, String)>,
    /// A remote command will run (no `UpdateHostKeys ask` then, as ssh).
    pub remote_command: bool,
}

/// Connecting and the key exchange may take this long when `ConnectTimeout` is not set.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// User authentication (no prompts are answered by a person yet) may take this long.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `RequestTimeout`: an SFTP request unanswered this long fails (the session goes on).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(path),
    }
}

/// ssh_config(5) pattern: `*`, `?`, negation with `!` in a list.
pub(crate) fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn glob(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                glob(p.get(1..).unwrap_or(&[]), n)
                    || (!n.is_empty() && glob(p, n.get(1..).unwrap_or(&[])))
            }
            (Some(b'?'), Some(_)) => glob(p.get(1..).unwrap_or(&[]), n.get(1..).unwrap_or(&[])),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {
                glob(p.get(1..).unwrap_or(&[]), n.get(1..).unwrap_or(&[]))
            }
            _ => false,
        }
    }
    let mut matched = false;
    for p in pattern.split([',', ' ']).filter(|p| !p.is_empty()) {
        match p.strip_prefix('!') {
            Some(neg) if glob(neg.as_bytes(), name.as_bytes()) => return false,
            Some(_) => {}
            None => matched |= glob(p.as_bytes(), name.as_bytes()),
        }
    }
    matched
}

/// `ForwardAgent`'s value: yes (the agent at `$SSH_AUTH_SOCK`), no, a socket path, or `$VAR`.
fn forward_agent(v: &str) -> Option<PathBuf> {
    match v.to_ascii_lowercase().as_str() {
        "no" | "false" => None,
        "yes" | "true" => std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        _ => match v.strip_prefix('$') {
            Some(var) => std::env::var_os(var.trim_matches(['{', '}'])).map(PathBuf::from),
            None => Some(expand(v)),
        },
    }
}

fn yes(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "yes" | "true")
}

impl ClientOptions {
    /// Builds the options for `destination` (`[user@]host`): `-o` options first, then the config
    /// file (`~/.ssh/config`, or `config_file`), then defaults; the first value wins as in ssh.
    pub fn load(
        destination: &str,
        port: Option<u16>,
        user: Option<&str>,
        options: &[String],
        identities: &[PathBuf],
        config_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let (dest_user, alias) = match destination.split_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h.to_owned()),
            None => (None, destination.to_owned()),
        };
        let cli_user = user.map(str::to_owned).or(dest_user);
        let mut reader = crate::config_file::Reader::new(&alias, cli_user.clone(), port);
        for o in options {
            let (k, v) = o
                .split_once(['=', ' '])
                .with_context(|| format!("option {o:?} is not Name=value"))?;
            let (k, v) = (k.trim(), v.trim());
            if crate::ssh_config::check(k, v, "command-line line 0", &[])? {
                reader.pairs.push((k.to_ascii_lowercase(), v.to_owned()));
            }
        }
        let (path, text) = match config_file {
            // A file named with -F must exist, as with ssh.
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("Can't open user config file {}", path.display()))?;
                (path.to_path_buf(), Some(text))
            }
            None => {
                let path = home().join(".ssh/config");
                let text = std::fs::read_to_string(&path).ok();
                (path, text)
            }
        };
        if let Some(text) = text {
            reader.read(&text, &path, 0)?;
            // `Match canonical`/`final`: a second pass, the values already set kept.
            if reader.wants_final {
                reader.final_pass = true;
                reader.read(&text, &path, 0)?;
            }
        }
        let host_name = reader.host();
        let pairs = reader.pairs;
        let first = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut transport = Config::client();
        for name in [
            "kexalgorithms",
            "ciphers",
            "macs",
            "hostkeyalgorithms",
            "rekeylimit",
        ] {
            if let Some(v) = first(name) {
                crate::options::apply(&mut transport, &format!("{name}={v}"))?;
            }
        }
        // ssh's Compression (`-C`): yes asks for zlib@openssh.com (then zlib, then none).
        if first("compression").is_some_and(|v| yes(&v)) {
            transport.algorithms.compression = nacre::transport::config::compression_preferred();
        }
        let mut identity_files: Vec<PathBuf> = identities.to_vec();
        identity_files.extend(
            pairs
                .iter()
                .filter(|(k, _)| k == "identityfile")
                .map(|(_, v)| expand(v)),
        );
        // A final pass reads the same IdentityFile lines again.
        let mut seen = std::collections::HashSet::new();
        identity_files.retain(|p| seen.insert(p.clone()));
        let port = match port {
            Some(p) => p,
            None => first("port")
                .map(|p| p.parse())
                .transpose()
                .context("Port")?
                .unwrap_or(22),
        };
        let user = cli_user
            .or_else(|| first("user"))
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".into());
        Ok(ClientOptions {
            host_name,
            port,
            user,
            identity_files,
            identities_only: first("identitiesonly").is_some_and(|v| yes(&v)),
            // OpenSSH's default: ask the person about an unknown host key.
            strict: first("stricthostkeychecking")
                .unwrap_or_else(|| "ask".into())
                .to_ascii_lowercase(),
            known_hosts: first("userknownhostsfile")
                .map_or_else(|| home().join(".ssh/known_hosts"), |v| expand(&v)),
            password: first("passwordauthentication").is_none_or(|v| yes(&v)),
            pubkey: first("pubkeyauthentication").is_none_or(|v| yes(&v)),
            kbd: first("kbdinteractiveauthentication").is_none_or(|v| yes(&v)),
            preferred: first("preferredauthentications")
                .map(|v| v.split(',').map(str::to_owned).collect()),
            connect_timeout: first("connecttimeout")
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs),
            request_timeout: match first("requesttimeout").map(|v| v.parse::<u64>()) {
                None => Some(DEFAULT_REQUEST_TIMEOUT),
                Some(Ok(0)) => None,
                Some(Ok(s)) => Some(Duration::from_secs(s)),
                Some(Err(_)) => anyhow::bail!("RequestTimeout must be a number of seconds"),
            },
            alive_interval: first("serveraliveinterval")
                .and_then(|v| v.parse().ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            alive_count_max: first("serveralivecountmax")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
            proxy_jump: first("proxyjump").filter(|v| v != "none"),
            password_text: std::env::var("NACRE_PASSWORD").ok(),
            batch_mode: first("batchmode").is_some_and(|v| yes(&v)),
            password_prompts: first("numberofpasswordprompts")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3),
            forward_agent: first("forwardagent").and_then(|v| forward_agent(&v)),
            pubkey_algorithms: first("pubkeyacceptedalgorithms")
                .map(|v| {
                    crate::options::list(
                        &v,
                        SignatureAlgorithm::ALL,
                        "signature algorithm",
                        SignatureAlgorithm::from_name,
                    )
                })
                .transpose()
                .context("PubkeyAcceptedAlgorithms")?,
            transport,
            pairs: pairs.clone(),
            remote_command: false,
        })
    }

    /// The first value of an ssh_config option (lower-case `name`) from `-o` or the config.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Opens a session channel, asking for agent forwarding first when `ForwardAgent` is on.
    pub async fn open_session(&self, conn: &Connection) -> anyhow::Result<nacre::Channel> {
        let ch = conn.open_session().await?;
        // As ssh without multiplexing, to OpenSSH (and nacre) servers only (PROTOCOL §2.2).
        let peer = &conn.info().peer_identification;
        if peer.contains("OpenSSH") || peer.contains("nacre") {
            conn.no_more_sessions()?;
        }
        crate::update_host_keys::before_session().await;
        if let Some(agent) = &self.forward_agent {
            conn.forward_agent(agent.clone());
            ch.request_agent_forwarding().await?;
        }
        Ok(ch)
    }

    /// The `CertificateFile` values (`~/` expanded).
    fn certificate_files(&self) -> Vec<PathBuf> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == "certificatefile")
            .map(|(_, v)| match v.strip_prefix("~/") {
                Some(rest) => home().join(rest),
                None => PathBuf::from(v),
            })
            .collect()
    }

    fn credentials(&self) -> Vec<Credential> {
        let mut out = Vec::new();
        if self.pubkey {
            if let (false, Some(sock)) = (self.identities_only, std::env::var_os("SSH_AUTH_SOCK")) {
                out.push(Credential::Agent(PathBuf::from(sock)));
            }
            let files: Vec<PathBuf> = if self.identity_files.is_empty() {
                ["id_ed25519", "id_ecdsa", "id_rsa"]
                    .iter()
                    .map(|n| home().join(".ssh").join(n))
                    .filter(|p| p.exists())
                    .collect()
            } else {
                self.identity_files.clone()
            };
            let certificates = self.certificate_files();
            for f in files {
                match crate::auth_prompts::load_identity(&f, self.asks(), self.password_prompts) {
                    Ok(Some(k)) => {
                        let k = Arc::new(k);
                        // As ssh: `KEY-cert.pub` beside the key, and CertificateFile entries,
                        // are offered (certificate first) for the key they certify.
                        for cert in crate::client_certs::for_key(&f, &k, &certificates) {
                            out.push(Credential::Certificate(k.clone(), Arc::new(cert)));
                        }
                        out.push(Credential::Key(k));
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(file = %f.display(), error = %e, "skipping identity"),
                }
            }
        }
        if let (true, Some(pw)) = (self.kbd, &self.password_text) {
            // Answers every prompt with the password, as sshpass does (PAM's "Password:").
            let pw = pw.clone();
            let responder: nacre::PromptResponder =
                Arc::new(move |req| req.prompts.iter().map(|_| pw.clone()).collect());
            out.push(Credential::KeyboardInteractive(responder));
        }
        if let (true, Some(pw)) = (self.password, &self.password_text) {
            out.push(Credential::Password(zeroize::Zeroizing::new(pw.clone())));
        }
        if let Some(order) = &self.preferred {
            let rank = |c: &Credential| {
                let name = match c {
                    Credential::Agent(_) | Credential::Key(_) | Credential::Certificate(..) => {
                        "publickey"
                    }
                    Credential::Password(_) => "password",
                    Credential::KeyboardInteractive(_) => "keyboard-interactive",
                };
                order.iter().position(|o| o == name).unwrap_or(usize::MAX)
            };
            out.retain(|c| rank(c) != usize::MAX);
            out.sort_by_key(rank);
        }
        out
    }

    /// The server's addresses (`AddressFamily`: `inet` keeps IPv4 ones, `inet6` IPv6 ones).
    async fn addresses(&self) -> anyhow::Result<Vec<std::net::SocketAddr>> {
        let place = format!("{} port {}", self.host_name, self.port);
        let found = tokio::net::lookup_host((self.host_name.as_str(), self.port))
            .await
            .with_context(|| format!("connection to {place}"))?;
        let family = self.option("addressfamily").map(str::to_ascii_lowercase);
        let addrs: Vec<_> = found
            .filter(|a| match family.as_deref() {
                Some("inet") => a.is_ipv4(),
                Some("inet6") => a.is_ipv6(),
                _ => true,
            })
            .collect();
        if addrs.is_empty() {
            anyhow::bail!(
                "Could not resolve hostname {}: Address family for hostname not supported",
                self.host_name
            );
        }
        Ok(addrs)
    }

    fn client_config(&self, update: Option<&nacre::HostKeysUpdate>) -> ClientConfig {
        use crate::host_keys::{verifier, Unknown};
        let unknown = match self.strict.as_str() {
            "no" | "off" | "false" => None,
            "yes" | "true" => Some(Unknown::Refuse),
            "accept-new" => Some(Unknown::AcceptNew),
            _ => Some(Unknown::Ask),
        };
        let verify: nacre::HostKeyVerifier = match unknown {
            None => Arc::new(|_| true),
            Some(u) => verifier(
                self.known_hosts.clone(),
                &self.host_name,
                self.port,
                u,
                self.batch_mode,
            ),
        };
        let verify = match update {
            Some(u) => crate::update_host_keys::record_listed(verify, u.allowed(), self),
            None => verify,
        };
        let mut transport = self.transport.clone();
        if unknown.is_some() {
            // Host certificates (issue 19): offered when known_hosts names a CA for the host.
            use crate::host_keys::{certificate_check, has_cert_authority};
            transport.host_key_certificates =
                has_cert_authority(&self.known_hosts, &self.host_name, self.port);
            transport.host_certificate_check = Some(certificate_check(
                self.known_hosts.clone(),
                &self.host_name,
                self.port,
                verify.clone(),
            ));
        }
        ClientConfig {
            transport: Arc::new(transport),
            verify_host_key: verify,
        }
    }

    async fn authenticate(&self, conn: &mut Connection) -> anyhow::Result<()> {
        status::status(format_args!("Using username \"{}\".", self.user));
        if let Some(algs) = &self.pubkey_algorithms {
            conn.set_pubkey_algorithms(algs.clone());
        }
        let mut result = AuthResult::Failure {
            methods: Vec::new(),
            partial: false,
        };
        for c in self.credentials() {
            let (method, what) = describe(&c);
            if conn
                .allowed_methods()
                .is_some_and(|m| !m.iter().any(|a| a == method))
            {
                continue;
            }
            status::command(what);
            result = conn
                .authenticate(&self.user, std::slice::from_ref(&c))
                .await?;
            match &result {
                AuthResult::Success => {
                    status::status(format_args!("Authenticated with {method}"));
                    break;
                }
                AuthResult::Failure { methods, partial } => status::response(format_args!(
                    "{} (can continue: {})",
                    if *partial {
                        "Partial success"
                    } else {
                        "Authentication failed"
                    },
                    methods.join(",")
                )),
            }
        }
        if result != AuthResult::Success && self.can_prompt() && self.server_takes("password", conn)
        {
            result = self.ask_password(conn).await?;
        } else if result != AuthResult::Success
            && self.kbd
            && self.prefers("keyboard-interactive")
            && self.password_text.is_none()
            && self.asks()
            && self.server_takes("keyboard-interactive", conn)
        {
            let ask = crate::auth_prompts::keyboard_interactive(&self.user, &self.host_name);
            status::command("keyboard-interactive: asking at the terminal");
            result = conn
                .authenticate(&self.user, &[Credential::KeyboardInteractive(ask)])
                .await?;
        }
        if result != AuthResult::Success {
            bail!(
                "{}@{}: permission denied ({})",
                self.user,
                self.host_name,
                conn.allowed_methods().unwrap_or_default().join(",")
            );
        }
        if let Some(interval) = self.alive_interval {
            let liveness = nacre::connection::LivenessConfig {
                keepalive_interval: Some(interval),
                keepalive_max: self.alive_count_max,
                unused_timeout: None,
            };
            conn.set_liveness(liveness).await?;
        }
        Ok(())
    }

    /// Whether a password may be asked at the terminal: password authentication on, no
    /// password given, not `BatchMode`, and a terminal to ask on.
    fn can_prompt(&self) -> bool {
        self.password && self.password_text.is_none() && self.asks() && self.prefers("password")
    }

    /// Whether `PreferredAuthentications` (when given) names `method`.
    fn prefers(&self, method: &str) -> bool {
        self.preferred
            .as_ref()
            .is_none_or(|p| p.iter().any(|m| m == method))
    }

    /// Whether the person at the terminal may be asked anything (not `BatchMode`, a terminal).
    fn asks(&self) -> bool {
        !self.batch_mode && prompt::available()
    }

    fn server_takes(&self, method: &str, conn: &Connection) -> bool {
        conn.allowed_methods()
            .is_none_or(|m| m.iter().any(|a| a == method))
    }

    /// Asks for the password as ssh does (`user@host's password: `, no echo), up to
    /// `NumberOfPasswordPrompts` times.
    async fn ask_password(&self, conn: &mut Connection) -> anyhow::Result<AuthResult> {
        let mut result = AuthResult::Failure {
            methods: Vec::new(),
            partial: false,
        };
        for attempt in 0..self.password_prompts {
            if attempt > 0 {
                prompt::say("Permission denied, please try again.");
            }
            let question = format!("{}@{}'s password: ", self.user, self.host_name);
            let Some(pw) = prompt::secret(&question) else {
                break;
            };
            status::command("Pass: ********");
            result = conn
                .authenticate(&self.user, &[Credential::Password(pw)])
                .await?;
            if result == AuthResult::Success || !self.server_takes("password", conn) {
                break;
            }
        }
        Ok(result)
    }

    /// Connects and authenticates, through the `ProxyJump` host when configured (its channel
    /// carries this connection).
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let target = format!("{}:{}", self.host_name, self.port);
        match &self.proxy_jump {
            Some(j) => status::status(format_args!("Connecting to {target} through {j}...")),
            None => status::status(format_args!("Connecting to {target}...")),
        }
        let update = crate::update_host_keys::for_options(self);
        let mut conn = match &self.proxy_jump {
            None => {
                let addrs = self.addresses().await?;
                let config = self.client_config(update.as_ref());
                let connect = Connection::connect(addrs.as_slice(), config);
                // A server that stalls the key exchange must not hang the client: a timeout
                // applies even without ConnectTimeout (OpenSSH would wait for ever).
                let limit = self.connect_timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
                let place = format!("{} port {}", self.host_name, self.port);
                tokio::time::timeout(limit, connect)
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "connection to {place} timed out after {} s (connecting and key exchange)",
                            limit.as_secs()
                        )
                    })?
                    .with_context(|| format!("connection to {place}"))?
            }
            Some(jump) => {
                let (jump_dest, jump_port) = match jump.rsplit_once(':') {
                    Some((d, p)) if p.parse::<u16>().is_ok() => {
                        (d.to_owned(), p.parse::<u16>().ok())
                    }
                    _ => (jump.clone(), None),
                };
                let hop = ClientOptions::load(
                    &jump_dest,
                    jump_port,
                    None,
                    &[],
                    &self.identity_files,
                    None,
                )?;
                let hop = ClientOptions {
                    proxy_jump: None,
                    strict: self.strict.clone(),
                    known_hosts: self.known_hosts.clone(),
                    ..hop
                };
                let jump_conn = Box::pin(hop.connect()).await?;
                let origin = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                let channel = jump_conn
                    .open_direct_tcpip(&self.host_name, self.port, origin)
                    .await?;
                // The jump connection must outlive the channel: keep it in a task until the channel closes.
                let config = self.client_config(update.as_ref());
                let conn = Connection::client_over(channel, config).await?;
                tokio::spawn(async move {
                    let mut jump_conn = jump_conn;
                    let _ = jump_conn.closed().await;
                });
                conn
            }
        };
        report_connected(&target, conn.info());
        if let Some(u) = update {
            conn.update_host_keys(u)?;
        }
        // A person typing a password or passphrase is not held to the timeout.
        if self.asks() {
            self.authenticate(&mut conn).await?;
        } else {
            tokio::time::timeout(DEFAULT_AUTH_TIMEOUT, self.authenticate(&mut conn))
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "authentication to {} port {} timed out after {} s",
                        self.host_name,
                        self.port,
                        DEFAULT_AUTH_TIMEOUT.as_secs()
                    )
                })??;
        }
        // The server's banner (SSH_MSG_USERAUTH_BANNER) on stderr, as OpenSSH shows it: escaped,
        // since the server chose every byte of it.
        for banner in conn.banners() {
            let text = crate::visible::visible_text(banner, true);
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
        }
        status::status(format_args!("Connected to {target}"));
        Ok(conn)
    }
}

/// The method name and the `Command:` line for a credential (never the secret).
fn describe(c: &Credential) -> (&'static str, String) {
    match c {
        Credential::Agent(path) => (
            "publickey",
            format!("publickey: keys of the agent at {}", path.display()),
        ),
        Credential::Key(k) => (
            "publickey",
            format!(
                "publickey: {} {}",
                k.key_type().name(),
                k.public_key().fingerprint_sha256()
            ),
        ),
        Credential::Certificate(_, c) => (
            "publickey",
            format!(
                "publickey: {} certificate \"{}\" {}",
                c.type_name(),
                c.key_id(),
                c.key().fingerprint_sha256()
            ),
        ),
        Credential::Password(_) => ("password", "Pass: ********".to_owned()),
        Credential::KeyboardInteractive(_) => (
            "keyboard-interactive",
            "keyboard-interactive: answering with the password".to_owned(),
        ),
    }
}

/// `Status:` lines once the transport is up: the server, the algorithms, the host key.
fn report_connected(target: &str, info: &nacre::ConnectionInfo) {
    if !status::enabled() {
        return;
    }
    status::status(format_args!(
        "Connected to {target}, server {}",
        info.peer_identification
    ));
    let host_key = info
        .server_host_key
        .as_deref()
        .and_then(|b| nacre::keys::PublicKey::from_blob(b).ok())
        .map(|k| k.fingerprint_sha256())
        .unwrap_or_default();
    if let Some(n) = &info.negotiated {
        let mac = n
            .mac_c2s
            .map(|m| format!(", MAC {}", m.name()))
            .unwrap_or_default();
        let compression = if n.compression_c2s.compresses() {
            format!(", compression {}", n.compression_c2s.name())
        } else {
            String::new()
        };
        status::status(format_args!(
            "Key exchange {}, host key {} {host_key}, cipher {}{mac}{compression}{}",
            n.kex.name(),
            n.host_key.name(),
            n.cipher_c2s.name(),
            if info.strict_kex { ", strict kex" } else { "" }
        ));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn host_patterns() {
        assert!(pattern_matches("*", "a.example.com"));
        assert!(pattern_matches("*.example.com", "a.example.com"));
        assert!(!pattern_matches("*.example.com", "example.org"));
        assert!(pattern_matches("web?", "web1"));
        assert!(!pattern_matches(
            "*.example.com,!secret.example.com",
            "secret.example.com"
        ));
        assert!(pattern_matches("alpha beta", "beta"));
    }
}
