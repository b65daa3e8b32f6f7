//! From link-layer frames to TCP byte streams: Ethernet, Linux cooked (v1 and v2), BSD loopback
//! and raw IP framing; IPv4 and IPv6; TCP streams reassembled by sequence number, each direction
//! on its own. Retransmitted and overlapping segments contribute only their new bytes; a gap
//! ends the direction (what follows it is reported as not captured).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::capture::Frame;

/// One direction of a TCP connection, reassembled.
#[derive(Debug, Default)]
pub struct Direction {
    /// The bytes in order, up to the first gap.
    pub data: Vec<u8>,
    /// `(end offset, capture time)`: the stream reached `end` bytes with the segment captured
    /// at that time. Increasing in offset.
    pub times: Vec<(usize, u64)>,
    /// Bytes of segments beyond a gap (not part of `data`).
    pub after_gap: usize,
}

impl Direction {
    /// The capture time of the segment that completed byte `end - 1`.
    pub fn time_at(&self, end: usize) -> u64 {
        let i = self.times.partition_point(|&(e, _)| e < end);
        self.times
            .get(i)
            .or(self.times.last())
            .map_or(0, |&(_, t)| t)
    }
}

/// A TCP connection: who connected, and both directions.
#[derive(Debug)]
pub struct Stream {
    /// The side that sent SYN (or, without one in the capture, the higher port).
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Client to server.
    pub c2s: Direction,
    /// Server to client.
    pub s2c: Direction,
}

/// One TCP segment as captured.
struct Segment {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    payload: Vec<u8>,
    ts: u64,
}

#[derive(Default)]
struct Half {
    isn: Option<u32>,
    segs: Vec<(u32, u64, Vec<u8>)>,
}

struct Conn {
    client: Option<SocketAddr>,
    a: SocketAddr,
    b: SocketAddr,
    halves: [Half; 2],
}

impl Conn {
    fn half(&mut self, src: SocketAddr) -> &mut Half {
        let [first, second] = &mut self.halves;
        if src == self.a {
            first
        } else {
            second
        }
    }

    fn has_data(&self) -> bool {
        self.halves.iter().any(|h| !h.segs.is_empty())
    }
}

/// Every TCP connection of the frames, in order of first appearance.
pub fn streams(frames: &[Frame]) -> Vec<Stream> {
    let mut conns: Vec<Conn> = Vec::new();
    let mut open: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for seg in frames.iter().filter_map(segment) {
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let fresh_syn = seg.syn && !seg.ack;
        let index = match open.get(&key) {
            Some(&i) if !(fresh_syn && conns.get(i).is_some_and(Conn::has_data)) => i,
            _ => {
                conns.push(Conn {
                    client: None,
                    a: seg.src,
                    b: seg.dst,
                    halves: Default::default(),
                });
                open.insert(key, conns.len() - 1);
                conns.len() - 1
            }
        };
        let Some(conn) = conns.get_mut(index) else {
            continue;
        };
        if fresh_syn {
            conn.client = Some(seg.src);
        }
        let half = conn.half(seg.src);
        if seg.syn {
            half.isn = Some(seg.seq.wrapping_add(1));
        }
        if !seg.payload.is_empty() {
            half.segs.push((seg.seq, seg.ts, seg.payload));
        }
    }
    conns.into_iter().filter_map(finish).collect()
}

fn finish(mut conn: Conn) -> Option<Stream> {
    if !conn.has_data() {
        return None;
    }
    let [ha, hb] = std::mem::take(&mut conn.halves);
    let (a, b) = (conn.a, conn.b);
    let client = conn
        .client
        .unwrap_or(if a.port() > b.port() { a } else { b });
    let (c2s, s2c, server) = if client == a {
        (ha, hb, b)
    } else {
        (hb, ha, a)
    };
    Some(Stream {
        client,
        server,
        c2s: assemble(c2s),
        s2c: assemble(s2c),
    })
}

/// Orders the segments by sequence number and keeps each byte once.
fn assemble(half: Half) -> Direction {
    let mut out = Direction::default();
    let Some(base) = half.isn.or_else(|| lowest_seq(&half.segs)) else {
        return out;
    };
    let mut segs: Vec<(u64, u64, Vec<u8>)> = half
        .segs
        .into_iter()
        .filter_map(|(seq, ts, data)| {
            let off = seq.wrapping_sub(base);
            (off < 1 << 31).then_some((u64::from(off), ts, data))
        })
        .collect();
    segs.sort_by_key(|&(off, ts, _)| (off, ts));
    let mut latest = 0;
    for (off, ts, data) in segs {
        let have = out.data.len() as u64;
        let end = off + data.len() as u64;
        if off > have {
            out.after_gap += data.len();
            continue;
        }
        if end <= have {
            continue;
        }
        let skip = usize::try_from(have - off).unwrap_or(usize::MAX);
        out.data
            .extend_from_slice(data.get(skip..).unwrap_or_default());
        // Capture times stay in stream order even when segments arrived reordered.
        latest = latest.max(ts);
        out.times.push((out.data.len(), latest));
    }
    out
}

