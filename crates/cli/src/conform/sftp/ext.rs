//! OpenSSH's SFTP extensions (OpenSSH PROTOCOL §4, each checked only when advertised), an
//! unknown extension, `limits@openssh.com` honoured, and pipelined requests answered with
//! matching ids.

use nacre_wire::{put, Reader};
use tokio::io::{AsyncRead, AsyncWrite};

use super::checks::{code, got, judged};
use super::wire::{open_body, read_body, st, strings, t, Reply, Sftp};
use crate::conform::{Outcome, Verdict};

const PROTOCOL: &str = "OpenSSH PROTOCOL §4";

async fn ext<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    name: &str,
    args: &[u8],
) -> anyhow::Result<Reply> {
    let mut body = strings(&[name.as_bytes()]);
    body.extend_from_slice(args);
    s.call(t::EXTENDED, &body).await
}

fn reply_len(r: &anyhow::Result<Reply>) -> Option<usize> {
    r.as_ref()
        .ok()
        .filter(|x| x.kind == t::EXTENDED_REPLY)
        .map(|x| x.body.len())
}

/// The extension checks.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    dir: &str,
) {
    let r = ext(s, "conform@nacre.invalid", &[]).await;
    out.push(judged(
        "sftp.extended-unknown",
        "draft-ietf-secsh-filexfer-02 §8",
        code(&r) == Some(st::OP_UNSUPPORTED),
        "EXTENDED conform@nacre.invalid",
        got(&r),
        "SSH_FX_OP_UNSUPPORTED",
    ));
    let (b, c) = (format!("{dir}/b"), format!("{dir}/c"));
    let skip = |name: &str| Outcome::skipped(name, PROTOCOL, "not advertised");
    if s.has_ext("posix-rename@openssh.com") {
        let r = ext(
            s,
            "posix-rename@openssh.com",
            &strings(&[c.as_bytes(), b.as_bytes()]),
        )
        .await;
        out.push(judged(
            "sftp.ext.posix-rename",
            "OpenSSH PROTOCOL §4.3",
            code(&r) == Some(st::OK),
            "posix-rename@openssh.com c b (b exists)",
            got(&r),
            "replaces the existing name",
        ));
    } else {
        out.push(skip("sftp.ext.posix-rename"));
    }
    if s.has_ext("statvfs@openssh.com") {
        let r = ext(s, "statvfs@openssh.com", &strings(&[dir.as_bytes()])).await;
        out.push(judged(
            "sftp.ext.statvfs",
            "OpenSSH PROTOCOL §4.4",
            reply_len(&r) == Some(88),
            "statvfs@openssh.com on the scratch folder",
            got(&r),
            "EXTENDED_REPLY with 11 uint64",
        ));
    } else {
        out.push(skip("sftp.ext.statvfs"));
    }
    let handle = s
        .call(t::OPEN, &open_body(&b, 0x03))
        .await
        .ok()
        .and_then(|r| r.handle());
    if let Some(h) = &handle {
        if s.has_ext("fstatvfs@openssh.com") {
            let r = ext(s, "fstatvfs@openssh.com", &strings(&[h])).await;
            out.push(judged(
                "sftp.ext.fstatvfs",
                "OpenSSH PROTOCOL §4.4",
                reply_len(&r) == Some(88),
                "fstatvfs@openssh.com on an open file",
                got(&r),
                "EXTENDED_REPLY with 11 uint64",
            ));
        } else {
            out.push(skip("sftp.ext.fstatvfs"));
        }
        if s.has_ext("fsync@openssh.com") {
            let r = ext(s, "fsync@openssh.com", &strings(&[h])).await;
            out.push(judged(
                "sftp.ext.fsync",
                "OpenSSH PROTOCOL §4.6",
                code(&r) == Some(st::OK),
                "fsync@openssh.com on an open file",
                got(&r),
                "SSH_FX_OK",
            ));
        } else {
            out.push(skip("sftp.ext.fsync"));
        }
        if s.has_ext("copy-data") {
            let dst = format!("{dir}/copy");
            let dh = s
                .call(t::OPEN, &open_body(&dst, 0x1a))
                .await
                .ok()
                .and_then(|r| r.handle());
            if let Some(dh) = dh {
                let mut args = strings(&[h]);
                put::uint64(&mut args, 0);
                put::uint64(&mut args, 0);
                put::string(&mut args, &dh);
                put::uint64(&mut args, 0);
                let r = ext(s, "copy-data", &args).await;
                let _ = s.call(t::CLOSE, &strings(&[&dh])).await;
                let size = s
                    .call(t::STAT, &strings(&[dst.as_bytes()]))
                    .await
                    .ok()
                    .and_then(|x| x.attrs())
                    .and_then(|a| a.size);
                out.push(judged(
                    "sftp.ext.copy-data",
                    "draft-ietf-secsh-filexfer-extensions-00 §7",
                    code(&r) == Some(st::OK) && size == Some(1),
                    "copy-data of the whole file (length 0)",
                    format!("{}, copy size {size:?}", got(&r)),
                    "the data copied",
                ));
            }
        } else {
            out.push(skip("sftp.ext.copy-data"));
        }
    }
    if s.has_ext("hardlink@openssh.com") {
        let link = format!("{dir}/hard");
        let r = ext(
            s,
            "hardlink@openssh.com",
            &strings(&[b.as_bytes(), link.as_bytes()]),
        )
        .await;
        out.push(judged(
            "sftp.ext.hardlink",
            "OpenSSH PROTOCOL §4.5",
            code(&r) == Some(st::OK),
            "hardlink@openssh.com b hard",
            got(&r),
            "SSH_FX_OK",
        ));
    } else {
        out.push(skip("sftp.ext.hardlink"));
    }
    if s.has_ext("lsetstat@openssh.com") {
        let mut args = strings(&[b.as_bytes()]);
        put::uint32(&mut args, 8);
        put::uint32(&mut args, 1_000_000_000);
        put::uint32(&mut args, 1_000_000_000);
        let r = ext(s, "lsetstat@openssh.com", &args).await;
        out.push(judged(
            "sftp.ext.lsetstat",
            "OpenSSH PROTOCOL §4.7",
            code(&r) == Some(st::OK),
            "lsetstat@openssh.com ACMODTIME",
            got(&r),
            "SSH_FX_OK",
        ));
    } else {
        out.push(skip("sftp.ext.lsetstat"));
    }
    if s.has_ext("expand-path@openssh.com") {
        let r = ext(s, "expand-path@openssh.com", &strings(&[b"~"])).await;
        let name = r
            .as_ref()
            .ok()
            .and_then(Reply::names)
            .and_then(|n| n.first().map(|(f, _)| f.clone()));
        out.push(judged(
            "sftp.ext.expand-path",
            "OpenSSH PROTOCOL §4.9",
            name.is_some_and(|n| n.starts_with('/')),
            "expand-path@openssh.com ~",
            got(&r),
            "one absolute name",
        ));
    } else {
        out.push(skip("sftp.ext.expand-path"));
    }
    if s.has_ext("home-directory") {
        let user = s.user.clone();
        let r = ext(s, "home-directory", &strings(&[user.as_bytes()])).await;
        out.push(judged(
            "sftp.ext.home-directory",
            "draft-ietf-secsh-filexfer-extensions-00 §5",
            r.as_ref()
                .ok()
                .and_then(Reply::names)
                .is_some_and(|n| n.len() == 1),
            format!("home-directory {user}"),
            got(&r),
            "one name",
        ));
    } else {
        out.push(skip("sftp.ext.home-directory"));
    }
    if s.has_ext("users-groups-by-id@openssh.com") {
        let mut args = Vec::new();
        put::string(&mut args, &0u32.to_be_bytes());
        put::string(&mut args, &0u32.to_be_bytes());
        let r = ext(s, "users-groups-by-id@openssh.com", &args).await;
        let ok = r
            .as_ref()
            .ok()
            .filter(|x| x.kind == t::EXTENDED_REPLY)
            .is_some_and(|x| {
                let mut rd = Reader::new(&x.body);
                rd.string().is_ok() && rd.string().is_ok()
            });
        out.push(judged(
            "sftp.ext.users-groups-by-id",
            "OpenSSH PROTOCOL §4.10",
            ok,
            "users-groups-by-id@openssh.com uid 0, gid 0",
            got(&r),
            "EXTENDED_REPLY with two name lists",
        ));
    } else {
        out.push(skip("sftp.ext.users-groups-by-id"));
    }
    limits(s, out, &b, handle.as_deref()).await;
    if let Some(h) = handle {
        pipelined(s, out, &h).await;
        let _ = s.call(t::CLOSE, &strings(&[&h])).await;
    }
}

