//! The machine's jobs: whole-file downloads (read-ahead), uploads (write-behind) and directory
//! listings (bounded).
//!
//! Both transfer directions keep a window of requests in flight (window.rs: slow start from
//! [`ClientConfig::initial_in_flight`](crate::ClientConfig::initial_in_flight), up to
//! [`ClientConfig::max_in_flight`](crate::ClientConfig::max_in_flight) or twice the path's
//! measured bandwidth-delay product, all transfers within
//! [`ClientConfig::max_bytes_in_flight`](crate::ClientConfig::max_bytes_in_flight)). Downloads
//! reassemble out-of-order DATA replies by offset and hand the data out strictly in order; a
//! short reply re-requests the rest of its range; EOF at an offset stops new requests there. New
//! READs go out as replies come in, not as the application takes the data; but while a
//! window's worth of data waits to be taken, none does (what waits is then at most two windows:
//! that and the replies to the READs in flight), so a slow local disk holds the requests back
//! instead of filling memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use nacre_sftp_codec::{encode_frame, Close, Read, Readdir, Response, StatusCode, Write};

use super::window::Window;
use super::{ClientProto, JobId, Owner};
use crate::attrs::DirEntry;
use crate::client::{dir_entries, expect_ok, unexpected, ClientConfig, Error, Reply, Result};

/// Offset of the data in a DATA frame (type byte onwards): type, id, length.
const DATA_START: usize = 1 + 4 + 4;
/// Where the request id lies in a whole frame: after the length and the type.
const ID_AT: usize = 4 + 1;
/// A WRITE frame's header without the handle: length, type, id, handle length, offset, data
/// length.
const WRITE_HEADER: usize = 4 + 1 + 4 + 4 + 8 + 4;
/// What one listed entry costs besides its name and long name (attributes, vectors), for
/// [`ClientConfig::max_listing_bytes`].
const ENTRY_OVERHEAD: usize = 128;

/// A job's state.
#[derive(Debug)]
pub(super) enum Job {
    Download(Download),
    Upload(Upload),
    Listing(Listing),
}

impl Job {
    pub(super) fn on_reply(
        &mut self,
        p: &mut ClientProto,
        now: Instant,
        job: JobId,
        id: u32,
        reply: Result<Reply>,
    ) {
        match self {
            Job::Download(d) => d.on_reply(p, now, job, id, reply),
            Job::Upload(u) => u.on_reply(p, now, id, reply),
            Job::Listing(l) => l.on_reply(p, now, job, reply),
        }
    }

    /// The stream is gone: the job fails (its requests were dropped with the rest).
    pub(super) fn fail(&mut self, e: Error) {
        match self {
            Job::Download(d) => {
                d.in_flight.clear();
                d.failed.get_or_insert(e);
            }
            Job::Upload(u) => {
                u.in_flight.clear();
                u.failed.get_or_insert(e);
            }
            Job::Listing(l) => {
                if !matches!(l.state, ListState::Done(_)) {
                    l.state = ListState::Done(Err(e));
                }
            }
        }
    }

    pub(super) fn cancel(self, p: &mut ClientProto, now: Instant) {
        match self {
            Job::Download(d) => d.in_flight.iter().for_each(|(id, (_, len, _))| {
                p.forget_raw(*id);
                p.bulk_sub(*len as usize);
            }),
            Job::Upload(u) => u.in_flight.iter().for_each(|(id, (len, _))| {
                p.forget_raw(*id);
                p.bulk_sub(*len);
            }),
            Job::Listing(l) => {
                if let ListState::Reading(id) = l.state {
                    p.forget_raw(id);
                    close_later(p, now, &l.handle);
                }
            }
        }
    }

