//! In-process gRPC servers for tests: [`TestServer`] listens on port 0
//! over TCP (127.0.0.1, nodelay), IPv6 (`[::1]`) or a unix socket, in
//! plaintext, TLS or mTLS (terminated here with tokio-rustls, so TLS works
//! over unix sockets too), serving tonic-health, [`SpecHealth`] or no
//! health service at all. It records every request's metadata so a test
//! can assert what arrived, and counts how client connections ended
//! (with an HTTP/2 GOAWAY, or abruptly). It stops when dropped.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use rustls::ServerConfig;
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tonic::codec::CompressionEncoding;
use tonic::service::RoutesBuilder;
use tonic::transport::server::Connected;

use crate::health::SpecHealth;
use crate::tls::TestPki;

/// Where a test server listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `127.0.0.1:0`, with TCP_NODELAY.
    #[default]
    Tcp,
    /// `[::1]:0`, with TCP_NODELAY.
    Ipv6,
    /// A unix socket `s.sock` in a fresh temp directory.
    Unix,
}

/// Which health service a test server runs.
#[derive(Debug, Clone, Default)]
pub enum HealthKind {
    /// tonic-health: Check and Watch, NOT_FOUND for unknown services.
    Tonic,
    /// [`SpecHealth`] (this clone; keep another to change statuses).
    Spec(SpecHealth),
    /// A fresh [`SpecHealth`].
    #[default]
    SpecDefault,
    /// None: health RPCs answer UNIMPLEMENTED.
    None,
}

/// Any accepted byte stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// What arrived with one request.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `/package.Service/Method`.
    pub path: String,
    /// The `:authority`.
    pub authority: Option<String>,
    /// Every header, as received.
    pub headers: http::HeaderMap,
}

impl RecordedRequest {
    /// A header's value as text (`None` when absent or not UTF-8).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// All values of a header, as raw bytes.
    pub fn header_all(&self, name: &str) -> Vec<Vec<u8>> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect()
    }

    /// The `user-agent` the server saw.
    pub fn user_agent(&self) -> Option<&str> {
        self.header("user-agent")
    }

    /// `grpc-encoding`: how the request message was compressed.
    pub fn grpc_encoding(&self) -> Option<&str> {
        self.header("grpc-encoding")
    }

    /// `grpc-accept-encoding`: what the client can decompress.
    pub fn grpc_accept_encoding(&self) -> Option<&str> {
        self.header("grpc-accept-encoding")
    }

    /// `grpc-timeout`: the deadline the client sent.
    pub fn grpc_timeout(&self) -> Option<&str> {
        self.header("grpc-timeout")
    }
}

/// How client connections to a [`TestServer`] have ended so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloseCounts {
    /// The client sent an HTTP/2 GOAWAY before closing.
    pub graceful: usize,
    /// The client closed (or vanished) without a GOAWAY.
    pub abrupt: usize,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicUsize,
    graceful: AtomicUsize,
    abrupt: AtomicUsize,
}

/// A caller's hook that adds its own services.
type AddRoutes = Box<dyn FnOnce(&mut RoutesBuilder) + Send>;

/// Builds a [`TestServer`]; every option has a default (TCP, plaintext,
/// SpecHealth).
#[must_use]
#[derive(Default)]
pub struct TestServerBuilder {
    transport: Transport,
    tls: Option<Arc<ServerConfig>>,
    health: HealthKind,
    routes: Vec<AddRoutes>,
}

impl std::fmt::Debug for TestServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServerBuilder")
            .field("transport", &self.transport)
            .field("tls", &self.tls.is_some())
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

impl TestServerBuilder {
    /// Where to listen.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Serve TLS with the PKI's server certificate.
    pub fn tls(self, pki: &TestPki) -> Self {
        self.tls_config(pki.server_config())
    }

    /// Serve mTLS: client certificates from the PKI's CA are required.
    pub fn mtls(self, pki: &TestPki) -> Self {
        self.tls_config(pki.mtls_server_config())
    }

