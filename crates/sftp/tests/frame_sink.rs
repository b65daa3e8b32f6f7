#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `serve_framed`: the server hands every reply to a `FrameSink` as one whole frame, in order,
//! and a client reading through such a sink gets the same files as through `serve_with`.

use std::sync::{Arc, Mutex};

use nacre_sftp::{serve_framed, ClientConfig, FrameSink, LocalFs, ServerConfig, SftpClient};
use tokio::io::{AsyncWriteExt, DuplexStream};

mod common;

/// Records each frame's length and passes the frame on to the client's pipe.
struct Recording {
    out: DuplexStream,
    frames: Arc<Mutex<Vec<usize>>>,
}

impl FrameSink for Recording {
    async fn send_frame(&mut self, frame: Vec<u8>) -> std::io::Result<()> {
        self.frames.lock().unwrap().push(frame.len());
        // One SFTP packet: its length field covers the rest of the frame.
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len + 4, frame.len(), "one whole packet per frame");
        self.out.write_all(&frame).await
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().await
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        self.out.shutdown().await
    }
}

#[tokio::test]
async fn every_reply_reaches_the_sink_as_one_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let content = common::data(3 * 1024 * 1024 + 17, 5);
    std::fs::write(root.join("f.bin"), &content).unwrap();
    let fs = LocalFs::new(&root).unwrap();
    let (c2s_w, c2s_r) = tokio::io::duplex(1 << 20);
    let (s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    let frames = Arc::new(Mutex::new(Vec::new()));
    let sink = Recording {
        out: s2c_w,
        frames: frames.clone(),
    };
    let server = tokio::spawn(serve_framed(
        c2s_r,
        sink,
        Arc::new(fs),
        ServerConfig::default(),
    ));
    let client = SftpClient::with_config(s2c_r, c2s_w, ClientConfig::default())
        .await
        .unwrap();
    let local = tmp.path().join("got.bin");
    let n = client.download("/f.bin", &local).await.unwrap();
    assert_eq!(n, content.len() as u64);
    assert_eq!(std::fs::read(&local).unwrap(), content);
    drop(client);
    server.await.unwrap().unwrap();
    let frames = frames.lock().unwrap();
    // VERSION, limits, open, the READs (255 KiB each at most), their EOF, close...
    let data_frames = frames.iter().filter(|&&l| l > 1024).count();
    assert!(data_frames >= content.len() / (256 * 1024), "{frames:?}");
    assert!(frames.iter().all(|&l| l <= nacre_sftp::MAX_PACKET_LEN + 4));
}
