//! The SFTP client as a sans-IO machine: [`ClientProto`].
//!
//! It owns everything of a client session but the stream: request ids, the requests in flight
//! and their deadlines, matching replies to requests, reassembling packets from the bytes
//! received in any split, the handshake (INIT, VERSION, `limits@openssh.com`), directory
//! listings with their limits and the pipelines of whole-file transfers (read-ahead for
//! downloads, write-behind for uploads, both with OpenSSH-style slow start). It never reads a
//! clock (time is passed in), never touches a socket or a file, never spawns anything.
//!
//! The contract, as every nacre machine has it:
//!
//! ```text
//! handle_input(now, &[u8])   bytes from the server (any split; 1 byte at a time works)
//! handle_eof() / handle_error(why)   the stream ended or failed: every request fails
//! handle_timeout(now)        time is passed in; a request past its deadline fails
//! poll_transmit(&mut buf)    bytes to send, appended to the caller's buffer
//! poll_event() -> Event      handshake done, a reply, progress of a job
//! poll_timeout()             the earliest deadline
//! ```
//!
//! The tokio adapters (`SftpClient`, `File`, feature `tokio`) are drivers of this machine: one task feeds it the stream, one writes what it transmits, one feeds it time.

mod input;
mod jobs;
#[cfg(test)]
mod tests;
mod window;
#[cfg(test)]
mod window_tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use nacre_sftp_codec::ext::names;
use nacre_sftp_codec::{encode_frame, Frame, Init, Limits, LimitsReply, Response};
use nacre_wire::Encode;

pub use input::PacketBuf;
pub use jobs::{DownloadStep, Lane, UploadStep, WriteSlot};

use super::{ClientConfig, Error, Reply, Result, ServerLimits};
use crate::attrs::DirEntry;
use jobs::Job;

/// The id of one request, as sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(u32);

impl RequestId {
    /// The id on the wire.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A job of the machine: a whole-file download or upload, or a directory listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u64);

/// What the application must see.
#[derive(Debug)]
pub enum Event {
    /// The handshake ended: `Ok` once VERSION (and the server's limits, when it offers them)
    /// arrived; an error when the server speaks another version, answered with something else
    /// or closed the stream. Exactly one per machine.
    Handshake(Result<()>),
    /// The reply to a request of [`ClientProto::request`]: the server's packet, or the failure
    /// (`Error::Timeout` past the deadline, `Error::ConnectionLost` when the stream ended).
    Reply {
        /// The request.
        id: RequestId,
        /// Its reply.
        reply: Result<Reply>,
    },
    /// A job made progress: [`ClientProto::download_next`], [`ClientProto::upload_next`] or
    /// [`ClientProto::list_result`] has something new.
    Job(JobId),
}

/// Who waits for a request's reply.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// The application ([`Event::Reply`]).
    Caller,
    /// The handshake's `limits@openssh.com`.
    Limits,
    /// A job.
    Job(JobId),
    /// Nobody (a CLOSE sent on the way out of a failed listing).
    Ignored,
}

#[derive(Debug)]
struct Pending {
    owner: Owner,
    deadline: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// INIT sent, VERSION awaited.
    Version,
    /// `limits@openssh.com` asked.
    Limits,
    /// Requests flow.
    Ready,
}

/// The SFTP client machine (see the [module docs](self)).
///
/// One request and its reply, with no runtime at all:
///
/// ```
/// use std::time::Instant;
/// use nacre_sftp::codec::{encode_frame, Attrs, Seq, Stat, Version};
/// use nacre_sftp::proto::{ClientProto, Event};
/// use nacre_sftp::{Attributes, ClientConfig};
///
/// let now = Instant::now();
/// let mut client = ClientProto::new(ClientConfig::default());
/// let mut wire = Vec::new();
/// client.poll_transmit(&mut wire); // INIT
/// let mut reply = Vec::new();
/// encode_frame(&Version { version: 3, extensions: Seq::new() }, &mut reply);
/// client.handle_input(now, &reply);
/// assert!(matches!(client.poll_event(), Some(Event::Handshake(Ok(())))));
///
/// let id = client.request(now, |id| Stat { id, path: b"/etc" }).unwrap();
/// wire.clear();
/// client.poll_transmit(&mut wire); // the STAT frame
/// let attrs = Attributes::EMPTY.with_size(42).to_wire();
/// let mut reply = Vec::new();
/// encode_frame(&Attrs { id: id.get(), attrs }, &mut reply);
/// for byte in &reply {
///     client.handle_input(now, std::slice::from_ref(byte)); // any split
/// }
/// match client.poll_event() {
///     Some(Event::Reply { id: got, reply }) => {
///         assert_eq!(got, id);
///         assert!(reply.unwrap().decode().is_ok());
///     }
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct ClientProto {
    config: ClientConfig,
    phase: Phase,
    closed: Option<String>,
    version: u32,
    extensions: Vec<(String, String)>,
    limits: Option<ServerLimits>,
    next_id: u32,
    pending: HashMap<u32, Pending>,
    deadlines: BTreeSet<(Instant, u32)>,
    input: PacketBuf,
    output: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    jobs: HashMap<JobId, Job>,
    next_job: u64,
    /// Bytes of READs and WRITEs the transfer jobs have in flight, all jobs together
    /// (bounded by [`ClientConfig::max_bytes_in_flight`]).
    bulk_bytes: usize,
}

