//! Algorithm negotiation (RFC 4253 §7.1): building our KEXINIT and choosing one algorithm per category.

use nacre_crypto::{CipherAlg, MacAlg};
use nacre_keys::SignatureAlgorithm;
use nacre_wire::{put, MsgNumber, NameList};

use crate::compress::CompressionAlg;
use crate::config::{Config, Role};
use crate::error::TransportError;
use crate::kex::KexMethod;
use crate::msg::KexInit;

/// Client marker for RFC 8308 extension negotiation.
pub const EXT_INFO_C: &str = "ext-info-c";
/// Server marker for RFC 8308 extension negotiation.
pub const EXT_INFO_S: &str = "ext-info-s";
/// Client marker for strict key exchange (OpenSSH PROTOCOL).
pub const KEX_STRICT_C: &str = "kex-strict-c-v00@openssh.com";
/// Server marker for strict key exchange (OpenSSH PROTOCOL).
pub const KEX_STRICT_S: &str = "kex-strict-s-v00@openssh.com";

/// The algorithms chosen by one negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Key exchange method.
    pub kex: KexMethod,
    /// Host key signature algorithm.
    pub host_key: SignatureAlgorithm,
    /// The host key algorithm is its `*-cert-v01@openssh.com` form: the server sends an OpenSSH
    /// host certificate (PROTOCOL.certkeys) and signs with `host_key`.
    pub host_key_certificate: bool,
    /// Cipher client to server.
    pub cipher_c2s: CipherAlg,
    /// Cipher server to client.
    pub cipher_s2c: CipherAlg,
    /// MAC client to server (`None` with an AEAD cipher).
    pub mac_c2s: Option<MacAlg>,
    /// MAC server to client (`None` with an AEAD cipher).
    pub mac_s2c: Option<MacAlg>,
    /// Compression client to server (RFC 4253 §6.2).
    pub compression_c2s: CompressionAlg,
    /// Compression server to client.
    pub compression_s2c: CompressionAlg,
}

/// Builds our KEXINIT payload. Markers (ext-info, strict kex) are added to the kex list only in the
/// first exchange.
pub fn build_kexinit(
    role: Role,
    config: &Config,
    host_key_algs: &[SignatureAlgorithm],
    cookie: [u8; 16],
    first: bool,
) -> Vec<u8> {
    let hk: Vec<&str> = host_key_algs.iter().map(|a| a.name()).collect();
    build_kexinit_names(role, config, &hk, cookie, first)
}

/// A host key algorithm name: a signature algorithm, or its `*-cert-v01@openssh.com` form
/// (PROTOCOL.certkeys §2) with `true`.
pub fn host_key_from_name(name: &str) -> Option<(SignatureAlgorithm, bool)> {
    match nacre_keys::cert::plain_name(name) {
        Some(plain) => SignatureAlgorithm::from_name(&plain).map(|a| (a, true)),
        None => SignatureAlgorithm::from_name(name).map(|a| (a, false)),
    }
}

/// [`build_kexinit`] with the host key algorithm names given as they go on the wire
/// (certificate forms included).
pub fn build_kexinit_names(
    role: Role,
    config: &Config,
    hk: &[&str],
    cookie: [u8; 16],
    first: bool,
) -> Vec<u8> {
    let mut kex: Vec<&str> = config.algorithms.kex.iter().map(|k| k.name()).collect();
    if first {
        match role {
            Role::Client => {
                if config.ext_info {
                    kex.push(EXT_INFO_C);
                }
                if config.strict_kex {
                    kex.push(KEX_STRICT_C);
                }
            }
            Role::Server => {
                if config.ext_info {
                    kex.push(EXT_INFO_S);
                }
                if config.strict_kex {
                    kex.push(KEX_STRICT_S);
                }
            }
        }
    }
    let ciphers: Vec<&str> = config.algorithms.cipher.iter().map(|c| c.name()).collect();
    let macs: Vec<&str> = config.algorithms.mac.iter().map(|m| m.name()).collect();
    let compression: Vec<&str> = config
        .algorithms
        .compression
        .iter()
        .map(|c| c.name())
        .collect();
    let mut out = Vec::with_capacity(1024);
    put::byte(&mut out, MsgNumber::KEXINIT.0);
    out.extend_from_slice(&cookie);
    put::name_list(&mut out, &kex);
    put::name_list(&mut out, hk);
    put::name_list(&mut out, &ciphers);
    put::name_list(&mut out, &ciphers);
    put::name_list(&mut out, &macs);
    put::name_list(&mut out, &macs);
    put::name_list(&mut out, &compression);
    put::name_list(&mut out, &compression);
    put::name_list::<&str>(&mut out, &[]);
    put::name_list::<&str>(&mut out, &[]);
    put::boolean(&mut out, false);
    put::uint32(&mut out, 0);
    out
}

fn choose<T>(
    category: &'static str,
    client: &NameList<'_>,
    server: &NameList<'_>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, TransportError> {
    client
        .iter()
        .filter(|name| server.contains(name))
        .find_map(parse)
        .ok_or_else(|| TransportError::NoCommonAlgorithm {
            category,
            ours: client.as_str().to_owned(),
            theirs: server.as_str().to_owned(),
        })
}

fn choose_mac(
    category: &'static str,
    cipher: CipherAlg,
    client: &NameList<'_>,
    server: &NameList<'_>,
) -> Result<Option<MacAlg>, TransportError> {
    if cipher.is_aead() {
        // The AEAD tag authenticates; the MAC lists are not negotiated (OpenSSH does the same).
        return Ok(None);
    }
    choose(category, client, server, MacAlg::from_name).map(Some)
}

