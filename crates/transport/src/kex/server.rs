//! Server side of the key exchange methods: ECDH (RFC 5656 §4, RFC 8731), fixed-group DH (RFC 4253
//! §8) and group exchange (RFC 4419 §3).

use nacre_crypto::{builtin_group, choose_group, DhGroup, DhPrivateKey, EcdhPrivateKey, Rng};
use nacre_keys::{PrivateKey, SignatureAlgorithm};
use nacre_wire::{decode_exact, Encode, MsgNumber};
use num_bigint::BigUint;

use super::hash::{
    dh_exchange_hash, ecdh_exchange_hash, encode_k, encode_k_string, gex_exchange_hash,
    hybrid_exchange_hash, GexHashParams, HashPrefix,
};
use super::method::{KexKind, KexMethod};
use super::KexOutput;
use crate::config::GexConfig;
use crate::error::TransportError;
use crate::msg::kex_dh::KEXDH_INIT;
use crate::msg::kex_gex::{KEX_DH_GEX_INIT, KEX_DH_GEX_REQUEST};
use crate::msg::{
    KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest, KexEcdhInit, KexEcdhReply,
    KexdhInit, KexdhReply,
};

/// What the server waits for.
pub(crate) enum ServerKex {
    /// Waiting for ECDH_INIT (or KEXDH_INIT) in a one-round method.
    Init,
    /// Waiting for GEX_REQUEST.
    GexRequest,
    /// Sent GEX_GROUP, waiting for GEX_INIT.
    GexInit {
        request: KexDhGexRequest,
        group: DhGroup,
    },
}

/// The result of a server step.
pub(crate) enum ServerStep {
    /// Send this payload and keep waiting.
    Continue(ServerKex, Vec<u8>),
    /// Send this reply; the exchange is complete.
    Done { reply: Vec<u8>, output: KexOutput },
}

/// The initial server state of a method.
pub(crate) fn start(method: KexMethod) -> ServerKex {
    match method.kind() {
        KexKind::Gex => ServerKex::GexRequest,
        KexKind::Ecdh(_) | KexKind::Dh(_) | KexKind::Hybrid(_) => ServerKex::Init,
    }
}

/// The host key and the signature algorithm the server signs H with.
pub(crate) struct Signer<'a> {
    /// The key.
    pub key: &'a PrivateKey,
    /// The negotiated algorithm.
    pub alg: SignatureAlgorithm,
    /// The key's public blob, K_S.
    pub k_s: &'a [u8],
}

fn unexpected(msg: u8) -> TransportError {
    TransportError::UnexpectedMessage {
        msg: MsgNumber(msg),
        state: "during key exchange (server)",
    }
}

fn sign(signer: &Signer<'_>, h: &[u8]) -> Result<Vec<u8>, TransportError> {
    signer
        .key
        .sign(signer.alg, h)
        .map_err(|e| TransportError::HostKey(e.to_string()))
}

