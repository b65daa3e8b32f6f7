//! Local port forwarding, as `ssh -N -L [bind:]port:host:hostport`: connections to the local
//! port are carried to `host:hostport` as the server sees it. Runs until Ctrl-C.
//!
//! ```text
//! cargo run --example port_forward -- [user@]host[:port] LOCALPORT:HOST:HOSTPORT
//! ```
//!
//! Prints `listening on ADDRESS` once the forward is up (port 0: any free port). Logs in with
//! the agent and `~/.ssh` keys, or the password in `NACRE_PASSWORD`; checks the host key against
//! `~/.ssh/known_hosts`.

use nacre::Client;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, spec] = args.as_slice() else {
        return Err("usage: port_forward [user@]host[:port] LOCALPORT:HOST:HOSTPORT".into());
    };
    let mut parts = spec.splitn(3, ':');
    let (Some(local), Some(host), Some(port)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("the forward is LOCALPORT:HOST:HOSTPORT".into());
    };
    let bind = std::net::SocketAddr::from(([127, 0, 0, 1], local.parse::<u16>()?));
    let mut client = Client::builder();
    let addr = match target.split_once('@') {
        Some((user, addr)) => {
            client = client.user(user);
            addr
        }
        None => target.as_str(),
    };
    if let Ok(password) = std::env::var("NACRE_PASSWORD") {
        client = client.password(password);
    }
    let mut conn = client.connect(addr).await?;
    let forward = conn.forward_local(bind, host, port.parse()?).await?;
    if let Some(addr) = forward.local_addr() {
        println!("listening on {addr}");
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        reason = conn.closed() => eprintln!("port_forward: connection closed: {reason}"),
    }
    Ok(())
}
