//! Configuration of a transport: algorithm preferences, limits, host keys.

use std::sync::Arc;
use std::time::Duration;

use nacre_crypto::{CipherAlg, MacAlg, ModuliEntry};
use nacre_keys::{PrivateKey, SignatureAlgorithm};

use crate::compress::CompressionAlg;
use crate::kex::KexMethod;

/// Which end of the connection this transport is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The side that connects and verifies the host key.
    Client,
    /// The side that accepts and signs with its host key.
    Server,
}

/// Algorithm preference lists, most preferred first.
///
/// ```
/// use nacre_crypto::MacAlg;
/// use nacre_transport::{Algorithms, KexMethod};
///
/// let client = Algorithms::client_default();
/// assert_eq!(client.kex[0], KexMethod::MlKem768X25519Sha256); // post-quantum first
/// assert!(!client.kex.contains(&KexMethod::DhGroup14Sha1)); // no SHA-1
/// assert!(!client.kex.contains(&KexMethod::MlKem1024NistP384Sha384)); // opt-in
///
/// let server = Algorithms::server_default();
/// assert!(!server.kex.contains(&KexMethod::EcdhSha2Nistp256));
/// assert!(server.mac.iter().all(|m| m.is_etm()));
///
/// // Everything, legacy included, for a peer that needs it.
/// let all = Algorithms::all();
/// assert!(all.kex.contains(&KexMethod::DhGroup14Sha1));
/// assert!(all.mac.contains(&MacAlg::from_name("hmac-sha1").unwrap()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Algorithms {
    /// Key exchange methods.
    pub kex: Vec<KexMethod>,
    /// Host key (signature) algorithms.
    pub host_key: Vec<SignatureAlgorithm>,
    /// Ciphers, both directions.
    pub cipher: Vec<CipherAlg>,
    /// MACs, both directions (unused with AEAD ciphers).
    pub mac: Vec<MacAlg>,
    /// Compression, both directions (RFC 4253 §6.2): [`Algorithms::client_default`] offers
    /// `none` first and `zlib@openssh.com` after it, as OpenSSH's ssh without `-C` and sshd
    /// with its default `Compression yes`; [`compression_preferred`] is ssh's `-C`.
    pub compression: Vec<CompressionAlg>,
}

/// The compression list of a client that asks for compression (ssh's `-C`,
/// `Compression yes`): `zlib@openssh.com`, `zlib`, then `none` for a server without either.
pub fn compression_preferred() -> Vec<CompressionAlg> {
    vec![
        CompressionAlg::ZlibOpenssh,
        CompressionAlg::Zlib,
        CompressionAlg::None,
    ]
}

/// The default compression list: `none`, then `zlib@openssh.com` (OpenSSH's
/// `KEX_DEFAULT_COMP`): a client gets no compression unless it asks; a server compresses
/// after authentication for a client that asks (sshd's `Compression yes`, its default).
pub fn compression_default() -> Vec<CompressionAlg> {
    vec![CompressionAlg::None, CompressionAlg::ZlibOpenssh]
}

impl Algorithms {
    /// Client defaults: every modern algorithm in OpenSSH 10.x's order; the SHA-1 ones and the
    /// opt-in kex methods ([`KexMethod::is_opt_in`]: the ML-KEM hybrids on NIST curves) are
    /// left out.
    pub fn client_default() -> Self {
        Algorithms {
            kex: KexMethod::ALL
                .iter()
                .copied()
                .filter(|m| !m.is_opt_in())
                .collect(),
            host_key: SignatureAlgorithm::ALL
                .iter()
                .copied()
                .filter(|a| !a.is_legacy())
                .collect(),
            cipher: CipherAlg::ALL.to_vec(),
            mac: default_macs(),
            compression: compression_default(),
        }
    }

    /// Server defaults: like the client, without finite-field DH (num-bigint is not constant
    /// time), without ECDH on the NIST curves (every client that has them also has curve25519;
    /// ssh-audit fails a server offering them) and without the encrypt-and-MAC MACs (only the
    /// AEAD ciphers and the `-etm@openssh.com` MACs: ssh-audit warns about the others). Configure
    /// those explicitly where old clients need them: libssh2 before 1.11 (curl 7.88 on Debian 12)
    /// has neither AEAD nor ETM and needs `hmac-sha2-256`. docs/SECURITY.md ("Default
    /// algorithms") gives the reasons.
    pub fn server_default() -> Self {
        let mut a = Self::client_default();
        a.kex.retain(|m| !m.is_ffdh() && !m.is_nist_ecdh());
        a.mac.retain(|m| m.is_etm());
        a
    }

