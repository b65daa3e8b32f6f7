//! Responses from the server: STATUS, HANDLE, DATA, NAME, ATTRS (draft-ietf-secsh-filexfer-02
//! §7) and EXTENDED_REPLY (§8).

use std::borrow::Cow;

use nacre_wire::{put, Reader, WireError};

use crate::attrs::FileAttributes;
use crate::codes::{PacketType, StatusCode};
use crate::field::{slen, Field};
use crate::message::{impl_codec, sftp_struct, Message};
use crate::seq::{Item, Seq};

/// SSH_FXP_STATUS (draft-ietf-secsh-filexfer-02 §7): the result of a request that returns no
/// data, or the error of any request.
///
/// ```text
/// byte   SSH_FXP_STATUS
/// uint32 id
/// uint32 error/status code
/// string error message (ISO-10646 UTF-8 [RFC-2279])
/// string language tag (as defined in [RFC-1766])
/// ```
///
/// Decoding is lenient in two ways real peers need: servers of versions before 3 omit the
/// message and language tag (they decode as empty), and the message is decoded lossily so that
/// bad UTF-8 never hides the status code. Encoding always writes both strings.
///
/// A client reading a server's answer with [`parse_frame`](crate::parse_frame):
///
/// ```
/// use nacre_sftp_codec::{encode_frame, parse_frame, Response, Status, StatusCode};
///
/// let mut wire = Vec::new();
/// encode_frame(&Status::from_code(7, StatusCode::NO_SUCH_FILE), &mut wire);
///
/// let (frame, used) = parse_frame(&wire, 256 * 1024)?.expect("a whole packet");
/// assert_eq!(used, wire.len());
/// let Response::Status(status) = frame.decode_response()? else { panic!() };
/// assert_eq!((status.id, status.code), (7, StatusCode::NO_SUCH_FILE));
/// assert_eq!(status.message, "No such file");
/// assert!(!status.is_ok());
/// assert!(Status::ok(8).is_ok());
/// # Ok::<(), nacre_wire::WireError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status<'a> {
    /// Request identifier.
    pub id: u32,
    /// The status code.
    pub code: StatusCode,
    /// Human-readable message.
    pub message: Cow<'a, str>,
    /// Language tag of the message (OpenSSH sends an empty one).
    pub language: &'a [u8],
}

impl<'a> Status<'a> {
    /// A status with `message` and an empty language tag.
    pub fn new(id: u32, code: StatusCode, message: &'a str) -> Self {
        Status {
            id,
            code,
            message: Cow::Borrowed(message),
            language: b"",
        }
    }

    /// A status whose message is the code's default text ([`StatusCode::default_message`]).
    pub fn from_code(id: u32, code: StatusCode) -> Self {
        Status::new(id, code, code.default_message())
    }

    /// SSH_FX_OK with the message "Success".
    pub fn ok(id: u32) -> Self {
        Status::from_code(id, StatusCode::OK)
    }

    /// True when the code is SSH_FX_OK.
    pub fn is_ok(&self) -> bool {
        self.code.is_ok()
    }
}

impl<'a> Message<'a> for Status<'a> {
    const TYPE: PacketType = PacketType::STATUS;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let id = r.u32()?;
        let code = StatusCode(r.u32()?);
        let message = if r.is_empty() {
            Cow::Borrowed("")
        } else {
            Cow::read(r)?
        };
        let language = if r.is_empty() { &[][..] } else { r.string()? };
        Ok(Status {
            id,
            code,
            message,
            language,
        })
    }
    fn body_len(&self) -> usize {
        4 + 4 + slen(self.message.len()) + slen(self.language.len())
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.id);
        put::uint32(out, self.code.0);
        put::string(out, self.message.as_bytes());
        put::string(out, self.language);
    }
}

impl_codec!(Status<'a>);

/// SSH_FXP_HANDLE (draft-ietf-secsh-filexfer-02 §7): the handle of a file or directory opened
/// by OPEN or OPENDIR. Handles are opaque to the client and at most
/// [`crate::MAX_HANDLE_LEN`] (256) bytes; longer ones are refused when decoding.
///
/// ```text
/// byte   SSH_FXP_HANDLE
/// uint32 id
/// string handle
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle<'a> {
    /// Request identifier.
    pub id: u32,
    /// The opaque handle.
    pub handle: &'a [u8],
}

impl<'a> Message<'a> for Handle<'a> {
    const TYPE: PacketType = PacketType::HANDLE;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let id = r.u32()?;
        let handle = r.string()?;
        if handle.len() > crate::MAX_HANDLE_LEN {
            return Err(WireError::TooLong {
                what: "SFTP handle",
                len: handle.len(),
                max: crate::MAX_HANDLE_LEN,
            });
        }
        Ok(Handle { id, handle })
    }
    fn body_len(&self) -> usize {
        4 + slen(self.handle.len())
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.id);
        put::string(out, self.handle);
    }
}

