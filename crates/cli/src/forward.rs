//! `-L`, `-R` and `-D` port forwards, as ssh's, for `nacre ssh` and `nacre exec`. A forward
//! that cannot be set up (a port in use, a server that refuses) is a warning, as with ssh, or the
//! end with `ExitOnForwardFailure=yes`.

use anyhow::Context;

use crate::client_opts::ClientOptions;
use crate::socks::Dynamic;

/// The forwarding flags.
#[derive(clap::Args)]
pub struct ForwardArgs {
    /// Local forward `[bind_address:]port:host:hostport` (repeatable), like ssh -L.
    #[arg(short = 'L')]
    local: Vec<String>,
    /// Remote forward `[bind_address:]port:host:hostport` (repeatable), like ssh -R.
    #[arg(short = 'R')]
    remote: Vec<String>,
    /// Dynamic forward `[bind_address:]port` (repeatable), like ssh -D: a SOCKS 4/5 proxy here,
    /// each connection carried to where it asks, as the server sees it.
    #[arg(short = 'D')]
    dynamic: Vec<String>,
}

/// The forwards in place; dropping them ends them.
#[derive(Default)]
pub struct Forwards {
    /// `-L` and `-R`.
    pub statics: Statics,
    /// The SOCKS listeners (`-D`): their channels are opened while the session polls
    /// [`Dynamic::serve`].
    pub dynamic: Dynamic,
}

/// The `-L` and `-R` forwards, each with the address it was asked on, so that `~C`'s `-KL` and
/// `-KR` find it.
#[derive(Default)]
pub struct Statics {
    local: Vec<(std::net::SocketAddr, nacre::LocalForward)>,
    remote: Vec<(String, u16, nacre::RemoteForward)>,
}

/// A forward that could not be set up: with `ExitOnForwardFailure=yes` the error (ssh's
/// `fatal`), otherwise ssh's warning on stderr and the session goes on.
fn failed(exit: bool, what: String, e: anyhow::Error) -> anyhow::Result<()> {
    if exit {
        return Err(e.context(what.trim_end_matches('.').to_owned()));
    }
    let cause = crate::visible::visible_text(&format!("{e:#}"), false);
    eprintln!("{cause}");
    eprintln!("{what}");
    Ok(())
}

/// `[bind_address:]port:host:hostport`.
fn forward_spec(spec: &str) -> anyhow::Result<(Option<String>, u16, String, u16)> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (bind, rest) = match parts.len() {
        3 => (None, parts.as_slice()),
        4 => (
            parts.first().map(|b| (*b).to_owned()),
            parts.get(1..).unwrap_or(&[]),
        ),
        _ => anyhow::bail!("bad forward {spec:?}: [bind_address:]port:host:hostport"),
    };
    match rest {
        [port, host, hostport] => Ok((
            bind,
            port.parse().context("port")?,
            (*host).to_owned(),
            hostport.parse().context("hostport")?,
        )),
        _ => anyhow::bail!("bad forward {spec:?}"),
    }
}

impl ForwardArgs {
    /// Sets up every forward on `conn`: the flags' and the config's `LocalForward`,
    /// `RemoteForward` (`[bind_address:]port host:hostport`) and `DynamicForward`.
    pub async fn start(
        &self,
        conn: &nacre::Connection,
        opts: &ClientOptions,
    ) -> anyhow::Result<Forwards> {
        let config = |name: &str| -> Vec<String> {
            opts.pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(":"))
                .collect()
        };
        let exit = opts
            .option("exitonforwardfailure")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let mut forwards = Forwards::default();
        for spec in [self.local.clone(), config("localforward")].concat() {
            forwards.local(conn, &spec, exit).await?;
        }
        for spec in [self.remote.clone(), config("remoteforward")].concat() {
            forwards.remote(conn, &spec, exit).await?;
        }
        for spec in [self.dynamic.clone(), config("dynamicforward")].concat() {
            let (bind, port) = crate::socks::bind_spec(&spec)?;
            if let Err(e) = forwards.dynamic.listen(&bind, port).await {
                let e = anyhow::Error::new(e).context(format!("bind [{bind}]:{port}"));
                failed(exit, "Could not request local forwarding.".into(), e)?;
            }
        }
        Ok(forwards)
    }
}

