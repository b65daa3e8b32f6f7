//! ssh-keygen's times: `-V` validity intervals (`+52w`, `-1d:+1w`, `20250101:forever`,
//! `always:20300101Z`, `0x...`), absolute times in local time or UTC (`YYYYMMDD[HHMM[SS]][Z|UTC]`,
//! OpenSSH's `parse_absolute_time`), durations (`convtime`: `1h30m`), and
//! `YYYY-MM-DDTHH:MM:SS` in local time for display (`format_absolute_time`).

use anyhow::{bail, Context};
use nacre::keys::authorized_keys::parse_expiry_time;

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// OpenSSH's `convtime`: a sum of `N[smhdw]` terms (a bare number is seconds).
pub fn convtime(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut num = String::new();
    let mut seen_seconds = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            if chars.peek().is_some() {
                continue;
            }
        }
        if num.is_empty() {
            return None;
        }
        let unit = if c.is_ascii_digit() { 's' } else { c };
        let mult = match unit.to_ascii_lowercase() {
            's' => {
                if seen_seconds {
                    return None;
                }
                seen_seconds = true;
                1
            }
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
    }
    (total <= i32::MAX as u64).then_some(total)
}

/// OpenSSH's `parse_absolute_time`: `YYYYMMDD[HHMM[SS]]` in local time, or UTC with a `Z` or
/// `UTC` suffix.
pub fn parse_absolute(s: &str) -> Option<u64> {
    let s = match s.len().checked_sub(3).and_then(|i| s.get(i..)) {
        Some(tail) if tail.eq_ignore_ascii_case("utc") => {
            format!("{}Z", s.get(..s.len() - 3).unwrap_or_default())
        }
        _ => s.to_owned(),
    };
    let t = parse_expiry_time(&s).ok()?;
    let guess = i64::try_from(t.unix_utc).ok()?;
    let offset = crate::localtime::offset_at(guess);
    // Local time: the offset at the instant itself, which may differ from the guess by an hour.
    let first = t.unix_with_offset(offset);
    let unix = t.unix_with_offset(crate::localtime::offset_at(first));
    u64::try_from(unix).ok()
}

/// OpenSSH's `format_absolute_time`: `YYYY-MM-DDTHH:MM:SS` in local time.
pub fn format_absolute(t: u64) -> String {
    let t = i64::try_from(t).unwrap_or(i64::MAX).min(MAX_TIME);
    let local = t + crate::localtime::offset_at(t);
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The largest time OpenSSH formats (its `SSH_TIME_T_MAX` on 64-bit Linux is far larger, but
/// glibc's `localtime` stops at year 2^31; keep the arithmetic in range).
const MAX_TIME: i64 = 67_767_976_233_316_604;

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A relative time `+N`/`-N` (convtime units) from `now`.
fn relative(s: &str, now: u64) -> anyhow::Result<u64> {
    let secs = s
        .get(1..)
        .and_then(convtime)
        .with_context(|| format!("Invalid relative certificate time {s}"))?;
    if s.starts_with('-') {
        now.checked_sub(secs)
            .with_context(|| format!("Certificate time {s} cannot be represented"))
    } else {
        Ok(now.saturating_add(secs))
    }
}

fn hex(s: &str) -> anyhow::Result<u64> {
    u64::from_str_radix(s.get(2..).unwrap_or_default(), 16)
        .context("Invalid certificate time: not a number")
}

/// ssh-keygen's `-V` (`parse_cert_times`): `(valid after, valid before)`.
pub fn parse_validity(spec: &str, now: u64) -> anyhow::Result<(u64, u64)> {
    if spec.starts_with('+') && !spec.contains(':') {
        let secs = spec
            .get(1..)
            .and_then(convtime)
            .with_context(|| format!("Invalid relative certificate life {spec}"))?;
        // Backdated to the minute, as ssh-keygen does for badly synchronised clocks.
        return Ok(((now.saturating_sub(59)) / 60 * 60, now + secs));
    }
    let Some((from, to)) = spec
        .split_once(':')
        .filter(|(f, t)| !f.is_empty() && !t.is_empty())
    else {
        bail!("Invalid certificate life specification {spec}");
    };
    let from = match from {
        f if f.starts_with(['-', '+']) => relative(f, now)?,
        "always" => 0,
        f if f.starts_with("0x") => hex(f)?,
        f => parse_absolute(f).with_context(|| format!("Invalid from time \"{f}\""))?,
    };
    let to = match to {
        t if t.starts_with(['-', '+']) => relative(t, now)?,
        "forever" => u64::MAX,
        t if t.starts_with("0x") => hex(t)?,
        t => parse_absolute(t).with_context(|| format!("Invalid to time \"{t}\""))?,
    };
    if to <= from {
        bail!("Empty certificate validity interval");
    }
    Ok((from, to))
}

/// `sshkey_format_cert_validity`: `forever`, `before T`, `after T` or `from T to T`.
pub fn format_validity(after: u64, before: u64) -> String {
    match (after, before) {
        (0, u64::MAX) => "forever".to_owned(),
        (0, b) => format!("before {}", format_absolute(b)),
        (a, u64::MAX) => format!("after {}", format_absolute(a)),
        (a, b) => format!("from {} to {}", format_absolute(a), format_absolute(b)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn convtime_as_openssh() {
        assert_eq!(convtime("90"), Some(90));
        assert_eq!(convtime("1h30m"), Some(5400));
        assert_eq!(convtime("52w"), Some(52 * 604_800));
        assert_eq!(convtime("1x"), None);
        assert_eq!(convtime(""), None);
        assert_eq!(convtime("5s5s"), None);
    }

    #[test]
    fn validity_specs() {
        let now = 1_700_000_030;
        assert_eq!(
            parse_validity("+1d", now).unwrap(),
            (1_699_999_920, now + 86_400)
        );
        assert_eq!(
            parse_validity("always:forever", now).unwrap(),
            (0, u64::MAX)
        );
        assert_eq!(
            parse_validity("-1h:+1h", now).unwrap(),
            (now - 3600, now + 3600)
        );
        assert_eq!(
            parse_validity("20200101Z:20300101UTC", now).unwrap(),
            (1_577_836_800, 1_893_456_000)
        );
        assert_eq!(parse_validity("0x10:0x20", now).unwrap(), (16, 32));
        assert!(parse_validity("+1d:", now).is_err());
        assert!(parse_validity("0x20:0x10", now).is_err());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(18_262), (2020, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
