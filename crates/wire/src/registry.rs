//! IANA registries of the SSH protocol (RFC 4250 §4) as open enums.

crate::open_enum! {
    /// Message numbers (RFC 4250 §4.1). Numbers 30–49 and 60–79 are reused by key exchange and
    /// authentication methods and must be decoded by context, so only the generic ones are named here.
    ///
    /// An open enum: any number is representable, and `Debug`/`Display` print the registry name
    /// when there is one.
    ///
    /// ```
    /// use nacre_wire::MsgNumber;
    ///
    /// let kexinit = MsgNumber::from(20u8);
    /// assert_eq!(kexinit, MsgNumber::KEXINIT);
    /// assert_eq!(kexinit.name(), Some("KEXINIT"));
    /// assert_eq!(MsgNumber::CHANNEL_DATA.0, 94);
    ///
    /// // Method-specific numbers (here 60) have no generic name.
    /// assert_eq!(MsgNumber(60).name(), None);
    /// assert_eq!(MsgNumber(60).to_string(), "MsgNumber(60)");
    /// ```
    pub struct MsgNumber(u8) {
        /// SSH_MSG_DISCONNECT (RFC 4253 §11.1).
        DISCONNECT = 1,
        /// SSH_MSG_IGNORE (RFC 4253 §11.2).
        IGNORE = 2,
        /// SSH_MSG_UNIMPLEMENTED (RFC 4253 §11.4).
        UNIMPLEMENTED = 3,
        /// SSH_MSG_DEBUG (RFC 4253 §11.3).
        DEBUG = 4,
        /// SSH_MSG_SERVICE_REQUEST (RFC 4253 §10).
        SERVICE_REQUEST = 5,
        /// SSH_MSG_SERVICE_ACCEPT (RFC 4253 §10).
        SERVICE_ACCEPT = 6,
        /// SSH_MSG_EXT_INFO (RFC 8308 §2.3).
        EXT_INFO = 7,
        /// SSH_MSG_NEWCOMPRESS (RFC 8308 §3.2).
        NEWCOMPRESS = 8,
        /// SSH_MSG_KEXINIT (RFC 4253 §7.1).
        KEXINIT = 20,
        /// SSH_MSG_NEWKEYS (RFC 4253 §7.3).
        NEWKEYS = 21,
        /// SSH_MSG_USERAUTH_REQUEST (RFC 4252 §5).
        USERAUTH_REQUEST = 50,
        /// SSH_MSG_USERAUTH_FAILURE (RFC 4252 §5.1).
        USERAUTH_FAILURE = 51,
        /// SSH_MSG_USERAUTH_SUCCESS (RFC 4252 §5.1).
        USERAUTH_SUCCESS = 52,
        /// SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4).
        USERAUTH_BANNER = 53,
        /// SSH_MSG_GLOBAL_REQUEST (RFC 4254 §4).
        GLOBAL_REQUEST = 80,
        /// SSH_MSG_REQUEST_SUCCESS (RFC 4254 §4).
        REQUEST_SUCCESS = 81,
        /// SSH_MSG_REQUEST_FAILURE (RFC 4254 §4).
        REQUEST_FAILURE = 82,
        /// SSH_MSG_CHANNEL_OPEN (RFC 4254 §5.1).
        CHANNEL_OPEN = 90,
        /// SSH_MSG_CHANNEL_OPEN_CONFIRMATION (RFC 4254 §5.1).
        CHANNEL_OPEN_CONFIRMATION = 91,
        /// SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 §5.1).
        CHANNEL_OPEN_FAILURE = 92,
        /// SSH_MSG_CHANNEL_WINDOW_ADJUST (RFC 4254 §5.2).
        CHANNEL_WINDOW_ADJUST = 93,
        /// SSH_MSG_CHANNEL_DATA (RFC 4254 §5.2).
        CHANNEL_DATA = 94,
        /// SSH_MSG_CHANNEL_EXTENDED_DATA (RFC 4254 §5.2).
        CHANNEL_EXTENDED_DATA = 95,
        /// SSH_MSG_CHANNEL_EOF (RFC 4254 §5.3).
        CHANNEL_EOF = 96,
        /// SSH_MSG_CHANNEL_CLOSE (RFC 4254 §5.3).
        CHANNEL_CLOSE = 97,
        /// SSH_MSG_CHANNEL_REQUEST (RFC 4254 §5.4).
        CHANNEL_REQUEST = 98,
        /// SSH_MSG_CHANNEL_SUCCESS (RFC 4254 §5.4).
        CHANNEL_SUCCESS = 99,
        /// SSH_MSG_CHANNEL_FAILURE (RFC 4254 §5.4).
        CHANNEL_FAILURE = 100,
    }
}

