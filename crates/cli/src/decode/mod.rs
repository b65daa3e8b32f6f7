//! `nacre decode`: every SSH message of every TCP stream of a pcap/pcapng capture, both
//! directions, decrypted with the secrets of a key log (docs/DECODE.md).
//!
//! Pass one ([`session`]) reassembles each direction's bytes ([`tcp`]) into identification lines
//! and binary packets, recomputing each exchange hash from the captured kex messages and
//! deriving the packet keys ([`kex`]); pass two ([`render`], [`sftp`]) names each message and its
//! fields in capture order, following channels to decode SFTP inside them.

mod capture;
mod kex;
mod keylog;
mod render;
mod session;
mod sftp;
mod tcp;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{json, Map, Value};

use self::kex::C2S;
use self::keylog::KeyLog;
use self::render::{Item, Renderer};
use self::session::{Body, Decoded, DirReport, Unit};
use self::tcp::Stream;

/// Arguments of `nacre decode`.
#[derive(clap::Args)]
pub struct DecodeArgs {
    /// The capture: pcap or pcapng.
    capture: PathBuf,
    /// The key log (SSHKEYLOGFILE format: `<cookie> SHARED_SECRET <K>` lines).
    #[arg(long)]
    keylog: Option<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

/// Decodes the capture and prints every message.
pub fn run(args: DecodeArgs) -> anyhow::Result<()> {
    let file = std::fs::read(&args.capture)
        .with_context(|| format!("reading {}", args.capture.display()))?;
    let keylog = match &args.keylog {
        Some(path) => KeyLog::parse(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        None => KeyLog::default(),
    };
    let frames = capture::read_frames(&file)?;
    let start = frames.iter().map(|f| f.ts_ns).min().unwrap_or(0);
    let streams = tcp::streams(&frames);
    let stdout = std::io::stdout();
    let mut out = Output {
        json: args.json,
        start,
        w: std::io::BufWriter::new(stdout.lock()),
    };
    let written = (|| -> std::io::Result<()> {
        for (index, stream) in streams.iter().enumerate() {
            let decoded = session::decode(stream, &keylog);
            if decoded.units.iter().any(is_ident) {
                out.stream(index, stream, decoded)?;
            }
        }
        out.w.flush()
    })();
    match written {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn is_ident(u: &Unit) -> bool {
    matches!(u.body, Body::Line { ident: true, .. })
}

struct Output<W: Write> {
    json: bool,
    start: u64,
    w: W,
}

/// One line of output.
struct Line<'a> {
    stream: usize,
    time: u64,
    dir: usize,
    seq: Option<u32>,
    encrypted: bool,
    compressed: bool,
    wire_len: usize,
    item: &'a Item,
}

impl<W: Write> Output<W> {
    fn stream(
        &mut self,
        index: usize,
        stream: &Stream,
        mut decoded: Decoded,
    ) -> std::io::Result<()> {
        let (client, server) = (stream.client.to_string(), stream.server.to_string());
        if self.json {
            let header =
                json!({"stream": index, "msg": "STREAM", "client": client, "server": server});
            writeln!(self.w, "{header}")?;
        } else {
            writeln!(self.w, "stream {index}: client {client} server {server}")?;
        }
        // Capture order across directions; each direction's own order is kept (stable sort).
        decoded.units.sort_by_key(|u| u.time);
        let mut renderer = Renderer::new(&decoded.records);
        for unit in &decoded.units {
            let (seq, encrypted, compressed, items) = match &unit.body {
                Body::Line { text, ident } => {
                    let name = if *ident { "IDENTIFICATION" } else { "LINE" };
                    let item = Item {
                        name: name.into(),
                        fields: vec![("text", json!(text))],
                    };
                    (None, false, false, vec![item])
                }
                Body::Message {
                    seq,
                    payload,
                    kex,
                    encrypted,
                    compressed,
                } => (
                    Some(*seq),
                    *encrypted,
                    *compressed,
                    renderer.render(unit.dir, payload, *kex),
                ),
            };
            // The bytes belong to the message; the SFTP packets it completed add none.
            for (i, item) in items.iter().enumerate() {
                self.line(&Line {
                    stream: index,
                    time: unit.time,
                    dir: unit.dir,
                    seq,
                    encrypted,
                    compressed,
                    wire_len: if i == 0 { unit.wire_len } else { 0 },
                    item,
                })?;
            }
        }
        self.summary(index, &decoded.reports)
    }

    fn line(&mut self, l: &Line<'_>) -> std::io::Result<()> {
        let secs = l.time.saturating_sub(self.start) as f64 / 1e9;
        let dir = if l.dir == C2S { "c2s" } else { "s2c" };
        if self.json {
            let fields: Map<String, Value> = l
                .item
                .fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect();
            let obj = json!({
                "stream": l.stream, "time": secs, "dir": dir, "seq": l.seq,
                "encrypted": l.encrypted, "compressed": l.compressed, "wire_len": l.wire_len, "msg": l.item.name,
                "fields": fields,
            });
            writeln!(self.w, "{obj}")?;
            return Ok(());
        }
        let arrow = if l.dir == C2S { "C>S" } else { "S>C" };
        let seq = l.seq.map_or(String::new(), |s| format!("#{s}"));
        // `z`: the payload was compressed on the wire (shown inflated).
        let seq = if l.compressed { format!("{seq}z") } else { seq };
        let indent = if l.item.name.starts_with("SFTP_") {
            "    "
        } else {
            ""
        };
        let fields: Vec<String> = l
            .item
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={}", field_text(v)))
            .collect();
        writeln!(
            self.w,
            "  {secs:>11.6} {arrow} {seq:>7} {indent}{} {}",
            l.item.name,
            fields.join(" ")
        )?;
        Ok(())
    }

    fn summary(&mut self, index: usize, reports: &[DirReport; 2]) -> std::io::Result<()> {
        let [c2s, s2c] = reports;
        if self.json {
            let obj = json!({"stream": index, "msg": "SUMMARY", "c2s": report_json(c2s), "s2c": report_json(s2c)});
            writeln!(self.w, "{obj}")?;
            return Ok(());
        }
        for (name, r) in [("client to server", c2s), ("server to client", s2c)] {
            write!(
                self.w,
                "stream {index} {name}: {} bytes, {} decoded, {} left over",
                r.bytes,
                r.decoded,
                r.bytes - r.decoded.min(r.bytes)
            )?;
            if r.after_gap > 0 {
                write!(self.w, ", {} bytes after a capture gap", r.after_gap)?;
            }
            match &r.error {
                Some(e) => writeln!(self.w, ", stopped: {e}")?,
                None => writeln!(self.w)?,
            }
        }
        Ok(())
    }
}

fn report_json(r: &DirReport) -> Value {
    json!({
        "bytes": r.bytes,
        "decoded": r.decoded,
        "left_over": r.bytes - r.decoded.min(r.bytes),
        "after_gap": r.after_gap,
        "error": r.error,
    })
}

/// A field's value as text: strings quoted when they hold spaces or are empty.
fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() || s.contains(char::is_whitespace) => {
            format!("\"{}\"", crate::visible::visible_text(s, false))
        }
        Value::String(s) => crate::visible::visible_text(s, false),
        other => other.to_string(),
    }
}
