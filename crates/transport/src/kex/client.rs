//! Client side of the key exchange methods: ECDH (RFC 5656 §4, RFC 8731), fixed-group DH (RFC 4253
//! §8) and group exchange (RFC 4419 §3).

use nacre_crypto::{DhGroup, DhPrivateKey, EcdhPrivateKey, HybridPrivateKey, Rng};
use nacre_wire::{decode_exact, Encode};
use num_bigint::BigUint;

use super::hash::{
    dh_exchange_hash, ecdh_exchange_hash, encode_k, encode_k_string, gex_exchange_hash,
    hybrid_exchange_hash, GexHashParams, HashPrefix,
};
use super::method::{KexKind, KexMethod};
use super::KexOutput;
use crate::config::GexConfig;
use crate::error::TransportError;
use crate::msg::kex_dh::KEXDH_REPLY;
use crate::msg::kex_gex::{KEX_DH_GEX_GROUP, KEX_DH_GEX_REPLY};
use crate::msg::{
    KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest, KexEcdhInit, KexEcdhReply,
    KexdhInit, KexdhReply,
};
use nacre_wire::MsgNumber;

/// What the client waits for.
pub(crate) enum ClientKex {
    /// Sent ECDH_INIT, waiting for ECDH_REPLY.
    Ecdh {
        private: EcdhPrivateKey,
        q_c: Vec<u8>,
    },
    /// Sent ECDH_INIT with a hybrid C_INIT, waiting for ECDH_REPLY.
    Hybrid {
        private: HybridPrivateKey,
        init: Vec<u8>,
    },
    /// Sent KEXDH_INIT, waiting for KEXDH_REPLY.
    Dh { private: DhPrivateKey, e: Vec<u8> },
    /// Sent GEX_REQUEST, waiting for GEX_GROUP.
    GexRequested { request: KexDhGexRequest },
    /// Sent GEX_INIT, waiting for GEX_REPLY.
    GexInit {
        request: KexDhGexRequest,
        group: DhGroup,
        private: DhPrivateKey,
        e: Vec<u8>,
    },
}

/// The result of a client step.
pub(crate) enum ClientStep {
    /// Send this payload and keep waiting.
    Continue(ClientKex, Vec<u8>),
    /// The exchange is computed; the host key signature still has to be checked.
    Done {
        output: KexOutput,
        signature: Vec<u8>,
    },
}

/// Starts the method: returns the state and the first message to send.
pub(crate) fn start(method: KexMethod, gex: &GexConfig, rng: &mut dyn Rng) -> (ClientKex, Vec<u8>) {
    match method.kind() {
        KexKind::Ecdh(curve) => {
            let private = EcdhPrivateKey::generate(curve, rng);
            let q_c = private.public_key();
            let msg = KexEcdhInit { q_c: &q_c }.to_bytes();
            (ClientKex::Ecdh { private, q_c }, msg)
        }
        KexKind::Hybrid(kem) => {
            let (private, init) = kem.generate(rng);
            let msg = KexEcdhInit { q_c: &init }.to_bytes();
            (ClientKex::Hybrid { private, init }, msg)
        }
        KexKind::Dh(group) => {
            let private = DhPrivateKey::generate(&group, rng, method.dh_exponent_bits());
            let e = private.public_key().to_bytes_be();
            let msg = KexdhInit { e: &e }.to_bytes();
            (ClientKex::Dh { private, e }, msg)
        }
        KexKind::Gex => {
            let request = KexDhGexRequest {
                min: gex.min,
                n: gex.n,
                max: gex.max,
            };
            (ClientKex::GexRequested { request }, request.to_bytes())
        }
    }
}

fn unexpected(msg: u8) -> TransportError {
    TransportError::UnexpectedMessage {
        msg: MsgNumber(msg),
        state: "during key exchange (client)",
    }
}

