//! The key exchange as seen by the connection: KEXINIT, the method steps, host key verification,
//! NEWKEYS in each direction, strict kex and the EXT_INFO that follows the first NEWKEYS.

use bytes::Bytes;
use nacre_crypto::PacketKey;
use nacre_keys::{Certificate, PublicKey, SignatureAlgorithm};
use nacre_wire::{decode_exact, Encode, MsgNumber};

use super::{Event, Transport};
use crate::config::Role;
use crate::error::TransportError;
use crate::kex::client::{self, ClientKex, ClientStep};
use crate::kex::hash::HashPrefix;
use crate::kex::server::{self, ServerKex, ServerStep, Signer};
use crate::kex::{keys, KexOutput};
use crate::msg::{ExtInfo, KexInit, NewKeys};
use crate::negotiate::{
    build_kexinit_names, guess_is_right, negotiate, Negotiated, EXT_INFO_C, EXT_INFO_S,
    KEX_STRICT_C, KEX_STRICT_S,
};
use crate::packet::Packet;

/// Where the key exchange stands.
#[derive(Default)]
pub enum KexState {
    /// No exchange under way.
    #[default]
    Idle,
    /// We sent KEXINIT; the peer's has not arrived.
    SentInit {
        /// Our KEXINIT payload.
        ours: Bytes,
    },
    /// Both KEXINITs are known; the method runs.
    Running(Box<Running>),
}

/// An exchange in progress.
pub struct Running {
    ours: Bytes,
    theirs: Bytes,
    neg: Negotiated,
    /// The peer's wrongly guessed first kex packet is still to be discarded.
    ignore_guess: bool,
    step: Step,
    key_out: Option<PacketKey>,
    key_in: Option<PacketKey>,
    sent_newkeys: bool,
    received_newkeys: bool,
}

enum Step {
    Client(ClientKex),
    Server(ServerKex),
    /// Client: waiting for the application to accept the host key.
    AwaitHostKey,
    /// The method is done; only NEWKEYS remain.
    Computed,
}

impl KexState {
    /// True while the client waits for the application's host key decision.
    pub fn awaiting_host_key(&self) -> bool {
        matches!(self, KexState::Running(r) if matches!(r.step, Step::AwaitHostKey))
    }

    /// True between our KEXINIT and our NEWKEYS: service payloads must be held back.
    pub fn holds_output(&self) -> bool {
        match self {
            KexState::Idle => false,
            KexState::SentInit { .. } => true,
            KexState::Running(r) => !r.sent_newkeys,
        }
    }
}

impl Transport {
    /// Host key algorithms we can offer: for a server, only those we hold a key for, with the
    /// `*-cert-v01@openssh.com` forms of those we hold a certificate for first; for a client,
    /// the certificate forms first when [`crate::Config::host_key_certificates`] is set.
    fn offered_host_key_algs(&self) -> Vec<String> {
        let wanted = self.config.algorithms.host_key.iter().copied();
        let (plain, certified): (Vec<SignatureAlgorithm>, Vec<SignatureAlgorithm>) = match self.role
        {
            Role::Client => {
                let plain: Vec<_> = wanted.collect();
                let certs = if self.config.host_key_certificates {
                    plain.clone()
                } else {
                    Vec::new()
                };
                (plain, certs)
            }
            Role::Server => {
                let plain: Vec<_> = wanted
                    .filter(|a| {
                        self.config
                            .host_keys
                            .iter()
                            .any(|k| k.key_type() == a.key_type())
                    })
                    .collect();
                let certs = plain
                    .iter()
                    .copied()
                    .filter(|a| self.host_certificate(*a).is_some())
                    .collect();
                (plain, certs)
            }
        };
        certified
            .iter()
            .map(|a| nacre_keys::cert::cert_name(a.name()))
            .chain(plain.iter().map(|a| a.name().to_owned()))
            .collect()
    }

    /// Server: the host certificate for `alg`'s key type whose key we hold.
    fn host_certificate(&self, alg: SignatureAlgorithm) -> Option<&Certificate> {
        self.config
            .host_certificates
            .iter()
            .find(|c| {
                c.key().key_type() == alg.key_type()
                    && self
                        .config
                        .host_keys
                        .iter()
                        .any(|k| k.public_key() == *c.key())
            })
            .map(|c| c.as_ref())
    }

