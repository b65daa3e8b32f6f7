//! SFTP v3 framed by hand over any byte stream: requests with ids, replies decoded just enough
//! to judge them (status code, handle, data, names, attributes).

use std::time::Duration;

use nacre_wire::{put, Reader};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::conform::{Outcome, Verdict};

/// Largest reply accepted: well above any server's limits (OpenSSH's is 256 KiB), so a reply
/// larger than the server's own limit is read whole and judged, not a broken stream.
const MAX_REPLY: usize = 64 << 20;

/// Packet types (draft-ietf-secsh-filexfer-02 §3).
pub mod t {
    #![allow(missing_docs)]
    pub const INIT: u8 = 1;
    pub const VERSION: u8 = 2;
    pub const OPEN: u8 = 3;
    pub const CLOSE: u8 = 4;
    pub const READ: u8 = 5;
    pub const WRITE: u8 = 6;
    pub const LSTAT: u8 = 7;
    pub const FSTAT: u8 = 8;
    pub const SETSTAT: u8 = 9;
    pub const FSETSTAT: u8 = 10;
    pub const OPENDIR: u8 = 11;
    pub const READDIR: u8 = 12;
    pub const REMOVE: u8 = 13;
    pub const MKDIR: u8 = 14;
    pub const RMDIR: u8 = 15;
    pub const REALPATH: u8 = 16;
    pub const STAT: u8 = 17;
    pub const RENAME: u8 = 18;
    pub const READLINK: u8 = 19;
    pub const SYMLINK: u8 = 20;
    pub const STATUS: u8 = 101;
    pub const HANDLE: u8 = 102;
    pub const DATA: u8 = 103;
    pub const NAME: u8 = 104;
    pub const ATTRS: u8 = 105;
    pub const EXTENDED: u8 = 200;
    pub const EXTENDED_REPLY: u8 = 201;
}

/// Status codes (draft-ietf-secsh-filexfer-02 §7).
pub mod st {
    #![allow(missing_docs)]
    pub const OK: u32 = 0;
    pub const EOF: u32 = 1;
    pub const NO_SUCH_FILE: u32 = 2;
    pub const PERMISSION_DENIED: u32 = 3;
    pub const OP_UNSUPPORTED: u32 = 8;
}

/// The attributes of a reply (§5), as far as the checks need them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// The flags field.
    pub flags: u32,
    /// Size.
    pub size: Option<u64>,
    /// Permissions (with the file type bits).
    pub perms: Option<u32>,
    /// (atime, mtime).
    pub times: Option<(u32, u32)>,
}

fn attrs(r: &mut Reader<'_>) -> Option<Attrs> {
    let flags = r.u32().ok()?;
    let mut a = Attrs {
        flags,
        ..Attrs::default()
    };
    if flags & 1 != 0 {
        a.size = Some(r.u64().ok()?);
    }
    if flags & 2 != 0 {
        r.u32().ok()?;
        r.u32().ok()?;
    }
    if flags & 4 != 0 {
        a.perms = Some(r.u32().ok()?);
    }
    if flags & 8 != 0 {
        a.times = Some((r.u32().ok()?, r.u32().ok()?));
    }
    if flags & 0x8000_0000 != 0 {
        for _ in 0..r.u32().ok()? {
            r.string().ok()?;
            r.string().ok()?;
        }
    }
    Some(a)
}

/// One reply.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Packet type.
    pub kind: u8,
    /// Request id (0 for VERSION).
    pub id: u32,
    /// What follows the id.
    pub body: Vec<u8>,
}

impl Reply {
    /// The status code of a STATUS reply.
    pub fn status(&self) -> Option<u32> {
        (self.kind == t::STATUS)
            .then(|| Reader::new(&self.body).u32().ok())
            .flatten()
    }

    /// The handle of a HANDLE reply.
    pub fn handle(&self) -> Option<Vec<u8>> {
        (self.kind == t::HANDLE)
            .then(|| Reader::new(&self.body).string().ok().map(<[u8]>::to_vec))
            .flatten()
    }

