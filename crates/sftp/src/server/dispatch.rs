//! One request in, one reply out: the synchronous core of the server, run on the blocking pool.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nacre_sftp_codec::{
    encode_frame, Attrs, Data, Handle, Name, NameEntry, OpenFlags, Request, Seq, Status, StatusCode,
};
use nacre_wire::Encode;

use super::handles::{lock, Claim, Entry, Handles, OpenFile};
use super::oplog::{self, shown};
use super::{Filesystem, ServerConfig, MAX_READ_LEN};
use crate::attrs::{Attributes, DirEntry};
use crate::longname::{long_name, Accounts};
use crate::status::{message_for_io, status_for_io};

/// Bytes before the data in a DATA frame: length, type, id, data length.
const READ_HEADER: usize = 4 + 1 + 4 + 4;

/// Entries per READDIR reply (OpenSSH sends up to 100).
const READDIR_BATCH: usize = 100;

/// The result of a request: a reply frame or a failed status.
pub(super) type Reply = Result<Vec<u8>, Failure>;

/// A status other than OK with its message: the code's generic text, or what the file system
/// said ran out ([`message_for_io`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failure {
    code: StatusCode,
    message: &'static str,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message)
    }
}

impl From<StatusCode> for Failure {
    fn from(code: StatusCode) -> Self {
        Failure {
            code,
            message: code.default_message(),
        }
    }
}

/// The state of one SFTP session.
///
/// The dispatcher takes one request packet and returns the reply frame; here over a
/// [`LocalFs`](crate::LocalFs) serving a temporary folder:
///
/// ```
/// use std::sync::Arc;
/// use nacre_sftp::codec::{parse_frame, Response, Stat, StatusCode};
/// use nacre_sftp::{LocalFs, ServerConfig, Session};
/// use nacre_wire::Encode;
///
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("hello.txt"), b"hello")?;
/// let session = Session::new(Arc::new(LocalFs::new(dir.path())?), ServerConfig::default());
/// assert!(!session.version_frame().is_empty()); // the answer to INIT
///
/// let reply = session.handle_packet(&Stat { id: 1, path: b"/hello.txt" }.to_bytes()).unwrap();
/// let (frame, _) = parse_frame(&reply, usize::MAX)?.unwrap();
/// let Response::Attrs(attrs) = frame.decode_response()? else { panic!() };
/// assert_eq!((attrs.id, attrs.attrs.size), (1, Some(5)));
///
/// // Paths are virtual: `..` stops at the top of the served folder.
/// let escape = Stat { id: 2, path: b"/../../etc/passwd" };
/// let reply = session.handle_packet(&escape.to_bytes()).unwrap();
/// let (frame, _) = parse_frame(&reply, usize::MAX)?.unwrap();
/// let Response::Status(status) = frame.decode_response()? else { panic!() };
/// assert_eq!((status.id, status.code), (2, StatusCode::NO_SUCH_FILE));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session<F: Filesystem> {
    pub(super) fs: Arc<F>,
    pub(super) config: ServerConfig,
    pub(super) handles: Mutex<Handles<F>>,
    pub(super) accounts: Arc<Accounts>,
}

/// Encodes `msg` as a frame.
pub(super) fn frame<M: Encode + ?Sized>(msg: &M) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(msg, &mut out);
    out
}

/// A STATUS frame with the code's generic message.
pub(super) fn status_frame(id: u32, code: StatusCode) -> Vec<u8> {
    frame(&Status::from_code(id, code))
}

/// The failed status for a file system error.
pub(super) fn io_status(e: io::Error) -> Failure {
    Failure {
        code: status_for_io(&e),
        message: message_for_io(&e),
    }
}

/// A client's path as a virtual absolute path: relative paths start at `/` (the session's
/// working directory is the root); an empty path is the root.
pub(super) fn vpath(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(bytes));
    Path::new("/").join(p)
}

/// A NAME reply with one entry whose name and long name are `name` (REALPATH, READLINK).
pub(super) fn single_name(id: u32, name: &[u8]) -> Vec<u8> {
    let entries = [NameEntry {
        filename: name,
        longname: name,
        attrs: Attributes::EMPTY.to_wire(),
    }];
    frame(&Name {
        id,
        entries: Seq::from_slice(&entries),
    })
}

