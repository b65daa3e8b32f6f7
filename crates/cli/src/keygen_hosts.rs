//! `ssh-keygen -F host` and `-R host` on a known_hosts file, with OpenSSH's output: hashed
//! entries match too, `[host]:port` names a port, `-R` keeps the old file as `FILE.old`.

use std::path::Path;

use anyhow::Context;
use nacre::keys::known_hosts::{KnownHostsEntry, Marker};
use nacre::keys::KnownHosts;

/// `[host]:port` or `host` (port 22).
fn host_port(name: &str) -> (String, u16) {
    if let Some(rest) = name.strip_prefix('[') {
        if let Some((host, port)) = rest.split_once("]:") {
            if let Ok(p) = port.parse() {
                return (host.to_owned(), p);
            }
        }
    }
    (name.to_owned(), 22)
}

fn matching(path: &Path, name: &str) -> anyhow::Result<(String, Vec<KnownHostsEntry>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: No such file or directory", path.display()))?;
    let (known, _) = KnownHosts::parse(&text);
    let (host, port) = host_port(name);
    let found = known.matching(&host, port).cloned().collect();
    Ok((text, found))
}

/// `-F name` (with `-l`: fingerprints instead of lines); exit 1 when nothing matches.
pub fn find(path: &Path, name: &str, fingerprints: bool, md5: bool) -> anyhow::Result<i32> {
    let (text, found) = matching(path, name)?;
    let lines: Vec<&str> = text.split('\n').collect();
    for e in &found {
        let marker = match e.marker {
            Marker::None => "",
            Marker::CertAuthority => "CA",
            Marker::Revoked => "REVOKED",
        };
        println!("# Host {name} found: line {} {marker}", e.line);
        if fingerprints {
            let fp = crate::keygen_show::fingerprint(&e.key, md5);
            let kind = crate::keygen_show::type_label(&e.key);
            println!("{name} {kind} {fp}");
        } else {
            let l = lines.get(e.line - 1).copied().unwrap_or("");
            println!("{}", l.trim_end_matches('\r'));
        }
    }
    Ok(if found.is_empty() { 1 } else { 0 })
}

/// `-R name`: removes every line naming it, the old file kept as `FILE.old`.
pub fn remove(path: &Path, name: &str) -> anyhow::Result<()> {
    let (text, found) = matching(path, name)?;
    let shown = path.display();
    let found: Vec<usize> = found
        .iter()
        .filter(|e| e.marker == Marker::None)
        .map(|e| e.line)
        .collect();
    if found.is_empty() {
        eprintln!("Host {name} not found in {shown}");
        return Ok(());
    }
    for line in &found {
        println!("# Host {name} found: line {line}");
    }
    let kept: Vec<&str> = text
        .split('\n')
        .enumerate()
        .filter(|(i, _)| !found.contains(&(i + 1)))
        .map(|(_, l)| l)
        .collect();
    let old = format!("{shown}.old");
    std::fs::copy(path, &old).with_context(|| format!("writing {old}"))?;
    let tmp = format!("{shown}.tmp");
    std::fs::write(&tmp, kept.join("\n")).with_context(|| format!("writing {tmp}"))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {shown}"))?;
    println!("{shown} updated.");
    println!("Original contents retained as {old}");
    Ok(())
}
