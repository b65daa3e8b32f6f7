//! OpenSSH's progress meter (progressmeter.c): `name  42%  10MB  50.0MB/s   00:03 ETA`, redrawn
//! on one line once a second, on a terminal only. It stays on the screen when the transfer ends
//! (the elapsed time in place of the ETA); a transfer that fails or is interrupted keeps the
//! figures it reached: no 100% that did not happen, and no meter for a transfer refused at its
//! open.

use std::future::Future;
use std::io::Write;
use std::time::{Duration, Instant};

/// Where the meter reads how far the transfer got.
pub enum Sample {
    /// The local file's size (downloads).
    Local(std::path::PathBuf),
    /// The remote file's size (uploads).
    Remote(nacre_sftp::SftpClient, String),
}

impl Sample {
    async fn read(&self) -> Option<u64> {
        match self {
            Sample::Local(p) => std::fs::metadata(p).ok().map(|m| m.len()),
            Sample::Remote(c, p) => c.stat(p.as_bytes()).await.ok().and_then(|a| a.size),
        }
    }
}

struct Meter {
    name: String,
    start_pos: u64,
    end: u64,
    started: Instant,
    last: Instant,
    last_pos: u64,
    rate: f64,
}

impl Meter {
    fn line(&mut self, pos: u64, width: usize) -> String {
        let now = Instant::now();
        let done = pos >= self.end;
        let (moved, elapsed) = if done {
            (self.end.saturating_sub(self.start_pos), now - self.started)
        } else {
            (pos.saturating_sub(self.last_pos), now - self.last)
        };
        let speed = moved as f64 / elapsed.as_secs_f64().max(0.001);
        self.rate = if self.rate != 0.0 && !done {
            self.rate * 0.9 + speed * 0.1
        } else {
            speed
        };
        (self.last, self.last_pos) = (now, pos);
        let percent = if self.end == 0 || done {
            100
        } else {
            pos.saturating_mul(100) / self.end
        };
        let left = self.end.saturating_sub(pos);
        let eta = if self.rate == 0.0 && left > 0 {
            "  --:-- ETA".to_owned()
        } else {
            let secs = if left > 0 {
                (left as f64 / self.rate) as u64
            } else {
                elapsed.as_secs()
            };
            let clock = match secs / 3600 {
                0 => format!("  {:02}:{:02}", secs / 60 % 60, secs % 60),
                h => format!("{h}:{:02}:{:02}", secs / 60 % 60, secs % 60),
            };
            format!("{clock}{}", if left > 0 { " ETA" } else { "    " })
        };
        let name_width = width.saturating_sub(36);
        let name: String = self.name.chars().take(name_width).collect();
        let line = format!(
            "{name:<name_width$} {percent:>3}% {} {}/s {eta}",
            size(pos),
            rate(self.rate as u64)
        );
        line.chars().take(width.saturating_sub(1)).collect()
    }
}

/// format_size: four digits and a unit.
fn size(mut n: u64) -> String {
    let units = [' ', 'K', 'M', 'G', 'T'];
    let mut i = 0;
    while n >= 10_000 && i + 1 < units.len() {
        n = (n + 512) / 1024;
        i += 1;
    }
    let u = units.get(i).copied().unwrap_or('T');
    format!("{n:>4}{u}{}", if i > 0 { "B" } else { " " })
}

/// format_rate: one decimal, at least KB.
fn rate(bytes: u64) -> String {
    let units = [' ', 'K', 'M', 'G', 'T'];
    let mut b = bytes.saturating_mul(100);
    let mut i = 0;
    while b >= 100 * 1000 && i + 1 < units.len() {
        b = (b + 512) / 1024;
        i += 1;
    }
    if i == 0 {
        i = 1;
        b = (b + 512) / 1024;
    }
    let u = units.get(i).copied().unwrap_or('T');
    format!("{:>3}.{}{u}B", (b + 5) / 100, (b + 5) / 10 % 10)
}

fn draw(text: &str) {
    let mut out = std::io::stdout();
    let _ = write!(out, "\r{text}");
    let _ = out.flush();
}

/// How often the meter looks for the transfer's first bytes.
const FIRST_LOOK: Duration = Duration::from_millis(100);
/// How often the meter is redrawn, and how long it waits for the first bytes at most.
const REDRAW: Duration = Duration::from_secs(1);

/// Runs `transfer`, showing the meter for `total` bytes (from `start`) when `show`. As
/// OpenSSH's, the meter starts once the file is open: it appears when the first bytes move (or
/// after a second), so a transfer refused at its open prints the error alone, no `0%` line.
pub async fn with_meter<T, E, F>(
    show: bool,
    name: &str,
    start: u64,
    total: u64,
    sample: Sample,
    transfer: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    if !show {
        return transfer.await;
    }
    let width = super::listing::terminal_width().min(512);
    let now = Instant::now();
    let mut meter = Meter {
        name: name.to_owned(),
        start_pos: start,
        end: total,
        started: now,
        last: now,
        last_pos: start,
        rate: 0.0,
    };
    // What the destination holds before the transfer touches it: a change means it began.
    let initial = sample.read().await;
    tokio::pin!(transfer);
    let mut tick = tokio::time::interval(FIRST_LOOK);
    let mut pos = start;
    let mut guard: Option<Newline> = None;
    let mut drawn_at = now;
    let result = loop {
        tokio::select! {
            r = &mut transfer => break r,
            _ = tick.tick() => {
                let seen = sample.read().await;
                let due = match guard {
                    Some(_) => drawn_at.elapsed() >= REDRAW,
                    None => seen != initial || now.elapsed() >= REDRAW,
                };
                if due {
                    pos = seen.unwrap_or(pos).min(total);
                    draw(&meter.line(pos, width));
                    guard.get_or_insert_with(|| Newline);
                    drawn_at = Instant::now();
                }
            }
        }
    };
    let last = match &result {
        Ok(_) => Some(total),
        // Refused before anything moved: no meter at all.
        Err(_) => {
            let seen = sample.read().await;
            (guard.is_some() || seen != initial).then(|| seen.unwrap_or(pos).min(total))
        }
    };
    if let Some(last) = last {
        draw(&meter.line(last, width));
        guard.get_or_insert_with(|| Newline);
    }
    drop(guard);
    result
}

/// Ends the meter's line, even when the transfer is dropped (Ctrl-C).
struct Newline;

impl Drop for Newline {
    fn drop(&mut self) {
        println!();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn openssh_units() {
        assert_eq!(super::size(512), " 512  ");
        assert_eq!(super::size(10 * 1024 * 1024), "  10MB");
        assert_eq!(super::rate(50 * 1024 * 1024), " 50.0MB");
        assert_eq!(super::rate(0), "  0.0KB");
    }
}
