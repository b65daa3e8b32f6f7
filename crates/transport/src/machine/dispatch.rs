//! Which message is acceptable where: one explicit table over (role, state, message number), then
//! the handlers of the generic transport messages.

use nacre_wire::{decode_exact, Encode, MsgNumber};

use super::{Event, ExtInfoWindow, Service, Transport};
use crate::config::Role;
use crate::error::TransportError;
use crate::msg::ping::PING_EXTENSION;
use crate::msg::{
    Debug, Disconnect, ExtInfo, Ignore, Ping, ServiceAccept, ServiceRequest, Unimplemented,
};
use crate::packet::Packet;

/// The authentication service (RFC 4252).
const USERAUTH: &str = "ssh-userauth";

/// What to do with an incoming message, decided by [`Transport::classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// DISCONNECT: close.
    Disconnect,
    /// IGNORE, DEBUG, UNIMPLEMENTED: handled by the transport.
    Generic,
    /// SERVICE_REQUEST (server) or SERVICE_ACCEPT (client).
    Service,
    /// EXT_INFO where RFC 8308 allows it.
    ExtInfo,
    /// KEXINIT.
    KexInit,
    /// NEWKEYS.
    NewKeys,
    /// A key exchange method message (30–49).
    KexMethod,
    /// A service-layer message (50–255) for the application.
    Application,
    /// SSH2_MSG_PING or SSH2_MSG_PONG (OpenSSH PROTOCOL §1.8), where a service-layer message
    /// would be accepted: handled by the transport.
    Ping,
    /// A transport message number we do not implement: answer UNIMPLEMENTED.
    Unimplemented,
    /// Not allowed here: fatal.
    Refuse(&'static str),
}

impl Transport {
    /// The acceptance table. A test walks all 256 numbers through every state with it.
    pub fn classify(&self, msg: u8) -> Disposition {
        use Disposition as D;
        let strict_initial = self.strict_initial_kex();
        let kex_running = matches!(self.kex, super::KexState::Running(_));
        match msg {
            1 => D::Disconnect,
            2..=4 if strict_initial => {
                D::Refuse("strict KEX: only key exchange messages are allowed")
            }
            2..=4 => D::Generic,
            5 | 6 if !self.established() || self.peer_in_kex => {
                D::Refuse("service messages are not allowed during key exchange")
            }
            5 if self.role == Role::Server && self.service == Service::None => D::Service,
            // A client may ask for "ssh-userauth" again until authentication succeeds
            // (paramiko does before each method): sshd keeps its SERVICE_REQUEST handler for
            // that long (auth2.c, do_authentication2 and input_service_request). The handler
            // refuses any other name. docs/TOLERANCE.md.
            5 if self.role == Role::Server && self.userauth_pending() => D::Service,
            // Once the user is authenticated sshd's server loop answers UNIMPLEMENTED to a
            // SERVICE_REQUEST and goes on (serverloop.c, server_init_dispatch); Twisted Conch's
            // client sends one after every re-exchange. docs/TOLERANCE.md.
            5 if self.role == Role::Server && self.authenticated() => D::Unimplemented,
            6 if self.role == Role::Client && matches!(self.service, Service::Requested(_)) => {
                D::Service
            }
            5 | 6 => D::Refuse("unexpected service message"),
            7 if self.ext_window == ExtInfoWindow::NextPacket => D::ExtInfo,
            // The server's second chance (RFC 8308 §2.4), only to a client that sent ext-info-c
            // (§2.1) and only before authentication succeeded.
            7 if self.role == Role::Client
                && self.config.ext_info
                && !self.authenticated()
                && self.service == Service::Active("ssh-userauth".into())
                && self.ext_window != ExtInfoWindow::ExpectUserauthSuccess =>
            {
                D::ExtInfo
            }
            7 => {
                D::Refuse("EXT_INFO is only allowed right after the first NEWKEYS (RFC 8308 §2.4)")
            }
            20 => D::KexInit,
            21 => D::NewKeys,
            30..=49 if kex_running => D::KexMethod,
            _ if strict_initial => {
                D::Refuse("strict KEX: unexpected message during the initial key exchange")
            }
            30..=49 if !self.established() => D::Refuse("key exchange message before KEXINIT"),
            // 0 is no message at all: never for the service layer (RFC 4253 §11.4).
            0 | 8..=49 => D::Unimplemented,
            _ if !self.established() || self.peer_in_kex => {
                D::Refuse("service-layer message during key exchange")
            }
            _ if !matches!(self.service, Service::Active(_)) => {
                D::Refuse("service-layer message before a service was accepted")
            }
            // OpenSSH's ping (PROTOCOL §1.8) once the user is authenticated; before, the
            // numbers are the authentication layer's to refuse as before.
            192 | 193 if self.authenticated() => D::Ping,
            _ => D::Application,
        }
    }

