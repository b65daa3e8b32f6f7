//! `get`/`reget` and `put`/`reput` as OpenSSH's sftp (`process_get`, `process_put`): a glob on
//! the source side, a destination that is a folder takes each file under its own name, several
//! matches need a folder, `-a` resumes, `-p` keeps times and mode, `-r`/`-R` copies folders,
//! each failure said and the others still done.

use std::path::Path;

use anyhow::bail;
use nacre_sftp::{Attributes, DownloadOptions};

use super::commands::{connection_lost, fx, report, strerror, Reported, Session};
use super::glob;
use super::paths::{base_name, join};
use super::progress::{with_meter, Sample};
use crate::status;

/// The flags of one transfer command: `-a`, `-f`, `-p`/`-P`, `-r`/`-R`.
#[derive(Default)]
pub struct TransferFlags {
    resume: bool,
    preserve: bool,
    recursive: bool,
    fsync: bool,
}

impl TransferFlags {
    fn parse(cmd: &str, letters: &str) -> anyhow::Result<TransferFlags> {
        let mut f = TransferFlags::default();
        for c in letters.chars() {
            match c {
                'a' => f.resume = true,
                'p' | 'P' => f.preserve = true,
                'r' | 'R' => f.recursive = true,
                // A download is flushed to disk (fsync), as OpenSSH's; for uploads
                // fsync@openssh.com is not asked.
                'f' => f.fsync = true,
                other => bail!("{cmd}: Invalid flag -{other}"),
            }
        }
        Ok(f)
    }
}

fn shown(b: impl AsRef<[u8]>) -> String {
    crate::visible::visible(b.as_ref())
}

impl Session {
    /// `get [-afpR] remote [local]` (`reget` when `resume`).
    pub(super) async fn get(
        &self,
        cmd: &str,
        letters: &str,
        args: &[&String],
    ) -> anyhow::Result<()> {
        let mut f = TransferFlags::parse(cmd, letters)?;
        f.resume |= cmd == "reget" || self.resume;
        let (Some(src), dst) = (args.first(), args.get(1)) else {
            bail!("You must specify at least one path after a {cmd} command.");
        };
        let pattern = self.pattern(src);
        let matches = glob::remote(&self.client, &pattern).await;
        if matches.is_empty() {
            bail!("File \"{}\" not found.", shown(&pattern));
        }
        let dst = dst.map(|d| self.local(d));
        if let Some(d) = &dst {
            if matches.len() > 1 && !d.is_dir() {
                bail!(
                    "Multiple source paths, but destination \"{}\" is not a directory",
                    d.display()
                );
            }
        }
        let mut failed = false;
        for m in &matches {
            let name = base_name(&m.path);
            let name = if name == ".." { "." } else { name };
            let local = match &dst {
                Some(d) if matches.len() > 1 || d.is_dir() => d.join(name),
                Some(d) => d.clone(),
                None => self.lcwd.join(name),
            };
            let attrs = m.attrs.unwrap_or(Attributes::EMPTY);
            if let Err(e) = self.get_one(&m.path, &local, &attrs, &f).await {
                if connection_lost(&e) {
                    return Err(e);
                }
                report(&e);
                failed = true;
            }
        }
        if failed {
            return Err(Reported.into());
        }
        Ok(())
    }

    async fn get_one(
        &self,
        remote: &str,
        local: &Path,
        attrs: &Attributes,
        f: &TransferFlags,
    ) -> anyhow::Result<()> {
        if !self.quiet {
            let verb = if f.resume { "Resuming" } else { "Fetching" };
            println!("{verb} {} to {}", shown(remote), self.shown_local(local));
        }
        // As OpenSSH's: flushed to disk (fsync) with -f only.
        let sync = f.fsync || self.fsync;
        if attrs.is_dir() {
            if !(f.recursive || self.recursive) {
                bail!(
                    "download {}: not a regular file (get -r copies a folder)",
                    shown(remote)
                );
            }
            return self.get_dir(remote, local, sync).await;
        }
        status::status(format_args!("Starting download of {remote}"));
        let started = std::time::Instant::now();
        let total = attrs.size.unwrap_or(0);
        let start = if f.resume {
            std::fs::metadata(local).map_or(0, |m| m.len())
        } else {
            0
        };
        let sample = Sample::Local(local.to_path_buf());
        let name = base_name(remote);
        let opts = DownloadOptions {
            resume: f.resume,
            sync,
        };
        let done = with_meter(self.progress, name, start, total, sample, async {
            self.client
                .download_with(remote.as_bytes(), local, opts)
                .await
        })
        .await;
        if let Err(e) = done {
            return Err(download_error(remote, local, &e));
        }
        if f.preserve || self.preserve {
            preserve_local(local, attrs)?;
        }
        transferred(local, started);
        Ok(())
    }