    /// Serve TLS with any rustls config (e.g. TLS 1.2 only).
    pub fn tls_config(mut self, config: Arc<ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Which health service to run.
    pub fn health(mut self, health: HealthKind) -> Self {
        self.health = health;
        self
    }

    /// Adds services of your own (Channelz, ...) next to health.
    pub fn routes(mut self, add: impl FnOnce(&mut RoutesBuilder) + Send + 'static) -> Self {
        self.routes.push(Box::new(add));
        self
    }

    /// Starts the server; panics if it cannot listen (a test cannot go on).
    pub async fn start(self) -> TestServer {
        let transport = self.transport;
        self.try_start()
            .await
            .unwrap_or_else(|e| panic!("cannot start a {transport:?} test server: {e}"))
    }

    /// Starts the server, or says why it could not listen.
    pub async fn try_start(self) -> io::Result<TestServer> {
        let (listener, addr, dir) = Listener::bind(self.transport).await?;
        let requests: Arc<Mutex<Vec<RecordedRequest>>> = Arc::default();
        let counters: Arc<Counters> = Arc::default();

        let mut routes = RoutesBuilder::default();
        let mut spec = None;
        let mut tonic_reporter = None;
        match self.health {
            HealthKind::Tonic => {
                let (reporter, service) = tonic_health::server::health_reporter();
                routes.add_service(
                    service
                        .accept_compressed(CompressionEncoding::Gzip)
                        .send_compressed(CompressionEncoding::Gzip),
                );
                tonic_reporter = Some(reporter);
            }
            HealthKind::Spec(health) => {
                routes.add_service(gzip_spec(&health));
                spec = Some(health);
            }
            HealthKind::SpecDefault => {
                let health = SpecHealth::new();
                routes.add_service(gzip_spec(&health));
                spec = Some(health);
            }
            HealthKind::None => {}
        }
        for add in self.routes {
            add(&mut routes);
        }

        let (incoming_tx, incoming_rx) = mpsc::channel::<io::Result<Accepted>>(16);
        let accept_task = tokio::spawn(accept_loop(
            listener,
            self.tls.map(TlsAcceptor::from),
            incoming_tx,
            counters.clone(),
        ));
        let record = requests.clone();
        let layer =
            tower::util::MapRequestLayer::new(move |req: http::Request<tonic::body::Body>| {
                let recorded = RecordedRequest {
                    path: req.uri().path().to_owned(),
                    authority: req.uri().authority().map(|a| a.to_string()),
                    headers: req.headers().clone(),
                };
                record
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(recorded);
                req
            });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let serve_task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::ReceiverStream::new(incoming_rx);
            let result = tonic::transport::Server::builder()
                .layer(layer)
                .add_routes(routes.routes())
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = result {
                eprintln!("test server stopped with an error: {e}");
            }
        });
        Ok(TestServer {
            addr,
            requests,
            counters,
            spec,
            tonic_reporter,
            stop: Some(stop_tx),
            tasks: vec![accept_task, serve_task],
            _dir: dir,
        })
    }
}

