//! The connection task: owns the socket and the sans-IO [`Transport`], moves bytes in large reads
//! and coalesced writes, feeds time, and exchanges packets and commands with the handle.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use nacre_keys::PublicKey;
use nacre_transport::{Event, SendError, Transport, TransportError};
use nacre_wire::DisconnectReason;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::info::ConnectionInfo;

/// Size of one socket read.
const READ_SIZE: usize = 256 * 1024;
/// Stop reading from the socket while this much output waits to be written.
const MAX_PENDING_WRITE: usize = 4 * 1024 * 1024;

/// Decides whether a server host key is trusted (client side).
pub type HostKeyVerifier = Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

/// What the handle asks the task to do.
pub(crate) enum Command {
    Send(Bytes),
    Rekey,
    Authenticated,
    Disconnect(DisconnectReason, String),
}

/// What the task reports to the handle.
pub(crate) enum Up {
    /// The service is active; connection facts.
    Ready(ConnectionInfo),
    /// A service-layer packet.
    Packet(Bytes),
    /// Extensions from the peer.
    ExtInfo(Vec<(String, Vec<u8>)>),
}

pub(crate) struct Driver<S> {
    pub transport: Transport,
    pub stream: S,
    pub verifier: Option<HostKeyVerifier>,
    pub up: mpsc::Sender<Up>,
    pub commands: mpsc::Receiver<Command>,
    pub done: oneshot::Sender<TransportError>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// Runs until the connection closes; reports the reason on `done`.
    pub async fn run(self) {
        let Driver {
            mut transport,
            stream,
            verifier,
            up,
            mut commands,
            done,
        } = self;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut rbuf = vec![0u8; READ_SIZE];
        let mut wbuf: Vec<u8> = Vec::with_capacity(READ_SIZE);
        let mut pending_up: VecDeque<Up> = VecDeque::new();
        let mut held: Option<Bytes> = None;
        let mut commands_open = true;
        let mut ready_sent = false;
        let mut eof = false;
        let reason = loop {
            // Events first: they may answer host keys or close the connection.
            while let Some(ev) = transport.poll_event() {
                match ev {
                    Event::HostKey { key, .. } => match &verifier {
                        Some(v) if v(&key) => transport.accept_host_key(),
                        _ => transport.reject_host_key(),
                    },
                    Event::ServiceAccepted(_) | Event::ServiceStarted(_) if !ready_sent => {
                        ready_sent = true;
                        pending_up.push_back(Up::Ready(ConnectionInfo::from_transport(&transport)));
                    }
                    Event::Packet(p) => pending_up.push_back(Up::Packet(p)),
                    Event::ExtInfo(ext) => pending_up.push_back(Up::ExtInfo(ext)),
                    Event::Debug { message, .. } => tracing::debug!(%message, "peer debug message"),
                    Event::KexComplete { first, negotiated } => {
                        tracing::debug!(first, ?negotiated, "key exchange complete")
                    }
                    Event::Closed(_) | Event::ServiceAccepted(_) | Event::ServiceStarted(_) => {}
                }
            }
            if let Some(p) = held.take() {
                match transport.send(&p) {
                    Err(SendError::Backpressure) => held = Some(p),
                    Err(e) => tracing::debug!(%e, "dropping payload"),
                    Ok(()) => {}
                }
            }
            transport.poll_transmit(&mut wbuf);
            if let Some(reason) = transport.close_reason().cloned() {
                // Flush the final DISCONNECT, then stop.
                let _ = wr.write_all(&wbuf).await;
                let _ = wr.shutdown().await;
                break reason;
            }
            let timeout = transport.poll_timeout().map(tokio::time::Instant::from_std);
            let can_read = !eof
                && transport.wants_input()
                && pending_up.is_empty()
                && wbuf.len() < MAX_PENDING_WRITE;
            let can_take_command = commands_open && held.is_none();
            tokio::select! {
                r = rd.read(&mut rbuf), if can_read => match r {
                    Ok(0) => { eof = true; transport.handle_eof(); }
                    Ok(n) => transport.handle_input(rbuf.get(..n).unwrap_or(&[])),
                    Err(e) => break TransportError::Local { reason: DisconnectReason::CONNECTION_LOST, description: e.to_string() },
                },
                w = wr.write(&wbuf), if !wbuf.is_empty() => match w {
                    Ok(n) => { wbuf.drain(..n); }
                    Err(e) => break TransportError::Local { reason: DisconnectReason::CONNECTION_LOST, description: e.to_string() },
                },
                permit = up.reserve(), if !pending_up.is_empty() => match permit {
                    Ok(permit) => { if let Some(item) = pending_up.pop_front() { permit.send(item); } }
                    Err(_) => { pending_up.clear(); }
                },
                cmd = commands.recv(), if can_take_command => match cmd {
                    Some(Command::Send(p)) => held = Some(p),
                    Some(Command::Rekey) => transport.rekey(),
                    Some(Command::Authenticated) => transport.set_authenticated(),
                    Some(Command::Disconnect(reason, text)) => transport.disconnect(reason, &text),
                    None => {
                        commands_open = false;
                        transport.disconnect(DisconnectReason::BY_APPLICATION, "connection handle dropped");
                    }
                },
                () = sleep_until(timeout), if timeout.is_some() => {
                    transport.handle_timeout(tokio::time::Instant::now().into_std());
                }
            }
        };
        let _ = done.send(reason);
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
