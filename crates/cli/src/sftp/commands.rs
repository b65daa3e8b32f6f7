//! The command set of OpenSSH's `sftp`, run against an [`SftpClient`]: globs on both sides,
//! OpenSSH's flags and its error wording (`File "/x" not found.`, `remote open("/x"):
//! Permission denied`).

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use nacre_sftp::codec::StatusCode;
use nacre_sftp::{Attributes, SftpClient};

use super::glob;
use super::listing::{self, Item, LsFlags};
use super::paths::{join, words};
use crate::status;

/// One client session: the remote and local working folders and the settings.
pub struct Session {
    pub(super) client: SftpClient,
    pub(super) cwd: String,
    pub(super) start: String,
    pub(super) lcwd: PathBuf,
    pub(super) recursive: bool,
    pub(super) preserve: bool,
    /// `-a`: get and put resume (as `reget`/`reput`).
    pub(super) resume: bool,
    /// `-f`: every download is flushed to disk (fsync) when it is complete.
    pub(super) fsync: bool,
    pub(super) progress: bool,
    pub(super) quiet: bool,
    /// Large puts over a long path go over several sessions (none with `-l`).
    pub(super) stripes: Option<super::stripes::Stripes>,
}

/// How the session starts: `-r`, `-p`, `-a`, `-f`, the progress meter (interactive, not `-q`),
/// quiet (`-b` or `-q`, unless `-N`).
pub struct Settings {
    pub recursive: bool,
    pub preserve: bool,
    pub resume: bool,
    pub fsync: bool,
    pub progress: bool,
    pub quiet: bool,
    pub stripes: Option<super::stripes::Stripes>,
}

/// An error already shown to the person (each failed file of a glob): the command failed.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("command failed")
    }
}

impl std::error::Error for Reported {}

const HELP: &str = "Available commands:
bye                                Quit sftp
cd path                            Change remote directory to 'path'
chgrp [-h] grp path                Change group of file 'path' to 'grp'
chmod [-h] mode path               Change permissions of file 'path' to 'mode'
chown [-h] own path                Change owner of file 'path' to 'own'
copy oldpath newpath               Copy remote file
cp oldpath newpath                 Copy remote file
df [-hi] [path]                    Display statistics for current directory or
                                   filesystem containing 'path'
exit                               Quit sftp
get [-afpR] remote [local]         Download file
help                               Display this help text
lcd path                           Change local directory to 'path'
lls [ls-options [path]]            Display local directory listing
lmkdir path                        Create local directory
ln [-s] oldpath newpath            Link remote file (-s for symlink)
lpwd                               Print local working directory
ls [-1afhlnrSt] [path]             Display remote directory listing
lumask umask                       Set local umask to 'umask'
mkdir path                         Create remote directory
progress                           Toggle display of progress meter
put [-afpR] local [remote]         Upload file
pwd                                Display remote working directory
quit                               Quit sftp
reget [-fpR] remote [local]        Resume download file
rename oldpath newpath             Rename remote file
reput [-fpR] local [remote]        Resume upload file
rm path                            Delete remote file
rmdir path                         Remove remote directory
symlink oldpath newpath            Symlink remote file
version                            Show SFTP version
!command                           Execute 'command' in local shell
!                                  Escape to local shell
?                                  Synonym for help";

/// Every command name, for completion.
pub const COMMANDS: &[&str] = &[
    "bye", "cd", "chgrp", "chmod", "chown", "copy", "cp", "df", "exit", "get", "help", "lcd",
    "lls", "lmkdir", "ln", "lpwd", "ls", "lumask", "mkdir", "progress", "put", "pwd", "quit",
    "reget", "rename", "reput", "rm", "rmdir", "symlink", "version",
];

/// Commands whose success the status log reports as `Response: ...: OK`.
const CHANGES: &[&str] = &[
    "mkdir", "rmdir", "rm", "rename", "symlink", "ln", "chmod", "chown", "chgrp",
];