    pub(super) fn send_kexinit(&mut self) -> Result<(), TransportError> {
        let mut cookie = [0u8; 16];
        self.rng.fill(&mut cookie);
        let offered = self.offered_host_key_algs();
        let names: Vec<&str> = offered.iter().map(String::as_str).collect();
        let payload =
            build_kexinit_names(self.role, &self.config, &names, cookie, !self.established());
        self.kexinit_seq = Some(self.writer.seq());
        self.writer.write(&mut self.out, &payload)?;
        self.kex = KexState::SentInit {
            ours: Bytes::from(payload),
        };
        self.kex_started = Some(self.now);
        Ok(())
    }

    pub(super) fn start_rekey_or_fail(&mut self) {
        if let Err(e) = self.send_kexinit() {
            self.fail(e);
        }
    }

    /// Rekeys when a direction passed its byte or packet limit (RFC 4253 §9; OpenSSH's per-cipher limits).
    pub(super) fn check_rekey_limits(&mut self) {
        // OpenSSH never rekeys during pre-auth, and sshd refuses a KEXINIT then.
        if !self.established()
            || !self.authenticated()
            || !matches!(self.kex, KexState::Idle)
            || self.closed.is_some()
        {
            return;
        }
        let limits = &self.config.limits;
        let over = |c: crate::packet::Counters, block: usize| {
            let cipher_limit = if block >= 16 { 1u64 << 36 } else { 1u64 << 30 };
            let bytes_limit = limits
                .rekey_bytes
                .map_or(cipher_limit, |b| b.min(cipher_limit));
            c.bytes >= bytes_limit || c.packets >= limits.rekey_packets
        };
        if over(self.writer.counters(), self.writer.block_size())
            || over(self.reader.counters(), self.reader.block_size())
        {
            self.start_rekey_or_fail();
        }
    }

    /// SSH_MSG_KEXINIT from the peer.
    pub(super) fn on_kexinit(&mut self, packet: &Packet) -> Result<(), TransportError> {
        if matches!(self.kex, KexState::Running(_)) {
            return Err(TransportError::UnexpectedMessage {
                msg: MsgNumber::KEXINIT,
                state: "during key exchange",
            });
        }
        if matches!(self.kex, KexState::Idle) {
            self.send_kexinit()?;
        }
        let KexState::SentInit { ours } = std::mem::take(&mut self.kex) else {
            return Err(TransportError::KexFailed("KEXINIT state"));
        };
        let theirs = packet.payload.clone();
        let peer: KexInit<'_> =
            decode_exact(&theirs).map_err(TransportError::malformed(MsgNumber::KEXINIT))?;
        let mine: KexInit<'_> =
            decode_exact(&ours).map_err(TransportError::malformed(MsgNumber::KEXINIT))?;
        let first = !self.established();
        if first {
            self.peer_algorithms = Some(crate::negotiate::PeerAlgorithms::from_kexinit(&peer));
            let (strict_marker, ext_marker) = match self.role {
                Role::Client => (KEX_STRICT_S, EXT_INFO_S),
                Role::Server => (KEX_STRICT_C, EXT_INFO_C),
            };
            self.strict_kex = self.config.strict_kex && peer.kex_algorithms.contains(strict_marker);
            self.peer_ext_info = peer.kex_algorithms.contains(ext_marker);
            if self.strict_kex && packet.seq != 0 {
                return Err(TransportError::StrictKex(
                    "KEXINIT was not the first packet",
                ));
            }
        }
        let (c, s) = match self.role {
            Role::Client => (&mine, &peer),
            Role::Server => (&peer, &mine),
        };
        let neg = negotiate(c, s)?;
        let ignore_guess = peer.first_kex_packet_follows && !guess_is_right(c, s);
        self.peer_in_kex = true;
        let step = match self.role {
            Role::Client => {
                let (state, msg) = client::start(neg.kex, &self.config.gex, self.rng.as_mut());
                self.writer.write(&mut self.out, &msg)?;
                Step::Client(state)
            }
            Role::Server => Step::Server(server::start(neg.kex)),
        };
        self.kex = KexState::Running(Box::new(Running {
            ours,
            theirs,
            neg,
            ignore_guess,
            step,
            key_out: None,
            key_in: None,
            sent_newkeys: false,
            received_newkeys: false,
        }));
        Ok(())
    }