    pub(super) fn dispatch(&mut self, packet: Packet) -> Result<(), TransportError> {
        let msg = packet.payload.first().copied().unwrap_or(0);
        if let Some(log) = self.received_log.as_mut() {
            log.push((packet.seq, packet.payload.clone()));
        }
        if !self.established() && packet.seq == u32::MAX {
            // The next sequence number would wrap to 0 before any key is in place (OpenSSH refuses
            // this too; after the first exchange the packet limit rekeys long before a wrap).
            return Err(TransportError::SequenceWrapped);
        }
        let window = self.ext_window;
        if window == ExtInfoWindow::ExpectUserauthSuccess {
            if msg != MsgNumber::USERAUTH_SUCCESS.0 {
                return Err(TransportError::UnexpectedMessage {
                    msg: MsgNumber(msg),
                    state: "after a late EXT_INFO (RFC 8308 §2.4)",
                });
            }
            self.ext_window = ExtInfoWindow::Shut;
        }
        let in_ext_window = window == ExtInfoWindow::NextPacket;
        let disposition = self.classify(msg);
        // Only ever the one packet right after the first NEWKEYS.
        self.ext_window = ExtInfoWindow::Shut;
        match disposition {
            Disposition::Disconnect => {
                let d: Disconnect<'_> = decode_exact(&packet.payload)
                    .map_err(TransportError::malformed(MsgNumber::DISCONNECT))?;
                Err(TransportError::PeerDisconnected {
                    reason: d.reason,
                    description: d.description.into_owned(),
                })
            }
            Disposition::Generic => self.on_generic(&packet),
            Disposition::Service => self.on_service(&packet),
            Disposition::ExtInfo => self.on_ext_info(&packet, in_ext_window),
            Disposition::KexInit => self.on_kexinit(&packet),
            Disposition::NewKeys => self.on_newkeys(&packet),
            Disposition::KexMethod => self.on_kex_message(&packet),
            Disposition::Application => {
                self.events.push_back(Event::Packet(packet.payload));
                self.check_rekey_limits();
                Ok(())
            }
            Disposition::Ping => self.on_ping(&packet),
            Disposition::Unimplemented => {
                let reply = Unimplemented { seq: packet.seq }.to_bytes();
                self.writer.write(&mut self.out, &reply)
            }
            Disposition::Refuse(why) if self.strict_initial_kex() => {
                Err(TransportError::StrictKex(why))
            }
            Disposition::Refuse(why) => Err(TransportError::UnexpectedMessage {
                msg: MsgNumber(msg),
                state: why,
            }),
        }
    }

    /// Server: "ssh-userauth" runs and the user is not authenticated yet.
    fn userauth_pending(&self) -> bool {
        !self.authenticated() && matches!(&self.service, Service::Active(name) if name == USERAUTH)
    }

    fn on_generic(&mut self, packet: &Packet) -> Result<(), TransportError> {
        let msg = MsgNumber(packet.payload.first().copied().unwrap_or(0));
        match msg {
            MsgNumber::IGNORE => {
                decode_exact::<Ignore<'_>>(&packet.payload)
                    .map_err(TransportError::malformed(msg))?;
            }
            MsgNumber::DEBUG => {
                let d: Debug<'_> =
                    decode_exact(&packet.payload).map_err(TransportError::malformed(msg))?;
                self.events.push_back(Event::Debug {
                    always_display: d.always_display,
                    message: d.message.into_owned(),
                });
            }
            _ => {
                let u: Unimplemented =
                    decode_exact(&packet.payload).map_err(TransportError::malformed(msg))?;
                if self.in_kex() && self.kexinit_seq == Some(u.seq) {
                    return Err(TransportError::KexFailed(
                        "the peer refused our KEXINIT (answered UNIMPLEMENTED)",
                    ));
                }
                tracing::debug!(seq = u.seq, "peer answered UNIMPLEMENTED");
            }
        }
        Ok(())
    }

