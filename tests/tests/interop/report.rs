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

    pub fn describe(&self, row: &Row, text: &str) {
        self.how
            .lock()
            .unwrap()
            .insert(row.clone(), text.to_owned());
    }

    /// Failures (expected passes that did not pass), one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .cells
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| {
                format!(
                    "{} ({}) / {}: {}",
                    c.row.peer,
                    c.row.dir.label(),
                    c.scenario.label(),
                    c.note
                )
            })
            .collect();
        out.extend(
            self.sweep
                .lock()
                .unwrap()
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| {
                    format!(
                        "{} / {} {}: {}",
                        c.column.1,
                        c.family.label(),
                        c.alg,
                        c.note
                    )
                }),
        );
        out
    }
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
pub fn render(m: &Matrix, header: &str, versions: &[(String, String)]) -> String {
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
