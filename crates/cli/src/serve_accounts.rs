//! `nacre serve` run as root: which Unix account each login acts as, and what that means, said
//! once at start.
//!
//! - `--run-as ACCOUNT` (or `run_as` in the config file, globally or per user): every login (of
//!   that user) acts as ACCOUNT; `root` only this way, by name.
//! - Otherwise a login that is a Unix account (other than root) acts as itself, as with sshd.
//! - A login without an account, and `root`, act as the served folder's owner when that is not
//!   root, else as `nobody`: the zero-config `nacre serve` started as root in a folder of its
//!   own stays usable and safe.
//!
//! When serve does not run as root nothing is switched: every login has serve's own rights.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nacre::{Account, ActAs};

/// The account logins without one of their own act as, for the folder `root`: its owner when
/// that is an account other than root, else `nobody` (`None` if the system has neither).
pub fn fallback_for(root: &Path) -> Option<String> {
    let owner = std::fs::metadata(root).ok().map(|m| m.uid());
    owner
        .filter(|uid| *uid != 0)
        .and_then(Account::by_uid)
        .or_else(|| Account::lookup("nobody"))
        .map(|a| a.name)
}

/// The rule for sessions serving `root`, given `run_as` (the operator's named account, if any).
pub fn act_as(run_as: Option<&str>, root: &Path) -> anyhow::Result<ActAs> {
    if let Some(name) = run_as {
        if nacre_sftp::is_root() && Account::lookup(name).is_none() {
            anyhow::bail!("--run-as {name}: no such Unix account in /etc/passwd");
        }
        return Ok(ActAs::Account(name.to_owned()));
    }
    Ok(ActAs::LoginAccount {
        fallback: fallback_for(root),
    })
}

/// What the rule means for people, printed at start when serve runs as root; `None` otherwise
/// (nothing is switched then).
pub fn describe(rule: &ActAs, root: &Path) -> Option<String> {
    if !nacre_sftp::is_root() {
        return None;
    }
    let owner = std::fs::metadata(root).ok().map(|m| m.uid());
    let about = |name: &str| match Account::lookup(name) {
        Some(a) if a.is_root() => {
            "root: clients may read and change every file under the served folder".to_owned()
        }
        Some(a) if Some(a.uid) == owner => format!(
            "\"{name}\" (uid {}), the owner of {}: clients have its rights there",
            a.uid,
            root.display()
        ),
        Some(a) => format!(
            "\"{name}\" (uid {}), which does not own {}: clients can read what it may read and \
             change only what it may change (give --run-as ACCOUNT to choose another)",
            a.uid,
            root.display()
        ),
        None => format!("\"{name}\", which this system does not have: such logins are refused"),
    };
    Some(match rule {
        ActAs::Account(name) => format!("running as root: every login acts as {}", about(name)),
        ActAs::ServerProcess => {
            "running as root: every login has root's rights (asked for)".to_owned()
        }
        ActAs::LoginAccount { fallback } => format!(
            "running as root: a login that is a Unix account acts as that account; others and \
             root act as {}",
            fallback.as_deref().map_or_else(
                || "nobody, which this system does not have: such logins are refused".to_owned(),
                about
            )
        ),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_root_owned_folder_falls_back_to_nobody_and_an_owned_one_to_its_owner() {
        if !nacre_sftp::is_root() || Account::lookup("nobody").is_none() {
            return; // the rule is about serve run as root
        }
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(fallback_for(dir.path()).as_deref(), Some("nobody"));
        let nobody = Account::lookup("nobody").unwrap();
        std::os::unix::fs::chown(dir.path(), Some(nobody.uid), None).unwrap();
        assert_eq!(
            fallback_for(dir.path()).as_deref(),
            Some(nobody.name.as_str())
        );
        let text = describe(&act_as(None, dir.path()).unwrap(), dir.path()).unwrap();
        assert!(text.contains("the owner of"), "{text}");
        let text = describe(&act_as(Some("root"), dir.path()).unwrap(), dir.path()).unwrap();
        assert!(text.contains("every file"), "{text}");
        assert!(act_as(Some("no-such-account-here"), dir.path()).is_err());
    }
}
