//! Packets from a byte stream in any split, sans-IO: [`PacketBuf`] takes the received buffers as
//! they are and yields whole SFTP packets.

use bytes::{Bytes, BytesMut};
use nacre_sftp_codec::parse_frame;
use nacre_wire::WireError;

/// Reassembles SFTP packets: a packet that lies whole in one received buffer is split off it as
/// a view (nothing copied); one that spans buffers is assembled (only its own bytes are copied).
/// A length field above `max_len` (or of 0) is refused as soon as its four bytes are in, so at
/// most one packet is ever assembled.
#[derive(Debug)]
pub struct PacketBuf {
    /// The rest of the last buffer (empty while a packet is being assembled).
    current: Bytes,
    /// A packet that spans buffers, being assembled.
    pending: BytesMut,
    max_len: usize,
}

impl PacketBuf {
    /// Packets of at most `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        PacketBuf {
            current: Bytes::new(),
            pending: BytesMut::new(),
            max_len,
        }
    }

    /// Takes the next received buffer; call [`PacketBuf::next_packet`] until `None` first.
    pub fn push(&mut self, chunk: Bytes) {
        if self.current.is_empty() {
            self.current = chunk;
        } else {
            let mut joined = BytesMut::with_capacity(self.current.len() + chunk.len());
            joined.extend_from_slice(&self.current);
            joined.extend_from_slice(&chunk);
            self.current = joined.freeze();
        }
    }

    /// The next whole packet, from its type byte on (never empty); `None` when more bytes are
    /// needed. After an error the stream is out of sync.
    pub fn next_packet(&mut self) -> Result<Option<Bytes>, WireError> {
        loop {
            if self.pending.is_empty() {
                if let Some(used) = self.whole_frame(&self.current)? {
                    return Ok(Some(self.current.split_to(used).slice(4..)));
                }
                // The start of a packet that continues in the next buffer (or nothing). Room
                // for all of it at once (`whole_frame` checked its length against `max_len`):
                // assembling it never reallocates.
                let whole = frame_len_field(&self.current).map_or(0, |len| 4 + len);
                self.pending.reserve(whole.max(self.current.len()));
                self.pending.extend_from_slice(&self.current);
                self.current.clear();
                return Ok(None);
            }
            if let Some(used) = self.whole_frame(&self.pending)? {
                return Ok(Some(self.pending.split_to(used).freeze().slice(4..)));
            }
            if self.current.is_empty() {
                return Ok(None);
            }
            // Only what the pending packet still needs is copied; the rest stays a view.
            let take = self.still_needed().min(self.current.len());
            self.pending.extend_from_slice(&self.current.split_to(take));
        }
    }

    /// The length of the whole frame at the start of `buf`, if it is all there.
    fn whole_frame(&self, buf: &[u8]) -> Result<Option<usize>, WireError> {
        Ok(parse_frame(buf, self.max_len)?.map(|(_, used)| used))
    }

    /// Bytes the pending packet lacks: up to its length field, then up to its end.
    fn still_needed(&self) -> usize {
        match frame_len_field(&self.pending) {
            Some(len) => (4 + len).saturating_sub(self.pending.len()).max(1),
            None => 4usize.saturating_sub(self.pending.len()),
        }
    }
}

/// The length field at the start of `buf`, once its four bytes are there.
fn frame_len_field(buf: &[u8]) -> Option<usize> {
    let len = buf.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok())?;
    usize::try_from(u32::from_be_bytes(len)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    fn packets(chunks: Vec<Bytes>, max_len: usize) -> Result<Vec<Bytes>, WireError> {
        let mut s = PacketBuf::new(max_len);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c);
            while let Some(p) = s.next_packet()? {
                out.push(p);
            }
        }
        Ok(out)
    }

    #[test]
    fn packets_whole_in_a_chunk_are_views_and_split_ones_are_assembled() {
        let bodies: Vec<Vec<u8>> =
            vec![vec![101; 10], vec![102; 3000], vec![103; 1], vec![104; 70]];
        let stream: Vec<u8> = bodies.iter().flat_map(|b| frame(b)).collect();
        // Every way of cutting the stream in two, then byte by byte.
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let chunks = vec![Bytes::copy_from_slice(a), Bytes::copy_from_slice(b)];
            let got = packets(chunks, 4096).unwrap();
            assert_eq!(
                got.iter().map(|p| p.to_vec()).collect::<Vec<_>>(),
                bodies,
                "cut {cut}"
            );
        }
        let bytewise = stream
            .iter()
            .map(|b| Bytes::copy_from_slice(&[*b]))
            .collect();
        let got = packets(bytewise, 4096).unwrap();
        assert_eq!(got.iter().map(|p| p.to_vec()).collect::<Vec<_>>(), bodies);
        // One chunk per packet: each packet is a view of its chunk, nothing copied.
        let chunks: Vec<Bytes> = bodies.iter().map(|b| Bytes::from(frame(b))).collect();
        let got = packets(chunks.clone(), 4096).unwrap();
        for (p, c) in got.iter().zip(&chunks) {
            assert_eq!(p.as_ptr(), c[4..].as_ptr());
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_its_body_arrives() {
        let chunks = vec![
            Bytes::from_static(&[0, 0]),
            Bytes::from_static(&[0x20, 0, 9]),
        ];
        assert!(packets(chunks, 4096).is_err());
    }
}
