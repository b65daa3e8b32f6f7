//! Channel routing inside the connection task: the shared state of every channel handle,
//! pending opens and replies, over the session's [`ConnectionProtocol`] (passed in: the
//! session owns it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use nacre_connection::{ChannelId, ChannelKind, ConnectionProtocol, Event, RequestKind};
use nacre_wire::ChannelOpenFailureReason;
use tokio::sync::oneshot;

use crate::channel::{lock, Channel, ExitStatus, IncomingRequest, Shared, SharedRef};
use crate::command::Command;
use crate::error::Error;

/// A channel the peer wants to open: accept it into a [`Channel`] or reject it. Dropping it
/// rejects it.
pub struct IncomingChannel {
    channel: Option<Channel>,
    /// Instead of a channel: a global request for the handle to answer (forwarding).
    pub(crate) global: Option<IncomingGlobal>,
}

impl IncomingChannel {
    /// An incoming channel around `channel` (unit tests of the routing).
    #[cfg(test)]
    pub(crate) fn from_channel(channel: Channel) -> Self {
        IncomingChannel {
            channel: Some(channel),
            global: None,
        }
    }

    /// What the peer asks for.
    pub fn kind(&self) -> Option<&ChannelKind> {
        self.channel.as_ref().map(Channel::kind)
    }

    /// Accepts the channel.
    pub fn accept(mut self) -> Option<Channel> {
        let ch = self.channel.take()?;
        let _ = ch.cmds.send(Command::Accept(ch.id));
        Some(ch)
    }

    /// Refuses the channel with `reason`.
    pub fn reject(mut self, reason: ChannelOpenFailureReason, description: &str) {
        if let Some(mut ch) = self.channel.take() {
            ch.close_on_drop = false;
            let _ = ch
                .cmds
                .send(Command::Reject(ch.id, reason, description.to_owned()));
        }
    }
}

impl Drop for IncomingChannel {
    fn drop(&mut self) {
        if let Some(mut ch) = self.channel.take() {
            ch.close_on_drop = false;
            let reason = ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED;
            let _ = ch
                .cmds
                .send(Command::Reject(ch.id, reason, "refused".into()));
        }
    }
}

/// A global request from the peer that the handle answers (tcpip-forward and the others of
/// RFC 4254 §7.1 / OpenSSH PROTOCOL §2.4). Dropping it unanswered answers failure.
pub(crate) struct IncomingGlobal {
    pub name: String,
    pub data: Vec<u8>,
    pub want_reply: bool,
    token: nacre_connection::ReplyToken,
    cmds: crate::command::CommandTx,
    answered: bool,
}

impl IncomingGlobal {
    pub fn new(
        name: String,
        data: Vec<u8>,
        want_reply: bool,
        token: nacre_connection::ReplyToken,
        cmds: crate::command::CommandTx,
    ) -> Self {
        IncomingGlobal {
            name,
            data,
            want_reply,
            token,
            cmds,
            answered: false,
        }
    }

    /// Answers (a no-op when no reply was wanted).
    pub fn reply(mut self, ok: bool, data: Vec<u8>) {
        self.answered = true;
        if self.want_reply {
            let _ = self.cmds.send(Command::GlobalReply(self.token, ok, data));
        }
    }
}

impl Drop for IncomingGlobal {
    fn drop(&mut self) {
        if !self.answered && self.want_reply {
            let _ = self
                .cmds
                .send(Command::GlobalReply(self.token, false, Vec::new()));
        }
    }
}

impl std::fmt::Debug for IncomingGlobal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingGlobal")
            .field("name", &self.name)
            .field("want_reply", &self.want_reply)
            .finish_non_exhaustive()
    }
}

/// Client side: where channels the peer opens go before the application sees them (the
/// `forwarded-*` channels of remote forwards, agent channels); `None` back means routed.
pub(crate) type Router = Arc<dyn Fn(IncomingChannel) -> Option<IncomingChannel> + Send + Sync>;

/// Where the answer to one of our global requests goes.
type GlobalReply = oneshot::Sender<(bool, Vec<u8>)>;

pub(crate) struct Mux {
    channels: HashMap<ChannelId, SharedRef>,
    pending_opens: HashMap<ChannelId, oneshot::Sender<Result<Channel, Error>>>,
    pending_replies: HashMap<ChannelId, VecDeque<oneshot::Sender<bool>>>,
    pending_globals: VecDeque<Option<GlobalReply>>,
    pub(crate) cmds: crate::command::CommandTx,
}