/// `lumask umask`: the local umask (octal), for the files `get` and `lmkdir` create.
fn lumask(value: Option<&str>) -> anyhow::Result<()> {
    let Some(v) = value else {
        bail!("You must supply a numeric argument to the lumask command.");
    };
    let mask = u32::from_str_radix(v, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| anyhow!("Invalid umask \"{v}\""))?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask));
    println!("Local umask: {mask:03o}");
    Ok(())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A server's bytes (or a path holding them) as safe terminal text ([`crate::visible`]).
fn shown(b: impl AsRef<[u8]>) -> String {
    crate::visible::visible(b.as_ref())
}

/// OpenSSH's `fx2txt` for a status error, the error's own text otherwise. A server's message
/// that says more than the code (with `Failure` and unknown codes) follows in parentheses.
pub fn fx(e: &nacre_sftp::Error) -> String {
    let standard = match e.status() {
        None => return e.to_string(),
        Some(StatusCode::EOF) => "End of file",
        Some(StatusCode::NO_SUCH_FILE) => return "No such file or directory".into(),
        Some(StatusCode::PERMISSION_DENIED) => return "Permission denied".into(),
        Some(StatusCode::FAILURE) => "Failure",
        Some(StatusCode::BAD_MESSAGE) => "Bad message",
        Some(StatusCode::OP_UNSUPPORTED) => "Operation unsupported",
        Some(_) => "Unknown status",
    };
    match e {
        nacre_sftp::Error::Status { message, .. }
            if !message.is_empty() && !message.eq_ignore_ascii_case(standard) =>
        {
            format!("{standard} ({message})")
        }
        _ => standard.to_owned(),
    }
}

/// strerror(3) wording of an I/O error (without Rust's `(os error N)`).
pub fn strerror(e: &std::io::Error) -> String {
    let t = e.to_string();
    match t.find(" (os error") {
        Some(i) => t.get(..i).unwrap_or(&t).to_owned(),
        None => t,
    }
}

/// Splits leading `-x` flags from the arguments (`--` ends them).
fn flags(args: &[String]) -> (String, Vec<&String>) {
    let mut f = String::new();
    let mut rest = Vec::new();
    let mut done = false;
    for a in args {
        if !done && rest.is_empty() && a == "--" {
            done = true;
        } else if !done && rest.is_empty() && a.starts_with('-') && a.len() > 1 {
            f.push_str(a.get(1..).unwrap_or(""));
        } else {
            rest.push(a);
        }
    }
    (f, rest)
}

/// The status log's view of a remote failure: wraps `e` as `what "path": reason`.
fn failed(what: &str, path: &str, e: &nacre_sftp::Error) -> anyhow::Error {
    anyhow!("{what} \"{}\": {}", shown(path), fx(e))
}

impl Session {
    /// Starts in the server's current folder (REALPATH of ".").
    pub async fn new(client: SftpClient, s: Settings) -> anyhow::Result<Self> {
        let cwd = text(&client.realpath(".").await?);
        let lcwd = std::env::current_dir()?;
        let progress = s.progress && std::io::IsTerminal::is_terminal(&std::io::stdout());
        Ok(Session {
            client,
            start: cwd.clone(),
            cwd,
            lcwd,
            recursive: s.recursive,
            preserve: s.preserve,
            resume: s.resume,
            fsync: s.fsync,
            progress,
            quiet: s.quiet,
            stripes: s.stripes,
        })
    }

    pub(super) fn remote(&self, p: &str) -> String {
        join(&self.cwd, p)
    }

    /// A remote glob pattern made absolute as OpenSSH does (the folder escaped, `..` kept, so
    /// names print as typed: `ls ../*.log` shows `../a.log`).
    pub(super) fn pattern(&self, p: &str) -> String {
        if p.starts_with('/') {
            p.to_owned()
        } else {
            format!("{}/{p}", glob::escape(self.cwd.trim_end_matches('/')))
        }
    }

    pub(super) fn local(&self, p: &str) -> PathBuf {
        self.lcwd.join(super::local::tilde(p))
    }

    /// The remote folder, the local folder (for completion).
    pub fn dirs(&self) -> (SftpClient, String, PathBuf) {
        (self.client.clone(), self.cwd.clone(), self.lcwd.clone())
    }

    /// Whether the remote path is a folder.
    pub async fn remote_is_dir(&self, p: &str) -> bool {
        self.client
            .stat(self.remote(p).as_bytes())
            .await
            .is_ok_and(|a| a.is_dir())
    }

