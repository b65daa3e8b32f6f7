//! The OpenSSH extensions of the server, and the list it announces in SSH_FXP_VERSION.

use nacre_sftp_codec::ext::names;
use nacre_sftp_codec::{
    CopyData, ExtensionPair, LimitsReply, Request, StatusCode, UsersGroupsByIdReply,
};
use nacre_sftp_codec::{Seq, SFTP_VERSION};

use super::dispatch::{frame, io_status, single_name, status_frame, vpath, Reply, Session};
use super::oplog;
use super::{Filesystem, MAX_PACKET_LEN, MAX_READ_LEN, MAX_WRITE_LEN};

/// Bytes per step of a server-side copy.
const COPY_CHUNK: usize = 64 * 1024;

/// Extensions the dispatcher implements whatever the backend.
const ALWAYS: [(&str, &str); 6] = [
    (names::POSIX_RENAME, "1"),
    (names::LIMITS, "1"),
    (names::EXPAND_PATH, "1"),
    (names::COPY_DATA, "1"),
    (names::HOME_DIRECTORY, "1"),
    (names::USERS_GROUPS_BY_ID, "1"),
];

/// Extensions that need the backend.
const OPTIONAL: [(&str, &str); 5] = [
    (names::STATVFS, "2"),
    (names::FSTATVFS, "2"),
    (names::HARDLINK, "1"),
    (names::FSYNC, "1"),
    (names::LSETSTAT, "1"),
];

/// The SSH_FXP_VERSION frame: version 3 and the extensions of `fs`, in OpenSSH's order.
pub fn version_frame<F: Filesystem>(fs: &F) -> Vec<u8> {
    let order = [
        names::POSIX_RENAME,
        names::STATVFS,
        names::FSTATVFS,
        names::HARDLINK,
        names::FSYNC,
        names::LSETSTAT,
        names::LIMITS,
        names::EXPAND_PATH,
        names::COPY_DATA,
        names::HOME_DIRECTORY,
        names::USERS_GROUPS_BY_ID,
    ];
    let pairs: Vec<ExtensionPair<'static>> = order
        .iter()
        .filter_map(|name| {
            if let Some((n, v)) = ALWAYS.iter().find(|(n, _)| n == name) {
                return Some(ExtensionPair::new(n, v));
            }
            OPTIONAL
                .iter()
                .find(|(n, _)| n == name && fs.supports(n))
                .map(|(n, v)| ExtensionPair::new(n, v))
        })
        .collect();
    frame(&nacre_sftp_codec::Version {
        version: SFTP_VERSION,
        extensions: Seq::from_slice(&pairs),
    })
}

/// `~`, `~/x` (the home is the root) and `~user...` (unknown) of `expand-path@openssh.com`.
fn expand_home(path: &[u8]) -> Result<Vec<u8>, StatusCode> {
    match path {
        [b'~'] => Ok(b"/".to_vec()),
        [b'~', b'/', rest @ ..] => {
            let mut p = b"/".to_vec();
            p.extend_from_slice(rest);
            Ok(p)
        }
        [b'~', ..] => Err(StatusCode::FAILURE),
        _ => Ok(path.to_vec()),
    }
}

