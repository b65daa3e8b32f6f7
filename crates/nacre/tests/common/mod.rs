//! What the in-memory client/server tests of the runtime share: alice's password policy, a
//! server built around a transport configuration, and a pipe to it.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use nacre::auth::AuthServerConfig;
use nacre::transport::Config;
use nacre::{AuthContext, AuthPolicy, PasswordCheck, Server, ServerConfig, ServerLimits};

/// alice's password is "secret"; keys are never accepted (but offered as a method).
pub struct Alice;

impl AuthPolicy for Alice {
    fn password(&self, ctx: &AuthContext, password: &str) -> PasswordCheck {
        if ctx.user == "alice" && password == "secret" {
            PasswordCheck::Accept
        } else {
            PasswordCheck::Reject
        }
    }
}

/// alice's server with this transport configuration (no delay after a failed attempt).
pub fn server_with(transport: Config) -> Server {
    Server::new(
        Arc::new(transport),
        AuthServerConfig {
            failure_delay: Duration::ZERO,
            ..AuthServerConfig::default()
        },
        Arc::new(Alice),
        ServerConfig::default(),
        ServerLimits::default(),
    )
}

/// A client end whose server end `server` serves on a task of its own.
pub fn pipe(server: &Server) -> tokio::io::DuplexStream {
    let (client, server_end) = tokio::io::duplex(1 << 16);
    let server = server.clone();
    tokio::spawn(async move { server.serve(server_end, None).await });
    client
}
