//! SFTP over a [`crate::SessionPair`]: the server's `sftp` subsystem is nacre's dispatcher over an
//! in-memory file system ([`SftpService`]), the client is the sans-IO `ClientProto` running a
//! script ([`SftpApp`]): upload a file, download it again, close both handles. No runtime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use nacre_sftp::codec::{Close, Open};
use nacre_sftp::codec::{FileAttributes, FrameDecoder, OpenFlags, PacketType, Response};
use nacre_sftp::fuzzing::MemFs;
use nacre_sftp::proto::{DownloadStep, Event, JobId, RequestId, UploadStep};
use nacre_sftp::{ClientConfig, ClientProto, Reply, ServerConfig, Session};

use crate::session_pair::Service;

/// The path the script writes and reads back.
pub const PATH: &[u8] = b"/pair-file";

/// nacre's SFTP server dispatcher over a fresh [`MemFs`], as a channel service.
pub struct SftpService {
    session: Session<MemFs>,
    decoder: FrameDecoder,
}

impl Default for SftpService {
    fn default() -> Self {
        SftpService {
            session: Session::new(Arc::new(MemFs::new()), ServerConfig::default()),
            decoder: FrameDecoder::with_max_len(nacre_sftp::MAX_PACKET_LEN),
        }
    }
}

impl Service for SftpService {
    fn on_data(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.decoder.push(data).is_err() {
            return out;
        }
        while let Ok(Some(frame)) = self.decoder.next_frame() {
            if frame.packet_type() == PacketType::INIT {
                out.extend_from_slice(&self.session.version_frame());
            } else if let Some(reply) = self.session.handle_packet(frame.bytes()) {
                out.extend_from_slice(&reply);
            }
        }
        out
    }
}

/// Where the client's script is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Handshake,
    OpenWrite(RequestId),
    Upload(JobId, Vec<u8>),
    CloseWrite(RequestId),
    OpenRead(RequestId),
    Download(JobId, Vec<u8>),
    CloseRead(RequestId),
    Done,
}

/// The client's SFTP script over the channel.
pub struct SftpApp {
    /// The machine.
    pub proto: ClientProto,
    /// What is uploaded.
    pub file: Vec<u8>,
    /// What came back.
    pub downloaded: Vec<u8>,
    /// How the script ended: `Some(Ok)` once both handles closed.
    pub result: Option<Result<(), String>>,
    phase: Phase,
    replies: HashMap<RequestId, nacre_sftp::Result<Reply>>,
}

impl SftpApp {
    /// A script that uploads `file` and downloads it again.
    pub fn new(file: Vec<u8>) -> Self {
        SftpApp {
            proto: ClientProto::new(ClientConfig::default()),
            file,
            downloaded: Vec::new(),
            result: None,
            phase: Phase::Handshake,
            replies: HashMap::new(),
        }
    }

    /// Whether the script ended (either way).
    pub fn finished(&self) -> bool {
        self.result.is_some()
    }

