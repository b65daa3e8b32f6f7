//! The `nacre` command-line program.

mod options;
mod probe;
mod serve;

use clap::{Parser, Subcommand};

/// nacre: a pure-Rust SSH-2 and SFTP stack.
#[derive(Parser)]
#[command(name = "nacre", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an SSH server (transport and service request; authentication and SFTP arrive later).
    Serve(serve::ServeArgs),
    /// Connect to a server and report what it offers and what was negotiated.
    Probe(probe::ProbeArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NACRE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve::run(args).await,
        Command::Probe(args) => probe::run(args).await,
    }
}