    pub(super) fn take_listing(&mut self) -> Option<Result<Vec<DirEntry>>> {
        match self {
            Job::Listing(l) if matches!(l.state, ListState::Done(_)) => {
                match std::mem::replace(&mut l.state, ListState::Taken) {
                    ListState::Done(r) => Some(r),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Sends CLOSE for `handle` whose answer nobody awaits.
fn close_later(p: &mut ClientProto, now: Instant, handle: &[u8]) {
    let _ = p.send(now, Owner::Ignored, |id, out| {
        encode_frame(&Close { id, handle }, out);
    });
}

/// What [`ClientProto::download_next`] has.
#[derive(Debug)]
pub enum DownloadStep {
    /// The next bytes of the file, in order: write them at the end of what came before.
    Data(Bytes),
    /// Nothing yet: wait for [`super::Event::Job`].
    Pending,
    /// The download ended (the job is gone): the bytes transferred, or why it failed.
    Done(Result<u64>),
}

/// A download: READs in flight, replies reassembled by offset.
#[derive(Debug)]
pub(super) struct Download {
    handle: Vec<u8>,
    chunk: u32,
    window: Window,
    /// Request id → (offset, length, when sent).
    in_flight: HashMap<u32, (u64, u32, Instant)>,
    /// Data past a gap, by offset.
    ready: BTreeMap<u64, Bytes>,
    /// Data in order, not yet taken.
    deliver: VecDeque<Bytes>,
    start: u64,
    next: u64,
    written: u64,
    hint: Option<u64>,
    eof: Option<u64>,
    failed: Option<Error>,
}

impl Download {
    /// Sends READs while the window (and the bytes all transfers may have in flight) has room
    /// and the file may go on. With the size known, the READs end at it and one more at the
    /// size itself (beyond the window) asks for the end of file, so a small file takes one
    /// round trip, not two.
    fn fill(&mut self, p: &mut ClientProto, now: Instant, job: JobId) {
        while self.failed.is_none()
            && (self.in_flight.len() < self.window.size || self.hint == Some(self.next))
            && self.deliver.len() < self.window.size
            && self.eof.is_none_or(|e| self.next < e)
            && self.hint.is_none_or(|h| self.next <= h)
        {
            let len = match self.hint {
                Some(h) if self.next < h => {
                    u32::try_from(h - self.next).map_or(self.chunk, |n| n.min(self.chunk))
                }
                _ => self.chunk,
            };
            if !self.in_flight.is_empty() && !p.bulk_room(len as usize) {
                return;
            }
            let offset = self.next;
            if self.send(p, now, job, offset, len).is_err() {
                return;
            }
            self.next += u64::from(len);
        }
    }

    fn send(
        &mut self,
        p: &mut ClientProto,
        now: Instant,
        job: JobId,
        offset: u64,
        len: u32,
    ) -> Result<()> {
        let handle = &self.handle;
        let sent = p.send(now, Owner::Job(job), |id, out| {
            encode_frame(
                &Read {
                    id,
                    handle,
                    offset,
                    len,
                },
                out,
            );
        });
        match sent {
            Ok(id) => {
                self.in_flight.insert(id, (offset, len, now));
                p.bulk_add(len as usize);
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                self.fail(p, Error::ConnectionLost(why));
                Err(e)
            }
        }
    }

    fn fail(&mut self, p: &mut ClientProto, e: Error) {
        for (id, (_, len, _)) in std::mem::take(&mut self.in_flight) {
            p.forget_raw(id);
            p.bulk_sub(len as usize);
        }
        self.ready.clear();
        self.deliver.clear();
        self.failed.get_or_insert(e);
    }

    fn on_reply(
        &mut self,
        p: &mut ClientProto,
        now: Instant,
        job: JobId,
        id: u32,
        reply: Result<Reply>,
    ) {
        let Some((offset, len, sent)) = self.in_flight.remove(&id) else {
            return;
        };
        p.bulk_sub(len as usize);
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.take_reply(p, (now, sent), job, offset, len, reply) {
            return self.fail(p, e);
        }
        while let Some(entry) = self.ready.first_entry() {
            if *entry.key() != self.written {
                break;
            }
            let data = entry.remove();
            self.written += data.len() as u64;
            self.deliver.push_back(data);
        }
        self.fill(p, now, job);
    }

    fn take_reply(
        &mut self,
        p: &mut ClientProto,
        (now, sent): (Instant, Instant),
        job: JobId,
        offset: u64,
        len: u32,
        reply: Result<Reply>,
    ) -> Result<()> {
        let reply = reply?;
        match reply.decode()? {
            Response::Data(d) => {
                let n = d.data.len();
                if n > len as usize || n == 0 {
                    return Err(Error::protocol("DATA of a bad length"));
                }
                if n < len as usize {
                    // Short read: ask for the rest of this range right away.
                    self.send(p, now, job, offset + n as u64, len - n as u32)?;
                } else {
                    self.window.grow(now, sent, n);
                }
                let end = offset + n as u64;
                if self.hint.is_some_and(|h| end > h) {
                    self.hint = Some(end);
                }
                let end = (DATA_START + n).min(reply.0.len());
                let data = reply.0.slice(DATA_START.min(end)..end);
                self.ready.insert(offset, data);
            }
            Response::Status(s) if s.code == StatusCode::EOF => {
                self.eof = Some(self.eof.map_or(offset, |e| e.min(offset)));
            }
            other => return Err(unexpected(&other)),
        }
        Ok(())
    }
}

/// What [`ClientProto::upload_next`] has.
#[derive(Debug)]
pub enum UploadStep {
    /// Room for one more WRITE: append its data to the slot and hand it to
    /// [`ClientProto::upload_send`].
    Send(WriteSlot),
    /// The window is full: wait for [`super::Event::Job`].
    Pending,
    /// The upload ended (the job is gone): the bytes transferred, or why it failed.
    Done(Result<u64>),
}

/// One WRITE being built: its header is in the buffer; the caller appends up to
/// [`WriteSlot::max_len`] bytes of the file from [`WriteSlot::offset`] on (fewer only at the end
/// of the file, none once it is reached), straight into the frame that goes on the wire.
#[derive(Debug)]
pub struct WriteSlot {
    job: JobId,
    frame: Vec<u8>,
    header_len: usize,
    offset: u64,
    max_len: usize,
}

impl WriteSlot {
    /// Where in the file the data start.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The most data bytes this WRITE takes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The frame: append the data here.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.frame
    }
}

/// One lane of an upload striped over several channels ([`ClientProto::upload_lane`]): the
/// file is cut in blocks of `block` bytes, dealt to `lanes` lanes in turn; this lane writes
/// blocks `index`, `index + lanes`, `index + 2 × lanes`, … up to `end`. So the file fills
/// from its start on every lane at once, and its size as the server sees it follows the
/// transfer (a progress meter that asks for it stays true).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lane {
    /// Bytes per block (at least 1).
    pub block: u64,
    /// How many lanes share the file (at least 1).
    pub lanes: u64,
    /// Which lane this is (below `lanes`).
    pub index: u64,
    /// Where the file ends: no WRITE goes past it.
    pub end: u64,
}

impl Lane {
    /// Where the lane's first block starts.
    fn first(&self) -> u64 {
        self.index.saturating_mul(self.block)
    }

    /// Where the lane writes next once a WRITE has taken it to `offset`: `offset` itself inside
    /// one of its blocks, else (at the end of one) the start of its next block.
    fn next(&self, offset: u64) -> u64 {
        if offset.is_multiple_of(self.block) {
            offset.saturating_add(self.lanes.saturating_sub(1).saturating_mul(self.block))
        } else {
            offset
        }
    }

    /// Bytes the lane may write from `offset` before its block or the file ends.
    fn room(&self, offset: u64) -> u64 {
        let block_end = (offset / self.block)
            .saturating_add(1)
            .saturating_mul(self.block);
        block_end.min(self.end).saturating_sub(offset)
    }
}

/// An upload: WRITEs in flight.
#[derive(Debug)]
pub(super) struct Upload {
    handle: Vec<u8>,
    chunk: usize,
    window: Window,
    /// Request id → (data bytes, when sent).
    in_flight: HashMap<u32, (usize, Instant)>,
    /// Data bytes sent so far.
    sent: u64,
    offset: u64,
    /// The blocks this upload writes when it is one lane of a striped upload.
    lane: Option<Lane>,
    at_end: bool,
    slot_out: bool,
    failed: Option<Error>,
}

impl Upload {
    fn on_reply(&mut self, p: &mut ClientProto, now: Instant, id: u32, reply: Result<Reply>) {
        let Some((len, sent)) = self.in_flight.remove(&id) else {
            return;
        };
        p.bulk_sub(len);
        if self.failed.is_some() {
            return;
        }
        match reply.and_then(|r| expect_ok(&r)) {
            Ok(()) => self.window.grow(now, sent, len),
            Err(e) => {
                for (id, (len, _)) in std::mem::take(&mut self.in_flight) {
                    p.forget_raw(id);
                    p.bulk_sub(len);
                }
                self.failed = Some(e);
            }
        }
    }
}

/// A directory listing's state.
#[derive(Debug)]
enum ListState {
    /// READDIR (this id) in flight.
    Reading(u32),
    /// The end reached, CLOSE in flight.
    Closing,
    /// Finished, not yet taken.
    Done(Result<Vec<DirEntry>>),
    /// Taken by [`ClientProto::list_result`].
    Taken,
}

/// A listing: one READDIR at a time until EOF, then CLOSE; bounded by
/// [`ClientConfig::max_listing_entries`] and [`ClientConfig::max_listing_bytes`].
#[derive(Debug)]
pub(super) struct Listing {
    handle: Vec<u8>,
    entries: Vec<DirEntry>,
    bytes: usize,
    state: ListState,
}

impl Listing {
    fn on_reply(&mut self, p: &mut ClientProto, now: Instant, job: JobId, reply: Result<Reply>) {
        let next = match std::mem::replace(&mut self.state, ListState::Taken) {
            ListState::Reading(_) => self.on_batch(p, now, job, reply),
            ListState::Closing => ListState::Done(
                reply
                    .and_then(|r| expect_ok(&r))
                    .map(|()| std::mem::take(&mut self.entries)),
            ),
            other => other,
        };
        self.state = next;
    }

    fn on_batch(
        &mut self,
        p: &mut ClientProto,
        now: Instant,
        job: JobId,
        reply: Result<Reply>,
    ) -> ListState {
        let step = reply.and_then(|reply| match reply.decode()? {
            Response::Name(n) => self.add(p.config(), dir_entries(&n)).map(|()| true),
            Response::Status(s) if s.code == StatusCode::EOF => Ok(false),
            other => Err(unexpected(&other)),
        });
        let handle = &self.handle;
        let sent = match step {
            Ok(true) => p
                .send(now, Owner::Job(job), |id, out| {
                    encode_frame(&Readdir { id, handle }, out);
                })
                .map(ListState::Reading),
            Ok(false) => p
                .send(now, Owner::Job(job), |id, out| {
                    encode_frame(&Close { id, handle }, out);
                })
                .map(|_| ListState::Closing),
            Err(e) => {
                close_later(p, now, handle);
                Err(e)
            }
        };
        sent.unwrap_or_else(|e| ListState::Done(Err(e)))
    }

    /// Adds a batch within the limits.
    fn add(&mut self, cfg: &ClientConfig, batch: Vec<DirEntry>) -> Result<()> {
        for e in batch {
            self.bytes = self
                .bytes
                .saturating_add(e.name.len() + e.longname.len() + ENTRY_OVERHEAD);
            if self.entries.len() >= cfg.max_listing_entries || self.bytes > cfg.max_listing_bytes {
                return Err(Error::TooManyEntries {
                    entries: self.entries.len(),
                    bytes: self.bytes,
                });
            }
            self.entries.push(e);
        }
        Ok(())
    }
}

impl ClientProto {
    /// Starts downloading the file open as `handle` from `start` to its end (`size_hint`: its
    /// size, when known, which stops the read-ahead there). The data come in order from
    /// [`ClientProto::download_next`].
    pub fn download_start(
        &mut self,
        now: Instant,
        handle: &[u8],
        start: u64,
        size_hint: Option<u64>,
    ) -> JobId {
        let chunk = u32::try_from(self.read_len()).unwrap_or(u32::MAX);
        let mut d = Download {
            handle: handle.to_vec(),
            chunk,
            window: Window::new(&self.config, chunk as usize),
            in_flight: HashMap::new(),
            ready: BTreeMap::new(),
            deliver: VecDeque::new(),
            start,
            next: start,
            written: start,
            hint: size_hint,
            eof: None,
            failed: None,
        };
        let job = self.new_job_id();
        d.fill(self, now, job);
        self.jobs.insert(job, Job::Download(d));
        job
    }

    /// The download's next step; taking data makes room for more requests (sent here).
    pub fn download_next(&mut self, now: Instant, job: JobId) -> DownloadStep {
        let Some(Job::Download(mut d)) = self.jobs.remove(&job) else {
            return DownloadStep::Done(Err(Error::protocol("no such download")));
        };
        if let Some(e) = d.failed.take() {
            return DownloadStep::Done(Err(e));
        }
        if let Some(data) = d.deliver.pop_front() {
            d.fill(self, now, job);
            self.jobs.insert(job, Job::Download(d));
            return DownloadStep::Data(data);
        }
        if !d.in_flight.is_empty() {
            self.jobs.insert(job, Job::Download(d));
            return DownloadStep::Pending;
        }
        if !d.ready.is_empty() || d.eof.is_some_and(|e| e < d.written) {
            return DownloadStep::Done(Err(Error::protocol(
                "the server's data and end of file disagree",
            )));
        }
        DownloadStep::Done(Ok(d.written - d.start))
    }

    /// Starts uploading into the file open as `handle`, from `start` on: take slots from
    /// [`ClientProto::upload_next`], fill them, send them with [`ClientProto::upload_send`].
    pub fn upload_start(&mut self, handle: &[u8], start: u64) -> JobId {
        self.new_upload(handle, start, None)
    }

    /// Starts one lane of an upload striped over several channels into the file open as
    /// `handle` (see [`Lane`]); driven as [`ClientProto::upload_start`]'s job. The lane ends at
    /// [`Lane::end`], or earlier if the local file does (a slot filled short).
    pub fn upload_lane(&mut self, handle: &[u8], lane: Lane) -> JobId {
        let lane = Lane {
            block: lane.block.max(1),
            lanes: lane.lanes.max(1),
            ..lane
        };
        self.new_upload(handle, lane.first(), Some(lane))
    }

    fn new_upload(&mut self, handle: &[u8], start: u64, lane: Option<Lane>) -> JobId {
        let chunk = self.write_len(handle.len());
        self.new_job(Job::Upload(Upload {
            handle: handle.to_vec(),
            chunk,
            window: Window::new(&self.config, chunk),
            in_flight: HashMap::new(),
            sent: 0,
            offset: start,
            at_end: lane.is_some_and(|l| start >= l.end),
            lane,
            slot_out: false,
            failed: None,
        }))
    }

    /// A transfer's window: requests it may have in flight now, and the bytes the path holds
    /// as it measured them (rate × shortest round trip; 0 before the first sample).
    pub fn transfer_window(&self, job: JobId) -> Option<(usize, u64)> {
        match self.jobs.get(&job)? {
            Job::Download(d) => Some((d.window.size, d.window.path_bytes())),
            Job::Upload(u) => Some((u.window.size, u.window.path_bytes())),
            Job::Listing(_) => None,
        }
    }

    /// The upload's next step (one slot at a time: [`UploadStep::Pending`] while one is out).
    pub fn upload_next(&mut self, job: JobId) -> UploadStep {
        let Some(Job::Upload(u)) = self.jobs.get_mut(&job) else {
            return UploadStep::Done(Err(Error::protocol("no such upload")));
        };
        if let Some(e) = u.failed.take() {
            self.jobs.remove(&job);
            return UploadStep::Done(Err(e));
        }
        if u.slot_out {
            return UploadStep::Pending;
        }
        let room = u.in_flight.is_empty()
            || self.bulk_bytes.saturating_add(u.chunk) <= self.config.max_bytes_in_flight;
        if !u.at_end && u.in_flight.len() < u.window.size && room {
            let max_len = u.lane.map_or(u.chunk, |l| {
                usize::try_from(l.room(u.offset)).map_or(u.chunk, |r| r.min(u.chunk))
            });
            let mut frame = Vec::with_capacity(WRITE_HEADER + u.handle.len() + max_len);
            Write::encode_frame_header(&mut frame, 0, &u.handle, u.offset, max_len);
            u.slot_out = true;
            return UploadStep::Send(WriteSlot {
                job,
                header_len: frame.len(),
                frame,
                offset: u.offset,
                max_len,
            });
        }
        if u.at_end && u.in_flight.is_empty() {
            let sent = u.sent;
            self.jobs.remove(&job);
            return UploadStep::Done(Ok(sent));
        }
        UploadStep::Pending
    }

    /// Sends a filled slot as a WRITE. No data means the file ended; fewer than
    /// [`WriteSlot::max_len`] bytes means this is its last WRITE (more are cut off).
    pub fn upload_send(&mut self, now: Instant, slot: WriteSlot) -> Result<()> {
        let job = slot.job;
        let Some(Job::Upload(mut u)) = self.jobs.remove(&job) else {
            return Err(Error::protocol("no such upload"));
        };
        let sent = u.send(self, now, job, slot);
        self.jobs.insert(job, Job::Upload(u));
        sent
    }

    /// Lists the directory open as `handle` (READDIR until EOF, then CLOSE), within
    /// [`ClientConfig::max_listing_entries`] and [`ClientConfig::max_listing_bytes`]
    /// (`Error::TooManyEntries` past them; the handle is then closed without waiting). The
    /// entries come from [`ClientProto::list_result`].
    pub fn list_start(&mut self, now: Instant, handle: &[u8]) -> Result<JobId> {
        let job = self.new_job(Job::Listing(Listing {
            handle: handle.to_vec(),
            entries: Vec::new(),
            bytes: 0,
            state: ListState::Taken,
        }));
        let sent = self.send(now, Owner::Job(job), |id, out| {
            encode_frame(&Readdir { id, handle }, out);
        });
        match (sent, self.jobs.get_mut(&job)) {
            (Ok(id), Some(Job::Listing(l))) => {
                l.state = ListState::Reading(id);
                Ok(job)
            }
            (sent, _) => {
                self.jobs.remove(&job);
                sent.map(|_| job)
            }
        }
    }
}

impl Upload {
    fn send(
        &mut self,
        p: &mut ClientProto,
        now: Instant,
        job: JobId,
        slot: WriteSlot,
    ) -> Result<()> {
        self.slot_out = false;
        let WriteSlot {
            mut frame,
            header_len,
            offset,
            max_len,
            ..
        } = slot;
        let n = frame.len().saturating_sub(header_len);
        if n == 0 || self.at_end || offset != self.offset {
            self.at_end = true;
            return Ok(());
        }
        if n >= max_len {
            frame.truncate(header_len + max_len);
        } else {
            // The end of the file: the lengths in the header (same size) say `n`.
            let mut header = Vec::with_capacity(header_len);
            Write::encode_frame_header(&mut header, 0, &self.handle, offset, n);
            if let Some(h) = frame.get_mut(..header_len) {
                h.copy_from_slice(&header);
            }
            self.at_end = true;
        }
        let n = n.min(max_len);
        let sent = p.send(now, Owner::Job(job), |id, out| {
            if let Some(slot) = frame.get_mut(ID_AT..ID_AT + 4) {
                slot.copy_from_slice(&id.to_be_bytes());
            }
            *out = frame;
        });
        match sent {
            Ok(id) => {
                self.in_flight.insert(id, (n, now));
                p.bulk_add(n);
                self.sent += n as u64;
                self.offset += n as u64;
                if let Some(lane) = self.lane {
                    self.offset = lane.next(self.offset);
                    self.at_end |= self.offset >= lane.end;
                }
                Ok(())
            }
            Err(e) => {
                self.failed = Some(Error::ConnectionLost(e.to_string()));
                Err(e)
            }
        }
    }
}
