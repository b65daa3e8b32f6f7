//! Scripted, misbehaving peers: a [`ScriptPeer`] writes packets of its own choosing with
//! [`PacketWriter`] and decodes what the machine under test sends back with [`PacketReader`]
//! (after skipping its identification line). Before NEWKEYS everything is plain; [`KexTranscript`]
//! and [`ScriptServer`] do a real ECDH exchange so a script can also talk encrypted.

use std::sync::Arc;

use bytes::BytesMut;
use nacre_crypto::{EcdhPrivateKey, PacketKey, Rng, SeededRng, Zeroizing};
use nacre_keys::{PrivateKey, PublicKey};
use nacre_transport::kex::hash::{ecdh_exchange_hash, encode_k, HashPrefix};
use nacre_transport::kex::keys;
use nacre_transport::kex::KexKind;
use nacre_transport::msg::{Disconnect, KexEcdhInit, KexEcdhReply, KexInit, Unimplemented};
use nacre_transport::negotiate::{negotiate, Negotiated};
use nacre_transport::packet::{Packet, PacketReader, PacketWriter};
use nacre_transport::{Event, Role, Transport, TransportError};
use nacre_wire::{decode_exact, put, DisconnectReason, Encode, MsgNumber};

/// One side of a connection played by the test: frames payloads and decodes the other side's
/// packets, with whatever keys the test installs.
pub struct ScriptPeer {
    /// The role the script plays.
    pub role: Role,
    /// Our identification line (without CR LF).
    pub id: Vec<u8>,
    writer: PacketWriter,
    reader: PacketReader,
    input: BytesMut,
    /// The identification line of the machine under test, once read.
    pub peer_id: Option<Vec<u8>>,
    /// Set when the other side's output could not be decoded (e.g. a MAC failure).
    pub read_error: Option<TransportError>,
    /// Incoming keys to install right after the other side's next NEWKEYS.
    next_in_key: Option<(PacketKey, bool)>,
}

impl ScriptPeer {
    /// A script playing `role`, identifying as `SSH-2.0-script_1.0`.
    pub fn new(role: Role) -> Self {
        ScriptPeer {
            role,
            id: b"SSH-2.0-script_1.0".to_vec(),
            writer: PacketWriter::new([7; 32]),
            reader: PacketReader::new(1 << 20),
            input: BytesMut::new(),
            peer_id: None,
            read_error: None,
            next_in_key: None,
        }
    }

    /// Our identification line with CR LF.
    pub fn banner(&self) -> Vec<u8> {
        let mut b = self.id.clone();
        b.extend_from_slice(b"\r\n");
        b
    }

    /// One packet holding `payload`, framed (and sealed) with the current outgoing keys.
    pub fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.writer.write(&mut out, payload).unwrap();
        out
    }

    /// Takes new outgoing keys (after our NEWKEYS).
    pub fn set_out_key(&mut self, key: PacketKey, reset_seq: bool) {
        self.writer.set_key(key, reset_seq);
    }

    /// Takes new incoming keys (after the other side's NEWKEYS).
    pub fn set_in_key(&mut self, key: PacketKey, reset_seq: bool) {
        self.reader.set_key(key, reset_seq);
    }

    /// Installs `key` for the packets that follow the other side's next NEWKEYS.
    pub fn after_newkeys(&mut self, key: PacketKey, reset_seq: bool) {
        self.next_in_key = Some((key, reset_seq));
    }

    /// Sequence number of our next packet.
    pub fn out_seq(&self) -> u32 {
        self.writer.seq()
    }

    /// Decodes the other side's bytes (its banner line is skipped); returns the complete packets.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Packet> {
        self.input.extend_from_slice(bytes);
        if self.peer_id.is_none() {
            let Some(nl) = self.input.iter().position(|&b| b == b'\n') else {
                return Vec::new();
            };
            let line = self.input.split_to(nl + 1);
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            self.peer_id = Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec());
        }
        let mut packets = Vec::new();
        while self.read_error.is_none() {
            match self.reader.next_packet(&mut self.input) {
                Ok(Some(p)) => {
                    if p.payload.first() == Some(&MsgNumber::NEWKEYS.0) {
                        if let Some((key, reset)) = self.next_in_key.take() {
                            self.reader.set_key(key, reset);
                        }
                    }
                    packets.push(p);
                }
                Ok(None) => break,
                Err(e) => self.read_error = Some(e),
            }
        }
        packets
    }

    /// Moves everything `victim` wants to send into the script; returns the decoded packets.
    pub fn take(&mut self, victim: &mut Transport) -> Vec<Packet> {
        let mut out = Vec::new();
        victim.poll_transmit(&mut out);
        self.feed(&out)
    }

    /// Gives `bytes` to `victim` and decodes its answer.
    pub fn exchange(&mut self, victim: &mut Transport, bytes: &[u8]) -> Vec<Packet> {
        victim.handle_input(bytes);
        self.take(victim)
    }
}

