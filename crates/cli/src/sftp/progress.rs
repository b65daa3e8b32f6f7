//! Progress bars with rate and ETA for transfers: a task samples how far the transfer got (the
//! local file's size for downloads, the remote file's for uploads) while it runs.

use std::future::Future;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Runs `transfer`, showing a bar for `total` bytes fed by `sample` every 200 ms when `show`.
pub async fn with_bar<T, S, F>(show: bool, name: &str, total: u64, mut sample: S, transfer: F) -> T
where
    F: Future<Output = T>,
    S: FnMut() -> Option<u64>,
{
    if !show {
        return transfer.await;
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:30} {percent:>3}% {bytes:>10} {bytes_per_sec:>12} {eta:>4}",
    ) {
        bar.set_style(style);
    }
    bar.set_message(name.to_owned());
    tokio::pin!(transfer);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let result = loop {
        tokio::select! {
            r = &mut transfer => break r,
            _ = tick.tick() => {
                if let Some(n) = sample() {
                    bar.set_position(n.min(total));
                }
            }
        }
    };
    bar.set_position(total);
    bar.finish();
    result
}