/// Handles one key exchange message from the server.
pub(crate) fn handle(
    state: ClientKex,
    method: KexMethod,
    payload: &[u8],
    prefix: HashPrefix<'_>,
    rng: &mut dyn Rng,
) -> Result<ClientStep, TransportError> {
    let msg = payload.first().copied().unwrap_or(0);
    let hash = method.hash();
    match state {
        ClientKex::Ecdh { private, q_c } => {
            let reply: KexEcdhReply<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let k = private
                .agree(reply.q_s)
                .map_err(TransportError::KexPublicValue)?;
            let prefix = HashPrefix {
                k_s: reply.k_s,
                ..prefix
            };
            let h = ecdh_exchange_hash(hash, &prefix, &q_c, reply.q_s, k.as_bytes());
            let output = KexOutput {
                k: encode_k(k.as_bytes()),
                h,
                host_key: reply.k_s.to_vec(),
                ephemeral: Some(private.secret_bytes()),
            };
            Ok(ClientStep::Done {
                output,
                signature: reply.signature.to_vec(),
            })
        }
        ClientKex::Hybrid { private, init } => {
            let reply: KexEcdhReply<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let k = private
                .finish(reply.q_s)
                .map_err(TransportError::KexPublicValue)?;
            let prefix = HashPrefix {
                k_s: reply.k_s,
                ..prefix
            };
            let h = hybrid_exchange_hash(hash, &prefix, &init, reply.q_s, k.as_bytes());
            let output = KexOutput {
                k: encode_k_string(k.as_bytes()),
                h,
                host_key: reply.k_s.to_vec(),
                ephemeral: None,
            };
            Ok(ClientStep::Done {
                output,
                signature: reply.signature.to_vec(),
            })
        }
        ClientKex::Dh { private, e } => {
            if msg != KEXDH_REPLY {
                return Err(unexpected(msg));
            }
            let reply: KexdhReply<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let k = private
                .agree(&BigUint::from_bytes_be(reply.f))
                .map_err(TransportError::KexPublicValue)?;
            let prefix = HashPrefix {
                k_s: reply.k_s,
                ..prefix
            };
            let h = dh_exchange_hash(hash, &prefix, &e, reply.f, k.as_bytes());
            let output = KexOutput {
                k: encode_k(k.as_bytes()),
                h,
                host_key: reply.k_s.to_vec(),
                ephemeral: None,
            };
            Ok(ClientStep::Done {
                output,
                signature: reply.signature.to_vec(),
            })
        }
        ClientKex::GexRequested { request } => {
            if msg != KEX_DH_GEX_GROUP {
                return Err(unexpected(msg));
            }
            let group_msg: KexDhGexGroup<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let group = DhGroup::from_be_bytes(group_msg.p, group_msg.g)
                .map_err(TransportError::KexPublicValue)?;
            let bits = u32::try_from(group.bits()).unwrap_or(u32::MAX);
            if bits < request.min || bits > request.max {
                return Err(TransportError::KexFailed(
                    "server sent a DH group outside the requested size range",
                ));
            }
            let private = DhPrivateKey::generate(&group, rng, method.dh_exponent_bits());
            let e = private.public_key().to_bytes_be();
            let msg = KexDhGexInit { e: &e }.to_bytes();
            Ok(ClientStep::Continue(
                ClientKex::GexInit {
                    request,
                    group,
                    private,
                    e,
                },
                msg,
            ))
        }
        ClientKex::GexInit {
            request,
            group,
            private,
            e,
        } => {
            if msg != KEX_DH_GEX_REPLY {
                return Err(unexpected(msg));
            }
            let reply: KexDhGexReply<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let k = private
                .agree(&BigUint::from_bytes_be(reply.f))
                .map_err(TransportError::KexPublicValue)?;
            let prefix = HashPrefix {
                k_s: reply.k_s,
                ..prefix
            };
            let (p, g) = (group.p.to_bytes_be(), group.g.to_bytes_be());
            let params = GexHashParams {
                min: request.min,
                n: request.n,
                max: request.max,
                p: &p,
                g: &g,
            };
            let h = gex_exchange_hash(hash, &prefix, &params, &e, reply.f, k.as_bytes());
            let output = KexOutput {
                k: encode_k(k.as_bytes()),
                h,
                host_key: reply.k_s.to_vec(),
                ephemeral: None,
            };
            Ok(ClientStep::Done {
                output,
                signature: reply.signature.to_vec(),
            })
        }
    }
}
