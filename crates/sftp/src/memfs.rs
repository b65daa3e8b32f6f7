//! A small deterministic in-memory [`Filesystem`] for the fuzz targets (feature `fuzzing`).
//!
//! Paths are resolved lexically (`..` at the top stays at the top) and symbolic links within the
//! tree, with a depth limit; files are capped in size so a WRITE far past the end cannot exhaust
//! memory. Nothing here touches the real file system.

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nacre_sftp_codec::OpenFlags;

use crate::attrs::{Attributes, DirEntry, FsStats};
use crate::server::Filesystem;

/// Largest file the in-memory file system holds.
pub const MAX_FILE_LEN: u64 = 1 << 20;
/// Most nodes it holds.
pub const MAX_NODES: usize = 256;
const MAX_LINKS: usize = 8;

#[derive(Debug, Clone)]
enum Node {
    File(Vec<u8>, u32),
    Dir(u32),
    Link(Vec<u8>),
}

/// The in-memory file system: a map from normalized absolute paths to nodes.
#[derive(Debug, Clone)]
pub struct MemFs {
    nodes: Arc<Mutex<BTreeMap<PathBuf, Node>>>,
}

/// An open file of [`MemFs`]: its resolved path and whether writes append.
#[derive(Debug)]
pub struct MemFile {
    path: PathBuf,
    append: bool,
}

fn err(kind: io::ErrorKind) -> io::Error {
    io::Error::from(kind)
}

/// `path` made absolute with `.` and `..` removed; `..` at the top stays at the top.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn attrs_of(node: &Node) -> Attributes {
    match node {
        Node::File(data, mode) => Attributes::EMPTY
            .with_permissions(0o100_000 | (mode & 0o7777))
            .with_size(data.len() as u64)
            .with_times(1_700_000_000, 1_700_000_000),
        Node::Dir(mode) => Attributes::EMPTY
            .with_permissions(0o040_000 | (mode & 0o7777))
            .with_size(4096),
        Node::Link(target) => Attributes::EMPTY
            .with_permissions(0o120_777)
            .with_size(target.len() as u64),
    }
}

impl Default for MemFs {
    fn default() -> Self {
        Self::new()
    }
}

impl MemFs {
    /// A tree with `/`, `/home`, `/home/a.txt`, `/home/link` → `a.txt` and `/empty`.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(PathBuf::from("/"), Node::Dir(0o755));
        nodes.insert(PathBuf::from("/home"), Node::Dir(0o755));
        nodes.insert(
            PathBuf::from("/home/a.txt"),
            Node::File(b"hello, fuzzer\n".to_vec(), 0o644),
        );
        nodes.insert(PathBuf::from("/home/link"), Node::Link(b"a.txt".to_vec()));
        nodes.insert(PathBuf::from("/empty"), Node::Dir(0o700));
        MemFs {
            nodes: Arc::new(Mutex::new(nodes)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<PathBuf, Node>> {
        self.nodes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every path it holds (they are all absolute and normalized).
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().keys().cloned().collect()
    }

    /// Resolves `path`: symbolic links in every part but, with `follow` false, the last.
    fn resolve(nodes: &BTreeMap<PathBuf, Node>, path: &Path, follow: bool) -> io::Result<PathBuf> {
        let mut pending: Vec<PathBuf> = vec![normalize(path)];
        let mut hops = 0;
        'again: while let Some(p) = pending.pop() {
            let mut out = PathBuf::from("/");
            let parts: Vec<_> = p.components().collect();
            for (i, c) in parts.iter().enumerate() {
                let Component::Normal(n) = c else { continue };
                out.push(n);
                let last = i + 1 == parts.len();
                if let Some(Node::Link(target)) = nodes.get(&out) {
                    if last && !follow {
                        break;
                    }
                    hops += 1;
                    if hops > MAX_LINKS {
                        return Err(err(io::ErrorKind::InvalidInput));
                    }
                    use std::os::unix::ffi::OsStrExt;
                    let t = Path::new(std::ffi::OsStr::from_bytes(target));
                    let mut next = out
                        .parent()
                        .map_or_else(|| PathBuf::from("/"), Path::to_owned);
                    next.push(t);
                    for rest in parts.iter().skip(i + 1) {
                        next.push(rest);
                    }
                    pending.push(normalize(&next));
                    continue 'again;
                }
            }
            return Ok(out);
        }
        Err(err(io::ErrorKind::NotFound))
    }

    fn parent_is_dir(nodes: &BTreeMap<PathBuf, Node>, path: &Path) -> io::Result<()> {
        let parent = path
            .parent()
            .ok_or_else(|| err(io::ErrorKind::PermissionDenied))?;
        match nodes.get(parent) {
            Some(Node::Dir(_)) => Ok(()),
            _ => Err(err(io::ErrorKind::NotFound)),
        }
    }

    fn insert(nodes: &mut BTreeMap<PathBuf, Node>, path: PathBuf, node: Node) -> io::Result<()> {
        if nodes.len() >= MAX_NODES {
            return Err(err(io::ErrorKind::StorageFull));
        }
        Self::parent_is_dir(nodes, &path)?;
        nodes.insert(path, node);
        Ok(())
    }
}

impl Filesystem for MemFs {
    type File = MemFile;
    type Dir = Vec<DirEntry>;

