//! The real binaries where nacre used to be stricter than OpenSSH (issue 17, docs/TOLERANCE.md):
//! paramiko's `Transport` sends SERVICE_REQUEST "ssh-userauth" before each authentication
//! method, so a key that is refused followed by a password must authenticate against
//! `nacre serve`, as it does against sshd; and `nacre sftp-server` must answer a WRITE packet
//! longer than its fields as OpenSSH's `sftp-server` does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nacre_tests::{run_with_timeout, venv_python, ChildGuard};

const PASSWORD: &str = "tolerance-pass";

/// Tries a fresh (unknown) ECDSA key, then the password, on one transport; then opens a session
/// channel to show the connection carries on. Prints "authenticated" on success.
const SCRIPT: &str = r#"
import socket, sys
import paramiko
port, password = int(sys.argv[1]), sys.argv[2]
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
t = paramiko.Transport(sock)
t.start_client(timeout=30)
try:
    t.auth_publickey("peer", paramiko.ECDSAKey.generate())
    sys.exit("the unknown key was accepted")
except paramiko.AuthenticationException:
    pass
t.auth_password("peer", password)
assert t.is_authenticated()
chan = t.open_session(timeout=30)
chan.close()
t.close()
print("authenticated")
"#;

/// `nacre serve` for user `peer` with [`PASSWORD`].
fn serve(dir: &std::path::Path) -> (ChildGuard, u16) {
    nacre_tests::start_nacre_serve(
        env!("CARGO_BIN_EXE_nacre").as_ref(),
        dir,
        "peer",
        PASSWORD,
        &[],
    )
}

#[test]
fn paramiko_key_then_password_authenticates() {
    let tmp = tempfile::tempdir().unwrap();
    let (_serve, port) = serve(tmp.path());
    let out = run_with_timeout(
        std::process::Command::new(venv_python())
            .arg("-c")
            .arg(SCRIPT)
            .arg(port.to_string())
            .arg(PASSWORD),
        Duration::from_secs(120),
    );
    assert!(
        out.status.success() && out.stdout.contains("authenticated"),
        "paramiko: {}\n{}",
        out.stdout,
        out.stderr
    );
}

/// `string` of SSH/SFTP: length and bytes.
fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Frames one SFTP packet (type byte onwards).
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Reads one SFTP packet (type byte onwards).
fn read_packet(r: &mut impl Read) -> Vec<u8> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    r.read_exact(&mut body).unwrap();
    body
}

/// Speaks to an SFTP server over its stdin and stdout: INIT, OPEN `path` (write, create,
/// truncate), a WRITE of `abcd` followed by 12 bytes that belong to no field, CLOSE. Returns the
/// WRITE's and CLOSE's status codes.
fn padded_write(cmd: &mut Command, path: &[u8]) -> (u32, u32) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let mut r = child.stdout.take().unwrap();
    w.write_all(&frame(&[1, 0, 0, 0, 3])).unwrap();
    assert_eq!(read_packet(&mut r)[0], 2, "VERSION");
    let mut open = vec![3, 0, 0, 0, 1];
    string(&mut open, path);
    open.extend_from_slice(&(0x02u32 | 0x08 | 0x10).to_be_bytes()); // WRITE | CREAT | TRUNC
    open.extend_from_slice(&0u32.to_be_bytes()); // no attributes
    w.write_all(&frame(&open)).unwrap();
    let handle_reply = read_packet(&mut r);
    assert_eq!(handle_reply[0], 102, "HANDLE: {handle_reply:?}");
    let handle = &handle_reply[9..];
    let mut write = vec![6, 0, 0, 0, 2];
    string(&mut write, handle);
    write.extend_from_slice(&0u64.to_be_bytes());
    string(&mut write, b"abcd");
    write.extend_from_slice(&[0xee; 12]);
    let mut close = vec![4, 0, 0, 0, 3];
    string(&mut close, handle);
    w.write_all(&[frame(&write), frame(&close)].concat())
        .unwrap();
    let status = |p: Vec<u8>| {
        assert_eq!(p[0], 101, "STATUS: {p:?}");
        u32::from_be_bytes(p[5..9].try_into().unwrap())
    };
    let codes = (status(read_packet(&mut r)), status(read_packet(&mut r)));
    drop(w);
    child.wait().unwrap();
    codes
}

#[test]
fn nacre_sftp_server_answers_a_padded_write_as_openssh_does() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tmp.path().join("nacre");
    std::fs::create_dir(&ours).unwrap();
    let nacre = padded_write(
        Command::new(env!("CARGO_BIN_EXE_nacre"))
            .arg("sftp-server")
            .arg("--root")
            .arg(&ours),
        b"/f",
    );
    assert_eq!(nacre, (0, 0));
    assert_eq!(std::fs::read(ours.join("f")).unwrap(), b"abcd");
    let openssh = Path::new("/usr/lib/openssh/sftp-server");
    if !openssh.exists() {
        eprintln!("skipped the comparison: no {}", openssh.display());
        return;
    }
    let theirs = tmp.path().join("openssh");
    std::fs::create_dir(&theirs).unwrap();
    let path = theirs.join("f");
    let codes = padded_write(
        Command::new(openssh).args(["-e", "-l", "QUIET"]),
        path.to_str().unwrap().as_bytes(),
    );
    assert_eq!(codes, nacre);
    assert_eq!(std::fs::read(&path).unwrap(), b"abcd");
}
