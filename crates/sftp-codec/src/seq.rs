//! [`Seq`]: a sequence of wire items, either borrowed from a decoded packet (validated once,
//! iterated without allocation) or from the caller's slice when building a packet.

use nacre_wire::{put, Reader, WireError};

use crate::field::Field;

/// An element of a [`Seq`]: a [`Field`] that is cheap to copy and has a minimum wire size, used
/// to check a peer's count against the bytes that remain before anything is parsed.
pub trait Item<'a>: Field<'a> + Copy + PartialEq {
    /// Fewest bytes one item takes on the wire.
    const MIN_LEN: usize;
}

impl Item<'_> for u32 {
    const MIN_LEN: usize = 4;
}

impl<'a> Item<'a> for &'a [u8] {
    const MIN_LEN: usize = 4;
}

/// A sequence of items: the extension pairs of VERSION and of attributes, the entries of NAME,
/// the id and name lists of `users-groups-by-id@openssh.com`.
///
/// Decoded sequences borrow the validated wire bytes and parse items as they are iterated;
/// sequences built with [`Seq::from_slice`] borrow the caller's items. Both compare equal when
/// their items do.
pub struct Seq<'a, T> {
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    Wire { bytes: &'a [u8], count: usize },
    Items(&'a [T]),
}

impl<T> Clone for Repr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Repr<'_, T> {}

impl<T> Clone for Seq<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Seq<'_, T> {}

impl<T> Default for Seq<'_, T> {
    fn default() -> Self {
        Seq::new()
    }
}

impl<'a, T> Seq<'a, T> {
    /// The empty sequence.
    pub const fn new() -> Self {
        Seq {
            repr: Repr::Items(&[]),
        }
    }

    /// A sequence of the caller's items (for encoding).
    pub const fn from_slice(items: &'a [T]) -> Self {
        Seq {
            repr: Repr::Items(items),
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Wire { count, .. } => count,
            Repr::Items(items) => items.len(),
        }
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'a, T: Item<'a>> Seq<'a, T> {
    /// The items, in order.
    pub fn iter(&self) -> SeqIter<'a, T> {
        SeqIter {
            inner: match self.repr {
                Repr::Wire { bytes, count } => IterRepr::Wire {
                    reader: Reader::new(bytes),
                    left: count,
                },
                Repr::Items(items) => IterRepr::Items(items.iter()),
            },
        }
    }

    /// The items collected into a vector.
    pub fn to_vec(&self) -> Vec<T> {
        self.iter().collect()
    }

    /// Reads `count` items from `r`. The count is checked against the bytes that remain (at
    /// [`Item::MIN_LEN`] bytes an item) before anything is parsed.
    pub(crate) fn read_counted(r: &mut Reader<'a>, count: u32) -> Result<Self, WireError> {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let start = r.remaining();
        let min = count.saturating_mul(T::MIN_LEN);
        if min > start.len() {
            return Err(WireError::Truncated {
                needed: min - start.len(),
            });
        }
        for _ in 0..count {
            T::read(r)?;
        }
        let used = start.len() - r.remaining().len();
        let bytes = start.get(..used).unwrap_or_default();
        Ok(Seq {
            repr: Repr::Wire { bytes, count },
        })
    }

    /// Reads items until `bytes` is exhausted; a partial last item is an error.
    pub(crate) fn read_to_end(bytes: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let mut count = 0usize;
        while !r.is_empty() {
            T::read(&mut r)?;
            count += 1;
        }
        Ok(Seq {
            repr: Repr::Wire { bytes, count },
        })
    }

    /// Encoded length of the items alone (no count, no string length).
    pub(crate) fn items_len(&self) -> usize {
        match self.repr {
            Repr::Wire { bytes, .. } => bytes.len(),
            Repr::Items(items) => items.iter().map(Field::wire_len).sum(),
        }
    }

    /// Appends the items alone (no count, no string length).
    pub(crate) fn write_items(&self, out: &mut Vec<u8>) {
        match self.repr {
            Repr::Wire { bytes, .. } => out.extend_from_slice(bytes),
            Repr::Items(items) => items.iter().for_each(|i| i.write(out)),
        }
    }

    /// Appends a `uint32` count followed by the items.
    pub(crate) fn write_counted(&self, out: &mut Vec<u8>) {
        put::uint32(out, put::len32(self.len()));
        self.write_items(out);
    }
}

/// As a message field, a sequence is a `string` whose contents are the items back to back (the
/// id and name lists of `users-groups-by-id@openssh.com`).
impl<'a, T: Item<'a>> Field<'a> for Seq<'a, T> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Seq::read_to_end(r.string()?)
    }
    fn wire_len(&self) -> usize {
        4 + self.items_len()
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::uint32(out, put::len32(self.items_len()));
        self.write_items(out);
    }
}

impl<'a, T: Item<'a>> PartialEq for Seq<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: Item<'a> + Eq> Eq for Seq<'a, T> {}

impl<'a, T: Item<'a> + std::fmt::Debug> std::fmt::Debug for Seq<'a, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Item<'a>> IntoIterator for Seq<'a, T> {
    type Item = T;
    type IntoIter = SeqIter<'a, T>;
    fn into_iter(self) -> SeqIter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Item<'a>> IntoIterator for &Seq<'a, T> {
    type Item = T;
    type IntoIter = SeqIter<'a, T>;
    fn into_iter(self) -> SeqIter<'a, T> {
        self.iter()
    }
}

/// Iterator over the items of a [`Seq`].
pub struct SeqIter<'a, T> {
    inner: IterRepr<'a, T>,
}

enum IterRepr<'a, T> {
    Wire { reader: Reader<'a>, left: usize },
    Items(std::slice::Iter<'a, T>),
}

impl<'a, T: Item<'a>> Iterator for SeqIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.inner {
            IterRepr::Wire { reader, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // The bytes were validated when the sequence was decoded.
                T::read(reader).ok()
            }
            IterRepr::Items(items) => items.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            IterRepr::Wire { left, .. } => (0, Some(*left)),
            IterRepr::Items(items) => items.size_hint(),
        }
    }
}
