//! Plaintext SSH spoken byte by byte over a blocking socket: the identification exchange and
//! every packet before NEWKEYS, framed by hand so that a check can send whatever it wants
//! (wrong padding, lines before the version, a guessed kex packet) and see each packet the server
//! sends back.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use nacre::transport::msg::KexInit;
use nacre_crypto::{Rng, SystemRng};
use nacre_wire::{decode_exact, put, Reader};

use super::Target;

/// Largest packet the raw reader accepts from a server before NEWKEYS.
const MAX_PLAIN_PACKET: usize = 1 << 20;

/// What the server did after something was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A packet (its whole payload).
    Packet(Vec<u8>),
    /// The server closed the connection (after or without DISCONNECT).
    Closed,
    /// Nothing more within the timeout.
    Silence,
    /// Bytes that are not a valid packet.
    Garbage(String),
}

/// A readable list of what was seen.
pub fn describe(seen: &[Seen]) -> String {
    let parts: Vec<String> = seen
        .iter()
        .map(|s| match s {
            Seen::Packet(p) => describe_payload(p),
            Seen::Closed => "connection closed".to_owned(),
            Seen::Silence => "nothing (timeout)".to_owned(),
            Seen::Garbage(g) => g.clone(),
        })
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// One payload in a few words: its message name, and the fields that matter for DISCONNECT,
/// UNIMPLEMENTED and DEBUG.
pub fn describe_payload(p: &[u8]) -> String {
    let Some(&n) = p.first() else {
        return "empty payload".to_owned();
    };
    let name = format!("{:?}", nacre_wire::MsgNumber(n));
    let mut r = Reader::new(p.get(1..).unwrap_or(&[]));
    match n {
        1 => {
            let reason = r.u32().unwrap_or(0);
            let text = r.string().map(String::from_utf8_lossy).unwrap_or_default();
            format!(
                "DISCONNECT({:?}, {text:?})",
                nacre_wire::DisconnectReason(reason)
            )
        }
        3 => format!("UNIMPLEMENTED(seq {})", r.u32().unwrap_or(u32::MAX)),
        4 => {
            let _ = r.bool();
            let text = r.string().map(String::from_utf8_lossy).unwrap_or_default();
            format!("DEBUG({text:?})")
        }
        _ => name,
    }
}

/// Whether `seen` holds a DISCONNECT or a close.
pub fn disconnected(seen: &[Seen]) -> bool {
    seen.iter().any(|s| {
        matches!(s, Seen::Closed | Seen::Garbage(_))
            || matches!(s, Seen::Packet(p) if p.first() == Some(&1))
    })
}

/// The sequence numbers of the UNIMPLEMENTED packets in `seen`.
pub fn unimplemented(seen: &[Seen]) -> Vec<u32> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Packet(p) if p.first() == Some(&3) => {
                Reader::new(p.get(1..).unwrap_or(&[])).u32().ok()
            }
            _ => None,
        })
        .collect()
}

/// Whether a packet with message number `n` is in `seen`.
pub fn has_msg(seen: &[Seen], n: u8) -> bool {
    seen.iter()
        .any(|s| matches!(s, Seen::Packet(p) if p.first() == Some(&n)))
}

/// A plaintext connection.
pub struct Raw {
    stream: TcpStream,
    input: Vec<u8>,
    timeout: Duration,
    /// Our sequence number (packets framed with [`Raw::packet`]).
    pub seq_out: u32,
    rng: SystemRng,
}