    /// Everything nacre implements, including the legacy SHA-1 algorithms.
    pub fn all() -> Self {
        Algorithms {
            kex: KexMethod::ALL.to_vec(),
            host_key: SignatureAlgorithm::ALL.to_vec(),
            cipher: CipherAlg::ALL.to_vec(),
            mac: MacAlg::ALL.to_vec(),
            compression: CompressionAlg::ALL.to_vec(),
        }
    }
}

fn default_macs() -> Vec<MacAlg> {
    MacAlg::ALL
        .iter()
        .copied()
        .filter(|m| !m.is_legacy())
        .collect()
}

/// Default [`Limits::max_packet_len`]: 256 KiB, as OpenSSH (RFC 4253 §6.1 requires 35 000).
pub const DEFAULT_MAX_PACKET_LEN: usize = 256 * 1024;
/// Default [`Limits::max_banner_lines`]: lines a client skips before the server's `SSH-` line.
pub const DEFAULT_MAX_BANNER_LINES: usize = 1024;
/// Default [`Limits::max_banner_line_len`]: longest identification or pre-identification line read.
pub const DEFAULT_MAX_BANNER_LINE_LEN: usize = 8 * 1024;
/// Default [`Limits::rekey_packets`].
pub const DEFAULT_REKEY_PACKETS: u64 = 1 << 31;
/// Default [`Limits::max_queued_bytes`]: application payloads held during a key exchange.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;
/// Default [`Limits::kex_timeout`].
pub const DEFAULT_KEX_TIMEOUT: Duration = Duration::from_secs(120);

/// Limits, each with an OpenSSH-like default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest packet_length accepted (RFC 4253 §6.1 requires 35 000; OpenSSH allows 256 KiB).
    pub max_packet_len: usize,
    /// Lines a client tolerates before the server's `SSH-` line.
    pub max_banner_lines: usize,
    /// Longest identification or pre-identification line read.
    pub max_banner_line_len: usize,
    /// Rekey after this many bytes in one direction; `None` uses the per-cipher limit as OpenSSH does
    /// (2^32 blocks for 16-byte blocks, 1 GiB for chacha20-poly1305).
    pub rekey_bytes: Option<u64>,
    /// Rekey after this many packets in one direction.
    pub rekey_packets: u64,
    /// Rekey after this much time; `None` disables the time trigger.
    pub rekey_time: Option<Duration>,
    /// Bytes of application payloads queued while a key exchange runs before the writer sees
    /// backpressure.
    pub max_queued_bytes: usize,
    /// How long a key exchange may take.
    pub kex_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packet_len: DEFAULT_MAX_PACKET_LEN,
            max_banner_lines: DEFAULT_MAX_BANNER_LINES,
            max_banner_line_len: DEFAULT_MAX_BANNER_LINE_LEN,
            rekey_bytes: None,
            rekey_packets: DEFAULT_REKEY_PACKETS,
            rekey_time: None,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            kex_timeout: DEFAULT_KEX_TIMEOUT,
        }
    }
}

/// Diffie-Hellman group exchange settings (RFC 4419).
#[derive(Clone, Debug)]
pub struct GexConfig {
    /// Client request: minimal group size in bits.
    pub min: u32,
    /// Client request: preferred group size in bits.
    pub n: u32,
    /// Client request: maximal group size in bits.
    pub max: u32,
    /// Server: groups from an OpenSSH moduli file; empty uses the built-in RFC 3526 groups.
    pub moduli: Vec<ModuliEntry>,
}

impl Default for GexConfig {
    fn default() -> Self {
        GexConfig {
            min: 2048,
            n: 3072,
            max: 8192,
            moduli: Vec::new(),
        }
    }
}

