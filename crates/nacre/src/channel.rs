//! Channel handles: `AsyncRead` (stdout) + `AsyncWrite` (stdin), a stderr reader, requests and the
//! exit status. The bytes live in a shared state the connection task fills and drains; a slow reader
//! only stops its own channel's window, never the connection.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use nacre_connection::{ChannelId, ChannelKind, RequestKind};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::command::Command;
use crate::error::Error;

/// Bytes a writer may queue beyond what the peer's window takes before it waits.
pub const MAX_QUEUED: usize = 1024 * 1024;

/// How a remote command ended (RFC 4254 §6.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit-status`.
    Code(u32),
    /// `exit-signal`: signal name without "SIG", and whether core was dumped.
    Signal {
        /// Signal name.
        name: String,
        /// Core dumped.
        core_dumped: bool,
        /// Error message.
        message: String,
    },
}

/// A request from the peer on a channel (server side: pty-req, env, exec, shell, subsystem, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    /// The request.
    pub request: RequestKind,
    /// Whether the peer wants a reply ([`Channel::reply`]).
    pub want_reply: bool,
    pub(crate) token: nacre_connection::ReplyToken,
}

/// Opens channels on one connection from outside its handle.
#[derive(Clone)]
pub(crate) struct ChannelOpener {
    cmds: crate::command::CommandTx,
}

impl ChannelOpener {
    /// Opens a channel of `kind` and waits for the peer's answer.
    pub async fn open(&self, kind: ChannelKind) -> Result<Channel, Error> {
        self.cmds.open(kind).await
    }
}

/// State shared by a channel handle and the connection task.
#[derive(Default)]
pub(crate) struct Shared {
    pub stdout: VecDeque<Bytes>,
    pub stderr: VecDeque<Bytes>,
    pub eof: bool,
    pub closed: bool,
    pub exit: Option<ExitStatus>,
    pub requests: VecDeque<IncomingRequest>,
    pub outgoing: VecDeque<(Option<u32>, Bytes)>,
    pub outgoing_bytes: usize,
    /// The peer sent `eow@openssh.com`: it takes no more data on this channel.
    pub eow: bool,
    pub read_waker: Option<Waker>,
    pub stderr_waker: Option<Waker>,
    pub write_waker: Option<Waker>,
    pub event_waker: Option<Waker>,
}

impl Shared {
    pub fn wake_all(&mut self) {
        for w in [
            self.read_waker.take(),
            self.stderr_waker.take(),
            self.write_waker.take(),
            self.event_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            w.wake();
        }
    }
}

pub(crate) type SharedRef = Arc<Mutex<Shared>>;

