//! Key exchange method names and their parameters (RFC 4253 §8, RFC 4419, RFC 5656, RFC 8268, RFC 8731,
//! draft-ietf-sshm-mlkem-hybrid-kex, draft-josefsson-ntruprime-ssh).

use nacre_crypto::{DhGroup, EcdhCurve, HashAlg, HybridKem};

/// A key exchange method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KexMethod {
    /// mlkem768x25519-sha256 (draft-ietf-sshm-mlkem-hybrid-kex): ML-KEM-768 with X25519,
    /// OpenSSH 10's default.
    MlKem768X25519Sha256,
    /// mlkem768nistp256-sha256 (draft-ietf-sshm-mlkem-hybrid-kex): ML-KEM-768 with ECDH on
    /// NIST P-256 (OpenSSH 10.5), opt-in.
    MlKem768NistP256Sha256,
    /// mlkem1024nistp384-sha384 (draft-ietf-sshm-mlkem-hybrid-kex): ML-KEM-1024 with ECDH on
    /// NIST P-384 (AsyncSSH, libssh), opt-in.
    MlKem1024NistP384Sha384,
    /// sntrup761x25519-sha512 (draft-josefsson-ntruprime-ssh): Streamlined NTRU Prime 761 with
    /// X25519, the name OpenSSH 9.9 added.
    Sntrup761X25519Sha512,
    /// sntrup761x25519-sha512@openssh.com, the same method under the name OpenSSH 8.5–9.8 know
    /// (OpenSSH 9.0's default).
    Sntrup761X25519Sha512Openssh,
    /// curve25519-sha256 (RFC 8731).
    Curve25519Sha256,
    /// curve25519-sha256@libssh.org, the same method under its original name.
    Curve25519Sha256Libssh,
    /// ecdh-sha2-nistp256 (RFC 5656).
    EcdhSha2Nistp256,
    /// ecdh-sha2-nistp384 (RFC 5656).
    EcdhSha2Nistp384,
    /// ecdh-sha2-nistp521 (RFC 5656).
    EcdhSha2Nistp521,
    /// diffie-hellman-group14-sha256 (RFC 8268).
    DhGroup14Sha256,
    /// diffie-hellman-group16-sha512 (RFC 8268).
    DhGroup16Sha512,
    /// diffie-hellman-group18-sha512 (RFC 8268).
    DhGroup18Sha512,
    /// diffie-hellman-group-exchange-sha256 (RFC 4419).
    DhGexSha256,
    /// diffie-hellman-group14-sha1 (RFC 4253), legacy, opt-in.
    DhGroup14Sha1,
    /// diffie-hellman-group-exchange-sha1 (RFC 4419), legacy, opt-in.
    DhGexSha1,
}

/// How a method exchanges its ephemeral values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KexKind {
    /// One ECDH_INIT / ECDH_REPLY round on a curve.
    Ecdh(EcdhCurve),
    /// One KEXDH_INIT / KEXDH_REPLY round in a fixed group.
    Dh(DhGroup),
    /// Group exchange: REQUEST, GROUP, INIT, REPLY.
    Gex,
    /// A post-quantum KEM with X25519 in one ECDH_INIT / ECDH_REPLY round; K is hashed and
    /// derived from as a `string`.
    Hybrid(HybridKem),
}