    /// A key exchange method message (numbers 30–49).
    pub(super) fn on_kex_message(&mut self, packet: &Packet) -> Result<(), TransportError> {
        let msg = MsgNumber(packet.payload.first().copied().unwrap_or(0));
        let KexState::Running(mut run) = std::mem::take(&mut self.kex) else {
            return Err(TransportError::UnexpectedMessage {
                msg,
                state: "outside key exchange",
            });
        };
        if run.ignore_guess {
            // RFC 4253 §7: the wrongly guessed packet is ignored.
            run.ignore_guess = false;
            self.kex = KexState::Running(run);
            return Ok(());
        }
        let (i_c, i_s) = match self.role {
            Role::Client => (run.ours.clone(), run.theirs.clone()),
            Role::Server => (run.theirs.clone(), run.ours.clone()),
        };
        let (v_c, v_s) = self.identifications();
        let prefix = HashPrefix {
            v_c: &v_c,
            v_s: &v_s,
            i_c: &i_c,
            i_s: &i_s,
            k_s: &[],
        };
        match std::mem::replace(&mut run.step, Step::Computed) {
            Step::Client(state) => match client::handle(
                state,
                run.neg.kex,
                &packet.payload,
                prefix,
                self.rng.as_mut(),
            )? {
                ClientStep::Continue(next, reply) => {
                    run.step = Step::Client(next);
                    self.writer.write(&mut self.out, &reply)?;
                    self.kex = KexState::Running(run);
                }
                ClientStep::Done { output, signature } => {
                    self.client_verify(run, output, &signature)?
                }
            },
            Step::Server(state) => {
                let cert = if run.neg.host_key_certificate {
                    Some(self.host_certificate(run.neg.host_key).cloned().ok_or(
                        TransportError::KexFailed(
                            "no host certificate for the negotiated algorithm",
                        ),
                    )?)
                } else {
                    None
                };
                let key = self
                    .config
                    .host_keys
                    .iter()
                    .find(|k| match &cert {
                        Some(c) => k.public_key() == *c.key(),
                        None => k.key_type() == run.neg.host_key.key_type(),
                    })
                    .cloned()
                    .ok_or(TransportError::KexFailed(
                        "no host key for the negotiated algorithm",
                    ))?;
                let k_s = match &cert {
                    Some(c) => c.to_blob(),
                    None => key.public_key().to_blob(),
                };
                let signer = Signer {
                    key: &key,
                    alg: run.neg.host_key,
                    k_s: &k_s,
                };
                let gex = self.config.gex.clone();
                match server::handle(
                    state,
                    run.neg.kex,
                    &packet.payload,
                    prefix,
                    &signer,
                    &gex,
                    self.rng.as_mut(),
                )? {
                    ServerStep::Continue(next, reply) => {
                        run.step = Step::Server(next);
                        self.writer.write(&mut self.out, &reply)?;
                        self.kex = KexState::Running(run);
                    }
                    ServerStep::Done { reply, output } => {
                        self.writer.write(&mut self.out, &reply)?;
                        self.install_keys(&mut run, &output)?;
                        self.kex = KexState::Running(run);
                        self.send_newkeys()?;
                    }
                }
            }
            Step::AwaitHostKey | Step::Computed => {
                return Err(TransportError::UnexpectedMessage {
                    msg,
                    state: "after the key exchange reply",
                });
            }
        }
        Ok(())
    }

    fn identifications(&self) -> (Vec<u8>, Vec<u8>) {
        let peer = self
            .peer_id
            .as_ref()
            .map(|p| p.line.clone())
            .unwrap_or_default();
        match self.role {
            Role::Client => (self.our_id.clone(), peer),
            Role::Server => (peer, self.our_id.clone()),
        }
    }