impl<F: Filesystem> Session<F> {
    /// A session over `fs`.
    pub fn new(fs: Arc<F>, config: ServerConfig) -> Self {
        let accounts = config.accounts.clone();
        Session {
            handles: Mutex::new(Handles::new(
                config.max_handles,
                config.handle_budgets.clone(),
            )),
            fs,
            config,
            accounts,
        }
    }

    /// Number of open handles.
    pub fn open_handles(&self) -> usize {
        lock(&self.handles).len()
    }

    fn writable(&self) -> Result<(), StatusCode> {
        if self.config.read_only {
            return Err(StatusCode::PERMISSION_DENIED);
        }
        Ok(())
    }

    pub(super) fn file(&self, handle: &[u8]) -> Result<Arc<OpenFile<F>>, StatusCode> {
        match lock(&self.handles).get(handle) {
            Some(Entry::File(f)) => Ok(f),
            _ => Err(StatusCode::FAILURE),
        }
    }

    /// Room for a new handle ([`Handles::claim`]), or FAILURE saying there is none.
    fn claim(&self) -> Result<Claim, Failure> {
        lock(&self.handles).claim().ok_or(Failure {
            code: StatusCode::FAILURE,
            message: "too many open handles",
        })
    }

    fn new_handle(&self, id: u32, entry: Entry<F>, claim: Claim) -> Reply {
        let handle = lock(&self.handles)
            .insert(entry, claim)
            .ok_or(StatusCode::FAILURE)?;
        Ok(frame(&Handle {
            id,
            handle: &handle,
        }))
    }

    /// The VERSION frame that answers INIT: version 3 and the extensions this backend offers.
    pub fn version_frame(&self) -> Vec<u8> {
        super::extensions::version_frame(&*self.fs)
    }

    /// Handles one request packet (type byte onwards; anything but INIT) as the server loop
    /// does: decoded the way OpenSSH's sftp-server reads one (bytes after its fields ignored), a
    /// packet that does not decode answered with SSH_FX_BAD_MESSAGE for its id. `None` for an
    /// undecodable packet that carries no id.
    pub fn handle_packet(&self, packet: &[u8]) -> Option<Vec<u8>> {
        match super::decode_request(packet) {
            Ok(req) => Some(self.handle(&req)),
            Err(_) => nacre_sftp_codec::Frame::new(packet)
                .ok()?
                .request_id()
                .map(|id| status_frame(id, StatusCode::BAD_MESSAGE)),
        }
    }

    /// Handles one decoded request (anything but INIT); the reply frame.
    pub fn handle(&self, req: &Request<'_>) -> Vec<u8> {
        let id = req.id().unwrap_or(0);
        match self.reply(id, req) {
            Ok(frame) => frame,
            Err(f) => frame(&Status::new(id, f.code, f.message)),
        }
    }

    fn ok(&self, id: u32, result: io::Result<()>) -> Reply {
        result.map_err(io_status)?;
        Ok(status_frame(id, StatusCode::OK))
    }

    fn attrs(&self, id: u32, result: io::Result<Attributes>) -> Reply {
        let attrs = result.map_err(io_status)?;
        Ok(frame(&Attrs {
            id,
            attrs: attrs.to_wire(),
        }))
    }