    fn on_service(&mut self, packet: &Packet) -> Result<(), TransportError> {
        match self.role {
            Role::Server => {
                let req: ServiceRequest<'_> = decode_exact(&packet.payload)
                    .map_err(TransportError::malformed(MsgNumber::SERVICE_REQUEST))?;
                if self.userauth_pending() {
                    // The repeated request of a client still authenticating: answered again, as
                    // sshd does; the service is already running, so no second event.
                    if req.name != USERAUTH {
                        return Err(TransportError::UnexpectedMessage {
                            msg: MsgNumber::SERVICE_REQUEST,
                            state: "another service requested during ssh-userauth",
                        });
                    }
                    tracing::debug!("repeated SERVICE_REQUEST for ssh-userauth answered again");
                    let reply = ServiceAccept { name: USERAUTH }.to_bytes();
                    return self.writer.write(&mut self.out, &reply);
                }
                if !self.config.services.iter().any(|s| s == req.name) {
                    return Err(TransportError::ServiceNotAvailable(req.name.to_owned()));
                }
                let name = req.name.to_owned();
                let reply = ServiceAccept { name: &name }.to_bytes();
                self.writer.write(&mut self.out, &reply)?;
                self.service = Service::Active(name.clone());
                self.events.push_back(Event::ServiceStarted(name));
            }
            Role::Client => {
                let acc: ServiceAccept<'_> = decode_exact(&packet.payload)
                    .map_err(TransportError::malformed(MsgNumber::SERVICE_ACCEPT))?;
                if self.service != Service::Requested(acc.name.to_owned()) {
                    return Err(TransportError::UnexpectedMessage {
                        msg: MsgNumber::SERVICE_ACCEPT,
                        state: "for a service that was not requested",
                    });
                }
                self.service = Service::Active(acc.name.to_owned());
                self.events
                    .push_back(Event::ServiceAccepted(acc.name.to_owned()));
            }
        }
        Ok(())
    }

    /// PING (taken once the user is authenticated) is answered with PONG carrying its data
    /// unless a key exchange runs (then it is dropped, as OpenSSH's packet.c does); PONG is
    /// reported.
    fn on_ping(&mut self, packet: &Packet) -> Result<(), TransportError> {
        let ping: Ping<'_> = decode_exact(&packet.payload).map_err(TransportError::malformed(
            MsgNumber(packet.payload.first().copied().unwrap_or(0)),
        ))?;
        if ping.pong {
            self.events.push_back(Event::Pong(ping.data.to_vec()));
            return Ok(());
        }
        if self.in_kex() {
            tracing::debug!("not answering a PING during key exchange");
            return Ok(());
        }
        let pong = Ping {
            pong: true,
            data: ping.data,
        }
        .to_bytes();
        self.writer.write(&mut self.out, &pong)
    }

    fn on_ext_info(&mut self, packet: &Packet, in_window: bool) -> Result<(), TransportError> {
        let info: ExtInfo<'_> = decode_exact(&packet.payload)
            .map_err(TransportError::malformed(MsgNumber::EXT_INFO))?;
        if !in_window {
            // The server's second chance: immediately before USERAUTH_SUCCESS.
            self.ext_window = ExtInfoWindow::ExpectUserauthSuccess;
        }
        if self.role == Role::Client {
            let (ping, version) = PING_EXTENSION;
            self.peer_ping |= info.get(ping) == Some(version);
            if let Some(v) = info.get("server-sig-algs") {
                let list = String::from_utf8_lossy(v);
                self.server_sig_algs = Some(
                    list.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
        }
        let owned = info
            .extensions
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
            .collect();
        self.events.push_back(Event::ExtInfo(owned));
        Ok(())
    }
}