/// Handles one key exchange message from the client.
pub(crate) fn handle(
    state: ServerKex,
    method: KexMethod,
    payload: &[u8],
    prefix: HashPrefix<'_>,
    signer: &Signer<'_>,
    gex: &GexConfig,
    rng: &mut dyn Rng,
) -> Result<ServerStep, TransportError> {
    let msg = payload.first().copied().unwrap_or(0);
    let hash = method.hash();
    let prefix = HashPrefix {
        k_s: signer.k_s,
        ..prefix
    };
    match (state, method.kind()) {
        (ServerKex::Init, KexKind::Ecdh(curve)) => {
            let init: KexEcdhInit<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let private = EcdhPrivateKey::generate(curve, rng);
            let q_s = private.public_key();
            let k = private
                .agree(init.q_c)
                .map_err(TransportError::KexPublicValue)?;
            let h = ecdh_exchange_hash(hash, &prefix, init.q_c, &q_s, k.as_bytes());
            let signature = sign(signer, &h)?;
            let reply = KexEcdhReply {
                k_s: signer.k_s,
                q_s: &q_s,
                signature: &signature,
            }
            .to_bytes();
            Ok(ServerStep::Done {
                reply,
                output: KexOutput {
                    k: encode_k(k.as_bytes()),
                    h,
                    host_key: signer.k_s.to_vec(),
                    ephemeral: Some(private.secret_bytes()),
                },
            })
        }
        (ServerKex::Init, KexKind::Hybrid(kem)) => {
            let init: KexEcdhInit<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let (s_reply, k) = kem
                .respond(init.q_c, rng)
                .map_err(TransportError::KexPublicValue)?;
            let h = hybrid_exchange_hash(hash, &prefix, init.q_c, &s_reply, k.as_bytes());
            let signature = sign(signer, &h)?;
            let reply = KexEcdhReply {
                k_s: signer.k_s,
                q_s: &s_reply,
                signature: &signature,
            }
            .to_bytes();
            Ok(ServerStep::Done {
                reply,
                output: KexOutput {
                    k: encode_k_string(k.as_bytes()),
                    h,
                    host_key: signer.k_s.to_vec(),
                    ephemeral: None,
                },
            })
        }
        (ServerKex::Init, KexKind::Dh(group)) => {
            if msg != KEXDH_INIT {
                return Err(unexpected(msg));
            }
            let init: KexdhInit<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let private = DhPrivateKey::generate(&group, rng, method.dh_exponent_bits());
            let f = private.public_key().to_bytes_be();
            let k = private
                .agree(&BigUint::from_bytes_be(init.e))
                .map_err(TransportError::KexPublicValue)?;
            let h = dh_exchange_hash(hash, &prefix, init.e, &f, k.as_bytes());
            let signature = sign(signer, &h)?;
            let reply = KexdhReply {
                k_s: signer.k_s,
                f: &f,
                signature: &signature,
            }
            .to_bytes();
            Ok(ServerStep::Done {
                reply,
                output: KexOutput {
                    k: encode_k(k.as_bytes()),
                    h,
                    host_key: signer.k_s.to_vec(),
                    ephemeral: None,
                },
            })
        }
        (ServerKex::GexRequest, _) => {
            if msg != KEX_DH_GEX_REQUEST {
                return Err(unexpected(msg));
            }
            let request: KexDhGexRequest =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            // OpenSSH clamps the request to what it supports before choosing.
            let min = request.min.max(2048);
            let max = request.max.min(8192);
            if request.max < min
                || request.min > max
                || request.n < request.min
                || request.n > request.max
            {
                return Err(TransportError::KexFailed(
                    "invalid DH group exchange request",
                ));
            }
            let n = request.n.clamp(min, max);
            let group = if gex.moduli.is_empty() {
                builtin_group(min, n, max)
            } else {
                choose_group(&gex.moduli, min, n, max)
            }
            .ok_or(TransportError::KexFailed(
                "no DH group of the requested size",
            ))?;
            let (p, g) = (group.p.to_bytes_be(), group.g.to_bytes_be());
            let msg = KexDhGexGroup { p: &p, g: &g }.to_bytes();
            Ok(ServerStep::Continue(
                ServerKex::GexInit { request, group },
                msg,
            ))
        }
        (ServerKex::GexInit { request, group }, _) => {
            if msg != KEX_DH_GEX_INIT {
                return Err(unexpected(msg));
            }
            let init: KexDhGexInit<'_> =
                decode_exact(payload).map_err(TransportError::malformed(MsgNumber(msg)))?;
            let private = DhPrivateKey::generate(&group, rng, method.dh_exponent_bits());
            let f = private.public_key().to_bytes_be();
            let k = private
                .agree(&BigUint::from_bytes_be(init.e))
                .map_err(TransportError::KexPublicValue)?;
            let (p, g) = (group.p.to_bytes_be(), group.g.to_bytes_be());
            let params = GexHashParams {
                min: request.min,
                n: request.n,
                max: request.max,
                p: &p,
                g: &g,
            };
            let h = gex_exchange_hash(hash, &prefix, &params, init.e, &f, k.as_bytes());
            let signature = sign(signer, &h)?;
            let reply = KexDhGexReply {
                k_s: signer.k_s,
                f: &f,
                signature: &signature,
            }
            .to_bytes();
            Ok(ServerStep::Done {
                reply,
                output: KexOutput {
                    k: encode_k(k.as_bytes()),
                    h,
                    host_key: signer.k_s.to_vec(),
                    ephemeral: None,
                },
            })
        }
        (ServerKex::Init, KexKind::Gex) => Err(unexpected(msg)),
    }
}