    async fn get_dir(&self, remote: &str, local: &Path, sync: bool) -> anyhow::Result<()> {
        match self
            .client
            .download_dir_with(remote.as_bytes(), local, sync)
            .await
        {
            Ok(_) => Ok(()),
            // As OpenSSH's sftp: each refused name said, the rest fetched, the command failed.
            Err(nacre_sftp::Error::HostileNames { names, stats }) => {
                for name in &names {
                    eprintln!(
                        "skipping hostile file name from the server: \"{}\"",
                        shown(name)
                    );
                }
                bail!(
                    "get: {}: refused {} hostile name(s), fetched {} file(s)",
                    shown(remote),
                    names.len(),
                    stats.files
                )
            }
            Err(e) => bail!("download \"{}\": {}", shown(remote), fx(&e)),
        }
    }

    /// `put [-afpR] local [remote]` (`reput` when `resume`).
    pub(super) async fn put(
        &self,
        cmd: &str,
        letters: &str,
        args: &[&String],
    ) -> anyhow::Result<()> {
        let mut f = TransferFlags::parse(cmd, letters)?;
        f.resume |= cmd == "reput" || self.resume;
        let (Some(src), dst) = (args.first(), args.get(1)) else {
            bail!("You must specify at least one path after a {cmd} command.");
        };
        let matches = glob::local(&self.lcwd, &crate::sftp::local::tilde(src));
        if matches.is_empty() {
            bail!("File \"{src}\" not found.");
        }
        let dst = dst.map(|d| self.remote(d));
        let dst_is_dir = match &dst {
            Some(d) => self
                .client
                .stat(d.as_bytes())
                .await
                .is_ok_and(|a| a.is_dir()),
            None => true,
        };
        if let (Some(d), true, false) = (&dst, matches.len() > 1, dst_is_dir) {
            bail!(
                "Multiple paths match, but destination \"{}\" is not a directory",
                shown(d)
            );
        }
        let mut failed = false;
        for local in &matches {
            let done = self.put_match(local, dst.as_deref(), dst_is_dir, matches.len(), &f);
            if let Err(e) = done.await {
                if connection_lost(&e) {
                    return Err(e);
                }
                report(&e);
                failed = true;
            }
        }
        if failed {
            return Err(Reported.into());
        }
        Ok(())
    }

    async fn put_match(
        &self,
        local: &Path,
        dst: Option<&str>,
        dst_is_dir: bool,
        count: usize,
        f: &TransferFlags,
    ) -> anyhow::Result<()> {
        let meta = std::fs::metadata(local)
            .map_err(|e| anyhow::anyhow!("stat {}: {}", self.shown_local(local), strerror(&e)))?;
        let name = local
            .file_name()
            .map_or_else(|| ".".to_owned(), |n| n.to_string_lossy().into_owned());
        let remote = match dst {
            Some(d) if count > 1 || dst_is_dir => join(d, &name),
            Some(d) => d.to_owned(),
            None => self.remote(&name),
        };
        if !self.quiet {
            let verb = if f.resume {
                "Resuming upload of"
            } else {
                "Uploading"
            };
            println!("{verb} {} to {}", self.shown_local(local), shown(&remote));
        }
        if meta.is_dir() {
            if !(f.recursive || self.recursive) {
                bail!(
                    "local \"{}\" is not a regular file (put -r copies a folder)",
                    self.shown_local(local)
                );
            }
            return match self.client.upload_dir(local, remote.as_bytes()).await {
                Ok(_) => Ok(()),
                Err(e) => bail!(
                    "upload \"{}\" to \"{}\" failed: {}",
                    self.shown_local(local),
                    shown(&remote),
                    fx(&e)
                ),
            };
        }
        self.put_file(local, &remote, &meta, f).await
    }

