//! `nacre ssh [user@]host [command...]`, as OpenSSH's ssh: a command runs with its exit status
//! passed on; without one, a login shell with a pty when standard input is a terminal (`-t`,
//! `-tt`, `-T`, `RequestTTY`); `-N` keeps only the forwards (`-L`, `-R`, `-D`); `-W` carries
//! standard input and output; `-n` reads nothing; `-f` goes to the background once
//! authenticated; escape sequences (`~.`, `~?`, ...) on a pty session, `-e`/`EscapeChar`.

use std::io::IsTerminal;

use crate::client_opts::{ClientOptions, ConnectArgs};
use crate::forward::ForwardArgs;
use crate::session::Plan;

/// Arguments of `nacre ssh`.
#[derive(clap::Args)]
pub struct SshArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    forwards: ForwardArgs,
    /// Ask for a pseudo-terminal (-t: when standard input is a terminal; -tt: always).
    #[arg(short = 't', action = clap::ArgAction::Count)]
    tty: u8,
    /// No pseudo-terminal.
    #[arg(short = 'T')]
    no_tty: bool,
    /// No command, no shell: only the forwards, until the connection ends or a signal.
    #[arg(short = 'N')]
    no_command: bool,
    /// Standard input from /dev/null.
    #[arg(short = 'n')]
    stdin_null: bool,
    /// Go to the background once authenticated and the forwards set up (implies -n; with -N
    /// or a command).
    #[arg(short = 'f')]
    fork: bool,
    /// Standard input and output carried to `host:port` as the server sees it (as ssh -W, for
    /// ProxyCommand); no session, no other forwards.
    #[arg(short = 'W')]
    stdio_forward: Option<String>,
    /// Escape character (default ~), `^X` for a control character, or `none`.
    #[arg(short = 'e')]
    escape: Option<String>,
    /// Quiet: no `Connection to HOST closed.` and other notes.
    #[arg(short = 'q')]
    quiet: bool,
    /// The command names a subsystem of the server (`nacre ssh -s host sftp`).
    #[arg(short = 's')]
    subsystem: bool,
    /// Print the version (`nacre X.Y.Z`) on stderr and exit, as ssh -V.
    #[arg(short = 'V')]
    version: bool,
    /// [user@]host
    #[arg(required_unless_present = "version")]
    destination: Option<String>,
    /// The command and its arguments (joined with spaces, as ssh does).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `RequestTTY` as ssh resolves it with `-t`/`-T`: no, yes, force or auto.
fn request_tty(args: &SshArgs, opts: &ClientOptions) -> String {
    match (args.tty, args.no_tty) {
        (_, true) => "no".to_owned(),
        (1, _) => "yes".to_owned(),
        (2.., _) => "force".to_owned(),
        _ => opts
            .option("requesttty")
            .unwrap_or("auto")
            .to_ascii_lowercase(),
    }
}

/// Whether a pty was asked for explicitly (`-t`, `RequestTTY yes` or `force`): as ssh, its
/// refusal then ends the session.
fn pty_required(args: &SshArgs, opts: &ClientOptions) -> bool {
    matches!(request_tty(args, opts).as_str(), "yes" | "true" | "force")
}

/// Whether to ask for a pty, and ssh's note when one is wanted but stdin is not a terminal.
fn wants_pty(args: &SshArgs, opts: &ClientOptions, command: Option<&String>) -> bool {
    let mode = request_tty(args, opts);
    let wanted = match mode.as_str() {
        "no" | "false" => false,
        "yes" | "true" | "force" => true,
        _ => command.is_none(),
    };
    let terminal = std::io::stdin().is_terminal() && !args.stdin_null;
    if wanted && !terminal && mode != "force" {
        if !args.quiet {
            eprintln!("Pseudo-terminal will not be allocated because stdin is not a terminal.");
        }
        return false;
    }
    wanted
}

/// An ssh_config yes/no value that is yes.
fn yes(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("yes") || v.eq_ignore_ascii_case("true"))
}

/// Runs `nacre ssh`; returns the exit code.
pub async fn run(args: SshArgs) -> anyhow::Result<i32> {
    let Some(destination) = args.destination.as_deref().filter(|_| !args.version) else {
        eprintln!("nacre {}", env!("CARGO_PKG_VERSION"));
        return Ok(0);
    };
    let opts = args.connect.client_options(destination)?;
    if let Some(spec) = &args.stdio_forward {
        let (host, port) = crate::stdio_forward::spec(spec)?;
        let conn = opts.connect().await?;
        return crate::stdio_forward::run(&conn, &host, port).await;
    }
    let escape = match args.escape.as_deref().or(opts.option("escapechar")) {
        Some(v) => crate::escape::parse_escape(v)?,
        None => Some(b'~'),
    };
    let command = if args.command.is_empty() {
        opts.option("remotecommand").map(str::to_owned)
    } else {
        Some(args.command.join(" "))
    };
    let no_command = args.no_command
        || opts
            .option("sessiontype")
            .is_some_and(|v| v.eq_ignore_ascii_case("none"));
    let fork = args.fork || yes(opts.option("forkafterauthentication"));
    let background = fork && crate::background::is_child();
    if fork && !background {
        if command.is_none() && !no_command {
            eprintln!("Cannot fork into background without a command to execute.");
            return Ok(255);
        }
        return crate::background::start().await;
    }
    let pty = !no_command && !background && wants_pty(&args, &opts, command.as_ref());
    let stdin_null = args.stdin_null || background || yes(opts.option("stdinnull"));
    let opts = ClientOptions {
        remote_command: command.is_some(),
        ..opts
    };
    let mut conn = opts.connect().await?;
    let mut forwards = args.forwards.start(&conn, &opts).await?;
    if background {
        crate::background::detach(no_command);
    }
    let code = if no_command {
        crate::session::no_command(&opts, &mut conn, &forwards.dynamic).await?
    } else {
        let plan = Plan {
            command,
            pty,
            pty_required: pty && pty_required(&args, &opts),
            stdin_null,
            escape,
            quiet: args.quiet,
            subsystem: args.subsystem,
        };
        crate::session::run(&opts, &mut conn, &plan, &mut forwards).await?
    };
    drop(forwards);
    crate::update_host_keys::settle().await;
    Ok(code)
}