    /// Client: checks the server's signature of H with K_S, then asks the application (first
    /// exchange) or compares with the first host key (re-exchange).
    fn client_verify(
        &mut self,
        mut run: Box<Running>,
        output: KexOutput,
        signature: &[u8],
    ) -> Result<(), TransportError> {
        let (key, certificate) = if run.neg.host_key_certificate {
            let cert = Certificate::from_blob(&output.host_key)?;
            (cert.key().clone(), Some(Box::new(cert)))
        } else {
            (PublicKey::from_blob(&output.host_key)?, None)
        };
        if key.key_type() != run.neg.host_key.key_type() {
            return Err(TransportError::HostKey(
                "host key type does not match the negotiated algorithm".into(),
            ));
        }
        key.verify(run.neg.host_key, &output.h, signature)?;
        self.install_keys(&mut run, &output)?;
        match &self.server_host_key {
            None => {
                self.server_host_key = Some(output.host_key);
                let algorithm = run.neg.host_key;
                run.step = Step::AwaitHostKey;
                self.kex = KexState::Running(run);
                self.events.push_back(Event::HostKey {
                    key,
                    algorithm,
                    certificate,
                });
            }
            Some(first) if *first == output.host_key => {
                self.kex = KexState::Running(run);
                self.send_newkeys()?;
            }
            Some(_) => return Err(TransportError::HostKeyChanged),
        }
        Ok(())
    }

    /// Client: the application trusts the host key; the exchange continues.
    pub fn accept_host_key(&mut self) {
        if let KexState::Running(run) = &mut self.kex {
            if matches!(run.step, Step::AwaitHostKey) {
                run.step = Step::Computed;
                if let Err(e) = self.send_newkeys() {
                    return self.fail(e);
                }
                self.process_input();
            }
        }
    }

    /// Client: the application does not trust the host key; the connection ends with
    /// HOST_KEY_NOT_VERIFIABLE.
    pub fn reject_host_key(&mut self) {
        if self.kex.awaiting_host_key() {
            self.fail(TransportError::HostKeyRejected);
        }
    }

    /// Wireshark key log lines for this exchange (see [`Event::KeyLog`]).
    fn log_keys(&mut self, run: &Running, output: &KexOutput) {
        if !self.config.keylog {
            return;
        }
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let cookie = hex(run.ours.get(1..17).unwrap_or(&[]));
        if let Some(secret) = &output.ephemeral {
            if matches!(
                run.neg.kex,
                crate::KexMethod::Curve25519Sha256 | crate::KexMethod::Curve25519Sha256Libssh
            ) {
                self.events
                    .push_back(Event::KeyLog(format!("{cookie} {}", hex(secret))));
            }
        }
        // K as hashed is an mpint with its length; the log wants the magnitude. The hybrids hash
        // K as a string: the log carries its bytes as they are (the KEM/X25519 hash output).
        let k = output.k.get(4..).unwrap_or(&[]);
        let k = if run.neg.kex.is_hybrid() {
            k
        } else {
            k.strip_prefix(&[0u8]).unwrap_or(k)
        };
        self.events
            .push_back(Event::KeyLog(format!("{cookie} SHARED_SECRET {}", hex(k))));
    }

    fn install_keys(
        &mut self,
        run: &mut Running,
        output: &KexOutput,
    ) -> Result<(), TransportError> {
        self.log_keys(run, output);
        let session_id = self
            .session_id
            .get_or_insert_with(|| output.h.clone())
            .clone();
        let derived = keys::derive(&run.neg, &output.k, &output.h, &session_id);
        let c2s = PacketKey::new(&derived.c2s).map_err(TransportError::Crypto)?;
        let s2c = PacketKey::new(&derived.s2c).map_err(TransportError::Crypto)?;
        #[cfg(fuzzing)]
        let (c2s, s2c) = crate::fuzz_keys::select(c2s, s2c);
        let (out, inb) = match self.role {
            Role::Client => (c2s, s2c),
            Role::Server => (s2c, c2s),
        };
        run.key_out = Some(out);
        run.key_in = Some(inb);
        Ok(())
    }

