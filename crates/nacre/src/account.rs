//! Which Unix account a session acts as.
//!
//! A server running as root must give each login no more than an account's rights: its SFTP
//! file operations run with that account's credentials ([`nacre_sftp::LocalFs::acting_as`]),
//! its commands and `Subsystem` commands run as that account (through `setpriv`), its pty and
//! agent socket belong to it. [`ActAs`] says which account that is; the default is the login
//! name's own Unix account, and a login with none (or `root`) gets no session unless the
//! operator named an account for it. Acting with the server's own rights, root included, is
//! something an operator asks for by name ([`ActAs::ServerProcess`], or an [`ActAs::Account`]
//! of `"root"`).
//!
//! A server not running as root cannot switch: every session then has the server's own rights,
//! whatever [`ActAs`] says (its files are the server account's, as they always were).
//!
//! Accounts are read from `/etc/passwd` and `/etc/group` (no NSS modules such as LDAP).

use std::path::PathBuf;

use nacre_sftp::Credentials;

/// A Unix account: what a session acting as it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name in /etc/passwd.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Every group of the account (primary first, then the /etc/group entries naming it), as
    /// `initgroups` gives a login.
    pub groups: Vec<u32>,
    /// Home folder.
    pub home: PathBuf,
    /// Login shell.
    pub shell: String,
}

impl Account {
    /// The account called `name`, if /etc/passwd has it.
    pub fn lookup(name: &str) -> Option<Account> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        Account::from_files(&passwd, &group, |n, _| n == name)
    }

    /// The account with user id `uid`, if /etc/passwd has one (the first).
    pub fn by_uid(uid: u32) -> Option<Account> {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        Account::from_files(&passwd, &group, |_, u| u == uid)
    }

    /// The first entry of `passwd` that `pick(name, uid)` selects, with its groups from `group`.
    pub fn from_files(
        passwd: &str,
        group: &str,
        pick: impl Fn(&str, u32) -> bool,
    ) -> Option<Account> {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            let [name, _, uid, gid, _, home, shell, ..] = f.as_slice() else {
                return None;
            };
            let (uid, gid) = (uid.parse().ok()?, gid.parse().ok()?);
            if !pick(name, uid) {
                return None;
            }
            let mut groups = vec![gid];
            groups.extend(supplementary_groups(group, name, gid));
            Some(Account {
                name: (*name).to_owned(),
                uid,
                gid,
                groups,
                home: PathBuf::from(home),
                shell: (*shell).to_owned(),
            })
        })
    }

    /// The credentials file operations use when acting as this account.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.clone(),
        }
    }

    /// Whether this is root (uid 0): acting as it is acting with the server's rights.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// The ids of the groups in /etc/group's text that list `user` as a member, other than
/// `primary` (and each once).
pub fn supplementary_groups(group: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for line in group.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if let [_, _, gid, members, ..] = f.as_slice() {
            if let Ok(gid) = gid.parse::<u32>() {
                if gid != primary && !out.contains(&gid) && members.split(',').any(|m| m == user) {
                    out.push(gid);
                }
            }
        }
    }
    out
}

/// Which account sessions act as when the server runs as root ([`crate::SessionConfig::act_as`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActAs {
    /// The login name's own Unix account, as sshd does. A login that has none, and `root`,
    /// act as `fallback` if there is one; with none they get no session (requests refused).
    LoginAccount {
        /// The account for logins without one of their own (and for `root`).
        fallback: Option<String>,
    },
    /// Every login acts as this account (an operator's explicit choice; `"root"` allowed).
    Account(String),
    /// Every login has the server process's own rights: root's, when it runs as root. For
    /// servers whose files are not the users' business (tests, appliances); never the default.
    ServerProcess,
}

impl Default for ActAs {
    fn default() -> Self {
        ActAs::LoginAccount { fallback: None }
    }
}

/// What a session of one login acts as, resolved from [`ActAs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    /// The server process's own rights (the server does not run as root, or was told to).
    ServerProcess,
    /// This account's rights only.
    Account(Account),
}

impl Acting {
    /// The account, when the session acts as one other than the server's own rights.
    pub fn account(&self) -> Option<&Account> {
        match self {
            Acting::Account(a) => Some(a),
            Acting::ServerProcess => None,
        }
    }

    /// The credentials to switch to for file operations: `None` when nothing is to switch
    /// (the server's own rights, or root's, which the server has).
    pub fn credentials(&self) -> Option<Credentials> {
        self.account()
            .filter(|a| !a.is_root())
            .map(Account::credentials)
    }
}

impl ActAs {
    /// The account `login`'s sessions act as, or why it gets none.
    pub fn resolve(&self, login: &str) -> Result<Acting, String> {
        if !nacre_sftp::is_root() {
            return Ok(Acting::ServerProcess);
        }
        let named = |name: &str| {
            Account::lookup(name)
                .map(Acting::Account)
                .ok_or_else(|| format!("no Unix account named \"{name}\""))
        };
        match self {
            ActAs::ServerProcess => Ok(Acting::ServerProcess),
            ActAs::Account(name) => named(name),
            ActAs::LoginAccount { fallback } => match Account::lookup(login) {
                Some(a) if !a.is_root() => Ok(Acting::Account(a)),
                found => match fallback {
                    Some(name) => named(name),
                    None if found.is_some() => Err(
                        "root may act as root only when the server is told so (act as \"root\" by name)"
                            .to_owned(),
                    ),
                    None => Err(format!(
                        "login \"{login}\" has no Unix account and no account was named for it"
                    )),
                },
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::{supplementary_groups, Account};

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\npeer:x:1001:1001::/home/peer:/bin/sh\n";
    const GROUP: &str = "root:x:0:\npeer:x:1001:peer\ndocker:x:998:alice,peer\nwheel:x:10:alice\n";

    #[test]
    fn accounts_from_passwd_and_group() {
        let peer = Account::from_files(PASSWD, GROUP, |n, _| n == "peer").unwrap();
        assert_eq!((peer.uid, peer.gid), (1001, 1001));
        assert_eq!(peer.groups, vec![1001, 998]);
        assert_eq!(peer.home.to_str(), Some("/home/peer"));
        assert!(!peer.is_root());
        let root = Account::from_files(PASSWD, GROUP, |_, u| u == 0).unwrap();
        assert!(root.is_root());
        assert!(Account::from_files(PASSWD, GROUP, |n, _| n == "alice").is_none());
    }

    #[test]
    fn supplementary_groups_from_etc_group() {
        assert_eq!(supplementary_groups(GROUP, "peer", 1001), vec![998]);
        assert!(supplementary_groups(GROUP, "bob", 1002).is_empty());
        // A name that merely contains the user's does not count.
        assert!(supplementary_groups("g:x:5:peers,xpeer\n", "peer", 1001).is_empty());
    }
}
