//! An SFTP server whose files live in memory: a custom [`nacre::Filesystem`] in about a hundred
//! lines (files and folders, no links), served by nacre's SFTP server like the local one.
//!
//! ```text
//! cargo run --example memfs_server -- [ADDRESS]
//! ```
//!
//! Listens on `ADDRESS` (default 127.0.0.1:2222; port 0: any free port) and prints
//! `listening on ADDRESS`; any user logs in with the password `memory`. The tree starts with
//! `/README`. Try `sftp -P 2222 me@127.0.0.1`.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nacre::sftp::codec::OpenFlags;
use nacre::sftp::{Attributes, DirEntry};
use nacre::{AuthContext, AuthPolicy, Filesystem, PasswordCheck, Server};

/// The largest file the tree keeps.
const MAX_FILE_SIZE: usize = 64 * 1024 * 1024;

/// A node: a file's bytes, or a folder.
#[derive(Clone)]
enum Node {
    File(Vec<u8>),
    Dir,
}

/// The tree: normalized absolute paths to nodes, shared by every session.
#[derive(Clone, Default)]
struct MemFs(Arc<Mutex<BTreeMap<PathBuf, Node>>>);

/// `path` made absolute with `.` and `..` resolved, never above `/`.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::Normal(name) => out.push(name),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn attrs(node: &Node) -> Attributes {
    match node {
        Node::File(data) => Attributes::EMPTY
            .with_permissions(0o100_644)
            .with_size(data.len() as u64),
        Node::Dir => Attributes::EMPTY.with_permissions(0o040_755),
    }
}

impl MemFs {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<PathBuf, Node>) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut tree = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut tree)
    }
}

impl Filesystem for MemFs {
    /// An open file is its path: reads and writes go to the tree.
    type File = PathBuf;
    /// A listing is taken whole at OPENDIR.
    type Dir = Vec<DirEntry>;

    fn open(&self, path: &Path, flags: OpenFlags, _: &Attributes) -> io::Result<PathBuf> {
        let path = clean(path);
        self.with(|tree| match tree.get_mut(&path) {
            Some(_) if flags.contains(OpenFlags::EXCL) => Err(ErrorKind::AlreadyExists.into()),
            Some(Node::Dir) => Err(ErrorKind::IsADirectory.into()),
            Some(Node::File(data)) => {
                if flags.contains(OpenFlags::TRUNC) {
                    data.clear();
                }
                Ok(path.clone())
            }
            None if flags.contains(OpenFlags::CREAT) => {
                tree.insert(path.clone(), Node::File(Vec::new()));
                Ok(path.clone())
            }
            None => Err(ErrorKind::NotFound.into()),
        })
    }

    fn read_at(&self, file: &PathBuf, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.with(|tree| match tree.get(file) {
            Some(Node::File(data)) => {
                let rest = data.get(offset as usize..).unwrap_or_default();
                Ok(buf
                    .iter_mut()
                    .zip(rest)
                    .map(|(to, from)| *to = *from)
                    .count())
            }
            _ => Err(ErrorKind::NotFound.into()),
        })
    }

    fn write_at(&self, file: &PathBuf, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.with(|tree| match tree.get_mut(file) {
            Some(Node::File(data)) => {
                // The client chooses the offset: bound what it can make us allocate.
                let start = usize::try_from(offset).map_err(|_| ErrorKind::FileTooLarge)?;
                let end = start.saturating_add(bytes.len());
                if end > MAX_FILE_SIZE {
                    return Err(ErrorKind::FileTooLarge.into());
                }
                if data.len() < end {
                    data.resize(end, 0);
                }
                if let Some(room) = data.get_mut(start..end) {
                    room.copy_from_slice(bytes);
                }
                Ok(())
            }
            _ => Err(ErrorKind::NotFound.into()),
        })
    }

    fn fstat(&self, file: &PathBuf) -> io::Result<Attributes> {
        self.stat(file)
    }

    fn fsetstat(&self, _: &PathBuf, _: &Attributes) -> io::Result<()> {
        Ok(()) // no owners or times to keep
    }

