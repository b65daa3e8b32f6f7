//! Pass one over a TCP stream: identification lines, then binary packets decrypted with the keys
//! of each key exchange as its NEWKEYS goes by (sequence numbers reset at NEWKEYS under strict
//! kex). The two directions are read in turns: a direction that reaches NEWKEYS before the other
//! has sent what the exchange hash needs waits until it has.
//!
//! Compressed payloads are inflated (RFC 4253 §6.2, OpenSSH PROTOCOL "zlib@openssh.com"): `zlib`
//! from the NEWKEYS that selects it, `zlib@openssh.com` from USERAUTH_SUCCESS: the server's
//! packets after it, and the client's packets captured after it (the client compresses once it
//! has received it, so its packets sent before, e.g. pipelined requests, are not compressed). Each
//! NEWKEYS starts a fresh stream in its direction, as OpenSSH's packet.c does.

use bytes::{Bytes, BytesMut};
use nacre_crypto::PacketKey;
use nacre_transport::compress::Inflater;
use nacre_transport::packet::PacketReader;
use nacre_transport::CompressionAlg;

use super::kex::{Context, KexRecord, C2S, S2C};
use super::keylog::KeyLog;
use super::tcp::{Direction, Stream};

/// Largest packet accepted: well above every implementation's limit.
const MAX_PACKET: usize = 4 << 20;
/// Lines read before giving up on finding the identification (a stream that is not SSH).
const MAX_LINES: usize = 64;

/// What one unit of a direction holds.
#[derive(Debug)]
pub enum Body {
    /// A line before the binary protocol; `ident` for the identification string itself.
    Line {
        /// The line without CR LF (lossy UTF-8).
        text: String,
        /// Whether it is the `SSH-` identification line.
        ident: bool,
    },
    /// One binary packet's payload.
    Message {
        /// Its sequence number.
        seq: u32,
        /// The payload, message number first.
        payload: Bytes,
        /// The index of the key exchange this direction was in (its KEXINIT count minus one).
        kex: usize,
        /// Whether it was encrypted.
        encrypted: bool,
        /// Whether its payload was compressed on the wire (shown inflated).
        compressed: bool,
    },
}

/// One decoded unit of one direction.
#[derive(Debug)]
pub struct Unit {
    /// [`C2S`] or [`S2C`].
    pub dir: usize,
    /// Capture time (ns) of the segment that completed it.
    pub time: u64,
    /// Its bytes on the wire.
    pub wire_len: usize,
    /// What it holds.
    pub body: Body,
}

/// How much of a direction was decoded.
#[derive(Debug, Default, Clone)]
pub struct DirReport {
    /// Bytes captured in order.
    pub bytes: usize,
    /// Bytes that decoded into units.
    pub decoded: usize,
    /// Bytes captured after a gap in the sequence space (not decoded).
    pub after_gap: usize,
    /// Why decoding stopped early, if it did.
    pub error: Option<String>,
}

/// Both directions of one stream, decoded.
pub struct Decoded {
    /// The units of both directions (each direction's in order).
    pub units: Vec<Unit>,
    /// The key exchanges, in order.
    pub records: Vec<KexRecord>,
    /// Client to server and server to client.
    pub reports: [DirReport; 2],
}

enum Step {
    Progress,
    Blocked,
    Done,
}

struct Shared<'a> {
    records: Vec<KexRecord>,
    idents: [Option<Vec<u8>>; 2],
    keylog: &'a KeyLog,
    /// Capture time of the server's USERAUTH_SUCCESS, once it was read.
    auth_success: Option<u64>,
    /// Whether the server's direction was read to its end.
    server_done: bool,
}

impl Shared<'_> {
    fn record(&mut self, index: usize) -> Option<&mut KexRecord> {
        while self.records.len() <= index {
            self.records.push(KexRecord::default());
        }
        self.records.get_mut(index)
    }

    /// Computes exchange `index` if it can be; `None` while inputs are missing.
    fn keys(&mut self, index: usize) -> Option<Result<(), String>> {
        let [Some(v_c), Some(v_s)] = &self.idents else {
            return None;
        };
        let session_id = match index {
            0 => None,
            _ => match self.records.first().and_then(|r| r.outcome.as_ref()) {
                Some(Ok(o)) => Some(o.h.clone()),
                _ => return Some(Err("the first key exchange failed".into())),
            },
        };
        let ctx = Context {
            idents: [v_c, v_s],
            session_id: session_id.as_deref(),
            keylog: self.keylog,
        };
        let rec = self.records.get_mut(index)?;
        rec.try_compute(&ctx);
        match rec.outcome.as_ref()? {
            Ok(_) => Some(Ok(())),
            Err(e) => Some(Err(e.clone())),
        }
    }

    fn packet_key(&self, index: usize, dir: usize) -> Result<PacketKey, String> {
        let Some(Some(Ok(o))) = self.records.get(index).map(|r| r.outcome.as_ref()) else {
            return Err("no keys".into());
        };
        let keys = if dir == C2S { &o.keys.c2s } else { &o.keys.s2c };
        PacketKey::new(keys).map_err(|e| e.to_string())
    }

    fn strict(&self) -> bool {
        self.records.first().is_some_and(KexRecord::strict)
    }

    /// The compression exchange `index` put in force in direction `dir`.
    fn compression(&self, index: usize, dir: usize) -> CompressionAlg {
        let negotiated = self.records.get(index).and_then(KexRecord::negotiated);
        match negotiated {
            Some(n) if dir == C2S => n.compression_c2s,
            Some(n) => n.compression_s2c,
            None => CompressionAlg::None,
        }
    }
}

