//! Message decoders, the identification line reader and algorithm negotiation.

use nacre_wire::{decode_exact, fuzz_round_trip};

use crate::banner::{BannerReader, Identification};
use crate::config::{Limits, Role};
use crate::msg::{
    Debug, Disconnect, ExtInfo, Ignore, KexDhGexGroup, KexDhGexInit, KexDhGexReply,
    KexDhGexRequest, KexEcdhInit, KexEcdhReply, KexInit, KexdhInit, KexdhReply, NewKeys,
    ServiceAccept, ServiceRequest, Unimplemented,
};
use crate::negotiate::{build_kexinit, guess_is_right, negotiate};

/// The generic transport messages (RFC 4253 §10, §11), KEXINIT, NEWKEYS and EXT_INFO: `data` is one
/// payload, tried with every decoder. A payload that decodes as KEXINIT is also negotiated against
/// nacre's own client and server KEXINITs in both roles.
pub fn transport_messages(data: &[u8]) {
    fuzz_round_trip!(Disconnect<'_>, data);
    fuzz_round_trip!(Ignore<'_>, data);
    fuzz_round_trip!(Unimplemented, data);
    fuzz_round_trip!(Debug<'_>, data);
    fuzz_round_trip!(ServiceRequest<'_>, data);
    fuzz_round_trip!(ServiceAccept<'_>, data);
    fuzz_round_trip!(ExtInfo<'_>, data);
    fuzz_round_trip!(NewKeys, data);
    if fuzz_round_trip!(KexInit<'_>, data) {
        if let Ok(theirs) = decode_exact::<KexInit<'_>>(data) {
            negotiate_against(&theirs);
        }
    }
}

fn negotiate_against(theirs: &KexInit<'_>) {
    let client = super::client_config();
    let server = super::server_config();
    let ours_c = build_kexinit(
        Role::Client,
        &client,
        &client.algorithms.host_key,
        [1; 16],
        true,
    );
    let ours_s = build_kexinit(
        Role::Server,
        &server,
        &server.algorithms.host_key,
        [2; 16],
        true,
    );
    let (Ok(ours_c), Ok(ours_s)) = (
        decode_exact::<KexInit<'_>>(&ours_c),
        decode_exact::<KexInit<'_>>(&ours_s),
    ) else {
        panic!("our own KEXINIT does not decode");
    };
    for (client, server) in [(theirs, &ours_s), (&ours_c, theirs)] {
        let _ = guess_is_right(client, server);
        if let Ok(neg) = negotiate(client, server) {
            // Whatever is chosen is something both lists name.
            assert!(client.kex_algorithms.contains(neg.kex.name()));
            assert!(server.kex_algorithms.contains(neg.kex.name()));
            assert!(client.encryption_c2s.contains(neg.cipher_c2s.name()));
            assert!(server.encryption_s2c.contains(neg.cipher_s2c.name()));
            assert_eq!(neg.mac_c2s.is_none(), neg.cipher_c2s.is_aead());
            assert_eq!(neg.mac_s2c.is_none(), neg.cipher_s2c.is_aead());
        }
    }
}

/// The key exchange method messages, numbers 30–34, which mean different things per method: `data`
/// is one payload, tried with the decoders of every method (DH, ECDH, group exchange).
pub fn kex_messages(data: &[u8]) {
    fuzz_round_trip!(KexdhInit<'_>, data);
    fuzz_round_trip!(KexdhReply<'_>, data);
    fuzz_round_trip!(KexEcdhInit<'_>, data);
    fuzz_round_trip!(KexEcdhReply<'_>, data);
    fuzz_round_trip!(KexDhGexRequest, data);
    fuzz_round_trip!(KexDhGexGroup<'_>, data);
    fuzz_round_trip!(KexDhGexInit<'_>, data);
    fuzz_round_trip!(KexDhGexReply<'_>, data);
    // A DH group received from a peer, and the public value checks.
    if let Ok(g) = decode_exact::<KexDhGexGroup<'_>>(data) {
        if let Ok(group) = nacre_crypto::DhGroup::from_be_bytes(g.p, g.g) {
            assert!(
                (nacre_crypto::dh::MIN_GROUP_BITS..=nacre_crypto::dh::MAX_GROUP_BITS)
                    .contains(&group.bits())
            );
        }
    }
    for group in [nacre_crypto::DhGroup::group14()] {
        if let Ok(init) = decode_exact::<KexdhInit<'_>>(data) {
            let e = nacre_crypto::BigUint::from_bytes_be(init.e);
            let _ = nacre_crypto::check_dh_public(&group, &e);
        }
    }
    // ECDH public values of every curve.
    if let Ok(init) = decode_exact::<KexEcdhInit<'_>>(data) {
        let mut rng = nacre_crypto::SeededRng::new(3);
        for curve in [
            nacre_crypto::EcdhCurve::X25519,
            nacre_crypto::EcdhCurve::NistP256,
            nacre_crypto::EcdhCurve::NistP384,
            nacre_crypto::EcdhCurve::NistP521,
        ] {
            let private = nacre_crypto::EcdhPrivateKey::generate(curve, &mut rng);
            if let Ok(secret) = private.agree(init.q_c) {
                assert!(
                    !secret.as_bytes().iter().all(|&b| b == 0),
                    "all-zero shared secret"
                );
                assert_eq!(init.q_c.len(), curve.public_len());
            }
        }
    }
}

/// The identification line reader (RFC 4253 §4.2) of both roles: `data` is read once whole and
/// once in chunks of `data[0] % 16 + 1` bytes; both readings must agree. Every `SSH-` line found
/// parses to an [`Identification`] whose `line` is that line.
pub fn banner(data: &[u8]) {
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_banner_lines: 8,
        max_banner_line_len: 256,
        ..Limits::default()
    };
    for role in [Role::Client, Role::Server] {
        let whole = read_banner(role, &limits, input, input.len().max(1));
        let chunked = read_banner(role, &limits, input, usize::from(knob % 16) + 1);
        assert_eq!(
            whole, chunked,
            "identification depends on how the input was split"
        );
        if let Some(Ok((id, consumed))) = &whole {
            assert!(*consumed <= input.len());
            assert!(id.line.starts_with(b"SSH-"));
        }
    }
    for line in input.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(id) = Identification::parse(line) {
            assert_eq!(id.line, line);
            assert!(id.proto_version == "2.0" || id.proto_version == "1.99");
        }
    }
}

type BannerResult = Option<Result<(Identification, usize), crate::error::BannerError>>;

/// Feeds `input` to a reader `chunk` bytes at a time, as the transport does (dropping the bytes of
/// counted preamble lines). Returns the identification and the total bytes consumed, the error, or
/// `None` when the input ran out first.
fn read_banner(role: Role, limits: &Limits, input: &[u8], chunk: usize) -> BannerResult {
    let mut reader = BannerReader::new(role, limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut dropped = 0;
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        match reader.poll(&buf) {
            Ok(Some((id, consumed))) => return Some(Ok((id, dropped + consumed))),
            Ok(None) => {
                let done = reader.take_consumed();
                buf.drain(..done.min(buf.len()));
                dropped += done;
            }
            Err(e) => return Some(Err(e)),
        }
    }
    None
}
