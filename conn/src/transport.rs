//! Our own connector: TCP (nodelay) or unix socket, then optional TLS over
//! either, wrapped in [`Watched`], which reads the first inbound HTTP/2
//! frame header and reports whether it was the server's SETTINGS. hyper's
//! handshake only writes our preface, so this is how `connect` learns that
//! the server really speaks HTTP/2 (grpc-go's READY).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::error::io::{classify_read_error, dial_error, dns_detail, io_error, judge_first_frame};
use crate::error::tls::classify_tls_error;
use crate::error::{ConnectError, ConnectStage};
use crate::options::ConnectOptions;
use crate::target::Target;
use crate::tls;
use crate::tls::ClientAuthSeen;

/// Any byte stream we can run HTTP/2 over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens streams to one target, for the first connect and any reconnect.
pub(crate) struct Dialer {
    target: Target,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    sessions: Arc<dyn rustls::client::ClientSessionStore>,
    connect_timeout: std::time::Duration,
}

/// A stream ready for HTTP/2, and, under TLS, what its handshake showed
/// about client authentication (see [`blame_client_auth`]).
pub(crate) struct Dialed {
    pub(crate) io: Box<dyn Io>,
    pub(crate) client_auth: Option<Arc<ClientAuthSeen>>,
    /// Phase timings and TLS facts, for [`crate::Connection::handshake`].
    #[cfg(feature = "handshake")]
    pub(crate) handshake: crate::handshake::Handshake,
}

impl Dialer {
    /// Reads the TLS files by `deadline` (the connect deadline).
    pub(crate) fn new(
        options: &ConnectOptions,
        deadline: std::time::Instant,
    ) -> Result<Self, ConnectError> {
        let tls = match &options.tls {
            None => None,
            Some(tls_options) => {
                let (config, _) = tls::client_config(tls_options, deadline)?;
                let name = tls::server_name(tls_options, &options.authority)?;
                Some((Arc::new(config), name))
            }
        };
        Ok(Self {
            target: options.target.clone(),
            tls,
            sessions: tls::session_cache(),
            connect_timeout: options.connect_timeout,
        })
    }