/// A direction's compression after its last NEWKEYS.
enum Inflation {
    /// Payloads as they are.
    Off,
    /// `zlib@openssh.com` before authentication succeeded.
    Delayed,
    /// Every payload is inflated by this stream.
    On(Box<Inflater>),
}

struct DirState<'a> {
    dir: usize,
    src: &'a Direction,
    /// Bytes consumed by the line phase.
    pos: usize,
    /// The binary phase's remaining bytes, once the identification line was read.
    buf: Option<BytesMut>,
    reader: PacketReader,
    inflation: Inflation,
    /// The server's direction: USERAUTH_SUCCESS went by.
    authenticated: bool,
    encrypted: bool,
    kexinits: usize,
    awaiting: bool,
    done: bool,
    error: Option<String>,
    units: Vec<Unit>,
}

impl<'a> DirState<'a> {
    fn new(dir: usize, src: &'a Direction) -> Self {
        DirState {
            dir,
            src,
            pos: 0,
            buf: None,
            reader: PacketReader::new(MAX_PACKET),
            inflation: Inflation::Off,
            authenticated: false,
            encrypted: false,
            kexinits: 0,
            awaiting: false,
            done: false,
            error: None,
            units: Vec::new(),
        }
    }

    fn consumed(&self) -> usize {
        match &self.buf {
            Some(b) => self.src.data.len() - b.len(),
            None => self.pos,
        }
    }

    fn stop(&mut self, error: Option<String>) -> Step {
        self.done = true;
        self.error = error;
        Step::Done
    }

    fn step(&mut self, shared: &mut Shared<'_>) -> Step {
        if self.done {
            return Step::Done;
        }
        if self.buf.is_none() {
            return self.line(shared);
        }
        if self.awaiting {
            let index = self.kexinits.saturating_sub(1);
            match shared.keys(index) {
                None => return Step::Blocked,
                Some(Err(e)) => return self.stop(Some(format!("key exchange {index}: {e}"))),
                Some(Ok(())) => match shared.packet_key(index, self.dir) {
                    Ok(key) => {
                        self.reader.set_key(key, shared.strict());
                        self.encrypted = true;
                        self.awaiting = false;
                        self.inflation = match shared.compression(index, self.dir) {
                            CompressionAlg::None => Inflation::Off,
                            // The client's side starts by the capture time of USERAUTH_SUCCESS
                            // (`compressing_at`), which may not have been read yet.
                            CompressionAlg::ZlibOpenssh if !self.authenticated => {
                                Inflation::Delayed
                            }
                            _ => Inflation::On(Box::new(Inflater::new(MAX_PACKET))),
                        };
                    }
                    Err(e) => return self.stop(Some(e)),
                },
            }
        }
        if self.dir == C2S
            && matches!(self.inflation, Inflation::Delayed)
            && shared.auth_success.is_none()
            && !shared.server_done
        {
            // Whether the client's next packet is compressed depends on when the server's
            // USERAUTH_SUCCESS went by.
            return Step::Blocked;
        }
        self.packet(shared)
    }

    fn line(&mut self, shared: &mut Shared<'_>) -> Step {
        if self.units.len() >= MAX_LINES || self.pos > MAX_LINES * 1024 {
            return self.stop(Some("no SSH identification line".into()));
        }
        let rest = self.src.data.get(self.pos..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return self.stop(None);
        };
        let raw = rest.get(..nl).unwrap_or_default();
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let ident = line.starts_with(b"SSH-");
        self.pos += nl + 1;
        self.units.push(Unit {
            dir: self.dir,
            time: self.src.time_at(self.pos),
            wire_len: nl + 1,
            body: Body::Line {
                text: String::from_utf8_lossy(line).into_owned(),
                ident,
            },
        });
        if ident {
            if let Some(slot) = shared.idents.get_mut(self.dir) {
                *slot = Some(line.to_vec());
            }
            self.buf = Some(BytesMut::from(
                self.src.data.get(self.pos..).unwrap_or_default(),
            ));
        }
        Step::Progress
    }

