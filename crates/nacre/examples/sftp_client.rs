//! An SFTP client in a page: lists a folder, uploads and downloads with a progress line.
//!
//! ```text
//! cargo run --example sftp_client -- [user@]host[:port] ls PATH
//! cargo run --example sftp_client -- [user@]host[:port] get REMOTE LOCAL
//! cargo run --example sftp_client -- [user@]host[:port] put LOCAL REMOTE
//! ```
//!
//! Logs in with the agent and `~/.ssh` keys, or the password in `NACRE_PASSWORD`; checks the
//! host key against `~/.ssh/known_hosts`.

use std::path::Path;
use std::time::Duration;

use nacre::{Client, SftpClient};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, command, rest @ ..] = args.as_slice() else {
        return Err("usage: sftp_client [user@]host[:port] ls|get|put ARGS".into());
    };
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
    let sftp = client.connect(addr).await?.sftp().await?;
    match (command.as_str(), rest) {
        ("ls", [path]) => {
            for entry in sftp.list_dir(path).await? {
                println!("{}", String::from_utf8_lossy(&entry.longname));
            }
        }
        ("get", [remote, local]) => {
            let size = sftp.stat(remote).await?.size.unwrap_or(0);
            let done = with_progress(local.as_ref(), size, sftp.download(remote, local)).await?;
            println!("{remote} -> {local}: {done} bytes");
        }
        ("put", [local, remote]) => {
            let size = std::fs::metadata(local)?.len();
            let sent =
                with_progress_remote(&sftp, remote, size, sftp.upload(local, remote)).await?;
            println!("{local} -> {remote}: {sent} bytes");
        }
        _ => return Err("usage: sftp_client [user@]host[:port] ls|get|put ARGS".into()),
    }
    Ok(())
}

/// Runs a download, printing how much of `size` bytes the local file holds every 200 ms.
async fn with_progress<F: std::future::Future>(local: &Path, size: u64, transfer: F) -> F::Output {
    let meter = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = std::fs::metadata(local).map_or(0, |m| m.len());
            eprint!("\r{:>3}% {now} of {size} bytes", percent(now, size));
        }
    };
    tokio::select! {
        out = transfer => { eprintln!(); out }
        () = meter => unreachable!("the meter never ends"),
    }
}

/// Runs an upload, printing how much of `size` bytes the remote file holds every 200 ms.
async fn with_progress_remote<F: std::future::Future>(
    sftp: &SftpClient,
    remote: &str,
    size: u64,
    transfer: F,
) -> F::Output {
    let meter = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = sftp
                .stat(remote)
                .await
                .ok()
                .and_then(|a| a.size)
                .unwrap_or(0);
            eprint!("\r{:>3}% {now} of {size} bytes", percent(now, size));
        }
    };
    tokio::select! {
        out = transfer => { eprintln!(); out }
        () = meter => unreachable!("the meter never ends"),
    }
}

fn percent(now: u64, size: u64) -> u64 {
    (now * 100).checked_div(size).unwrap_or(100).min(100)
}