impl<F: Filesystem> Session<F> {
    pub(super) fn extension(&self, id: u32, req: &Request<'_>) -> Reply {
        let fs = &*self.fs;
        let ok = |r: std::io::Result<()>| -> Reply {
            r.map_err(io_status)?;
            Ok(status_frame(id, StatusCode::OK))
        };
        match req {
            Request::PosixRename(m) => {
                self.require_writable()?;
                let r = ok(fs.rename(&vpath(m.oldpath), &vpath(m.newpath), true));
                let (old, new) = (oplog::shown(m.oldpath), oplog::shown(m.newpath));
                oplog::op(
                    &self.config.log_label,
                    &format!("posix-rename old {old} new {new}"),
                    &r,
                );
                r
            }
            Request::Statvfs(m) => {
                let s = fs.statvfs(&vpath(m.path)).map_err(io_status)?;
                Ok(frame(&s.to_reply(id)))
            }
            Request::Fstatvfs(m) => {
                let f = self.file(m.handle)?;
                let s = fs.fstatvfs(&f.file).map_err(io_status)?;
                Ok(frame(&s.to_reply(id)))
            }
            Request::Hardlink(m) => {
                self.require_writable()?;
                let r = ok(fs.hardlink(&vpath(m.oldpath), &vpath(m.newpath)));
                let (old, new) = (oplog::shown(m.oldpath), oplog::shown(m.newpath));
                oplog::op(
                    &self.config.log_label,
                    &format!("hardlink old {old} new {new}"),
                    &r,
                );
                r
            }
            Request::Fsync(m) => {
                let f = self.file(m.handle)?;
                ok(fs.fsync(&f.file))
            }
            Request::Lsetstat(m) => {
                self.require_writable()?;
                let r = ok(fs.lsetstat(&vpath(m.path), &m.attrs.into()));
                oplog::op(
                    &self.config.log_label,
                    &format!("set {}", oplog::shown(m.path)),
                    &r,
                );
                r
            }
            Request::Limits(_) => Ok(frame(&LimitsReply {
                id,
                max_packet_length: MAX_PACKET_LEN as u64,
                max_read_length: MAX_READ_LEN as u64,
                max_write_length: MAX_WRITE_LEN as u64,
                // The tightest ceiling: this session's, or a shared budget's.
                max_open_handles: self
                    .config
                    .handle_budgets
                    .iter()
                    .map(|b| b.limit())
                    .fold(self.config.max_handles, usize::min)
                    as u64,
            })),
            Request::ExpandPath(m) => {
                let path = expand_home(m.path)?;
                let real = fs.realpath(&vpath(&path)).map_err(io_status)?;
                Ok(single_name(id, &real))
            }
            Request::HomeDirectory(_) => Ok(single_name(id, b"/")),
            Request::CopyData(m) => self.copy_data(id, m),
            Request::UsersGroupsById(m) => {
                let users: Vec<&[u8]> = m
                    .uids
                    .iter()
                    .map(|u| self.accounts.user(u).unwrap_or("").as_bytes())
                    .collect();
                let groups: Vec<&[u8]> = m
                    .gids
                    .iter()
                    .map(|g| self.accounts.group(g).unwrap_or("").as_bytes())
                    .collect();
                Ok(frame(&UsersGroupsByIdReply {
                    id,
                    usernames: Seq::from_slice(&users),
                    groupnames: Seq::from_slice(&groups),
                }))
            }
            _ => Err(StatusCode::OP_UNSUPPORTED.into()),
        }
    }

    /// `copy-data`: copies from one open file to another on the server, like OpenSSH (the two
    /// handles must differ; a length of 0 copies up to end of file).
    fn copy_data(&self, id: u32, m: &CopyData<'_>) -> Reply {
        self.require_writable()?;
        if m.read_from_handle == m.write_to_handle {
            return Err(StatusCode::FAILURE.into());
        }
        let from = self.file(m.read_from_handle)?;
        let to = self.file(m.write_to_handle)?;
        if !from.readable || !to.writable {
            return Err(StatusCode::PERMISSION_DENIED.into());
        }
        let fs = &*self.fs;
        let mut buf = vec![0u8; COPY_CHUNK];
        let (mut read_off, mut write_off) = (m.read_from_offset, m.write_to_offset);
        let mut left = m.read_data_length;
        loop {
            let want = if m.read_data_length == 0 {
                COPY_CHUNK
            } else {
                usize::try_from(left.min(COPY_CHUNK as u64)).unwrap_or(COPY_CHUNK)
            };
            if want == 0 {
                break;
            }
            let chunk = buf.get_mut(..want).ok_or(StatusCode::FAILURE)?;
            let n = fs.read_at(&from.file, read_off, chunk).map_err(io_status)?;
            if n == 0 {
                // OpenSSH: running out of data before the requested length is EOF.
                if m.read_data_length != 0 && left > 0 {
                    return Err(StatusCode::EOF.into());
                }
                break;
            }
            let data = buf.get(..n).ok_or(StatusCode::FAILURE)?;
            fs.write_at(&to.file, write_off, data).map_err(io_status)?;
            // Offsets near 2^64 come from the client: past the end is a failure, not a wrap.
            read_off = read_off.checked_add(n as u64).ok_or(StatusCode::FAILURE)?;
            write_off = write_off.checked_add(n as u64).ok_or(StatusCode::FAILURE)?;
            left = left.saturating_sub(n as u64);
        }
        Ok(status_frame(id, StatusCode::OK))
    }
}