    fn opendir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let dir = clean(path);
        self.with(|tree| {
            if !matches!(tree.get(&dir), Some(Node::Dir)) {
                return Err(ErrorKind::NotFound.into());
            }
            let children = tree
                .iter()
                .filter(|(p, _)| p.parent() == Some(dir.as_path()));
            Ok(children
                .map(|(p, node)| DirEntry {
                    name: p
                        .file_name()
                        .map(|n| n.as_encoded_bytes().to_vec())
                        .unwrap_or_default(),
                    longname: Vec::new(), // the server formats one
                    attrs: attrs(node),
                    nlink: 1,
                })
                .collect())
        })
    }

    fn readdir(&self, dir: &mut Vec<DirEntry>, max: usize) -> io::Result<Vec<DirEntry>> {
        let n = dir.len().min(max);
        Ok(dir.drain(..n).collect()) // empty: the end of the listing
    }

    fn stat(&self, path: &Path) -> io::Result<Attributes> {
        self.with(|tree| {
            tree.get(&clean(path))
                .map(attrs)
                .ok_or(ErrorKind::NotFound.into())
        })
    }

    fn lstat(&self, path: &Path) -> io::Result<Attributes> {
        self.stat(path)
    }

    fn setstat(&self, path: &Path, _: &Attributes) -> io::Result<()> {
        self.stat(path).map(|_| ())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = clean(path);
        self.with(|tree| match tree.get(&path) {
            Some(Node::File(_)) => tree
                .remove(&path)
                .map(|_| ())
                .ok_or(ErrorKind::NotFound.into()),
            Some(Node::Dir) => Err(ErrorKind::IsADirectory.into()),
            None => Err(ErrorKind::NotFound.into()),
        })
    }

    fn mkdir(&self, path: &Path, _: &Attributes) -> io::Result<()> {
        let path = clean(path);
        self.with(|tree| {
            if tree.contains_key(&path) {
                return Err(ErrorKind::AlreadyExists.into());
            }
            tree.insert(path, Node::Dir);
            Ok(())
        })
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        let path = clean(path);
        self.with(|tree| {
            if tree.keys().any(|p| p.parent() == Some(path.as_path())) {
                return Err(ErrorKind::DirectoryNotEmpty.into());
            }
            match tree.remove(&path) {
                Some(Node::Dir) => Ok(()),
                _ => Err(ErrorKind::NotFound.into()),
            }
        })
    }

    fn rename(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()> {
        let (from, to) = (clean(from), clean(to));
        self.with(|tree| {
            if !replace && tree.contains_key(&to) {
                return Err(ErrorKind::AlreadyExists.into());
            }
            let node = tree
                .remove(&from)
                .ok_or(io::Error::from(ErrorKind::NotFound))?;
            tree.insert(to, node);
            Ok(())
        })
    }

    fn readlink(&self, _: &Path) -> io::Result<Vec<u8>> {
        Err(ErrorKind::Unsupported.into()) // no links in this tree
    }

    fn symlink(&self, _: &[u8], _: &Path) -> io::Result<()> {
        Err(ErrorKind::Unsupported.into())
    }

    fn realpath(&self, path: &Path) -> io::Result<Vec<u8>> {
        Ok(clean(path).into_os_string().into_encoded_bytes())
    }
}

/// Any user, with the password `memory`.
struct Anyone;

impl AuthPolicy for Anyone {
    fn password(&self, _: &AuthContext, password: &str) -> PasswordCheck {
        if password == "memory" {
            PasswordCheck::Accept
        } else {
            PasswordCheck::Reject
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2222".into());
    let fs = MemFs::default();
    fs.with(|tree| {
        tree.insert("/".into(), Node::Dir);
        tree.insert(
            "/README".into(),
            Node::File(b"Files here live in memory.\n".to_vec()),
        );
        Ok(())
    })?;
    let server = Server::builder()
        .ephemeral_host_key()
        .auth_policy(Anyone)
        .sftp_filesystem(fs)
        // No Unix accounts behind these logins: when run as root, sessions need to be told
        // whose they are (the tree is in memory, so nothing on the disk is reached either way).
        .act_as(nacre::ActAs::ServerProcess)
        .build()?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on {}", listener.local_addr()?);
    server.run(listener).await?;
    Ok(())
}
