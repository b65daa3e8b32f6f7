//! nacre's client side of the scenarios: log in to a peer's server, run commands, move files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use nacre::keys::{PrivateKey, PublicKey};
use nacre::transport::{Algorithms, Config};
use nacre::wire::DisconnectReason;
use nacre::{AuthResult, ClientConfig, Connection, ExitStatus};
use nacre_tests::{KeyPair, TEST_PASSWORD, TEST_USER};

use super::fixtures::{check_sha, Fixture, Outcome, EXEC_COMMAND};

/// A peer's server as nacre's client sees it.
#[derive(Clone)]
pub struct PeerServer {
    pub port: u16,
    /// The keys the client trusts; any other host key is refused.
    pub host_keys: Vec<PublicKey>,
}

#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Password,
    Key(&'a KeyPair),
}

/// Client settings beyond the defaults.
#[derive(Clone, Default)]
pub struct Options {
    pub algorithms: Option<Algorithms>,
    pub rekey_bytes: Option<u64>,
}

pub async fn login(t: &PeerServer, opts: &Options, auth: Auth<'_>) -> Result<Connection, String> {
    let mut config = Config::client();
    if let Some(a) = &opts.algorithms {
        config.algorithms = a.clone();
    }
    if let Some(b) = opts.rekey_bytes {
        config.limits.rekey_bytes = Some(b);
    }
    let trusted = t.host_keys.clone();
    let cfg = ClientConfig {
        transport: Arc::new(config),
        verify_host_key: Arc::new(move |k: &PublicKey| trusted.contains(k)),
    };
    let mut conn = Connection::connect(("127.0.0.1", t.port), cfg)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let result = match auth {
        Auth::Password => conn.authenticate_password(TEST_USER, TEST_PASSWORD).await,
        Auth::Key(kp) => {
            let text = std::fs::read(&kp.private).map_err(|e| e.to_string())?;
            let key = PrivateKey::from_openssh(&text).map_err(|e| e.to_string())?;
            conn.authenticate_publickey(TEST_USER, &key).await
        }
    }
    .map_err(|e| format!("authenticate: {e}"))?;
    if result != AuthResult::Success {
        return Err(format!("authentication refused: {result:?}"));
    }
    Ok(conn)
}

pub async fn bye(conn: Connection) {
    let _ = tokio::time::timeout(
        Duration::from_secs(10),
        conn.disconnect(DisconnectReason::BY_APPLICATION, "done"),
    )
    .await;
}

/// `echo ok` must print `ok` and exit 0.
pub async fn echo(conn: &Connection) -> Result<(), String> {
    let out = conn
        .exec("echo ok")
        .await
        .map_err(|e| format!("exec: {e}"))?;
    if out.stdout != b"ok\n" || out.status != Some(ExitStatus::Code(0)) {
        return Err(format!(
            "echo ok gave {:?} with status {:?}",
            String::from_utf8_lossy(&out.stdout),
            out.status
        ));
    }
    Ok(())
}

/// [`EXEC_COMMAND`]: stdout `out`, stderr `err`, exit status 42.
pub async fn exec_status(conn: &Connection) -> Result<(), String> {
    let out = conn
        .exec(EXEC_COMMAND)
        .await
        .map_err(|e| format!("exec: {e}"))?;
    if out.stdout != b"out\n" || out.stderr != b"err\n" || out.status != Some(ExitStatus::Code(42))
    {
        return Err(format!(
            "stdout {:?}, stderr {:?}, status {:?}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status
        ));
    }
    Ok(())
}

/// Logs in (`auth`) and runs `echo ok`.
pub async fn login_echo(t: &PeerServer, opts: &Options, auth: Auth<'_>) -> Outcome {
    let conn = login(t, opts, auth).await?;
    echo(&conn).await?;
    bye(conn).await;
    Ok(String::new())
}

/// Uploads `local` to `remote`, checks the server's copy (`server_copy`, the same file seen from this
/// machine), downloads it back beside `local`, checks that copy and removes the remote file.
pub async fn sftp_round_trip(
    t: &PeerServer,
    opts: &Options,
    local: &Path,
    sha: &str,
    remote: &str,
    server_copy: &Path,
) -> Outcome {
    sftp_round_trip_as(t, opts, Auth::Password, local, sha, remote, server_copy).await
}

/// [`sftp_round_trip`] logging in with `auth`.
pub async fn sftp_round_trip_as(
    t: &PeerServer,
    opts: &Options,
    auth: Auth<'_>,
    local: &Path,
    sha: &str,
    remote: &str,
    server_copy: &Path,
) -> Outcome {
    let conn = login(t, opts, auth).await?;
    let sftp = conn.sftp().await.map_err(|e| format!("sftp: {e}"))?;
    // Rows run in parallel: every download gets a file of its own.
    static BACK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = BACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let back = local.with_extension(format!("back{n}"));
    let up = sftp
        .upload(local, remote)
        .await
        .map_err(|e| format!("upload: {e}"))?;
    check_sha(server_copy, sha, "server's copy")?;
    let down = sftp
        .download(remote, &back)
        .await
        .map_err(|e| format!("download: {e}"))?;
    let _ = sftp.remove(remote).await;
    drop(sftp);
    bye(conn).await;
    let checked = check_sha(&back, sha, "downloaded copy");
    let _ = std::fs::remove_file(&back);
    checked?;
    if up != down {
        return Err(format!("uploaded {up} bytes, downloaded {down}"));
    }
    Ok(String::new())
}

/// The key scenarios and password/exec for one peer server, shared by every `nacre → peer` row.
/// `log` gives the peer server's log, appended to failures.
pub fn standard_rows(
    fx: &Fixture,
    m: &super::report::Matrix,
    row: &super::report::Row,
    t: &PeerServer,
    log: &dyn Fn() -> String,
) {
    use super::fixtures::{block_on, run, with_log};
    use super::report::Scenario;
    let plain = Options::default();
    run(m, row, Scenario::Password, || {
        with_log(block_on(login_echo(t, &plain, Auth::Password)), log)
    });
    for s in [Scenario::KeyEd25519, Scenario::KeyEcdsa, Scenario::KeyRsa] {
        let key = fx.key(s);
        run(m, row, s, || {
            with_log(block_on(login_echo(t, &plain, Auth::Key(key))), log)
        });
    }
    run(m, row, Scenario::Exec, || {
        let r = block_on(async {
            let conn = login(t, &plain, Auth::Password).await?;
            exec_status(&conn).await?;
            bye(conn).await;
            Ok(String::new())
        });
        with_log(r, log)
    });
}