    /// Bytes from the server.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.proto.handle_input(now, data);
    }

    /// Takes the machine's events and moves the script as far as it can.
    pub fn advance(&mut self, now: Instant) {
        while let Some(ev) = self.proto.poll_event() {
            match ev {
                Event::Handshake(Ok(())) if self.phase == Phase::Handshake => {
                    self.phase = self.open(
                        now,
                        OpenFlags(OpenFlags::WRITE.0 | OpenFlags::CREAT.0 | OpenFlags::TRUNC.0),
                        Phase::OpenWrite,
                    );
                }
                Event::Handshake(r) => self.fail(format!("handshake: {r:?}")),
                Event::Reply { id, reply } => {
                    self.replies.insert(id, reply);
                }
                Event::Job(_) => {}
            }
        }
        for _ in 0..64 {
            let before = self.phase.clone();
            self.step(now);
            if self.phase == before {
                break;
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.result.get_or_insert(Err(why));
        self.phase = Phase::Done;
    }

    fn open(&mut self, now: Instant, pflags: OpenFlags, next: fn(RequestId) -> Phase) -> Phase {
        let sent = self.proto.request(now, |id| Open {
            id,
            filename: PATH,
            pflags,
            attrs: FileAttributes::default(),
        });
        match sent {
            Ok(id) => next(id),
            Err(e) => {
                self.fail(format!("open: {e}"));
                Phase::Done
            }
        }
    }

    fn close(&mut self, now: Instant, handle: &[u8], next: fn(RequestId) -> Phase) -> Phase {
        match self.proto.request(now, |id| Close { id, handle }) {
            Ok(id) => next(id),
            Err(e) => {
                self.fail(format!("close: {e}"));
                Phase::Done
            }
        }
    }

    /// The handle in the reply to `id`, once it came.
    fn handle_reply(&mut self, id: RequestId) -> Option<Result<Vec<u8>, String>> {
        let reply = self.replies.remove(&id)?;
        Some(
            match reply.map_err(|e| e.to_string()).and_then(|r| {
                match r.decode().map_err(|e| e.to_string())? {
                    Response::Handle(h) => Ok(h.handle.to_vec()),
                    other => Err(format!("{other:?}")),
                }
            }) {
                Ok(h) => Ok(h),
                Err(e) => Err(e),
            },
        )
    }

    fn status_ok(&mut self, id: RequestId) -> Option<Result<(), String>> {
        let reply = self.replies.remove(&id)?;
        Some(reply.map_err(|e| e.to_string()).and_then(|r| {
            match r.decode().map_err(|e| e.to_string())? {
                Response::Status(s) if s.code.0 == 0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }))
    }

    fn step(&mut self, now: Instant) {
        match self.phase.clone() {
            Phase::Handshake | Phase::Done => {}
            Phase::OpenWrite(id) => match self.handle_reply(id) {
                Some(Ok(handle)) => {
                    let job = self.proto.upload_start(&handle, 0);
                    self.phase = Phase::Upload(job, handle);
                }
                Some(Err(e)) => self.fail(format!("open for writing: {e}")),
                None => {}
            },
            Phase::Upload(job, handle) => self.upload(now, job, &handle),
            Phase::CloseWrite(id) => match self.status_ok(id) {
                Some(Ok(())) => self.phase = self.open(now, OpenFlags::READ, Phase::OpenRead),
                Some(Err(e)) => self.fail(format!("close after writing: {e}")),
                None => {}
            },
            Phase::OpenRead(id) => match self.handle_reply(id) {
                Some(Ok(handle)) => {
                    let hint = Some(self.file.len() as u64);
                    let job = self.proto.download_start(now, &handle, 0, hint);
                    self.phase = Phase::Download(job, handle);
                }
                Some(Err(e)) => self.fail(format!("open for reading: {e}")),
                None => {}
            },
            Phase::Download(job, handle) => self.download(now, job, &handle),
            Phase::CloseRead(id) => match self.status_ok(id) {
                Some(Ok(())) => {
                    self.phase = Phase::Done;
                    self.result = Some(Ok(()));
                }
                Some(Err(e)) => self.fail(format!("close after reading: {e}")),
                None => {}
            },
        }
    }

    fn upload(&mut self, now: Instant, job: JobId, handle: &[u8]) {
        loop {
            match self.proto.upload_next(job) {
                UploadStep::Send(mut slot) => {
                    let at = usize::try_from(slot.offset()).unwrap_or(usize::MAX);
                    let rest = self.file.get(at..).unwrap_or_default();
                    let n = rest.len().min(slot.max_len());
                    slot.buffer()
                        .extend_from_slice(rest.get(..n).unwrap_or_default());
                    if let Err(e) = self.proto.upload_send(now, slot) {
                        return self.fail(format!("write: {e}"));
                    }
                }
                UploadStep::Pending => return,
                UploadStep::Done(Ok(_)) => {
                    self.phase = self.close(now, handle, Phase::CloseWrite);
                    return;
                }
                UploadStep::Done(Err(e)) => return self.fail(format!("upload: {e}")),
            }
        }
    }

    fn download(&mut self, now: Instant, job: JobId, handle: &[u8]) {
        loop {
            match self.proto.download_next(now, job) {
                DownloadStep::Data(d) => self.downloaded.extend_from_slice(&d),
                DownloadStep::Pending => return,
                DownloadStep::Done(Ok(_)) => {
                    self.phase = self.close(now, handle, Phase::CloseRead);
                    return;
                }
                DownloadStep::Done(Err(e)) => return self.fail(format!("download: {e}")),
            }
        }
    }

    /// What the machine wants to send, as channel data.
    pub fn transmit(&mut self) -> Option<Bytes> {
        let mut buf = Vec::new();
        (self.proto.poll_transmit(&mut buf) > 0).then(|| Bytes::from(buf))
    }
}

impl std::fmt::Debug for SftpApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpApp")
            .field("phase", &self.phase)
            .field("file", &self.file.len())
            .field("downloaded", &self.downloaded.len())
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}
