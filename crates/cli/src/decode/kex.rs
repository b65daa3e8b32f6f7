//! One key exchange as seen on the wire, and the keys it yields: the algorithms negotiated from
//! both KEXINITs, the exchange hash H recomputed from the captured messages (RFC 4253 §8,
//! RFC 5656 §4, RFC 4419 §3, RFC 8731 §3, the hybrid drafts) with nacre-transport's hash code,
//! K from the key log, and the packet keys of RFC 4253 §7.2.

use bytes::Bytes;
use nacre_crypto::EcdhPrivateKey;
use nacre_keys::PublicKey;
use nacre_transport::kex::hash::{self, GexHashParams, HashPrefix};
use nacre_transport::kex::keys::{self, DerivedKeys};
use nacre_transport::kex::KexKind;
use nacre_transport::msg::{
    KexDhGexGroup, KexDhGexInit, KexDhGexReply, KexDhGexRequest, KexEcdhInit, KexEcdhReply,
    KexInit, KexdhInit, KexdhReply,
};
use nacre_transport::negotiate::{guess_is_right, negotiate, KEX_STRICT_C, KEX_STRICT_S};
use nacre_transport::Negotiated;
use nacre_wire::decode_exact;

use super::keylog::{hex, KeyLog};

/// Client to server (index 0) and server to client (index 1).
pub const C2S: usize = 0;
/// Server to client.
pub const S2C: usize = 1;

/// What a finished exchange yields.
pub struct Outcome {
    /// The exchange hash.
    pub h: Vec<u8>,
    /// Both directions' key material.
    pub keys: DerivedKeys,
    /// Whether the host key's signature over H verified.
    pub signature_ok: bool,
}

/// The messages of one key exchange, per direction, and its outcome once computed.
#[derive(Default)]
pub struct KexRecord {
    /// The KEXINIT payloads: I_C and I_S.
    pub kexinit: [Option<Bytes>; 2],
    /// The method's messages (numbers 30–49) of each direction, in order.
    pub msgs: [Vec<Bytes>; 2],
    /// The outcome, or why there is none; `None` while inputs are missing.
    pub outcome: Option<Result<Outcome, String>>,
}

/// What the exchange hash needs besides the messages.
pub struct Context<'a> {
    /// V_C and V_S.
    pub idents: [&'a [u8]; 2],
    /// The session id: H of the first exchange (`None` for the first exchange itself).
    pub session_id: Option<&'a [u8]>,
    /// The key log.
    pub keylog: &'a KeyLog,
}

impl KexRecord {
    /// The negotiated algorithms, once both KEXINITs are there.
    pub fn negotiated(&self) -> Option<Negotiated> {
        let [Some(c), Some(s)] = &self.kexinit else {
            return None;
        };
        let c = decode_exact::<KexInit<'_>>(c).ok()?;
        let s = decode_exact::<KexInit<'_>>(s).ok()?;
        negotiate(&c, &s).ok()
    }

    /// Whether both KEXINITs carry the strict kex markers (meaningful in the first exchange).
    pub fn strict(&self) -> bool {
        let has = |i: usize, marker: &str| {
            self.kexinit
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|p| decode_exact::<KexInit<'_>>(p).ok())
                .is_some_and(|k| k.kex_algorithms.contains(marker))
        };
        has(C2S, KEX_STRICT_C) && has(S2C, KEX_STRICT_S)
    }

    /// Whether the first kex packet from `dir` is a wrong guess, ignored (RFC 4253 §7): its
    /// KEXINIT said one follows and the guess is not right.
    pub fn ignored_guess(&self, dir: usize) -> bool {
        let [Some(c), Some(s)] = &self.kexinit else {
            return false;
        };
        let (Ok(c), Ok(s)) = (
            decode_exact::<KexInit<'_>>(c),
            decode_exact::<KexInit<'_>>(s),
        ) else {
            return false;
        };
        let sender = if dir == C2S { &c } else { &s };
        sender.first_kex_packet_follows && !guess_is_right(&c, &s)
    }

