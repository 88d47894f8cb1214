//! Client side: an instrumented tonic channel that lists itself as a
//! Channelz top channel, with its subchannels and their sockets.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tonic_channelz::{InstrumentedChannel, Registry};
//! let endpoint = tonic::transport::Endpoint::from_static("http://localhost:50051");
//! let channel = InstrumentedChannel::lazy(Registry::global(), endpoint);
//! let mut health = grpc_toolkit_proto::health::v1::health_client::HealthClient::new(channel);
//! # Ok(()) }
//! ```
//!
//! tonic has no connectivity-state or resolver API, so everything below
//! the call counts is derived from our own connector, which tonic calls
//! whenever it needs a connection: the connector resolves the target
//! itself (recording the result as a trace event), keeps one subchannel per
//! resolved address, tries them in order (pick-first), and reports
//! CONNECTING, READY, TRANSIENT_FAILURE and, when a connection closes,
//! IDLE (tonic reconnects lazily on the next call). TRANSIENT_FAILURE is
//! sticky, as in gRPC's pick_first (gRFC A62): it lasts until a connection
//! is READY again, since tonic retries on every call without backoff and
//! CONNECTING would otherwise flicker. A failure repeated word for word is
//! logged once. SHUTDOWN is set when
//! the last clone of the channel is dropped, as it leaves the registry.
//!
//! # TLS
//!
//! tonic's own TLS would sit above our connector and hide the handshake
//! from the sockets, so [`InstrumentedChannel::lazy_tls`] and
//! [`InstrumentedChannel::connect_tls`] do the rustls handshake in the
//! connector instead (ALPN `h2`) and record each socket's `security`: the
//! cipher suite's IANA name, the server's leaf certificate and, with mTLS,
//! ours. A failed handshake (or one not done within 10 seconds) fails that
//! address like a refused connection: a trace event naming the TLS error,
//! then TRANSIENT_FAILURE.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn run(config: Arc<rustls::ClientConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! use tonic_channelz::{client::ClientTls, InstrumentedChannel, Registry};
//! // `config` trusts the server's CA; for mTLS it also holds our
//! // certificate (`with_client_auth_cert`). The URI stays `http://`.
//! let endpoint = tonic::transport::Endpoint::from_static("http://backend.example:8443");
//! let tls = ClientTls::new(config);
//! let channel = InstrumentedChannel::lazy_tls(Registry::global(), endpoint, tls);
//! let mut health = grpc_toolkit_proto::health::v1::health_client::HealthClient::new(channel);
//! # Ok(()) }
//! ```
//!
//! Give these constructors an `http://` endpoint: tonic dials the
//! endpoint's URI through our connector, and a tonic built with a TLS
//! feature refuses an `https://` URI it has no TLS config for. The channel
//! sets the endpoint's origin to `https://` and the same authority (an
//! origin set before is replaced), so requests carry `:scheme: https`, and
//! the port defaults to 443. The certificate is checked against the URI's
//! host unless [`ClientTls::server_name`] names another.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};

use crate::io::MaybeTls;
use crate::observe::{
    CallOwner, CallTracker, CurrentConnection, ObservedBody, SocketSource, call_start,
    observe_response,
};
use crate::registry::{
    ChannelHandle, ConnectivityState, Registry, Severity, SocketHandle, SocketKind, SocketSpec,
    SubchannelHandle, TlsInfo, lock,
};

/// How long a server may take to finish the TLS handshake before that
/// address counts as failed, so a silent peer cannot hold the connector
/// forever when the endpoint sets no connect timeout.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the connector and the call layer of one channel share.
#[derive(Debug)]
struct Shared {
    channel: ChannelHandle,
    current: Arc<CurrentConnection>,
    /// One subchannel per resolved address, in resolution order.
    subchannels: Mutex<Vec<(SocketAddr, SubchannelHandle)>>,
    /// The last failure logged on the channel and per subchannel. tonic
    /// retries a failed connection on every call, with no backoff, so the
    /// same failure repeats several times a second; logging it again would
    /// push every other event out of the bounded trace.
    last_errors: Mutex<std::collections::HashMap<i64, String>>,
}

