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
//! Plaintext (`http://`) only: tonic applies its own TLS above a custom
//! connector, and the sockets would then not see the handshake.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};

use crate::observe::{
    CallOwner, CallTracker, CurrentConnection, ObservedBody, SocketSource, call_start,
    observe_response,
};
use crate::registry::{
    ChannelHandle, ConnectivityState, Registry, Severity, SocketHandle, SocketKind, SocketSpec,
    SubchannelHandle,
};

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
    fn log_failure(&self, id: i64, trace: &crate::Trace, severity: Severity, message: String) {
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
        let (connector, shared) = connector(registry, &endpoint);
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
        let (connector, shared) = connector(registry, &endpoint);
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

fn connector(registry: &Registry, endpoint: &Endpoint) -> (ChannelzConnector, Arc<Shared>) {
    let shared = Arc::new(Shared {
        channel: registry.register_channel(target_name(endpoint.uri())),
        current: Arc::default(),
        subchannels: Mutex::default(),
        last_errors: Mutex::default(),
    });
    (
        ChannelzConnector {
            shared: Arc::downgrade(&shared),
            registry: registry.clone(),
        },
        shared,
    )
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
        Box::pin(async move {
            let Some(shared) = shared.upgrade() else {
                return Err("channel was dropped".into());
            };
            connect(&registry, &shared, &uri)
                .await
                .map(TokioIo::new)
                .map_err(Into::into)
        })
    }
}

async fn connect(registry: &Registry, shared: &Arc<Shared>, uri: &Uri) -> io::Result<ClientStream> {
    let channel = shared.channel.node();
    let host = uri.host().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("target {uri} has no host"),
        )
    })?;
    let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    });
    let authority = format!("{host}:{port}");
    // Sticky TRANSIENT_FAILURE (gRFC A62, as pick_first does): once failed,
    // the channel reports TRANSIENT_FAILURE until a connection is READY
    // again, rather than flickering through CONNECTING on every retry.
    if channel.state() != ConnectivityState::TransientFailure {
        channel.set_state(ConnectivityState::Connecting);
    }
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
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let socket = registry.register_subchannel_socket(
                    &sub,
                    SocketSpec {
                        kind: SocketKind::Client,
                        local: tcp.local_addr().ok(),
                        remote: Some(addr),
                        remote_name: authority.clone(),
                    },
                );
                sub.node().set_state(ConnectivityState::Ready);
                shared.clear_failure(sub.id());
                shared.clear_failure(channel.id);
                shared
                    .current
                    .set(Some((sub.node().clone(), socket.node().clone())));
                channel.set_state(ConnectivityState::Ready);
                return Ok(ClientStream {
                    tcp,
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
                    format!("connect to {addr} failed: {e}"),
                );
                sub.node().set_state(ConnectivityState::TransientFailure);
                last_error = e;
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

/// A client connection: the TCP stream plus its Channelz registration,
/// which ends (with the subchannel going IDLE) when hyper drops it.
#[derive(Debug)]
pub struct ClientStream {
    tcp: TcpStream,
    socket: SocketHandle,
    subchannel: SubchannelHandle,
    shared: std::sync::Weak<Shared>,
}

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

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

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