impl ClientProto {
    /// A client with `config`; INIT is queued for [`ClientProto::poll_transmit`].
    pub fn new(config: ClientConfig) -> Self {
        let mut init = Vec::new();
        encode_frame(&Init::v3(), &mut init);
        ClientProto {
            input: PacketBuf::new(config.max_packet_len),
            config,
            phase: Phase::Version,
            closed: None,
            version: 0,
            extensions: Vec::new(),
            limits: None,
            next_id: 1,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            output: VecDeque::from([init]),
            events: VecDeque::new(),
            jobs: HashMap::new(),
            next_job: 0,
            bulk_bytes: 0,
        }
    }

    /// The client settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The protocol version the server announced (0 before VERSION).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The extensions the server announced: (name, data).
    pub fn extensions(&self) -> &[(String, String)] {
        &self.extensions
    }

    /// The server's limits, when it announced `limits@openssh.com` (and answered).
    pub fn limits(&self) -> Option<ServerLimits> {
        self.limits
    }

    /// True once the handshake is done and the machine is not closed.
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready && self.closed.is_none()
    }

    /// Why the machine closed (the stream ended or failed, or the server broke the protocol).
    pub fn closed(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// Requests awaiting their reply.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Sends the request `build(id)`; its reply comes as [`Event::Reply`] with the returned id,
    /// within [`ClientConfig::request_timeout`] of `now` or as `Error::Timeout`.
    pub fn request<M: Encode>(
        &mut self,
        now: Instant,
        build: impl FnOnce(u32) -> M,
    ) -> Result<RequestId> {
        self.request_with(now, |id, out| {
            encode_frame(&build(id), out);
        })
    }

    /// [`ClientProto::request`] for a frame the caller writes whole into `out` (length field
    /// included) once its id is known.
    pub fn request_with(
        &mut self,
        now: Instant,
        encode: impl FnOnce(u32, &mut Vec<u8>),
    ) -> Result<RequestId> {
        self.send(now, Owner::Caller, encode).map(RequestId)
    }

    /// Forgets request `id`: no [`Event::Reply`] comes for it (a late reply is dropped).
    pub fn forget(&mut self, id: RequestId) {
        self.forget_raw(id.0);
    }

    /// Takes bytes from the server, in any split. Every whole packet is matched to its request;
    /// requests the pipelines send in answer get their deadline from `now`.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if !data.is_empty() {
            self.handle_input_bytes(now, Bytes::copy_from_slice(data));
        }
    }

    /// [`ClientProto::handle_input`] for an owned buffer: a packet that lies whole in it is
    /// used in place (a DATA reply in one SSH channel packet is never copied).
    pub fn handle_input_bytes(&mut self, now: Instant, data: Bytes) {
        if self.closed.is_some() {
            return;
        }
        self.input.push(data);
        loop {
            match self.input.next_packet() {
                Ok(Some(packet)) => self.on_packet(now, packet),
                Ok(None) => return,
                Err(e) => return self.close(format!("bad packet from the server: {e}")),
            }
            if self.closed.is_some() {
                return;
            }
        }
    }

    /// The server closed its side: every request still waiting fails.
    pub fn handle_eof(&mut self) {
        if self.phase == Phase::Version {
            self.close("the server closed the stream before VERSION".into());
        } else {
            self.close("the server closed the stream".into());
        }
    }

    /// The stream failed (a read or write error): every request still waiting fails with
    /// `Error::ConnectionLost(why)`.
    pub fn handle_error(&mut self, why: impl Into<String>) {
        self.close(why.into());
    }

    /// Appends every queued frame to `out`; the number of bytes appended.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        while let Some(frame) = self.output.pop_front() {
            out.extend_from_slice(&frame);
        }
        out.len() - start
    }

    /// The next queued frame, whole and owned (for a stream that queues buffers without
    /// copying them).
    pub fn poll_transmit_frame(&mut self) -> Option<Vec<u8>> {
        self.output.pop_front()
    }

    /// True when frames wait for [`ClientProto::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        !self.output.is_empty()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline of a request in flight.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Fails every request whose deadline is at or before `now` with `Error::Timeout` (the
    /// session goes on; a late reply is dropped). A handshake that times out closes the machine.
    pub fn handle_timeout(&mut self, now: Instant) {
        let limit = self.config.request_timeout.unwrap_or_default();
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            self.deliver(now, id, pending.owner, Err(Error::Timeout(limit)));
            if self.closed.is_some() {
                return;
            }
        }
    }

    /// Bytes per READ request: the configured size within the server's limits (32 KiB without
    /// limits) and within our packet cap.
    pub fn read_len(&self) -> usize {
        super::read_len(&self.config, self.limits)
    }

    /// Bytes per WRITE request for a handle of `handle_len` bytes.
    pub fn write_len(&self, handle_len: usize) -> usize {
        super::write_len(&self.config, self.limits, handle_len)
    }

    /// True when the server announced extension `name` with `version`.
    pub fn supports(&self, name: &str, version: &str) -> bool {
        self.extensions
            .iter()
            .any(|(n, v)| n == name && v == version)
    }

    /// Allocates an id, registers its owner and deadline, queues the frame `encode` writes.
    fn send(
        &mut self,
        now: Instant,
        owner: Owner,
        encode: impl FnOnce(u32, &mut Vec<u8>),
    ) -> Result<u32> {
        if let Some(why) = &self.closed {
            return Err(Error::ConnectionLost(why.clone()));
        }
        let mut id = self.next_id;
        while self.pending.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id = id.wrapping_add(1);
        let mut frame = Vec::new();
        encode(id, &mut frame);
        let deadline = self.config.request_timeout.and_then(|t| now.checked_add(t));
        if let Some(at) = deadline {
            self.deadlines.insert((at, id));
        }
        self.pending.insert(id, Pending { owner, deadline });
        self.output.push_back(frame);
        Ok(id)
    }

    /// Whether a transfer job that already has requests in flight may send `len` more bytes'
    /// worth (one request is always allowed, so no job waits on another's replies).
    fn bulk_room(&self, len: usize) -> bool {
        self.bulk_bytes.saturating_add(len) <= self.config.max_bytes_in_flight
    }

    fn bulk_add(&mut self, len: usize) {
        self.bulk_bytes = self.bulk_bytes.saturating_add(len);
    }

    fn bulk_sub(&mut self, len: usize) {
        self.bulk_bytes = self.bulk_bytes.saturating_sub(len);
    }

    /// Bytes the transfer jobs have in flight, all together.
    pub fn bytes_in_flight(&self) -> usize {
        self.bulk_bytes
    }

    fn forget_raw(&mut self, id: u32) {
        if let Some(p) = self.pending.remove(&id) {
            if let Some(at) = p.deadline {
                self.deadlines.remove(&(at, id));
            }
        }
    }

    fn on_packet(&mut self, now: Instant, packet: Bytes) {
        if self.phase == Phase::Version {
            return self.on_version(now, &packet);
        }
        let Ok(Some(id)) = Frame::new(&packet).map(|f| f.request_id()) else {
            return self.close("the server sent a packet without a request id".into());
        };
        let Some(pending) = self.pending.remove(&id) else {
            tracing::debug!(id, "SFTP reply to no pending request");
            return;
        };
        if let Some(at) = pending.deadline {
            self.deadlines.remove(&(at, id));
        }
        self.deliver(now, id, pending.owner, Ok(Reply(packet)));
    }

    /// Hands request `id`'s outcome to its owner.
    fn deliver(&mut self, now: Instant, id: u32, owner: Owner, reply: Result<Reply>) {
        match owner {
            Owner::Caller => self.events.push_back(Event::Reply {
                id: RequestId(id),
                reply,
            }),
            Owner::Limits => self.on_limits(reply),
            Owner::Ignored => {}
            Owner::Job(job) => {
                let Some(mut j) = self.jobs.remove(&job) else {
                    return;
                };
                j.on_reply(self, now, job, id, reply);
                self.jobs.insert(job, j);
                self.events.push_back(Event::Job(job));
            }
        }
    }

    fn on_version(&mut self, now: Instant, packet: &[u8]) {
        let v = match Response::decode_bytes(packet) {
            Ok(Response::Version(v)) => v,
            _ => {
                return self
                    .fail_handshake(Error::protocol("the server's first packet is not VERSION"))
            }
        };
        if v.version < 3 {
            let e = Error::protocol(format!(
                "the server speaks SFTP version {}, not 3",
                v.version
            ));
            return self.fail_handshake(e);
        }
        self.version = v.version;
        self.extensions = v
            .extensions
            .iter()
            .map(|p| {
                (
                    String::from_utf8_lossy(p.name).into_owned(),
                    String::from_utf8_lossy(p.data).into_owned(),
                )
            })
            .collect();
        if !self.supports(names::LIMITS, "1") {
            self.phase = Phase::Ready;
            return self.events.push_back(Event::Handshake(Ok(())));
        }
        self.phase = Phase::Limits;
        let sent = self.send(now, Owner::Limits, |id, out| {
            encode_frame(&Limits { id }, out);
        });
        if let Err(e) = sent {
            self.fail_handshake(e);
        }
    }

    fn on_limits(&mut self, reply: Result<Reply>) {
        let limits = reply.and_then(|reply| match reply.decode()? {
            Response::ExtendedReply(r) => super::from_reply::<LimitsReply>(&r),
            other => Err(super::unexpected(&other)),
        });
        match limits {
            Ok(l) => {
                self.limits = Some(ServerLimits {
                    max_packet_length: l.max_packet_length,
                    max_read_length: l.max_read_length,
                    max_write_length: l.max_write_length,
                    max_open_handles: l.max_open_handles,
                });
                self.phase = Phase::Ready;
                self.events.push_back(Event::Handshake(Ok(())));
            }
            Err(e) => self.fail_handshake(e),
        }
    }

    fn fail_handshake(&mut self, e: Error) {
        let why = e.to_string();
        self.events.push_back(Event::Handshake(Err(e)));
        self.phase = Phase::Ready;
        self.close(why);
    }

    /// Ends the session: every request in flight fails with `Error::ConnectionLost(why)`.
    fn close(&mut self, why: String) {
        if self.closed.is_some() {
            return;
        }
        tracing::debug!(%why, "SFTP client session closed");
        self.closed = Some(why.clone());
        self.output.clear();
        self.deadlines.clear();
        self.bulk_bytes = 0;
        if self.phase != Phase::Ready {
            self.phase = Phase::Ready;
            let e = Error::ConnectionLost(why.clone());
            self.events.push_back(Event::Handshake(Err(e)));
        }
        let mut pending: Vec<(u32, Pending)> = self.pending.drain().collect();
        pending.sort_by_key(|(id, _)| *id);
        for (id, p) in pending {
            let lost = Err(Error::ConnectionLost(why.clone()));
            match p.owner {
                Owner::Caller => self.events.push_back(Event::Reply {
                    id: RequestId(id),
                    reply: lost,
                }),
                Owner::Job(job) => {
                    if let Some(j) = self.jobs.get_mut(&job) {
                        j.fail(Error::ConnectionLost(why.clone()));
                        self.events.push_back(Event::Job(job));
                    }
                }
                Owner::Limits | Owner::Ignored => {}
            }
        }
    }

    fn new_job_id(&mut self) -> JobId {
        let id = JobId(self.next_job);
        self.next_job += 1;
        id
    }

    fn new_job(&mut self, job: Job) -> JobId {
        let id = self.new_job_id();
        self.jobs.insert(id, job);
        id
    }

    /// Drops a job: its requests in flight are forgotten (a listing's handle is closed without
    /// waiting). For an application that stops waiting for a transfer.
    pub fn job_cancel(&mut self, now: Instant, job: JobId) {
        if let Some(j) = self.jobs.remove(&job) {
            j.cancel(self, now);
        }
    }

    /// Entries of a finished listing of [`ClientProto::list_start`]; `None` while it runs.
    pub fn list_result(&mut self, job: JobId) -> Option<Result<Vec<DirEntry>>> {
        let done = self.jobs.get_mut(&job)?.take_listing()?;
        self.jobs.remove(&job);
        Some(done)
    }
}
