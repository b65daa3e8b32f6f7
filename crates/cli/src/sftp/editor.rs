//! The interactive `sftp>` prompt: line editing with history (rustyline), TAB completion of
//! command names and of remote and local paths (which side each argument is on, as OpenSSH's
//! `complete`), Ctrl-C at the prompt starting a new line, Ctrl-C during a command cancelling it
//! (`Interrupt`) with the connection kept, and a connection that ends under the prompt ending
//! the program. Lines typed ahead while a command runs, or pasted several at once, run one
//! after the other as OpenSSH's sftp runs them: the editor keeps what it read past a line for
//! the next prompt (rustyline's `buffer-redux`), and bracketed paste is off, so that each pasted
//! line ends at its own Enter instead of waiting in the edit buffer. An interrupted command takes
//! the lines queued behind it along, as OpenSSH's (the terminal drops its queue at Ctrl-C).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Context, Editor};

use super::commands::{connection_lost, report, Session, COMMANDS};
use super::glob;
use super::paths::{join, words};

/// What completion needs to know of the session.
struct Dirs {
    client: nacre_sftp::SftpClient,
    cwd: String,
    lcwd: PathBuf,
}

struct Helper {
    dirs: Arc<Mutex<Dirs>>,
    runtime: tokio::runtime::Handle,
}

impl rustyline::Helper for Helper {}
impl rustyline::hint::Hinter for Helper {
    type Hint = String;
}
impl rustyline::highlight::Highlighter for Helper {}
impl rustyline::validate::Validator for Helper {}

/// Which side an argument names.
#[derive(PartialEq, Eq)]
enum Side {
    Remote,
    Local,
    None,
}

/// The side of argument `n` (1-based, flags not counted) of `cmd`.
fn side(cmd: &str, n: usize) -> Side {
    match (cmd, n) {
        ("get" | "reget", 1) | ("put" | "reput", 2) => Side::Remote,
        ("get" | "reget", 2) | ("put" | "reput", 1) => Side::Local,
        ("get" | "reget" | "put" | "reput", _) => Side::None,
        ("lcd" | "lls" | "lmkdir", _) => Side::Local,
        ("chmod" | "chown" | "chgrp", 1) => Side::None,
        ("bye" | "exit" | "quit" | "help" | "?" | "pwd" | "lpwd" | "progress" | "version", _) => {
            Side::None
        }
        _ => Side::Remote,
    }
}

/// Where the word under the cursor starts (after the last space not escaped by `\`).
fn word_start(before: &str) -> usize {
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ' ' | '\t' => start = i + 1,
            _ => {}
        }
    }
    start
}

