//! What acting as a user costs per file operation (issue 18): `LocalFs::write_at` of 32 KiB
//! (OpenSSH sftp's WRITE size) and 255 KiB (nacre's) into a tmpfs file, with the server's own
//! rights and acting as `nobody` (switching around the call), and one bare credential switch and
//! back; then the way the server runs a request, handed to `Filesystem::spawn_blocking` and
//! awaited: tokio's blocking pool with the server's rights, the account's own threads acting as
//! `nobody` (no switch). Never asserted; needs root to switch (without root only the plain rows
//! run).
//!
//! `cargo bench -p nacre-sftp --bench acting`; the figures go to docs/PERFORMANCE.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nacre_sftp::codec::OpenFlags;
use nacre_sftp::{Attributes, Credentials, Filesystem, LocalFs};

fn nobody() -> Credentials {
    Credentials {
        uid: 65534,
        gid: 65534,
        groups: vec![65534],
    }
}

fn acting(c: &mut Criterion) {
    let dir = tempfile::Builder::new()
        .prefix("nacre-acting-")
        .tempdir_in("/dev/shm")
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut filesystems = vec![("own rights", LocalFs::new(dir.path()).unwrap())];
    if nacre_sftp::is_root() {
        filesystems.push((
            "as nobody",
            LocalFs::acting_as(dir.path(), nobody()).unwrap(),
        ));
        c.bench_function("credential switch and back", |b| {
            let who = nobody();
            b.iter(|| who.run(|| Ok(())).unwrap());
        });
    }
    for size in [32 * 1024, 255 * 1024] {
        let mut group = c.benchmark_group(format!("write_at_{}k", size / 1024));
        group.throughput(Throughput::Bytes(size as u64));
        let data = vec![0x5a; size];
        for (name, fs) in &filesystems {
            let file = fs
                .open(
                    Path::new(&format!("/{}-{size}", name.replace(' ', "-"))),
                    OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
                    &Attributes::EMPTY,
                )
                .unwrap();
            group.bench_function(*name, |b| {
                b.iter(|| fs.write_at(&file, 0, &data).unwrap());
            });
        }
        group.finish();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let _enter = rt.enter();
    let mut group = c.benchmark_group("request_255k");
    group.throughput(Throughput::Bytes(255 * 1024));
    let data = std::sync::Arc::new(vec![0x5a; 255 * 1024]);
    for (name, fs) in filesystems {
        let fs = std::sync::Arc::new(fs);
        let file = std::sync::Arc::new(
            fs.open(
                Path::new(&format!("/req-{}", name.replace(' ', "-"))),
                OpenFlags::WRITE | OpenFlags::CREAT | OpenFlags::TRUNC,
                &Attributes::EMPTY,
            )
            .unwrap(),
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let (tx, rx) = std::sync::mpsc::channel();
                let (fs2, file, data) = (fs.clone(), file.clone(), data.clone());
                fs.spawn_blocking(Box::new(move || {
                    let _ = tx.send(fs2.write_at(&file, 0, &data));
                }));
                rx.recv().unwrap().unwrap();
            });
        });
    }
    group.finish();
}

criterion_group!(benches, acting);
criterion_main!(benches);
