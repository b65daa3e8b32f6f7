//! Runs a command on a server and streams its output, as `ssh host command` does, and exits
//! with the command's status (255 when the connection fails, as ssh).
//!
//! ```text
//! cargo run --example exec -- [user@]host[:port] command [args...]
//! ```
//!
//! Logs in with the agent and `~/.ssh` keys, or the password in `NACRE_PASSWORD`; checks the
//! host key against `~/.ssh/known_hosts`.

use nacre::{Client, ExitStatus};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let code = match run().await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("exec: {e}");
            255
        }
    };
    std::process::exit(code);
}

async fn run() -> Result<i32, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args
        .next()
        .ok_or("usage: exec [user@]host[:port] command...")?;
    let command = args.collect::<Vec<_>>().join(" ");
    let mut client = Client::builder();
    let addr = match target.split_once('@') {
        Some((user, addr)) => {
            client = client.user(user);
            addr.to_owned()
        }
        None => target,
    };
    if let Ok(password) = std::env::var("NACRE_PASSWORD") {
        client = client.password(password);
    }
    let conn = client.connect(&addr).await?;

    let mut channel = conn.open_session().await?;
    channel.exec(&command).await?;
    channel.eof()?; // nothing on its standard input
    let mut stderr = channel.stderr();
    let (mut our_out, mut our_err) = (tokio::io::stdout(), tokio::io::stderr());
    let (out, err) = tokio::join!(
        tokio::io::copy(&mut channel, &mut our_out),
        tokio::io::copy(&mut stderr, &mut our_err),
    );
    out?;
    err?;
    Ok(match channel.exit_status().await {
        Some(ExitStatus::Code(code)) => code as i32,
        Some(ExitStatus::Signal { name, .. }) => {
            eprintln!("exec: the command died of SIG{name}");
            255
        }
        None => 255,
    })
}