    /// Dials and completes TLS, all before `deadline`.
    pub(crate) async fn dial(&self, deadline: Instant) -> Result<Dialed, ConnectError> {
        let timeout = |stage| ConnectError::Timeout {
            after: self.connect_timeout,
            stage,
        };
        #[cfg(feature = "handshake")]
        let dial_started = std::time::Instant::now();
        let stream = timeout_at(deadline, self.open())
            .await
            .map_err(|_| timeout(ConnectStage::Dial))??;
        #[cfg(feature = "handshake")]
        let mut handshake = crate::handshake::Handshake {
            dial: dial_started.elapsed(),
            tls: None,
        };
        let Some((config, name)) = &self.tls else {
            return Ok(Dialed {
                io: stream,
                client_auth: None,
                #[cfg(feature = "handshake")]
                handshake,
            });
        };
        #[cfg(feature = "handshake")]
        let tls_started = std::time::Instant::now();
        // A config per connection, so each records its own client auth.
        let (config, seen) = tls::recording_client_auth(config, &self.sessions);
        let connector = TlsConnector::from(Arc::new(config));
        let tls_stream = timeout_at(deadline, connector.connect(name.clone(), stream))
            .await
            .map_err(|_| timeout(ConnectStage::TlsHandshake))?
            .map_err(|e| match classify_tls_error(&e, name) {
                // A reset or close during the handshake stays what it is:
                // under TLS 1.2 it may as well be a server that accepted us
                // and went away before we read its Finished.
                ConnectError::TlsClientCertRejected { alert, .. } => {
                    ConnectError::TlsClientCertRejected {
                        offered: seen.offered(),
                        alert,
                    }
                }
                other => other,
            })?;
        if tls_stream.get_ref().1.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2) {
            seen.accept();
        }
        // Only the exporter reports the TLS facts; the probe, whose size is a
        // feature, does not pay for collecting them (see the `handshake`
        // feature in conn/Cargo.toml).
        #[cfg(feature = "handshake")]
        {
            handshake.tls = Some(crate::handshake::TlsHandshake::from_connection(
                tls_stream.get_ref().1,
                tls_started.elapsed(),
            ));
        }
        Ok(Dialed {
            io: Box::new(tls_stream),
            client_auth: Some(seen),
            #[cfg(feature = "handshake")]
            handshake,
        })
    }

    async fn open(&self) -> Result<Box<dyn Io>, ConnectError> {
        match &self.target {
            Target::Tcp { host, port } => {
                let zoned = zoned_v6(host, *port).map_err(|detail| ConnectError::Dns {
                    host: host.clone(),
                    detail,
                })?;
                let addrs = match zoned.or_else(|| loopback(host, *port)) {
                    Some(addrs) => addrs,
                    None => tokio::net::lookup_host((host.as_str(), *port))
                        .await
                        .map_err(|e| ConnectError::Dns {
                            host: host.clone(),
                            detail: dns_detail(&e),
                        })?
                        .collect(),
                };
                let mut first: Option<ConnectError> = None;
                // In resolver order, like grpc-go's pick_first: `localhost`
                // may resolve to ::1 first while the server listens on
                // 127.0.0.1 only. When all fail, the first (preferred)
                // address's reason is the one reported.
                for addr in addrs {
                    match tokio::net::TcpStream::connect(addr).await {
                        Ok(stream) => {
                            // Small gRPC frames must not wait for Nagle.
                            stream.set_nodelay(true).map_err(|e| io_error(&e))?;
                            #[cfg(feature = "lean-writes")]
                            return Ok(Box::new(CloseOnly {
                                stream,
                                // See `ack_quickly`: under TLS the handshake's
                                // round trips would pay for more ACKs than
                                // the stall it avoids, which TLS did not show.
                                quick_ack: self.tls.is_none(),
                            }));
                            #[cfg(not(feature = "lean-writes"))]
                            return Ok(Box::new(stream));
                        }
                        Err(e) => {
                            first.get_or_insert_with(|| dial_error(&e, &addr.to_string()));
                        }
                    }
                }
                Err(first.unwrap_or_else(|| ConnectError::Dns {
                    host: host.clone(),
                    detail: "no addresses found".to_owned(),
                }))
            }
            #[cfg(unix)]
            Target::Unix { path } => match tokio::net::UnixStream::connect(path).await {
                Ok(stream) => Ok(Box::new(stream)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    Err(ConnectError::NoSuchSocket { path: path.clone() })
                }
                Err(e) => Err(dial_error(&e, &path.display().to_string())),
            },
            // `ConnArgs` refuses a `unix:` target on Windows as a usage
            // error before anything dials; this arm is only reached by a
            // `Target` built in code, and still fails as one line.
            #[cfg(not(unix))]
            Target::Unix { path } => Err(dial_error(
                &io::Error::new(
                    io::ErrorKind::Unsupported,
                    "unix sockets are not supported on this platform",
                ),
                &path.display().to_string(),
            )),
        }
    }
}

/// A TCP stream whose `poll_shutdown` does nothing: the stream is dropped
/// (closed) right after, and `close` sends the same FIN that
/// `shutdown(SHUT_WR)` would, one syscall later. What goes above it
/// (TLS's close_notify, h2's GOAWAY) is still written and flushed first.
///
/// Public (with the feature) for the exporter's own HTTP listener, whose
/// answers end the same way.
#[cfg(feature = "lean-writes")]
#[derive(Debug)]
pub struct CloseOnly {
    stream: tokio::net::TcpStream,
    /// `TCP_QUICKACK` after each write: see [`CloseOnly::ack_quickly`].
    quick_ack: bool,
}

#[cfg(feature = "lean-writes")]
impl CloseOnly {
    /// `stream`, closed without a shutdown, its ACKs left to the kernel.
    pub fn new(stream: tokio::net::TcpStream) -> Self {
        Self {
            stream,
            quick_ack: false,
        }
    }