/// A packet with hand-chosen framing fields, unencrypted: `packet_length`, `padding_length`, then
/// `body` (payload and padding) exactly as given.
pub fn raw_packet(packet_length: u32, padding_length: u8, body: &[u8]) -> Vec<u8> {
    let mut out = packet_length.to_be_bytes().to_vec();
    out.push(padding_length);
    out.extend_from_slice(body);
    out
}

/// The reason and description of a DISCONNECT payload.
pub fn disconnect_of(payload: &[u8]) -> Option<(DisconnectReason, String)> {
    let d: Disconnect<'_> = decode_exact(payload).ok()?;
    Some((d.reason, d.description.into_owned()))
}

/// The first DISCONNECT among `packets`.
pub fn find_disconnect(packets: &[Packet]) -> Option<(DisconnectReason, String)> {
    packets.iter().find_map(|p| disconnect_of(&p.payload))
}

/// The sequence numbers of the UNIMPLEMENTED replies among `packets`.
pub fn unimplemented_seqs(packets: &[Packet]) -> Vec<u32> {
    packets
        .iter()
        .filter_map(|p| decode_exact::<Unimplemented>(&p.payload).ok())
        .map(|u| u.seq)
        .collect()
}

/// Message numbers of `packets`.
pub fn msg_numbers(packets: &[Packet]) -> Vec<u8> {
    packets
        .iter()
        .map(|p| p.payload.first().copied().unwrap_or(0))
        .collect()
}

/// The events a machine has queued.
pub fn drain_events(t: &mut Transport) -> Vec<Event> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

/// Kex markers (RFC 8308, OpenSSH strict kex) for the given role.
pub fn markers(role: Role) -> [&'static str; 2] {
    match role {
        Role::Client => ["ext-info-c", "kex-strict-c-v00@openssh.com"],
        Role::Server => ["ext-info-s", "kex-strict-s-v00@openssh.com"],
    }
}

/// The fields of a KEXINIT a script sends.
#[derive(Clone, Debug)]
pub struct KexInitSpec {
    /// kex_algorithms, markers included.
    pub kex: Vec<String>,
    /// server_host_key_algorithms.
    pub host_key: Vec<String>,
    /// Ciphers (both directions).
    pub cipher: Vec<String>,
    /// MACs (both directions).
    pub mac: Vec<String>,
    /// first_kex_packet_follows.
    pub first_kex_packet_follows: bool,
    /// The cookie.
    pub cookie: [u8; 16],
}

impl KexInitSpec {
    /// curve25519-sha256, ssh-ed25519, chacha20-poly1305, hmac-sha2-256; with the role's
    /// ext-info and strict-kex markers when `strict`.
    pub fn new(role: Role, strict: bool) -> Self {
        let mut kex = vec!["curve25519-sha256".to_owned()];
        if strict {
            kex.extend(markers(role).iter().map(|s| (*s).to_owned()));
        }
        KexInitSpec {
            kex,
            host_key: vec!["ssh-ed25519".to_owned()],
            cipher: vec!["chacha20-poly1305@openssh.com".to_owned()],
            mac: vec!["hmac-sha2-256".to_owned()],
            first_kex_packet_follows: false,
            cookie: [0x42; 16],
        }
    }

    /// Replaces the kex list (keeping nothing else of it).
    pub fn with_kex(mut self, kex: &[&str]) -> Self {
        self.kex = kex.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// The KEXINIT payload.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = vec![MsgNumber::KEXINIT.0];
        out.extend_from_slice(&self.cookie);
        put::name_list(&mut out, &self.kex);
        put::name_list(&mut out, &self.host_key);
        put::name_list(&mut out, &self.cipher);
        put::name_list(&mut out, &self.cipher);
        put::name_list(&mut out, &self.mac);
        put::name_list(&mut out, &self.mac);
        put::name_list(&mut out, &["none"]);
        put::name_list(&mut out, &["none"]);
        put::name_list::<&str>(&mut out, &[]);
        put::name_list::<&str>(&mut out, &[]);
        put::boolean(&mut out, self.first_kex_packet_follows);
        put::uint32(&mut out, 0);
        out
    }
}

