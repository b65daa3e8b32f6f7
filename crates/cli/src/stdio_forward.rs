//! `-W host:port`, as ssh's: standard input and output carried by one `direct-tcpip` channel to
//! `host`:`port` as the server sees it (for `ProxyCommand nacre ssh -W %h:%p jump`). No session,
//! no pty, no other forwards; the end of the channel ends the program with 0, a refused channel
//! with `stdio forwarding failed` and 255.

use anyhow::Context;
use nacre::Connection;
use tokio::io::AsyncWriteExt;

/// `host:port` (`[v6]:port`) of `-W`.
pub fn spec(spec: &str) -> anyhow::Result<(String, u16)> {
    let bad = || format!("Bad stdio forwarding specification '{spec}'");
    let (host, port) = spec.rsplit_once(':').with_context(bad)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        anyhow::bail!(bad());
    }
    Ok((host.to_owned(), port.parse().with_context(bad)?))
}

/// Carries standard input and output to `host`:`port` until the channel ends; returns the exit
/// code.
pub async fn run(conn: &Connection, host: &str, port: u16) -> anyhow::Result<i32> {
    let origin = std::net::SocketAddr::from(([127, 0, 0, 1], 65535));
    let mut ch = match conn.open_direct_tcpip(host, port, origin).await {
        Ok(ch) => ch,
        Err(e) => {
            let text = crate::visible::visible_text(&e.to_string(), false);
            eprintln!("channel 0: open failed: {text}");
            eprintln!("stdio forwarding failed");
            return Ok(255);
        }
    };
    let mut writer = ch.writer();
    let up = async {
        let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut writer).await;
        let _ = writer.shutdown().await;
        // The channel's end, not our input's, ends the forward.
        std::future::pending::<()>().await;
    };
    let down = async {
        let mut out = tokio::io::stdout();
        let _ = tokio::io::copy(&mut ch, &mut out).await;
        let _ = out.flush().await;
    };
    tokio::select! {
        () = up => {}
        () = down => {}
    }
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn specs() {
        assert_eq!(super::spec("h:22").unwrap(), ("h".into(), 22));
        assert_eq!(super::spec("[::1]:22").unwrap(), ("::1".into(), 22));
        let e = super::spec("h").unwrap_err();
        assert_eq!(e.to_string(), "Bad stdio forwarding specification 'h'");
        assert!(super::spec(":22").is_err());
        assert!(super::spec("h:x").is_err());
    }
}
