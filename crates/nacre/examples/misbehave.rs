//! A scripted protocol test through nacre's raw handle: before authenticating, send a
//! `SSH_MSG_CHANNEL_OPEN` (RFC 4254 §5.1), which a server must not honour (RFC 4252 §6: the
//! connection protocol starts only after authentication; CVE-2025-32433 in Erlang/OTP's ssh was
//! a server that ran it). Then ask for authentication with `none` and see what comes back.
//!
//! ```text
//! cargo run --example misbehave -- host[:port]
//! ```
//!
//! Prints the server's reaction; exits 0 when it is one the RFCs allow (the open is ignored or
//! refused and authentication goes on, or the server disconnects), 1 when the server opened the
//! channel, 2 when the test could not run. The host key is not checked: this is a probe.

use std::time::Duration;

use bytes::Bytes;
use nacre::transport::Config;
use nacre::wire::put;
use nacre::{ClientConfig, Connection};

const MSG_USERAUTH_REQUEST: u8 = 50;
const MSG_USERAUTH_FAILURE: u8 = 51;
const MSG_USERAUTH_SUCCESS: u8 = 52;
const MSG_CHANNEL_OPEN: u8 = 90;
const MSG_CHANNEL_OPEN_CONFIRMATION: u8 = 91;
const MSG_CHANNEL_OPEN_FAILURE: u8 = 92;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let code = match run().await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            eprintln!("misbehave: {e}");
            2
        }
    };
    std::process::exit(code);
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .ok_or("usage: misbehave host[:port]")?;
    let addr = if addr.contains(':') {
        addr
    } else {
        format!("{addr}:22")
    };
    let config = ClientConfig {
        transport: std::sync::Arc::new(Config::client()),
        verify_host_key: std::sync::Arc::new(|_| true),
    };
    // Key exchange and the `ssh-userauth` service; from here on we speak the protocol ourselves.
    let mut conn = Connection::connect(addr.as_str(), config).await?;

    // The wrong message: a session channel, unauthenticated.
    let mut open = vec![MSG_CHANNEL_OPEN];
    put::string(&mut open, b"session");
    put::uint32(&mut open, 0); // sender channel
    put::uint32(&mut open, 2 * 1024 * 1024); // initial window
    put::uint32(&mut open, 32 * 1024); // maximum packet
    conn.raw().send(Bytes::from(open)).await?;
    println!("sent     CHANNEL_OPEN \"session\" before authentication");

    // Then a well-formed `none` request: a server that went on answers it.
    let mut none = vec![MSG_USERAUTH_REQUEST];
    put::string(&mut none, b"misbehave");
    put::string(&mut none, b"ssh-connection");
    put::string(&mut none, b"none");
    conn.raw().send(Bytes::from(none)).await?;
    println!("sent     USERAUTH_REQUEST none");

    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), conn.raw().recv()).await;
        let Ok(packet) = next else {
            println!("got      nothing for 10 s");
            return Err("the server went silent".into());
        };
        let Some(packet) = packet else {
            let reason = conn.closed().await;
            println!("got      the connection closed: {reason}");
            println!("PASS     the server ended the connection instead of opening the channel");
            return Ok(true);
        };
        match packet.first().copied() {
            Some(MSG_CHANNEL_OPEN_CONFIRMATION) => {
                println!("got      CHANNEL_OPEN_CONFIRMATION");
                println!("FAIL     a channel opened without authentication");
                return Ok(false);
            }
            Some(MSG_CHANNEL_OPEN_FAILURE) => println!("got      CHANNEL_OPEN_FAILURE"),
            Some(MSG_USERAUTH_FAILURE) => {
                println!("got      USERAUTH_FAILURE");
                println!("PASS     the open was not honoured and authentication went on");
                return Ok(true);
            }
            Some(MSG_USERAUTH_SUCCESS) => {
                println!("got      USERAUTH_SUCCESS (the server allows `none`)");
                println!("PASS     the open was not honoured before authentication");
                return Ok(true);
            }
            Some(other) => println!("got      message {other}"),
            None => println!("got      an empty packet"),
        }
    }
}