    /// Sends NEWKEYS, switches the outgoing keys, sends EXT_INFO where due and releases held payloads.
    fn send_newkeys(&mut self) -> Result<(), TransportError> {
        let KexState::Running(run) = &mut self.kex else {
            return Err(TransportError::KexFailed("NEWKEYS outside key exchange"));
        };
        let key = run
            .key_out
            .take()
            .ok_or(TransportError::KexFailed("keys not derived"))?;
        run.sent_newkeys = true;
        let compression = match self.role {
            Role::Client => run.neg.compression_c2s,
            Role::Server => run.neg.compression_s2c,
        };
        self.writer.write(&mut self.out, &NewKeys.to_bytes())?;
        self.set_writer_key(key);
        self.writer.set_compression(compression);
        if self.role == Role::Server
            && !self.established()
            && self.peer_ext_info
            && self.config.ext_info
        {
            let algs: Vec<&str> = self
                .config
                .server_sig_algs
                .iter()
                .map(|a| a.name())
                .collect();
            let value = algs.join(",");
            let mut extensions = vec![
                ("server-sig-algs", value.as_bytes()),
                crate::msg::ping::PING_EXTENSION,
            ];
            extensions.extend(
                self.extra_ext_info
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_slice())),
            );
            let msg = ExtInfo { extensions }.to_bytes();
            self.writer.write(&mut self.out, &msg)?;
        }
        while let Some(payload) = self.queue.pop_front() {
            self.writer.write(&mut self.out, &payload)?;
        }
        self.queued_bytes = 0;
        self.sync_delayed_compression();
        self.maybe_finish_kex();
        Ok(())
    }

    /// SSH_MSG_NEWKEYS from the peer: switch the incoming keys.
    pub(super) fn on_newkeys(&mut self, packet: &Packet) -> Result<(), TransportError> {
        decode_exact::<NewKeys>(&packet.payload)
            .map_err(TransportError::malformed(MsgNumber::NEWKEYS))?;
        let reset = self.resets_seq();
        let KexState::Running(run) = &mut self.kex else {
            return Err(TransportError::UnexpectedMessage {
                msg: MsgNumber::NEWKEYS,
                state: "outside key exchange",
            });
        };
        let key = match (&run.step, run.received_newkeys) {
            (Step::Computed, false) => run.key_in.take(),
            _ => None,
        }
        .ok_or(TransportError::UnexpectedMessage {
            msg: MsgNumber::NEWKEYS,
            state: "before the key exchange finished",
        })?;
        run.received_newkeys = true;
        let compression = match self.role {
            Role::Client => run.neg.compression_s2c,
            Role::Server => run.neg.compression_c2s,
        };
        self.reader.set_key(key, reset);
        self.reader.set_compression(compression);
        self.peer_in_kex = false;
        if !self.established() && self.config.ext_info {
            // RFC 8308 §2.4: EXT_INFO may only be the next packet after the first NEWKEYS.
            self.ext_window = super::ExtInfoWindow::NextPacket;
        }
        self.maybe_finish_kex();
        Ok(())
    }

    fn maybe_finish_kex(&mut self) {
        let KexState::Running(run) = &self.kex else {
            return;
        };
        if !(run.sent_newkeys && run.received_newkeys) {
            return;
        }
        let negotiated = run.neg;
        self.kex = KexState::Idle;
        self.kex_started = None;
        self.last_kex = self.now;
        self.negotiated = Some(negotiated);
        let first = !self.established();
        self.phase = super::Phase::Established;
        self.events
            .push_back(Event::KexComplete { first, negotiated });
        if let Some(name) = self.pending_service.take() {
            self.write_service_request(&name);
        }
        // A re-exchange asked for by a user authenticated before the first one ended.
        if let super::AuthPhase::Done { rekey_asked: true } = self.auth {
            self.auth = super::AuthPhase::Done { rekey_asked: false };
            self.start_rekey_or_fail();
        }
    }

    /// True while the initial exchange runs under strict kex rules.
    pub(super) fn strict_initial_kex(&self) -> bool {
        self.strict_kex && !self.established()
    }
}
