//! `nacre exec`: run a command on a server with stdin, stdout and stderr streamed and the exit
//! status propagated, like `ssh host command` (`nacre ssh host command` is the same).

use crate::client_opts::ConnectArgs;
use crate::forward::ForwardArgs;
use crate::session::Plan;

/// Arguments of `nacre exec`.
#[derive(clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    forwards: ForwardArgs,
    /// Force a pseudo-terminal (as ssh -tt).
    #[arg(short = 't')]
    tty: bool,
    /// [user@]host
    destination: String,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Runs `nacre exec`; returns the process exit code.
pub async fn run(args: ExecArgs) -> anyhow::Result<i32> {
    let mut opts = args.connect.client_options(&args.destination)?;
    opts.remote_command = true;
    let mut conn = opts.connect().await?;
    let mut forwards = args.forwards.start(&conn, &opts).await?;
    let plan = Plan {
        command: Some(args.command.join(" ")),
        pty: args.tty,
        pty_required: args.tty,
        stdin_null: false,
        escape: args.tty.then_some(b'~'),
        quiet: !args.tty,
        subsystem: false,
    };
    let code = crate::session::run(&opts, &mut conn, &plan, &mut forwards).await?;
    drop(forwards);
    crate::update_host_keys::settle().await;
    Ok(code)
}