    /// Runs commands from a batch file: each echoed as `sftp> cmd`; with `abort` (`-b`) a
    /// failure ends the batch with exit code 1 unless the command starts with `-`; a lost
    /// connection ends it with `Err`.
    pub async fn batch(&mut self, script: &str, abort: bool) -> anyhow::Result<i32> {
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
                Ok(false) => return Ok(0),
                Err(e) if connection_lost(&e) => return Err(e),
                Err(e) => {
                    report(&e);
                    if abort && !tolerant {
                        return Ok(1);
                    }
                }
            }
        }
        Ok(0)
    }

    /// Runs one command line; `Ok(false)` asks to quit. With `-v`, the status log gets the
    /// command and its outcome.
    pub async fn execute(&mut self, line: &str) -> anyhow::Result<bool> {
        status::command(line.trim());
        let result = self.run_line(line.trim_start()).await;
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
        if let Some(command) = line.strip_prefix('!') {
            super::local::run_shell(&self.lcwd, command)?;
            return Ok(true);
        }
        let w = words(line);
        let Some((cmd, args)) = w.split_first() else {
            return Ok(true);
        };
        let cmd = cmd.to_ascii_lowercase();
        let (letters, rest) = flags(args);
        let arg = |i: usize| {
            rest.get(i)
                .map(|s| s.as_str())
                .ok_or_else(|| anyhow!("You must specify a path after a {cmd} command."))
        };
        match cmd.as_str() {
            "bye" | "exit" | "quit" => return Ok(false),
            "help" | "?" => println!("{HELP}"),
            "version" => println!("SFTP protocol version {}", self.client.version()),
            "pwd" => {
                status::response(format_args!("Current directory is: \"{}\"", self.cwd));
                println!("Remote working directory: {}", shown(&self.cwd));
            }
            "lpwd" => println!("Local working directory: {}", self.lcwd.display()),
            "cd" => self.cd(rest.first().map(|s| s.as_str())).await?,
            "lcd" => self.lcwd = super::local::lcd(&self.lcwd, rest.first().map(|s| s.as_str()))?,
            "lls" => super::local::lls(&self.lcwd, line.get(3..).unwrap_or("").trim())?,
            "ls" | "dir" => self.ls(&letters, rest.first().map(|s| s.as_str())).await?,
            "lumask" => lumask(rest.first().map(|s| s.as_str()))?,
            "lmkdir" => {
                let p = self.local(arg(0)?);
                std::fs::create_dir(&p).map_err(|e| {
                    anyhow!(
                        "Couldn't create local directory \"{}\": {}",
                        p.display(),
                        strerror(&e)
                    )
                })?;
            }
            "mkdir" => {
                let p = self.remote(arg(0)?);
                let r = self.client.mkdir(&p, &Attributes::EMPTY).await;
                r.map_err(|e| failed("remote mkdir", &p, &e))?;
            }
            "rmdir" => {
                let p = self.remote(arg(0)?);
                let r = self.client.rmdir(&p).await;
                r.map_err(|e| failed("remote rmdir", &p, &e))?;
            }
            "rm" => self.rm(arg(0)?).await?,
            "rename" => self.rename(arg(0)?, arg(1)?).await?,
            "symlink" => self.link(true, arg(0)?, arg(1)?).await?,
            "ln" => self.link(letters.contains('s'), arg(0)?, arg(1)?).await?,
            "copy" | "cp" => self.copy(arg(0)?, arg(1)?).await?,
            "chmod" | "chown" | "chgrp" => {
                let no_follow = letters.contains('h');
                self.change(&cmd, no_follow, arg(0)?, arg(1)?).await?;
            }
            "df" => self.df(&letters, rest.first().map(|s| s.as_str())).await?,
            "progress" => {
                self.progress = !self.progress;
                let state = if self.progress { "enabled" } else { "disabled" };
                println!("Progress meter {state}");
            }
            "get" | "reget" => self.get(&cmd, &letters, &rest).await?,
            "put" | "reput" => self.put(&cmd, &letters, &rest).await?,
            other => bail!("Invalid command: {other}"),
        }
        Ok(true)
    }

    async fn cd(&mut self, path: Option<&str>) -> anyhow::Result<()> {
        let target = match path {
            None | Some("") => self.start.clone(),
            Some("~") => self.start.clone(),
            Some(p) => self.remote(p.strip_prefix("~/").unwrap_or(p)),
        };
        let resolved = match self.client.realpath(target.as_bytes()).await {
            Ok(r) => text(&r),
            Err(e) => bail!("realpath {}: {}", shown(&target), fx(&e)),
        };
        let attrs = self.client.stat(resolved.as_bytes()).await;
        let attrs = attrs.map_err(|e| anyhow!("stat remote: {}", fx(&e)))?;
        if !attrs.is_dir() {
            bail!(
                "Can't change directory: \"{}\" is not a directory",
                shown(&resolved)
            );
        }
        status::response(format_args!("New directory is: \"{resolved}\""));
        self.cwd = resolved;
        Ok(())
    }

    async fn ls(&self, letters: &str, path: Option<&str>) -> anyhow::Result<()> {
        let f = LsFlags::parse(letters)?;
        let width = listing::terminal_width();
        let Some(path) = path else {
            return self.ls_dir(&self.cwd, None, &f, width).await;
        };
        let pattern = self.pattern(path);
        let matches = glob::remote(&self.client, &pattern).await;
        let strip = |p: &str| -> String {
            if path.starts_with('/') {
                p.to_owned()
            } else {
                p.strip_prefix(&format!("{}/", self.cwd.trim_end_matches('/')))
                    .unwrap_or(p)
                    .to_owned()
            }
        };
        match matches.as_slice() {
            [] => bail!("Can't ls: \"{}\" not found", shown(&pattern)),
            [only] if only.attrs.as_ref().is_some_and(Attributes::is_dir) => {
                let prefix = strip(&only.path);
                self.ls_dir(&only.path, Some(prefix), &f, width).await
            }
            many => {
                let mut items: Vec<Item> = many
                    .iter()
                    .map(|m| Item {
                        name: shown(strip(&m.path)),
                        attrs: m.attrs.unwrap_or(Attributes::EMPTY),
                        longname: None,
                        owner: None,
                    })
                    .collect();
                self.name_owners(&mut items, &f).await;
                listing::sort(&mut items, &f);
                print_lines(&listing::render(&items, &f, width));
                Ok(())
            }
        }
    }

    /// With `-l` (not `-n`) and a server that has `users-groups-by-id@openssh.com`, the names of
    /// the items' owners and groups, asked once for all (as OpenSSH's sftp does); the items are
    /// then printed with them, not with the server's long names.
    async fn name_owners(&self, items: &mut [Item], f: &LsFlags) {
        if !f.long || f.numeric || !self.client.supports("users-groups-by-id@openssh.com", "1") {
            return;
        }
        let ids: Vec<_> = items.iter().filter_map(|i| i.attrs.uid_gid).collect();
        let mut uids: Vec<u32> = ids.iter().map(|i| i.uid).collect();
        let mut gids: Vec<u32> = ids.iter().map(|i| i.gid).collect();
        uids.sort_unstable();
        uids.dedup();
        gids.sort_unstable();
        gids.dedup();
        let Ok((users, groups)) = self.client.users_groups_by_id(&uids, &gids).await else {
            return;
        };
        let named = |ids: Vec<u32>, names: Vec<String>| -> HashMap<u32, String> {
            ids.into_iter()
                .zip(names)
                .filter(|(_, n)| !n.is_empty())
                .map(|(id, n)| (id, shown(n)))
                .collect()
        };
        let (users, groups) = (named(uids, users), named(gids, groups));
        for item in items.iter_mut() {
            let Some(ids) = item.attrs.uid_gid else {
                continue;
            };
            let user = users.get(&ids.uid).cloned();
            let group = groups.get(&ids.gid).cloned();
            item.owner = Some((
                user.unwrap_or_else(|| ids.uid.to_string()),
                group.unwrap_or_else(|| ids.gid.to_string()),
            ));
            item.longname = None;
        }
    }

    /// Lists the folder `path`, each name after `prefix/` when given (`ls sub` shows `sub/a`).
    async fn ls_dir(
        &self,
        path: &str,
        prefix: Option<String>,
        f: &LsFlags,
        width: usize,
    ) -> anyhow::Result<()> {
        status::status(format_args!("Listing directory {path}"));
        let entries = self.client.list_dir(path.as_bytes()).await;
        let entries = entries.map_err(|e| anyhow!("Couldn't read directory: {}", fx(&e)))?;
        status::status(format_args!(
            "Directory listing of \"{path}\" successful ({} entries)",
            entries.len()
        ));
        let mut items: Vec<Item> = entries
            .into_iter()
            .filter(|e| f.all || !e.name.starts_with(b"."))
            .map(|e| {
                let name = match &prefix {
                    Some(p) => format!("{}/{}", p.trim_end_matches('/'), text(&e.name)),
                    None => text(&e.name),
                };
                Item {
                    name: shown(name),
                    attrs: e.attrs,
                    longname: Some(shown(&e.longname)),
                    owner: None,
                }
            })
            .collect();
        self.name_owners(&mut items, f).await;
        listing::sort(&mut items, f);
        print_lines(&listing::render(&items, f, width));
        Ok(())
    }

    /// The remote paths a pattern names: its matches, or itself when it has no glob
    /// characters (so the server says why it fails).
    async fn targets(&self, path: &str) -> anyhow::Result<Vec<String>> {
        let pattern = self.pattern(path);
        if !glob::has_magic(path) {
            return Ok(vec![self.remote(&glob::unescape(path))]);
        }
        let found: Vec<String> = glob::remote(&self.client, &pattern)
            .await
            .into_iter()
            .map(|m| m.path)
            .collect();
        if found.is_empty() {
            bail!("File \"{}\" not found.", shown(&pattern));
        }
        Ok(found)
    }

    async fn rm(&self, path: &str) -> anyhow::Result<()> {
        let mut ok = true;
        for p in self.targets(path).await? {
            if !self.quiet {
                println!("Removing {}", shown(&p));
            }
            if let Err(e) = self.client.remove(&p).await {
                report(&anyhow!("remote delete {}: {}", shown(&p), fx(&e)));
                ok = false;
            }
        }
        if !ok {
            return Err(Reported.into());
        }
        Ok(())
    }

    async fn rename(&self, old: &str, new: &str) -> anyhow::Result<()> {
        let (old, new) = (self.remote(old), self.remote(new));
        if let Err(e) = self.client.rename(&old, &new).await {
            bail!(
                "remote rename \"{}\" to \"{}\": {}",
                shown(&old),
                shown(&new),
                fx(&e)
            );
        }
        Ok(())
    }

    async fn link(&self, symbolic: bool, old: &str, new: &str) -> anyhow::Result<()> {
        let new = self.remote(new);
        let r = if symbolic {
            self.client.symlink(old, &new).await
        } else {
            self.client.hardlink(self.remote(old), &new).await
        };
        if let Err(e) = r {
            let what = if symbolic { "symlink file" } else { "link" };
            bail!(
                "remote {what} \"{}\" to \"{}\": {}",
                shown(old),
                shown(&new),
                fx(&e)
            );
        }
        Ok(())
    }

    async fn copy(&self, old: &str, new: &str) -> anyhow::Result<()> {
        let (old, new) = (self.remote(old), self.remote(new));
        if let Err(e) = self.client.copy_file(&old, &new).await {
            bail!(
                "Couldn't copy file \"{}\" to \"{}\": {}",
                shown(&old),
                shown(&new),
                fx(&e)
            );
        }
        Ok(())
    }

    /// `chmod mode path`, `chown uid path`, `chgrp gid path`; path may be a glob.
    /// `chmod`/`chown`/`chgrp [-h]`: `-h` changes a symbolic link itself
    /// (`lsetstat@openssh.com`, as OpenSSH's sftp).
    async fn change(
        &self,
        cmd: &str,
        no_follow: bool,
        value: &str,
        path: &str,
    ) -> anyhow::Result<()> {
        let radix = if cmd == "chmod" { 8 } else { 10 };
        let Ok(n) = u32::from_str_radix(value, radix) else {
            bail!("You must supply a numeric argument to the {cmd} command.");
        };
        if no_follow && !self.client.supports("lsetstat@openssh.com", "1") {
            bail!("Server does not support lsetstat@openssh.com extension");
        }
        let mut ok = true;
        for p in self.targets(path).await? {
            if let Err(e) = self.change_one(cmd, n, &p, no_follow).await {
                report(&e);
                ok = false;
            }
        }
        if !ok {
            return Err(Reported.into());
        }
        Ok(())
    }

    async fn change_one(&self, cmd: &str, n: u32, p: &str, no_follow: bool) -> anyhow::Result<()> {
        let attrs = if cmd == "chmod" {
            if !self.quiet {
                println!("Changing mode on {}", shown(p));
            }
            Attributes::EMPTY.with_permissions(n & 0o7777)
        } else {
            let current = if no_follow {
                self.client.lstat(p).await
            } else {
                self.client.stat(p).await
            };
            let current = current.map_err(|e| failed("stat remote", p, &e))?;
            let Some(mut ids) = current.uid_gid else {
                bail!(
                    "Can't get current ownership of remote file \"{}\"",
                    shown(p)
                );
            };
            if !self.quiet {
                let what = if cmd == "chown" { "owner" } else { "group" };
                println!("Changing {what} on {}", shown(p));
            }
            if cmd == "chown" {
                ids.uid = n;
            } else {
                ids.gid = n;
            }
            Attributes {
                uid_gid: Some(ids),
                ..Attributes::EMPTY
            }
        };
        if no_follow {
            let r = self.client.lsetstat(p, &attrs).await;
            return r.map_err(|e| failed("remote lsetstat", p, &e));
        }
        let r = self.client.setstat(p, &attrs).await;
        r.map_err(|e| failed("remote setstat", p, &e))
    }

    async fn df(&self, letters: &str, path: Option<&str>) -> anyhow::Result<()> {
        let p = self.remote(path.unwrap_or("."));
        let st = self.client.statvfs(&p).await;
        let st = st.map_err(|e| anyhow!("remote statvfs: {}", fx(&e)))?;
        let pct = |total: u64, free: u64| match total {
            0 => "ERR".to_owned(),
            t => format!("{:>3}%", t.saturating_sub(free) * 100 / t),
        };
        let cap = pct(st.blocks, st.bfree);
        if letters.contains('i') {
            println!("     Inodes        Used       Avail      (root)    %Capacity");
            let used = st.files.saturating_sub(st.ffree);
            let icap = pct(st.files, st.ffree);
            println!(
                "{:>11} {used:>11} {:>11} {:>11}         {icap}",
                st.files, st.favail, st.ffree
            );
        } else if letters.contains('h') {
            let b = |blocks: u64| listing::scaled(blocks.saturating_mul(st.frsize));
            println!("    Size     Used    Avail   (root)    %Capacity");
            let used = st.blocks.saturating_sub(st.bfree);
            println!(
                "{:>7}B {:>7}B {:>7}B {:>7}B         {cap}",
                b(st.blocks),
                b(used),
                b(st.bavail),
                b(st.bfree)
            );
        } else {
            let kib = |blocks: u64| blocks.saturating_mul(st.frsize) / 1024;
            println!("        Size         Used        Avail       (root)    %Capacity");
            let used = kib(st.blocks.saturating_sub(st.bfree));
            println!(
                "{:>12} {used:>12} {:>12} {:>12}         {cap}",
                kib(st.blocks),
                kib(st.bavail),
                kib(st.bfree)
            );
        }
        Ok(())
    }
}

fn print_lines(lines: &[String]) {
    for l in lines {
        println!("{l}");
    }
}

/// Prints a command's error, escaped (it may quote the server), unless already shown.
pub fn report(e: &anyhow::Error) {
    if e.downcast_ref::<Reported>().is_none() {
        eprintln!("{}", crate::visible::visible_text(&format!("{e:#}"), true));
    }
}

/// Whether `e` says the SFTP session (or the connection under it) is gone.
pub fn connection_lost(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<nacre_sftp::Error>(),
            Some(nacre_sftp::Error::ConnectionLost(_))
        ) || c.downcast_ref::<super::Lost>().is_some()
    })
}