    /// The data of a DATA reply.
    pub fn data(&self) -> Option<Vec<u8>> {
        (self.kind == t::DATA)
            .then(|| Reader::new(&self.body).string().ok().map(<[u8]>::to_vec))
            .flatten()
    }

    /// The (filename, attributes) of a NAME reply.
    pub fn names(&self) -> Option<Vec<(String, Attrs)>> {
        if self.kind != t::NAME {
            return None;
        }
        let mut r = Reader::new(&self.body);
        let n = r.u32().ok()?;
        let mut v = Vec::new();
        for _ in 0..n.min(100_000) {
            let name = String::from_utf8_lossy(r.string().ok()?).into_owned();
            r.string().ok()?;
            v.push((name, attrs(&mut r)?));
        }
        Some(v)
    }

    /// The attributes of an ATTRS reply.
    pub fn attrs(&self) -> Option<Attrs> {
        if self.kind != t::ATTRS {
            return None;
        }
        attrs(&mut Reader::new(&self.body))
    }

    /// A few words about it.
    pub fn describe(&self) -> String {
        match self.kind {
            t::STATUS => {
                let mut r = Reader::new(&self.body);
                let code = r.u32().unwrap_or(u32::MAX);
                let msg = r.string().map(String::from_utf8_lossy).unwrap_or_default();
                format!("STATUS {code} ({}) {msg:?}", status_name(code))
            }
            t::HANDLE => "HANDLE".into(),
            t::DATA => format!("DATA {} bytes", self.data().map_or(0, |d| d.len())),
            t::NAME => match self.names() {
                Some(n) => format!(
                    "NAME {:?}",
                    n.iter()
                        .map(|(f, _)| f.as_str())
                        .take(8)
                        .collect::<Vec<_>>()
                ),
                None => "NAME (undecodable)".into(),
            },
            t::ATTRS => format!("ATTRS {:?}", self.attrs()),
            t::EXTENDED_REPLY => format!("EXTENDED_REPLY {} bytes", self.body.len()),
            k => format!("packet type {k}"),
        }
    }
}

/// The v3 name of a status code.
pub fn status_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "EOF",
        2 => "NO_SUCH_FILE",
        3 => "PERMISSION_DENIED",
        4 => "FAILURE",
        5 => "BAD_MESSAGE",
        6 => "NO_CONNECTION",
        7 => "CONNECTION_LOST",
        8 => "OP_UNSUPPORTED",
        _ => "unknown",
    }
}

/// An SFTP session over `io`.
pub struct Sftp<S> {
    io: S,
    next_id: u32,
    timeout: Duration,
    /// The extensions of SSH_FXP_VERSION.
    pub extensions: Vec<(String, Vec<u8>)>,
    /// Set once the stream failed: every later call fails at once.
    pub broken: Option<String>,
    /// The user the session runs as (for `home-directory`).
    pub user: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Sftp<S> {
    /// A session before INIT.
    pub fn new(io: S, timeout: Duration) -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        Sftp {
            io,
            next_id: 1,
            timeout,
            extensions: Vec::new(),
            broken: None,
            user,
        }
    }

    /// How long [`Sftp::recv`] waits for a reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Whether the server advertised extension `name`.
    pub fn has_ext(&self, name: &str) -> bool {
        self.extensions.iter().any(|(n, _)| n == name)
    }

    /// A fresh request id.
    pub fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    /// Sends one packet: type, id (unless INIT), body.
    pub async fn send(&mut self, kind: u8, id: Option<u32>, body: &[u8]) -> anyhow::Result<()> {
        if let Some(b) = &self.broken {
            anyhow::bail!("{b}");
        }
        let len = 1 + id.map_or(0, |_| 4) + body.len();
        let mut p = Vec::with_capacity(4 + len);
        put::uint32(&mut p, put::len32(len));
        p.push(kind);
        if let Some(id) = id {
            put::uint32(&mut p, id);
        }
        p.extend_from_slice(body);
        let r = self.io.write_all(&p).await;
        if let Err(e) = r {
            self.broken = Some(format!("write failed: {e}"));
            anyhow::bail!("write failed: {e}");
        }
        let _ = self.io.flush().await;
        Ok(())
    }