impl Raw {
    /// Connects to the target.
    pub fn connect(target: &Target) -> anyhow::Result<Raw> {
        use std::net::ToSocketAddrs;
        let addr = (target.host.as_str(), target.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{}: no address", target.host))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        Ok(Raw {
            stream,
            input: Vec::new(),
            timeout: target.timeout,
            seq_out: 0,
            rng: SystemRng,
        })
    }

    /// Writes bytes as they are (errors are ignored: a server that closed shows up on read).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Frames `payload` as a plaintext packet (block size 8, at least 4 bytes of random
    /// padding) and counts its sequence number.
    pub fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut pad = 8 - (payload.len() + 5) % 8;
        if pad < 4 {
            pad += 8;
        }
        let mut padding = vec![0u8; pad];
        self.rng.fill(&mut padding);
        let mut out = put::len32(1 + payload.len() + pad).to_be_bytes().to_vec();
        out.push(pad as u8);
        out.extend_from_slice(payload);
        out.extend_from_slice(&padding);
        self.seq_out = self.seq_out.wrapping_add(1);
        out
    }

    /// Frames and sends `payload`; returns its sequence number.
    pub fn send_packet(&mut self, payload: &[u8]) -> u32 {
        let seq = self.seq_out;
        let p = self.packet(payload);
        self.send(&p);
        seq
    }

    /// Reads more bytes; false on close or timeout (`deadline`).
    fn fill(&mut self, deadline: Instant) -> Result<bool, Seen> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Seen::Silence);
        }
        let _ = self.stream.set_read_timeout(Some(left));
        let mut buf = [0u8; 16 * 1024];
        match self.stream.read(&mut buf) {
            Ok(0) => Err(Seen::Closed),
            Ok(n) => {
                self.input.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Err(Seen::Silence)
            }
            Err(_) => Err(Seen::Closed),
        }
    }

    /// Reads the server's lines up to its identification line: (lines before it, the
    /// identification line with its terminator as received).
    pub fn read_ident(&mut self) -> Result<(Vec<Vec<u8>>, Vec<u8>), Seen> {
        let deadline = Instant::now() + self.timeout.max(Duration::from_secs(5));
        let mut before = Vec::new();
        loop {
            while let Some(nl) = self.input.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=nl).collect();
                if line.starts_with(b"SSH-") {
                    return Ok((before, line));
                }
                before.push(line);
                if before.len() > 1024 {
                    return Err(Seen::Garbage("more than 1024 lines before SSH-".into()));
                }
            }
            if self.input.len() > 8192 {
                return Err(Seen::Garbage("a line longer than 8 KiB".into()));
            }
            self.fill(deadline)?;
        }
    }

    /// The next plaintext packet's payload, or what happened instead.
    pub fn next_packet(&mut self, deadline: Instant) -> Result<Vec<u8>, Seen> {
        loop {
            if self.input.len() >= 5 {
                let mut len = [0u8; 4];
                len.copy_from_slice(self.input.get(..4).unwrap_or(&[0; 4]));
                let len = u32::from_be_bytes(len) as usize;
                let pad = self.input.get(4).copied().unwrap_or(0) as usize;
                if !(5..=MAX_PLAIN_PACKET).contains(&len) || pad + 1 > len {
                    return Err(Seen::Garbage(format!(
                        "undecodable: packet_length {len}, padding_length {pad}"
                    )));
                }
                if self.input.len() >= 4 + len {
                    let packet: Vec<u8> = self.input.drain(..4 + len).collect();
                    return Ok(packet.get(5..4 + len - pad).unwrap_or(&[]).to_vec());
                }
            }
            self.fill(deadline)?;
        }
    }

    /// Collects the server's packets until `stop` says so for one of them, the connection
    /// closes, or nothing comes for the timeout.
    pub fn observe(&mut self, mut stop: impl FnMut(&[u8]) -> bool) -> Vec<Seen> {
        let deadline = Instant::now() + self.timeout;
        let mut seen = Vec::new();
        loop {
            match self.next_packet(deadline) {
                Ok(p) => {
                    let end = stop(&p) || p.first() == Some(&1);
                    seen.push(Seen::Packet(p));
                    if end {
                        return seen;
                    }
                }
                Err(s) => {
                    seen.push(s);
                    return seen;
                }
            }
        }
    }

    /// Reads the server's identification line and KEXINIT after sending `our_banner` (CR LF
    /// included): (identification line without terminator, KEXINIT payload).
    pub fn start(&mut self, our_banner: &[u8]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
        self.send(our_banner);
        let (_, id) = self
            .read_ident()
            .map_err(|s| anyhow::anyhow!("no identification line: {}", describe(&[s])))?;
        let id = trim_eol(&id).to_vec();
        let deadline = Instant::now() + self.timeout.max(Duration::from_secs(5));
        loop {
            let p = self
                .next_packet(deadline)
                .map_err(|s| anyhow::anyhow!("no KEXINIT: {}", describe(&[s])))?;
            if p.first() == Some(&20) {
                return Ok((id, p));
            }
        }
    }

    /// 32 random bytes: a curve25519 public value for KEX_ECDH_INIT.
    pub fn random32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.rng.fill(&mut b);
        b
    }
}