    fn reply(&self, id: u32, req: &Request<'_>) -> Reply {
        let fs = &*self.fs;
        match req {
            Request::Open(m) => {
                let r = self.open(id, m.filename, m.pflags, &m.attrs.into());
                let what = format!(
                    "open {} flags {}",
                    shown(m.filename),
                    oplog::flags(m.pflags)
                );
                self.log(&what, &r);
                r
            }
            Request::Close(m) => {
                let entry = lock(&self.handles)
                    .remove(m.handle)
                    .ok_or(StatusCode::FAILURE)?;
                let ok: Reply = Ok(Vec::new());
                match entry {
                    Entry::File(f) => self.log(
                        &format!("close {} {}", shown(&f.path), f.moved.summary()),
                        &ok,
                    ),
                    Entry::Dir(_, path) => self.log(&format!("closedir {}", shown(&path)), &ok),
                }
                Ok(status_frame(id, StatusCode::OK))
            }
            Request::Read(m) => self.read(id, m.handle, m.offset, m.len),
            Request::Write(m) => {
                self.writable()?;
                let f = self.file(m.handle)?;
                if !f.writable {
                    return Err(StatusCode::PERMISSION_DENIED.into());
                }
                let r = self.ok(id, fs.write_at(&f.file, m.offset, m.data));
                if r.is_ok() {
                    f.moved.add_written(m.data.len());
                }
                r
            }
            Request::Fstat(m) => {
                let f = self.file(m.handle)?;
                self.attrs(id, fs.fstat(&f.file))
            }
            Request::Fsetstat(m) => {
                self.writable()?;
                let f = self.file(m.handle)?;
                let r = self.ok(id, fs.fsetstat(&f.file, &m.attrs.into()));
                self.log(&format!("set {}", shown(&f.path)), &r);
                r
            }
            Request::Lstat(m) => self.attrs(id, fs.lstat(&vpath(m.path))),
            Request::Stat(m) => self.attrs(id, fs.stat(&vpath(m.path))),
            Request::Setstat(m) => {
                self.writable()?;
                let r = self.ok(id, fs.setstat(&vpath(m.path), &m.attrs.into()));
                self.log(&format!("set {}", shown(m.path)), &r);
                r
            }
            Request::Opendir(m) => {
                let r = self.opendir(id, m.path);
                self.log(&format!("opendir {}", shown(m.path)), &r);
                r
            }
            Request::Readdir(m) => self.readdir(id, m.handle),
            Request::Remove(m) => {
                self.writable()?;
                let r = self.ok(id, fs.remove(&vpath(m.filename)));
                self.log(&format!("remove name {}", shown(m.filename)), &r);
                r
            }
            Request::Mkdir(m) => {
                self.writable()?;
                let r = self.ok(id, fs.mkdir(&vpath(m.path), &m.attrs.into()));
                self.log(&format!("mkdir name {}", shown(m.path)), &r);
                r
            }
            Request::Rmdir(m) => {
                self.writable()?;
                let r = self.ok(id, fs.rmdir(&vpath(m.path)));
                self.log(&format!("rmdir name {}", shown(m.path)), &r);
                r
            }
            Request::Realpath(m) => {
                let path = fs.realpath(&vpath(m.path)).map_err(io_status)?;
                Ok(single_name(id, &path))
            }
            Request::Rename(m) => {
                self.writable()?;
                let r = self.ok(id, fs.rename(&vpath(m.oldpath), &vpath(m.newpath), false));
                let what = format!("rename old {} new {}", shown(m.oldpath), shown(m.newpath));
                self.log(&what, &r);
                r
            }
            Request::Readlink(m) => {
                let target = fs.readlink(&vpath(m.path)).map_err(io_status)?;
                Ok(single_name(id, &target))
            }
            Request::Symlink(m) => {
                self.writable()?;
                let r = self.ok(id, fs.symlink(m.target_path, &vpath(m.link_path)));
                let what = format!(
                    "symlink old {} new {}",
                    shown(m.target_path),
                    shown(m.link_path)
                );
                self.log(&what, &r);
                r
            }
            Request::Init(_) | Request::Unknown(_) => Err(StatusCode::OP_UNSUPPORTED.into()),
            other => self.extension(id, other),
        }
    }

    fn open(&self, id: u32, path: &[u8], flags: OpenFlags, attrs: &Attributes) -> Reply {
        let writes = OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREAT | OpenFlags::TRUNC;
        if !(flags & writes).is_empty() {
            self.writable()?;
        }
        let claim = self.claim()?;
        let file = self
            .fs
            .open(&vpath(path), flags, attrs)
            .map_err(io_status)?;
        let writable = flags.contains(OpenFlags::WRITE) || flags.contains(OpenFlags::APPEND);
        let entry = OpenFile {
            file,
            readable: flags.contains(OpenFlags::READ) || !writable,
            writable,
            path: path.to_vec(),
            moved: oplog::Transferred::default(),
        };
        self.new_handle(id, Entry::File(Arc::new(entry)), claim)
    }