    /// Reads one packet.
    pub async fn recv(&mut self) -> anyhow::Result<Reply> {
        if let Some(b) = &self.broken {
            anyhow::bail!("{b}");
        }
        let r = tokio::time::timeout(self.timeout, async {
            let mut len = [0u8; 4];
            self.io.read_exact(&mut len).await?;
            let len = u32::from_be_bytes(len) as usize;
            if !(1..=MAX_REPLY).contains(&len) {
                anyhow::bail!("reply length {len}");
            }
            let mut p = vec![0u8; len];
            self.io.read_exact(&mut p).await?;
            let kind = p.first().copied().unwrap_or(0);
            if kind == t::VERSION {
                return Ok(Reply {
                    kind,
                    id: 0,
                    body: p.get(1..).unwrap_or(&[]).to_vec(),
                });
            }
            let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
            let id = r.u32()?;
            Ok(Reply {
                kind,
                id,
                body: r.remaining().to_vec(),
            })
        })
        .await;
        match r {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.broken = Some(format!("stream ended: {e}"));
                Err(e)
            }
            Err(_) => {
                self.broken = Some("no reply within the timeout".into());
                anyhow::bail!("no reply within the timeout")
            }
        }
    }

    /// One request and its reply (whose id must match).
    pub async fn call(&mut self, kind: u8, body: &[u8]) -> anyhow::Result<Reply> {
        let id = self.id();
        self.send(kind, Some(id), body).await?;
        let reply = self.recv().await?;
        if reply.id != id {
            self.broken = Some(format!("reply id {} to request {id}", reply.id));
            anyhow::bail!("reply id {} to request {id}", reply.id);
        }
        Ok(reply)
    }

    /// INIT 3 and VERSION: the check `sftp.version`.
    pub async fn init(&mut self) -> anyhow::Result<Outcome> {
        self.send(t::INIT, None, &3u32.to_be_bytes()).await?;
        let reply = self.recv().await?;
        if reply.kind != t::VERSION {
            anyhow::bail!("{} instead of SSH_FXP_VERSION", reply.describe());
        }
        let mut r = Reader::new(&reply.body);
        let version = r.u32()?;
        while !r.is_empty() {
            let name = String::from_utf8_lossy(r.string()?).into_owned();
            let data = r.string()?.to_vec();
            self.extensions.push((name, data));
        }
        let names: Vec<String> = self
            .extensions
            .iter()
            .map(|(n, d)| format!("{n}={}", String::from_utf8_lossy(d)))
            .collect();
        Ok(Outcome::new(
            "sftp.version",
            "draft-ietf-secsh-filexfer-02 §4",
            if version == 3 {
                Verdict::Pass
            } else {
                Verdict::Fail
            },
            "SSH_FXP_INIT version 3",
            format!("SSH_FXP_VERSION {version}; extensions {}", names.join(", ")),
            if version == 3 {
                "version 3 as asked"
            } else {
                "a version other than the client's 3"
            },
        ))
    }
}

/// A body made of strings.
pub fn strings(parts: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    for p in parts {
        put::string(&mut b, p);
    }
    b
}

/// OPEN's body: filename, pflags, empty attributes.
pub fn open_body(path: &str, pflags: u32) -> Vec<u8> {
    let mut b = strings(&[path.as_bytes()]);
    put::uint32(&mut b, pflags);
    put::uint32(&mut b, 0);
    b
}

/// READ's body.
pub fn read_body(handle: &[u8], offset: u64, len: u32) -> Vec<u8> {
    let mut b = strings(&[handle]);
    put::uint64(&mut b, offset);
    put::uint32(&mut b, len);
    b
}

/// WRITE's body.
pub fn write_body(handle: &[u8], offset: u64, data: &[u8]) -> Vec<u8> {
    let mut b = strings(&[handle]);
    put::uint64(&mut b, offset);
    put::string(&mut b, data);
    b
}

/// SETSTAT's body with one attribute flag set.
pub fn setstat_body(path_or_handle: &[u8], flags: u32, values: &[u32]) -> Vec<u8> {
    let mut b = strings(&[path_or_handle]);
    put::uint32(&mut b, flags);
    for v in values {
        put::uint32(&mut b, *v);
    }
    b
}
