//! One direction of a simulated byte stream between two sans-IO machines: deliveries split into
//! chunks, a delay on the simulated clock, and faults placed at byte offsets of the stream
//! (drop, corrupt, duplicate, reorder), so a test says exactly which bytes go wrong.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A fault at an offset of the bytes one side sends (counted from its first byte).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// These bytes never arrive.
    Drop {
        /// Offset of the first byte.
        at: u64,
        /// How many bytes.
        len: u64,
    },
    /// This byte arrives XORed with `mask`.
    Corrupt {
        /// Offset of the byte.
        at: u64,
        /// Bits to flip.
        mask: u8,
    },
    /// These bytes arrive twice in a row (as far as they lie in the same flight).
    Duplicate {
        /// Offset of the first byte.
        at: u64,
        /// How many bytes.
        len: u64,
    },
    /// The flight holding this byte arrives after the next flight.
    Reorder {
        /// Offset of a byte of the flight.
        at: u64,
    },
}

/// A direction of the simulated stream.
#[derive(Debug)]
pub struct Link {
    /// Bytes per delivery to the receiver (1 = a byte at a time); 0: each flight at once.
    pub chunk: usize,
    /// Time between sending and arrival.
    pub delay: Duration,
    /// Faults to apply, by offset.
    pub faults: Vec<Fault>,
    /// Bytes sent so far (the offset of the next byte).
    sent: u64,
    /// Flights on their way: arrival time and bytes.
    in_flight: VecDeque<(Instant, Vec<u8>)>,
    /// A flight held back by [`Fault::Reorder`] until the next one is sent.
    reordered: Option<Vec<u8>>,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            chunk: 0,
            delay: Duration::ZERO,
            faults: Vec::new(),
            sent: 0,
            in_flight: VecDeque::new(),
            reordered: None,
        }
    }
}

impl Link {
    /// Bytes sent through this direction so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Whether bytes are still on their way.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.reordered.is_none()
    }

    /// When the next flight arrives, if one is on its way.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.in_flight.front().map(|(t, _)| *t)
    }

    /// A flight leaves the sender at `now`.
    pub fn send(&mut self, now: Instant, bytes: &[u8]) {
        let start = self.sent;
        self.sent += bytes.len() as u64;
        let end = self.sent;
        let mut out = Vec::with_capacity(bytes.len());
        for (i, b) in bytes.iter().enumerate() {
            let at = start + i as u64;
            if self.dropped(at) {
                continue;
            }
            out.push(self.corrupted(at, *b));
            if let Some(copy) = self.duplicate_ending(at, start, bytes) {
                out.extend_from_slice(&copy);
            }
        }
        let reorder = self
            .faults
            .iter()
            .any(|f| matches!(f, Fault::Reorder { at } if (start..end).contains(at)));
        let arrival = now + self.delay;
        if reorder {
            self.reordered = Some(out);
            return;
        }
        self.in_flight.push_back((arrival, out));
        if let Some(held) = self.reordered.take() {
            self.in_flight.push_back((arrival, held));
        }
    }

    fn dropped(&self, at: u64) -> bool {
        self.faults
            .iter()
            .any(|f| matches!(f, Fault::Drop { at: s, len } if (*s..s + len).contains(&at)))
    }

    fn corrupted(&self, at: u64, b: u8) -> u8 {
        self.faults.iter().fold(b, |b, f| match f {
            Fault::Corrupt { at: a, mask } if *a == at => b ^ mask,
            _ => b,
        })
    }

    /// At the last byte of a duplicated range, the range again (its part in this flight).
    fn duplicate_ending(&self, at: u64, start: u64, bytes: &[u8]) -> Option<Vec<u8>> {
        self.faults.iter().find_map(|f| match f {
            Fault::Duplicate { at: s, len } if *len > 0 && s + len - 1 == at => {
                let from = usize::try_from(s.saturating_sub(start)).ok()?;
                let to = usize::try_from(at - start + 1).ok()?;
                bytes.get(from..to).map(<[u8]>::to_vec)
            }
            _ => None,
        })
    }

    /// The deliveries due at `now`, each at most `chunk` bytes.
    pub fn arrivals(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let mut due = Vec::new();
        while self.in_flight.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, bytes)) = self.in_flight.pop_front() {
                if self.chunk == 0 {
                    due.push(bytes);
                } else {
                    due.extend(bytes.chunks(self.chunk).map(<[u8]>::to_vec));
                }
            }
        }
        due
    }
}
