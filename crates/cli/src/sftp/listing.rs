//! `ls` as OpenSSH's sftp prints it: flags `-1afhlnrSt`, names in columns fitting the
//! terminal (one a line with `-1`), with `-l` the server's long names, or nacre's own long lines
//! (OpenSSH's `ls_file`) with `-n`, `-h`, for files named on the command line, and whenever the
//! server names owners and groups (`users-groups-by-id@openssh.com`, as OpenSSH's sftp asks).

use anyhow::bail;
use nacre_sftp::Attributes;

/// The flags of one `ls` command.
#[derive(Default, Clone, Copy)]
pub struct LsFlags {
    pub long: bool,
    pub numeric: bool,
    pub human: bool,
    pub one: bool,
    pub all: bool,
    pub reverse: bool,
    pub sort: Sort,
}

/// The sort order.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Name,
    Size,
    Time,
    None,
}

impl LsFlags {
    /// Parses the flag letters (`-lh` gives "lh"), refusing others as OpenSSH does.
    pub fn parse(letters: &str) -> anyhow::Result<LsFlags> {
        let mut f = LsFlags::default();
        for c in letters.chars() {
            match c {
                '1' => {
                    f = LsFlags {
                        long: false,
                        numeric: false,
                        human: false,
                        one: true,
                        ..f
                    }
                }
                'S' => f.sort = Sort::Size,
                't' => f.sort = Sort::Time,
                'f' => f.sort = Sort::None,
                'a' => f.all = true,
                'h' => f.human = true,
                'r' => f.reverse = true,
                'l' => (f.long, f.one) = (true, false),
                'n' => (f.long, f.numeric, f.one) = (true, true, false),
                other => bail!("ls: Invalid flag -{other}"),
            }
        }
        Ok(f)
    }
}

/// One thing to list: the name to print, its attributes, the server's long name if any, the
/// names of its owner and group if the server said them.
pub struct Item {
    pub name: String,
    pub attrs: Attributes,
    pub longname: Option<String>,
    pub owner: Option<(String, String)>,
}

/// Sorts `items` as the flags say (size and time: largest and newest first).
pub fn sort(items: &mut [Item], f: &LsFlags) {
    match f.sort {
        Sort::None => return,
        Sort::Name => items.sort_by(|a, b| a.name.cmp(&b.name)),
        Sort::Size => items.sort_by_key(|i| std::cmp::Reverse(i.attrs.size.unwrap_or(0))),
        Sort::Time => items.sort_by_key(|i| std::cmp::Reverse(i.attrs.mtime().unwrap_or(0))),
    }
    if f.reverse {
        items.reverse();
    }
}

/// The lines `ls` prints for `items` (already escaped for the terminal), `width` columns wide.
pub fn render(items: &[Item], f: &LsFlags, width: usize) -> Vec<String> {
    if f.long {
        return items
            .iter()
            .map(|i| match (&i.longname, f.numeric || f.human) {
                (Some(l), false) => l.clone(),
                _ => ls_file(&i.name, &i.attrs, f.human, i.owner.as_ref()),
            })
            .collect();
    }
    if f.one {
        return items.iter().map(|i| i.name.clone()).collect();
    }
    let longest = items
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(0);
    let columns = (width / (longest + 2)).max(1);
    let colspace = (width / columns).min(width);
    items
        .chunks(columns)
        .map(|row| {
            let line: String = row
                .iter()
                .map(|i| format!("{:<colspace$}", i.name))
                .collect();
            line.trim_end().to_owned()
        })
        .collect()
}