    fn msg(&self, dir: usize, number: u8) -> Option<&[u8]> {
        self.msgs
            .get(dir)?
            .iter()
            .skip(usize::from(self.ignored_guess(dir)))
            .find(|m| m.first() == Some(&number))
            .map(|m| m.as_ref())
    }

    fn cookie(&self, dir: usize) -> Option<[u8; 16]> {
        let p = self.kexinit.get(dir)?.as_ref()?;
        p.get(1..17)?.try_into().ok()
    }

    /// Computes the outcome if every input is there (and records failures); does nothing when
    /// it is already computed or inputs are missing.
    pub fn try_compute(&mut self, ctx: &Context<'_>) {
        if self.outcome.is_some() {
            return;
        }
        let Some(neg) = self.negotiated() else {
            return;
        };
        match self.compute(&neg, ctx) {
            Ok(Some(outcome)) => self.outcome = Some(Ok(outcome)),
            Ok(None) => {}
            Err(e) => self.outcome = Some(Err(e)),
        }
    }

    fn compute(&self, neg: &Negotiated, ctx: &Context<'_>) -> Result<Option<Outcome>, String> {
        let Some(values) = self.values(neg)? else {
            return Ok(None);
        };
        let k = self.shared_secret(neg, &values, ctx.keylog)?;
        let [Some(i_c), Some(i_s)] = &self.kexinit else {
            return Ok(None);
        };
        let [v_c, v_s] = ctx.idents;
        let prefix = HashPrefix {
            v_c,
            v_s,
            i_c,
            i_s,
            k_s: values.k_s,
        };
        let alg = neg.kex.hash();
        let h = match (&neg.kex.kind(), &values.gex) {
            (KexKind::Hybrid(_), _) => {
                hash::hybrid_exchange_hash(alg, &prefix, values.client, values.server, &k)
            }
            (KexKind::Ecdh(_), _) => {
                hash::ecdh_exchange_hash(alg, &prefix, values.client, values.server, &k)
            }
            (KexKind::Gex, Some(params)) => {
                hash::gex_exchange_hash(alg, &prefix, params, values.client, values.server, &k)
            }
            _ => hash::dh_exchange_hash(alg, &prefix, values.client, values.server, &k),
        };
        let k_enc = if neg.kex.is_hybrid() {
            hash::encode_k_string(&k)
        } else {
            hash::encode_k(&k)
        };
        let signature_ok = PublicKey::from_blob(values.k_s)
            .and_then(|key| key.verify(neg.host_key, &h, values.signature))
            .is_ok();
        let keys = keys::derive(neg, &k_enc, &h, ctx.session_id.unwrap_or(&h));
        Ok(Some(Outcome {
            h,
            keys,
            signature_ok,
        }))
    }

