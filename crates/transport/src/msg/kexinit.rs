//! Algorithm negotiation messages: SSH_MSG_KEXINIT and SSH_MSG_NEWKEYS (RFC 4253 §7.1, §7.3).

use nacre_wire::{put, Decode, Encode, MsgNumber, NameList, Reader, WireError};

use super::slen;

/// SSH_MSG_KEXINIT (RFC 4253 §7.1).
///
/// ```text
/// byte         SSH_MSG_KEXINIT
/// byte[16]     cookie (random bytes)
/// name-list    kex_algorithms
/// name-list    server_host_key_algorithms
/// name-list    encryption_algorithms_client_to_server
/// name-list    encryption_algorithms_server_to_client
/// name-list    mac_algorithms_client_to_server
/// name-list    mac_algorithms_server_to_client
/// name-list    compression_algorithms_client_to_server
/// name-list    compression_algorithms_server_to_client
/// name-list    languages_client_to_server
/// name-list    languages_server_to_client
/// boolean      first_kex_packet_follows
/// uint32       0 (reserved for future extension)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexInit<'a> {
    /// Random cookie.
    pub cookie: [u8; 16],
    /// kex_algorithms.
    pub kex_algorithms: NameList<'a>,
    /// server_host_key_algorithms.
    pub server_host_key_algorithms: NameList<'a>,
    /// encryption_algorithms_client_to_server.
    pub encryption_c2s: NameList<'a>,
    /// encryption_algorithms_server_to_client.
    pub encryption_s2c: NameList<'a>,
    /// mac_algorithms_client_to_server.
    pub mac_c2s: NameList<'a>,
    /// mac_algorithms_server_to_client.
    pub mac_s2c: NameList<'a>,
    /// compression_algorithms_client_to_server.
    pub compression_c2s: NameList<'a>,
    /// compression_algorithms_server_to_client.
    pub compression_s2c: NameList<'a>,
    /// languages_client_to_server.
    pub languages_c2s: NameList<'a>,
    /// languages_server_to_client.
    pub languages_s2c: NameList<'a>,
    /// first_kex_packet_follows.
    pub first_kex_packet_follows: bool,
    /// Reserved, 0.
    pub reserved: u32,
}

impl<'a> KexInit<'a> {
    fn lists(&self) -> [&NameList<'a>; 10] {
        [
            &self.kex_algorithms,
            &self.server_host_key_algorithms,
            &self.encryption_c2s,
            &self.encryption_s2c,
            &self.mac_c2s,
            &self.mac_s2c,
            &self.compression_c2s,
            &self.compression_s2c,
            &self.languages_c2s,
            &self.languages_s2c,
        ]
    }
}

impl<'a> Decode<'a> for KexInit<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::KEXINIT.0)?;
        Ok(KexInit {
            cookie: r.array::<16>()?,
            kex_algorithms: r.name_list()?,
            server_host_key_algorithms: r.name_list()?,
            encryption_c2s: r.name_list()?,
            encryption_s2c: r.name_list()?,
            mac_c2s: r.name_list()?,
            mac_s2c: r.name_list()?,
            compression_c2s: r.name_list()?,
            compression_s2c: r.name_list()?,
            languages_c2s: r.name_list()?,
            languages_s2c: r.name_list()?,
            first_kex_packet_follows: r.bool()?,
            reserved: r.u32()?,
        })
    }
}

impl Encode for KexInit<'_> {
    fn encoded_len(&self) -> usize {
        1 + 16
            + self
                .lists()
                .iter()
                .map(|l| slen(l.as_str().len()))
                .sum::<usize>()
            + 1
            + 4
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::KEXINIT.0);
        out.extend_from_slice(&self.cookie);
        for list in self.lists() {
            put::string(out, list.as_str().as_bytes());
        }
        put::boolean(out, self.first_kex_packet_follows);
        put::uint32(out, self.reserved);
    }
}

/// SSH_MSG_NEWKEYS (RFC 4253 §7.3).
///
/// ```text
/// byte      SSH_MSG_NEWKEYS
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewKeys;

impl<'a> Decode<'a> for NewKeys {
    fn decode(r: &mut Reader<'a>) -> Result<Self, WireError> {
        r.expect_msg(MsgNumber::NEWKEYS.0)?;
        Ok(NewKeys)
    }
}

impl Encode for NewKeys {
    fn encoded_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut Vec<u8>) {
        put::byte(out, MsgNumber::NEWKEYS.0);
    }
}
