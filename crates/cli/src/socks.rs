//! `-D [bind_address:]port` and `DynamicForward`, as ssh's: a SOCKS 4, 4a and 5 proxy on this
//! machine (no authentication, CONNECT only). Each connection is carried by its own
//! `direct-tcpip` channel to the host and port it names, which the server connects to.
//!
//! The listeners run as tasks; the channels are opened by [`Dynamic::serve`], which the session
//! polls next to its own work (it borrows the connection, the tasks cannot); a `-N` session
//! serves them until the connection is gone ([`nacre::Connection::gone`]).

use std::future::{poll_fn, Future};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use anyhow::{bail, Context};
use nacre::wire::ChannelOpenFailureReason;
use nacre::{Channel, Connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// How long a client may take to say where it wants to go.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Buffer of each direction of a forwarded connection.
const COPY_BUFFER: usize = 64 * 1024;

/// A SOCKS client's request: the channel to open and where the answer goes.
struct Open {
    host: String,
    port: u16,
    origin: SocketAddr,
    reply: oneshot::Sender<Result<Channel, nacre::Error>>,
}

/// The SOCKS listeners and the queue of channels their clients ask for. Listeners are added
/// and cancelled through a shared reference (`~C`'s `-D` and `-KD` while [`Dynamic::serve`]
/// runs). Dropping it stops the listeners; connections already carried go on until they end.
pub struct Dynamic {
    tx: mpsc::UnboundedSender<Open>,
    rx: Mutex<mpsc::UnboundedReceiver<Open>>,
    listeners: Mutex<Vec<(SocketAddr, tokio::task::JoinHandle<()>)>>,
}

impl Default for Dynamic {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Dynamic {
            tx,
            rx: Mutex::new(rx),
            listeners: Mutex::new(Vec::new()),
        }
    }
}

impl Drop for Dynamic {
    fn drop(&mut self) {
        if let Ok(listeners) = self.listeners.lock() {
            for (_, task) in listeners.iter() {
                task.abort();
            }
        }
    }
}

/// `[bind_address:]port` as ssh reads `-D`: no address is loopback, `*` or an empty one every
/// address, `[v6]` in brackets.
pub fn bind_spec(spec: &str) -> anyhow::Result<(String, u16)> {
    let bad = || format!("Bad dynamic forwarding specification '{spec}'");
    let (host, port) = match spec.rsplit_once(':') {
        Some((h, p)) => (Some(h.trim_start_matches('[').trim_end_matches(']')), p),
        None => (None, spec),
    };
    let port: u16 = port.parse().with_context(bad)?;
    let host = match host {
        None | Some("localhost") => "127.0.0.1",
        Some("" | "*") => "0.0.0.0",
        Some(h) => h,
    };
    Ok((host.to_owned(), port))
}

impl Dynamic {
    /// Whether no listener is set up.
    pub fn is_empty(&self) -> bool {
        self.listeners.lock().map_or(true, |l| l.is_empty())
    }

    /// Listens on `host`:`port`; returns the address bound.
    pub async fn listen(&self, host: &str, port: u16) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, self.tx.clone()));
        match self.listeners.lock() {
            Ok(mut l) => l.push((addr, task)),
            Err(_) => task.abort(),
        }
        Ok(addr)
    }

    /// Stops the listeners on `port` (on `host` only, when given as an address); whether there
    /// was one (`~C`'s `-KD`).
    pub fn cancel(&self, host: Option<&str>, port: u16) -> bool {
        let ip = host.and_then(|h| h.parse::<std::net::IpAddr>().ok());
        let Ok(mut listeners) = self.listeners.lock() else {
            return false;
        };
        let before = listeners.len();
        listeners.retain(|(addr, task)| {
            let hit = addr.port() == port && ip.is_none_or(|ip| ip == addr.ip());
            if hit {
                task.abort();
            }
            !hit
        });
        listeners.len() != before
    }

    /// Opens the channels the SOCKS clients ask for, several at once, as long as it is polled:
    /// it never ends.
    pub async fn serve(&self, conn: &Connection) {
        let mut opening: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = Vec::new();
        poll_fn(|cx| {
            if let Ok(mut rx) = self.rx.lock() {
                while let Poll::Ready(Some(req)) = rx.poll_recv(cx) {
                    opening.push(Box::pin(open(conn, req)));
                }
            }
            opening.retain_mut(|f| f.as_mut().poll(cx).is_pending());
            Poll::<()>::Pending
        })
        .await;
    }

    /// [`Dynamic::serve`] until the connection ends.
    pub async fn serve_while_open(&self, conn: &Connection) {
        tokio::select! {
            () = self.serve(conn) => {}
            () = conn.gone() => {}
        }
    }
}

