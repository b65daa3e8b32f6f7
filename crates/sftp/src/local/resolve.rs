//! Virtual path resolution beneath the root, with chroot semantics.
//!
//! A client's path is walked one component at a time: `.` is dropped, `..` removes the last
//! resolved component and stops at the root (`/..` is `/`, as in a chroot), and each existing
//! component is `lstat`ed through the root's directory handle; a symbolic link is replaced by its
//! target, an absolute target meaning the *virtual* root (a target under the real root's
//! location is first made relative to it). The result is a relative path of plain components
//! with no symbolic link in it, which the caller hands to `cap-std` — which resolves it beneath
//! the root again, refusing any escape, so a link swapped in between (a race) still cannot lead
//! outside. Nothing here compares strings to decide what is inside: confinement is the
//! directory handle's.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::Dir;

/// Most symbolic links followed while resolving one path (Linux's `MAXSYMLINKS`).
const MAX_HOPS: usize = 40;

/// A resolved path: plain components beneath the root (empty: the root itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    parts: Vec<OsString>,
}

impl Resolved {
    /// The path relative to the root, `.` for the root.
    pub fn rel(&self) -> PathBuf {
        if self.parts.is_empty() {
            return PathBuf::from(".");
        }
        self.parts.iter().collect()
    }

    /// The virtual absolute path (`/a/b`).
    pub fn virtual_path(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            out.push(b'/');
            out.extend_from_slice(p.as_bytes());
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
    }

    /// The parent (relative, `.` for the root) and the last name; `None` for the root itself.
    pub fn split_last(&self) -> Option<(PathBuf, &OsStr)> {
        let (last, parent) = self.parts.split_last()?;
        let parent = if parent.is_empty() {
            PathBuf::from(".")
        } else {
            parent.iter().collect()
        };
        Some((parent, last.as_os_str()))
    }

    /// True for the root.
    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }
}

/// Splits a path into its components as a queue of names (`.`/`..` kept as they are).
fn components(path: &Path) -> impl Iterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
    })
}

/// Resolves a virtual path. With `follow_last` a symbolic link in the last component is
/// followed too (stat, open); without, the last component is kept as it is (lstat, remove,
/// rename, readlink). A component that does not exist ends the lookups: the rest is taken
/// lexically and the operation itself reports the error.
pub fn resolve(
    root: &Dir,
    real_root: &Path,
    path: &Path,
    follow_last: bool,
) -> io::Result<Resolved> {
    let mut pending: VecDeque<OsString> = components(path).collect();
    let mut parts: Vec<OsString> = Vec::new();
    let mut hops = 0;
    let mut missing = false;
    while let Some(name) = pending.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            parts.pop();
            continue;
        }
        parts.push(name);
        if missing || (pending.is_empty() && !follow_last) {
            continue;
        }
        let rel: PathBuf = parts.iter().collect();
        match root.symlink_metadata(&rel) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(io::Error::from_raw_os_error(40)); // ELOOP
                }
                let target = root.read_link_contents(&rel)?;
                parts.pop();
                let target = map_absolute(&target, real_root);
                if target.is_absolute() {
                    parts.clear();
                }
                for c in components(&target).collect::<Vec<_>>().into_iter().rev() {
                    pending.push_front(c);
                }
            }
            Ok(_) => {}
            Err(_) => missing = true,
        }
    }
    Ok(Resolved { parts })
}

/// An absolute link target under the real root's location, made virtual (`/srv/data/x` with
/// root `/srv/data` is `/x`); other targets unchanged (absolute ones then mean the virtual root,
/// as in a chroot). `strip_prefix` compares whole components, so `/srv/data2` is not under
/// `/srv/data`.
pub fn map_absolute(target: &Path, real_root: &Path) -> PathBuf {
    if !target.is_absolute() {
        return target.to_path_buf();
    }
    match target.strip_prefix(real_root) {
        Ok(rest) => Path::new("/").join(rest),
        Err(_) => target.to_path_buf(),
    }
}

/// A client's path as a [`Path`] (bytes taken as they are).
pub fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    fn setup() -> (tempfile::TempDir, Dir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::os::unix::fs::symlink("a/b", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("/a", root.join("abs")).unwrap();
        std::os::unix::fs::symlink(root.join("a/b"), root.join("real")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("a/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let real = std::fs::canonicalize(&root).unwrap();
        let dir = Dir::open_ambient_dir(&root, ambient_authority()).unwrap();
        (tmp, dir, real)
    }

    fn v(dir: &Dir, real: &Path, p: &str) -> String {
        let r = resolve(dir, real, Path::new(p), true).unwrap();
        String::from_utf8(r.virtual_path()).unwrap()
    }

    #[test]
    fn resolves_with_chroot_semantics() {
        let (_t, dir, real) = setup();
        assert_eq!(v(&dir, &real, "/"), "/");
        assert_eq!(v(&dir, &real, "/../../.."), "/");
        assert_eq!(v(&dir, &real, "a/./b/../b/f"), "/a/b/f");
        assert_eq!(v(&dir, &real, "/rel/f"), "/a/b/f");
        assert_eq!(v(&dir, &real, "/abs/b"), "/a/b");
        assert_eq!(v(&dir, &real, "/real"), "/a/b");
        assert_eq!(v(&dir, &real, "/a/up/etc/passwd"), "/etc/passwd");
        assert_eq!(v(&dir, &real, "/rel/.."), "/a");
        assert_eq!(v(&dir, &real, "/missing/x/../y"), "/missing/y");
        let lstat = resolve(&dir, &real, Path::new("/rel"), false).unwrap();
        assert_eq!(lstat.virtual_path(), b"/rel");
        let e = resolve(&dir, &real, Path::new("/loop"), true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(40));
    }

    #[test]
    fn prefix_is_by_component() {
        let real = Path::new("/srv/data");
        assert_eq!(
            map_absolute(Path::new("/srv/data/x"), real),
            Path::new("/x")
        );
        assert_eq!(map_absolute(Path::new("/srv/data"), real), Path::new("/"));
        assert_eq!(
            map_absolute(Path::new("/srv/data2/x"), real),
            Path::new("/srv/data2/x")
        );
        assert_eq!(map_absolute(Path::new("x/y"), real), Path::new("x/y"));
    }
}