impl Mux {
    pub fn new(cmds: crate::command::CommandTx) -> Self {
        Mux {
            channels: HashMap::new(),
            pending_opens: HashMap::new(),
            pending_replies: HashMap::new(),
            pending_globals: VecDeque::new(),
            cmds,
        }
    }

    fn handle(&mut self, id: ChannelId, kind: ChannelKind) -> Channel {
        let shared: SharedRef = Arc::new(Mutex::new(Shared::default()));
        self.channels.insert(id, shared.clone());
        Channel {
            id,
            kind,
            shared,
            cmds: self.cmds.clone(),
            close_on_drop: true,
            keep: None,
        }
    }

    pub fn open(
        &mut self,
        proto: &mut ConnectionProtocol,
        kind: ChannelKind,
        reply: oneshot::Sender<Result<Channel, Error>>,
    ) {
        match proto.open(kind.clone()) {
            Some(id) => {
                // The handle is made when the peer confirms.
                self.channels
                    .insert(id, Arc::new(Mutex::new(Shared::default())));
                self.pending_opens.insert(id, reply);
            }
            None => {
                let _ = reply.send(Err(Error::Refused("too many channels")));
            }
        }
    }

    pub fn global_request(
        &mut self,
        proto: &mut ConnectionProtocol,
        name: &str,
        data: &[u8],
        reply: Option<oneshot::Sender<(bool, Vec<u8>)>>,
    ) {
        let want = reply.is_some();
        proto.global_request(name, data, want);
        if want {
            self.pending_globals.push_back(reply);
        }
    }

    /// Routes one protocol event; incoming opens are returned for the application.
    pub fn on_event(
        &mut self,
        proto: &mut ConnectionProtocol,
        ev: Event,
    ) -> Option<IncomingChannel> {
        match ev {
            Event::OpenRequest { id, kind } => {
                let ch = self.handle(id, kind);
                return Some(IncomingChannel {
                    channel: Some(ch),
                    global: None,
                });
            }
            Event::Opened { id } => {
                if let (Some(reply), Some(shared)) =
                    (self.pending_opens.remove(&id), self.channels.get(&id))
                {
                    let kind = proto.kind(id).cloned().unwrap_or(ChannelKind::Session);
                    let ch = Channel {
                        id,
                        kind,
                        shared: shared.clone(),
                        cmds: self.cmds.clone(),
                        close_on_drop: true,
                        keep: None,
                    };
                    if let Err(Ok(ch)) = reply.send(Ok(ch)) {
                        drop(ch); // nobody waits: closing it
                    }
                }
            }
            Event::OpenFailed {
                id,
                reason,
                description,
            } => {
                self.channels.remove(&id);
                if let Some(reply) = self.pending_opens.remove(&id) {
                    let _ = reply.send(Err(Error::OpenFailed {
                        reason,
                        description,
                    }));
                }
            }
            Event::Data { id, code, data } => {
                if let Some(s) = self.channels.get(&id) {
                    let mut s = lock(s);
                    match code {
                        None => {
                            s.stdout.push_back(data);
                            if let Some(w) = s.read_waker.take() {
                                w.wake();
                            }
                        }
                        Some(_) => {
                            s.stderr.push_back(data);
                            if let Some(w) = s.stderr_waker.take() {
                                w.wake();
                            }
                        }
                    }
                }
            }
            Event::WindowAvailable { id } => self.flush(proto, id),
            Event::Eof { id } => self.update(id, |s| s.eof = true),
            Event::Closed { id } => {
                self.update(id, |s| s.closed = true);
                self.channels.remove(&id);
                self.pending_replies.remove(&id);
            }
            Event::Request {
                id,
                request,
                want_reply,
                token,
            } => match request {
                RequestKind::ExitStatus { code } => {
                    self.update(id, |s| s.exit = Some(ExitStatus::Code(code)))
                }
                RequestKind::ExitSignal {
                    name,
                    core_dumped,
                    message,
                } => self.update(id, |s| {
                    s.exit = Some(ExitStatus::Signal {
                        name,
                        core_dumped,
                        message,
                    })
                }),
                // End Of Write (OpenSSH PROTOCOL §2.1): the peer's side of the session can
                // take no more data; what waits is dropped, writers fail, and EOF goes out, as
                // OpenSSH's chan_rcvd_eow stops reading its input.
                RequestKind::Eow => {
                    self.update(id, |s| {
                        s.eow = true;
                        s.outgoing.clear();
                        s.outgoing_bytes = 0;
                    });
                    if self.channels.contains_key(&id) {
                        proto.eof(id);
                    }
                }
                request => {
                    if self.channels.contains_key(&id) {
                        self.update(id, |s| {
                            s.requests.push_back(IncomingRequest {
                                request,
                                want_reply,
                                token,
                            })
                        });
                    } else if want_reply {
                        proto.reply_request(id, token, false);
                    }
                }
            },
            Event::RequestReply { id, ok } => {
                if let Some(tx) = self
                    .pending_replies
                    .get_mut(&id)
                    .and_then(VecDeque::pop_front)
                {
                    let _ = tx.send(ok);
                }
            }
            Event::GlobalRequest {
                name,
                data,
                want_reply,
                token,
            } => {
                // Forwarding requests go to the handle, which serves them when forwarding is
                // enabled and refuses them otherwise (RFC 4254 §4).
                let global = IncomingGlobal::new(name, data, want_reply, token, self.cmds.clone());
                return Some(IncomingChannel {
                    channel: None,
                    global: Some(global),
                });
            }
            Event::GlobalReply { ok, data } => {
                if let Some(Some(tx)) = self.pending_globals.pop_front() {
                    let _ = tx.send((ok, data));
                }
            }
        }
        None
    }