/// Chooses the algorithms: for each category the first algorithm of the client's list that the
/// server also lists (RFC 4253 §7.1). Every key exchange method here needs a signature-capable host
/// key, which every host key algorithm here is.
///
/// ```
/// use nacre_crypto::CipherAlg;
/// use nacre_keys::SignatureAlgorithm;
/// use nacre_transport::msg::KexInit;
/// use nacre_transport::negotiate::{build_kexinit, negotiate};
/// use nacre_transport::{Config, KexMethod, Role};
///
/// let mut client = Config::client();
/// client.algorithms.kex = vec![KexMethod::Curve25519Sha256];
/// client.algorithms.cipher = vec![CipherAlg::Aes128Ctr, CipherAlg::Aes256Gcm];
/// let server = Config::server(Vec::new());
/// let ed25519 = [SignatureAlgorithm::Ed25519];
///
/// let c = build_kexinit(Role::Client, &client, &client.algorithms.host_key, [1; 16], true);
/// let s = build_kexinit(Role::Server, &server, &ed25519, [2; 16], true);
/// let (c, s): (KexInit, KexInit) = (nacre_wire::decode_exact(&c)?, nacre_wire::decode_exact(&s)?);
/// assert!(c.kex_algorithms.contains("kex-strict-c-v00@openssh.com"));
///
/// let chosen = negotiate(&c, &s)?;
/// assert_eq!(chosen.kex, KexMethod::Curve25519Sha256);
/// assert_eq!(chosen.host_key, SignatureAlgorithm::Ed25519);
/// assert_eq!(chosen.cipher_c2s, CipherAlg::Aes128Ctr); // the client's first that both have
/// assert!(chosen.mac_c2s.is_some()); // CTR needs a MAC
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn negotiate(client: &KexInit<'_>, server: &KexInit<'_>) -> Result<Negotiated, TransportError> {
    let kex = choose(
        "kex",
        &client.kex_algorithms,
        &server.kex_algorithms,
        KexMethod::from_name,
    )?;
    let (host_key, host_key_certificate) = choose(
        "host key",
        &client.server_host_key_algorithms,
        &server.server_host_key_algorithms,
        host_key_from_name,
    )?;
    let cipher_c2s = choose(
        "cipher client to server",
        &client.encryption_c2s,
        &server.encryption_c2s,
        CipherAlg::from_name,
    )?;
    let cipher_s2c = choose(
        "cipher server to client",
        &client.encryption_s2c,
        &server.encryption_s2c,
        CipherAlg::from_name,
    )?;
    let mac_c2s = choose_mac(
        "MAC client to server",
        cipher_c2s,
        &client.mac_c2s,
        &server.mac_c2s,
    )?;
    let mac_s2c = choose_mac(
        "MAC server to client",
        cipher_s2c,
        &client.mac_s2c,
        &server.mac_s2c,
    )?;
    let compression_c2s = choose(
        "compression client to server",
        &client.compression_c2s,
        &server.compression_c2s,
        CompressionAlg::from_name,
    )?;
    let compression_s2c = choose(
        "compression server to client",
        &client.compression_s2c,
        &server.compression_s2c,
        CompressionAlg::from_name,
    )?;
    Ok(Negotiated {
        kex,
        host_key,
        host_key_certificate,
        cipher_c2s,
        cipher_s2c,
        mac_c2s,
        mac_s2c,
        compression_c2s,
        compression_s2c,
    })
}

/// RFC 4253 §7: a guessed first kex packet is right only if both sides list the same first kex
/// method and the same first host key algorithm.
pub fn guess_is_right(client: &KexInit<'_>, server: &KexInit<'_>) -> bool {
    client.kex_algorithms.first() == server.kex_algorithms.first()
        && client.server_host_key_algorithms.first() == server.server_host_key_algorithms.first()
}

/// The algorithm lists of the peer's first KEXINIT, as sent (markers included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerAlgorithms {
    /// kex_algorithms.
    pub kex: Vec<String>,
    /// server_host_key_algorithms.
    pub host_key: Vec<String>,
    /// encryption_algorithms_client_to_server.
    pub cipher_c2s: Vec<String>,
    /// encryption_algorithms_server_to_client.
    pub cipher_s2c: Vec<String>,
    /// mac_algorithms_client_to_server.
    pub mac_c2s: Vec<String>,
    /// mac_algorithms_server_to_client.
    pub mac_s2c: Vec<String>,
    /// compression_algorithms_client_to_server.
    pub compression_c2s: Vec<String>,
    /// compression_algorithms_server_to_client.
    pub compression_s2c: Vec<String>,
}

impl PeerAlgorithms {
    /// Copies the lists out of a decoded KEXINIT.
    pub fn from_kexinit(k: &KexInit<'_>) -> Self {
        let v = |l: &NameList<'_>| l.iter().map(str::to_owned).collect();
        PeerAlgorithms {
            kex: v(&k.kex_algorithms),
            host_key: v(&k.server_host_key_algorithms),
            cipher_c2s: v(&k.encryption_c2s),
            cipher_s2c: v(&k.encryption_s2c),
            mac_c2s: v(&k.mac_c2s),
            mac_s2c: v(&k.mac_s2c),
            compression_c2s: v(&k.compression_c2s),
            compression_s2c: v(&k.compression_s2c),
        }
    }
}
