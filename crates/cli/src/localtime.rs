//! The local time zone's offset from UTC, as localtime(3) finds it, without libc: `$TZ` (a zone
//! name under /usr/share/zoneinfo, `:NAME`, a path, or a POSIX TZ string such as `EST5EDT`), else
//! /etc/localtime; the zone file's transitions (TZif, RFC 8536), then its POSIX footer (fixed
//! offsets and `Mm.w.d` rules) past the last one. No zone found: UTC.

use std::sync::OnceLock;

/// A POSIX TZ rule: standard offset, and the daylight offset with its start and end.
#[derive(Debug, Clone, PartialEq)]
struct Posix {
    std: i64,
    dst: Option<(i64, Rule, Rule)>,
}

/// `Mm.w.d/time`: the `w`th (5: last) weekday `d` (0: Sunday) of month `m`, at `time` seconds of
/// local time.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rule {
    month: i64,
    week: i64,
    weekday: i64,
    time: i64,
}

/// A zone: transitions (UTC seconds, offset after), the offset before the first, the footer.
#[derive(Debug, Default)]
struct Zone {
    transitions: Vec<(i64, i64)>,
    initial: i64,
    footer: Option<Posix>,
}

/// The offset of local time from UTC at `t` (seconds since the epoch).
pub fn offset_at(t: i64) -> i64 {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(load).offset_at(t)
}

fn load() -> Zone {
    let tz = std::env::var("TZ").ok();
    let name = match tz.as_deref() {
        None => return read_file("/etc/localtime").unwrap_or_default(),
        Some("") => return Zone::default(),
        Some(v) => v.strip_prefix(':').unwrap_or(v),
    };
    let path = if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/usr/share/zoneinfo/{name}")
    };
    if !name.contains("..") {
        if let Some(zone) = read_file(&path) {
            return zone;
        }
    }
    Zone {
        footer: posix(name),
        ..Zone::default()
    }
}

fn read_file(path: &str) -> Option<Zone> {
    tzif(&std::fs::read(path).ok()?)
}

/// Big-endian integer of `n` bytes at `at`.
fn be(data: &[u8], at: usize, n: usize) -> Option<i64> {
    let bytes = data.get(at..at.checked_add(n)?)?;
    let v = bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b));
    Some(match n {
        4 => i64::from(v as u32 as i32),
        _ => v as i64,
    })
}

/// Parses a TZif file: its 64-bit block when there is one (version 2 and later), else the
/// 32-bit one.
fn tzif(data: &[u8]) -> Option<Zone> {
    if data.get(..4)? != b"TZif" {
        return None;
    }
    let counts = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = usize::try_from(be(data, at + 20 + 4 * i, 4)?).ok()?;
        }
        Some(c)
    };
    let [isut, isstd, leap, time, types, chars] = counts(0)?;
    let v1_len = time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
    if *data.get(4)? < b'2' {
        return block(data, 44, 4, [isut, isstd, leap, time, types, chars]).map(|(z, _)| z);
    }
    let second = 44 + v1_len;
    let c = counts(second)?;
    let (mut zone, end) = block(data, second + 44, 8, c)?;
    let footer = data.get(end..)?;
    let text = std::str::from_utf8(footer).ok()?.trim_matches('\n');
    zone.footer = posix(text);
    Some(zone)
}

/// One data block: transitions of `size` bytes, their types, the types' offsets.
fn block(data: &[u8], at: usize, size: usize, c: [usize; 6]) -> Option<(Zone, usize)> {
    let [isut, isstd, leap, time, types, chars] = c;
    let idx_at = at + time * size;
    let types_at = idx_at + time;
    let offset_of = |i: usize| be(data, types_at + 6 * i, 4);
    let mut transitions = Vec::with_capacity(time);
    for i in 0..time {
        let t = be(data, at + i * size, size)?;
        let ty = usize::from(*data.get(idx_at + i)?);
        transitions.push((t, offset_of(ty)?));
    }
    let initial = if types > 0 { offset_of(0)? } else { 0 };
    let end = types_at + types * 6 + chars + leap * (size + 4) + isstd + isut;
    let zone = Zone {
        transitions,
        initial,
        footer: None,
    };
    Some((zone, end))
}

impl Zone {
    fn offset_at(&self, t: i64) -> i64 {
        let after = self.transitions.partition_point(|(at, _)| *at <= t);
        match (after, &self.footer) {
            (n, Some(f)) if n == self.transitions.len() => f.offset_at(t),
            (0, _) => self.initial,
            (n, _) => self
                .transitions
                .get(n - 1)
                .map_or(self.initial, |(_, o)| *o),
        }
    }
}