/// Everything an ECDH exchange hash starts with.
#[derive(Clone, Debug)]
pub struct KexTranscript {
    /// V_C.
    pub v_c: Vec<u8>,
    /// V_S.
    pub v_s: Vec<u8>,
    /// I_C.
    pub i_c: Vec<u8>,
    /// I_S.
    pub i_s: Vec<u8>,
}

/// The secret results of an exchange.
pub struct KexResult {
    /// K as an mpint with its length.
    pub k: Zeroizing<Vec<u8>>,
    /// H.
    pub h: Vec<u8>,
}

impl KexTranscript {
    /// The algorithms both KEXINITs agree on.
    pub fn negotiated(&self) -> Negotiated {
        let c: KexInit<'_> = decode_exact(&self.i_c).unwrap();
        let s: KexInit<'_> = decode_exact(&self.i_s).unwrap();
        negotiate(&c, &s).unwrap()
    }

    fn prefix<'a>(&'a self, k_s: &'a [u8]) -> HashPrefix<'a> {
        HashPrefix {
            v_c: &self.v_c,
            v_s: &self.v_s,
            i_c: &self.i_c,
            i_s: &self.i_s,
            k_s,
        }
    }

    /// Server side: the signed ECDH_REPLY to the client's `Q_C`, and the results.
    pub fn server_reply(
        &self,
        q_c: &[u8],
        key: &PrivateKey,
        rng: &mut dyn Rng,
    ) -> (Vec<u8>, KexResult) {
        let neg = self.negotiated();
        let KexKind::Ecdh(curve) = neg.kex.kind() else {
            panic!("scripts only do ECDH");
        };
        let private = EcdhPrivateKey::generate(curve, rng);
        let q_s = private.public_key();
        let k = private.agree(q_c).unwrap();
        let k_s = key.public_key().to_blob();
        let h = ecdh_exchange_hash(neg.kex.hash(), &self.prefix(&k_s), q_c, &q_s, k.as_bytes());
        let signature = key.sign(neg.host_key, &h).unwrap();
        let reply = KexEcdhReply {
            k_s: &k_s,
            q_s: &q_s,
            signature: &signature,
        }
        .to_bytes();
        let result = KexResult {
            k: encode_k(k.as_bytes()),
            h,
        };
        (reply, result)
    }

    /// Client side: checks an ECDH_REPLY against our ephemeral key (signature included) and
    /// returns the server's host key and the results.
    pub fn client_check_reply(
        &self,
        private: &EcdhPrivateKey,
        reply: &[u8],
    ) -> Result<(PublicKey, KexResult), String> {
        let neg = self.negotiated();
        let reply: KexEcdhReply<'_> = decode_exact(reply).map_err(|e| e.to_string())?;
        let q_c = private.public_key();
        let k = private.agree(reply.q_s).map_err(|e| e.to_string())?;
        let h = ecdh_exchange_hash(
            neg.kex.hash(),
            &self.prefix(reply.k_s),
            &q_c,
            reply.q_s,
            k.as_bytes(),
        );
        let key = PublicKey::from_blob(reply.k_s).map_err(|e| e.to_string())?;
        key.verify(neg.host_key, &h, reply.signature)
            .map_err(|e| e.to_string())?;
        Ok((
            key,
            KexResult {
                k: encode_k(k.as_bytes()),
                h,
            },
        ))
    }
}

/// The packet keys of both directions: (client to server, server to client).
pub fn packet_keys(neg: &Negotiated, r: &KexResult, session_id: &[u8]) -> (PacketKey, PacketKey) {
    let d = keys::derive(neg, &r.k, &r.h, session_id);
    (
        PacketKey::new(&d.c2s).unwrap(),
        PacketKey::new(&d.s2c).unwrap(),
    )
}

/// A scripted server that does real ECDH exchanges with a nacre client, so that tests can
/// misbehave after keys are in use (change the host key in a re-exchange, send unknown
/// messages encrypted, ...).
pub struct ScriptServer {
    /// The framing peer.
    pub peer: ScriptPeer,
    /// The host key of the next exchange.
    pub host_key: Arc<PrivateKey>,
    /// Whether the script offers strict kex.
    pub strict: bool,
    /// The session identifier, after the first exchange.
    pub session_id: Option<Vec<u8>>,
    /// Events of the client, collected by [`ScriptServer::pump`].
    pub events: Vec<Event>,
    /// Whether to accept the host key when the client asks.
    pub accept_host_key: bool,
    rng: SeededRng,
}

