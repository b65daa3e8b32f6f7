//! The `nacre` command-line program.

mod auth_prompts;
mod background;
mod client_certs;
mod client_opts;
mod cmdline;
mod config_file;
mod conform;
mod decode;
mod escape;
mod exec;
mod forward;
mod host_keys;
mod keygen;
mod keygen_cert;
mod keygen_hosts;
mod keygen_show;
mod keygen_sig;
mod keygen_time;
mod learn;
mod localtime;
mod options;
mod probe;
mod prompt;
mod serve;
mod serve_accounts;
mod serve_certs;
mod serve_config;
mod server_options;
mod session;
mod sftp;
mod sftp_server;
mod shorthands;
mod socks;
mod ssh;
mod ssh_config;
mod status;
mod stdio_forward;
mod terminal;
mod update_host_keys;
mod visible;

use clap::{Parser, Subcommand};

/// nacre: a pure-Rust SSH-2 and SFTP stack.
#[derive(Parser)]
#[command(name = "nacre", version, about)]
struct Cli {
    /// -v: status log (`Status:`, `Command:`, `Response:` lines, as FileZilla's); -vv: also one
    /// line per SSH packet (direction, sequence number, message, payload length); NACRE_LOG sets
    /// a tracing filter (e.g. NACRE_LOG=debug).
    #[arg(short = 'v', action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an SSH server.
    Serve(serve::ServeArgs),
    /// Connect to a server and report what it offers and what was negotiated.
    Probe(probe::ProbeArgs),
    /// An SFTP client with OpenSSH's commands (interactive, or -b batch).
    Sftp(sftp::SftpArgs),
    /// ssh: run a command, or a login shell (with a pty on a terminal); -N for forwards only.
    Ssh(ssh::SshArgs),
    /// Run a command on a server: stdin, stdout and stderr streamed, exit status propagated.
    Exec(exec::ExecArgs),
    /// Serve SFTP on stdin/stdout (like OpenSSH's sftp-server; for `sftp -D` or a Subsystem line).
    SftpServer(sftp_server::SftpServerArgs),
    /// ssh-keygen: generate a key (asking file and passphrase), -l/-lv, -y, -p, -F/-R.
    Keygen(keygen::KeygenArgs),
    /// Decode every SSH message of a pcap/pcapng capture, decrypted with a key log.
    Decode(decode::DecodeArgs),
    /// Check a server against the SSH and SFTP specifications, clause by clause.
    Conform(conform::ConformArgs),
    /// A state-learning mapper: abstract SSH client inputs on stdin, the server's answers on stdout.
    LearnAdapter(learn::LearnArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server accepts on a multi-threaded runtime and serves each connection on a
    // single-threaded one (`Server::run_sharded`). The client commands hold one connection:
    // one thread keeps its tasks (driver, channels, SFTP) on one core, which is faster than
    // handing data between worker threads (docs/PERFORMANCE.md).
    let runtime = match cli.command {
        Command::Serve(_) => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()?;
    // The client commands fail with 255, as OpenSSH's do, so a script can tell their own
    // failures from the remote command's status.
    let failure = match cli.command {
        Command::Sftp(_) | Command::Ssh(_) | Command::Exec(_) | Command::Keygen(_) => 255,
        _ => 1,
    };
    if let Err(e) = runtime.block_on(run(cli)) {
        // One line, each cause once, no backtrace (whatever RUST_BACKTRACE says), escaped: it
        // may quote a server.
        eprintln!("nacre: {}", visible::visible_text(&error_line(&e), false));
        std::process::exit(failure);
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // -v: the status log (crate::status); -vv: also the transport's packet lines. Everything
    // else at debug level is for NACRE_LOG=debug.
    status::init(cli.verbose);
    // With -v the status log reports the server's connection events: the listener's own info
    // lines would say each twice.
    // The per-operation SFTP log (open/close with bytes, remove, rename, ... as sftp-server -l)
    // from -v on.
    let default = match cli.verbose {
        0 => "info,nacre::sftp=warn",
        1 => "info,nacre::listener=warn",
        _ => "info,nacre::listener=warn,nacre::packet=debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NACRE_LOG")
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a terminal: a log redirected to a file stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Probe(args) => probe::run(args).await,
        Command::Keygen(args) => {
            let code = keygen::run(args, cli.verbose)?;
            std::process::exit(code);
        }
        Command::SftpServer(args) => sftp_server::run(args).await,
        Command::Decode(args) => decode::run(args),
        Command::Conform(args) => conform::run(args).await,
        Command::LearnAdapter(args) => learn::run(args).await,
        Command::Sftp(args) => {
            let code = sftp::run(args).await?;
            std::process::exit(code);
        }
        Command::Ssh(args) => {
            let code = ssh::run(args).await?;
            std::process::exit(code);
        }
        Command::Exec(args) => {
            let code = exec::run(args).await?;
            std::process::exit(code);
        }
    }
}

/// An error and its causes on one line, `outer: inner: root`, dropping a cause that only
/// repeats the text before it (as errors that wrap one another often do).
fn error_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if parts.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        parts.push(text);
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_cause_once_on_one_line() {
        let inner =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let e = anyhow::Error::new(inner)
            .context("connection refused")
            .context("connection to example port 22");
        assert_eq!(
            super::error_line(&e),
            "connection to example port 22: connection refused"
        );
    }
}
