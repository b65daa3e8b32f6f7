//! The request checks of the SFTP suite, in one session, inside the scratch folder.

use tokio::io::{AsyncRead, AsyncWrite};

use super::wire::{open_body, read_body, setstat_body, st, strings, t, write_body, Reply, Sftp};
use crate::conform::{Outcome, Verdict};

/// An outcome: PASS when `pass`, else FAIL.
pub fn judged(
    name: &str,
    clause: &'static str,
    pass: bool,
    sent: impl Into<String>,
    got: impl Into<String>,
    note: impl Into<String>,
) -> Outcome {
    Outcome::new(
        name,
        clause,
        if pass { Verdict::Pass } else { Verdict::Fail },
        sent,
        got,
        note,
    )
}

/// What a call got, described (or the error).
pub fn got(r: &anyhow::Result<Reply>) -> String {
    match r {
        Ok(r) => r.describe(),
        Err(e) => format!("error: {e}"),
    }
}

/// The status code of a call's reply.
pub fn code(r: &anyhow::Result<Reply>) -> Option<u32> {
    r.as_ref().ok().and_then(Reply::status)
}

/// Whether a call got STATUS with an error code (not OK, not EOF).
pub fn is_error(r: &anyhow::Result<Reply>) -> bool {
    code(r).is_some_and(|c| c >= 2)
}

/// A path's attributes by STAT (None on any error).
async fn stat<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    kind: u8,
    path: &str,
) -> Option<super::wire::Attrs> {
    s.call(kind, &strings(&[path.as_bytes()]))
        .await
        .ok()?
        .attrs()
}

/// Opens `path` with `pflags`: the handle.
async fn open<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    path: &str,
    pflags: u32,
) -> Option<Vec<u8>> {
    s.call(t::OPEN, &open_body(path, pflags))
        .await
        .ok()?
        .handle()
}

async fn close<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    h: &[u8],
) -> anyhow::Result<Reply> {
    s.call(t::CLOSE, &strings(&[h])).await
}

/// A file with `content` (created or truncated).
async fn put_file<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    path: &str,
    content: &[u8],
) -> bool {
    let Some(h) = open(s, path, 0x1a).await else {
        return false;
    };
    let w = s.call(t::WRITE, &write_body(&h, 0, content)).await;
    let c = close(s, &h).await;
    code(&w) == Some(st::OK) && code(&c) == Some(st::OK)
}

fn size_of(a: &Option<super::wire::Attrs>) -> String {
    match a {
        Some(a) => format!("size {:?}", a.size),
        None => "no attributes".into(),
    }
}

/// Every request check; the extension checks (ext.rs) run in the scratch folder too.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
) {
    let clause = "draft-ietf-secsh-filexfer-02 §6.11";
    let r = s.call(t::REALPATH, &strings(&[b"."])).await;
    let base = r
        .as_ref()
        .ok()
        .and_then(Reply::names)
        .and_then(|n| n.first().map(|(f, _)| f.clone()));
    out.push(judged(
        "sftp.realpath-dot",
        clause,
        base.as_deref().is_some_and(|b| b.starts_with('/')),
        "REALPATH \".\"",
        got(&r),
        "one absolute name",
    ));
    let Some(base) = base else { return };
    let r = s.call(t::REALPATH, &strings(&[b""])).await;
    let empty = r
        .as_ref()
        .ok()
        .and_then(Reply::names)
        .and_then(|n| n.first().map(|(f, _)| f.clone()));
    out.push(Outcome::new(
        "sftp.realpath-empty",
        clause,
        if empty.as_deref() == Some(base.as_str()) {
            Verdict::Pass
        } else {
            Verdict::Info
        },
        "REALPATH \"\"",
        got(&r),
        "the empty path is the start folder (as \".\")",
    ));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = format!(
        "{}/nacre-conform-{}-{nanos}",
        base.trim_end_matches('/'),
        std::process::id()
    );
    let mut mk = strings(&[dir.as_bytes()]);
    mk.extend_from_slice(&[0, 0, 0, 0]);
    let r = s.call(t::MKDIR, &mk).await;
    let made = code(&r) == Some(st::OK);
    out.push(judged(
        "sftp.mkdir",
        "draft-ietf-secsh-filexfer-02 §6.6",
        made,
        format!("MKDIR {dir}"),
        got(&r),
        "the scratch folder",
    ));
    if !made {
        return;
    }
    let r = s
        .call(t::REALPATH, &strings(&[format!("{dir}/..").as_bytes()]))
        .await;
    let up = r
        .as_ref()
        .ok()
        .and_then(Reply::names)
        .and_then(|n| n.first().map(|(f, _)| f.clone()));
    out.push(judged(
        "sftp.realpath-dotdot",
        clause,
        up.as_deref() == Some(base.as_str()),
        format!("REALPATH {dir}/.."),
        got(&r),
        "\"..\" resolved to the parent",
    ));
    files(s, out, &dir).await;
    super::ext::run(s, out, &dir).await;
    cleanup(s, out, &dir).await;
    unknown_request(s, out).await;
}