/// A name made safe to type back: spaces, quotes and glob characters escaped.
fn escape_word(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, ' ' | '\t' | '"' | '\'' | '\\' | '*' | '?' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Helper {
    /// The entries of folder `dir` on `side`: (name, is a folder).
    fn entries(&self, side: &Side, dir: &str) -> Vec<(String, bool)> {
        let Ok(d) = self.dirs.lock() else {
            return Vec::new();
        };
        match side {
            Side::Remote => {
                let path = join(&d.cwd, if dir.is_empty() { "." } else { dir });
                let client = d.client.clone();
                drop(d);
                let listed = self.runtime.block_on(client.list_dir(path.as_bytes()));
                listed
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| (e.name_lossy(), e.attrs.is_dir()))
                    .collect()
            }
            Side::Local => {
                let path = d
                    .lcwd
                    .join(super::local::tilde(if dir.is_empty() { "." } else { dir }));
                std::fs::read_dir(path)
                    .map(|rd| {
                        rd.flatten()
                            .map(|e| {
                                let dir = e.path().is_dir();
                                (e.file_name().to_string_lossy().into_owned(), dir)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }
            Side::None => Vec::new(),
        }
    }

    fn paths(&self, side: &Side, word: &str) -> Vec<Pair> {
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (
                word.get(..=i).unwrap_or(""),
                word.get(i + 1..).unwrap_or(""),
            ),
            None => ("", word),
        };
        let prefix = glob::unescape(prefix);
        let mut out: Vec<Pair> = self
            .entries(side, &glob::unescape(dir))
            .into_iter()
            .filter(|(n, _)| n != "." && n != "..")
            .filter(|(n, _)| {
                n.starts_with(&prefix) && (prefix.starts_with('.') || !n.starts_with('.'))
            })
            .map(|(n, is_dir)| Pair {
                display: if is_dir { format!("{n}/") } else { n.clone() },
                replacement: format!("{dir}{}{}", escape_word(&n), if is_dir { "/" } else { "" }),
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        out
    }
}

impl Completer for Helper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        let start = word_start(before);
        let word = before.get(start..).unwrap_or("");
        let earlier = words(before.get(..start).unwrap_or(""));
        let Some((cmd, args)) = earlier.split_first() else {
            let names = COMMANDS
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| Pair {
                    display: (*c).to_owned(),
                    replacement: format!("{c} "),
                })
                .collect();
            return Ok((start, names));
        };
        let n = args.iter().filter(|a| !a.starts_with('-')).count() + 1;
        let side = side(&cmd.to_ascii_lowercase(), n);
        Ok((start, self.paths(&side, word)))
    }
}

/// A line editor with completion over `dirs` and `history` (oldest first).
fn new_editor(
    dirs: &Arc<Mutex<Dirs>>,
    history: impl IntoIterator<Item = String>,
) -> anyhow::Result<Editor<Helper, DefaultHistory>> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .max_history_size(100)?
        .auto_add_history(true)
        .bracketed_paste(false)
        .build();
    let mut editor: Editor<Helper, DefaultHistory> = Editor::with_config(config)?;
    for line in history {
        editor.add_history_entry(line)?;
    }
    editor.set_helper(Some(Helper {
        dirs: dirs.clone(),
        runtime: tokio::runtime::Handle::current(),
    }));
    Ok(editor)
}

/// Reads and runs commands until `bye`, end of input or the end of the connection (`closed`).
pub async fn interactive<F>(session: &mut Session, closed: &mut F) -> anyhow::Result<i32>
where
    F: Future + Unpin,
    F::Output: std::fmt::Display,
{
    let (client, cwd, lcwd) = session.dirs();
    let dirs = Arc::new(Mutex::new(Dirs { client, cwd, lcwd }));
    let editor = new_editor(&dirs, std::iter::empty())?;
    let editor = Arc::new(Mutex::new(editor));
    let terminal = rustix::termios::tcgetattr(std::io::stdin()).ok();
    // Ctrl-C while a command runs cancels it; from here on SIGINT never ends the program.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    loop {
        if let Ok(mut d) = dirs.lock() {
            (d.client, d.cwd, d.lcwd) = session.dirs();
        }
        let ed = editor.clone();
        let read = tokio::task::spawn_blocking(move || match ed.lock() {
            Ok(mut e) => e.readline("sftp> "),
            Err(_) => Err(ReadlineError::Eof),
        });
        let line = tokio::select! {
            r = read => r?,
            e = &mut *closed => {
                restore(terminal.as_ref());
                return Err(super::Lost(e.to_string()).into());
            }
        };
        let line = match line {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                println!();
                return Ok(0);
            }
            Err(e) => return Err(e.into()),
        };
        drain(&mut sigint).await;
        let result = tokio::select! {
            r = session.execute(&line) => r,
            _ = sigint.recv() => {
                eprint!("\rInterrupt  \n");
                // As OpenSSH's sftp: lines typed or pasted ahead go with the interrupted command
                // (the kernel drops its queue at the interrupt; the editor's read-ahead too).
                if let Ok(mut e) = editor.lock() {
                    let kept: Vec<String> = e.history().iter().cloned().collect();
                    *e = new_editor(&dirs, kept)?;
                }
                Ok(true)
            }
            e = &mut *closed => Err(super::Lost(e.to_string()).into()),
        };
        match result {
            Ok(true) => {}
            Ok(false) => return Ok(0),
            Err(e) if connection_lost(&e) => return Err(e),
            Err(e) => report(&e),
        }
    }
}

/// Forgets a Ctrl-C that came while no command ran (in a `!` shell, say).
async fn drain(sigint: &mut tokio::signal::unix::Signal) {
    while let Ok(Some(())) = tokio::time::timeout(std::time::Duration::ZERO, sigint.recv()).await {}
}

/// Puts the terminal back as it was (the line editor may hold it in raw mode).
fn restore(saved: Option<&rustix::termios::Termios>) {
    if let Some(t) = saved {
        let _ =
            rustix::termios::tcsetattr(std::io::stdin(), rustix::termios::OptionalActions::Now, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_words() {
        assert!(side("get", 1) == Side::Remote && side("get", 2) == Side::Local);
        assert!(side("put", 1) == Side::Local && side("put", 2) == Side::Remote);
        assert!(side("lcd", 1) == Side::Local && side("rm", 1) == Side::Remote);
        assert_eq!(word_start("get my\\ fi"), 4);
        assert_eq!(escape_word("a b*"), "a\\ b\\*");
    }
}