/// Everything a transport needs to know before it starts.
///
/// Start from [`Config::client`] or [`Config::server`] and change the fields that matter:
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use nacre_crypto::CipherAlg;
/// use nacre_keys::PrivateKey;
/// use nacre_transport::Config;
///
/// let mut client = Config::client();
/// assert!(client.strict_kex && client.ext_info);
/// assert!(client.software_version.starts_with("nacre_"));
/// client.algorithms.cipher = vec![CipherAlg::Aes256Gcm]; // only this cipher
/// client.limits.rekey_time = Some(Duration::from_secs(3600));
///
/// let host_key = Arc::new(PrivateKey::from_ed25519_seed(&[1; 32]));
/// let server = Config::server(vec![host_key]);
/// assert_eq!(server.services, ["ssh-userauth"]);
/// assert_eq!(server.host_keys.len(), 1);
/// assert!(server.server_sig_algs.iter().all(|a| !a.is_legacy()));
/// ```
#[derive(Clone)]
pub struct Config {
    /// Algorithm preferences.
    pub algorithms: Algorithms,
    /// Limits.
    pub limits: Limits,
    /// Our `softwareversion`; the banner is `SSH-2.0-<this>`.
    pub software_version: String,
    /// Optional comments after the software version.
    pub comments: Option<String>,
    /// Offer strict key exchange (kex-strict-c/s-v00@openssh.com).
    pub strict_kex: bool,
    /// Offer RFC 8308 extension negotiation (ext-info-c / ext-info-s).
    pub ext_info: bool,
    /// Server: host keys to sign with.
    pub host_keys: Vec<Arc<PrivateKey>>,
    /// Server: OpenSSH host certificates of some of `host_keys` (PROTOCOL.certkeys, sshd's
    /// `HostCertificate`): their `*-cert-v01@openssh.com` algorithms are offered first.
    pub host_certificates: Vec<Arc<nacre_keys::Certificate>>,
    /// Client: also offer the `*-cert-v01@openssh.com` form of every host key algorithm, first
    /// (as OpenSSH does when it knows a CA for the host); the server may then send a certificate
    /// ([`crate::Event::HostKey`] carries it).
    pub host_key_certificates: bool,
    /// Client: decides whether a host certificate the server presents is trusted (its CA in
    /// `@cert-authority`, valid for the host, not `@revoked`). The transport never calls it: the
    /// runtime does, instead of its plain host key verifier, when [`crate::Event::HostKey`]
    /// carries a certificate. `None`: the certificate's key goes to the plain verifier.
    pub host_certificate_check: Option<HostCertificateCheck>,
    /// Server: signature algorithms announced in `server-sig-algs`.
    pub server_sig_algs: Vec<SignatureAlgorithm>,
    /// Server: services a client may request.
    pub services: Vec<String>,
    /// Group exchange.
    pub gex: GexConfig,
    /// Report session secrets as [`crate::Event::KeyLog`] lines (Wireshark's SSH keylog format),
    /// for `SSHKEYLOGFILE`. Off by default.
    pub keylog: bool,
}

impl Config {
    /// Defaults for a client.
    pub fn client() -> Self {
        Config {
            algorithms: Algorithms::client_default(),
            limits: Limits::default(),
            software_version: default_software_version(),
            comments: None,
            strict_kex: true,
            ext_info: true,
            host_keys: Vec::new(),
            host_certificates: Vec::new(),
            host_key_certificates: false,
            host_certificate_check: None,
            server_sig_algs: Vec::new(),
            services: Vec::new(),
            gex: GexConfig::default(),
            keylog: false,
        }
    }

    /// Defaults for a server with the given host keys.
    pub fn server(host_keys: Vec<Arc<PrivateKey>>) -> Self {
        Config {
            algorithms: Algorithms::server_default(),
            host_keys,
            server_sig_algs: SignatureAlgorithm::ALL
                .iter()
                .chain(SignatureAlgorithm::SK)
                .copied()
                .filter(|a| !a.is_legacy())
                .collect(),
            services: vec!["ssh-userauth".to_owned()],
            ..Config::client()
        }
    }
}

/// See [`Config::host_certificate_check`].
pub type HostCertificateCheck = Arc<dyn Fn(&nacre_keys::Certificate) -> bool + Send + Sync>;

/// `nacre_<crate version>`.
pub fn default_software_version() -> String {
    format!("nacre_{}", env!("CARGO_PKG_VERSION"))
}