/// An unknown packet type, last: a server that does not answer it (OpenSSH's sftp-server logs
/// it and goes on) leaves the stream waiting.
async fn unknown_request<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
) {
    s.set_timeout(std::time::Duration::from_secs(2));
    let r = s.call(150, &strings(&[b"x"])).await;
    let verdict = if code(&r) == Some(st::OP_UNSUPPORTED) {
        Verdict::Pass
    } else {
        Verdict::Info
    };
    out.push(Outcome::new(
        "sftp.unknown-request",
        "draft-ietf-secsh-filexfer-02 §7",
        verdict,
        "packet type 150 with an id",
        got(&r),
        if verdict == Verdict::Pass {
            "SSH_FX_OP_UNSUPPORTED with the request's id"
        } else {
            "not SSH_FX_OP_UNSUPPORTED (the draft names no reply for unknown types)"
        },
    ));
}

async fn files<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    dir: &str,
) {
    let c3 = "draft-ietf-secsh-filexfer-02 §6.3";
    let c4 = "draft-ietf-secsh-filexfer-02 §6.4";
    let a = format!("{dir}/a");
    let ok = put_file(s, &a, b"hello world").await;
    out.push(judged(
        "sftp.open-write-close",
        c3,
        ok,
        "OPEN WRITE|CREAT|TRUNC, WRITE 11 bytes, CLOSE",
        if ok { "OK, OK" } else { "an error" },
        "a new file written",
    ));
    if let Some(h) = open(s, &a, 0x01).await {
        let r = s.call(t::READ, &read_body(&h, 0, 4096)).await;
        let data = r.as_ref().ok().and_then(Reply::data);
        out.push(judged(
            "sftp.short-read",
            c4,
            data.as_deref() == Some(b"hello world".as_slice()),
            "READ offset 0 length 4096 of an 11-byte file",
            got(&r),
            "a short read returns what there is",
        ));
        let r = s.call(t::READ, &read_body(&h, 11, 100)).await;
        out.push(judged(
            "sftp.read-eof",
            c4,
            code(&r) == Some(st::EOF),
            "READ at offset 11 (the end)",
            got(&r),
            "SSH_FX_EOF at the end of the file",
        ));
        let r = s.call(t::READ, &read_body(&h, 1000, 10)).await;
        out.push(judged(
            "sftp.read-beyond-eof",
            c4,
            code(&r) == Some(st::EOF),
            "READ at offset 1000 of an 11-byte file",
            got(&r),
            "SSH_FX_EOF past the end",
        ));
        let r = s.call(t::FSTAT, &strings(&[&h])).await;
        let size = r.as_ref().ok().and_then(Reply::attrs).and_then(|a| a.size);
        out.push(judged(
            "sftp.fstat",
            "draft-ietf-secsh-filexfer-02 §6.8",
            size == Some(11),
            "FSTAT",
            got(&r),
            "the open file's size",
        ));
        let c = close(s, &h).await;
        let r = s.call(t::READ, &read_body(&h, 0, 10)).await;
        out.push(judged(
            "sftp.closed-handle",
            "draft-ietf-secsh-filexfer-02 §6.3",
            code(&c) == Some(st::OK) && is_error(&r),
            "CLOSE, then READ with the closed handle",
            format!("{}, {}", got(&c), got(&r)),
            "a closed handle is invalid",
        ));
    }
    let r = s
        .call(t::READ, &read_body(b"nacre-conform-bogus-handle", 0, 10))
        .await;
    out.push(judged(
        "sftp.bad-handle",
        "draft-ietf-secsh-filexfer-02 §7",
        is_error(&r),
        "READ with a handle the server never gave",
        got(&r),
        "an error status",
    ));
    let attrs = stat(s, t::STAT, &a).await;
    let (pass, note) = match &attrs {
        Some(x) => {
            let missing: Vec<&str> = [
                (1, "SIZE"),
                (2, "UIDGID"),
                (4, "PERMISSIONS"),
                (8, "ACMODTIME"),
            ]
            .iter()
            .filter(|(f, _)| x.flags & f == 0)
            .map(|(_, n)| *n)
            .collect();
            let ok = x.size == Some(11) && x.perms.is_some_and(|p| p & 0o170000 == 0o100000);
            (
                ok,
                if missing.is_empty() {
                    "SIZE, UIDGID, PERMISSIONS, ACMODTIME, a regular file of 11 bytes".to_owned()
                } else {
                    format!("flags {:#x}, without {}", x.flags, missing.join(", "))
                },
            )
        }
        None => (false, "no ATTRS".to_owned()),
    };
    out.push(judged(
        "sftp.attrs-flags",
        "draft-ietf-secsh-filexfer-02 §5",
        pass,
        "STAT",
        format!("{attrs:?}"),
        note,
    ));
    if let Some(h) = open(s, &a, 0x06).await {
        let w = s.call(t::WRITE, &write_body(&h, 0, b"XYZ")).await;
        let _ = close(s, &h).await;
        let after = stat(s, t::STAT, &a).await;
        out.push(judged(
            "sftp.open-append",
            c3,
            after.as_ref().and_then(|x| x.size) == Some(14),
            "OPEN WRITE|APPEND, WRITE 3 bytes at offset 0",
            format!("{}, {}", got(&w), size_of(&after)),
            "SSH_FXF_APPEND writes at the end",
        ));
    }
    let r = s.call(t::OPEN, &open_body(&a, 0x2a)).await;
    if let Some(h) = r.as_ref().ok().and_then(Reply::handle) {
        let _ = close(s, &h).await;
    }
    out.push(judged(
        "sftp.open-excl",
        c3,
        is_error(&r),
        "OPEN WRITE|CREAT|EXCL of an existing file",
        got(&r),
        "SSH_FXF_EXCL fails when the file exists",
    ));
    if let Some(h) = open(s, &a, 0x12).await {
        let _ = close(s, &h).await;
        let after = stat(s, t::STAT, &a).await;
        out.push(judged(
            "sftp.open-trunc",
            c3,
            after.as_ref().and_then(|x| x.size) == Some(0),
            "OPEN WRITE|TRUNC of a 14-byte file",
            size_of(&after),
            "SSH_FXF_TRUNC empties it",
        ));
    }
    if let Some(h) = open(s, &a, 0x02).await {
        let w = s.call(t::WRITE, &write_body(&h, 100, b"Z")).await;
        let _ = close(s, &h).await;
        let after = stat(s, t::STAT, &a).await;
        out.push(judged(
            "sftp.write-beyond-eof",
            c4,
            after.as_ref().and_then(|x| x.size) == Some(101),
            "WRITE 1 byte at offset 100 of an empty file",
            format!("{}, {}", got(&w), size_of(&after)),
            "the file grows to offset + length",
        ));
    }
    attributes(s, out, &a).await;
    failures(s, out, dir, &a).await;
    listing(s, out, dir).await;
    links(s, out, dir).await;
}