async fn open(conn: &Connection, req: Open) {
    let r = conn
        .open_direct_tcpip(&req.host, req.port, req.origin)
        .await;
    let _ = req.reply.send(r);
}

async fn accept_loop(listener: TcpListener, queue: mpsc::UnboundedSender<Open>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(client(stream, peer, queue.clone()));
            }
            Err(e) => {
                tracing::debug!(error = %e, "SOCKS: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The SOCKS version a client speaks, for the answer.
#[derive(Clone, Copy)]
enum Version {
    Four,
    Five,
}

/// Where a client wants to go.
struct Request {
    version: Version,
    host: String,
    port: u16,
}

/// One SOCKS client: its request, the channel, the answer, then bytes both ways.
async fn client(mut stream: TcpStream, peer: SocketAddr, queue: mpsc::UnboundedSender<Open>) {
    let req = match tokio::time::timeout(HANDSHAKE_TIMEOUT, request(&mut stream)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "SOCKS: bad request");
            return;
        }
        Err(_) => return,
    };
    let (tx, rx) = oneshot::channel();
    let open = Open {
        host: req.host.clone(),
        port: req.port,
        origin: peer,
        reply: tx,
    };
    if queue.send(open).is_err() {
        return;
    }
    let result = rx.await.unwrap_or(Err(nacre::Error::Closed));
    let answer = answer(req.version, result.as_ref().err());
    if stream.write_all(&answer).await.is_err() {
        return;
    }
    match result {
        Ok(mut ch) => {
            let _ = tokio::io::copy_bidirectional_with_sizes(
                &mut stream,
                &mut ch,
                COPY_BUFFER,
                COPY_BUFFER,
            )
            .await;
        }
        Err(e) => eprintln!(
            "open failed for {} port {}: {}",
            crate::visible::visible(req.host.as_bytes()),
            req.port,
            crate::visible::visible_text(&why(&e), false)
        ),
    }
}

/// Why a channel was refused, in ssh's words (`connect failed: Connection refused`).
fn why(e: &nacre::Error) -> String {
    match e {
        nacre::Error::OpenFailed {
            reason,
            description,
        } => {
            let what = match *reason {
                ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED => {
                    "administratively prohibited"
                }
                ChannelOpenFailureReason::CONNECT_FAILED => "connect failed",
                _ => "refused",
            };
            format!("{what}: {description}")
        }
        other => other.to_string(),
    }
}

/// Reads a request (SOCKS 4, 4a or 5); refuses what ssh refuses, with the protocol's answer.
async fn request(s: &mut TcpStream) -> anyhow::Result<Request> {
    match s.read_u8().await? {
        4 => socks4(s).await,
        5 => socks5(s).await,
        v => bail!("SOCKS version {v} not known"),
    }
}

/// A NUL-terminated string of SOCKS 4 (user id, 4a host name), at most 255 bytes.
async fn read_cstr(s: &mut TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        match s.read_u8().await? {
            0 => return Ok(out),
            b if out.len() < 255 => out.push(b),
            _ => bail!("SOCKS 4 string too long"),
        }
    }
}

async fn socks4(s: &mut TcpStream) -> anyhow::Result<Request> {
    let command = s.read_u8().await?;
    let port = s.read_u16().await?;
    let mut ip = [0u8; 4];
    s.read_exact(&mut ip).await?;
    let _user = read_cstr(s).await?;
    // 0.0.0.x (x not 0): SOCKS 4a, the host name follows.
    let host = match ip {
        [0, 0, 0, x] if x != 0 => String::from_utf8(read_cstr(s).await?)?,
        _ => Ipv4Addr::from(ip).to_string(),
    };
    if command != 1 {
        s.write_all(&answer(Version::Four, Some(&nacre::Error::Closed)))
            .await?;
        bail!("SOCKS 4 command {command} not supported");
    }
    Ok(Request {
        version: Version::Four,
        host,
        port,
    })
}