    async fn put_file(
        &self,
        local: &Path,
        remote: &str,
        meta: &std::fs::Metadata,
        f: &TransferFlags,
    ) -> anyhow::Result<()> {
        status::status(format_args!("Starting upload of {}", local.display()));
        let started = std::time::Instant::now();
        let start = if f.resume {
            self.client
                .stat(remote.as_bytes())
                .await
                .ok()
                .and_then(|a| a.size)
                .unwrap_or(0)
        } else {
            0
        };
        let sample = Sample::Remote(self.client.clone(), remote.to_owned());
        let name = base_name(&local.to_string_lossy()).to_owned();
        let lanes = match &self.stripes {
            Some(s) if !f.resume && meta.is_file() => s.lanes_for(&self.client, meta.len()).await,
            _ => &[],
        };
        let done = with_meter(self.progress, &name, start, meta.len(), sample, async {
            if f.resume {
                self.client.reput(local, remote.as_bytes()).await
            } else {
                self.client
                    .upload_striped(lanes, local, remote.as_bytes())
                    .await
            }
        })
        .await;
        if let Err(e) = done {
            return Err(upload_error(local, remote, &e));
        }
        if f.preserve || self.preserve {
            use std::os::unix::fs::MetadataExt;
            let time = |t: i64| u32::try_from(t).unwrap_or(0);
            let attrs = Attributes::EMPTY
                .with_permissions(meta.mode() & 0o7777)
                .with_times(time(meta.atime()), time(meta.mtime()));
            if let Err(e) = self.client.setstat(remote.as_bytes(), &attrs).await {
                bail!("remote setstat \"{}\": {}", shown(remote), fx(&e));
            }
        }
        transferred(local, started);
        Ok(())
    }

    /// A local path as the person typed it: relative to the local folder when under it.
    pub(super) fn shown_local(&self, p: &Path) -> String {
        let rel = p
            .strip_prefix(&self.lcwd)
            .ok()
            .filter(|r| !r.as_os_str().is_empty());
        shown(rel.unwrap_or(p).as_os_str().as_encoded_bytes())
    }
}

/// The error of a failed download, worded as OpenSSH's (`remote open("/x"): Permission denied`,
/// `open local "x": ...`).
fn download_error(remote: &str, local: &Path, e: &nacre_sftp::Error) -> anyhow::Error {
    match e {
        nacre_sftp::Error::Status { .. } => {
            anyhow::anyhow!("remote open(\"{}\"): {}", shown(remote), fx(e))
        }
        nacre_sftp::Error::Io(io) => {
            anyhow::anyhow!("open local \"{}\": {}", local.display(), strerror(io))
        }
        _ => other_error(e),
    }
}

/// A failure that is neither the server's status nor a local file's: a lost connection stays
/// recognisable ([`super::Lost`]).
fn other_error(e: &nacre_sftp::Error) -> anyhow::Error {
    match e {
        nacre_sftp::Error::ConnectionLost(why) => super::Lost(why.clone()).into(),
        _ => anyhow::Error::msg(fx(e)),
    }
}

fn upload_error(local: &Path, remote: &str, e: &nacre_sftp::Error) -> anyhow::Error {
    match e {
        nacre_sftp::Error::Status { .. } => {
            anyhow::anyhow!("dest open \"{}\": {}", shown(remote), fx(e))
        }
        nacre_sftp::Error::Io(io) => {
            anyhow::anyhow!("open local \"{}\": {}", local.display(), strerror(io))
        }
        _ => other_error(e),
    }
}

/// `-p` on a download: the remote mode and times on the local file.
fn preserve_local(local: &Path, attrs: &Attributes) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = attrs.mode_bits() {
        std::fs::set_permissions(local, std::fs::Permissions::from_mode(mode & 0o7777)).map_err(
            |e| anyhow::anyhow!("local chmod \"{}\": {}", local.display(), strerror(&e)),
        )?;
    }
    if let Some(t) = attrs.times {
        let at = |s: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(s));
        let times = std::fs::FileTimes::new()
            .set_accessed(at(t.atime))
            .set_modified(at(t.mtime));
        std::fs::File::options()
            .write(true)
            .open(local)
            .and_then(|file| file.set_times(times))
            .map_err(|e| {
                anyhow::anyhow!("local set times \"{}\": {}", local.display(), strerror(&e))
            })?;
    }
    Ok(())
}

/// `Status: File transfer successful, transferred N bytes in S seconds`.
fn transferred(local: &Path, started: std::time::Instant) {
    if status::enabled() {
        let size = std::fs::metadata(local).map_or(0, |m| m.len());
        status::status(format_args!(
            "File transfer successful, transferred {} bytes in {}",
            status::thousands(size),
            status::seconds(started.elapsed())
        ));
    }
}
