//! Protocol initialization: SSH_FXP_INIT and SSH_FXP_VERSION (draft-ietf-secsh-filexfer-02 §4),
//! with the extension announcement of OpenSSH's `PROTOCOL` ("Server extension announcement in
//! SSH_FXP_VERSION").

use nacre_wire::{put, Reader, WireError};

use crate::codes::PacketType;
use crate::field::{slen, Field};
use crate::message::{impl_codec, Message};
use crate::seq::{Item, Seq};

/// One `extension-pair`: a name and its data, used in INIT, VERSION (where the data is the
/// extension's version as ASCII digits, e.g. `"1"`) and attributes (§5).
///
/// ```text
/// string    extension_name
/// string    extension_data
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExtensionPair<'a> {
    /// Extension name, e.g. `posix-rename@openssh.com`.
    pub name: &'a [u8],
    /// Extension data.
    pub data: &'a [u8],
}

impl<'a> ExtensionPair<'a> {
    /// A pair from text.
    pub const fn new(name: &'a str, data: &'a str) -> Self {
        ExtensionPair {
            name: name.as_bytes(),
            data: data.as_bytes(),
        }
    }

    /// The name as text, if it is UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.name).ok()
    }
}

impl<'a> Field<'a> for ExtensionPair<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Ok(ExtensionPair {
            name: r.string()?,
            data: r.string()?,
        })
    }
    fn wire_len(&self) -> usize {
        slen(self.name.len()) + slen(self.data.len())
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::string(out, self.name);
        put::string(out, self.data);
    }
}

impl<'a> Item<'a> for ExtensionPair<'a> {
    const MIN_LEN: usize = 8;
}

/// The value of the first pair named `name`.
fn lookup<'a>(pairs: &Seq<'a, ExtensionPair<'a>>, name: &str) -> Option<&'a [u8]> {
    pairs
        .iter()
        .find(|p| p.name == name.as_bytes())
        .map(|p| p.data)
}

/// SSH_FXP_INIT (draft-ietf-secsh-filexfer-02 §4): the client's hello. It has no request id.
///
/// ```text
/// uint32 length
/// byte   SSH_FXP_INIT
/// uint32 version
/// <extension data>   (extension-pairs up to the end of the packet)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init<'a> {
    /// The highest version the client implements; 3 for this crate ([`crate::SFTP_VERSION`]).
    pub version: u32,
    /// Extension pairs (OpenSSH's client sends none).
    pub extensions: Seq<'a, ExtensionPair<'a>>,
}

impl<'a> Init<'a> {
    /// An INIT for version 3 without extensions.
    pub const fn v3() -> Self {
        Init {
            version: crate::SFTP_VERSION,
            extensions: Seq::new(),
        }
    }

    /// The data of the extension named `name`, if present.
    pub fn extension(&self, name: &str) -> Option<&'a [u8]> {
        lookup(&self.extensions, name)
    }
}

impl<'a> Message<'a> for Init<'a> {
    const TYPE: PacketType = PacketType::INIT;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let version = r.u32()?;
        let extensions = Seq::read_to_end(r.take_rest())?;
        Ok(Init {
            version,
            extensions,
        })
    }
    fn body_len(&self) -> usize {
        4 + self.extensions.items_len()
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.version);
        self.extensions.write_items(out);
    }
}

impl_codec!(Init<'a>);

/// SSH_FXP_VERSION (draft-ietf-secsh-filexfer-02 §4): the server's hello, with the version the
/// session uses and the extensions the server supports. It has no request id.
///
/// ```text
/// uint32 length
/// byte   SSH_FXP_VERSION
/// uint32 version
/// <extension data>   (extension-pairs up to the end of the packet)
/// ```
///
/// OpenSSH announces each extension with its version as ASCII digits; clients MUST check the
/// version before using an extension ([`Version::supports`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version<'a> {
    /// The protocol version of the session.
    pub version: u32,
    /// Extension pairs: name and version string.
    pub extensions: Seq<'a, ExtensionPair<'a>>,
}

impl<'a> Version<'a> {
    /// The data of the extension named `name`, if announced.
    pub fn extension(&self, name: &str) -> Option<&'a [u8]> {
        lookup(&self.extensions, name)
    }

    /// True when the extension `name` is announced with version `version` (OpenSSH may
    /// announce one extension with several versions; any match counts).
    pub fn supports(&self, name: &str, version: &str) -> bool {
        self.extensions
            .iter()
            .any(|p| p.name == name.as_bytes() && p.data == version.as_bytes())
    }
}

impl<'a> Message<'a> for Version<'a> {
    const TYPE: PacketType = PacketType::VERSION;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let version = r.u32()?;
        let extensions = Seq::read_to_end(r.take_rest())?;
        Ok(Version {
            version,
            extensions,
        })
    }
    fn body_len(&self) -> usize {
        4 + self.extensions.items_len()
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.version);
        self.extensions.write_items(out);
    }
}

impl_codec!(Version<'a>);