pub(crate) fn lock(s: &SharedRef) -> MutexGuard<'_, Shared> {
    // A poisoned lock only means another thread panicked while holding it; the data is still
    // consistent for our purposes (queues of bytes).
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One SSH channel. Reading gives the channel's data (a session's stdout), writing sends data (a
/// session's stdin); [`Channel::stderr`] reads extended data.
///
/// ```
/// # struct Open;
/// # impl nacre::AuthPolicy for Open {
/// #     fn password(&self, _: &nacre::AuthContext, p: &str) -> nacre::PasswordCheck {
/// #         if p == "pw" { nacre::PasswordCheck::Accept } else { nacre::PasswordCheck::Reject }
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = nacre::Server::builder().ephemeral_host_key().auth_policy(Open)
/// #     .allow_exec(true).act_as(nacre::ActAs::ServerProcess).build()?;
/// # let (client_end, server_end) = tokio::io::duplex(64 * 1024);
/// # tokio::spawn(async move { server.serve(server_end, None).await });
/// # let conn = nacre::Client::builder().user("demo").password("pw").default_identities(false)
/// #     .verify_host_key(|_| true).connect_over(client_end, "demo", 22).await?;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let mut channel = conn.open_session().await?;
/// channel.exec("tr a-z A-Z").await?;
/// channel.write_all(b"shout\n").await?;
/// channel.eof()?; // the command's standard input ends
/// let mut out = String::new();
/// channel.read_to_string(&mut out).await?;
/// assert_eq!(out, "SHOUT\n");
/// assert_eq!(channel.exit_status().await, Some(nacre::ExitStatus::Code(0)));
/// # Ok(()) }
/// ```
pub struct Channel {
    pub(crate) id: ChannelId,
    pub(crate) kind: ChannelKind,
    pub(crate) shared: SharedRef,
    pub(crate) cmds: crate::command::CommandTx,
    /// Send CLOSE when dropped (false for a rejected incoming channel).
    pub(crate) close_on_drop: bool,
    /// A channel the application opened keeps its connection up while it lives (an
    /// `SftpClient` or an exec channel outliving its `Connection` handle, as an ssh process
    /// lives while its sessions do); dropped after the CLOSE is queued.
    pub(crate) keep: Option<crate::command::HandleRef>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Our channel number.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// What the channel is.
    pub fn kind(&self) -> &ChannelKind {
        &self.kind
    }

    fn cmd(&self, c: Command) -> Result<(), Error> {
        self.cmds.send(c).map_err(|_| Error::Closed)
    }

    /// Something that opens more channels on this channel's connection (a server's
    /// `auth-agent@openssh.com` channels belong to a session).
    pub(crate) fn opener(&self) -> ChannelOpener {
        ChannelOpener {
            cmds: self.cmds.clone(),
        }
    }

    /// Sends a request and, with `want_reply`, waits for the answer.
    pub async fn request(&self, request: RequestKind, want_reply: bool) -> Result<bool, Error> {
        if !want_reply {
            self.cmd(Command::Request(self.id, request, None))?;
            return Ok(true);
        }
        let (tx, rx) = oneshot::channel();
        self.cmd(Command::Request(self.id, request, Some(tx)))?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Runs `command` (RFC 4254 §6.5); an error if the server refuses.
    pub async fn exec(&self, command: &str) -> Result<(), Error> {
        self.expect(
            RequestKind::Exec {
                command: command.as_bytes().to_vec(),
            },
            "exec",
        )
        .await
    }

    /// Starts the user's shell.
    pub async fn shell(&self) -> Result<(), Error> {
        self.expect(RequestKind::Shell, "shell").await
    }

    /// Starts a subsystem (e.g. `sftp`).
    pub async fn subsystem(&self, name: &str) -> Result<(), Error> {
        self.expect(
            RequestKind::Subsystem {
                name: name.to_owned(),
            },
            "subsystem",
        )
        .await
    }

    async fn expect(&self, request: RequestKind, what: &'static str) -> Result<(), Error> {
        if self.request(request, true).await? {
            Ok(())
        } else {
            Err(Error::Refused(what))
        }
    }

    /// Waits for the next request from the peer (server side); `None` once the channel closed.
    pub async fn next_request(&self) -> Option<IncomingRequest> {
        std::future::poll_fn(|cx| {
            let mut s = lock(&self.shared);
            if let Some(r) = s.requests.pop_front() {
                return Poll::Ready(Some(r));
            }
            if s.closed {
                return Poll::Ready(None);
            }
            s.event_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Answers a request that wanted a reply (answers go out in request order).
    pub fn reply(&self, request: &IncomingRequest, ok: bool) -> Result<(), Error> {
        if request.want_reply {
            self.cmd(Command::Reply(self.id, request.token, ok))?;
        }
        Ok(())
    }

    /// Waits for the command's exit status or signal; `None` if the channel closed without one.
    pub async fn exit_status(&self) -> Option<ExitStatus> {
        std::future::poll_fn(|cx| {
            let mut s = lock(&self.shared);
            if s.exit.is_some() || s.closed {
                return Poll::Ready(s.exit.clone());
            }
            s.event_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Sends EOF: no more data from us.
    pub fn eof(&self) -> Result<(), Error> {
        self.cmd(Command::Eof(self.id))
    }

    /// Sends CLOSE.
    pub fn close(&self) -> Result<(), Error> {
        self.cmd(Command::Close(self.id))
    }

    /// Sends data as extended data type `code` (1 = stderr).
    pub async fn write_extended(&self, code: u32, data: &[u8]) -> Result<(), Error> {
        let mut rest = data;
        while !rest.is_empty() {
            let n = std::future::poll_fn(|cx| self.poll_queue(cx, Some(code), rest))
                .await
                .map_err(Error::Io)?;
            rest = rest.get(n..).unwrap_or(&[]);
        }
        Ok(())
    }

    /// A reader of the channel's extended data (stderr).
    pub fn stderr(&self) -> Stderr {
        Stderr {
            id: self.id,
            shared: self.shared.clone(),
            cmds: self.cmds.clone(),
        }
    }

    fn poll_queue(
        &self,
        cx: &mut Context<'_>,
        code: Option<u32>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_queue(&self.shared, &self.cmds, self.id, cx, code, buf)
    }

    /// A handle that sends requests on this channel (window-change, signal, ...) while the
    /// channel itself is busy being read or written.
    pub fn requester(&self) -> ChannelRequester {
        ChannelRequester {
            id: self.id,
            cmds: self.cmds.clone(),
        }
    }

    /// Another writer of the channel's data (it does not close the channel when dropped).
    pub fn writer(&self) -> ChannelWriter {
        ChannelWriter {
            id: self.id,
            shared: self.shared.clone(),
            cmds: self.cmds.clone(),
            code: None,
        }
    }

    /// A writer of extended data type 1 (stderr).
    pub fn stderr_writer(&self) -> ChannelWriter {
        ChannelWriter {
            id: self.id,
            shared: self.shared.clone(),
            cmds: self.cmds.clone(),
            code: Some(1),
        }
    }
}

fn poll_queue(
    shared: &SharedRef,
    cmds: &crate::command::CommandTx,
    id: ChannelId,
    cx: &mut Context<'_>,
    code: Option<u32>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    poll_enqueue(shared, cmds, id, cx, code, |room| {
        Bytes::copy_from_slice(buf.get(..buf.len().min(room)).unwrap_or(&[]))
    })
}

/// [`poll_queue`] of a whole owned buffer: queued as it is (no copy) once the queue has room.
fn poll_queue_owned(
    shared: &SharedRef,
    cmds: &crate::command::CommandTx,
    id: ChannelId,
    cx: &mut Context<'_>,
    code: Option<u32>,
    data: &Bytes,
) -> Poll<io::Result<()>> {
    poll_enqueue(shared, cmds, id, cx, code, |_| data.clone()).map_ok(|_| ())
}

/// Once the channel's queue has room (`MAX_QUEUED` minus what waits), queues what `take` makes
/// of that room and asks the connection task to move it on; returns its length.
fn poll_enqueue(
    shared: &SharedRef,
    cmds: &crate::command::CommandTx,
    id: ChannelId,
    cx: &mut Context<'_>,
    code: Option<u32>,
    take: impl FnOnce(usize) -> Bytes,
) -> Poll<io::Result<usize>> {
    let mut s = lock(shared);
    if s.closed {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "channel closed",
        )));
    }
    if s.eow {
        return Poll::Ready(Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the peer takes no more data (eow@openssh.com)",
        )));
    }
    if s.outgoing_bytes >= MAX_QUEUED {
        s.write_waker = Some(cx.waker().clone());
        return Poll::Pending;
    }
    let data = take(MAX_QUEUED - s.outgoing_bytes);
    let n = data.len();
    s.outgoing.push_back((code, data));
    s.outgoing_bytes += n;
    drop(s);
    let _ = cmds.send(Command::Flush(id));
    Poll::Ready(Ok(n))
}

fn poll_drained(shared: &SharedRef, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let mut s = lock(shared);
    if s.outgoing_bytes == 0 || s.closed {
        return Poll::Ready(Ok(()));
    }
    s.write_waker = Some(cx.waker().clone());
    Poll::Pending
}

/// Sends requests on a channel without borrowing it (see [`Channel::requester`]).
#[derive(Clone)]
pub struct ChannelRequester {
    id: ChannelId,
    cmds: crate::command::CommandTx,
}

impl ChannelRequester {
    /// Sends a request without asking for a reply (window-change, signal).
    pub fn send(&self, request: RequestKind) -> Result<(), Error> {
        self.cmds
            .send(Command::Request(self.id, request, None))
            .map_err(|_| Error::Closed)
    }
}

/// A writer of a channel's data or extended data, from [`Channel::writer`] or
/// [`Channel::stderr_writer`]. Shutting it down sends EOF only for the data writer.
pub struct ChannelWriter {
    id: ChannelId,
    shared: SharedRef,
    cmds: crate::command::CommandTx,
    code: Option<u32>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        poll_queue(&self.shared, &self.cmds, self.id, cx, self.code, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_drained(&self.shared, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match poll_drained(&self.shared, cx) {
            Poll::Ready(Ok(())) => {
                if self.code.is_none() {
                    let _ = self.cmds.send(Command::Eof(self.id));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl ChannelWriter {
    /// Queues `data` whole, without copying it (the queue may go over its bound by this one
    /// buffer); waits while the queue is full.
    pub async fn write_owned(&mut self, data: Bytes) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            poll_queue_owned(&self.shared, &self.cmds, self.id, cx, self.code, &data)
        })
        .await
    }
}

/// The SFTP server's replies go into the channel's queue as they are, not copied, from the
/// thread that made each one (`ChannelPusher`).
impl nacre_sftp::FrameSink for ChannelWriter {
    fn direct(&self) -> Option<Arc<dyn nacre_sftp::DirectSink>> {
        Some(Arc::new(ChannelPusher {
            id: self.id,
            shared: self.shared.clone(),
            cmds: self.cmds.clone(),
            code: self.code,
        }))
    }

    fn send_frame(
        &mut self,
        frame: Vec<u8>,
    ) -> impl std::future::Future<Output = io::Result<()>> + Send {
        self.write_owned(Bytes::from(frame))
    }

    fn flush(&mut self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        tokio::io::AsyncWriteExt::flush(self)
    }

    fn shutdown(&mut self) -> impl std::future::Future<Output = io::Result<()>> + Send {
        tokio::io::AsyncWriteExt::shutdown(self)
    }
}

/// Queues whole frames on a channel from any thread without waiting: the SFTP server's blocking
/// jobs put their replies here themselves, and the connection task takes them from the queue.
struct ChannelPusher {
    id: ChannelId,
    shared: SharedRef,
    cmds: crate::command::CommandTx,
    code: Option<u32>,
}

impl nacre_sftp::DirectSink for ChannelPusher {
    fn push_frame(&self, frame: Vec<u8>) -> io::Result<()> {
        let mut s = lock(&self.shared);
        if s.closed {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "channel closed"));
        }
        s.outgoing_bytes += frame.len();
        s.outgoing.push_back((self.code, Bytes::from(frame)));
        drop(s);
        let _ = self.cmds.send(Command::Flush(self.id));
        Ok(())
    }

    fn poll_room(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = lock(&self.shared);
        if s.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "channel closed",
            )));
        }
        if s.outgoing_bytes < MAX_QUEUED {
            return Poll::Ready(Ok(()));
        }
        s.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn poll_read_queue(
    shared: &SharedRef,
    cmds: &crate::command::CommandTx,
    id: ChannelId,
    stderr: bool,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let mut s = lock(shared);
    let queue = if stderr { &mut s.stderr } else { &mut s.stdout };
    let mut copied = 0;
    while buf.remaining() > 0 {
        let Some(front) = queue.front_mut() else {
            break;
        };
        let n = front.len().min(buf.remaining());
        buf.put_slice(front.get(..n).unwrap_or(&[]));
        front.advance(n);
        if front.is_empty() {
            queue.pop_front();
        }
        copied += n;
    }
    if copied > 0 {
        drop(s);
        let _ = cmds.send(Command::Consume(id, copied));
        return Poll::Ready(Ok(()));
    }
    if s.eof || s.closed {
        return Poll::Ready(Ok(()));
    }
    if stderr {
        s.stderr_waker = Some(cx.waker().clone());
    } else {
        s.read_waker = Some(cx.waker().clone());
    }
    Poll::Pending
}

/// The channel's received data packets, handed over as they are: one SFTP packet that lies whole
/// in one of them is used in place (see [`nacre_sftp::ChunkRead`]).
impl nacre_sftp::ChunkRead for Channel {
    fn read_chunk(
        &mut self,
    ) -> impl std::future::Future<Output = io::Result<Option<Bytes>>> + Send {
        std::future::poll_fn(|cx| poll_read_chunk(&self.shared, &self.cmds, self.id, cx))
    }
}

/// The next queued data packet of the channel (not extended data); `None` at EOF or close.
fn poll_read_chunk(
    shared: &SharedRef,
    cmds: &crate::command::CommandTx,
    id: ChannelId,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Option<Bytes>>> {
    let mut s = lock(shared);
    while let Some(chunk) = s.stdout.pop_front() {
        if chunk.is_empty() {
            continue;
        }
        drop(s);
        let _ = cmds.send(Command::Consume(id, chunk.len()));
        return Poll::Ready(Ok(Some(chunk)));
    }
    if s.eof || s.closed {
        return Poll::Ready(Ok(None));
    }
    s.read_waker = Some(cx.waker().clone());
    Poll::Pending
}

impl AsyncRead for Channel {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_queue(&self.shared, &self.cmds, self.id, false, cx, buf)
    }
}

impl AsyncWrite for Channel {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_queue(cx, None, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        poll_drained(&self.shared, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {
                let _ = self.cmds.send(Command::Eof(self.id));
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        if self.close_on_drop {
            let _ = self.cmds.send(Command::Close(self.id));
        }
    }
}

/// Reads a channel's extended data (stderr).
pub struct Stderr {
    id: ChannelId,
    shared: SharedRef,
    cmds: crate::command::CommandTx,
}

impl AsyncRead for Stderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        poll_read_queue(&self.shared, &self.cmds, self.id, true, cx, buf)
    }
}