/// OpenSSH's `ls_file` for a remote file (`-rw-r--r--    ? user     group`): mode, `?` links,
/// owner and group (their names when
/// known, else the numbers), size (scaled with `-h`), modification time, name.
pub fn ls_file(
    name: &str,
    a: &Attributes,
    human: bool,
    owner: Option<&(String, String)>,
) -> String {
    let mode = nacre_sftp::mode_string(a.permissions.unwrap_or(0));
    let (user, group) = match (owner, a.uid_gid) {
        (Some((u, g)), _) => (u.clone(), g.clone()),
        (None, Some(ids)) => (ids.uid.to_string(), ids.gid.to_string()),
        (None, None) => ("?".to_owned(), "?".to_owned()),
    };
    let size = a.size.unwrap_or(0);
    let size = if human {
        scaled(size)
    } else {
        size.to_string()
    };
    let time = a
        .mtime()
        .map_or_else(String::new, |m| time_string(i64::from(m)));
    // strmode(3)'s eleven characters (the last one a space, for ACLs), then `%3s` links.
    format!("{mode}    ? {user:<8} {group:<8} {size:>8} {time} {name}")
}

/// fmt_scaled(3): at most four digits, `B`, `K`, `M`, `G`, `T`, `P`, `E` in powers of 1024,
/// one decimal below 10.
pub fn scaled(n: u64) -> String {
    const UNITS: [char; 7] = ['B', 'K', 'M', 'G', 'T', 'P', 'E'];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let u = UNITS.get(unit).copied().unwrap_or('E');
    if unit == 0 {
        format!("{n}{u}")
    } else if value < 10.0 {
        format!("{:.1}{u}", (value * 10.0).round() / 10.0)
    } else {
        format!("{}{u}", value.round())
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Jan  2 15:04` within the last six months, else `Jan  2  2006`, in local time (`$TZ`, else
/// /etc/localtime), as OpenSSH's `ls_file` prints it.
pub fn time_string(t: i64) -> String {
    let local = t.saturating_add(crate::localtime::offset_at(t));
    let z = local.div_euclid(86_400) + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let name = usize::try_from(month - 1)
        .ok()
        .and_then(|m| MONTHS.get(m))
        .copied()
        .unwrap_or("???");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let secs = local.rem_euclid(86_400);
    if now - (365 * 86_400) / 2 < t && now >= t {
        format!(
            "{name} {day:>2} {:02}:{:02}",
            secs / 3600,
            (secs % 3600) / 60
        )
    } else {
        format!("{name} {day:>2}  {year}")
    }
}

/// The terminal's width (of standard input, as OpenSSH asks), 80 when it is not one.
pub fn terminal_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stdin())
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|w| *w > 0)
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_sizes_and_times() {
        assert_eq!(scaled(999), "999B");
        assert_eq!(scaled(1536), "1.5K");
        assert_eq!(scaled(10 * 1024 * 1024), "10M");
        assert_eq!(time_string(43_200), "Jan  1  1970");
    }

    #[test]
    fn columns() {
        let item = |n: &str| Item {
            name: n.to_owned(),
            attrs: Attributes::EMPTY,
            longname: None,
            owner: None,
        };
        let items = [item("a"), item("bb"), item("c")];
        let f = LsFlags::default();
        assert_eq!(render(&items, &f, 8), vec!["a   bb", "c"]);
        assert!(LsFlags::parse("lx").is_err());
        let one = LsFlags::parse("l1").unwrap_or_default();
        assert_eq!(render(&items, &one, 80), vec!["a", "bb", "c"]);
    }

    /// `-l` from a server that does not name owners (no users-groups-by-id@openssh.com): its
    /// long name as it comes, link count included, as OpenSSH's sftp prints `d->longname`;
    /// `-n` and `-h` (and names from the extension) are OpenSSH's `ls_file` lines.
    #[test]
    fn long_names_as_the_server_gives_them() {
        let long = "drwxr-xr-x    3 alice    staff        4096 Jan  1  2020 dir";
        let item = Item {
            name: "dir".to_owned(),
            attrs: Attributes::EMPTY.with_permissions(0o40755),
            longname: Some(long.to_owned()),
            owner: None,
        };
        let l = LsFlags::parse("l").unwrap_or_default();
        assert_eq!(render(std::slice::from_ref(&item), &l, 80), vec![long]);
        let n = LsFlags::parse("n").unwrap_or_default();
        let line = render(std::slice::from_ref(&item), &n, 80).join("");
        assert!(
            line.starts_with("drwxr-xr-x    ? ?        ?               0 "),
            "{line}"
        );
    }
}
