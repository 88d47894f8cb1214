//! Server side: a tower layer that counts calls, and an accept wrapper
//! that lists every connection (and the listener) as a Channelz socket.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tonic_channelz::{ChannelzService, Registry};
//! let registry = Registry::global();
//! let server = registry.register_server("api");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
//! tonic::transport::Server::builder()
//!     .layer(server.layer())
//!     .add_service(ChannelzService::new(registry.clone()).into_server())
//!     .serve_with_incoming(server.incoming(listener)?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The layer sits inside tonic's own per-connection stack, so it sees the
//! [`ChannelzConnectInfo`] our accept wrapper attaches to each connection
//! and updates that socket's stream and message counters too. Used with
//! tonic's own `serve(addr)` instead, the layer still counts calls, but no
//! sockets are listed. Calls that tonic rejects before the layer (its
//! `timeout` and load shedding) are not seen.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::io::MaybeTls;
use crate::observe::{
    CallOwner, CallTracker, ObservedBody, SocketSource, call_start, observe_response,
};
use crate::registry::{
    ServerHandle, ServerNode, Severity, SocketHandle, SocketKind, SocketSpec, TlsInfo,
};

/// How long a client may take to finish the TLS handshake before the
/// connection is dropped, so a silent peer cannot pin a task forever.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepted connections waiting for tonic to pick them up.
const ACCEPT_QUEUE: usize = 64;

impl ServerHandle {
    /// The tower layer to give to `Server::builder().layer(...)`.
    pub fn layer(&self) -> ChannelzLayer {
        ChannelzLayer {
            server: self.node().clone(),
        }
    }

    /// Accepts plaintext connections on `listener`, listing the listener
    /// and each connection under this server. Pass the result to tonic's
    /// `serve_with_incoming`.
    pub fn incoming(&self, listener: TcpListener) -> io::Result<ChannelzIncoming> {
        ChannelzIncoming::start(self, listener, None)
    }

    /// Like [`ServerHandle::incoming`], but terminates TLS here (rather
    /// than in tonic) so each socket's `security` shows the cipher suite
    /// and both certificates.
    pub fn incoming_tls(
        &self,
        listener: TcpListener,
        tls: ServerTls,
    ) -> io::Result<ChannelzIncoming> {
        ChannelzIncoming::start(self, listener, Some(tls))
    }
}

/// TLS for the accept wrapper.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    certificate: Vec<u8>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// `config` must advertise ALPN `h2` (tonic speaks only HTTP/2);
    /// `certificate` is the DER of the leaf certificate it presents, which
    /// rustls does not hand back after the handshake, reported as each
    /// socket's `local_certificate`.
    pub fn new(config: Arc<rustls::ServerConfig>, certificate: Vec<u8>) -> Self {
        Self {
            config,
            certificate,
        }
    }
}

/// The tower layer counting calls for one server.
#[derive(Debug, Clone)]
pub struct ChannelzLayer {
    server: Arc<ServerNode>,
}

impl<S> tower::Layer<S> for ChannelzLayer {
    type Service = CallCounting<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallCounting {
            inner,
            server: self.server.clone(),
        }
    }
}

/// The service [`ChannelzLayer`] wraps around tonic's routes: counts each call.
#[derive(Debug, Clone)]
pub struct CallCounting<S> {
    inner: S,
    server: Arc<ServerNode>,
}

impl<S, ResBody> tower::Service<Request<tonic::body::Body>> for CallCounting<S>
where
    S: tower::Service<Request<tonic::body::Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<tonic::body::Body>) -> Self::Future {
        let now = call_start();
        self.server.calls.start(now);
        let socket = match req.extensions().get::<ChannelzConnectInfo>() {
            Some(info) => {
                let tcp = info.tcp();
                let socket = info.socket.node().clone();
                // Keep `Request::remote_addr()` working for the application,
                // which looks for tonic's own connect info type.
                if req.extensions().get::<TcpConnectInfo>().is_none() {
                    req.extensions_mut().insert(tcp);
                }
                socket.metrics.stream_started(false, now);
                Some(socket)
            }
            None => None,
        };
        if let Some(socket) = &socket {
            let body = std::mem::replace(req.body_mut(), tonic::body::Body::empty());
            *req.body_mut() = tonic::body::Body::new(ObservedBody::new(
                body,
                Some(SocketSource::Fixed(socket.clone())),
                false,
                None,
            ));
        }
        let tracker = CallTracker::new(CallOwner::Server(self.server.clone()), socket);
        ResponseFuture {
            inner: self.inner.call(req),
            tracker: Some(tracker),
        }
    }
}

