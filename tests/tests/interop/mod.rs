//! The parts of the interoperability matrix (tests/tests/interop_matrix.rs).

pub mod dropbear;
pub mod fixtures;
pub mod libs;
pub mod nacre_client;
pub mod openssh;
pub mod putty;
pub mod rekeys;
pub mod report;
pub mod sweep;
pub mod tinyssh;
pub mod tools;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nacre::transport::Negotiated;
use nacre_tests::{ensure_test_user, repo_root, run_with_timeout};

use fixtures::{NacreTarget, T};

/// tests/peers: the driver scripts.
pub fn peers_dir() -> PathBuf {
    repo_root().join("tests/peers")
}

/// What the session that `t` accepted after the first `before` ones negotiated (the rows that check this
/// use a server of their own, one connection at a time).
pub fn new_session(t: &NacreTarget, before: usize) -> Result<Option<Negotiated>, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let sessions = t.server.sessions();
        if let Some(s) = sessions.get(before) {
            if sessions.len() > before + 1 {
                return Err(format!(
                    "{} sessions instead of one",
                    sessions.len() - before
                ));
            }
            return Ok(s.negotiated);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "nacre's server recorded no session; its errors: {:?}",
                t.server.errors()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh folder in the test user's home, owned by it (the peers' SFTP servers run as that user).
pub fn peer_folder() -> tempfile::TempDir {
    let user = ensure_test_user();
    let dir = tempfile::Builder::new()
        .prefix("nacre-interop-")
        .tempdir_in(&user.home)
        .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
    dir
}

/// The first line of a command's output (stdout, else stderr), for version strings.
pub fn first_line(program: &str, args: &[&str]) -> String {
    let out = run_with_timeout(Command::new(program).args(args), T);
    let text = if out.stdout.trim().is_empty() {
        out.stderr
    } else {
        out.stdout
    };
    text.lines().next().unwrap_or("").trim().to_owned()
}

pub fn dpkg_version(package: &str) -> String {
    first_line("dpkg-query", &["-W", "-f", "${Version}", package])
}

/// Peer versions, each as (short name used in the rows, full text for the table).
pub struct Versions {
    pub openssh: String,
    pub dropbear: String,
    pub putty: String,
    pub filezilla: String,
    pub curl: String,
    /// The libraries driven through tests/peers drivers (interop/libs.rs), with their versions.
    pub libs: Vec<(libs::Lib, String)>,
    pub tinyssh: String,
    /// lftp, rsync and git (interop/tools.rs).
    pub tools: (String, String, String),
    pub table: Vec<(String, String)>,
}

pub fn versions() -> Versions {
    let ssh = first_line("ssh", &["-V"]);
    let openssh = ssh
        .split([' ', ','])
        .next()
        .unwrap_or("OpenSSH")
        .replace('_', " ");
    let db = first_line("dropbear", &["-V"]);
    let dropbear = format!(
        "Dropbear {}",
        db.split_whitespace()
            .find(|w| w.starts_with('v'))
            .unwrap_or("")
            .trim_start_matches('v')
    );
    let plink = first_line("plink", &["-V"]);
    let putty = format!("PuTTY {}", plink.split_whitespace().last().unwrap_or(""));
    let fz = dpkg_version("filezilla");
    let filezilla = format!("FileZilla {}", fz.split(['-', '+']).next().unwrap_or(""));
    let curl_v = first_line("curl", &["-V"]);
    let libssh2 = curl_v
        .split_whitespace()
        .find(|w| w.starts_with("libssh2/"))
        .unwrap_or("libssh2/?")
        .replace('/', " ");
    let curl = format!(
        "curl {} / {libssh2}",
        curl_v.split_whitespace().nth(1).unwrap_or("")
    );
    let libs: Vec<(libs::Lib, String)> = libs::Lib::ALL.iter().map(|&l| (l, l.version())).collect();
    let mut table = vec![
        ("OpenSSH".to_owned(), ssh),
        ("Dropbear".to_owned(), db),
        ("PuTTY".to_owned(), plink),
        (
            "FileZilla (fzsftp)".to_owned(),
            format!("filezilla {fz} (Debian package)"),
        ),
        ("curl".to_owned(), curl_v),
    ];
    table.extend(libs.iter().map(|(l, v)| (l.name().to_owned(), v.clone())));
    let tinyssh = tinyssh::version();
    table.push((
        "TinySSH".to_owned(),
        format!("tinysshd {} (Debian package)", dpkg_version("tinysshd")),
    ));
    let tools = tools::versions();
    for (name, program) in [("lftp", "lftp"), ("rsync", "rsync"), ("git", "git")] {
        table.push((name.to_owned(), first_line(program, &["--version"])));
    }
    Versions {
        openssh,
        dropbear,
        putty,
        filezilla,
        curl,
        libs,
        tinyssh,
        tools,
        table,
    }
}
