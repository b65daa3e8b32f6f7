//! Packet captures on the loopback interface, read back by Wireshark's SSH dissector.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::{run_with_timeout, ChildGuard};
use crate::require_program;

/// The tshark program.
pub const TSHARK: &str = "/usr/bin/tshark";

const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A running capture of `tcp port P` on `lo` into a pcapng file (needs root). Killed if dropped unstopped.
#[derive(Debug)]
pub struct Tshark {
    process: ChildGuard,
    pcap: PathBuf,
    port: u16,
    stderr_path: PathBuf,
}

impl Tshark {
    /// Starts `tshark -i lo -f "tcp port PORT" -w PCAP -q` and returns once it is capturing (tshark said
    /// "Capturing on" and the file exists). Panics with tshark's stderr if it does not start.
    pub fn start(port: u16, pcap: impl AsRef<Path>) -> Tshark {
        require_program(Path::new(TSHARK));
        let pcap = pcap.as_ref().to_path_buf();
        let _ = fs::remove_file(&pcap);
        let stderr_path = pcap.with_extension("tshark.log");
        let stderr = File::create(&stderr_path).expect("create the tshark log");
        let mut cmd = Command::new(TSHARK);
        cmd.args(["-i", "lo", "-f", &format!("tcp port {port}"), "-w"])
            .arg(&pcap)
            .arg("-q")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        // Own process group, so a drop also kills its dumpcap.
        let mut process = ChildGuard::spawn_group(format!("tshark on port {port}"), &mut cmd);
        let start = Instant::now();
        loop {
            let log = fs::read_to_string(&stderr_path).unwrap_or_default();
            let file_ready = fs::metadata(&pcap).map(|m| m.len() > 0).unwrap_or(false);
            if log.contains("Capturing on") && file_ready {
                break;
            }
            if let Some(status) = process.try_wait() {
                panic!(
                    "tshark exited with {status} before capturing (capturing needs root)\n{log}"
                );
            }
            if start.elapsed() > START_TIMEOUT {
                panic!("tshark did not start capturing within {START_TIMEOUT:?}\n{log}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        // dumpcap announces itself just before its first read; leave it a moment.
        thread::sleep(Duration::from_millis(200));
        Tshark {
            process,
            pcap,
            port,
            stderr_path,
        }
    }

    /// The capture file.
    pub fn pcap(&self) -> &Path {
        &self.pcap
    }

    /// The captured port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the capture with SIGINT (so the file is complete) and returns the capture file's path.
    pub fn stop(mut self) -> PathBuf {
        // The last segments of a session may still be on their way through the kernel's buffer.
        thread::sleep(Duration::from_millis(300));
        self.process.signal("INT");
        if self.process.wait_timeout(STOP_TIMEOUT).is_none() {
            let log = fs::read_to_string(&self.stderr_path).unwrap_or_default();
            self.process.kill();
            panic!("tshark did not stop within {STOP_TIMEOUT:?} of SIGINT\n{log}");
        }
        self.pcap.clone()
    }
}

/// Runs `tshark -r PCAP -d tcp.port==PORT,ssh ARGS...` (the `-d` makes tshark dissect a non-22 port as SSH)
/// and returns its standard output; panics if tshark fails.
pub fn tshark_read(pcap: &Path, port: u16, args: &[&str]) -> String {
    require_program(Path::new(TSHARK));
    let mut cmd = Command::new(TSHARK);
    cmd.arg("-r")
        .arg(pcap)
        .args(["-d", &format!("tcp.port=={port},ssh")])
        .args(args);
    let out = run_with_timeout(&mut cmd, READ_TIMEOUT);
    if !out.success() {
        panic!("tshark could not read {}:\n{out}", pcap.display());
    }
    out.stdout
}

/// Every packet tshark finds malformed or flags with an expert warning or error, one summary line each, followed
/// by the expert messages; an empty string means a clean capture.
///
/// Based on `tshark -r PCAP -d tcp.port==PORT,ssh -Y '_ws.malformed || _ws.expert.severity >= warning'`, with
/// one known false positive of tshark 4.0 removed: its SSH dissector reads only the length and the type name of
/// the KEX host signature and then warns "Decoded 8+len(type) bytes, but packet legnth is LEN bytes" on *every*
/// KEXDH/ECDH/GEX reply. That exact message (type and length taken from the same packet) is dropped; any other
/// warning, or the same warning with other numbers, is reported.
///
/// tshark 4.0 also does not dissect every kex method: it flags the ECDH messages of
/// `sntrup761x25519-sha512@openssh.com` (OpenSSH 9.2's default) with "Invalid key length". Captures meant for
/// this check should negotiate a method it knows (curve25519, ecdh-sha2-*, diffie-hellman-*).
pub fn malformed_report(pcap: &Path, port: u16) -> String {
    let filter = "_ws.malformed || _ws.expert.severity >= warning";
    let experts = expert_infos(pcap, port, filter);
    let flagged: Vec<&ExpertInfo> = experts.iter().filter(|e| !e.messages.is_empty()).collect();
    if flagged.is_empty() {
        return String::new();
    }
    let summary = tshark_read(pcap, port, &["-Y", filter]);
    let mut report = String::new();
    for info in flagged {
        let line = summary
            .lines()
            .find(|l| l.split_whitespace().next() == Some(info.frame.as_str()))
            .unwrap_or("");
        if line.is_empty() {
            report.push_str(&format!("frame {}\n", info.frame));
        } else {
            report.push_str(&format!("{}\n", line.trim()));
        }
        for m in &info.messages {
            report.push_str(&format!("    {m}\n"));
        }
    }
    report
}

/// Expert infos of one frame (only the messages at warning severity or above, minus tshark 4.0's known
/// host-signature false positive).
struct ExpertInfo {
    frame: String,
    messages: Vec<String>,
}

/// TCP's own analysis notes (loopback under load produces D-SACKs and retransmissions): about the
/// capture, not about how SSH was dissected.
fn is_tcp_analysis(message: &str) -> bool {
    const TCP: &[&str] = &[
        "D-SACK",
        "Duplicate ACK",
        "etransmission",
        "Previous segment",
        "ACKed segment",
        "Out-Of-Order",
        "Spurious",
        "indow full",
        "ero window",
        "Keep-Alive",
    ];
    TCP.iter().any(|t| message.contains(t))
}

/// Severity value of an expert info at level Warning (`PI_WARN`); Error is above.
const PI_WARN: u64 = 0x0060_0000;

fn expert_infos(pcap: &Path, port: u16, filter: &str) -> Vec<ExpertInfo> {
    let text = tshark_read(
        pcap,
        port,
        &[
            "-Y",
            filter,
            "-T",
            "fields",
            // Expert messages contain commas: aggregate with '|'.
            "-E",
            "aggregator=|",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.severity",
            "-e",
            "_ws.expert.message",
            "-e",
            "ssh.host_sig.type",
            "-e",
            "ssh.host_sig.length",
        ],
    );
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        let list =
            |i: usize| -> Vec<&str> { get(i).split('|').filter(|s| !s.is_empty()).collect() };
        let severities = list(1);
        let messages = list(2);
        let sig_types = list(3);
        let sig_lens = list(4);
        let known: Vec<String> = sig_types
            .iter()
            .zip(sig_lens.iter())
            .map(|(t, l)| {
                format!(
                    "Decoded {} bytes, but packet legnth is {l} bytes",
                    8 + t.len()
                )
            })
            .collect();
        let mut kept = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let severity = severities
                .get(i)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(u64::MAX);
            if severity < PI_WARN || known.iter().any(|k| k == m) || is_tcp_analysis(m) {
                continue;
            }
            kept.push((*m).to_string());
        }
        if messages.is_empty() {
            // Flagged by the filter without an expert message: report it all the same.
            kept.push("(flagged without an expert message)".to_string());
        }
        out.push(ExpertInfo {
            frame: get(0).to_string(),
            messages: kept,
        });
    }
    out
}

/// The SSH packets of the capture as tshark summarizes them, one line per frame, e.g.
/// `... SSH 1234 Client: Key Exchange Init`.
pub fn ssh_summary(pcap: &Path, port: u16) -> String {
    tshark_read(pcap, port, &["-Y", "ssh"])
}

/// The SSH message numbers tshark could read (the unencrypted ones), in capture order, each with the TCP
/// source port of its sender (equal to `port` for messages sent by the server).
pub fn ssh_message_codes(pcap: &Path, port: u16) -> Vec<(u16, u8)> {
    let text = tshark_read(
        pcap,
        port,
        &[
            "-Y",
            "ssh.message_code",
            "-T",
            "fields",
            "-e",
            "tcp.srcport",
            "-e",
            "ssh.message_code",
        ],
    );
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(src), Some(codes)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(src) = src.trim().parse::<u16>() else {
            continue;
        };
        for code in codes.split(',') {
            if let Ok(code) = code.trim().parse::<u8>() {
                out.push((src, code));
            }
        }
    }
    out
}
