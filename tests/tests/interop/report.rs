//! The matrix's results and the Markdown written to `docs/INTEROP.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Which side is the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dir {
    /// The peer's client logs in to nacre's server.
    PeerToNacre,
    /// nacre's client logs in to the peer's server.
    NacreToPeer,
}

impl Dir {
    pub fn label(self) -> &'static str {
        match self {
            Dir::PeerToNacre => "peer client → nacre server",
            Dir::NacreToPeer => "nacre client → peer server",
        }
    }
}

/// One row of the scenario table: a peer program in one direction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// Sort key (the order rows are listed in).
    pub order: u32,
    /// The peer and its tools, with versions.
    pub peer: String,
    pub dir: Dir,
}

/// The scenario columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    Password,
    KeyEd25519,
    KeyEcdsa,
    KeyRsa,
    Exec,
    Sftp,
    RekeyByPeer,
    RekeyByNacre,
}

impl Scenario {
    pub const ALL: [Scenario; 8] = [
        Scenario::Password,
        Scenario::KeyEd25519,
        Scenario::KeyEcdsa,
        Scenario::KeyRsa,
        Scenario::Exec,
        Scenario::Sftp,
        Scenario::RekeyByPeer,
        Scenario::RekeyByNacre,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Scenario::Password => "password",
            Scenario::KeyEd25519 => "key ed25519",
            Scenario::KeyEcdsa => "key ecdsa",
            Scenario::KeyRsa => "key rsa",
            Scenario::Exec => "exec + exit status",
            Scenario::Sftp => "SFTP 10 MB",
            Scenario::RekeyByPeer => "rekey, peer forces",
            Scenario::RekeyByNacre => "rekey, nacre forces",
        }
    }
}

/// The algorithm families swept one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Kex,
    HostKey,
    Cipher,
    Mac,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Kex, Family::HostKey, Family::Cipher, Family::Mac];

    pub fn label(self) -> &'static str {
        match self {
            Family::Kex => "Key exchange",
            Family::HostKey => "Host key (signature) algorithm",
            Family::Cipher => "Cipher",
            Family::Mac => "MAC (with aes128-ctr)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Not applicable: the peer lacks the role, the tool or the algorithm.
    Na,
}

#[derive(Clone, Debug)]
pub struct Cell {
    pub row: Row,
    pub scenario: Scenario,
    pub status: Status,
    /// Why n.a., what failed, or a caveat of a pass. Empty for a plain pass.
    pub note: String,
    pub elapsed: Duration,
}

#[derive(Clone, Debug)]
pub struct SweepCell {
    pub family: Family,
    /// Position of the algorithm in nacre's list (`KexMethod::ALL` ...), for ordering.
    pub index: usize,
    pub alg: String,
    /// Column: the peer and direction, e.g. "OpenSSH → nacre".
    pub column: (u32, String),
    pub status: Status,
    pub note: String,
}

/// Everything the runner found.
#[derive(Default)]
pub struct Matrix {
    pub cells: Mutex<Vec<Cell>>,
    pub sweep: Mutex<Vec<SweepCell>>,
    /// What each row checks, keyed by row (free text shown under the table).
    pub how: Mutex<BTreeMap<Row, String>>,
}

impl Matrix {
    pub fn push(&self, cell: Cell) {
        let mark = match cell.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
            Status::Na => "n.a.",
        };
        eprintln!(
            "[interop] {:<34} {:<28} {:<20} {mark} ({:.1?}) {}",
            cell.row.peer,
            cell.row.dir.label(),
            cell.scenario.label(),
            cell.elapsed,
            first_line(&cell.note)
        );
        self.cells.lock().unwrap().push(cell);
    }

    pub fn push_sweep(&self, cell: SweepCell) {
        if cell.status != Status::Pass {
            eprintln!(
                "[interop] sweep {} {} {}: {:?} {}",
                cell.column.1,
                cell.family.label(),
                cell.alg,
                cell.status,
                first_line(&cell.note)
            );
        }
        self.sweep.lock().unwrap().push(cell);
    }

    /// Puts `why` before the note of a failed cell (a known cause).
    pub fn annotate(&self, row: &Row, scenario: Scenario, why: &str) {
        for c in self.cells.lock().unwrap().iter_mut() {
            if &c.row == row && c.scenario == scenario && c.status == Status::Fail {
                c.note = format!("{why} Error: {}", c.note);
            }
        }
    }

    pub fn describe(&self, row: &Row, text: &str) {
        self.how
            .lock()
            .unwrap()
            .insert(row.clone(), text.to_owned());
    }

    /// Every cell's baseline key with its status (see [`baseline_key`]).
    pub fn keyed(&self) -> Vec<(String, Status, String)> {
        let mut out: Vec<(String, Status, String)> = self
            .cells
            .lock()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    format!(
                        "{} | {} | {}",
                        stable(&c.row.peer),
                        c.row.dir.label(),
                        c.scenario.label()
                    ),
                    c.status,
                    c.note.clone(),
                )
            })
            .collect();
        out.extend(self.sweep.lock().unwrap().iter().map(|c| {
            (
                format!("sweep | {} | {} | {}", c.column.1, c.family.label(), c.alg),
                c.status,
                c.note.clone(),
            )
        }));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// A peer's name without its version numbers (words starting with a digit), so that the baseline