async fn attributes<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    a: &str,
) {
    let c9 = "draft-ietf-secsh-filexfer-02 §6.9";
    let mut body = strings(&[a.as_bytes()]);
    nacre_wire::put::uint32(&mut body, 1);
    nacre_wire::put::uint64(&mut body, 3);
    let r = s.call(t::SETSTAT, &body).await;
    let after = stat(s, t::STAT, a).await;
    out.push(judged(
        "sftp.setstat-size",
        c9,
        after.as_ref().and_then(|x| x.size) == Some(3),
        "SETSTAT SIZE 3",
        format!("{}, {}", got(&r), size_of(&after)),
        "the size attribute truncates",
    ));
    let r = s
        .call(
            t::SETSTAT,
            &setstat_body(a.as_bytes(), 8, &[1_000_000_000, 1_000_000_001]),
        )
        .await;
    let after = stat(s, t::STAT, a).await;
    let times = after.as_ref().and_then(|x| x.times);
    out.push(judged(
        "sftp.setstat-times",
        c9,
        times == Some((1_000_000_000, 1_000_000_001)),
        "SETSTAT ACMODTIME 1000000000 1000000001",
        format!("{}, times {times:?}", got(&r)),
        "access and modification times set",
    ));
    if let Some(h) = open(s, a, 0x01).await {
        let r = s.call(t::FSETSTAT, &setstat_body(&h, 4, &[0o640])).await;
        let _ = close(s, &h).await;
        let perms = stat(s, t::STAT, a).await.and_then(|x| x.perms);
        out.push(judged(
            "sftp.fsetstat-permissions",
            c9,
            perms.map(|p| p & 0o7777) == Some(0o640),
            "FSETSTAT PERMISSIONS 0640",
            format!(
                "{}, permissions {:?}",
                got(&r),
                perms.map(|p| format!("{:o}", p & 0o7777))
            ),
            "permissions set through a handle",
        ));
    }
}