pin_project_lite::pin_project! {
    /// Resolves to the response with its body observed.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        tracker: Option<CallTracker>,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ObservedBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(res) => res,
        };
        let Some(tracker) = this.tracker.take() else {
            // Polled again after completion: a contract violation by the
            // caller; hand back what the inner future gave without counting.
            return Poll::Ready(res.map(|r| r.map(|b| ObservedBody::new(b, None, true, None))));
        };
        Poll::Ready(observe_response(res, tracker, true))
    }
}

/// The connect info our accept wrapper attaches to every request: the
/// connection's Channelz socket and its addresses.
#[derive(Debug, Clone)]
pub struct ChannelzConnectInfo {
    socket: SocketHandle,
}

impl ChannelzConnectInfo {
    /// Connect info for a connection registered by other means (e.g. your
    /// own accept loop over Unix sockets), so the layer counts its streams.
    pub fn new(socket: SocketHandle) -> Self {
        Self { socket }
    }

    /// The connection's Channelz socket id.
    pub fn socket_id(&self) -> i64 {
        self.socket.id()
    }

    /// This end's address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.node().local
    }

    /// The peer's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.socket.node().remote
    }

    fn tcp(&self) -> TcpConnectInfo {
        TcpConnectInfo {
            local_addr: self.local_addr(),
            remote_addr: self.remote_addr(),
        }
    }
}

/// One accepted connection, plaintext or TLS; listed as a Channelz socket
/// until it is dropped (tonic drops it when the connection closes).
#[derive(Debug)]
pub struct ChannelzStream {
    io: StreamIo,
    socket: SocketHandle,
}

type StreamIo = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

impl ChannelzStream {
    /// The connection's Channelz socket id.
    pub fn socket_id(&self) -> i64 {
        self.socket.id()
    }
}

impl Connected for ChannelzStream {
    type ConnectInfo = ChannelzConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ChannelzConnectInfo {
            socket: self.socket.clone(),
        }
    }
}

crate::io::forward_io!(ChannelzStream);

/// The stream of accepted connections for tonic's `serve_with_incoming`.
///
/// Accepting (and the TLS handshake) runs on a background task so one slow
/// handshake never delays other clients; dropping this stream (tonic does
/// so on shutdown) stops that task and closes the listener, which then
/// leaves the registry.
#[derive(Debug)]
pub struct ChannelzIncoming {
    rx: mpsc::Receiver<io::Result<ChannelzStream>>,
    local_addr: SocketAddr,
    listen_socket_id: i64,
    task: tokio::task::JoinHandle<()>,
}

impl ChannelzIncoming {
    fn start(
        server: &ServerHandle,
        listener: TcpListener,
        tls: Option<ServerTls>,
    ) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let listen = server.registry().register_server_socket(
            server,
            SocketSpec {
                kind: SocketKind::Listen,
                local: Some(local_addr),
                remote: None,
                remote_name: String::new(),
            },
        );
        let listen_socket_id = listen.id();
        let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
        let task = tokio::spawn(accept_loop(server.clone(), listen, listener, tls, tx));
        Ok(Self {
            rx,
            local_addr,
            listen_socket_id,
            task,
        })
    }

    /// The address the listener is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The listener's Channelz socket id.
    pub fn listen_socket_id(&self) -> i64 {
        self.listen_socket_id
    }
}

