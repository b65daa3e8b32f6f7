//! An in-memory pair: nacre's SFTP server over a `LocalFs` on a temporary folder, and the client,
//! joined by tokio duplex pipes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nacre_sftp::{ClientConfig, LocalFs, ServerConfig, SftpClient};
use sha2::{Digest, Sha256};

pub struct Pair {
    pub client: SftpClient,
    pub tmp: tempfile::TempDir,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Pair {
    /// The served folder (`/` for the client).
    pub fn root(&self) -> PathBuf {
        self.tmp.path().join("root")
    }

    /// A folder next to the root for local files.
    pub fn local(&self) -> PathBuf {
        self.tmp.path().join("local")
    }
}

pub async fn pair() -> Pair {
    pair_with(ServerConfig::default(), ClientConfig::default()).await
}

pub async fn pair_with(server: ServerConfig, client: ClientConfig) -> Pair {
    let (c2s_w, c2s_r) = tokio::io::duplex(1 << 20);
    let (s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    pair_over(server, client, (c2s_w, c2s_r), (s2c_w, s2c_r)).await
}

/// The pair over two pipes, each given as (writing end, reading end).
async fn pair_over(
    server: ServerConfig,
    client: ClientConfig,
    (c2s_w, c2s_r): (tokio::io::DuplexStream, tokio::io::DuplexStream),
    (s2c_w, s2c_r): (tokio::io::DuplexStream, tokio::io::DuplexStream),
) -> Pair {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("root")).unwrap();
    std::fs::create_dir(tmp.path().join("local")).unwrap();
    let (client, server) = session(
        &tmp.path().join("root"),
        server,
        client,
        (c2s_w, c2s_r),
        (s2c_w, s2c_r),
    )
    .await;
    Pair {
        client,
        tmp,
        server,
    }
}

/// A session serving `root`, over two pipes, each given as (writing end, reading end).
async fn session(
    root: &Path,
    server: ServerConfig,
    client: ClientConfig,
    (c2s_w, c2s_r): (tokio::io::DuplexStream, tokio::io::DuplexStream),
    (s2c_w, s2c_r): (tokio::io::DuplexStream, tokio::io::DuplexStream),
) -> (SftpClient, tokio::task::JoinHandle<std::io::Result<()>>) {
    let fs = LocalFs::new(root).unwrap();
    let server = tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        nacre_sftp::WriteSink::new(s2c_w),
        Arc::new(fs),
        server,
    ));
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(s2c_r),
        nacre_sftp::WriteSink::new(c2s_w),
        client,
    )
    .await
    .unwrap();
    (client, server)
}

impl Pair {
    /// Another session serving the same folder (as a second SFTP channel to the same server).
    pub async fn another_session(&self, server: ServerConfig, client: ClientConfig) -> SftpClient {
        let (c2s, s2c) = (tokio::io::duplex(1 << 20), tokio::io::duplex(1 << 20));
        let (client, _server) = session(&self.root(), server, client, c2s, s2c).await;
        client
    }
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256_file(path: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path).unwrap();
    std::io::copy(&mut f, &mut h).unwrap();
    hex(&h.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies `from` into `to`, each chunk `delay` later than it was read (one direction of a link
/// with latency; chunks keep their order).
async fn delayed_relay(
    mut from: tokio::io::DuplexStream,
    mut to: tokio::io::DuplexStream,
    delay: std::time::Duration,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0
            || tx
                .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// [`pair_with`] over a link that delays every byte by `one_way` in each direction.
pub async fn pair_delayed(
    server: ServerConfig,
    client: ClientConfig,
    one_way: std::time::Duration,
) -> Pair {
    let (c2s_w, relay_in) = tokio::io::duplex(1 << 20);
    let (relay_out, c2s_r) = tokio::io::duplex(1 << 20);
    tokio::spawn(delayed_relay(relay_in, relay_out, one_way));
    let (s2c_w, relay_in) = tokio::io::duplex(1 << 20);
    let (relay_out, s2c_r) = tokio::io::duplex(1 << 20);
    tokio::spawn(delayed_relay(relay_in, relay_out, one_way));
    pair_over(server, client, (c2s_w, c2s_r), (s2c_w, s2c_r)).await
}
