//! The command set of OpenSSH's `sftp`, run against an [`SftpClient`].

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use nacre_sftp::{Attributes, SftpClient};

use super::paths::{base_name, join, words};
use super::progress::with_bar;
use crate::status;

/// One client session: the remote and local working folders and the settings.
pub struct Session {
    client: SftpClient,
    cwd: String,
    lcwd: PathBuf,
    recursive: bool,
    progress: bool,
}

const HELP: &str = "Available commands:
bye / exit / quit                  Quit sftp
cd path                            Change remote directory to 'path'
chgrp gid path                     Change group of file 'path' to 'gid'
chmod mode path                    Change permissions of file 'path' to 'mode'
chown uid path                     Change owner of file 'path' to 'uid'
df [-h] [path]                     Display statistics for current directory or filesystem containing 'path'
get [-a] [-r] remote [local]       Download file (-a resumes, -r recursive)
help / ?                           Display this help text
lcd path                           Change local directory to 'path'
lls [path]                         Display local directory listing
lmkdir path                        Create local directory
ln [-s] oldpath newpath            Link remote file (-s for symlink)
lpwd                               Print local working directory
ls [-l] [path]                     Display remote directory listing
mkdir path                         Create remote directory
progress                           Toggle display of progress meter
put [-a] [-r] local [remote]       Upload file (-a resumes, -r recursive)
pwd                                Display remote working directory
reget remote [local]               Resume download of file
rename oldpath newpath             Rename remote file
reput local [remote]               Resume upload of file
rm path                            Delete remote file
rmdir path                         Remove remote directory
symlink oldpath newpath            Symlink remote file";

/// Commands whose success the status log reports as `Response: ...: OK`.
const CHANGES: &[&str] = &[
    "mkdir", "rmdir", "rm", "rename", "symlink", "ln", "chmod", "chown", "chgrp",
];

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A server's bytes (or a path holding them) as safe terminal text ([`crate::visible`]).
fn shown(b: impl AsRef<[u8]>) -> String {
    crate::visible::visible(b.as_ref())
}

/// Splits leading `-x` flags from the arguments.
fn flags(args: &[String]) -> (String, Vec<&String>) {
    let mut f = String::new();
    let mut rest = Vec::new();
    for a in args {
        if rest.is_empty() && a.starts_with('-') && a.len() > 1 {
            f.push_str(&a[1..]);
        } else {
            rest.push(a);
        }
    }
    (f, rest)
}

impl Session {
    /// Starts in the server's current folder (REALPATH of ".").
    pub async fn new(
        client: SftpClient,
        recursive: bool,
        interactive: bool,
    ) -> anyhow::Result<Self> {
        let cwd = text(&client.realpath(".").await?);
        let lcwd = std::env::current_dir()?;
        let progress = interactive && std::io::stdout().is_terminal();
        Ok(Session {
            client,
            cwd,
            lcwd,
            recursive,
            progress,
        })
    }

    fn remote(&self, p: &str) -> String {
        join(&self.cwd, p)
    }

