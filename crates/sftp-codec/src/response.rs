//! [`Response`]: every packet a server sends, and [`Unknown`] packet types.

use nacre_wire::{put, Decode, Encode, Reader, WireError};

use crate::codes::PacketType;
use crate::init::Version;
use crate::message::Message;
use crate::replies::{Attrs, Data, ExtendedReply, Handle, Name, Status};

/// A packet from server to client (draft-ietf-secsh-filexfer-02 §4, §7 and §8), decoded from
/// the bytes of a frame (type byte onwards, see [`crate::Frame`]).
///
/// EXTENDED_REPLY stays raw: its layout depends on the request it answers (see
/// [`crate::ExtensionReply`]). Packet types that are not responses decode as
/// [`Response::Unknown`] with their request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response<'a> {
    /// SSH_FXP_VERSION.
    Version(Version<'a>),
    /// SSH_FXP_STATUS.
    Status(Status<'a>),
    /// SSH_FXP_HANDLE.
    Handle(Handle<'a>),
    /// SSH_FXP_DATA.
    Data(Data<'a>),
    /// SSH_FXP_NAME.
    Name(Name<'a>),
    /// SSH_FXP_ATTRS.
    Attrs(Attrs<'a>),
    /// SSH_FXP_EXTENDED_REPLY.
    ExtendedReply(ExtendedReply<'a>),
    /// A packet type that is not a response.
    Unknown(Unknown<'a>),
}

macro_rules! each_response {
    ($value:expr, $m:ident => $body:expr) => {
        match $value {
            Response::Version($m) => $body,
            Response::Status($m) => $body,
            Response::Handle($m) => $body,
            Response::Data($m) => $body,
            Response::Name($m) => $body,
            Response::Attrs($m) => $body,
            Response::ExtendedReply($m) => $body,
            Response::Unknown($m) => $body,
        }
    };
}

impl<'a> Response<'a> {
    /// Decodes a whole response (type byte onwards); trailing bytes are an error.
    pub fn decode_bytes(bytes: &'a [u8]) -> Result<Self, WireError> {
        nacre_wire::decode_exact(bytes)
    }

    /// Decodes a response as a client does: like [`Response::decode_bytes`], but bytes after the
    /// response's last field are ignored, as OpenSSH's sftp client does (it reads the fields it
    /// needs and drops the rest of the packet). Returns the response and the number of bytes
    /// ignored. docs/TOLERANCE.md lists this case.
    pub fn decode_tolerant(bytes: &'a [u8]) -> Result<(Self, usize), WireError> {
        let mut r = Reader::new(bytes);
        let response = Self::decode(&mut r)?;
        Ok((response, r.remaining().len()))
    }

    /// The packet type on the wire.
    pub fn packet_type(&self) -> PacketType {
        each_response!(self, m => m.packet_type())
    }

    /// The request id this answers; `None` for VERSION, which has none.
    pub fn id(&self) -> Option<u32> {
        match self {
            Response::Version(_) => None,
            Response::Status(m) => Some(m.id),
            Response::Handle(m) => Some(m.id),
            Response::Data(m) => Some(m.id),
            Response::Name(m) => Some(m.id),
            Response::Attrs(m) => Some(m.id),
            Response::ExtendedReply(m) => Some(m.id),
            Response::Unknown(m) => Some(m.id),
        }
    }
}

impl<'a> Decode<'a> for Response<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let kind = PacketType(r.u8()?);
        Ok(match kind {
            PacketType::VERSION => Response::Version(Version::decode_body(r)?),
            PacketType::STATUS => Response::Status(Status::decode_body(r)?),
            PacketType::HANDLE => Response::Handle(Handle::decode_body(r)?),
            PacketType::DATA => Response::Data(Data::decode_body(r)?),
            PacketType::NAME => Response::Name(Name::decode_body(r)?),
            PacketType::ATTRS => Response::Attrs(Attrs::decode_body(r)?),
            PacketType::EXTENDED_REPLY => Response::ExtendedReply(ExtendedReply::decode_body(r)?),
            other => Response::Unknown(Unknown::decode_after_type(other, r)?),
        })
    }
}

impl Encode for Response<'_> {
    fn encoded_len(&self) -> usize {
        each_response!(self, m => m.encoded_len())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        each_response!(self, m => m.encode(out))
    }
}

/// A packet of a type the receiving side does not expect: an unknown number, or a known one
/// sent in the wrong direction. Every such packet is assumed to start with a request id (all
/// types but INIT and VERSION do), so a server can answer it with SSH_FX_OP_UNSUPPORTED.
///
/// ```text
/// byte   type
/// uint32 id
/// ...    data
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unknown<'a> {
    /// The packet type.
    pub packet_type: PacketType,
    /// Request identifier (the first four bytes after the type).
    pub id: u32,
    /// The rest of the packet.
    pub data: &'a [u8],
}

impl<'a> Unknown<'a> {
    /// Decodes the part after the type byte.
    pub(crate) fn decode_after_type(
        packet_type: PacketType,
        r: &mut Reader<'a>,
    ) -> Result<Self, WireError> {
        Ok(Unknown {
            packet_type,
            id: r.u32()?,
            data: r.take_rest(),
        })
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        self.packet_type
    }
}

impl<'a> Decode<'a> for Unknown<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        let kind = PacketType(r.u8()?);
        Unknown::decode_after_type(kind, r)
    }
}

impl Encode for Unknown<'_> {
    fn encoded_len(&self) -> usize {
        1 + 4 + self.data.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, self.packet_type.0);
        put::uint32(out, self.id);
        out.extend_from_slice(self.data);
    }
}