/// limits@openssh.com: four uint64; a READ larger than max-read-length gets no more.
async fn limits<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    file: &str,
    handle: Option<&[u8]>,
) {
    let name = "sftp.ext.limits";
    if !s.has_ext("limits@openssh.com") {
        out.push(Outcome::skipped(name, PROTOCOL, "not advertised"));
        return;
    }
    let r = ext(s, "limits@openssh.com", &[]).await;
    let values: Option<Vec<u64>> = r
        .as_ref()
        .ok()
        .filter(|x| x.kind == t::EXTENDED_REPLY)
        .and_then(|x| {
            let mut rd = Reader::new(&x.body);
            (0..4).map(|_| rd.u64().ok()).collect()
        });
    out.push(judged(
        name,
        "OpenSSH PROTOCOL §4.8",
        values.is_some(),
        "limits@openssh.com",
        format!("{values:?}"),
        "max-packet-length, max-read-length, max-write-length, max-open-handles",
    ));
    let (Some(v), Some(h)) = (values, handle) else {
        return;
    };
    let max_read = v.get(1).copied().unwrap_or(0);
    if max_read == 0 || max_read > 1 << 24 {
        return;
    }
    // Make the file longer than max-read-length, then ask for more than that.
    let len = max_read as usize + 4096;
    let mut w = strings(&[h]);
    put::uint64(&mut w, 0);
    put::string(
        &mut w,
        &vec![0x42; len.min(v.get(2).copied().unwrap_or(32768) as usize)],
    );
    let _ = s.call(t::WRITE, &w).await;
    let mut w2 = strings(&[h]);
    put::uint64(&mut w2, max_read);
    put::string(&mut w2, &[0x43; 4096]);
    let _ = s.call(t::WRITE, &w2).await;
    let r = s
        .call(
            t::READ,
            &read_body(h, 0, (max_read as u32).saturating_add(4096)),
        )
        .await;
    let got_len = r.as_ref().ok().and_then(Reply::data).map(|d| d.len());
    out.push(judged(
        "sftp.limits-read-honoured",
        "OpenSSH PROTOCOL §4.8",
        got_len.is_some_and(|n| n as u64 <= max_read && n > 0),
        format!(
            "READ of {} bytes from {file} (max-read-length {max_read})",
            max_read + 4096
        ),
        got(&r),
        "no more than max-read-length",
    ));
}