/// Parses a POSIX TZ string (`CET-1CEST,M3.5.0,M10.5.0/3`, `<+03>-3`, `UTC0`).
fn posix(s: &str) -> Option<Posix> {
    let (_, rest) = zone_name(s)?;
    let (std, rest) = offset(rest)?;
    let std = -std;
    if rest.is_empty() {
        return Some(Posix { std, dst: None });
    }
    let (_, rest) = zone_name(rest)?;
    let (dst, rest) = match rest.strip_prefix(',') {
        Some(_) => (std + 3600, rest),
        None => offset(rest).map(|(o, r)| (-o, r))?,
    };
    let mut rules = rest.strip_prefix(',')?.split(',');
    let start = rule(rules.next()?)?;
    let end = rule(rules.next()?)?;
    Some(Posix {
        std,
        dst: Some((dst, start, end)),
    })
}

fn zone_name(s: &str) -> Option<(&str, &str)> {
    if let Some(quoted) = s.strip_prefix('<') {
        let end = quoted.find('>')?;
        return Some((quoted.get(..end)?, quoted.get(end + 1..)?));
    }
    let end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    (end >= 3).then(|| s.split_at(end))
}

/// `[+-]hh[:mm[:ss]]` in seconds, and the rest.
fn offset(s: &str) -> Option<(i64, &str)> {
    let (sign, s) = match s.as_bytes().first()? {
        b'-' => (-1, s.get(1..)?),
        b'+' => (1, s.get(1..)?),
        _ => (1, s),
    };
    let end = s
        .find(|c: char| !c.is_ascii_digit() && c != ':')
        .unwrap_or(s.len());
    let (text, rest) = s.split_at(end);
    let mut secs = 0;
    for (i, part) in text.split(':').enumerate() {
        let n: i64 = part.parse().ok()?;
        secs += n * [3600, 60, 1].get(i)?;
    }
    Some((sign * secs, rest))
}

fn rule(s: &str) -> Option<Rule> {
    let (date, time) = match s.split_once('/') {
        Some((d, t)) => (d, offset(t)?.0),
        None => (s, 7200),
    };
    let mut parts = date.strip_prefix('M')?.split('.');
    let mut next = || parts.next()?.parse::<i64>().ok();
    Some(Rule {
        month: next()?,
        week: next()?,
        weekday: next()?,
        time,
    })
}

/// Days since the epoch of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of a day since the epoch.
fn year_of(days: i64) -> i64 {
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10)
}

impl Rule {
    /// The rule's instant in `year`, in seconds of local time since the epoch.
    fn local_time(&self, year: i64) -> i64 {
        let first = days_from_civil(year, self.month, 1);
        let first_weekday = (first + 4).rem_euclid(7);
        let mut day = (self.weekday - first_weekday).rem_euclid(7) + (self.week - 1) * 7;
        let next = if self.month == 12 {
            days_from_civil(year + 1, 1, 1)
        } else {
            days_from_civil(year, self.month + 1, 1)
        };
        while first + day >= next {
            day -= 7;
        }
        (first + day) * 86_400 + self.time
    }
}

impl Posix {
    fn offset_at(&self, t: i64) -> i64 {
        let Some((dst, start, end)) = &self.dst else {
            return self.std;
        };
        let year = year_of((t + self.std).div_euclid(86_400));
        let begins = start.local_time(year) - self.std;
        let ends = end.local_time(year) - dst;
        let summer = if begins < ends {
            begins <= t && t < ends
        } else {
            !(ends <= t && t < begins)
        };
        if summer {
            *dst
        } else {
            self.std
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn posix_rules() {
        let ny = posix("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2024-03-10 07:00 UTC: 02:00 EST, the change to EDT.
        assert_eq!(ny.offset_at(1_710_053_999), -5 * 3600);
        assert_eq!(ny.offset_at(1_710_054_000), -4 * 3600);
        // 2024-11-03 06:00 UTC: 02:00 EDT, back to EST.
        assert_eq!(ny.offset_at(1_730_613_599), -4 * 3600);
        assert_eq!(ny.offset_at(1_730_613_600), -5 * 3600);
        let sydney = posix("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset_at(1_704_067_200), 11 * 3600); // January: summer
        assert_eq!(sydney.offset_at(1_719_792_000), 10 * 3600); // July
        assert_eq!(posix("<+0530>-5:30").unwrap().offset_at(0), 19_800);
        assert_eq!(posix("UTC0").unwrap().offset_at(0), 0);
        assert_eq!(days_from_civil(2001, 9, 9), 11_574);
    }

    #[test]
    fn zone_files() {
        let Some(ny) = read_file("/usr/share/zoneinfo/America/New_York") else {
            return; // no tzdata
        };
        assert_eq!(ny.offset_at(1_000_000_000), -4 * 3600); // 2001-09-09: EDT
        assert_eq!(ny.offset_at(979_000_000), -5 * 3600); // January 2001: EST
        assert_eq!(ny.offset_at(4_102_444_800), -5 * 3600); // 2100, from the footer
        assert_eq!(ny.offset_at(4_118_000_000), -4 * 3600); // July 2100
    }
}