    /// The ephemeral values, host key and signature of the method's messages; `None` while a
    /// message is missing.
    fn values(&self, neg: &Negotiated) -> Result<Option<Values<'_>>, String> {
        let bad = |what: &str, e: nacre_wire::WireError| format!("{what}: {e}");
        let init = |n: u8| self.msg(C2S, n);
        let reply = |n: u8| self.msg(S2C, n);
        match neg.kex.kind() {
            KexKind::Ecdh(_) | KexKind::Hybrid(_) => {
                let (Some(i), Some(r)) = (init(30), reply(31)) else {
                    return Ok(None);
                };
                let i = decode_exact::<KexEcdhInit<'_>>(i).map_err(|e| bad("ECDH_INIT", e))?;
                let r = decode_exact::<KexEcdhReply<'_>>(r).map_err(|e| bad("ECDH_REPLY", e))?;
                Ok(Some(Values::new(i.q_c, r.q_s, r.k_s, r.signature, None)))
            }
            KexKind::Dh(_) => {
                let (Some(i), Some(r)) = (init(30), reply(31)) else {
                    return Ok(None);
                };
                let i = decode_exact::<KexdhInit<'_>>(i).map_err(|e| bad("KEXDH_INIT", e))?;
                let r = decode_exact::<KexdhReply<'_>>(r).map_err(|e| bad("KEXDH_REPLY", e))?;
                Ok(Some(Values::new(i.e, r.f, r.k_s, r.signature, None)))
            }
            KexKind::Gex => self.gex_values(),
        }
    }

    fn gex_values(&self) -> Result<Option<Values<'_>>, String> {
        let bad = |what: &str, e: nacre_wire::WireError| format!("{what}: {e}");
        let (Some(req), Some(group), Some(init), Some(reply)) = (
            self.msg(C2S, 34),
            self.msg(S2C, 31),
            self.msg(C2S, 32),
            self.msg(S2C, 33),
        ) else {
            return Ok(None);
        };
        let req = decode_exact::<KexDhGexRequest>(req).map_err(|e| bad("GEX_REQUEST", e))?;
        let group = decode_exact::<KexDhGexGroup<'_>>(group).map_err(|e| bad("GEX_GROUP", e))?;
        let init = decode_exact::<KexDhGexInit<'_>>(init).map_err(|e| bad("GEX_INIT", e))?;
        let reply = decode_exact::<KexDhGexReply<'_>>(reply).map_err(|e| bad("GEX_REPLY", e))?;
        let params = GexHashParams {
            min: req.min,
            n: req.n,
            max: req.max,
            p: group.p,
            g: group.g,
        };
        Ok(Some(Values::new(
            init.e,
            reply.f,
            reply.k_s,
            reply.signature,
            Some(params),
        )))
    }

    /// K from the key log: the shared secret under either cookie, or for the ECDH methods
    /// (curve25519, NIST curves) a private key agreed with the other side's public value.
    fn shared_secret(
        &self,
        neg: &Negotiated,
        values: &Values<'_>,
        log: &KeyLog,
    ) -> Result<Vec<u8>, String> {
        let (c, s) = (self.cookie(C2S), self.cookie(S2C));
        for c in [c, s].iter().flatten() {
            if let Some(k) = logged_secret(log, c, values, neg, self)? {
                return Ok(k);
            }
        }
        Err(format!(
            "no key log line for cookie {} or {}",
            c.map(|c| hex(&c)).unwrap_or_default(),
            s.map(|c| hex(&c)).unwrap_or_default()
        ))
    }
}

/// Looks one cookie up; `Ok(None)` when the log does not name it.
fn logged_secret(
    log: &KeyLog,
    cookie: &[u8; 16],
    values: &Values<'_>,
    neg: &Negotiated,
    rec: &KexRecord,
) -> Result<Option<Vec<u8>>, String> {
    let Some(entry) = log.get(cookie) else {
        return Ok(None);
    };
    if let Some(k) = &entry.shared_secret {
        return Ok(Some(k.clone()));
    }
    let (Some(private), KexKind::Ecdh(curve)) = (&entry.ecdh_private, neg.kex.kind()) else {
        return Ok(None);
    };
    let peer = if rec.cookie(C2S).as_ref() == Some(cookie) {
        values.server
    } else {
        values.client
    };
    let key = EcdhPrivateKey::from_bytes(curve, private).map_err(|e| e.to_string())?;
    let shared = key.agree(peer).map_err(|e| e.to_string())?;
    Ok(Some(shared.as_bytes().to_vec()))
}

/// The values an exchange hash takes besides its prefix.
struct Values<'a> {
    /// Q_C, e, or the hybrids' C_INIT.
    client: &'a [u8],
    /// Q_S, f, or S_REPLY.
    server: &'a [u8],
    k_s: &'a [u8],
    signature: &'a [u8],
    gex: Option<GexHashParams<'a>>,
}

impl<'a> Values<'a> {
    fn new(
        client: &'a [u8],
        server: &'a [u8],
        k_s: &'a [u8],
        signature: &'a [u8],
        gex: Option<GexHashParams<'a>>,
    ) -> Self {
        Values {
            client,
            server,
            k_s,
            signature,
            gex,
        }
    }
}
