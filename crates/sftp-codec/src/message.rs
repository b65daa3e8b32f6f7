//! The [`Message`] trait every packet struct implements, and the macros that declare them.

use nacre_wire::{Reader, WireError};

use crate::codes::PacketType;

/// One SFTP packet type: its number and the body after the type byte. Every message also
/// implements [`nacre_wire::Decode`] and [`nacre_wire::Encode`] over `type || body` (the packet
/// without its length field), which is what [`crate::encode_frame`] frames.
pub trait Message<'a>: Sized {
    /// The packet type byte.
    const TYPE: PacketType;
    /// Decodes the body (everything after the type byte) from `r`.
    fn decode_body(r: &mut Reader<'a>) -> Result<Self, WireError>;
    /// Exact encoded length of the body.
    fn body_len(&self) -> usize;
    /// Appends the body to `out`.
    fn encode_body(&self, out: &mut Vec<u8>);
    /// The packet type ([`Message::TYPE`]).
    fn packet_type(&self) -> PacketType {
        Self::TYPE
    }
}

/// Implements `Decode` and `Encode` for a [`Message`]: `byte type || body`.
macro_rules! impl_codec {
    ($name:ident $(<$lt:lifetime>)?) => {
        impl<'a> nacre_wire::Decode<'a> for $name $(<$lt>)? {
            fn decode(r: &mut nacre_wire::Reader<'a>) -> Result<Self, nacre_wire::WireError> {
                r.expect_msg(<Self as $crate::message::Message<'a>>::TYPE.0)?;
                <Self as $crate::message::Message<'a>>::decode_body(r)
            }
        }

        impl $(<$lt>)? nacre_wire::Encode for $name $(<$lt>)? {
            fn encoded_len(&self) -> usize {
                1 + $crate::message::Message::body_len(self)
            }
            fn encode(&self, out: &mut Vec<u8>) {
                nacre_wire::put::byte(out, <Self as $crate::message::Message<'_>>::TYPE.0);
                $crate::message::Message::encode_body(self, out);
            }
        }
    };
}

/// Declares a message struct whose body is `uint32 id` followed by the listed fields, each a
/// [`crate::Field`]. Generates the struct (with its `id` field), `decode_fields`,
/// `fields_len` and `encode_fields` helpers, and, with `= TYPE`, the [`Message`], `Decode`
/// and `Encode` impls.
macro_rules! sftp_struct {
    (@message $name:ident $(<$lt:lifetime>)?, $ty:ident) => {
        impl<'a> $crate::message::Message<'a> for $name $(<$lt>)? {
            const TYPE: $crate::codes::PacketType = $crate::codes::PacketType::$ty;

            fn decode_body(
                r: &mut nacre_wire::Reader<'a>,
            ) -> Result<Self, nacre_wire::WireError> {
                let id = r.u32()?;
                Self::decode_fields(id, r)
            }

            fn body_len(&self) -> usize {
                4 + self.fields_len()
            }

            fn encode_body(&self, out: &mut Vec<u8>) {
                nacre_wire::put::uint32(out, self.id);
                self.encode_fields(out);
            }
        }

        $crate::message::impl_codec!($name $(<$lt>)?);
    };

    (
        $(#[$meta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? = $ty:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $crate::message::sftp_struct! {
            $(#[$meta])*
            pub struct $name $(<$lt>)? {
                $( $(#[$fmeta])* pub $field : $fty, )*
            }
        }
        $crate::message::sftp_struct!(@message $name $(<$lt>)?, $ty);
    };

    (
        $(#[$meta:meta])*
        pub struct $name:ident $(<$lt:lifetime>)? {
            $( $(#[$fmeta:meta])* pub $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name $(<$lt>)? {
            /// Request identifier; the response carries the same value (draft §6.1).
            pub id: u32,
            $( $(#[$fmeta])* pub $field: $fty, )*
        }

        #[allow(unused_variables, unused_mut, clippy::ptr_arg)]
        impl<'a> $name $(<$lt>)? {
            /// Decodes the fields that follow the request id.
            pub(crate) fn decode_fields(
                id: u32,
                r: &mut nacre_wire::Reader<'a>,
            ) -> Result<Self, nacre_wire::WireError> {
                Ok($name {
                    id,
                    $( $field: <$fty as $crate::field::Field<'a>>::read(r)?, )*
                })
            }

            /// Encoded length of the fields that follow the request id.
            pub(crate) fn fields_len(&self) -> usize {
                0 $( + $crate::field::Field::wire_len(&self.$field) )*
            }

            /// Appends the fields that follow the request id.
            pub(crate) fn encode_fields(&self, out: &mut Vec<u8>) {
                $( $crate::field::Field::write(&self.$field, out); )*
            }
        }
    };
}

pub(crate) use {impl_codec, sftp_struct};