impl_codec!(Handle<'a>);

sftp_struct! {
    /// SSH_FXP_DATA (draft-ietf-secsh-filexfer-02 §7): bytes read by READ (possibly fewer than
    /// asked for).
    ///
    /// ```text
    /// byte   SSH_FXP_DATA
    /// uint32 id
    /// string data
    /// ```
    pub struct Data<'a> = DATA {
        /// The bytes (borrowed from the packet).
        pub data: &'a [u8],
    }
}

impl Data<'_> {
    /// Appends the length prefix, type, id and data length of a DATA frame; the caller appends
    /// exactly `data_len` bytes next (for example read from a file straight into `out`).
    pub fn encode_frame_header(out: &mut Vec<u8>, id: u32, data_len: usize) {
        put::uint32(out, put::len32(1 + 4 + 4 + data_len));
        put::byte(out, PacketType::DATA.0);
        put::uint32(out, id);
        put::uint32(out, put::len32(data_len));
    }
}

/// One entry of [`Name`].
///
/// ```text
/// string filename
/// string longname
/// ATTRS  attrs
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameEntry<'a> {
    /// A file name: a bare name in READDIR replies, an absolute path in REALPATH replies.
    pub filename: &'a [u8],
    /// An `ls -l`-style line for display (READDIR); its format is unspecified, clients must not
    /// parse it. Empty or a copy of the name elsewhere.
    pub longname: &'a [u8],
    /// Attributes of the entry (may be empty).
    pub attrs: FileAttributes<'a>,
}

impl<'a> Field<'a> for NameEntry<'a> {
    fn read(r: &mut Reader<'a>) -> Result<Self, WireError> {
        Ok(NameEntry {
            filename: r.string()?,
            longname: r.string()?,
            attrs: FileAttributes::read(r)?,
        })
    }
    fn wire_len(&self) -> usize {
        slen(self.filename.len()) + slen(self.longname.len()) + self.attrs.wire_len()
    }
    fn write(&self, out: &mut Vec<u8>) {
        put::string(out, self.filename);
        put::string(out, self.longname);
        self.attrs.write(out);
    }
}

impl<'a> Item<'a> for NameEntry<'a> {
    const MIN_LEN: usize = 12;
}

/// SSH_FXP_NAME (draft-ietf-secsh-filexfer-02 §7): names and attributes, the reply to READDIR
/// (one or more entries), REALPATH and READLINK (exactly one), and to the OpenSSH extensions
/// `expand-path@openssh.com` and `home-directory` (one).
///
/// ```text
/// byte   SSH_FXP_NAME
/// uint32 id
/// uint32 count
/// repeats count times:
///         string filename
///         string longname
///         ATTRS  attrs
/// ```
///
/// The count is checked against the bytes of the packet before any entry is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Name<'a> {
    /// Request identifier.
    pub id: u32,
    /// The entries.
    pub entries: Seq<'a, NameEntry<'a>>,
}

impl<'a> Name<'a> {
    /// The first entry (the answer of REALPATH, READLINK and the path extensions).
    pub fn first(&self) -> Option<NameEntry<'a>> {
        self.entries.iter().next()
    }
}

impl<'a> Message<'a> for Name<'a> {
    const TYPE: PacketType = PacketType::NAME;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let id = r.u32()?;
        let count = r.u32()?;
        let entries = Seq::read_counted(r, count)?;
        Ok(Name { id, entries })
    }
    fn body_len(&self) -> usize {
        4 + 4 + self.entries.items_len()
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.id);
        self.entries.write_counted(out);
    }
}

impl_codec!(Name<'a>);

sftp_struct! {
    /// SSH_FXP_ATTRS (draft-ietf-secsh-filexfer-02 §7): attributes, the reply to STAT, LSTAT
    /// and FSTAT.
    ///
    /// ```text
    /// byte   SSH_FXP_ATTRS
    /// uint32 id
    /// ATTRS  attrs
    /// ```
    pub struct Attrs<'a> = ATTRS {
        /// The attributes.
        pub attrs: FileAttributes<'a>,
    }
}

/// SSH_FXP_EXTENDED_REPLY (draft-ietf-secsh-filexfer-02 §8): the extension-specific reply to an
/// EXTENDED request. Its layout depends on the request, which the packet does not name: parse
/// `data` with the reply type of the request ([`crate::ExtensionReply::from_reply`]).
///
/// ```text
/// byte   SSH_FXP_EXTENDED_REPLY
/// uint32 id
/// ...    any request-specific data
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedReply<'a> {
    /// Request identifier.
    pub id: u32,
    /// The request-specific data (the rest of the packet).
    pub data: &'a [u8],
}

impl<'a> Message<'a> for ExtendedReply<'a> {
    const TYPE: PacketType = PacketType::EXTENDED_REPLY;

    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let id = r.u32()?;
        Ok(ExtendedReply {
            id,
            data: r.take_rest(),
        })
    }
    fn body_len(&self) -> usize {
        4 + self.data.len()
    }
    fn encode_body(&self, out: &mut Vec<u8>) {
        put::uint32(out, self.id);
        out.extend_from_slice(self.data);
    }
}

impl_codec!(ExtendedReply<'a>);