impl KexMethod {
    /// Every method, in our default preference order (OpenSSH 10.x's `KexAlgorithms`; the
    /// opt-in methods, off by default, are at the end: see [`is_opt_in`](Self::is_opt_in)).
    pub const ALL: &'static [KexMethod] = &[
        KexMethod::MlKem768X25519Sha256,
        KexMethod::Sntrup761X25519Sha512,
        KexMethod::Sntrup761X25519Sha512Openssh,
        KexMethod::Curve25519Sha256,
        KexMethod::Curve25519Sha256Libssh,
        KexMethod::EcdhSha2Nistp256,
        KexMethod::EcdhSha2Nistp384,
        KexMethod::EcdhSha2Nistp521,
        KexMethod::DhGexSha256,
        KexMethod::DhGroup16Sha512,
        KexMethod::DhGroup18Sha512,
        KexMethod::DhGroup14Sha256,
        KexMethod::DhGroup14Sha1,
        KexMethod::DhGexSha1,
        KexMethod::MlKem768NistP256Sha256,
        KexMethod::MlKem1024NistP384Sha384,
    ];

    /// The method's name in KEXINIT.
    pub fn name(self) -> &'static str {
        match self {
            KexMethod::MlKem768X25519Sha256 => "mlkem768x25519-sha256",
            KexMethod::MlKem768NistP256Sha256 => "mlkem768nistp256-sha256",
            KexMethod::MlKem1024NistP384Sha384 => "mlkem1024nistp384-sha384",
            KexMethod::Sntrup761X25519Sha512 => "sntrup761x25519-sha512",
            KexMethod::Sntrup761X25519Sha512Openssh => "sntrup761x25519-sha512@openssh.com",
            KexMethod::Curve25519Sha256 => "curve25519-sha256",
            KexMethod::Curve25519Sha256Libssh => "curve25519-sha256@libssh.org",
            KexMethod::EcdhSha2Nistp256 => "ecdh-sha2-nistp256",
            KexMethod::EcdhSha2Nistp384 => "ecdh-sha2-nistp384",
            KexMethod::EcdhSha2Nistp521 => "ecdh-sha2-nistp521",
            KexMethod::DhGroup14Sha256 => "diffie-hellman-group14-sha256",
            KexMethod::DhGroup16Sha512 => "diffie-hellman-group16-sha512",
            KexMethod::DhGroup18Sha512 => "diffie-hellman-group18-sha512",
            KexMethod::DhGexSha256 => "diffie-hellman-group-exchange-sha256",
            KexMethod::DhGroup14Sha1 => "diffie-hellman-group14-sha1",
            KexMethod::DhGexSha1 => "diffie-hellman-group-exchange-sha1",
        }
    }

    /// Looks a method up by name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The hash function of the method.
    pub fn hash(self) -> HashAlg {
        match self {
            KexMethod::MlKem768X25519Sha256
            | KexMethod::MlKem768NistP256Sha256
            | KexMethod::Curve25519Sha256
            | KexMethod::Curve25519Sha256Libssh
            | KexMethod::EcdhSha2Nistp256
            | KexMethod::DhGroup14Sha256
            | KexMethod::DhGexSha256 => HashAlg::Sha256,
            KexMethod::EcdhSha2Nistp384 | KexMethod::MlKem1024NistP384Sha384 => HashAlg::Sha384,
            KexMethod::EcdhSha2Nistp521
            | KexMethod::Sntrup761X25519Sha512
            | KexMethod::Sntrup761X25519Sha512Openssh
            | KexMethod::DhGroup16Sha512
            | KexMethod::DhGroup18Sha512 => HashAlg::Sha512,
            KexMethod::DhGroup14Sha1 | KexMethod::DhGexSha1 => HashAlg::Sha1,
        }
    }

    /// How the method exchanges values.
    pub fn kind(self) -> KexKind {
        match self {
            KexMethod::MlKem768X25519Sha256 => KexKind::Hybrid(HybridKem::MlKem768X25519),
            KexMethod::MlKem768NistP256Sha256 => KexKind::Hybrid(HybridKem::MlKem768NistP256),
            KexMethod::MlKem1024NistP384Sha384 => KexKind::Hybrid(HybridKem::MlKem1024NistP384),
            KexMethod::Sntrup761X25519Sha512 | KexMethod::Sntrup761X25519Sha512Openssh => {
                KexKind::Hybrid(HybridKem::Sntrup761X25519)
            }
            KexMethod::Curve25519Sha256 | KexMethod::Curve25519Sha256Libssh => {
                KexKind::Ecdh(EcdhCurve::X25519)
            }
            KexMethod::EcdhSha2Nistp256 => KexKind::Ecdh(EcdhCurve::NistP256),
            KexMethod::EcdhSha2Nistp384 => KexKind::Ecdh(EcdhCurve::NistP384),
            KexMethod::EcdhSha2Nistp521 => KexKind::Ecdh(EcdhCurve::NistP521),
            KexMethod::DhGroup14Sha256 | KexMethod::DhGroup14Sha1 => {
                KexKind::Dh(DhGroup::group14())
            }
            KexMethod::DhGroup16Sha512 => KexKind::Dh(DhGroup::group16()),
            KexMethod::DhGroup18Sha512 => KexKind::Dh(DhGroup::group18()),
            KexMethod::DhGexSha256 | KexMethod::DhGexSha1 => KexKind::Gex,
        }
    }

    /// True for the SHA-1 methods, which are off unless configured.
    pub fn is_legacy(self) -> bool {
        matches!(self, KexMethod::DhGroup14Sha1 | KexMethod::DhGexSha1)
    }

    /// True for the methods that are off unless configured (`+name` in `KexAlgorithms`): the
    /// SHA-1 ones and the ML-KEM hybrids on NIST curves, which OpenSSH 10.5 implements but does
    /// not offer by default.
    pub fn is_opt_in(self) -> bool {
        self.is_legacy()
            || matches!(
                self,
                KexMethod::MlKem768NistP256Sha256 | KexMethod::MlKem1024NistP384Sha384
            )
    }

    /// True for the post-quantum hybrid methods, whose K is a `string` (a hash output) rather
    /// than an `mpint`.
    pub fn is_hybrid(self) -> bool {
        matches!(self.kind(), KexKind::Hybrid(_))
    }

    /// True for the finite-field methods (num-bigint is not constant time: off by default on servers).
    pub fn is_ffdh(self) -> bool {
        matches!(self.kind(), KexKind::Dh(_) | KexKind::Gex)
    }

    /// True for ECDH on the NIST curves (ecdh-sha2-nistp256/384/521): off by default on servers.
    pub fn is_nist_ecdh(self) -> bool {
        matches!(
            self,
            KexMethod::EcdhSha2Nistp256 | KexMethod::EcdhSha2Nistp384 | KexMethod::EcdhSha2Nistp521
        )
    }

    /// Bits of the private exponent for finite-field methods: twice the security strength of the
    /// method's hash, as OpenSSH does (at least 256, at most 512 here).
    pub fn dh_exponent_bits(self) -> usize {
        (self.hash().output_len() * 8 * 2).clamp(256, 512)
    }
}