/// A line without its CR LF or LF.
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The banner every raw check sends unless it tests the banner itself.
pub const OUR_BANNER: &[u8] = b"SSH-2.0-nacre_conform\r\n";

/// The fields of a KEXINIT a check sends; the lists the server must agree on are copied from
/// the server's own KEXINIT, so only the fields a check changes matter.
#[derive(Clone, Debug)]
pub struct KexInitSpec {
    /// 16 bytes.
    pub cookie: [u8; 16],
    /// kex_algorithms.
    pub kex: Vec<String>,
    /// server_host_key_algorithms.
    pub host_key: Vec<String>,
    /// Ciphers (both directions).
    pub cipher: Vec<String>,
    /// MACs (both directions).
    pub mac: Vec<String>,
    /// Compression (both directions).
    pub compression: Vec<String>,
    /// first_kex_packet_follows.
    pub follows: bool,
    /// The reserved uint32.
    pub reserved: u32,
}

impl KexInitSpec {
    /// curve25519-sha256 (and its libssh.org name) with the server's host key, cipher, MAC and
    /// compression lists; `markers` are appended to the kex list (ext-info-c, kex-strict-c).
    pub fn matching(server_kexinit: &[u8], markers: &[&str]) -> anyhow::Result<KexInitSpec> {
        let s: KexInit<'_> = decode_exact(server_kexinit)
            .map_err(|e| anyhow::anyhow!("the server's KEXINIT does not decode: {e}"))?;
        let list = |l: &nacre_wire::NameList<'_>| l.iter().map(str::to_owned).collect::<Vec<_>>();
        let mut kex = vec![
            "curve25519-sha256".to_owned(),
            "curve25519-sha256@libssh.org".to_owned(),
        ];
        kex.extend(markers.iter().map(|m| (*m).to_owned()));
        Ok(KexInitSpec {
            cookie: [0x5a; 16],
            kex,
            host_key: list(&s.server_host_key_algorithms),
            cipher: list(&s.encryption_c2s),
            mac: list(&s.mac_c2s),
            compression: list(&s.compression_c2s),
            follows: false,
            reserved: 0,
        })
    }

    /// The payload.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = vec![20];
        out.extend_from_slice(&self.cookie);
        put::name_list(&mut out, &self.kex);
        put::name_list(&mut out, &self.host_key);
        put::name_list(&mut out, &self.cipher);
        put::name_list(&mut out, &self.cipher);
        put::name_list(&mut out, &self.mac);
        put::name_list(&mut out, &self.mac);
        put::name_list(&mut out, &self.compression);
        put::name_list(&mut out, &self.compression);
        put::name_list::<&str>(&mut out, &[]);
        put::name_list::<&str>(&mut out, &[]);
        put::boolean(&mut out, self.follows);
        put::uint32(&mut out, self.reserved);
        out
    }
}

/// KEX_ECDH_INIT (RFC 5656 §4) with the public value `q`.
pub fn ecdh_init(q: &[u8]) -> Vec<u8> {
    let mut out = vec![30];
    put::string(&mut out, q);
    out
}

/// Whether the server offers curve25519-sha256 (either name): the raw checks' key exchange.
pub fn offers_curve25519(server_kexinit: &[u8]) -> bool {
    decode_exact::<KexInit<'_>>(server_kexinit).is_ok_and(|s| {
        s.kex_algorithms
            .iter()
            .any(|n| n == "curve25519-sha256" || n == "curve25519-sha256@libssh.org")
    })
}

/// A raw connection that sent `OUR_BANNER` and read the server's KEXINIT: (connection,
/// server KEXINIT), or an INFO outcome explaining why the check cannot run.
pub fn opened(
    target: &Target,
    name: &str,
    clause: &'static str,
) -> Result<(Raw, Vec<u8>), super::Outcome> {
    let mut raw = Raw::connect(target)
        .map_err(|e| super::Outcome::skipped(name, clause, format!("cannot connect: {e}")))?;
    let (_, kexinit) = raw
        .start(OUR_BANNER)
        .map_err(|e| super::Outcome::skipped(name, clause, e.to_string()))?;
    if !offers_curve25519(&kexinit) {
        return Err(super::Outcome::skipped(
            name,
            clause,
            "the server offers no curve25519-sha256 (the raw checks' exchange)",
        ));
    }
    Ok((raw, kexinit))
}
