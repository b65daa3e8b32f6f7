//! `ls -l`-style long names for READDIR replies (OpenSSH's `ls_file` layout), and the user and
//! group names they show (read from `/etc/passwd` and `/etc/group`, no libc calls).

use std::collections::HashMap;

use nacre_sftp_codec::FileType;

use crate::attrs::Attributes;

/// User and group names by numeric id.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Accounts {
    /// Reads `/etc/passwd` and `/etc/group` (missing files give no names).
    pub fn load() -> Accounts {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Accounts::parse(&read("/etc/passwd"), &read("/etc/group"))
    }

    /// Parses the two files' text (`name:x:id:...` lines).
    pub fn parse(passwd: &str, group: &str) -> Accounts {
        fn ids(text: &str) -> HashMap<u32, String> {
            let mut map = HashMap::new();
            for line in text.lines() {
                let mut fields = line.split(':');
                let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                if let Ok(id) = id.parse::<u32>() {
                    map.entry(id).or_insert_with(|| name.to_owned());
                }
            }
            map
        }
        Accounts {
            users: ids(passwd),
            groups: ids(group),
        }
    }

    /// The name of user `uid`.
    pub fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    /// The name of group `gid`.
    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

/// `drwxr-xr-x`-style mode string, with setuid, setgid and sticky bits.
pub fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(FileType::from_mode(mode).ls_char());
    let bit = |b: u32, c: char| if mode & b != 0 { c } else { '-' };
    let special = |x: u32, sp: u32, set: char, unset: char| match (mode & x != 0, mode & sp != 0) {
        (true, true) => set,
        (false, true) => unset,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(0o001, 0o1000, 't', 'T'));
    s
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1..=12, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// `Jan  2 15:04` for times within six months of `now`, else `Jan  2  2006` (UTC).
pub fn time_string(mtime: u32, now: i64) -> String {
    let t = i64::from(mtime);
    let (year, month, day) = civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    let name = usize::try_from(month)
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("???");
    const SIX_MONTHS: i64 = 182 * 86_400;
    if (now - t).abs() < SIX_MONTHS {
        format!(
            "{name} {day:>2} {:02}:{:02}",
            secs / 3600,
            (secs % 3600) / 60
        )
    } else {
        format!("{name} {day:>2}  {year}")
    }
}

/// Seconds since the epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The long name OpenSSH's sftp-server sends: `mode nlink user group size date name`, user and
/// group padded to 8 columns, size to 8.
pub fn long_name(name: &[u8], attrs: &Attributes, nlink: u64, accounts: &Accounts) -> Vec<u8> {
    let mode = mode_string(attrs.permissions.unwrap_or(0));
    let (user, group) = match attrs.uid_gid {
        Some(ids) => (
            accounts
                .user(ids.uid)
                .map_or_else(|| ids.uid.to_string(), str::to_owned),
            accounts
                .group(ids.gid)
                .map_or_else(|| ids.gid.to_string(), str::to_owned),
        ),
        None => ("?".to_owned(), "?".to_owned()),
    };
    let time = attrs
        .mtime()
        .map_or_else(|| "            ".to_owned(), |m| time_string(m, now_secs()));
    let size = attrs.size.unwrap_or(0);
    let mut line = format!("{mode} {nlink:>3} {user:<8} {group:<8} {size:>8} {time} ").into_bytes();
    line.extend_from_slice(name);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        // 2006-01-02 15:04:05 UTC
        let t = 1_136_214_245u32;
        assert_eq!(time_string(t, i64::from(t) + 10), "Jan  2 15:04");
        assert_eq!(time_string(t, i64::from(t) + 400 * 86_400), "Jan  2  2006");
    }

    #[test]
    fn line() {
        let accounts = Accounts::parse("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");
        let attrs = Attributes {
            size: Some(1234),
            uid_gid: Some(nacre_sftp_codec::UidGid { uid: 0, gid: 7 }),
            permissions: Some(0o100644),
            times: None,
        };
        let l = long_name(b"f.txt", &attrs, 1, &accounts);
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "-rw-r--r--   1 root     7            1234              f.txt"
        );
    }
}