/// SOCKS 5 reply codes.
const GENERAL_FAILURE: u8 = 1;
const NOT_ALLOWED: u8 = 2;
const HOST_UNREACHABLE: u8 = 4;
const REFUSED: u8 = 5;
const COMMAND_NOT_SUPPORTED: u8 = 7;
const ADDRESS_NOT_SUPPORTED: u8 = 8;

async fn socks5(s: &mut TcpStream) -> anyhow::Result<Request> {
    let n = s.read_u8().await?;
    let mut methods = vec![0u8; usize::from(n)];
    s.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        s.write_all(&[5, 0xff]).await?;
        bail!("SOCKS 5 client without the no-authentication method");
    }
    s.write_all(&[5, 0]).await?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head).await?;
    let [version, command, _, kind] = head;
    if version != 5 {
        bail!("SOCKS 5 request of version {version}");
    }
    let host = match kind {
        1 => {
            let mut ip = [0u8; 4];
            s.read_exact(&mut ip).await?;
            Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let len = s.read_u8().await?;
            let mut name = vec![0u8; usize::from(len)];
            s.read_exact(&mut name).await?;
            String::from_utf8(name)?
        }
        4 => {
            let mut ip = [0u8; 16];
            s.read_exact(&mut ip).await?;
            Ipv6Addr::from(ip).to_string()
        }
        _ => {
            s.write_all(&reply5(ADDRESS_NOT_SUPPORTED)).await?;
            bail!("SOCKS 5 address type {kind} not known");
        }
    };
    let port = s.read_u16().await?;
    if command != 1 {
        s.write_all(&reply5(COMMAND_NOT_SUPPORTED)).await?;
        bail!("SOCKS 5 command {command} not supported (CONNECT only, as ssh)");
    }
    Ok(Request {
        version: Version::Five,
        host,
        port,
    })
}

/// A SOCKS 5 reply with no bound address (0.0.0.0:0, as ssh's).
fn reply5(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// The answer to a request: granted, or why not.
fn answer(version: Version, error: Option<&nacre::Error>) -> Vec<u8> {
    match version {
        Version::Four => {
            let code = if error.is_some() { 0x5b } else { 0x5a };
            vec![0, code, 0, 0, 0, 0, 0, 0]
        }
        Version::Five => reply5(error.map_or(0, reply_code)).to_vec(),
    }
}

/// The SOCKS 5 code for a channel the server refused.
fn reply_code(e: &nacre::Error) -> u8 {
    match e {
        nacre::Error::OpenFailed {
            reason,
            description,
        } => {
            if *reason == ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED {
                NOT_ALLOWED
            } else if description.to_ascii_lowercase().contains("refused") {
                REFUSED
            } else if *reason == ChannelOpenFailureReason::CONNECT_FAILED {
                HOST_UNREACHABLE
            } else {
                GENERAL_FAILURE
            }
        }
        _ => GENERAL_FAILURE,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn bind_specs_as_ssh() {
        assert_eq!(bind_spec("1080").unwrap(), ("127.0.0.1".into(), 1080));
        assert_eq!(
            bind_spec("localhost:1080").unwrap(),
            ("127.0.0.1".into(), 1080)
        );
        assert_eq!(bind_spec("*:1080").unwrap(), ("0.0.0.0".into(), 1080));
        assert_eq!(bind_spec(":1080").unwrap(), ("0.0.0.0".into(), 1080));
        assert_eq!(bind_spec("[::1]:1080").unwrap(), ("::1".into(), 1080));
        assert_eq!(
            bind_spec("10.0.0.1:1080").unwrap(),
            ("10.0.0.1".into(), 1080)
        );
        let e = bind_spec("x").unwrap_err();
        assert_eq!(e.to_string(), "Bad dynamic forwarding specification 'x'");
    }

    #[test]
    fn answers() {
        assert_eq!(answer(Version::Four, None), [0, 0x5a, 0, 0, 0, 0, 0, 0]);
        assert_eq!(answer(Version::Five, None), [5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        let refused = nacre::Error::OpenFailed {
            reason: ChannelOpenFailureReason::CONNECT_FAILED,
            description: "Connection refused".into(),
        };
        assert_eq!(answer(Version::Five, Some(&refused))[1], REFUSED);
        let denied = nacre::Error::OpenFailed {
            reason: ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED,
            description: "no".into(),
        };
        assert_eq!(answer(Version::Five, Some(&denied))[1], NOT_ALLOWED);
        assert_eq!(answer(Version::Four, Some(&denied))[1], 0x5b);
    }
}