    fn open(&self, path: &Path, flags: OpenFlags, attrs: &Attributes) -> io::Result<MemFile> {
        let mut nodes = self.lock();
        let path = Self::resolve(&nodes, path, true)?;
        match nodes.get_mut(&path) {
            Some(Node::File(data, _)) => {
                if flags.contains(OpenFlags::CREAT) && flags.contains(OpenFlags::EXCL) {
                    return Err(err(io::ErrorKind::AlreadyExists));
                }
                if flags.contains(OpenFlags::TRUNC) {
                    data.clear();
                }
            }
            Some(_) => return Err(err(io::ErrorKind::PermissionDenied)),
            None if flags.contains(OpenFlags::CREAT) => {
                let mode = attrs.permissions.unwrap_or(0o644);
                Self::insert(&mut nodes, path.clone(), Node::File(Vec::new(), mode))?;
            }
            None => return Err(err(io::ErrorKind::NotFound)),
        }
        Ok(MemFile {
            path,
            append: flags.contains(OpenFlags::APPEND),
        })
    }

    fn read_at(&self, file: &MemFile, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let nodes = self.lock();
        let Some(Node::File(data, _)) = nodes.get(&file.path) else {
            return Err(err(io::ErrorKind::NotFound));
        };
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let src = data.get(start..).unwrap_or_default();
        let n = src.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn write_at(&self, file: &MemFile, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut nodes = self.lock();
        let Some(Node::File(data, _)) = nodes.get_mut(&file.path) else {
            return Err(err(io::ErrorKind::NotFound));
        };
        let offset = if file.append {
            data.len() as u64
        } else {
            offset
        };
        let end = offset.saturating_add(bytes.len() as u64);
        if end > MAX_FILE_LEN {
            return Err(err(io::ErrorKind::FileTooLarge));
        }
        let (start, end) = (offset as usize, end as usize);
        if data.len() < end {
            data.resize(end, 0);
        }
        if let Some(dst) = data.get_mut(start..end) {
            dst.copy_from_slice(bytes);
        }
        Ok(())
    }

    fn fstat(&self, file: &MemFile) -> io::Result<Attributes> {
        self.lock()
            .get(&file.path)
            .map(attrs_of)
            .ok_or_else(|| err(io::ErrorKind::NotFound))
    }

    fn fsetstat(&self, file: &MemFile, attrs: &Attributes) -> io::Result<()> {
        self.setstat(&file.path, attrs)
    }

    fn fsync(&self, _file: &MemFile) -> io::Result<()> {
        Ok(())
    }

    fn opendir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let nodes = self.lock();
        let path = Self::resolve(&nodes, path, true)?;
        if !matches!(nodes.get(&path), Some(Node::Dir(_))) {
            return Err(err(io::ErrorKind::NotFound));
        }
        let mut entries = Vec::new();
        for name in [".", ".."] {
            entries.push(DirEntry {
                name: name.as_bytes().to_vec(),
                longname: Vec::new(),
                attrs: attrs_of(&Node::Dir(0o755)),
                nlink: 2,
            });
        }
        for (p, node) in nodes.iter() {
            if p.parent() == Some(path.as_path()) {
                use std::os::unix::ffi::OsStrExt;
                let name = p.file_name().map(|n| n.as_bytes().to_vec());
                entries.push(DirEntry {
                    name: name.unwrap_or_default(),
                    longname: Vec::new(),
                    attrs: attrs_of(node),
                    nlink: 1,
                });
            }
        }
        entries.reverse();
        Ok(entries)
    }

    fn readdir(&self, dir: &mut Vec<DirEntry>, max: usize) -> io::Result<Vec<DirEntry>> {
        let n = dir.len().min(max.min(3));
        Ok(dir.split_off(dir.len() - n))
    }

    fn stat(&self, path: &Path) -> io::Result<Attributes> {
        let nodes = self.lock();
        let path = Self::resolve(&nodes, path, true)?;
        nodes
            .get(&path)
            .map(attrs_of)
            .ok_or_else(|| err(io::ErrorKind::NotFound))
    }

    fn lstat(&self, path: &Path) -> io::Result<Attributes> {
        let nodes = self.lock();
        let path = Self::resolve(&nodes, path, false)?;
        nodes
            .get(&path)
            .map(attrs_of)
            .ok_or_else(|| err(io::ErrorKind::NotFound))
    }

