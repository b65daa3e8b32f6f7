//! An SFTP server for one folder, with its own user table: logins checked by an async policy
//! (a password table and one public key), no Unix accounts involved.
//!
//! ```text
//! cargo run --example sftp_server -- ROOT [ADDRESS] [--key FILE.pub]
//! ```
//!
//! Serves `ROOT` as `/` on `ADDRESS` (default 127.0.0.1:2222; port 0: any free port) with a new
//! host key each start; prints `listening on ADDRESS`. User `alice` logs in with the password
//! `wonderland`, user `bob` with the key in `FILE.pub` (an OpenSSH `.pub` line). Try it with
//! `sftp -P 2222 alice@127.0.0.1`.

use std::collections::HashMap;

use nacre::keys::PublicKey;
use nacre::{ActAs, AsyncAuthPolicy, AuthContext, AuthFuture, PasswordCheck, Server};

/// The users: passwords by name, and bob's key. A real server would ask a database here; the
/// methods are async so it can.
struct Users {
    passwords: HashMap<String, String>,
    bob_key: Option<PublicKey>,
}

impl AsyncAuthPolicy for Users {
    fn password<'a>(
        &'a self,
        ctx: &'a AuthContext,
        password: &'a str,
    ) -> AuthFuture<'a, PasswordCheck> {
        Box::pin(async move {
            match self.passwords.get(&ctx.user) {
                Some(p) if p == password => PasswordCheck::Accept,
                _ => PasswordCheck::Reject,
            }
        })
    }

    fn publickey<'a>(&'a self, ctx: &'a AuthContext, key: &'a PublicKey) -> AuthFuture<'a, bool> {
        Box::pin(async move { ctx.user == "bob" && self.bob_key.as_ref() == Some(key) })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut root = None;
    let mut address = "127.0.0.1:2222".to_owned();
    let mut bob_key = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--key" => {
                let path = args.next().ok_or("--key needs a .pub file")?;
                let line = std::fs::read_to_string(&path)?;
                let (key, _comment) = PublicKey::from_openssh_line(line.trim())
                    .map_err(|e| format!("{path}: {e}"))?;
                bob_key = Some(key);
            }
            _ if root.is_none() => root = Some(arg),
            _ => address = arg,
        }
    }
    let root = root.ok_or("usage: sftp_server ROOT [ADDRESS] [--key FILE.pub]")?;
    let users = Users {
        passwords: HashMap::from([("alice".to_owned(), "wonderland".to_owned())]),
        bob_key,
    };
    let server = Server::builder()
        .ephemeral_host_key()
        .async_auth_policy(users)
        .sftp(&root)
        // The users are this table's, not the system's: files are the server process's.
        .act_as(ActAs::ServerProcess)
        .build()?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on {}", listener.local_addr()?);
    server.run(listener).await?;
    Ok(())
}
