//! SSH_MSG_EXT_INFO (RFC 8308 §2.3).

use nacre_wire::{put, Decode, Encode, MsgNumber, Reader, WireError};

use super::slen;

/// SSH_MSG_EXT_INFO (RFC 8308 §2.3).
///
/// ```text
/// byte       SSH_MSG_EXT_INFO (value 7)
/// uint32     nr-extensions
/// repeat the following 2 fields "nr-extensions" times:
///   string   extension-name
///   string   extension-value (binary)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExtInfo<'a> {
    /// The extensions, in order.
    pub extensions: Vec<(&'a str, &'a [u8])>,
}

impl<'a> ExtInfo<'a> {
    /// The value of the extension `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.extensions
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
}

impl<'a> Decode<'a> for ExtInfo<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::EXT_INFO.0)?;
        let count = r.u32()?;
        // Each extension takes at least 8 bytes, so the count is checked against the input before
        // anything is allocated for it.
        if usize::try_from(count).unwrap_or(usize::MAX) > r.remaining().len() / 8 {
            return Err(WireError::TooLong {
                what: "nr-extensions",
                len: count as usize,
                max: r.remaining().len() / 8,
            });
        }
        let mut extensions = Vec::new();
        for _ in 0..count {
            let name = r.utf8()?;
            let value = r.string()?;
            extensions.push((name, value));
        }
        Ok(ExtInfo { extensions })
    }
}

impl Encode for ExtInfo<'_> {
    fn encoded_len(&self) -> usize {
        5 + self
            .extensions
            .iter()
            .map(|(n, v)| slen(n.len()) + slen(v.len()))
            .sum::<usize>()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::EXT_INFO.0);
        put::uint32(out, put::len32(self.extensions.len()));
        for (name, value) in &self.extensions {
            put::string(out, name.as_bytes());
            put::string(out, value);
        }
    }
}
