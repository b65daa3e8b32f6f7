//! Regression tests for bugs the fuzz targets found (docs/FUZZING.md), one per bug, named after it.
//! The inputs that found them are replayed too, from `fuzz/regressions/<target>/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use nacre_transport::banner::BannerReader;
use nacre_transport::{BannerError, Limits, Role};

/// Feeds `input` to a server's identification reader `chunk` bytes at a time.
fn server_banner(input: &[u8], chunk: usize) -> Result<(), BannerError> {
    let limits = Limits {
        max_banner_line_len: 256,
        ..Limits::default()
    };
    let mut reader = BannerReader::new(Role::Server, &limits);
    let mut buf = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        if reader.poll(&buf)?.is_some() {
            return Ok(());
        }
    }
    Ok(())
}

/// fuzz target `banner`: a server given a long line that does not start with `SSH-` answered
/// `LineTooLong` when the line arrived whole but `NotIdentification` when it arrived in pieces (the
/// prefix was only checked while the line was short). Now the prefix is checked first.
#[test]
fn server_long_garbage_line_error_depends_on_split() {
    let mut line = b"SSH\0".to_vec();
    line.extend_from_slice(&[0xb1; 400]);
    for chunk in [1, 3, 4, 255, 256, 257, line.len()] {
        assert_eq!(
            server_banner(&line, chunk),
            Err(BannerError::NotIdentification),
            "chunks of {chunk}"
        );
    }
    // With a newline too.
    line.push(b'\n');
    assert_eq!(
        server_banner(&line, line.len()),
        Err(BannerError::NotIdentification)
    );
    // A long line that does start right is still too long, whole or split.
    let mut long = b"SSH-2.0-".to_vec();
    long.extend_from_slice(&[b'x'; 400]);
    for chunk in [1, long.len()] {
        assert_eq!(
            server_banner(&long, chunk),
            Err(BannerError::LineTooLong(256))
        );
    }
}
