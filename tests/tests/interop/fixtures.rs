//! What every row shares: test files, client keys, nacre servers, the tokio runtime, and the plumbing that
//! turns a scenario's outcome into a cell.

use std::any::Any;
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nacre::auth::AuthServerConfig;
use nacre::crypto::MacAlg;
use nacre::keys::{AuthorizedKeys, PublicKey, SignatureAlgorithm};
use nacre::transport::{Algorithms, Config, KexMethod};
use nacre::{hash_password, SessionConfig, User, UsersPolicy};
use nacre_tests::{
    authorized_client_key, ensure_test_user, KeyPair, KeyType, NacreServer, TEST_PASSWORD,
    TEST_USER,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::rekeys;
use super::report::{Cell, Matrix, Row, Scenario, Status};

/// Size of the SFTP round trip.
pub const SFTP_SIZE: usize = 10_000_000;
/// Size of the transfer under forced rekeys (1 MiB limits: several re-exchanges each way).
pub const REKEY_SIZE: usize = 4_000_000;
/// The rekey limit both sides are forced to where they can be.
pub const REKEY_LIMIT: u64 = 1 << 20;
/// Time limit of one peer command.
pub const T: Duration = Duration::from_secs(120);

/// The exec scenario: output on both streams and a distinctive exit status.
pub const EXEC_COMMAND: &str = "echo out; echo err >&2; exit 42";

/// Which nacre server a scenario talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `Config::server` defaults (modern algorithms, no finite-field DH), every host key type.
    Default,
    /// Like `Default` with `rekey_bytes` = 1 MiB: the server starts re-exchanges.
    Rekey,
    /// Everything nacre implements, legacy SHA-1 algorithms and `ssh-rsa` user keys included.
    Everything,
    /// `Default` plus the encrypt-and-MAC `hmac-sha2-256`/`-512` (`-o MACs=+hmac-sha2-256,...`), which
    /// libssh2 before 1.11 needs (it has no AEAD cipher and no ETM MAC); `rekey` as `Rekey`.
    Libssh2 { rekey: bool },
    /// `Default` plus ECDH on the NIST curves (`ecdh-sha2-nistp256/384/521`, off by default on nacre's
    /// server), which clients without curve25519 need (Ruby's net-ssh without the x25519 gem); `rekey` as
    /// `Rekey`.
    NistEcdh { rekey: bool },
    /// `Everything` (legacy SHA-1 algorithms and `ssh-rsa` user keys included) with `rekey` as `Rekey`: for
    /// clients that have none of nacre's default algorithms (JSch 0.1.55).
    Legacy { rekey: bool },
}

/// A nacre server of the matrix with the folder its `sftp` subsystem serves.
pub struct NacreTarget {
    pub server: NacreServer,
    pub root: PathBuf,
    _root_dir: TempDir,
}

impl NacreTarget {
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The name of this server's threads (for [`with_rekeys`]).
    pub fn thread(&self) -> &str {
        self.server.thread_name()
    }

    pub fn host_keys(&self) -> Vec<PublicKey> {
        self.server.keys().iter().map(|k| k.public_key()).collect()
    }

    /// `SHA256:...` fingerprints of every host key.
    pub fn fingerprints(&self) -> Vec<String> {
        self.host_keys()
            .iter()
            .map(|k| k.fingerprint_sha256())
            .collect()
    }

    /// A known_hosts file listing the host keys, in `dir`.
    pub fn known_hosts(&self, dir: &Path) -> PathBuf {
        let path = dir.join(format!("known_hosts-{}", self.port()));
        self.server.write_known_hosts(&path);
        path
    }