/// 16 requests sent back to back: 16 replies, each id once, matching the requests.
async fn pipelined<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Sftp<S>,
    out: &mut Vec<Outcome>,
    h: &[u8],
) {
    let name = "sftp.pipelined";
    let mut ids = Vec::new();
    for i in 0..16u64 {
        let id = s.id();
        ids.push(id);
        let (kind, body) = if i % 2 == 0 {
            (t::READ, read_body(h, i * 10, 10))
        } else {
            (t::FSTAT, strings(&[h]))
        };
        if s.send(kind, Some(id), &body).await.is_err() {
            break;
        }
    }
    let mut got_ids = Vec::new();
    let mut kinds_ok = true;
    for _ in 0..ids.len() {
        match s.recv().await {
            Ok(r) => {
                let idx = ids.iter().position(|&x| x == r.id);
                // Even positions were READs (DATA or EOF), odd ones FSTATs (ATTRS).
                kinds_ok &= match idx {
                    Some(i) if i % 2 == 0 => r.kind == t::DATA || r.status() == Some(st::EOF),
                    Some(_) => r.kind == t::ATTRS,
                    None => false,
                };
                got_ids.push(r.id);
            }
            Err(_) => break,
        }
    }
    let mut sorted = got_ids.clone();
    sorted.sort_unstable();
    let ok = sorted == ids && kinds_ok;
    let in_order = got_ids == ids;
    out.push(Outcome::new(
        name,
        "draft-ietf-secsh-filexfer-02 §6.1",
        if ok { Verdict::Pass } else { Verdict::Fail },
        "16 READ/FSTAT requests sent back to back",
        format!("reply ids {got_ids:?}"),
        if !ok {
            "replies missing, duplicated or of the wrong kind"
        } else if in_order {
            "every id answered once (in order)"
        } else {
            "every id answered once (out of order, which the draft allows)"
        },
    ));
}
