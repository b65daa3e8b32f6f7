//! Stable replay of the fuzz corpus: every file under `fuzz/corpus/<target>/` (and
//! `fuzz/regressions/<target>/`) goes through the same entry point the cargo-fuzz target calls, so a
//! plain `cargo test` catches regressions without nightly (docs/FUZZING.md).
//!
//! Without `--cfg fuzzing` the transport has no no-op packet keys: recorded sessions then stop at
//! the first encrypted packet; everything before it replays exactly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

type Entry = fn(&[u8]);

/// Every target and its entry point; `fuzz/targets.txt` must list the same.
const TARGETS: &[(&str, Entry)] = &[
    ("wire_primitives", nacre_wire::fuzzing::wire_primitives),
    ("packet_open", nacre_crypto::fuzzing::packet_open),
    ("packet_reader", nacre_transport::fuzzing::packet_reader),
    ("packet_inflate", nacre_transport::fuzzing::packet_inflate),
    (
        "transport_messages",
        nacre_transport::fuzzing::transport_messages,
    ),
    ("kex_messages", nacre_transport::fuzzing::kex_messages),
    ("banner", nacre_transport::fuzzing::banner),
    (
        "transport_server",
        nacre_transport::fuzzing::transport_server,
    ),
    (
        "transport_client",
        nacre_transport::fuzzing::transport_client,
    ),
    (
        "transport_sequence",
        nacre_transport::fuzzing::transport_sequence,
    ),
    ("auth_messages", nacre_auth::fuzzing::auth_messages),
    ("auth_server", nacre_auth::fuzzing::auth_server),
    ("auth_client", nacre_auth::fuzzing::auth_client),
    ("public_key", nacre_keys::fuzzing::public_key),
    ("cert_parse", nacre_keys::fuzzing::cert_parse),
    ("key_files", nacre_keys::fuzzing::key_files),
    (
        "key_files_encrypted",
        nacre_keys::fuzzing::key_files_encrypted,
    ),
    ("known_hosts", nacre_keys::fuzzing::known_hosts),
    ("authorized_keys", nacre_keys::fuzzing::authorized_keys),
    ("agent_messages", nacre_keys::fuzzing::agent_messages),
    (
        "connection_messages",
        nacre_connection::fuzzing::connection_messages,
    ),
    (
        "connection_machine",
        nacre_connection::fuzzing::connection_machine,
    ),
    ("sftp_packets", nacre_sftp_codec::fuzzing::sftp_packets),
    ("sftp_server", nacre_sftp::fuzzing::sftp_server),
    ("sftp_client", nacre_sftp::fuzzing::sftp_client),
    ("session_pair", nacre_testkit::fuzz_pair::session_pair),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(name: &str) {
    let entry = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no entry point for {name}"))
        .1;
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        for file in files(&fuzz_dir().join(dir).join(name)) {
            let data = std::fs::read(&file).unwrap();
            let result = std::panic::catch_unwind(|| entry(&data));
            if let Err(e) = result {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                panic!("{name}: {} panicked: {msg}", file.display());
            }
            count += 1;
        }
    }
    assert!(count > 0, "{name}: the seed corpus is empty");
}

/// `fuzz/targets.txt`, `fuzz/fuzz_targets/*.rs` and [`TARGETS`] name the same targets.
#[test]
fn every_target_is_replayed() {
    let listed: Vec<String> = std::fs::read_to_string(fuzz_dir().join("targets.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let mut sources: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    sources.sort();
    let mut ours: Vec<String> = TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    ours.sort();
    assert_eq!(listed_sorted, ours, "fuzz/targets.txt and TARGETS differ");
    assert_eq!(sources, ours, "fuzz/fuzz_targets and TARGETS differ");
    assert!(ours.len() >= 12);
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
    };
}

replay_tests!(
    wire_primitives,
    packet_open,
    packet_reader,
    packet_inflate,
    transport_messages,
    kex_messages,
    banner,
    transport_server,
    transport_client,
    transport_sequence,
    auth_messages,
    auth_server,
    auth_client,
    public_key,
    cert_parse,
    key_files,
    key_files_encrypted,
    known_hosts,
    authorized_keys,
    agent_messages,
    connection_messages,
    connection_machine,
    sftp_packets,
    sftp_server,
    sftp_client,
    session_pair,
);
