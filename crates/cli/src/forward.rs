//! `-L` and `-R` port forwards, as ssh's, for `nacre ssh` and `nacre exec`.

use anyhow::Context;

/// The forwarding flags.
#[derive(clap::Args)]
pub struct ForwardArgs {
    /// Local forward `[bind_address:]port:host:hostport` (repeatable), like ssh -L.
    #[arg(short = 'L')]
    local: Vec<String>,
    /// Remote forward `[bind_address:]port:host:hostport` (repeatable), like ssh -R.
    #[arg(short = 'R')]
    remote: Vec<String>,
}

/// The forwards in place; dropping them ends them.
pub type Forwards = (Vec<nacre::LocalForward>, Vec<nacre::RemoteForward>);

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
    /// Sets up every forward on `conn`: the flags' and the config's `LocalForward` and
    /// `RemoteForward` (`[bind_address:]port host:hostport`).
    pub async fn start(
        &self,
        conn: &nacre::Connection,
        opts: &crate::client_opts::ClientOptions,
    ) -> anyhow::Result<Forwards> {
        let config = |name: &str| -> Vec<String> {
            opts.pairs
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(":"))
                .collect()
        };
        let local = [self.local.clone(), config("localforward")].concat();
        let remote = [self.remote.clone(), config("remoteforward")].concat();
        let mut forwards: Forwards = (Vec::new(), Vec::new());
        for spec in &local {
            let (bind, port, host, hostport) = forward_spec(spec)?;
            let addr: std::net::SocketAddr =
                format!("{}:{port}", bind.as_deref().unwrap_or("127.0.0.1"))
                    .parse()
                    .with_context(|| format!("-L {spec}"))?;
            forwards.0.push(
                conn.forward_local(addr, &host, hostport)
                    .await
                    .with_context(|| format!("-L {spec}"))?,
            );
        }
        for spec in &remote {
            let (bind, port, host, hostport) = forward_spec(spec)?;
            let bind = bind.unwrap_or_else(|| "localhost".to_owned());
            forwards.1.push(
                conn.forward_remote(&bind, u32::from(port), (&host, hostport))
                    .await
                    .with_context(|| format!("-R {spec}"))?,
            );
        }
        Ok(forwards)
    }
}