    /// After each write of ours, ACK the peer's next segments at once
    /// (`TCP_QUICKACK`, which the kernel clears again by itself). A server
    /// with Nagle on (a tonic server fed by `serve_with_incoming`, which
    /// ignores `tcp_nodelay`, as the bench's target is) answers a request
    /// that came whole in one write with two small segments, its SETTINGS
    /// ACK then the response, and holds the second until the first is
    /// ACKed: our delayed ACK (40 ms on Linux) then stalled most probes.
    /// grpc-go, grpcio and grpc-js servers (nodelay on) showed no stall
    /// either way. The syscall costs less than the timer and wakeups a
    /// delayed ACK takes.
    fn ack_quickly(&self, written: &Poll<io::Result<usize>>) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let (true, Poll::Ready(Ok(1..))) = (self.quick_ack, written) {
            let _ = self.stream.set_quickack(true);
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = written;
    }
}

#[cfg(feature = "lean-writes")]
impl AsyncRead for CloseOnly {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

#[cfg(feature = "lean-writes")]
impl AsyncWrite for CloseOnly {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.ack_quickly(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.ack_quickly(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// `localhost` and `*.localhost` are the loopback addresses, without
/// asking the resolver (RFC 6761 §6.3 says resolvers should answer so; curl
/// does the same). Most exec probes target `:port` or `localhost:port`, and
/// the system resolver would cost a thread, several file reads and ~0.15 ms
/// per check. IPv4 first: servers that listen on `0.0.0.0` or dual-stack
/// `[::]` take it, and one bound to `::1` only is reached a refused connect
/// (microseconds on loopback) later.
fn loopback(host: &str, port: u16) -> Option<Vec<std::net::SocketAddr>> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let is_localhost = host.eq_ignore_ascii_case("localhost")
        || host
            .len()
            .checked_sub(".localhost".len())
            .and_then(|at| host.get(at..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"));
    is_localhost.then(|| {
        vec![
            (std::net::Ipv4Addr::LOCALHOST, port).into(),
            (std::net::Ipv6Addr::LOCALHOST, port).into(),
        ]
    })
}

/// `fe80::1%eth0` → that address with the interface's index as its scope
/// id (a number is taken as the index itself); `None` for a host with no
/// zone. The system resolver does not take zones on every address.
fn zoned_v6(host: &str, port: u16) -> Result<Option<Vec<std::net::SocketAddr>>, String> {
    let Some((ip, zone)) = host.split_once('%') else {
        return Ok(None);
    };
    let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| "not an IPv6 address".to_owned())?;
    let scope = match zone.parse::<u32>() {
        Ok(index) => index,
        // Linux names its interfaces here; no libc call needed.
        Err(_) => std::fs::read_to_string(format!("/sys/class/net/{zone}/ifindex"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| format!("no network interface \"{zone}\""))?,
    };
    Ok(Some(vec![
        std::net::SocketAddrV6::new(ip, port, 0, scope).into(),
    ]))
}

/// Watches the first 9 inbound bytes (an HTTP/2 frame header) and reports
/// whether they are a SETTINGS frame; reports when the stream is dropped
/// (the HTTP/2 connection task has finished, after its GOAWAY).
pub(crate) struct Watched {
    io: Box<dyn Io>,
    first: Option<FirstFrame>,
    on_drop: Option<oneshot::Sender<()>>,
    #[cfg(feature = "lean-writes")]
    behind: WriteBehind,
}

/// Write-behind for the HTTP/2 connection. h2 flushes after every round
/// of frames, and a probe's request comes in rounds: the preface and
/// SETTINGS, then HEADERS once the RPC reaches the connection task through
/// tonic's buffer, then DATA once hyper's body pipe (a task of its own) is
/// given flow-control capacity. Each flush would be a syscall (under TLS
/// also a record; on loopback the write also pays for the receiver's
/// softirq): four writes before the server hears the request. Here writes
/// go to a buffer and a flush first yields to the scheduler, so that what
/// the tasks running in between queue goes out in the same write: one
/// turn per flush, and the first flush (nothing sent yet) waits up to
/// [`FIRST_TURNS`] for a request's HEADERS, then one turn for its DATA.
/// The whole request then leaves in one write with the preface.
#[cfg(feature = "lean-writes")]
struct WriteBehind {
    buf: Vec<u8>,
    /// `buf[sent..]` is still to go.
    sent: usize,
    /// Turns the current flush has yielded.
    yielded: u8,
    /// Nothing has been written yet.
    first: bool,
    /// The first flush has seen a request's HEADERS in the buffer.
    seen_headers: bool,
}

/// How many turns the first flush waits for a request: the exporter's
/// Check reaches the buffer in two. A connection that sends no request
/// before the server's SETTINGS (Channelz's `connect`) sends its preface
/// after these few turns, still without waiting for anything outside.
#[cfg(feature = "lean-writes")]
const FIRST_TURNS: u8 = 4;

/// Beyond this, bytes are written through rather than buffered: a large
/// DATA frame gains nothing from a copy.
#[cfg(feature = "lean-writes")]
const WRITE_BEHIND_LIMIT: usize = 16 * 1024;

#[cfg(feature = "lean-writes")]
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `buf` (our own bytes: the preface, then whole frames as h2
/// encodes them) holds a HEADERS frame.
#[cfg(feature = "lean-writes")]
fn has_headers(buf: &[u8]) -> bool {
    let mut at = if buf.starts_with(PREFACE) {
        PREFACE.len()
    } else {
        0
    };
    while let Some(head) = buf.get(at..at + 9) {
        if head[3] == 1 {
            return true;
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        at += 9 + len;
    }
    false
}

struct FirstFrame {
    head: [u8; 9],
    len: usize,
    tx: oneshot::Sender<Result<(), ConnectError>>,
}

impl Watched {
    pub(crate) fn new(
        io: Box<dyn Io>,
        settings: Option<oneshot::Sender<Result<(), ConnectError>>>,
        on_drop: Option<oneshot::Sender<()>>,
    ) -> Self {
        Self {
            io,
            first: settings.map(|tx| FirstFrame {
                head: [0; 9],
                len: 0,
                tx,
            }),
            on_drop,
            #[cfg(feature = "lean-writes")]
            behind: WriteBehind {
                buf: Vec::new(),
                sent: 0,
                yielded: 0,
                first: true,
                seen_headers: false,
            },
        }
    }

    fn report(&mut self, result: Result<(), ConnectError>) {
        if let Some(first) = self.first.take() {
            // The receiver is gone only if connect() already gave up.
            let _ = first.tx.send(result);
        }
    }

    fn inspect(&mut self, fresh: &[u8]) {
        let Some(first) = self.first.as_mut() else {
            return;
        };
        let take = fresh.len().min(9 - first.len);
        first.head[first.len..first.len + take].copy_from_slice(&fresh[..take]);
        first.len += take;
        if first.len == 9 {
            let verdict = judge_first_frame(&first.head);
            self.report(verdict);
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(tx) = self.on_drop.take() {
            let _ = tx.send(());
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.first.is_some() {
            match &result {
                Poll::Ready(Ok(())) => {
                    let fresh = &buf.filled()[before..];
                    if fresh.is_empty() {
                        let seen = this.first.as_ref().map_or(0, |f| f.len);
                        let verdict = if seen == 0 {
                            ConnectError::Closed {
                                stage_text: "before sending HTTP/2 SETTINGS",
                            }
                        } else {
                            let head = this
                                .first
                                .as_ref()
                                .map(|f| f.head[..f.len].escape_ascii().to_string());
                            ConnectError::NotHttp2 {
                                detail: format!(
                                    "it sent {seen} bytes (\"{}\") and closed the connection",
                                    head.unwrap_or_default()
                                ),
                            }
                        };
                        this.report(Err(verdict));
                    } else {
                        this.inspect(fresh);
                    }
                }
                Poll::Ready(Err(e)) => {
                    let verdict = classify_read_error(e);
                    this.report(Err(verdict));
                }
                Poll::Pending => {}
            }
        }
        result
    }
}

impl Watched {
    /// A write error before the verdict is the verdict: a reset often
    /// shows first as a failed write of our preface.
    fn watch_write<T>(&mut self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let (Poll::Ready(Err(e)), true) = (&result, self.first.is_some()) {
            let verdict = classify_read_error(e);
            self.report(Err(verdict));
        }
        result
    }
}

#[cfg(feature = "lean-writes")]
impl Watched {
    /// Writes out the buffer; `Ready(Ok(()))` once it is empty.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let behind = &mut self.behind;
        while behind.sent < behind.buf.len() {
            match Pin::new(&mut self.io).poll_write(cx, &behind.buf[behind.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => behind.sent += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        behind.buf.clear();
        behind.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Buffers `bufs` whole, or, past the limit, drains the buffer and
    /// writes them through. Never takes part of `bufs` into the buffer, so
    /// a `Ready(Ok(n))` always means `n` bytes are on their way.
    fn write_behind(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if self.behind.buf.len() - self.behind.sent + total > WRITE_BEHIND_LIMIT {
            std::task::ready!(self.drain(cx))?;
            if total > WRITE_BEHIND_LIMIT {
                return Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
            }
        }
        for b in bufs {
            self.behind.buf.extend_from_slice(b);
        }
        Poll::Ready(Ok(total))
    }

    /// Yields one scheduler turn (waking itself), then drains the buffer.
    fn flush_behind(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let b = &mut self.behind;
        if b.first && !b.seen_headers && has_headers(&b.buf) {
            // One turn more from here, for the request's DATA.
            b.seen_headers = true;
            b.yielded = 0;
        }
        let turns = if b.first && !b.seen_headers {
            FIRST_TURNS
        } else {
            1
        };
        if b.sent < b.buf.len() && b.yielded < turns {
            b.yielded += 1;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        std::task::ready!(self.drain(cx))?;
        self.behind.yielded = 0;
        self.behind.first = false;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        #[cfg(feature = "lean-writes")]
        let result = this.write_behind(cx, &[io::IoSlice::new(buf)]);
        #[cfg(not(feature = "lean-writes"))]
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch_write(result)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        #[cfg(feature = "lean-writes")]
        {
            let result = this.flush_behind(cx);
            std::task::ready!(this.watch_write(result))?;
        }
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.watch_write(result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        #[cfg(feature = "lean-writes")]
        let this = {
            let mut this = self;
            std::task::ready!(this.as_mut().poll_flush(cx))?;
            this.get_mut()
        };
        #[cfg(not(feature = "lean-writes"))]
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.watch_write(result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        #[cfg(feature = "lean-writes")]
        let result = this.write_behind(cx, bufs);
        #[cfg(not(feature = "lean-writes"))]
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.watch_write(result)
    }

    fn is_write_vectored(&self) -> bool {
        // The write-behind buffer takes slices as cheaply as one buffer.
        cfg!(feature = "lean-writes") || self.io.is_write_vectored()
    }
}

/// The tower service tonic calls for a stream: hands over the stream that
/// `connect` already opened and is watching, then dials afresh for any
/// reconnect tonic makes later.
pub(crate) struct Connector {
    pub(crate) first: Option<Watched>,
    pub(crate) dialer: Arc<Dialer>,
}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<Watched>, ConnectError>> + Send + 'static>>;

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Watched>;
    type Error = ConnectError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        if let Some(first) = self.first.take() {
            return Box::pin(async move { Ok(TokioIo::new(first)) });
        }
        let dialer = self.dialer.clone();
        Box::pin(async move {
            let deadline = Instant::now() + dialer.connect_timeout;
            let dialed = dialer.dial(deadline).await?;
            Ok(TokioIo::new(Watched::new(dialed.io, None, None)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn localhost_names_are_loopback_without_the_resolver() {
        let both = |port| {
            Some(vec![
                std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
            ])
        };
        for name in [
            "localhost",
            "LocalHost",
            "localhost.",
            "app.localhost",
            "a.b.LOCALHOST",
        ] {
            assert_eq!(loopback(name, 8080), both(8080), "{name}");
        }
        for name in [
            "notlocalhost",
            "localhost.example",
            "localhostx",
            "127.0.0.1",
            "",
        ] {
            assert_eq!(loopback(name, 8080), None, "{name}");
        }
    }

    /// Feeds `bytes` one at a time (then EOF) through a watched stream and
    /// returns the verdict.
    async fn verdict_for(bytes: &[u8]) -> Result<(), ConnectError> {
        let (client, mut server) = tokio::io::duplex(64);
        let (tx, rx) = oneshot::channel();
        let mut watched = Watched::new(Box::new(client), Some(tx), None);
        let bytes = bytes.to_vec();
        let writer = tokio::spawn(async move {
            for byte in bytes {
                server.write_all(&[byte]).await.expect("write");
                tokio::task::yield_now().await;
            }
        });
        let mut sink = [0u8; 64];
        // The watcher gives its verdict on the 9th byte or at EOF.
        while watched.first.is_some() {
            let _bytes_seen_by_the_watcher = watched.read(&mut sink).await.expect("read");
        }
        writer.abort();
        rx.await.expect("a verdict")
    }

    /// A stream that records each write it is given (taking at most
    /// `max` bytes of it) and never has anything to read.
    #[cfg(feature = "lean-writes")]
    struct Recorder {
        writes: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
        max: usize,
    }

    #[cfg(feature = "lean-writes")]
    impl AsyncRead for Recorder {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            _buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Pending
        }
    }

    #[cfg(feature = "lean-writes")]
    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.max);
            self.writes.lock().expect("lock").push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A watched recorder taking `max` bytes a write, and its writes.
    #[cfg(feature = "lean-writes")]
    fn recorded(max: usize) -> (Watched, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
        let writes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let io = Recorder {
            writes: writes.clone(),
            max,
        };
        (Watched::new(Box::new(io), None, None), writes)
    }

    #[cfg(feature = "lean-writes")]
    #[tokio::test]
    async fn rounds_of_frames_go_out_in_one_write_at_flush() {
        let (mut watched, writes) = recorded(usize::MAX);
        watched.write_all(PREFACE).await.expect("preface");
        watched.write_all(b"settings").await.expect("settings");
        let slices = [io::IoSlice::new(b"head"), io::IoSlice::new(b"ers")];
        assert_eq!(watched.write_vectored(&slices).await.expect("headers"), 7);
        assert!(writes.lock().expect("lock").is_empty(), "held until flush");
        watched.flush().await.expect("flush");
        assert_eq!(
            *writes.lock().expect("lock"),
            [[&PREFACE[..], b"settingsheaders"].concat()]
        );
        // A flush with nothing held writes nothing.
        watched.flush().await.expect("flush");
        assert_eq!(writes.lock().expect("lock").len(), 1);
    }

    /// Polls one flush of `watched` without a runtime to run other tasks.
    #[cfg(feature = "lean-writes")]
    fn poll_flush_once(watched: &mut Watched) -> Poll<io::Result<()>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(watched).poll_flush(&mut cx)
    }

    #[cfg(feature = "lean-writes")]
    const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
    #[cfg(feature = "lean-writes")]
    const HEADERS: [u8; 10] = [0, 0, 1, 1, 4, 0, 0, 0, 1, 0x82];
    #[cfg(feature = "lean-writes")]
    const DATA: [u8; 10] = [0, 0, 1, 0, 1, 0, 0, 0, 1, b'x'];

    #[cfg(feature = "lean-writes")]
    #[tokio::test]
    async fn the_first_flush_waits_for_the_request_and_its_data() {
        let (mut watched, writes) = recorded(usize::MAX);
        watched.write_all(PREFACE).await.expect("preface");
        watched.write_all(&SETTINGS).await.expect("settings");
        // No request yet: the preface waits (a bounded number of turns).
        assert!(poll_flush_once(&mut watched).is_pending());
        watched.write_all(&HEADERS).await.expect("headers");
        // HEADERS seen: one turn more, for the DATA the body pipe sends.
        assert!(poll_flush_once(&mut watched).is_pending());
        assert!(writes.lock().expect("lock").is_empty());
        watched.write_all(&DATA).await.expect("data");
        assert!(matches!(poll_flush_once(&mut watched), Poll::Ready(Ok(()))));
        let want = [&PREFACE[..], &SETTINGS, &HEADERS, &DATA].concat();
        assert_eq!(*writes.lock().expect("lock"), [want]);
        // Later flushes yield one turn each.
        watched.write_all(b"GOAWAY").await.expect("goaway");
        assert!(poll_flush_once(&mut watched).is_pending());
        assert!(matches!(poll_flush_once(&mut watched), Poll::Ready(Ok(()))));
        assert_eq!(writes.lock().expect("lock").len(), 2);
    }

    #[cfg(feature = "lean-writes")]
    #[tokio::test]
    async fn a_connection_with_no_request_still_sends_its_preface() {
        let (mut watched, writes) = recorded(usize::MAX);
        watched.write_all(PREFACE).await.expect("preface");
        watched.write_all(&SETTINGS).await.expect("settings");
        for _ in 0..FIRST_TURNS {
            assert!(poll_flush_once(&mut watched).is_pending());
        }
        assert!(matches!(poll_flush_once(&mut watched), Poll::Ready(Ok(()))));
        assert_eq!(
            *writes.lock().expect("lock"),
            [[&PREFACE[..], &SETTINGS].concat()]
        );
    }

    #[cfg(feature = "lean-writes")]
    #[tokio::test]
    async fn partial_writes_and_large_writes_keep_the_bytes_in_order() {
        // 5 bytes a write: the buffer goes out in pieces.
        let (mut watched, writes) = recorded(5);
        watched.write_all(PREFACE).await.expect("preface");
        watched.write_all(b"0123456789abcdef").await.expect("body");
        // Past the limit, the buffer is drained and the bytes written through.
        let large = vec![7u8; WRITE_BEHIND_LIMIT + 1];
        watched.write_all(&large).await.expect("large");
        watched.write_all(b"tail").await.expect("tail");
        watched
            .shutdown()
            .await
            .expect("shutdown sends what is held");
        let want = [&PREFACE[..], b"0123456789abcdef", &large, b"tail"].concat();
        assert_eq!(writes.lock().expect("lock").concat(), want);
        assert!(writes.lock().expect("lock").iter().all(|w| w.len() <= 5));
    }

    #[cfg(feature = "lean-writes")]
    #[tokio::test]
    async fn a_failed_write_is_the_verdict_before_settings() {
        let (client, peer) = tokio::io::duplex(64);
        drop(peer);
        let (tx, rx) = oneshot::channel();
        let mut watched = Watched::new(Box::new(client), Some(tx), None);
        watched.write_all(PREFACE).await.expect("held");
        assert!(watched.flush().await.is_err(), "the peer is gone");
        assert!(rx.await.expect("a verdict").is_err());
    }

    #[tokio::test]
    async fn settings_split_across_reads_is_connected() {
        let settings = [0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100];
        assert!(verdict_for(&settings).await.is_ok());
    }

    #[tokio::test]
    async fn anything_but_settings_first_is_named() {
        let cases: [(&[u8], &str); 5] = [
            (&[0, 0, 0, 4, 1, 0, 0, 0, 0], "SETTINGS (ACK) on stream 0"),
            (&[0, 0, 8, 7, 0, 0, 0, 0, 0], "GOAWAY on stream 0"),
            (b"HTTP/1.1 400 Bad Request\r\n", "HTTP/1 response"),
            (&[0x15, 0x03, 0x03, 0, 2, 2, 40, 0, 0], "answered with TLS"),
            (b"abc", "sent 3 bytes (\"abc\") and closed"),
        ];
        for (bytes, want) in cases {
            let err = verdict_for(bytes).await.expect_err(want);
            assert_eq!(err.code(), "NOT_HTTP2", "{err}");
            assert!(err.to_string().contains(want), "{err} lacks {want}");
        }
        let err = verdict_for(b"").await.expect_err("eof");
        assert_eq!(err.code(), "CLOSED", "{err}");
    }
}