/// survives a peer's upgrade: "OpenSSH 9.2p1 (ssh, sftp)" → "OpenSSH (ssh, sftp)".
pub fn stable(peer: &str) -> String {
    peer.split_whitespace()
        .filter(|w| !w.starts_with(|c: char| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The baseline (tests/tests/interop/baseline.txt): the cells expected to pass, one key per line
/// (`PEER | DIRECTION | SCENARIO` or `sweep | COLUMN | FAMILY | ALGORITHM`), `#` comments.
pub struct Baseline {
    pub keys: std::collections::BTreeSet<String>,
}

/// What comparing a run with the baseline found.
#[derive(Default)]
pub struct Comparison {
    /// Baseline cells that did not pass (or did not run): each fails the test.
    pub regressions: Vec<String>,
    /// Cells that passed and are not in the baseline: reported, and fine.
    pub new_passes: Vec<String>,
    /// Cells that failed and are not in the baseline (known failures): reported, and fine.
    pub known_failures: Vec<String>,
}

impl Baseline {
    pub fn parse(text: &str) -> Baseline {
        Baseline {
            keys: text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The baseline file's text for the cells that passed in `m`.
    pub fn render(m: &Matrix) -> String {
        let mut out = String::from(
            "# The interop matrix's baseline: every cell expected to pass, one per line (PEER | DIRECTION | \
             SCENARIO,\n# or sweep | COLUMN | FAMILY | ALGORITHM; peer names without version numbers). \
             tests/tests/interop_matrix.rs\n# fails if one of these does not pass; a pass not listed here is \
             reported. Rewrite it from a run with\n# INTEROP_BASELINE_WRITE=1 after adding a peer or fixing a \
             cell, and review the diff.\n",
        );
        for (key, status, _) in m.keyed() {
            if status == Status::Pass {
                out.push_str(&key);
                out.push('\n');
            }
        }
        out
    }

    /// Compares a run with the baseline. With `partial` (INTEROP_ONLY), baseline cells the run did not
    /// record are not counted as regressions.
    pub fn compare(&self, m: &Matrix, partial: bool) -> Comparison {
        let cells = m.keyed();
        let mut c = Comparison::default();
        for key in &self.keys {
            match cells.iter().find(|(k, _, _)| k == key) {
                Some((_, Status::Pass, _)) => {}
                Some((_, st, note)) => c
                    .regressions
                    .push(format!("{key}: {st:?}: {}", short_line(note))),
                None if partial => {}
                None => c.regressions.push(format!("{key}: did not run")),
            }
        }
        for (key, st, note) in &cells {
            if self.keys.contains(key) {
                continue;
            }
            match st {
                Status::Pass => c.new_passes.push(key.clone()),
                Status::Fail => c
                    .known_failures
                    .push(format!("{key}: {}", short_line(note))),
                Status::Na => {}
            }
        }
        c
    }
}

/// One implementation (a code base) of the count in docs/INTEROP.md, and the rows that are its tools.
pub struct Implementation {
    pub name: &'static str,
    /// Row peers (stable names, [`stable`]) starting with one of these belong to it.
    pub rows: &'static [&'static str],
}

/// The independent implementations: PuTTY and FileZilla's fzsftp are one code base, so are OpenSSH's
/// tools; curl is libssh2. Rows that only use another implementation's transport (lftp, rsync, git over
/// OpenSSH's `ssh`) are listed under it.
pub const IMPLEMENTATIONS: &[Implementation] = &[
    Implementation {
        name: "OpenSSH",
        rows: &["OpenSSH", "lftp", "rsync", "git"],
    },
    Implementation {
        name: "Dropbear",
        rows: &["Dropbear"],
    },
    Implementation {
        name: "PuTTY (PuTTY tools, FileZilla's fzsftp)",
        rows: &["PuTTY", "FileZilla"],
    },
    Implementation {
        name: "libssh2 (curl)",
        rows: &["curl"],
    },
    Implementation {
        name: "paramiko",
        rows: &["paramiko"],
    },
    Implementation {
        name: "AsyncSSH",
        rows: &["AsyncSSH"],
    },
    Implementation {
        name: "Go x/crypto/ssh + pkg/sftp",
        rows: &["Go "],
    },
    Implementation {
        name: "Twisted Conch",
        rows: &["Twisted Conch"],
    },
    Implementation {
        name: "Erlang/OTP ssh",
        rows: &["Erlang"],
    },
    Implementation {
        name: "libssh",
        rows: &["libssh "],
    },
    Implementation {
        name: "TinySSH",
        rows: &["TinySSH"],
    },
    Implementation {
        name: "JSch",
        rows: &["JSch"],
    },
    Implementation {
        name: "Ruby net-ssh + net-sftp",
        rows: &["Ruby net-ssh"],
    },
    Implementation {
        name: "ssh2 (Node.js)",
        rows: &["ssh2 "],
    },
    Implementation {
        name: "Apache MINA SSHD",
        rows: &["Apache MINA SSHD"],
    },
];

fn implementation_of(row: &Row) -> Option<&'static Implementation> {
    let peer = stable(&row.peer);
    IMPLEMENTATIONS
        .iter()
        .find(|i| i.rows.iter().any(|r| peer.starts_with(r)))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Footnotes: each distinct note once, numbered in order of first use.
#[derive(Default)]
struct Notes {
    list: Vec<String>,
}

impl Notes {
    fn mark(&mut self, note: &str) -> String {
        if note.is_empty() {
            return String::new();
        }
        let note = short_line(note);
        let n = match self.list.iter().position(|x| *x == note) {
            Some(i) => i + 1,
            None => {
                self.list.push(note);
                self.list.len()
            }
        };
        format!(" [{n}](#note-{n})")
    }

    fn render(&self, out: &mut String) {
        for (i, n) in self.list.iter().enumerate() {
            let _ = writeln!(out, "{}. <a id=\"note-{}\"></a>{n}", i + 1, i + 1);
        }
    }
}

/// Markdown-safe single line.
fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// [`one_line`], cut to a readable length (failure notes can hold whole logs).
fn short_line(s: &str) -> String {
    let line = one_line(s);
    if line.chars().count() > 600 {
        line.chars().take(600).collect::<String>() + " …"
    } else {
        line
    }
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "**FAIL**",
        Status::Na => "n.a.",
    }
}

/// The whole `docs/INTEROP.md`. It holds no timings, so that a rerun with the same results and peers
/// rewrites the same file (the runner prints the timings).
/// The count of independent implementations: per implementation, each direction's rows and whether
/// every scenario that ran passed.
fn render_implementations(out: &mut String, cells: &[Cell], not_installed: &[(String, String)]) {
    let mut rows: Vec<Row> = cells.iter().map(|c| c.row.clone()).collect();
    rows.sort();
    rows.dedup();
    let verdict = |row: &Row| -> (usize, usize) {
        let mine: Vec<&Cell> = cells.iter().filter(|c| &c.row == row).collect();
        let pass = mine.iter().filter(|c| c.status == Status::Pass).count();
        let ran = mine.iter().filter(|c| c.status != Status::Na).count();
        (pass, ran)
    };
    let mut counted = 0;
    let mut lines = String::new();
    for imp in IMPLEMENTATIONS {
        let mine: Vec<&Row> = rows
            .iter()
            .filter(|r| implementation_of(r).is_some_and(|i| i.name == imp.name))
            .collect();
        let mut dirs = Vec::new();
        let mut all_pass = !mine.is_empty();
        for dir in [Dir::PeerToNacre, Dir::NacreToPeer] {
            let of_dir: Vec<String> = mine
                .iter()
                .filter(|r| r.dir == dir)
                .map(|r| {
                    let (pass, ran) = verdict(r);
                    if pass < ran {
                        all_pass = false;
                    }
                    format!("{} ({pass}/{ran} pass)", r.peer)
                })
                .collect();
            let cell = if of_dir.is_empty() {
                "—".to_owned()
            } else {
                of_dir.join("; ")
            };
            dirs.push(cell);
        }
        let status = if mine.is_empty() {
            match not_installed.iter().find(|(n, _)| n == imp.name) {
                Some(_) => "not installable here (see below)".to_owned(),
                None => "not run".to_owned(),
            }
        } else if all_pass {
            counted += 1;
            "every scenario that ran passes".to_owned()
        } else {
            counted += 1;
            "interoperates; some cells fail (see the table)".to_owned()
        };
        let _ = writeln!(
            lines,
            "| {} | {} | {} | {status} |",
            imp.name, dirs[0], dirs[1]
        );
    }
    let _ = writeln!(
        out,
        "## Independent implementations\n\n**{counted} independent implementations** interoperate with nacre \
         (a code base counts once: PuTTY and FileZilla's fzsftp are one, so are OpenSSH's tools; lftp, rsync \
         and git run over OpenSSH's `ssh` and are listed under it).\n\n\
         | implementation | peer client → nacre server | nacre client → peer server | result |\n\
         | --- | --- | --- | --- |"
    );
    out.push_str(&lines);
    if !not_installed.is_empty() {
        out.push_str("\nNot installable on the machines this project runs on:\n\n");
        for (name, why) in not_installed {
            let _ = writeln!(out, "- **{name}**: {}", one_line(why));
        }
    }
    out.push('\n');
}

pub fn render(
    m: &Matrix,
    header: &str,
    versions: &[(String, String)],
    not_installed: &[(String, String)],
) -> String {
    let cells = m.cells.lock().unwrap().clone();
    let sweep = m.sweep.lock().unwrap().clone();
    let mut notes = Notes::default();
    let mut out = String::new();
    out.push_str(header);

    let count = |st: Status| cells.iter().filter(|c| c.status == st).count();
    let scount = |st: Status| sweep.iter().filter(|c| c.status == st).count();
    let _ = writeln!(
        out,
        "\n**Result:** scenarios {} pass, {} fail, {} n.a.; algorithm sweep {} pass, {} fail, {} n.a.\n",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Na),
        scount(Status::Pass),
        scount(Status::Fail),
        scount(Status::Na),
    );

    render_implementations(&mut out, &cells, not_installed);

    out.push_str("## Peers\n\n| peer | version (detected at run time) |\n| --- | --- |\n");
    for (name, v) in versions {
        let _ = writeln!(out, "| {name} | {} |", one_line(v));
    }

    out.push_str("\n## Scenarios\n\n");
    let mut rows: Vec<Row> = cells.iter().map(|c| c.row.clone()).collect();
    rows.sort();
    rows.dedup();
    out.push_str("| peer | direction |");
    for s in Scenario::ALL {
        let _ = write!(out, " {} |", s.label());
    }
    out.push_str("\n| --- | --- |");
    for _ in Scenario::ALL {
        out.push_str(" --- |");
    }
    out.push('\n');
    for row in &rows {
        let _ = write!(out, "| {} | {} |", row.peer, row.dir.label());
        for s in Scenario::ALL {
            match cells.iter().find(|c| &c.row == row && c.scenario == s) {
                Some(c) => {
                    let _ = write!(out, " {}{} |", status_text(c.status), notes.mark(&c.note));
                }
                None => out.push_str(" — |"),
            }
        }
        out.push('\n');
    }

    out.push_str("\n### What each row runs\n\n");
    for (row, how) in m.how.lock().unwrap().iter() {
        let _ = writeln!(
            out,
            "- **{} ({})**: {}",
            row.peer,
            row.dir.label(),
            one_line(how)
        );
    }

    out.push_str(
        "\n## Algorithms, one at a time\n\nEach cell is one connection in which both sides were limited to \
         that one algorithm of the family (the other families not restricted): it must negotiate exactly \
         that algorithm (checked on nacre's side), authenticate and run a command. Only peers whose \
         algorithm lists a test can fix take part. n.a.: the peer does not implement the algorithm.\n",
    );
    let mut columns: Vec<(u32, String)> = sweep.iter().map(|c| c.column.clone()).collect();
    columns.sort();
    columns.dedup();
    for family in Family::ALL {
        let mut algs: Vec<(usize, String)> = sweep
            .iter()
            .filter(|c| c.family == family)
            .map(|c| (c.index, c.alg.clone()))
            .collect();
        algs.sort();
        algs.dedup();
        if algs.is_empty() {
            continue;
        }
        let _ = write!(out, "\n### {}\n\n| algorithm |", family.label());
        for (_, col) in &columns {
            let _ = write!(out, " {col} |");
        }
        out.push_str("\n| --- |");
        for _ in &columns {
            out.push_str(" --- |");
        }
        out.push('\n');
        for (_, alg) in &algs {
            let _ = write!(out, "| `{alg}` |");
            for col in &columns {
                match sweep
                    .iter()
                    .find(|c| c.family == family && &c.alg == alg && &c.column == col)
                {
                    Some(c) => {
                        let _ = write!(out, " {}{} |", status_text(c.status), notes.mark(&c.note));
                    }
                    None => out.push_str(" — |"),
                }
            }
            out.push('\n');
        }
    }

    out.push_str("\n## Notes\n\n");
    notes.render(&mut out);
    out
}
