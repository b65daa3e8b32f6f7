//! Runtime-free helpers for the client machine's tests and the fuzz targets: the server's
//! dispatcher over a [`MemFs`] as a bytes-in, bytes-out peer ([`MemServer`]), and a synchronous
//! driver of [`ClientProto`] against any such peer on a simulated clock ([`Driver`]).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre_sftp_codec::{FrameDecoder, PacketType};
use nacre_wire::Encode;

use crate::attrs::DirEntry;
use crate::client::proto::{ClientProto, DownloadStep, Event, JobId, RequestId, UploadStep};
use crate::client::{Error, Reply, Result};
use crate::memfs::MemFs;
use crate::server::{ServerConfig, Session};

/// The other end of the stream: takes what the client sent, returns what the server answers
/// (`None`: the server closed the stream).
pub(crate) trait Peer {
    /// One exchange.
    fn exchange(&mut self, from_client: &[u8]) -> Option<Vec<u8>>;
}

/// nacre's server dispatcher ([`Session`]) over a [`MemFs`], answering every request at once,
/// in order, as the tokio server loop does (without its threads).
pub(crate) struct MemServer {
    pub(crate) fs: Arc<MemFs>,
    session: Session<MemFs>,
    decoder: FrameDecoder,
}

impl MemServer {
    /// A server over a fresh [`MemFs`].
    pub(crate) fn new(config: ServerConfig) -> MemServer {
        let fs = Arc::new(MemFs::new());
        MemServer {
            session: Session::new(fs.clone(), config),
            fs,
            decoder: FrameDecoder::with_max_len(crate::MAX_PACKET_LEN),
        }
    }
}

impl Peer for MemServer {
    fn exchange(&mut self, from_client: &[u8]) -> Option<Vec<u8>> {
        self.decoder.push(from_client).ok()?;
        let mut out = Vec::new();
        while let Some(frame) = self.decoder.next_frame().ok()? {
            if frame.packet_type() == PacketType::INIT {
                out.extend_from_slice(&self.session.version_frame());
            } else if let Some(reply) = self.session.handle_packet(frame.bytes()) {
                out.extend_from_slice(&reply);
            }
        }
        Some(out)
    }
}

/// Drives a [`ClientProto`] against a [`Peer`] synchronously: what the client transmits goes to
/// the peer, the peer's answer comes back in pieces of `split` bytes (0: whole). When nothing
/// moves, the clock jumps to the next deadline; with none, the stream is taken as closed (a
/// simulation that cannot go on), so every call ends.
pub(crate) struct Driver<P> {
    pub(crate) proto: ClientProto,
    pub(crate) peer: P,
    pub(crate) now: Instant,
    pub(crate) split: usize,
    replies: HashMap<RequestId, Result<Reply>>,
    jobs: Vec<JobId>,
    handshake: Option<Result<()>>,
    eof: bool,
}

impl<P: Peer> Driver<P> {
    /// A driver of `proto` against `peer`.
    pub(crate) fn new(proto: ClientProto, peer: P) -> Self {
        Driver {
            proto,
            peer,
            now: Instant::now(),
            split: 0,
            replies: HashMap::new(),
            jobs: Vec::new(),
            handshake: None,
            eof: false,
        }
    }

    /// One round: the client's bytes to the peer, its answer back, the events collected.
    /// False when nothing moved.
    fn round(&mut self) -> bool {
        let mut out = Vec::new();
        self.proto.poll_transmit(&mut out);
        let mut moved = false;
        if !out.is_empty() && !self.eof {
            match self.peer.exchange(&out) {
                Some(answer) => {
                    moved = true;
                    let split = if self.split == 0 {
                        answer.len().max(1)
                    } else {
                        self.split
                    };
                    for piece in answer.chunks(split) {
                        self.proto.handle_input(self.now, piece);
                    }
                }
                None => {
                    self.eof = true;
                    self.proto.handle_eof();
                }
            }
        }
        while let Some(event) = self.proto.poll_event() {
            moved = true;
            match event {
                Event::Handshake(r) => self.handshake = Some(r),
                Event::Reply { id, reply } => {
                    self.replies.insert(id, reply);
                }
                Event::Job(j) => self.jobs.push(j),
            }
        }
        moved
    }

