#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
//! `serve` with a `FrameSink`: the server hands every reply to it as one whole frame, in order,
//! and a client reading through such a sink gets the same files as over a plain stream.
use std::sync::{Arc, Mutex};

use nacre_sftp::{ClientConfig, FrameSink, LocalFs, ServerConfig, SftpClient};
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
    let server = tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        sink,
        Arc::new(fs),
        ServerConfig::default(),
    ));
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(s2c_r),
        nacre_sftp::WriteSink::new(c2s_w),
        ClientConfig::default(),
    )
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

/// A sink with a direct handle: frames pushed from any thread, forwarded to the client's pipe by
/// a task; records the thread and packet type of every push.
struct Direct {
    tx: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Vec<u8>>>>,
    pushes: Mutex<Vec<(std::thread::ThreadId, u8)>>,
}

impl nacre_sftp::DirectSink for Direct {
    fn push_frame(&self, frame: Vec<u8>) -> std::io::Result<()> {
        self.pushes
            .lock()
            .unwrap()
            .push((std::thread::current().id(), frame[4]));
        match &*self.tx.lock().unwrap() {
            Some(tx) => tx
                .send(frame)
                .map_err(|_| std::io::ErrorKind::BrokenPipe.into()),
            None => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn poll_room(&self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

struct DirectSinkOwner(Arc<Direct>);

impl FrameSink for DirectSinkOwner {
    fn direct(&self) -> Option<Arc<dyn nacre_sftp::DirectSink>> {
        Some(self.0.clone())
    }

    async fn send_frame(&mut self, _frame: Vec<u8>) -> std::io::Result<()> {
        panic!("with a direct handle, no frame goes through send_frame");
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        self.0.tx.lock().unwrap().take();
        Ok(())
    }
}

/// Issue 14 item 4: with a direct handle (nacre's channel writer has one), the reply to a WRITE
/// is queued by the blocking thread that ran the request, not by a task in between: arrival
/// (the connection task wakes the loop) → the loop hands the job to the blocking pool → the job
/// queues its reply (and wakes the connection task): three task transitions.
#[tokio::test(flavor = "current_thread")]
async fn replies_are_queued_by_the_thread_that_made_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let content = common::data(2 * 1024 * 1024 + 5, 9);
    std::fs::write(tmp.path().join("up.bin"), &content).unwrap();
    let fs = LocalFs::new(&root).unwrap();
    let (c2s_w, c2s_r) = tokio::io::duplex(1 << 20);
    let (mut s2c_w, s2c_r) = tokio::io::duplex(1 << 20);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let direct = Arc::new(Direct {
        tx: Mutex::new(Some(tx)),
        pushes: Mutex::new(Vec::new()),
    });
    let forward = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            s2c_w.write_all(&frame).await.unwrap();
        }
        s2c_w.shutdown().await.unwrap();
    });
    let server = tokio::spawn(nacre_sftp::serve(
        nacre_sftp::ReadChunks::new(c2s_r),
        DirectSinkOwner(direct.clone()),
        Arc::new(fs),
        ServerConfig::default(),
    ));
    let client = SftpClient::new(
        nacre_sftp::ReadChunks::new(s2c_r),
        nacre_sftp::WriteSink::new(c2s_w),
        ClientConfig::default(),
    )
    .await
    .unwrap();
    let n = client
        .upload(tmp.path().join("up.bin"), "/up.bin")
        .await
        .unwrap();
    assert_eq!(n, content.len() as u64);
    drop(client);
    server.await.unwrap().unwrap();
    forward.await.unwrap();
    assert_eq!(std::fs::read(root.join("up.bin")).unwrap(), content);
    let runtime_thread = std::thread::current().id();
    let pushes = direct.pushes.lock().unwrap();
    // VERSION is answered by the loop itself; every STATUS (the WRITEs', CLOSE's) and the
    // HANDLE come from a blocking thread.
    assert_eq!(pushes[0], (runtime_thread, 2), "VERSION from the loop");
    let statuses: Vec<_> = pushes.iter().filter(|(_, t)| *t == 101).collect();
    assert!(statuses.len() >= content.len() / (256 * 1024), "{pushes:?}");
    assert!(
        pushes[1..]
            .iter()
            .all(|(thread, _)| *thread != runtime_thread),
        "every reply after VERSION queued by the blocking thread: {pushes:?}"
    );
}
