//! A small reader of capture files: classic pcap (either byte order, micro- or nanosecond
//! timestamps) and pcapng (section header, interface description, enhanced and simple packet
//! blocks; other blocks are skipped).

use anyhow::{bail, Context};

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time in nanoseconds since the epoch.
    pub ts_ns: u64,
    /// The link type of its interface (LINKTYPE_* of the pcap registry).
    pub link: u32,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// Reads integers in one byte order.
#[derive(Clone, Copy)]
struct Endian {
    little: bool,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.little {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    }
}

/// Every frame of a pcap or pcapng file.
pub fn read_frames(file: &[u8]) -> anyhow::Result<Vec<Frame>> {
    let magic = file
        .get(..4)
        .context("capture file shorter than its magic number")?;
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(file),
        [0xd4, 0xc3, 0xb2, 0xa1] => read_pcap(file, Endian { little: true }, 1_000),
        [0x4d, 0x3c, 0xb2, 0xa1] => read_pcap(file, Endian { little: true }, 1),
        [0xa1, 0xb2, 0xc3, 0xd4] => read_pcap(file, Endian { little: false }, 1_000),
        [0xa1, 0xb2, 0x3c, 0x4d] => read_pcap(file, Endian { little: false }, 1),
        _ => bail!("not a pcap or pcapng file (magic {magic:02x?})"),
    }
}

/// Classic pcap: a 24-byte header, then `ts_sec, ts_frac, incl_len, orig_len` and the bytes.
fn read_pcap(file: &[u8], e: Endian, frac_ns: u64) -> anyhow::Result<Vec<Frame>> {
    let link = e.u32(file, 20).context("truncated pcap header")? & 0x0fff_ffff;
    let mut frames = Vec::new();
    let mut at = 24;
    while at < file.len() {
        let (Some(sec), Some(frac), Some(len)) =
            (e.u32(file, at), e.u32(file, at + 4), e.u32(file, at + 8))
        else {
            bail!("truncated pcap record at byte {at}");
        };
        let start = at + 16;
        let data = file
            .get(start..start + len as usize)
            .with_context(|| format!("truncated pcap record at byte {at}"))?;
        frames.push(Frame {
            ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(frac) * frac_ns,
            link,
            data: data.to_vec(),
        });
        at = start + len as usize;
    }
    Ok(frames)
}

/// An interface of a pcapng section: its link type and timestamp unit in nanoseconds (or, for
/// units below a nanosecond, how many units make one).
#[derive(Clone, Copy)]
struct Interface {
    link: u32,
    unit: TsUnit,
}

#[derive(Clone, Copy)]
enum TsUnit {
    /// Nanoseconds per unit.
    Nanos(u64),
    /// Units per nanosecond.
    PerNano(u64),
}

impl TsUnit {
    fn to_ns(self, ts: u64) -> u64 {
        match self {
            TsUnit::Nanos(n) => ts.saturating_mul(n),
            TsUnit::PerNano(n) => ts / n.max(1),
        }
    }

    /// From the `if_tsresol` option: 10^-v seconds, or 2^-v with the high bit set.
    fn from_tsresol(v: u8) -> TsUnit {
        let per_second: u128 = if v & 0x80 == 0 {
            10u128.saturating_pow(u32::from(v))
        } else {
            1u128 << u32::from(v & 0x7f).min(100)
        };
        if per_second <= 1_000_000_000 {
            TsUnit::Nanos((1_000_000_000 / per_second.max(1)) as u64)
        } else {
            TsUnit::PerNano(u64::try_from(per_second / 1_000_000_000).unwrap_or(u64::MAX))
        }
    }
}

/// pcapng: blocks of `type, total_length, body, total_length`.
fn read_pcapng(file: &[u8]) -> anyhow::Result<Vec<Frame>> {
    let mut frames = Vec::new();
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut e = Endian { little: true };
    let mut at = 0;
    while at + 12 <= file.len() {
        if file.get(at..at + 4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            e = match file.get(at + 8..at + 12) {
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => Endian { little: true },
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => Endian { little: false },
                _ => bail!("pcapng section header with a bad byte-order magic at {at}"),
            };
            ifaces.clear();
        }
        let kind = e.u32(file, at).context("truncated pcapng block")?;
        let total = e.u32(file, at + 4).context("truncated pcapng block")? as usize;
        if total < 12 || !total.is_multiple_of(4) {
            bail!("pcapng block of length {total} at byte {at}");
        }
        let body = file
            .get(at + 8..at + total - 4)
            .with_context(|| format!("truncated pcapng block at byte {at}"))?;
        match kind {
            1 => ifaces.push(interface(body, e)),
            6 => frames.extend(enhanced_packet(body, e, &ifaces)),
            3 => frames.extend(simple_packet(body, e, &ifaces)),
            _ => {}
        }
        at += total;
    }
    Ok(frames)
}

fn interface(body: &[u8], e: Endian) -> Interface {
    let link = u32::from(e.u16(body, 0).unwrap_or(0));
    let mut unit = TsUnit::Nanos(1_000);
    let mut at = 8;
    while let (Some(code), Some(len)) = (e.u16(body, at), e.u16(body, at + 2)) {
        if code == 0 {
            break;
        }
        if code == 9 {
            if let Some(&v) = body.get(at + 4) {
                unit = TsUnit::from_tsresol(v);
            }
        }
        at += 4 + usize::from(len).div_ceil(4) * 4;
    }
    Interface { link, unit }
}

fn enhanced_packet(body: &[u8], e: Endian, ifaces: &[Interface]) -> Option<Frame> {
    let iface = ifaces.get(e.u32(body, 0)? as usize)?;
    let ts = (u64::from(e.u32(body, 4)?) << 32) | u64::from(e.u32(body, 8)?);
    let len = e.u32(body, 12)? as usize;
    let data = body.get(20..20 + len)?;
    Some(Frame {
        ts_ns: iface.unit.to_ns(ts),
        link: iface.link,
        data: data.to_vec(),
    })
}

fn simple_packet(body: &[u8], e: Endian, ifaces: &[Interface]) -> Option<Frame> {
    let iface = ifaces.first()?;
    let len = (e.u32(body, 0)? as usize).min(body.len().saturating_sub(4));
    Some(Frame {
        ts_ns: 0,
        link: iface.link,
        data: body.get(4..4 + len)?.to_vec(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_little_endian_pcap() {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for v in [5u32, 7, 3, 3] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(b"abc");
        let frames = read_frames(&f).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, b"abc");
        assert_eq!(frames[0].ts_ns, 5_000_007_000);
        assert_eq!(frames[0].link, 1);
    }
}