    fn local(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.lcwd.join(path)
        }
    }

    /// Runs commands from a batch file: each echoed as `sftp> cmd`; a failure ends the batch
    /// with exit code 1 unless the command starts with `-`.
    pub async fn batch(&mut self, script: &str) -> i32 {
        for line in script.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (tolerant, cmd) = match line.strip_prefix('-') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            println!("sftp> {cmd}");
            match self.execute(cmd).await {
                Ok(true) => {}
                Ok(false) => return 0,
                Err(e) => {
                    eprintln!("{}", crate::visible::visible_text(&format!("{e:#}"), true));
                    if !tolerant {
                        return 1;
                    }
                }
            }
        }
        0
    }

    /// Reads commands with line editing and history until `bye` or end of input.
    pub async fn interactive(&mut self) -> anyhow::Result<i32> {
        let mut editor = rustyline::DefaultEditor::new()?;
        loop {
            let line = match editor.readline("sftp> ") {
                Ok(l) => l,
                Err(
                    rustyline::error::ReadlineError::Eof
                    | rustyline::error::ReadlineError::Interrupted,
                ) => return Ok(0),
                Err(e) => return Err(e.into()),
            };
            if line.trim().is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(line.as_str());
            match self.execute(&line).await {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => eprintln!("{}", crate::visible::visible_text(&format!("{e:#}"), true)),
            }
        }
    }

    /// Runs one command line; `Ok(false)` asks to quit. With `-v`, the status log gets the
    /// command and its outcome.
    pub async fn execute(&mut self, line: &str) -> anyhow::Result<bool> {
        status::command(line.trim());
        let result = self.run_line(line).await;
        match &result {
            Err(e) => status::error(format_args!("{e:#}")),
            Ok(_) => {
                let cmd = words(line).into_iter().next().unwrap_or_default();
                if CHANGES.contains(&cmd.as_str()) {
                    status::response(format_args!("{}: OK", line.trim()));
                }
            }
        }
        result
    }

    async fn run_line(&mut self, line: &str) -> anyhow::Result<bool> {
        let w = words(line);
        let Some((cmd, args)) = w.split_first() else {
            return Ok(true);
        };
        let arg = |i: usize| {
            args.get(i)
                .map(String::as_str)
                .ok_or_else(|| anyhow!("{cmd}: missing argument"))
        };
        match cmd.as_str() {
            "bye" | "exit" | "quit" => return Ok(false),
            "help" | "?" => println!("{HELP}"),
            "pwd" => {
                status::response(format_args!("Current directory is: \"{}\"", self.cwd));
                println!("Remote working directory: {}", shown(&self.cwd));
            }
            "lpwd" => println!("Local working directory: {}", self.lcwd.display()),
            "cd" => self.cd(args.first().map_or("~", String::as_str)).await?,
            "lcd" => {
                let p = self.local(arg(0)?);
                if !p.is_dir() {
                    bail!("lcd: {}: not a directory", p.display());
                }
                self.lcwd = p.canonicalize()?;
            }
            "ls" | "dir" => self.ls(args).await?,
            "lls" => {
                let p = self.local(args.first().map_or(".", String::as_str));
                let mut names: Vec<String> = std::fs::read_dir(&p)?
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                for n in names {
                    println!("{n}");
                }
            }
            "lmkdir" => std::fs::create_dir(self.local(arg(0)?))?,
            "mkdir" => {
                self.client
                    .mkdir(self.remote(arg(0)?), &Attributes::EMPTY)
                    .await?
            }
            "rmdir" => self.client.rmdir(self.remote(arg(0)?)).await?,
            "rm" => self.client.remove(self.remote(arg(0)?)).await?,
            "rename" => {
                self.client
                    .rename(self.remote(arg(0)?), self.remote(arg(1)?))
                    .await?
            }
            "symlink" => self.client.symlink(arg(0)?, self.remote(arg(1)?)).await?,
            "ln" => {
                let (f, rest) = flags(args);
                let (old, new) = (
                    rest.first()
                        .ok_or_else(|| anyhow!("ln: missing argument"))?,
                    rest.get(1).ok_or_else(|| anyhow!("ln: missing argument"))?,
                );
                if f.contains('s') {
                    self.client.symlink(old.as_str(), self.remote(new)).await?;
                } else {
                    self.client
                        .hardlink(self.remote(old), self.remote(new))
                        .await?;
                }
            }
            "chmod" => {
                let mode = u32::from_str_radix(arg(0)?, 8).context("chmod: mode must be octal")?;
                self.client
                    .setstat(
                        self.remote(arg(1)?),
                        &Attributes::EMPTY.with_permissions(mode),
                    )
                    .await?;
            }
            "chown" | "chgrp" => self.chown(cmd == "chown", arg(0)?, arg(1)?).await?,
            "df" => self.df(args).await?,
            "progress" => {
                self.progress = !self.progress;
                println!(
                    "Progress meter {}",
                    if self.progress { "enabled" } else { "disabled" }
                );
            }
            "get" | "reget" => self.get(args, cmd == "reget").await?,
            "put" | "reput" => self.put(args, cmd == "reput").await?,
            other => bail!("Invalid command: {other}"),
        }
        Ok(true)
    }

    async fn cd(&mut self, path: &str) -> anyhow::Result<()> {
        let target = if path == "~" {
            text(&self.client.realpath(".").await?)
        } else {
            self.remote(path)
        };
        let resolved = text(&self.client.realpath(target.as_bytes()).await?);
        let attrs = self.client.stat(resolved.as_bytes()).await?;
        if attrs.file_type() != Some(nacre_sftp::codec::FileType::Directory) {
            bail!("cd: {resolved}: not a directory");
        }
        status::response(format_args!("New directory is: \"{resolved}\""));
        self.cwd = resolved;
        Ok(())
    }

    async fn ls(&self, args: &[String]) -> anyhow::Result<()> {
        let (f, rest) = flags(args);
        let path = self.remote(rest.first().map_or(".", |s| s.as_str()));
        status::status(format_args!("Listing directory {path}"));
        let mut entries = self.client.list_dir(path.as_bytes()).await?;
        status::status(format_args!(
            "Directory listing of \"{path}\" successful ({} entries)",
            entries.len()
        ));
        entries.retain(|e| f.contains('a') || !e.name.starts_with(b"."));
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for e in entries {
            if f.contains('l') {
                println!("{}", shown(&e.longname));
            } else {
                println!("{}", shown(&e.name));
            }
        }
        Ok(())
    }

    async fn chown(&self, owner: bool, id: &str, path: &str) -> anyhow::Result<()> {
        let id: u32 = id.parse().context("the owner or group must be numeric")?;
        let p = self.remote(path);
        let current = self.client.stat(p.as_bytes()).await?;
        let ids = current
            .uid_gid
            .ok_or_else(|| anyhow!("the server did not report owner and group"))?;
        let ids = if owner {
            nacre_sftp::codec::UidGid {
                uid: id,
                gid: ids.gid,
            }
        } else {
            nacre_sftp::codec::UidGid {
                uid: ids.uid,
                gid: id,
            }
        };
        let attrs = Attributes {
            uid_gid: Some(ids),
            ..Attributes::EMPTY
        };
        self.client.setstat(p.as_bytes(), &attrs).await?;
        Ok(())
    }

    async fn df(&self, args: &[String]) -> anyhow::Result<()> {
        let (f, rest) = flags(args);
        let st = self
            .client
            .statvfs(self.remote(rest.first().map_or(".", |s| s.as_str())))
            .await?;
        let kib = |blocks: u64| blocks.saturating_mul(st.frsize) / 1024;
        let (size, avail) = (kib(st.blocks), kib(st.bavail));
        let used = size.saturating_sub(kib(st.bfree));
        if f.contains('h') {
            println!("    Size     Used    Avail   (root)    %Capacity");
            println!(
                "{:>7}M {:>7}M {:>7}M {:>7}M {:>10}%",
                size / 1024,
                used / 1024,
                avail / 1024,
                kib(st.bfree) / 1024,
                used * 100 / size.max(1)
            );
        } else {
            println!("        Size         Used        Avail       (root)    %Capacity");
            println!(
                "{size:>12} {used:>12} {avail:>12} {:>12} {:>11}%",
                kib(st.bfree),
                used * 100 / size.max(1)
            );
        }
        Ok(())
    }

    async fn get(&self, args: &[String], resume: bool) -> anyhow::Result<()> {
        let (f, rest) = flags(args);
        let remote = self.remote(
            rest.first()
                .ok_or_else(|| anyhow!("get: missing argument"))?,
        );
        let local = self.local(rest.get(1).map_or(base_name(&remote), |s| s.as_str()));
        let attrs = self
            .client
            .stat(remote.as_bytes())
            .await
            .with_context(|| shown(&remote))?;
        if attrs.file_type() == Some(nacre_sftp::codec::FileType::Directory) {
            if !(self.recursive || f.contains('r')) {
                bail!("get: {remote}: is a directory (use -r)");
            }
            println!("Retrieving {}", shown(&remote));
            return match self.client.download_dir(remote.as_bytes(), &local).await {
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
                        shown(&remote),
                        names.len(),
                        stats.files
                    )
                }
                Err(e) => Err(e.into()),
            };
        }
        println!(
            "Fetching {} to {}",
            shown(&remote),
            shown(local.as_os_str().as_encoded_bytes())
        );
        status::status(format_args!("Starting download of {remote}"));
        let started = std::time::Instant::now();
        let total = attrs.size.unwrap_or(0);
        let watch = local.clone();
        let sample = move || std::fs::metadata(&watch).ok().map(|m| m.len());
        let resume = resume || f.contains('a');
        with_bar(self.progress, base_name(&remote), total, sample, async {
            if resume {
                self.client.reget(remote.as_bytes(), &local).await
            } else {
                self.client.download(remote.as_bytes(), &local).await
            }
        })
        .await?;
        transferred(&local, started);
        Ok(())
    }

    async fn put(&self, args: &[String], resume: bool) -> anyhow::Result<()> {
        let (f, rest) = flags(args);
        let local = self.local(
            rest.first()
                .ok_or_else(|| anyhow!("put: missing argument"))?,
        );
        let name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let remote = self.remote(rest.get(1).map_or(name.as_str(), |s| s.as_str()));
        if local.is_dir() {
            if !(self.recursive || f.contains('r')) {
                bail!("put: {}: is a directory (use -r)", local.display());
            }
            println!("Entering {}", local.display());
            self.client.upload_dir(&local, remote.as_bytes()).await?;
            return Ok(());
        }
        println!("Uploading {} to {}", local.display(), shown(&remote));
        status::status(format_args!("Starting upload of {}", local.display()));
        let started = std::time::Instant::now();
        let total = std::fs::metadata(&local)?.len();
        let resume = resume || f.contains('a');
        with_bar(self.progress, &name, total, || None, async {
            if resume {
                self.client.reput(&local, remote.as_bytes()).await
            } else {
                self.client.upload(&local, remote.as_bytes()).await
            }
        })
        .await?;
        transferred(&local, started);
        Ok(())
    }
}