impl Shared {
    /// Logs `message` on the trace of entity `id` unless it is the failure
    /// logged there last.
    fn log_failure(
        &self,
        id: i64,
        trace: &crate::registry::Trace,
        severity: Severity,
        message: String,
    ) {
        let mut last = self.last_errors.lock().unwrap_or_else(|e| e.into_inner());
        if last.get(&id) != Some(&message) {
            trace.add(severity, message.clone(), None);
            last.insert(id, message);
        }
    }

    fn clear_failure(&self, id: i64) {
        self.last_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// A tonic `Channel` that reports itself to Channelz. Use it wherever a
/// generated client takes a channel; clones share one registration.
#[derive(Debug, Clone)]
pub struct InstrumentedChannel {
    inner: Channel,
    shared: Arc<Shared>,
}

impl InstrumentedChannel {
    /// A channel that connects on first use, like `Endpoint::connect_lazy`.
    pub fn lazy(registry: &Registry, endpoint: Endpoint) -> Self {
        let (endpoint, connector, shared) = connector(registry, endpoint, None);
        Self {
            inner: endpoint.connect_with_connector_lazy(connector),
            shared,
        }
    }

    /// A channel that connects now, like `Endpoint::connect`.
    pub async fn connect(
        registry: &Registry,
        endpoint: Endpoint,
    ) -> Result<Self, tonic::transport::Error> {
        let (endpoint, connector, shared) = connector(registry, endpoint, None);
        Ok(Self {
            inner: endpoint.connect_with_connector(connector).await?,
            shared,
        })
    }

    /// [`InstrumentedChannel::lazy`] over TLS that our connector does
    /// itself, so each socket shows the cipher suite and certificates.
    ///
    /// Give it an `http://` endpoint: tonic dials the endpoint's URI
    /// through our connector, and a tonic built with a TLS feature refuses
    /// an `https://` URI it has no TLS config for. The channel sets the
    /// origin to `https://` and the URI's authority (replacing any origin
    /// set before), so requests carry `:scheme: https`; the port defaults
    /// to 443. A failed handshake fails that address like a refused
    /// connection.
    pub fn lazy_tls(registry: &Registry, endpoint: Endpoint, tls: ClientTls) -> Self {
        let (endpoint, connector, shared) = connector(registry, endpoint, Some(tls));
        Self {
            inner: endpoint.connect_with_connector_lazy(connector),
            shared,
        }
    }

    /// [`InstrumentedChannel::connect`] over TLS that our connector does
    /// itself; give it an `http://` endpoint, as for
    /// [`InstrumentedChannel::lazy_tls`].
    pub async fn connect_tls(
        registry: &Registry,
        endpoint: Endpoint,
        tls: ClientTls,
    ) -> Result<Self, tonic::transport::Error> {
        let (endpoint, connector, shared) = connector(registry, endpoint, Some(tls));
        Ok(Self {
            inner: endpoint.connect_with_connector(connector).await?,
            shared,
        })
    }

    /// The channel's Channelz id.
    pub fn channel_id(&self) -> i64 {
        self.shared.channel.id()
    }

    /// The channel's registration, to read its counters and state.
    pub fn handle(&self) -> &ChannelHandle {
        &self.shared.channel
    }
}

/// TLS for [`InstrumentedChannel::lazy_tls`] and
/// [`InstrumentedChannel::connect_tls`]: a rustls client config and,
/// optionally, the name to check the server's certificate against.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// `config` decides which servers to trust and, for mTLS, which
    /// certificate to present. Its ALPN list is replaced by `h2`, the only
    /// protocol tonic speaks. With a client certificate, session
    /// resumption is turned off: a resumed handshake sends no certificate
    /// (the server remembers it from the session), so the socket could not
    /// show ours. gRPC's own clients keep no session cache by default
    /// either.
    pub fn new(config: Arc<rustls::ClientConfig>) -> Self {
        let mut config = Arc::unwrap_or_clone(config);
        config.alpn_protocols = vec![b"h2".to_vec()];
        if config.client_auth_cert_resolver.has_certs() {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Self {
            config: Arc::new(config),
            server_name: None,
        }
    }

    /// The name to verify the server's certificate against (and to send as
    /// SNI) instead of the endpoint's host: for a server reached by an
    /// address its certificate does not name.
    pub fn server_name(mut self, name: ServerName<'static>) -> Self {
        self.server_name = Some(name);
        self
    }
}

impl ClientTls {
    /// The name the server's certificate must carry: the override, or the
    /// URI's host (without the brackets of an IPv6 literal).
    fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, String> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_owned())
            .map_err(|e| format!("{host} is not a valid tls server name: {e}"))
    }