    /// `TYPE BASE64` lines of the host keys.
    pub fn host_key_lines(&self) -> Vec<String> {
        self.host_keys()
            .iter()
            .map(|k| {
                k.to_openssh_line("")
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

pub struct Fixture {
    pub work: TempDir,
    /// The SFTP test file and its SHA-256.
    pub data: PathBuf,
    pub data_sha: String,
    /// The file moved under forced rekeys.
    pub small: PathBuf,
    pub small_sha: String,
    /// Client keys (OpenSSH format), also in `~peer/.ssh/authorized_keys` for sshd and Dropbear.
    pub keys: Vec<KeyPair>,
    /// The same public keys as an authorized_keys file (for nacre and the Python servers).
    pub authorized_keys: PathBuf,
    /// The server the scenarios share (those counting rekeys start their own: [`Fixture::nacre`]).
    pub default: NacreTarget,
    policy: Arc<UsersPolicy>,
}

impl Fixture {
    pub fn new() -> Fixture {
        ensure_test_user();
        let work = tempfile::Builder::new()
            .prefix("nacre-interop-")
            .tempdir()
            .unwrap();
        let data = work.path().join("data.bin");
        write_pseudo_random(&data, SFTP_SIZE, 1);
        let small = work.path().join("small.bin");
        write_pseudo_random(&small, REKEY_SIZE, 2);
        let keys: Vec<KeyPair> = [KeyType::Ed25519, KeyType::EcdsaP256, KeyType::Rsa3072]
            .into_iter()
            .map(authorized_client_key)
            .collect();
        let authorized_keys = work.path().join("authorized_keys");
        let lines: String = keys.iter().map(|k| format!("{}\n", k.pub_line)).collect();
        std::fs::write(&authorized_keys, &lines).unwrap();
        let (ak, errors) = AuthorizedKeys::parse(&lines);
        assert!(errors.is_empty(), "{errors:?}");
        let mut policy = UsersPolicy::new();
        policy.insert(
            TEST_USER,
            User {
                password_hash: Some(hash_password(TEST_PASSWORD).unwrap()),
                authorized_keys: ak,
            },
        );
        let policy = Arc::new(policy);
        Fixture {
            data_sha: sha256_file(&data),
            small_sha: sha256_file(&small),
            data,
            small,
            keys,
            authorized_keys,
            default: start_nacre(&policy, ServerKind::Default),
            policy,
            work,
        }
    }

    /// A new nacre server of this kind (rows that check what was negotiated use their own).
    pub fn nacre(&self, kind: ServerKind) -> NacreTarget {
        start_nacre(&self.policy, kind)
    }

    pub fn key(&self, scenario: Scenario) -> &KeyPair {
        let t = match scenario {
            Scenario::KeyEd25519 => KeyType::Ed25519,
            Scenario::KeyEcdsa => KeyType::EcdsaP256,
            Scenario::KeyRsa => KeyType::Rsa3072,
            other => panic!("{other:?} is not a key scenario"),
        };
        self.keys.iter().find(|k| k.key_type == t).unwrap()
    }

    /// A fresh folder under the work folder.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.work.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}

fn start_nacre(policy: &Arc<UsersPolicy>, kind: ServerKind) -> NacreTarget {
    let root_dir = tempfile::Builder::new()
        .prefix("nacre-interop-root-")
        .tempdir()
        .unwrap();
    let root = root_dir.path().to_path_buf();
    // The test user's folder: its sessions act as that account (nacre::ActAs's default).
    let user = ensure_test_user();
    std::os::unix::fs::chown(&root, Some(user.uid), Some(user.gid)).unwrap();
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut config = Config::server(nacre_testkit::all_host_keys());
    let mut auth = AuthServerConfig {
        failure_delay: Duration::from_millis(10),
        ..AuthServerConfig::default()
    };
    match kind {
        ServerKind::Default => {}
        ServerKind::Rekey => config.limits.rekey_bytes = Some(REKEY_LIMIT),
        ServerKind::Everything => {
            config.algorithms = Algorithms::all();
            auth.pubkey_algorithms = SignatureAlgorithm::ALL.to_vec();
        }
        ServerKind::Legacy { rekey } => {
            config.algorithms = Algorithms::all();
            auth.pubkey_algorithms = SignatureAlgorithm::ALL.to_vec();
            if rekey {
                config.limits.rekey_bytes = Some(REKEY_LIMIT);
            }
        }
        ServerKind::NistEcdh { .. } => {}
        ServerKind::Libssh2 { rekey } => {
            config
                .algorithms
                .mac
                .extend([MacAlg::HmacSha256, MacAlg::HmacSha512]);
            if rekey {
                config.limits.rekey_bytes = Some(REKEY_LIMIT);
            }
        }
    }
    if let ServerKind::NistEcdh { rekey } = kind {
        config.algorithms.kex.extend([
            KexMethod::EcdhSha2Nistp256,
            KexMethod::EcdhSha2Nistp384,
            KexMethod::EcdhSha2Nistp521,
        ]);
        if rekey {
            config.limits.rekey_bytes = Some(REKEY_LIMIT);
        }
    }
    let mut sessions = SessionConfig {
        allow_exec: true,
        ..SessionConfig::default()
    };
    sessions.subsystems.insert(
        "sftp".into(),
        nacre::sftp_subsystem(root.clone(), nacre_sftp::ServerConfig::default()),
    );
    let server = NacreServer::start_with_sessions(config, auth, policy.clone(), sessions);
    NacreTarget {
        server,
        root,
        _root_dir: root_dir,
    }
}

/// `len` bytes of a xorshift stream, written in 1 MiB pieces.
pub fn write_pseudo_random(path: &Path, len: usize, seed: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut left = len;
    let mut buf = Vec::with_capacity(1 << 20);
    while left > 0 {
        buf.clear();
        let n = left.min(1 << 20);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push((x >> 32) as u8);
        }
        f.write_all(&buf).unwrap();
        left -= n;
    }
    f.flush().unwrap();
}

pub fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `path` exists with this SHA-256 (`what` names it in the error).
pub fn check_sha(path: &Path, sha: &str, what: &str) -> Result<(), String> {
    if !path.exists() {
        return Err(format!("{what}: {} does not exist", path.display()));
    }
    let got = sha256_file(path);
    if got != sha {
        return Err(format!(
            "{what}: SHA-256 {got} differs from the original's {sha}"
        ));
    }
    Ok(())
}

/// A scenario's outcome: `Ok(note)` passes (the note, if not empty, is a caveat shown in the table), `Err`
/// fails with the reason.
pub type Outcome = Result<String, String>;

fn panic_text(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else {
        "panic".to_owned()
    }
}

/// Runs one scenario (a panic in the harness counts as a failure) and records its cell.
pub fn run(m: &Matrix, row: &Row, scenario: Scenario, f: impl FnOnce() -> Outcome) {
    let start = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_text(p)));
    let (status, note) = match result {
        Ok(note) => (Status::Pass, note),
        Err(e) => (Status::Fail, e),
    };
    m.push(Cell {
        row: row.clone(),
        scenario,
        status,
        note,
        elapsed: start.elapsed(),
    });
}

/// Records a scenario that does not apply, with the reason.
pub fn na(m: &Matrix, row: &Row, scenario: Scenario, why: &str) {
    m.push(Cell {
        row: row.clone(),
        scenario,
        status: Status::Na,
        note: why.to_owned(),
        elapsed: Duration::ZERO,
    });
}

/// Runs `f` and checks that the nacre connections on threads named `thread` (a server's
/// [`NacreTarget::thread`], or [`this_thread`] for nacre's client) completed at least one key
/// re-exchange meanwhile. Only one rekey scenario runs on a given thread name at a time.
pub fn with_rekeys(thread: &str, f: impl FnOnce() -> Outcome) -> Outcome {
    let before = rekeys::count(thread);
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panic_text(p)))?;
    if rekeys::count(thread) == before {
        return Err("the transfer succeeded but nacre's side saw no key re-exchange".into());
    }
    Ok(result)
}

/// The name of the calling thread (the row's thread, where nacre's client runs).
pub fn this_thread() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

/// Appends the end of a peer's log to a failure.
pub fn with_log(r: Outcome, log: &dyn Fn() -> String) -> Outcome {
    r.map_err(|e| {
        let text = log();
        let tail: String = text
            .chars()
            .skip(text.chars().count().saturating_sub(4000))
            .collect();
        format!("{e}\n--- peer log (end) ---\n{tail}")
    })
}

/// Runs `f` (nacre's client side of a scenario) with a time limit on a current-thread runtime made for
/// it, so its connections run on the calling thread (see [`with_rekeys`]).
pub fn block_on<F: std::future::Future<Output = Outcome>>(f: F) -> Outcome {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(this_thread())
        .build()
        .unwrap();
    rt.block_on(async {
        match tokio::time::timeout(T, f).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {T:?}")),
        }
    })
}