    fn update(&mut self, id: ChannelId, f: impl FnOnce(&mut Shared)) {
        if let Some(s) = self.channels.get(&id) {
            let mut s = lock(s);
            f(&mut s);
            s.wake_all();
        }
    }

    /// Moves queued writes of channel `id` into the protocol as far as the peer's window allows.
    pub fn flush(&mut self, proto: &mut ConnectionProtocol, id: ChannelId) {
        let Some(shared) = self.channels.get(&id).cloned() else {
            return;
        };
        let mut s = lock(&shared);
        while let Some((code, data)) = s.outgoing.pop_front() {
            let len = data.len();
            let n = proto.send_data_bytes(id, code, data.clone());
            s.outgoing_bytes -= n;
            if n < len {
                s.outgoing.push_front((code, data.slice(n..)));
                break;
            }
        }
        if let Some(w) = s.write_waker.take() {
            w.wake();
        }
    }

    pub fn on_cmd(&mut self, proto: &mut ConnectionProtocol, cmd: Command) {
        match cmd {
            Command::Flush(id) => self.flush(proto, id),
            Command::Consume(id, n) => proto.consume(id, n),
            Command::Eof(id) => proto.eof(id),
            Command::Close(id) => proto.close(id),
            Command::Request(id, request, reply) => {
                let want = reply.is_some();
                if proto.request(id, &request, want) {
                    if let Some(tx) = reply {
                        self.pending_replies.entry(id).or_default().push_back(tx);
                    }
                } else if let Some(tx) = reply {
                    let _ = tx.send(false);
                }
            }
            Command::Reply(id, token, ok) => proto.reply_request(id, token, ok),
            Command::Accept(id) => proto.accept_open(id),
            Command::Reject(id, reason, text) => {
                self.channels.remove(&id);
                proto.reject_open(id, reason, &text);
            }
            Command::GlobalReply(token, ok, data) => proto.reply_global(token, ok, &data),
            Command::Open(kind, reply) => self.open(proto, kind, reply),
            Command::Global(name, data, reply) => self.global_request(proto, &name, &data, reply),
            // The connection-level commands are the driver's (`driver::State::on_command`).
            Command::Send(_)
            | Command::Rekey
            | Command::Authenticated
            | Command::Raw
            | Command::Disconnect(..)
            | Command::Liveness(_)
            | Command::ClientAuth(_)
            | Command::ServerAuth(_)
            | Command::HostKeyAnswer(..)
            | Command::HostKeysUpdate(_)
            | Command::Ping(..)
            | Command::Channels(_)
            | Command::HandleDropped => {}
        }
    }

    /// The connection ended: wake every handle.
    pub fn shutdown(&mut self) {
        for s in self.channels.values() {
            let mut s = lock(s);
            s.closed = true;
            s.wake_all();
        }
        for (_, reply) in self.pending_opens.drain() {
            let _ = reply.send(Err(Error::Closed));
        }
    }
}