    /// Runs the client handshake over `tcp`, bounded by
    /// [`TLS_HANDSHAKE_TIMEOUT`], and says what it negotiated.
    async fn handshake(
        &self,
        tcp: TcpStream,
        name: ServerName<'static>,
    ) -> io::Result<(TlsStream<TcpStream>, TlsInfo)> {
        // rustls does not tell which certificate it sent, so a per-connection
        // copy of the config gets a resolver that writes it down; without
        // client certificates there is nothing to record and no copy. (rustls
        // resumes a session only under the resolver that made it, so these
        // copies could never resume: `ClientTls::new` turns resumption off
        // rather than keep tickets nobody can use.)
        let presented: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let config = if self.config.client_auth_cert_resolver.has_certs() {
            let mut config = (*self.config).clone();
            config.client_auth_cert_resolver = Arc::new(RecordingResolver {
                inner: config.client_auth_cert_resolver.clone(),
                presented: presented.clone(),
            });
            Arc::new(config)
        } else {
            self.config.clone()
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "timed out"))??;
        let local = lock(&presented).take().unwrap_or_default();
        let info = TlsInfo::from_handshake(stream.get_ref().1, local);
        Ok((stream, info))
    }
}

/// Hands out what the configured resolver picks and keeps the leaf's DER.
#[derive(Debug)]
struct RecordingResolver {
    inner: Arc<dyn rustls::client::ResolvesClientCert>,
    presented: Arc<Mutex<Option<Vec<u8>>>>,
}

impl rustls::client::ResolvesClientCert for RecordingResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let key = self.inner.resolve(root_hint_subjects, sigschemes);
        *lock(&self.presented) = key
            .as_ref()
            .and_then(|k| k.cert.first())
            .map(|c| c.as_ref().to_vec());
        key
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// Registers the channel and builds its connector; with TLS, also points
/// the endpoint's origin at `https://` (see the module docs).
fn connector(
    registry: &Registry,
    endpoint: Endpoint,
    tls: Option<ClientTls>,
) -> (Endpoint, ChannelzConnector, Arc<Shared>) {
    let (endpoint, target) = match (&tls, endpoint.uri().authority()) {
        (Some(_), Some(authority)) => {
            let origin = format!("https://{authority}");
            match origin.parse::<Uri>() {
                Ok(uri) => (endpoint.origin(uri), origin),
                Err(_) => {
                    let target = target_name(endpoint.uri());
                    (endpoint, target)
                }
            }
        }
        _ => {
            let target = target_name(endpoint.uri());
            (endpoint, target)
        }
    };
    let shared = Arc::new(Shared {
        channel: registry.register_channel(target),
        current: Arc::default(),
        subchannels: Mutex::default(),
        last_errors: Mutex::default(),
    });
    let connector = ChannelzConnector {
        shared: Arc::downgrade(&shared),
        registry: registry.clone(),
        tls,
    };
    (endpoint, connector, shared)
}

/// The target as a user would write it: `http://host:port`, without the
/// `/` path that `Uri` adds.
fn target_name(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) if uri.path() == "/" && uri.query().is_none() => {
            format!("{scheme}://{authority}")
        }
        _ => uri.to_string(),
    }
}

/// The connector tonic calls for each new connection. It holds the shared
/// state weakly: tonic keeps the connector in a background task that
/// outlives the last channel clone by a little, and the registration must
/// go with the channel.
#[derive(Debug, Clone)]
struct ChannelzConnector {
    shared: std::sync::Weak<Shared>,
    registry: Registry,
    tls: Option<ClientTls>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for ChannelzConnector {
    type Response = TokioIo<ClientStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let shared = self.shared.clone();
        let registry = self.registry.clone();
        let tls = self.tls.clone();
        Box::pin(async move {
            let Some(shared) = shared.upgrade() else {
                return Err("channel was dropped".into());
            };
            connect(&registry, &shared, tls.as_ref(), &uri)
                .await
                .map(TokioIo::new)
                .map_err(Into::into)
        })
    }
}