    /// READ, clamped to [`MAX_READ_LEN`]; the data are read straight into the reply frame.
    fn read(&self, id: u32, handle: &[u8], offset: u64, len: u32) -> Reply {
        let f = self.file(handle)?;
        if i64::try_from(offset).is_err() {
            // Past any file's end (and past what pread accepts).
            return Err(StatusCode::EOF.into());
        }
        let reply = read_frame(id, len, |len, out| {
            self.fs.read_at_into(&f.file, offset, len, out).map(Some)
        })
        .map_err(io_status)?
        .ok_or_else(|| Failure::from(StatusCode::EOF))?;
        f.moved.add_read(reply.len().saturating_sub(READ_HEADER));
        Ok(reply)
    }

    fn opendir(&self, id: u32, path: &[u8]) -> Reply {
        let claim = self.claim()?;
        let dir = self.fs.opendir(&vpath(path)).map_err(io_status)?;
        self.new_handle(
            id,
            Entry::Dir(Arc::new(Mutex::new(dir)), path.into()),
            claim,
        )
    }

    /// One line of the operation log ([`oplog`]).
    fn log(&self, what: &str, result: &Reply) {
        oplog::op(&self.config.log_label, what, result);
    }

    /// The reply to `req` if it is a READ whose data can be had without waiting
    /// ([`Filesystem::read_at_into_nowait`]); `None` for every other case, which
    /// [`Session::handle`] then serves on a blocking thread.
    pub fn handle_read_nowait(&self, req: &Request<'_>) -> Option<Vec<u8>> {
        let Request::Read(m) = req else {
            return None;
        };
        let f = self.file(m.handle).ok()?;
        i64::try_from(m.offset).ok()?;
        let reply = read_frame(m.id, m.len, |len, out| {
            Ok(self.fs.read_at_into_nowait(&f.file, m.offset, len, out))
        })
        .ok()
        .flatten()?;
        f.moved.add_read(reply.len().saturating_sub(READ_HEADER));
        Some(reply)
    }

    fn readdir(&self, id: u32, handle: &[u8]) -> Reply {
        let dir = match lock(&self.handles).get(handle) {
            Some(Entry::Dir(d, _)) => d,
            _ => return Err(StatusCode::FAILURE.into()),
        };
        let batch = {
            let mut dir = lock(&dir);
            self.fs
                .readdir(&mut dir, READDIR_BATCH)
                .map_err(io_status)?
        };
        if batch.is_empty() {
            return Err(StatusCode::EOF.into());
        }
        Ok(self.name_frame(id, &batch))
    }

    fn name_frame(&self, id: u32, batch: &[DirEntry]) -> Vec<u8> {
        let longnames: Vec<Vec<u8>> = batch
            .iter()
            .map(|e| {
                if e.longname.is_empty() {
                    long_name(&e.name, &e.attrs, e.nlink, &self.accounts)
                } else {
                    e.longname.clone()
                }
            })
            .collect();
        let entries: Vec<NameEntry<'_>> = batch
            .iter()
            .zip(&longnames)
            .map(|(e, l)| NameEntry {
                filename: &e.name,
                longname: l,
                attrs: e.attrs.to_wire(),
            })
            .collect();
        frame(&Name {
            id,
            entries: Seq::from_slice(&entries),
        })
    }

    pub(super) fn require_writable(&self) -> Result<(), StatusCode> {
        self.writable()
    }
}

/// A DATA frame for READ `id` of up to `len` bytes (clamped to [`MAX_READ_LEN`]), the data read by
/// `read` straight into the frame. `None` when `read` read nothing (end of file) or declined.
fn read_frame(
    id: u32,
    len: u32,
    read: impl FnOnce(usize, &mut Vec<u8>) -> io::Result<Option<usize>>,
) -> io::Result<Option<Vec<u8>>> {
    const HEADER: usize = READ_HEADER;
    let len = usize::try_from(len).unwrap_or(usize::MAX).min(MAX_READ_LEN);
    let mut out = Vec::with_capacity(HEADER + len);
    out.extend_from_slice(&[0u8; HEADER]);
    let n = match read(len, &mut out)? {
        Some(n) if n > 0 => n,
        _ => return Ok(None),
    };
    out.truncate(HEADER + n);
    let mut header = Vec::with_capacity(HEADER);
    Data::encode_frame_header(&mut header, id, n);
    if let Some(slot) = out.get_mut(..HEADER) {
        slot.copy_from_slice(&header);
    }
    Ok(Some(out))
}