async fn failures<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    dir: &str,
    a: &str,
) {
    let c7 = "draft-ietf-secsh-filexfer-02 §7";
    let missing = format!("{dir}/missing");
    for (name, kind, body, what) in [
        (
            "sftp.open-missing",
            t::OPEN,
            open_body(&missing, 0x01),
            "OPEN READ of a missing file",
        ),
        (
            "sftp.stat-missing",
            t::STAT,
            strings(&[missing.as_bytes()]),
            "STAT of a missing file",
        ),
        (
            "sftp.remove-missing",
            t::REMOVE,
            strings(&[missing.as_bytes()]),
            "REMOVE of a missing file",
        ),
        (
            "sftp.opendir-missing",
            t::OPENDIR,
            strings(&[missing.as_bytes()]),
            "OPENDIR of a missing folder",
        ),
    ] {
        let r = s.call(kind, &body).await;
        out.push(judged(
            name,
            c7,
            code(&r) == Some(st::NO_SUCH_FILE),
            what,
            got(&r),
            "SSH_FX_NO_SUCH_FILE",
        ));
    }
    let d = format!("{dir}/d");
    let mut mk = strings(&[d.as_bytes()]);
    mk.extend_from_slice(&[0, 0, 0, 0]);
    let _ = s.call(t::MKDIR, &mk).await;
    let _ = put_file(s, &format!("{d}/x"), b"x").await;
    let r = s.call(t::RMDIR, &strings(&[d.as_bytes()])).await;
    out.push(judged(
        "sftp.rmdir-not-empty",
        "draft-ietf-secsh-filexfer-02 §6.6",
        is_error(&r),
        "RMDIR of a folder holding a file",
        got(&r),
        "an error status (v3 has no DIR_NOT_EMPTY)",
    ));
    let _ = s
        .call(t::SETSTAT, &setstat_body(a.as_bytes(), 4, &[0]))
        .await;
    let r = s.call(t::OPEN, &open_body(a, 0x01)).await;
    if let Some(h) = r.as_ref().ok().and_then(Reply::handle) {
        let _ = close(s, &h).await;
    }
    let verdict = match code(&r) {
        Some(st::PERMISSION_DENIED) => Verdict::Pass,
        _ if r.as_ref().is_ok_and(|x| x.kind == t::HANDLE) => Verdict::Info,
        _ => Verdict::Fail,
    };
    let note = match verdict {
        Verdict::Pass => "SSH_FX_PERMISSION_DENIED",
        Verdict::Info => "opened anyway: the server acts with privileges that ignore the mode",
        Verdict::Fail => "an error other than SSH_FX_PERMISSION_DENIED",
    };
    out.push(Outcome::new(
        "sftp.permission-denied",
        c7,
        verdict,
        "SETSTAT PERMISSIONS 0, OPEN READ",
        got(&r),
        note,
    ));
    let _ = s
        .call(t::SETSTAT, &setstat_body(a.as_bytes(), 4, &[0o644]))
        .await;
}

async fn listing<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    dir: &str,
) {
    let c = "draft-ietf-secsh-filexfer-02 §6.7";
    let r = s.call(t::OPENDIR, &strings(&[dir.as_bytes()])).await;
    let Some(h) = r.as_ref().ok().and_then(Reply::handle) else {
        out.push(judged(
            "sftp.readdir-eof",
            c,
            false,
            "OPENDIR",
            got(&r),
            "no handle",
        ));
        return;
    };
    let mut names = Vec::new();
    let mut last = String::new();
    let mut eof = false;
    for _ in 0..1000 {
        let r = s.call(t::READDIR, &strings(&[&h])).await;
        last = got(&r);
        match r.as_ref().ok().and_then(Reply::names) {
            Some(n) => names.extend(n.into_iter().map(|(f, _)| f)),
            None => {
                eof = code(&r) == Some(st::EOF);
                break;
            }
        }
    }
    let again = s.call(t::READDIR, &strings(&[&h])).await;
    let _ = close(s, &h).await;
    let found = ["a", "d"].iter().all(|n| names.iter().any(|x| x == n));
    out.push(judged(
        "sftp.readdir-eof",
        c,
        eof && found && code(&again) == Some(st::EOF),
        "OPENDIR, READDIR until the end, READDIR once more",
        format!("names {names:?}; then {last}; then {}", got(&again)),
        "every entry, then SSH_FX_EOF (and again EOF)",
    ));
}