async fn connect(
    registry: &Registry,
    shared: &Arc<Shared>,
    tls: Option<&ClientTls>,
    uri: &Uri,
) -> io::Result<ClientStream> {
    let channel = shared.channel.node();
    let host = uri.host().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("target {uri} has no host"),
        )
    })?;
    let https = tls.is_some() || uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = format!("{host}:{port}");
    // Sticky TRANSIENT_FAILURE (gRFC A62, as pick_first does): once failed,
    // the channel reports TRANSIENT_FAILURE until a connection is READY
    // again, rather than flickering through CONNECTING on every retry.
    if channel.state() != ConnectivityState::TransientFailure {
        channel.set_state(ConnectivityState::Connecting);
    }
    let tls = match tls {
        None => None,
        Some(tls) => match tls.server_name_for(host) {
            Ok(name) => Some((tls, name)),
            Err(message) => {
                shared.log_failure(channel.id, &channel.trace, Severity::Error, message.clone());
                channel.set_state(ConnectivityState::TransientFailure);
                return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
            }
        },
    };
    let addrs: Vec<SocketAddr> = match tokio::net::lookup_host(authority.as_str()).await {
        Ok(addrs) => addrs.collect(),
        Err(e) => {
            shared.log_failure(
                channel.id,
                &channel.trace,
                Severity::Error,
                format!("resolving {authority} failed: {e}"),
            );
            channel.set_state(ConnectivityState::TransientFailure);
            return Err(e);
        }
    };
    let subchannels = update_subchannels(registry, shared, &authority, &addrs);
    let mut last_error = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{authority} resolved to no addresses"),
    );
    for (addr, sub) in subchannels {
        // Sticky like the channel: tonic retries on every call without
        // backoff, so CONNECTING would flicker several times a second.
        if sub.node().state() != ConnectivityState::TransientFailure {
            sub.node().set_state(ConnectivityState::Connecting);
        }
        match dial(addr, tls.clone()).await {
            Ok((io, local, security)) => {
                let socket = registry.register_subchannel_socket(
                    &sub,
                    SocketSpec {
                        kind: SocketKind::Client,
                        local,
                        remote: Some(addr),
                        remote_name: authority.clone(),
                    },
                );
                if let Some(security) = security {
                    socket.node().set_tls(security);
                }
                sub.node().set_state(ConnectivityState::Ready);
                shared.clear_failure(sub.id());
                shared.clear_failure(channel.id);
                shared
                    .current
                    .set(Some((sub.node().clone(), socket.node().clone())));
                channel.set_state(ConnectivityState::Ready);
                return Ok(ClientStream {
                    io,
                    socket,
                    subchannel: sub,
                    shared: Arc::downgrade(shared),
                });
            }
            Err(e) => {
                shared.log_failure(
                    sub.id(),
                    &sub.node().trace,
                    Severity::Warning,
                    e.to_string(),
                );
                sub.node().set_state(ConnectivityState::TransientFailure);
                last_error = e.into_io();
            }
        }
    }
    shared.log_failure(
        channel.id,
        &channel.trace,
        Severity::Error,
        format!("no address of {authority} accepted a connection: {last_error}"),
    );
    channel.set_state(ConnectivityState::TransientFailure);
    Err(last_error)
}

/// Why one address could not be used; the `Display` text, naming the
/// address and the stage that failed, goes to the subchannel's trace.
#[derive(Debug)]
struct DialError {
    addr: SocketAddr,
    tls: bool,
    cause: io::Error,
}

impl DialError {
    /// A refused connection explains itself; a handshake error alone
    /// (`invalid peer certificate: ...`) would not say it came from TLS.
    fn into_io(self) -> io::Error {
        match self.tls {
            false => self.cause,
            true => io::Error::new(self.cause.kind(), self.to_string()),
        }
    }
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tls {
            false => write!(f, "connect to {} failed: {}", self.addr, self.cause),
            true => write!(f, "tls handshake with {} failed: {}", self.addr, self.cause),
        }
    }
}