fn lowest_seq(segs: &[(u32, u64, Vec<u8>)]) -> Option<u32> {
    let first = segs.first()?.0;
    segs.iter()
        .map(|s| s.0)
        .min_by_key(|&s| s.wrapping_sub(first) as i32)
}

/// The IP packet inside a frame of this link type.
fn ip_payload(link: u32, data: &[u8]) -> Option<&[u8]> {
    match link {
        // Ethernet, with at most one VLAN tag.
        1 => {
            let ethertype = u16::from_be_bytes(data.get(12..14)?.try_into().ok()?);
            if ethertype == 0x8100 {
                data.get(18..)
            } else {
                data.get(14..)
            }
        }
        // Linux cooked capture v1 and v2.
        113 => data.get(16..),
        276 => data.get(20..),
        // BSD loopback: a 4-byte address family.
        0 | 109 => data.get(4..),
        // Raw IP.
        12 | 14 | 101 | 228 | 229 => Some(data),
        _ => None,
    }
}

fn segment(frame: &Frame) -> Option<Segment> {
    let ip = ip_payload(frame.link, &frame.data)?;
    let (src, dst, tcp) = match ip.first()? >> 4 {
        4 => ipv4(ip)?,
        6 => ipv6(ip)?,
        _ => return None,
    };
    let sport = u16::from_be_bytes(tcp.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(tcp.get(2..4)?.try_into().ok()?);
    let seq = u32::from_be_bytes(tcp.get(4..8)?.try_into().ok()?);
    let offset = usize::from(tcp.get(12)? >> 4) * 4;
    let flags = *tcp.get(13)?;
    Some(Segment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        syn: flags & 0x02 != 0,
        ack: flags & 0x10 != 0,
        payload: tcp.get(offset..)?.to_vec(),
        ts: frame.ts_ns,
    })
}

fn ipv4(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
    if *ip.get(9)? != 6 {
        return None;
    }
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    let end = total.min(ip.len());
    Some((
        IpAddr::V4(Ipv4Addr::from(src)),
        IpAddr::V4(Ipv4Addr::from(dst)),
        ip.get(ihl..end)?,
    ))
}

fn ipv6(ip: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let len = usize::from(u16::from_be_bytes(ip.get(4..6)?.try_into().ok()?));
    if *ip.get(6)? != 6 {
        return None;
    }
    let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
    let end = (40 + len).min(ip.len());
    Some((
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
        ip.get(40..end)?,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A raw-IPv4 frame (link type 101) holding one TCP segment.
    fn frame(src: u16, dst: u16, seq: u32, flags: u8, payload: &[u8], ts: u64) -> Frame {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        let total = u16::try_from(20 + 20 + payload.len()).unwrap();
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&src.to_be_bytes());
        tcp[2..4].copy_from_slice(&dst.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        ip.extend(tcp);
        ip.extend_from_slice(payload);
        Frame {
            ts_ns: ts,
            link: 101,
            data: ip,
        }
    }

    #[test]
    fn retransmits_and_reordering_keep_each_byte_once() {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        let frames = [
            frame(40000, 22, 99, SYN, b"", 1),
            frame(22, 40000, 499, SYN | ACK, b"", 2),
            frame(40000, 22, 100, ACK, b"hello ", 3),
            // Out of order ("there" before "world "), a partial and a full retransmission.
            frame(40000, 22, 112, ACK, b"there", 4),
            frame(40000, 22, 106, ACK, b"wor", 5),
            frame(40000, 22, 106, ACK, b"world ", 6),
            frame(40000, 22, 100, ACK, b"hello ", 7),
            frame(22, 40000, 500, ACK, b"SSH-2.0-x\r\n", 8),
            // A gap: bytes 11..20 were never captured.
            frame(22, 40000, 520, ACK, b"late", 9),
        ];
        let streams = streams(&frames);
        assert_eq!(streams.len(), 1);
        let s = &streams[0];
        assert_eq!(s.client.port(), 40000);
        assert_eq!(s.c2s.data, b"hello world there");
        assert_eq!(s.s2c.data, b"SSH-2.0-x\r\n");
        assert_eq!(s.s2c.after_gap, 4);
        // "there" completed the stream at the time " world" was captured, not before.
        assert_eq!(s.c2s.time_at(s.c2s.data.len()), 6);
    }
}
