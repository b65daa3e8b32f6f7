//! Where the mapper's bytes go: a server over TCP (any implementation; "no response" is a short
//! quiet period) or nacre's own [`nacre_session::ServerSession`] in memory (see `memory.rs`:
//! a step runs until the server is quiescent, so no clock is involved).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What the server did in reaction to one step.
#[derive(Debug, Default)]
pub struct Reaction {
    /// The bytes it sent, as received.
    pub bytes: Vec<u8>,
    /// Whether it closed the connection.
    pub closed: bool,
}

/// A server the mapper talks to: one connection at a time.
pub trait Peer {
    /// Drops the current connection (if any) and opens a new one.
    fn connect(&mut self) -> anyhow::Result<()>;
    /// Sends bytes on the current connection (a closed connection swallows them).
    fn send(&mut self, bytes: &[u8]);
    /// Everything the server sends in reaction to what was sent, and whether it closed.
    fn receive(&mut self) -> Reaction;
}

/// A server over TCP: the reaction is what arrives until nothing more comes for `quiet`.
pub struct TcpPeer {
    addr: String,
    quiet: Duration,
    stream: Option<TcpStream>,
}

impl TcpPeer {
    /// A peer at `host:port` (connected by [`Peer::connect`]).
    pub fn new(host: &str, port: u16, quiet: Duration) -> TcpPeer {
        TcpPeer {
            addr: format!("{host}:{port}"),
            quiet,
            stream: None,
        }
    }
}

impl Peer for TcpPeer {
    fn connect(&mut self) -> anyhow::Result<()> {
        use std::net::ToSocketAddrs;
        self.stream = None;
        let addr = self
            .addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{}: no address", self.addr))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.quiet))?;
        self.stream = Some(stream);
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) {
        if let Some(s) = self.stream.as_mut() {
            if s.write_all(bytes).is_err() {
                // The reset or close shows up on the next read.
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
        }
    }

    fn receive(&mut self) -> Reaction {
        let mut reaction = Reaction::default();
        let Some(s) = self.stream.as_mut() else {
            reaction.closed = true;
            return reaction;
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    reaction.closed = true;
                    break;
                }
                Ok(n) => reaction
                    .bytes
                    .extend_from_slice(buf.get(..n).unwrap_or(&[])),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(_) => {
                    reaction.closed = true;
                    break;
                }
            }
        }
        if reaction.closed {
            self.stream = None;
        }
        reaction
    }
}