    fn packet(&mut self, shared: &mut Shared<'_>) -> Step {
        let start = self.consumed();
        let Some(buf) = self.buf.as_mut() else {
            return self.stop(None);
        };
        let seq = self.reader.seq();
        let packet = match self.reader.next_packet(buf) {
            Ok(Some(p)) => p,
            Ok(None) => return self.stop(None),
            Err(e) => return self.stop(Some(format!("packet seq {seq}: {e}"))),
        };
        let end = self.consumed();
        let time = self.src.time_at(end);
        let compressed = self.compressing_at(time, &packet.payload, shared);
        let payload = match self.inflate(packet.payload) {
            Ok(p) => p,
            Err(e) => return self.stop(Some(format!("packet seq {}: {e}", packet.seq))),
        };
        let number = payload.first().copied().unwrap_or(0);
        match number {
            20 => {
                self.kexinits += 1;
                let rec = shared.record(self.kexinits - 1);
                if let Some(slot) = rec.and_then(|r| r.kexinit.get_mut(self.dir)) {
                    *slot = Some(payload.clone());
                }
            }
            21 if self.kexinits == 0 => {
                return self.stop(Some("NEWKEYS before any KEXINIT".into()));
            }
            21 => self.awaiting = true,
            30..=49 if self.kexinits > 0 => {
                let rec = shared.record(self.kexinits - 1);
                if let Some(msgs) = rec.and_then(|r| r.msgs.get_mut(self.dir)) {
                    msgs.push(payload.clone());
                }
            }
            52 if self.dir == S2C && !self.authenticated => {
                self.authenticated = true;
                shared.auth_success = Some(time);
                if matches!(self.inflation, Inflation::Delayed) {
                    self.inflation = Inflation::On(Box::new(Inflater::new(MAX_PACKET)));
                }
            }
            _ => {}
        }
        self.units.push(Unit {
            dir: self.dir,
            time,
            wire_len: end - start,
            body: Body::Message {
                seq: packet.seq,
                payload,
                kex: self.kexinits.saturating_sub(1),
                encrypted: self.encrypted,
                compressed,
            },
        });
        Step::Progress
    }

    /// Whether the packet captured at `time` is compressed; starts the client's delayed stream
    /// at its first packet after the server's USERAUTH_SUCCESS.
    fn compressing_at(&mut self, time: u64, payload: &[u8], shared: &Shared<'_>) -> bool {
        if let (Inflation::Delayed, Some(t)) = (&self.inflation, shared.auth_success) {
            // The client compresses what it sends after it received USERAUTH_SUCCESS; a packet
            // captured in the same tick counts when it starts as a zlib stream does (0x78: no
            // message has that number).
            if self.dir == C2S && (time > t || (time == t && payload.first() == Some(&0x78))) {
                self.inflation = Inflation::On(Box::new(Inflater::new(MAX_PACKET)));
            }
        }
        matches!(self.inflation, Inflation::On(_))
    }

    /// The payload as sent, inflated when compression is in force for it.
    fn inflate(&mut self, payload: Bytes) -> Result<Bytes, String> {
        match &mut self.inflation {
            Inflation::On(inflater) => inflater
                .decompress(&payload)
                .map(Bytes::copy_from_slice)
                .map_err(|e| e.to_string()),
            _ => Ok(payload),
        }
    }

    fn report(&self) -> DirReport {
        let mut error = self.error.clone();
        if error.is_none() && self.awaiting {
            error = Some("NEWKEYS without the rest of its key exchange in the capture".into());
        }
        DirReport {
            bytes: self.src.data.len(),
            decoded: self.consumed(),
            after_gap: self.src.after_gap,
            error,
        }
    }
}

/// Decodes both directions of a stream.
pub fn decode(stream: &Stream, keylog: &KeyLog) -> Decoded {
    let mut shared = Shared {
        records: Vec::new(),
        idents: [None, None],
        keylog,
        auth_success: None,
        server_done: false,
    };
    let mut dirs = [
        DirState::new(C2S, &stream.c2s),
        DirState::new(S2C, &stream.s2c),
    ];
    loop {
        let mut progressed = false;
        for d in dirs.iter_mut() {
            loop {
                match d.step(&mut shared) {
                    Step::Progress => progressed = true,
                    Step::Done if d.dir == S2C && !shared.server_done => {
                        shared.server_done = true;
                        progressed = true;
                        break;
                    }
                    _ => break,
                }
            }
        }
        if !progressed {
            break;
        }
    }
    let [c2s, s2c] = dirs;
    let reports = [c2s.report(), s2c.report()];
    let mut units = c2s.units;
    units.extend(s2c.units);
    Decoded {
        units,
        records: shared.records,
        reports,
    }
}