async fn links<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    dir: &str,
) {
    let c5 = "draft-ietf-secsh-filexfer-02 §6.5";
    let (a, b, cpath) = (format!("{dir}/a"), format!("{dir}/b"), format!("{dir}/c"));
    let r = s
        .call(t::RENAME, &strings(&[a.as_bytes(), b.as_bytes()]))
        .await;
    out.push(judged(
        "sftp.rename",
        c5,
        code(&r) == Some(st::OK) && stat(s, t::STAT, &b).await.is_some(),
        "RENAME a b",
        got(&r),
        "renamed",
    ));
    let _ = put_file(s, &cpath, b"c").await;
    let r = s
        .call(t::RENAME, &strings(&[b.as_bytes(), cpath.as_bytes()]))
        .await;
    out.push(judged(
        "sftp.rename-existing",
        c5,
        is_error(&r),
        "RENAME b c, c existing",
        got(&r),
        "an error when the new name exists",
    ));
    let c10 = "draft-ietf-secsh-filexfer-02 §6.10";
    let (target, link) = (format!("{dir}/t"), format!("{dir}/l"));
    let r = s
        .call(t::SYMLINK, &strings(&[target.as_bytes(), link.as_bytes()]))
        .await;
    let at_l = s.call(t::READLINK, &strings(&[link.as_bytes()])).await;
    let at_t = s.call(t::READLINK, &strings(&[target.as_bytes()])).await;
    let first = |r: &anyhow::Result<Reply>| {
        r.as_ref()
            .ok()
            .and_then(Reply::names)
            .and_then(|n| n.first().map(|(f, _)| f.clone()))
    };
    let (verdict, note) = if first(&at_l).as_deref() == Some(target.as_str()) {
        (
            Verdict::Pass,
            "OpenSSH's order: target first, then the link's name",
        )
    } else if first(&at_t).as_deref() == Some(link.as_str()) {
        (
            Verdict::Info,
            "the draft's order (linkpath, targetpath): OpenSSH clients get reversed links",
        )
    } else {
        (Verdict::Fail, "no link either way")
    };
    out.push(Outcome::new(
        "sftp.symlink-order",
        "OpenSSH PROTOCOL §4.1",
        verdict,
        format!("SYMLINK {target} {link}"),
        format!(
            "{}; READLINK l: {}; READLINK t: {}",
            got(&r),
            got(&at_l),
            got(&at_t)
        ),
        note,
    ));
    out.push(judged(
        "sftp.readlink",
        c10,
        first(&at_l).is_some() || first(&at_t).is_some(),
        "READLINK of the link",
        got(&at_l),
        "one name",
    ));
    let lpath = if verdict == Verdict::Pass {
        &link
    } else {
        &target
    };
    let l = stat(s, t::LSTAT, lpath).await;
    out.push(judged(
        "sftp.lstat-symlink",
        "draft-ietf-secsh-filexfer-02 §6.8",
        l.as_ref()
            .and_then(|x| x.perms)
            .is_some_and(|p| p & 0o170000 == 0o120000),
        "LSTAT of the link",
        format!("{l:?}"),
        "the link itself (S_IFLNK)",
    ));
}

/// Removes everything in the scratch folder (one level of subfolders) and the folder.
async fn cleanup<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    dir: &str,
) {
    for sub in ["d", ""] {
        let path = if sub.is_empty() {
            dir.to_owned()
        } else {
            format!("{dir}/{sub}")
        };
        let Ok(r) = s.call(t::OPENDIR, &strings(&[path.as_bytes()])).await else {
            break;
        };
        let Some(h) = r.handle() else { continue };
        let mut entries = Vec::new();
        for _ in 0..1000 {
            match s
                .call(t::READDIR, &strings(&[&h]))
                .await
                .ok()
                .and_then(|r| r.names())
            {
                Some(n) => entries.extend(n),
                None => break,
            }
        }
        let _ = close(s, &h).await;
        for (name, attrs) in entries {
            if name == "." || name == ".." || name.contains('/') {
                continue;
            }
            let p = format!("{path}/{name}");
            let is_dir = attrs.perms.is_some_and(|m| m & 0o170000 == 0o040000);
            if !is_dir {
                let _ = s.call(t::REMOVE, &strings(&[p.as_bytes()])).await;
            }
        }
        if !sub.is_empty() {
            let _ = s.call(t::RMDIR, &strings(&[path.as_bytes()])).await;
        }
    }
    let r = s.call(t::RMDIR, &strings(&[dir.as_bytes()])).await;
    out.push(judged(
        "sftp.cleanup",
        "draft-ietf-secsh-filexfer-02 §6.6",
        code(&r) == Some(st::OK),
        format!("REMOVE each file, RMDIR {dir}"),
        got(&r),
        "the scratch folder is gone",
    ));
}