impl Forwards {
    /// `-L [bind_address:]port:host:hostport`.
    async fn local(
        &mut self,
        conn: &nacre::Connection,
        spec: &str,
        exit: bool,
    ) -> anyhow::Result<()> {
        let (bind, port, _, _) = forward_spec(spec)?;
        if let Err(e) = self.statics.add_local(conn, spec).await {
            let bind = bind.as_deref().unwrap_or("127.0.0.1");
            let e = e.context(format!("bind [{bind}]:{port}"));
            failed(exit, "Could not request local forwarding.".into(), e)?;
        }
        Ok(())
    }

    /// `-R [bind_address:]port:host:hostport`.
    async fn remote(
        &mut self,
        conn: &nacre::Connection,
        spec: &str,
        exit: bool,
    ) -> anyhow::Result<()> {
        let (_, port, _, _) = forward_spec(spec)?;
        if let Err(e) = self.statics.add_remote(conn, spec).await {
            let word = if exit { "Error" } else { "Warning" };
            let what = format!("{word}: remote port forwarding failed for listen port {port}");
            failed(exit, what, e)?;
        }
        Ok(())
    }
}

impl Statics {
    /// Adds `-L [bind_address:]port:host:hostport`.
    pub async fn add_local(&mut self, conn: &nacre::Connection, spec: &str) -> anyhow::Result<()> {
        let (bind, port, host, hostport) = forward_spec(spec)?;
        let bind = bind.as_deref().unwrap_or("127.0.0.1");
        let addr: std::net::SocketAddr = format!("{bind}:{port}")
            .parse()
            .with_context(|| format!("Bad local forwarding specification '{spec}'"))?;
        let forward = conn.forward_local(addr, &host, hostport).await?;
        self.local.push((addr, forward));
        Ok(())
    }

    /// Adds `-R [bind_address:]port:host:hostport`.
    pub async fn add_remote(&mut self, conn: &nacre::Connection, spec: &str) -> anyhow::Result<()> {
        let (bind, port, host, hostport) = forward_spec(spec)?;
        let bind = bind.unwrap_or_else(|| "localhost".to_owned());
        let forward = conn
            .forward_remote(&bind, u32::from(port), (&host, hostport))
            .await?;
        self.remote.push((bind, port, forward));
        Ok(())
    }

    /// Ends the `-L` forwards on `port` (on `bind` only, when given); whether there was one.
    pub fn cancel_local(&mut self, bind: Option<&str>, port: u16) -> bool {
        let ip = bind.and_then(|b| b.parse::<std::net::IpAddr>().ok());
        let before = self.local.len();
        self.local
            .retain(|(addr, _)| !(addr.port() == port && ip.is_none_or(|ip| ip == addr.ip())));
        self.local.len() != before
    }

    /// Ends the `-R` forwards of `port` (of `bind` only, when given); whether there was one.
    pub fn cancel_remote(&mut self, bind: Option<&str>, port: u16) -> bool {
        let before = self.remote.len();
        self.remote
            .retain(|(b, p, _)| !(*p == port && bind.is_none_or(|bind| bind == b)));
        self.remote.len() != before
    }
}

/// `[bind_address:]port`, as `-KL`, `-KR` and `-KD` name a forward.
pub fn cancel_spec(spec: &str) -> Option<(Option<String>, u16)> {
    let (bind, port) = match spec.rsplit_once(':') {
        Some((b, p)) => (
            Some(b.trim_start_matches('[').trim_end_matches(']').to_owned()),
            p,
        ),
        None => (None, spec),
    };
    Some((bind, port.trim().parse().ok()?))
}

/// `[bind_address:]port:host:hostport`, checked (`~C`'s `-L` and `-R`).
pub fn valid_spec(spec: &str) -> bool {
    forward_spec(spec).is_ok()
}