fn gzip_spec(
    health: &SpecHealth,
) -> grpc_toolkit_proto::health::v1::health_server::HealthServer<SpecHealth> {
    health
        .server()
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

/// A running in-process gRPC server; stops when dropped.
pub struct TestServer {
    addr: String,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    counters: Arc<Counters>,
    spec: Option<SpecHealth>,
    tonic_reporter: Option<tonic_health::server::HealthReporter>,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    _dir: Option<TempDir>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// A builder with the defaults (TCP, plaintext, SpecHealth).
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// Starts a server with the defaults but listening on `transport`.
    pub async fn start_on(transport: Transport) -> TestServer {
        Self::builder().transport(transport).start().await
    }

    /// Starts a server with the defaults but running `health`.
    pub async fn start_with_health(health: HealthKind) -> TestServer {
        Self::builder().health(health).start().await
    }

    /// Starts a server with the defaults and returns it with its
    /// [`SpecHealth`], through which the test changes statuses (or makes
    /// the handlers hang) while it runs.
    pub async fn start_with_spec_health() -> (TestServer, SpecHealth) {
        let health = SpecHealth::new();
        let server = Self::start_with_health(HealthKind::Spec(health.clone())).await;
        (server, health)
    }

    /// The string to pass as `-addr`: `127.0.0.1:PORT`, `[::1]:PORT` or
    /// `unix:///tmp/.../s.sock`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The TCP port it listens on; panics for a unix socket server.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("{} has no TCP port", self.addr))
    }

    /// The SpecHealth service, to change statuses while running.
    pub fn spec_health(&self) -> Option<&SpecHealth> {
        self.spec.as_ref()
    }

    /// The tonic-health reporter, when the server runs tonic-health.
    pub fn tonic_health(&self) -> Option<&tonic_health::server::HealthReporter> {
        self.tonic_reporter.as_ref()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.requests().pop()
    }

    /// Connections accepted so far (after TLS, if any).
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// How the connections that have ended so far ended.
    pub fn closes(&self) -> CloseCounts {
        CloseCounts {
            graceful: self.counters.graceful.load(Ordering::SeqCst),
            abrupt: self.counters.abrupt.load(Ordering::SeqCst),
        }
    }

    /// Waits (up to `limit`) until `n` connections have ended, and returns
    /// how they ended.
    pub async fn wait_for_closes(&self, n: usize, limit: std::time::Duration) -> CloseCounts {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let counts = self.closes();
            if counts.graceful + counts.abrupt >= n || tokio::time::Instant::now() >= deadline {
                return counts;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A bound TCP or unix listener.
pub(crate) enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

impl Listener {
    /// Binds on port 0 (or a fresh socket path) and returns the `-addr`
    /// string; the temp dir holds the unix socket.
    pub(crate) async fn bind(
        transport: Transport,
    ) -> io::Result<(Listener, String, Option<TempDir>)> {
        match transport {
            Transport::Tcp | Transport::Ipv6 => {
                let ip = if transport == Transport::Tcp {
                    "127.0.0.1"
                } else {
                    "::1"
                };
                let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
                let addr = listener.local_addr()?.to_string();
                Ok((Listener::Tcp(listener), addr, None))
            }
            Transport::Unix => {
                let dir = tempfile::Builder::new()
                    .prefix("grpc-toolkit-uds")
                    .tempdir()?;
                let path: PathBuf = dir.path().join("s.sock");
                let listener = tokio::net::UnixListener::bind(&path)?;
                Ok((
                    Listener::Unix(listener),
                    format!("unix://{}", path.display()),
                    Some(dir),
                ))
            }
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Box<dyn Io>> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            Listener::Unix(listener) => {
                let (stream, _) = listener.accept().await?;
                Ok(Box::new(stream))
            }
        }
    }
}

async fn accept_loop(
    listener: Listener,
    tls: Option<TlsAcceptor>,
    incoming: mpsc::Sender<io::Result<Accepted>>,
    counters: Arc<Counters>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            // EMFILE and friends: keep serving the connections we have.
            Err(_) => continue,
        };
        let tls = tls.clone();
        let incoming = incoming.clone();
        let counters = counters.clone();
        // A handshake per task, so one slow or failing client cannot hold
        // up the others; a failed handshake just drops the stream.
        tokio::spawn(async move {
            let io: Box<dyn Io> = match tls {
                None => stream,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls_stream) => Box::new(tls_stream),
                    Err(_) => return,
                },
            };
            counters.accepted.fetch_add(1, Ordering::SeqCst);
            let _ = incoming.send(Ok(Accepted::new(io, counters))).await;
        });
    }
}

/// A served connection that watches the client's HTTP/2 frames to tell a
/// graceful close (GOAWAY first) from an abrupt one.
struct Accepted {
    io: Box<dyn Io>,
    frames: FrameScanner,
    counters: Arc<Counters>,
}

impl Accepted {
    fn new(io: Box<dyn Io>, counters: Arc<Counters>) -> Self {
        Self {
            io,
            frames: FrameScanner::new(),
            counters,
        }
    }
}

impl Drop for Accepted {
    fn drop(&mut self) {
        let counter = if self.frames.saw_goaway {
            &self.counters.graceful
        } else {
            &self.counters.abrupt
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

impl Connected for Accepted {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.frames.scan(&buf.filled()[before..]);
        }
        result
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Follows frame boundaries in the client's byte stream (after the
/// 24-byte preface) and notes whether a GOAWAY frame went by.
struct FrameScanner {
    skip: usize,
    head: [u8; 9],
    head_len: usize,
    saw_goaway: bool,
}

const PREFACE_LEN: usize = 24;
const GOAWAY: u8 = 7;

impl FrameScanner {
    fn new() -> Self {
        Self {
            skip: PREFACE_LEN,
            head: [0; 9],
            head_len: 0,
            saw_goaway: false,
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.head_len).min(bytes.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
            self.head_len += n;
            bytes = &bytes[n..];
            if self.head_len == 9 {
                if self.head[3] == GOAWAY {
                    self.saw_goaway = true;
                }
                self.skip =
                    u32::from_be_bytes([0, self.head[0], self.head[1], self.head[2]]) as usize;
                self.head_len = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_goaway_across_split_reads() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend_from_slice(&[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]);
        bytes.extend_from_slice(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut scanner = FrameScanner::new();
        for chunk in bytes[..bytes.len() - 9].chunks(5) {
            scanner.scan(chunk);
        }
        assert!(!scanner.saw_goaway, "the SETTINGS payload is not a GOAWAY");
        let mut whole = FrameScanner::new();
        for chunk in bytes.chunks(7) {
            whole.scan(chunk);
        }
        assert!(whole.saw_goaway);
    }
}