impl Drop for ChannelzIncoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl tokio_stream::Stream for ChannelzIncoming {
    type Item = io::Result<ChannelzStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

async fn accept_loop(
    server: ServerHandle,
    _listen: SocketHandle,
    listener: TcpListener,
    tls: Option<ServerTls>,
    tx: mpsc::Sender<io::Result<ChannelzStream>>,
) {
    let acceptor = tls
        .as_ref()
        .map(|t| tokio_rustls::TlsAcceptor::from(t.config.clone()));
    loop {
        let accepted = tokio::select! {
            _ = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_per_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: tell tonic (which
                // logs it and keeps accepting) and back off briefly so the
                // loop does not spin.
                server
                    .node()
                    .trace
                    .add(Severity::Error, format!("accept failed: {e}"), None);
                if tx.send(Err(e)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let spec = SocketSpec {
            kind: SocketKind::Server,
            local: tcp.local_addr().ok(),
            remote: Some(remote),
            remote_name: String::new(),
        };
        match (&acceptor, &tls) {
            (Some(acceptor), Some(tls)) => {
                let acceptor = acceptor.clone();
                let certificate = tls.certificate.clone();
                let server = server.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await;
                    let stream = match handshake {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            server.node().trace.add(
                                Severity::Warning,
                                format!("tls handshake with {remote} failed: {e}"),
                                None,
                            );
                            return;
                        }
                        Err(_) => {
                            server.node().trace.add(
                                Severity::Warning,
                                format!("tls handshake with {remote} timed out"),
                                None,
                            );
                            return;
                        }
                    };
                    let socket = server.registry().register_server_socket(&server, spec);
                    socket
                        .node()
                        .set_tls(TlsInfo::from_handshake(stream.get_ref().1, certificate));
                    let _ = tx
                        .send(Ok(ChannelzStream {
                            io: MaybeTls::Tls(Box::new(stream)),
                            socket,
                        }))
                        .await;
                });
            }
            _ => {
                let socket = server.registry().register_server_socket(&server, spec);
                let stream = ChannelzStream {
                    io: MaybeTls::Plain(tcp),
                    socket,
                };
                if tx.send(Ok(stream)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Errors that concern one half-open connection, not the listener.
fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod layer_tests {
    use super::*;
    use crate::registry::Registry;
    use http_body_util::BodyExt;
    use tower::{Layer, Service, ServiceExt};

    /// A handler answering with `status` either in trailers after one
    /// message, or trailers-only (status in the headers, empty body).
    fn handler(
        status: &'static str,
        trailers_only: bool,
    ) -> impl Service<
        Request<tonic::body::Body>,
        Response = Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future = impl Send,
    > + Clone {
        tower::service_fn(move |_req: Request<tonic::body::Body>| async move {
            let mut resp = if trailers_only {
                let mut r = Response::new(tonic::body::Body::empty());
                r.headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static(status));
                r
            } else {
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static(status));
                let frames = vec![
                    Ok::<_, std::convert::Infallible>(http_body::Frame::data(
                        bytes::Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1]),
                    )),
                    Ok(http_body::Frame::trailers(trailers)),
                ];
                Response::new(tonic::body::Body::new(http_body_util::StreamBody::new(
                    tokio_stream::iter(frames),
                )))
            };
            resp.headers_mut().insert(
                "content-type",
                http::HeaderValue::from_static("application/grpc"),
            );
            Ok(resp)
        })
    }

    async fn call<S>(svc: S)
    where
        S: Service<
                Request<tonic::body::Body>,
                Response = Response<ObservedBody<tonic::body::Body>>,
            >,
        S::Error: std::fmt::Debug,
    {
        let resp = svc
            .oneshot(Request::new(tonic::body::Body::empty()))
            .await
            .expect("handler never fails");
        resp.into_body().collect().await.expect("body never fails");
    }

    #[tokio::test]
    async fn counts_status_from_trailers_and_from_trailers_only_responses() {
        let registry = Registry::new();
        let server = registry.register_server("s");
        let layer = server.layer();
        call(layer.layer(handler("0", false))).await;
        call(layer.layer(handler("0", true))).await;
        call(layer.layer(handler("5", false))).await;
        call(layer.layer(handler("13", true))).await;
        let counts = server.node().calls.snapshot();
        assert_eq!(counts.started, 4);
        assert_eq!(counts.succeeded, 2);
        assert_eq!(counts.failed, 2);
        assert!(counts.last_started_nanos > 0);
    }

    #[tokio::test]
    async fn a_response_dropped_before_its_trailers_is_a_failed_call() {
        let registry = Registry::new();
        let server = registry.register_server("s");
        let resp = server
            .layer()
            .layer(handler("0", false))
            .oneshot(Request::new(tonic::body::Body::empty()))
            .await
            .expect("handler never fails");
        drop(resp);
        let counts = server.node().calls.snapshot();
        assert_eq!((counts.started, counts.succeeded, counts.failed), (1, 0, 1));
    }
}
