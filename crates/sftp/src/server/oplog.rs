//! One log line per file operation, as OpenSSH's `sftp-server -l INFO` writes them (`open`,
//! `close ... bytes read R written W`, `opendir`, `closedir`, `remove`, `rename`, `mkdir`,
//! `rmdir`, `set`, `symlink`), under the tracing target `nacre::sftp` at INFO, each starting with
//! the session's [`crate::ServerConfig::log_label`] (who, from where). A failed operation says why,
//! as the status the client got. Paths are printed as Rust string literals: control bytes
//! escaped, so a client cannot forge log lines.

use std::sync::atomic::{AtomicU64, Ordering};

use nacre_sftp_codec::OpenFlags;

/// The tracing target of these lines (`NACRE_LOG=nacre::sftp=info`; `nacre serve -v`).
pub const TARGET: &str = "nacre::sftp";

/// A path as it appears in a line: quoted, with anything unprintable escaped.
pub(crate) fn shown(path: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(path))
}

/// What a line adds when the operation failed.
fn outcome<T, E: std::fmt::Display>(result: &Result<T, E>) -> String {
    match result {
        Ok(_) => String::new(),
        Err(e) => format!(": failed, {e}"),
    }
}

/// The flags as sftp-server names them.
pub(crate) fn flags(f: OpenFlags) -> String {
    let names = [
        (OpenFlags::READ, "READ"),
        (OpenFlags::WRITE, "WRITE"),
        (OpenFlags::APPEND, "APPEND"),
        (OpenFlags::CREAT, "CREATE"),
        (OpenFlags::TRUNC, "TRUNCATE"),
        (OpenFlags::EXCL, "EXCL"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(flag, _)| f.contains(*flag))
        .map(|(_, name)| *name)
        .collect();
    set.join(",")
}

/// Logs one operation: `what` is the line without the label and the outcome.
pub(crate) fn op<T, E: std::fmt::Display>(label: &str, what: &str, result: &Result<T, E>) {
    tracing::info!(target: TARGET, "{label}{what}{}", outcome(result));
}

/// Bytes moved through one open file, for its `close` line.
#[derive(Debug, Default)]
pub struct Transferred {
    read: AtomicU64,
    written: AtomicU64,
}

impl Transferred {
    /// `n` bytes were read.
    pub(crate) fn add_read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `n` bytes were written.
    pub(crate) fn add_written(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `bytes read R written W`.
    pub(crate) fn summary(&self) -> String {
        format!(
            "bytes read {} written {}",
            self.read.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed)
        )
    }
}