impl ScriptServer {
    /// A server script with an Ed25519 host key.
    pub fn new(host_key: Arc<PrivateKey>, strict: bool) -> Self {
        ScriptServer {
            peer: ScriptPeer::new(Role::Server),
            host_key,
            strict,
            session_id: None,
            events: Vec::new(),
            accept_host_key: true,
            rng: SeededRng::new(99),
        }
    }

    /// Moves the client's output to the script (answering host key events) and returns the
    /// packets.
    pub fn pump(&mut self, client: &mut Transport) -> Vec<Packet> {
        let mut all = Vec::new();
        loop {
            let mut decided = false;
            while let Some(ev) = client.poll_event() {
                if matches!(ev, Event::HostKey { .. }) {
                    decided = true;
                    if self.accept_host_key {
                        client.accept_host_key();
                    } else {
                        client.reject_host_key();
                    }
                }
                self.events.push(ev);
            }
            let packets = self.peer.take(client);
            if packets.is_empty() && !decided {
                return all;
            }
            all.extend(packets);
        }
    }

    /// Answers a client's KEXINIT (`i_c`) with ours, runs ECDH and sends ECDH_REPLY and NEWKEYS.
    /// Returns what the client sent after our reply (its NEWKEYS, or a DISCONNECT).
    pub fn kex(&mut self, client: &mut Transport, i_c: Vec<u8>) -> Vec<Packet> {
        let first = self.session_id.is_none();
        let mut bytes = Vec::new();
        if first {
            bytes.extend_from_slice(&self.peer.banner());
        }
        let spec = KexInitSpec::new(Role::Server, self.strict && first);
        let i_s = spec.payload();
        bytes.extend(self.peer.packet(&i_s));
        client.handle_input(&bytes);
        let answer = self.pump(client);
        let init = answer
            .iter()
            .find(|p| p.payload.first() == Some(&30))
            .unwrap_or_else(|| panic!("no ECDH_INIT: {answer:?} {:?}", self.events));
        let init: KexEcdhInit<'_> = decode_exact(&init.payload).unwrap();
        let transcript = KexTranscript {
            v_c: self.peer.peer_id.clone().unwrap(),
            v_s: self.peer.id.clone(),
            i_c,
            i_s,
        };
        let (reply, result) = transcript.server_reply(init.q_c, &self.host_key, &mut self.rng);
        let neg = transcript.negotiated();
        let session_id = self
            .session_id
            .get_or_insert_with(|| result.h.clone())
            .clone();
        let (c2s, s2c) = packet_keys(&neg, &result, &session_id);
        let mut bytes = self.peer.packet(&reply);
        bytes.extend(self.peer.packet(&[MsgNumber::NEWKEYS.0]));
        self.peer.set_out_key(s2c, self.strict);
        self.peer.after_newkeys(c2s, self.strict);
        client.handle_input(&bytes);
        self.pump(client)
    }

    /// Sends `payloads` as packets to the client and returns its answer.
    pub fn send(&mut self, client: &mut Transport, payloads: &[&[u8]]) -> Vec<Packet> {
        let mut bytes = Vec::new();
        for p in payloads {
            bytes.extend(self.peer.packet(p));
        }
        client.handle_input(&bytes);
        self.pump(client)
    }

    /// A fresh client's handshake up to an accepted `ssh-userauth` service.
    pub fn handshake(&mut self, client: &mut Transport) {
        client.request_service("ssh-userauth");
        let first = self.pump(client);
        let i_c = first
            .iter()
            .find(|p| p.payload.first() == Some(&MsgNumber::KEXINIT.0))
            .expect("client KEXINIT")
            .payload
            .to_vec();
        let after = self.kex(client, i_c);
        let numbers = msg_numbers(&after);
        assert_eq!(
            numbers,
            vec![21, 5],
            "client after reply: {:?}",
            self.events
        );
        let mut accept = vec![MsgNumber::SERVICE_ACCEPT.0];
        put::string(&mut accept, b"ssh-userauth");
        let rest = self.send(client, &[&accept]);
        assert!(
            rest.is_empty(),
            "client answered SERVICE_ACCEPT with {rest:?}"
        );
    }
}
