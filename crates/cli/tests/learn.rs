//! `nacre learn-adapter` (docs/LEARNING.md): a fixed input sequence gives the expected abstract
//! outputs in memory (twice the same: deterministic) and against `nacre serve` over TCP, and
//! AALpy learns nacre's server model in bounded time, equal to the table docs/LEARNING.md
//! documents (scripts/learn/aalpy_learn.py --check, a product-automaton walk).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Requests and the answers nacre's server gives: an input before any connection, an unknown
/// symbol, the whole handshake, a channel with a pty, wrong-state messages, and resets.
const SCRIPT: &[(&str, &str)] = &[
    ("IGNORE", "NO_CONN"),
    ("BOGUS", "ERROR unknown input \"BOGUS\""),
    ("RESET", "OK"),
    ("CH_DATA", "CH_NONE"),
    ("KEXINIT", "NO_RESP"),
    ("KEX_ECDH_INIT", "KEX_ECDH_REPLY+NEWKEYS"),
    ("NEWKEYS", "NO_RESP"),
    ("KEX_ECDH_INIT", "UNIMPLEMENTED"),
    ("SERVICE_REQUEST_AUTH", "SERVICE_ACCEPT"),
    ("UA_PW_NOK", "USERAUTH_FAILURE"),
    ("UA_PW_OK", "USERAUTH_SUCCESS+GLOBAL_REQUEST"),
    ("UA_PW_OK", "NO_RESP"),
    ("GLOBAL_REQUEST", "REQUEST_FAILURE"),
    ("CH_OPEN", "CHANNEL_OPEN_CONFIRMATION"),
    ("CH_OPEN", "CH_MAX"),
    ("CH_REQUEST_PTY", "CHANNEL_SUCCESS"),
    ("CH_REQUEST_PTY", "CHANNEL_FAILURE"),
    ("CH_DATA", "NO_RESP"),
    ("KEXINIT", "KEXINIT"),
    ("IGNORE", "NO_RESP"),
    ("KEX_ECDH_INIT", "KEX_ECDH_REPLY+NEWKEYS"),
    ("NEWKEYS", "NO_RESP"),
    ("CH_CLOSE", "CHANNEL_CLOSE"),
    ("CH_CLOSE", "CH_NONE"),
    ("DISCONNECT", "NO_CONN"),
    ("IGNORE", "NO_CONN"),
    ("RESET", "OK"),
    ("IGNORE", "NO_RESP"),
    ("KEXINIT", "DISCONNECT"),
    ("DEBUG", "NO_CONN"),
    ("RESET", "OK"),
    ("KEXINIT", "NO_RESP"),
    ("DEBUG", "DISCONNECT"),
    ("RESET", "OK"),
    ("KEXINIT", "NO_RESP"),
    ("KEX_ECDH_INIT", "KEX_ECDH_REPLY+NEWKEYS"),
    ("NEWKEYS", "NO_RESP"),
    ("CH_OPEN", "DISCONNECT"),
    ("RESET", "OK"),
    ("KEXINIT", "NO_RESP"),
    ("KEX_ECDH_INIT", "KEX_ECDH_REPLY+NEWKEYS"),
    ("NEWKEYS", "NO_RESP"),
    ("SERVICE_REQUEST_AUTH", "SERVICE_ACCEPT"),
    ("UA_PK_NOK", "USERAUTH_FAILURE"),
    ("UA_PK_OK", "USERAUTH_SUCCESS+GLOBAL_REQUEST"),
    ("SERVICE_REQUEST_AUTH", "UNIMPLEMENTED"),
];

fn nacre() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nacre"))
}

/// Runs the adapter with `args` over the requests of [`SCRIPT`]; its answer lines.
fn adapter(args: &[&str]) -> Vec<String> {
    let mut input = String::new();
    for (request, _) in SCRIPT {
        input.push_str(request);
        input.push('\n');
    }
    run_adapter(args, &input)
}

/// Runs the adapter with `args` and `input` on stdin; its answer lines.
fn run_adapter(args: &[&str], input: &str) -> Vec<String> {
    let mut child = Command::new(nacre())
        .arg("learn-adapter")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn expected() -> Vec<String> {
    SCRIPT.iter().map(|(_, a)| (*a).to_owned()).collect()
}

#[test]
fn in_memory_the_adapter_answers_a_fixed_sequence_the_same_every_time() {
    let first = adapter(&["--memory"]);
    assert_eq!(first, expected());
    // ALPHABET lists every input, KEXINIT first and DISCONNECT last.
    let alphabet = run_adapter(&["--memory"], "ALPHABET\nQUIT\nIGNORE\n");
    assert_eq!(alphabet.len(), 1, "{alphabet:?}: nothing after QUIT");
    let symbols: Vec<&str> = alphabet[0].split(' ').collect();
    assert_eq!(symbols.len(), 19, "{symbols:?}");
    assert_eq!(
        (symbols[0], symbols[18]),
        ("KEXINIT", "DISCONNECT"),
        "{symbols:?}"
    );
    assert_eq!(adapter(&["--memory", "--seed", "7"]), first);
}

#[test]
fn the_adapter_speaks_to_nacre_serve_over_tcp_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let key = nacre::keys::PrivateKey::from_ed25519_seed(&[9; 32]);
    let keys = dir.path().join("authorized_keys");
    std::fs::write(
        &keys,
        format!("{}\n", key.public_key().to_openssh_line("learn")),
    )
    .unwrap();
    let (_serve, port) = nacre_tests::start_nacre_serve(
        nacre(),
        dir.path(),
        "learn",
        "learn",
        &["--authorized-keys".into(), keys.into()],
    );
    let port = port.to_string();
    // A second of silence ends a step: the failure delay (200 ms) and the password check fit
    // well within it on a loaded machine.
    let got = adapter(&["-p", &port, "--timeout", "1.0", "127.0.0.1"]);
    assert_eq!(got, expected());
}

#[test]
fn aalpy_learns_nacre_servers_model_and_it_is_the_documented_table() {
    let root = nacre_tests::repo_root();
    let python = nacre_tests::venv_python();
    let dir = tempfile::tempdir().unwrap();
    let dot = dir.path().join("nacre.dot");
    let learned = dir.path().join("learned.md");
    let doc = root.join("docs/LEARNING.md");
    let script = root.join("scripts/learn/aalpy_learn.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--nacre")
        .arg(nacre())
        .arg("--dot")
        .arg(&dot)
        .arg("--table-out")
        .arg(&learned)
        .arg("--check")
        .arg(&doc)
        .args(["--", "--memory"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: the oracle's budget is fixed; a run that hangs fails here.
    let limit = Duration::from_secs(300);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the learning took more than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("the learned model matches"), "{stdout}");
    let model = std::fs::read_to_string(&dot).unwrap();
    assert!(model.contains("digraph"), "{model}");

    // The comparison can fail: the documented table with a re-exchange from `pty` that forgets
    // the pty (a second pty-req would then succeed) differs from what was learned.
    let text = std::fs::read_to_string(&doc).unwrap();
    let cell = "| `pty` | KEXINIT / `rekey.pty` |";
    assert!(
        text.contains(cell),
        "docs/LEARNING.md changed: {cell} not found"
    );
    let wrong = dir.path().join("wrong.md");
    std::fs::write(
        &wrong,
        text.replace(cell, "| `pty` | KEXINIT / `rekey.channel` |"),
    )
    .unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .arg("--check")
        .arg(&wrong)
        .arg("--against")
        .arg(&learned)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("CH_REQUEST_PTY: learned CHANNEL_FAILURE, documented CHANNEL_SUCCESS"),
        "{stdout}"
    );
}