    /// Runs until `done` holds.
    fn run_until(&mut self, mut done: impl FnMut(&mut Self) -> bool) {
        loop {
            if done(self) {
                return;
            }
            if self.round() {
                continue;
            }
            match self.proto.poll_timeout() {
                Some(at) => {
                    self.now = self.now.max(at);
                    self.proto.handle_timeout(self.now);
                }
                None if self.proto.closed().is_none() => {
                    self.eof = true;
                    self.proto.handle_eof();
                }
                None => {
                    // Closed and nothing moves: `done` must hold after the events are in.
                    self.round();
                    if !done(self) {
                        self.proto.handle_error("the simulation is stuck");
                        self.round();
                    }
                    return;
                }
            }
        }
    }

    /// INIT, VERSION, limits.
    pub(crate) fn handshake(&mut self) -> Result<()> {
        self.run_until(|d| d.handshake.is_some());
        self.handshake
            .take()
            .unwrap_or_else(|| Err(Error::ConnectionLost("no handshake".into())))
    }

    /// The reply to request `id`.
    pub(crate) fn wait(&mut self, id: RequestId) -> Result<Reply> {
        self.run_until(|d| d.replies.contains_key(&id) || d.proto.closed().is_some());
        self.replies
            .remove(&id)
            .unwrap_or_else(|| Err(Error::ConnectionLost("no reply".into())))
    }

    /// Sends `build(id)` and waits for its reply.
    pub(crate) fn call<M: Encode>(&mut self, build: impl FnOnce(u32) -> M) -> Result<Reply> {
        let id = self.proto.request(self.now, build)?;
        self.wait(id)
    }

    /// Lets `by` pass on the clock, then the deadlines it reached fire.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.proto.handle_timeout(self.now);
        self.round();
    }

    /// Downloads the file open as `handle`, all of it, through the machine's job.
    pub(crate) fn download(&mut self, handle: &[u8], hint: Option<u64>) -> Result<Vec<u8>> {
        let job = self.proto.download_start(self.now, handle, 0, hint);
        let mut data = Vec::new();
        loop {
            match self.proto.download_next(self.now, job) {
                DownloadStep::Data(d) => data.extend_from_slice(&d),
                DownloadStep::Done(r) => return r.map(|_| data),
                DownloadStep::Pending => self.run_until(|d| d.jobs.contains(&job) || d.eof),
            }
            self.jobs.retain(|j| *j != job);
        }
    }

    /// Uploads `data` into the file open as `handle` through the machine's job.
    pub(crate) fn upload(&mut self, handle: &[u8], data: &[u8]) -> Result<u64> {
        let job = self.proto.upload_start(handle, 0);
        let mut sent = self.upload_jobs(&[job], data)?;
        Ok(sent.pop().unwrap_or(0))
    }

    /// Drives the upload jobs `jobs` together (lanes of one striped upload, say), filling their
    /// slots from `data`: what each sent, or the first error.
    pub(crate) fn upload_jobs(&mut self, jobs: &[JobId], data: &[u8]) -> Result<Vec<u64>> {
        let mut sent: Vec<Option<u64>> = vec![None; jobs.len()];
        while sent.iter().any(Option::is_none) {
            let mut waiting = Vec::new();
            for (job, done) in jobs.iter().zip(sent.iter_mut()) {
                while done.is_none() {
                    match self.proto.upload_next(*job) {
                        UploadStep::Send(mut slot) => {
                            let at = usize::try_from(slot.offset()).unwrap_or(usize::MAX);
                            let rest = data.get(at..).unwrap_or_default();
                            let n = rest.len().min(slot.max_len());
                            slot.buffer()
                                .extend_from_slice(rest.get(..n).unwrap_or_default());
                            self.proto.upload_send(self.now, slot)?;
                        }
                        UploadStep::Done(r) => *done = Some(r?),
                        UploadStep::Pending => {
                            waiting.push(*job);
                            break;
                        }
                    }
                }
            }
            if !waiting.is_empty() {
                self.run_until(|d| waiting.iter().any(|j| d.jobs.contains(j)) || d.eof);
                self.jobs.retain(|j| !waiting.contains(j));
            }
        }
        Ok(sent.into_iter().map(|s| s.unwrap_or(0)).collect())
    }

    /// Lists the directory open as `handle` through the machine's listing job.
    pub(crate) fn list(&mut self, handle: &[u8]) -> Result<Vec<DirEntry>> {
        let job = self.proto.list_start(self.now, handle)?;
        loop {
            if let Some(r) = self.proto.list_result(job) {
                return r;
            }
            let before = self.eof;
            self.run_until(|d| d.jobs.contains(&job) || d.eof);
            self.jobs.retain(|j| *j != job);
            if before && self.proto.list_result(job).is_none() && self.proto.closed().is_some() {
                return Err(Error::ConnectionLost("closed".into()));
            }
        }
    }
}