    fn setstat(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        let mut nodes = self.lock();
        let path = Self::resolve(&nodes, path, true)?;
        match nodes.get_mut(&path) {
            Some(Node::File(data, mode)) => {
                if let Some(size) = attrs.size {
                    if size > MAX_FILE_LEN {
                        return Err(err(io::ErrorKind::FileTooLarge));
                    }
                    data.resize(size as usize, 0);
                }
                if let Some(p) = attrs.permissions {
                    *mode = p & 0o7777;
                }
                Ok(())
            }
            Some(Node::Dir(mode)) => {
                if let Some(p) = attrs.permissions {
                    *mode = p & 0o7777;
                }
                Ok(())
            }
            _ => Err(err(io::ErrorKind::NotFound)),
        }
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut nodes = self.lock();
        let path = Self::resolve(&nodes, path, false)?;
        match nodes.get(&path) {
            Some(Node::File(..) | Node::Link(_)) => {
                nodes.remove(&path);
                Ok(())
            }
            Some(Node::Dir(_)) => Err(err(io::ErrorKind::PermissionDenied)),
            None => Err(err(io::ErrorKind::NotFound)),
        }
    }

    fn mkdir(&self, path: &Path, attrs: &Attributes) -> io::Result<()> {
        let mut nodes = self.lock();
        let path = Self::resolve(&nodes, path, false)?;
        if nodes.contains_key(&path) {
            return Err(err(io::ErrorKind::AlreadyExists));
        }
        let mode = attrs.permissions.unwrap_or(0o755);
        Self::insert(&mut nodes, path, Node::Dir(mode))
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        let mut nodes = self.lock();
        let path = Self::resolve(&nodes, path, false)?;
        if path == Path::new("/") {
            return Err(err(io::ErrorKind::PermissionDenied));
        }
        if !matches!(nodes.get(&path), Some(Node::Dir(_))) {
            return Err(err(io::ErrorKind::NotFound));
        }
        if nodes.keys().any(|p| p.parent() == Some(path.as_path())) {
            return Err(err(io::ErrorKind::DirectoryNotEmpty));
        }
        nodes.remove(&path);
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path, replace: bool) -> io::Result<()> {
        let mut nodes = self.lock();
        let from = Self::resolve(&nodes, from, false)?;
        let to = Self::resolve(&nodes, to, false)?;
        if from == Path::new("/") || to.starts_with(&from) {
            return Err(err(io::ErrorKind::InvalidInput));
        }
        if !nodes.contains_key(&from) {
            return Err(err(io::ErrorKind::NotFound));
        }
        if nodes.contains_key(&to) && !replace {
            return Err(err(io::ErrorKind::AlreadyExists));
        }
        if matches!(nodes.get(&to), Some(Node::Dir(_))) {
            return Err(err(io::ErrorKind::PermissionDenied));
        }
        Self::parent_is_dir(&nodes, &to)?;
        let moved: Vec<PathBuf> = nodes
            .keys()
            .filter(|p| p.starts_with(&from))
            .cloned()
            .collect();
        for p in moved {
            if let (Some(node), Ok(rest)) = (nodes.remove(&p), p.strip_prefix(&from)) {
                let dest = if rest.as_os_str().is_empty() {
                    to.clone()
                } else {
                    to.join(rest)
                };
                nodes.insert(dest, node);
            }
        }
        Ok(())
    }

    fn readlink(&self, path: &Path) -> io::Result<Vec<u8>> {
        let nodes = self.lock();
        let path = Self::resolve(&nodes, path, false)?;
        match nodes.get(&path) {
            Some(Node::Link(t)) => Ok(t.clone()),
            Some(_) => Err(err(io::ErrorKind::InvalidInput)),
            None => Err(err(io::ErrorKind::NotFound)),
        }
    }

    fn symlink(&self, target: &[u8], link: &Path) -> io::Result<()> {
        let mut nodes = self.lock();
        let link = Self::resolve(&nodes, link, false)?;
        if nodes.contains_key(&link) {
            return Err(err(io::ErrorKind::AlreadyExists));
        }
        Self::insert(&mut nodes, link, Node::Link(target.to_vec()))
    }

    fn hardlink(&self, old: &Path, new: &Path) -> io::Result<()> {
        let mut nodes = self.lock();
        let old = Self::resolve(&nodes, old, false)?;
        let new = Self::resolve(&nodes, new, false)?;
        let node = match nodes.get(&old) {
            Some(n @ Node::File(..)) => n.clone(),
            Some(_) => return Err(err(io::ErrorKind::PermissionDenied)),
            None => return Err(err(io::ErrorKind::NotFound)),
        };
        if nodes.contains_key(&new) {
            return Err(err(io::ErrorKind::AlreadyExists));
        }
        Self::insert(&mut nodes, new, node)
    }

    fn realpath(&self, path: &Path) -> io::Result<Vec<u8>> {
        use std::os::unix::ffi::OsStrExt;
        let nodes = self.lock();
        let path = Self::resolve(&nodes, path, true)?;
        Ok(path.as_os_str().as_bytes().to_vec())
    }

    fn statvfs(&self, _path: &Path) -> io::Result<FsStats> {
        Ok(FsStats {
            bsize: 4096,
            frsize: 4096,
            blocks: 256,
            bfree: 128,
            bavail: 128,
            files: MAX_NODES as u64,
            ffree: (MAX_NODES - self.lock().len()) as u64,
            favail: 0,
            fsid: 7,
            flag: 0,
            namemax: 255,
        })
    }

    fn supports(&self, extension: &str) -> bool {
        !extension.starts_with("copy-data")
    }
}
