//! The algorithm sweep: every kex method, host key algorithm, cipher and MAC nacre implements, one at a
//! time, against the peers whose algorithm lists a test can fix.

use std::collections::{BTreeMap, BTreeSet};

use nacre::crypto::{CipherAlg, MacAlg};
use nacre::keys::SignatureAlgorithm;
use nacre::transport::{Algorithms, KexMethod, Negotiated};

use super::fixtures::{Outcome, ServerKind};
use super::report::{Family, Matrix, Status, SweepCell};

/// One algorithm of nacre's lists.
#[derive(Clone, Debug)]
pub struct Alg {
    pub family: Family,
    /// Position in nacre's list of the family.
    pub index: usize,
    pub name: &'static str,
    what: What,
}

#[derive(Clone, Copy, Debug)]
enum What {
    Kex(KexMethod),
    HostKey(SignatureAlgorithm),
    Cipher(CipherAlg),
    Mac(MacAlg),
}

/// Every algorithm nacre implements (`KexMethod::ALL`, `SignatureAlgorithm::ALL`, `CipherAlg::ALL`,
/// `MacAlg::ALL`).
pub fn all() -> Vec<Alg> {
    let mut out = Vec::new();
    for (i, &k) in KexMethod::ALL.iter().enumerate() {
        out.push(Alg {
            family: Family::Kex,
            index: i,
            name: k.name(),
            what: What::Kex(k),
        });
    }
    for (i, &h) in SignatureAlgorithm::ALL.iter().enumerate() {
        out.push(Alg {
            family: Family::HostKey,
            index: i,
            name: h.name(),
            what: What::HostKey(h),
        });
    }
    for (i, &c) in CipherAlg::ALL.iter().enumerate() {
        out.push(Alg {
            family: Family::Cipher,
            index: i,
            name: c.name(),
            what: What::Cipher(c),
        });
    }
    for (i, &m) in MacAlg::ALL.iter().enumerate() {
        out.push(Alg {
            family: Family::Mac,
            index: i,
            name: m.name(),
            what: What::Mac(m),
        });
    }
    out
}

/// The cipher used while sweeping MACs (they only apply to non-AEAD ciphers).
pub const MAC_CIPHER: &str = "aes128-ctr";

impl Alg {
    /// nacre's algorithm lists limited to this one algorithm (everything else: all nacre implements).
    pub fn restrict(&self) -> Algorithms {
        let mut a = Algorithms::all();
        match self.what {
            What::Kex(k) => a.kex = vec![k],
            What::HostKey(h) => a.host_key = vec![h],
            What::Cipher(c) => a.cipher = vec![c],
            What::Mac(m) => {
                a.cipher = vec![CipherAlg::Aes128Ctr];
                a.mac = vec![m];
            }
        }
        a
    }

    /// Checks that `n` (what a connection negotiated) is this algorithm.
    pub fn check(&self, n: Option<&Negotiated>) -> Result<(), String> {
        let Some(n) = n else {
            return Err("nothing negotiated".into());
        };
        let ok = match self.what {
            What::Kex(k) => n.kex == k,
            What::HostKey(h) => n.host_key == h,
            What::Cipher(c) => n.cipher_c2s == c && n.cipher_s2c == c,
            What::Mac(m) => n.mac_c2s == Some(m) && n.mac_s2c == Some(m),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("negotiated {n:?} instead of {}", self.name))
        }
    }

    /// The algorithm lists of a peer that offers only this one (names as the peer spells them); the MAC
    /// sweep also fixes the cipher to [`MAC_CIPHER`].
    pub fn family_key(&self) -> &'static str {
        match self.family {
            Family::Kex => "kex",
            Family::HostKey => "hostkey",
            Family::Cipher => "cipher",
            Family::Mac => "mac",
        }
    }
}

/// What a peer implements, by family.
#[derive(Default, Clone, Debug)]
pub struct PeerAlgs {
    pub kex: BTreeSet<String>,
    pub hostkey: BTreeSet<String>,
    pub cipher: BTreeSet<String>,
    pub mac: BTreeSet<String>,
    /// Algorithms the peer's client lacks although the peer implements them (its server has them), with
    /// the reason shown in the `peer → nacre` column (JSON `client_lacks`: {name: reason}).
    pub client_lacks: BTreeMap<String, String>,
    /// The same for the peer's server (JSON `server_lacks`), shown in the `nacre → peer` column.
    pub server_lacks: BTreeMap<String, String>,
}

impl PeerAlgs {
    pub fn has(&self, a: &Alg) -> bool {
        let set = match a.family {
            Family::Kex => &self.kex,
            Family::HostKey => &self.hostkey,
            Family::Cipher => &self.cipher,
            Family::Mac => &self.mac,
        };
        set.contains(a.name) && (a.family != Family::Mac || self.cipher.contains(MAC_CIPHER))
    }

    /// The same without what the peer's client lacks ([`PeerAlgs::client_lacks`]): the `peer → nacre`
    /// sweep's view.
    pub fn client(&self) -> PeerAlgs {
        let mut p = self.clone();
        for name in self.client_lacks.keys() {
            p.remove(name);
        }
        p.server_lacks.clear();
        p
    }

    /// The same without what the peer's server lacks ([`PeerAlgs::server_lacks`]): the `nacre → peer`
    /// sweep's view.
    pub fn server(&self) -> PeerAlgs {
        let mut p = self.clone();
        for name in self.server_lacks.keys() {
            p.remove(name);
        }
        p.client_lacks = std::mem::take(&mut p.server_lacks);
        p
    }

    fn remove(&mut self, name: &str) {
        self.kex.remove(name);
        self.hostkey.remove(name);
        self.cipher.remove(name);
        self.mac.remove(name);
    }

    pub fn from_json(v: &serde_json::Value) -> PeerAlgs {
        let set = |k: &str| -> BTreeSet<String> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let reasons = |k: &str| -> BTreeMap<String, String> {
            v[k].as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        PeerAlgs {
            kex: set("kex"),
            hostkey: set("hostkey"),
            cipher: set("cipher"),
            mac: set("mac"),
            client_lacks: reasons("client_lacks"),
            server_lacks: reasons("server_lacks"),
        }
    }
}

/// Sweeps every algorithm for one column: `peer` says what the peer implements, `run` makes one
/// connection limited to the algorithm and returns its outcome.
pub fn sweep(
    m: &Matrix,
    column: (u32, String),
    peer: &PeerAlgs,
    peer_name: &str,
    mut run: impl FnMut(&Alg) -> Outcome,
) {
    for alg in all() {
        let (status, note) = if !peer.has(&alg) {
            let why = peer
                .client_lacks
                .get(alg.name)
                .cloned()
                .unwrap_or_else(|| format!("{peer_name} does not implement it"));
            (Status::Na, why)
        } else {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&alg)))
                .unwrap_or_else(|_| Err("panic in the harness".into()));
            match r {
                Ok(note) => (Status::Pass, note),
                Err(e) => (Status::Fail, e),
            }
        };
        m.push_sweep(SweepCell {
            family: alg.family,
            index: alg.index,
            alg: alg.name.to_owned(),
            column: column.clone(),
            status,
            note,
        });
    }
}

/// The nacre server kind the `peer → nacre` sweeps use.
pub const SWEEP_SERVER: ServerKind = ServerKind::Everything;
