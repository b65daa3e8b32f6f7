//! A child OpenSSH sftp-server driven over pipes, for the known-answer tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code
)]

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use nacre_sftp_codec::*;
use nacre_wire::Encode;

pub const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";

pub struct Server {
    child: Child,
    pub stdin: ChildStdin,
    stdout: ChildStdout,
    decoder: FrameDecoder,
    pub next_id: u32,
}

impl Server {
    pub fn start(dir: &Path) -> Option<Server> {
        if !Path::new(SFTP_SERVER).exists() {
            eprintln!("skipped: {SFTP_SERVER} is not installed");
            return None;
        }
        let mut child = Command::new(SFTP_SERVER)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        Some(Server {
            child,
            stdin,
            stdout,
            decoder: FrameDecoder::new(),
            next_id: 100,
        })
    }

    pub fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    pub fn send<M: Encode>(&mut self, msg: &M) {
        let mut out = Vec::new();
        encode_frame(msg, &mut out);
        self.stdin.write_all(&out).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next reply's bytes (type byte onwards), after checking it decodes and re-encodes to
    /// exactly these bytes.
    pub fn recv(&mut self) -> Vec<u8> {
        loop {
            if let Some(frame) = self.decoder.next_frame().unwrap() {
                let bytes = frame.bytes().to_vec();
                let resp = Response::decode_bytes(&bytes).unwrap();
                assert!(!matches!(resp, Response::Unknown(_)), "{resp:?}");
                assert_eq!(resp.to_bytes(), bytes, "re-encoding {resp:?}");
                return bytes;
            }
            let mut chunk = [0u8; 8192];
            let n = self.stdout.read(&mut chunk).unwrap();
            assert!(n > 0, "sftp-server closed its output");
            self.decoder.push(&chunk[..n]).unwrap();
        }
    }

    /// Sends a request and returns the reply's bytes, checking the reply's id.
    pub fn call<M: Encode>(&mut self, msg: &M, id: u32) -> Vec<u8> {
        self.send(msg);
        let bytes = self.recv();
        let resp = Response::decode_bytes(&bytes).unwrap();
        assert_eq!(resp.id(), Some(id), "{resp:?}");
        bytes
    }

    pub fn status<M: Encode>(&mut self, msg: &M, id: u32) -> StatusCode {
        let bytes = self.call(msg, id);
        match Response::decode_bytes(&bytes).unwrap() {
            Response::Status(s) => s.code,
            other => panic!("expected STATUS, got {other:?}"),
        }
    }

    pub fn handle<M: Encode>(&mut self, msg: &M, id: u32) -> Vec<u8> {
        let bytes = self.call(msg, id);
        match Response::decode_bytes(&bytes).unwrap() {
            Response::Handle(h) => h.handle.to_vec(),
            other => panic!("expected HANDLE, got {other:?}"),
        }
    }

    /// The single name of a NAME reply.
    pub fn name<M: Encode>(&mut self, msg: &M, id: u32) -> Vec<u8> {
        let bytes = self.call(msg, id);
        match Response::decode_bytes(&bytes).unwrap() {
            Response::Name(n) => {
                assert_eq!(n.entries.len(), 1);
                n.first().unwrap().filename.to_vec()
            }
            other => panic!("expected NAME, got {other:?}"),
        }
    }

    pub fn attrs<M: Encode>(&mut self, msg: &M, id: u32) -> OwnedAttrs {
        let bytes = self.call(msg, id);
        match Response::decode_bytes(&bytes).unwrap() {
            Response::Attrs(a) => OwnedAttrs::from(a.attrs),
            other => panic!("expected ATTRS, got {other:?}"),
        }
    }

    pub fn extended_reply<M: Encode>(&mut self, msg: &M, id: u32) -> Vec<u8> {
        let bytes = self.call(msg, id);
        assert_eq!(bytes[0], PacketType::EXTENDED_REPLY.0);
        bytes
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Attributes without the extended pairs (sftp-server sends none), owned.
#[derive(Debug, Clone, Copy)]
pub struct OwnedAttrs {
    pub size: Option<u64>,
    pub uid_gid: Option<UidGid>,
    pub permissions: Option<u32>,
    pub times: Option<AcModTime>,
}

impl From<FileAttributes<'_>> for OwnedAttrs {
    fn from(a: FileAttributes<'_>) -> Self {
        assert!(a.extended.is_none());
        OwnedAttrs {
            size: a.size,
            uid_gid: a.uid_gid,
            permissions: a.permissions,
            times: a.ac_mod_time,
        }
    }
}

pub fn b(s: &str) -> &[u8] {
    s.as_bytes()
}

pub fn command_output(cmd: &str, arg: &str) -> String {
    let out = Command::new(cmd).arg(arg).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