/// Opens TCP to `addr` and, with TLS, runs the handshake: the stream, our
/// local address, and what the handshake negotiated.
async fn dial(
    addr: SocketAddr,
    tls: Option<(&ClientTls, ServerName<'static>)>,
) -> Result<(ClientIo, Option<SocketAddr>, Option<TlsInfo>), DialError> {
    let tcp = TcpStream::connect(addr).await.map_err(|cause| DialError {
        addr,
        tls: false,
        cause,
    })?;
    let _ = tcp.set_nodelay(true);
    let local = tcp.local_addr().ok();
    let Some((tls, name)) = tls else {
        return Ok((MaybeTls::Plain(tcp), local, None));
    };
    match tls.handshake(tcp, name).await {
        Ok((stream, info)) => Ok((MaybeTls::Tls(Box::new(stream)), local, Some(info))),
        Err(cause) => Err(DialError {
            addr,
            tls: true,
            cause,
        }),
    }
}

/// Makes the subchannel list match the resolved addresses (keeping the
/// subchannels of addresses seen before) and logs the resolution result
/// when it changed.
fn update_subchannels(
    registry: &Registry,
    shared: &Shared,
    authority: &str,
    addrs: &[SocketAddr],
) -> Vec<(SocketAddr, SubchannelHandle)> {
    let mut subs = shared.subchannels.lock().unwrap_or_else(|e| e.into_inner());
    let known: Vec<SocketAddr> = subs.iter().map(|(a, _)| *a).collect();
    if known.as_slice() != addrs {
        let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        shared.channel.node().trace.add(
            Severity::Info,
            format!("resolved {authority} to [{}]", list.join(", ")),
            None,
        );
        let mut next = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let sub = match subs.iter().position(|(a, _)| a == addr) {
                Some(i) => subs.swap_remove(i).1,
                None => registry.register_subchannel(&shared.channel, addr.to_string()),
            };
            next.push((*addr, sub));
        }
        // What is left in `subs` was not resolved again: dropping it
        // unlists those subchannels (their open sockets keep them alive
        // until they close).
        *subs = next;
    }
    subs.clone()
}

/// A client connection: the TCP (or TLS over TCP) stream plus its
/// Channelz registration, which ends (with the subchannel going IDLE) when
/// hyper drops it.
#[derive(Debug)]
pub struct ClientStream {
    io: ClientIo,
    socket: SocketHandle,
    subchannel: SubchannelHandle,
    shared: std::sync::Weak<Shared>,
}

type ClientIo = MaybeTls<TlsStream<TcpStream>>;

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.subchannel.node().set_state(ConnectivityState::Idle);
        if let Some(shared) = self.shared.upgrade()
            && shared.current.clear_if(self.socket.id())
        {
            shared.channel.node().set_state(ConnectivityState::Idle);
        }
    }
}

crate::io::forward_io!(ClientStream);

impl tower::Service<Request<Body>> for InstrumentedChannel {
    type Response = Response<ObservedBody<Body>>;
    type Error = tonic::transport::Error;
    type Future = ClientResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let start = call_start();
        let channel = self.shared.channel.node().clone();
        channel.calls.start(start);
        let mut tracker = CallTracker::new(CallOwner::Client(channel, None), None);
        let source = match self.shared.current.get() {
            Some((sub, socket)) => {
                tracker.attach(sub, socket.clone(), start);
                SocketSource::Fixed(socket)
            }
            None => SocketSource::Current(self.shared.current.clone()),
        };
        let body = std::mem::replace(req.body_mut(), Body::empty());
        *req.body_mut() = Body::new(ObservedBody::new(body, Some(source), true, None));
        ClientResponseFuture {
            inner: tower::Service::call(&mut self.inner, req),
            tracker: Some(tracker),
            current: self.shared.current.clone(),
            start,
        }
    }
}

pin_project_lite::pin_project! {
    /// Resolves to the response with its body observed.
    #[derive(Debug)]
    pub struct ClientResponseFuture {
        #[pin]
        inner: tonic::transport::channel::ResponseFuture,
        tracker: Option<CallTracker>,
        current: Arc<CurrentConnection>,
        start: i64,
    }
}

impl Future for ClientResponseFuture {
    type Output = Result<Response<ObservedBody<Body>>, tonic::transport::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(res) => res,
        };
        let Some(mut tracker) = this.tracker.take() else {
            return Poll::Ready(res.map(|r| r.map(|b| ObservedBody::new(b, None, false, None))));
        };
        // The call was made before its connection existed: the response
        // came over the connection that is current now.
        if res.is_ok()
            && !tracker.is_attached()
            && let Some((sub, socket)) = this.current.get()
        {
            tracker.attach(sub, socket, *this.start);
        }
        Poll::Ready(observe_response(res, tracker, false))
    }
}