crate::open_enum! {
    /// Disconnection reason codes (RFC 4250 §4.2.2, RFC 4253 §11.1).
    ///
    /// ```
    /// use nacre_wire::DisconnectReason;
    ///
    /// let reason = DisconnectReason::from(2u32);
    /// assert_eq!(reason, DisconnectReason::PROTOCOL_ERROR);
    /// assert_eq!(reason.to_string(), "PROTOCOL_ERROR");
    /// assert_eq!(u32::from(DisconnectReason::BY_APPLICATION), 11);
    /// assert_eq!(DisconnectReason::KNOWN.len(), 15);
    /// // Codes outside the registry survive a round trip.
    /// assert_eq!(format!("{:?}", DisconnectReason(99)), "DisconnectReason(99)");
    /// ```
    pub struct DisconnectReason(u32) {
        /// SSH_DISCONNECT_HOST_NOT_ALLOWED_TO_CONNECT.
        HOST_NOT_ALLOWED_TO_CONNECT = 1,
        /// SSH_DISCONNECT_PROTOCOL_ERROR.
        PROTOCOL_ERROR = 2,
        /// SSH_DISCONNECT_KEY_EXCHANGE_FAILED.
        KEY_EXCHANGE_FAILED = 3,
        /// SSH_DISCONNECT_RESERVED.
        RESERVED = 4,
        /// SSH_DISCONNECT_MAC_ERROR.
        MAC_ERROR = 5,
        /// SSH_DISCONNECT_COMPRESSION_ERROR.
        COMPRESSION_ERROR = 6,
        /// SSH_DISCONNECT_SERVICE_NOT_AVAILABLE.
        SERVICE_NOT_AVAILABLE = 7,
        /// SSH_DISCONNECT_PROTOCOL_VERSION_NOT_SUPPORTED.
        PROTOCOL_VERSION_NOT_SUPPORTED = 8,
        /// SSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE.
        HOST_KEY_NOT_VERIFIABLE = 9,
        /// SSH_DISCONNECT_CONNECTION_LOST.
        CONNECTION_LOST = 10,
        /// SSH_DISCONNECT_BY_APPLICATION.
        BY_APPLICATION = 11,
        /// SSH_DISCONNECT_TOO_MANY_CONNECTIONS.
        TOO_MANY_CONNECTIONS = 12,
        /// SSH_DISCONNECT_AUTH_CANCELLED_BY_USER.
        AUTH_CANCELLED_BY_USER = 13,
        /// SSH_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE.
        NO_MORE_AUTH_METHODS_AVAILABLE = 14,
        /// SSH_DISCONNECT_ILLEGAL_USER_NAME.
        ILLEGAL_USER_NAME = 15,
    }
}

crate::open_enum! {
    /// Channel open failure reason codes (RFC 4250 §4.3, RFC 4254 §5.1).
    pub struct ChannelOpenFailureReason(u32) {
        /// SSH_OPEN_ADMINISTRATIVELY_PROHIBITED.
        ADMINISTRATIVELY_PROHIBITED = 1,
        /// SSH_OPEN_CONNECT_FAILED.
        CONNECT_FAILED = 2,
        /// SSH_OPEN_UNKNOWN_CHANNEL_TYPE.
        UNKNOWN_CHANNEL_TYPE = 3,
        /// SSH_OPEN_RESOURCE_SHORTAGE.
        RESOURCE_SHORTAGE = 4,
    }
}
