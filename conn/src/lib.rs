//! The connection layer that every binary of the toolkit shares
//! (`grpc-probe`, `channelz-tui`): targets, dialing, TLS, typed errors with
//! their stable codes and wording, the Go-style flag syntax ([`goflags`]),
//! the shared connection flags ([`ConnArgs`]), Go durations and RFC 3339.
//!
//! Both binaries accept the same connection flags ([`ConnArgs`]), turn them
//! into [`ConnectOptions`], and call [`connect`]. A [`Connection`] is only
//! handed out once the server's first HTTP/2 SETTINGS frame has arrived
//! (grpc-go's READY), so every failure before that point is a
//! [`ConnectError`] and never looks like a failed RPC. RPCs made on it fail
//! with [`RpcError`]; [`call`] enforces the RPC timeout locally as well as
//! sending it as the gRPC deadline.

mod args;
mod duration;
mod error;
pub mod goflags;
mod handshake;
mod rfc3339;
mod target;
mod tls;
mod transport;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use grpc_toolkit_proto::channelz::v1::channelz_client::ChannelzClient;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, BinaryMetadataKey, BinaryMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};

pub use args::{ConnArgs, UsageError, parse_header};
pub use duration::{format_go_duration, parse_go_duration};
pub use error::{ConnectError, ConnectStage, RpcError, code_name, one_line};
pub use handshake::{Handshake, TlsHandshake};
pub use rfc3339::{rfc3339, rfc3339_now, rfc3339_utc};
pub use target::{SchemeSecurity, Target, TargetError};
pub use tls::{TrustSource, trust_source};

use std::path::PathBuf;

/// TLS settings; present only when TLS is on.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// PEM file of CA certificates; `None` uses the system trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mTLS (needs `client_key`).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub client_key: Option<PathBuf>,
    /// Name to verify the server certificate against (and send as SNI).
    pub server_name: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// One metadata header to send with every RPC.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-cased header name.
    pub name: String,
    /// The value; never printed (it may be a token). For a name ending in
    /// `-bin` these are the literal bytes, base64-encoded on the wire.
    pub value: String,
}

// Debug by hand: a header value may be a bearer token and must never reach
// a log line, not even with `-v`.
impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

/// Everything needed to open a connection.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The parsed target.
    pub target: Target,
    /// The `:authority` to send.
    pub authority: String,
    /// `Some` when TLS is on.
    pub tls: Option<TlsOptions>,
    /// Metadata sent with every RPC.
    pub headers: Vec<Header>,
    /// The `user-agent` prefix; the server sees `"{user_agent} tonic/0.14.x"`.
    pub user_agent: String,
    /// Compress requests with gzip and accept gzip responses.
    pub gzip: bool,
    /// Bounds TCP connect, TLS handshake and the wait for SETTINGS together.
    pub connect_timeout: Duration,
}

impl ConnectOptions {
    /// Plaintext options for `target` with the defaults of the flags (1s
    /// connect timeout, no headers): handy for tests and embedding.
    pub fn plaintext(target: Target, user_agent: &str) -> Self {
        Self {
            authority: target.default_authority(),
            target,
            tls: None,
            headers: Vec::new(),
            user_agent: user_agent.to_owned(),
            gzip: false,
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// How long [`Connection::close`] waits for the GOAWAY to be written and
/// the socket closed; local, so it takes microseconds unless the peer has
/// stopped reading.
const CLOSE_GRACE: Duration = Duration::from_millis(250);

/// Responses from Channelz on a busy server exceed tonic's 4 MiB default.
const CHANNELZ_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// An open, READY connection to one server.
#[derive(Clone)]
pub struct Connection {
    channel: Channel,
    metadata: Arc<MetadataMap>,
    gzip: bool,
    closed: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    established_in: Duration,
    handshake: Arc<Handshake>,
}

// By hand: the metadata holds header values, which are never printed.
impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("headers", &self.metadata.len())
            .field("gzip", &self.gzip)
            .field("established_in", &self.established_in)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The tonic channel to build clients on.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// How long connecting took, up to and including the SETTINGS frame.
    pub fn established_in(&self) -> Duration {
        self.established_in
    }

    /// How the first transport was established: dial and TLS timings, the
    /// TLS version and the server's certificates (see [`Handshake`]).
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// A request carrying the `-rpc-header` metadata and, when `timeout`
    /// is set, the gRPC deadline (`grpc-timeout`). Pair it with [`call`]
    /// to enforce the same timeout locally.
    pub fn request<T>(&self, message: T, timeout: Option<Duration>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = (*self.metadata).clone();
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }

    /// A `grpc.health.v1.Health` client (gzip on when asked for).
    pub fn health_client(&self) -> HealthClient<Channel> {
        let client = HealthClient::new(self.channel());
        if self.gzip {
            client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip)
        } else {
            client
        }
    }

    /// A `grpc.channelz.v1.Channelz` client (gzip on when asked for).
    pub fn channelz_client(&self) -> ChannelzClient<Channel> {
        let client =
            ChannelzClient::new(self.channel()).max_decoding_message_size(CHANNELZ_MAX_MESSAGE);
        if self.gzip {
            client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip)
        } else {
            client
        }
    }

    /// Closes the connection gracefully: the HTTP/2 GOAWAY is sent and the
    /// socket closed before this returns (bounded by a short grace period),
    /// so a short-lived probe does not leave the server logging a broken
    /// connection. Only waits when this is the last clone of the
    /// `Connection`; drop clients made from it first.
    pub async fn close(self) {
        let Connection {
            channel, closed, ..
        } = self;
        drop(channel);
        let last = Arc::strong_count(&closed) == 1;
        let receiver = closed.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let (true, Some(receiver)) = (last, receiver) {
            let _ = tokio::time::timeout(CLOSE_GRACE, receiver).await;
        }
    }
}

/// Awaits an RPC future, enforcing `timeout` locally (the server may never
/// answer, and tonic's client does not enforce `grpc-timeout` itself).
pub async fn call<F, T>(timeout: Option<Duration>, rpc: F) -> Result<T, RpcError>
where
    F: Future<Output = Result<T, tonic::Status>>,
{
    let Some(limit) = timeout else {
        return rpc.await.map_err(RpcError::Status);
    };
    let started = Instant::now();
    match tokio::time::timeout(limit, rpc).await {
        Ok(result) => outcome(result, started.elapsed(), limit),
        Err(_) => Err(RpcError::Timeout(limit)),
    }
}

/// An RPC's result as an [`RpcError`], given how long after sending it
/// came and the deadline it was sent with.
pub fn outcome<T>(
    result: Result<T, tonic::Status>,
    elapsed: Duration,
    limit: Duration,
) -> Result<T, RpcError> {
    match result {
        // The server enforces the same deadline and may answer first, as
        // DEADLINE_EXCEEDED or (tonic servers) CANCELLED: once our own
        // deadline has passed it is a timeout either way, as in grpc-go.
        Err(status)
            if matches!(
                status.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ) && elapsed >= limit =>
        {
            Err(RpcError::Timeout(limit))
        }
        result => result.map_err(RpcError::Status),
    }
}

fn build_metadata(headers: &[Header]) -> Result<MetadataMap, ConnectError> {
    let mut map = MetadataMap::new();
    for header in headers {
        args::check_header(header).map_err(|detail| ConnectError::Config { detail })?;
        let bad = || ConnectError::Config {
            detail: format!("invalid -rpc-header \"{}\"", header.name),
        };
        if header.name.ends_with("-bin") {
            let key = BinaryMetadataKey::from_bytes(header.name.as_bytes()).map_err(|_| bad())?;
            map.append_bin(
                key,
                BinaryMetadataValue::from_bytes(header.value.as_bytes()),
            );
        } else {
            let key = AsciiMetadataKey::from_bytes(header.name.as_bytes()).map_err(|_| bad())?;
            let value = header.value.parse().map_err(|_| bad())?;
            map.append(key, value);
        }
    }
    Ok(map)
}

/// Connects and waits for the server's SETTINGS frame, all within
/// `options.connect_timeout`. Fails fast with the precise reason (refused,
/// DNS, TLS, not HTTP/2, ...) rather than waiting out the timeout.
pub async fn connect(options: &ConnectOptions) -> Result<Connection, ConnectError> {
    open(options).await?.ready().await
}

/// A connection whose transport (TCP, unix, TLS) is up and whose HTTP/2
/// preface is sent, but whose server has not been heard from yet.
///
/// HTTP/2 lets a client send requests before the server's SETTINGS
/// arrive, so RPCs may already be started on [`Opening::connection`]: the
/// request then travels with the preface, which saves a round trip per
/// check. It only counts as connected once [`Opening::ready`] says so;
/// until then every failure is a [`ConnectError`], whatever the RPCs saw.
pub struct Opening {
    connection: Connection,
    settings: oneshot::Receiver<Result<(), ConnectError>>,
    client_auth: Option<Arc<tls::ClientAuthSeen>>,
    deadline: tokio::time::Instant,
    connect_timeout: Duration,
    plaintext: bool,
    started: Instant,
}

// By hand: the connection's metadata holds header values.
impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// Dials (TCP or unix, then TLS) and starts HTTP/2, within
/// `options.connect_timeout`, without waiting for the server's SETTINGS:
/// see [`Opening`].
pub async fn open(options: &ConnectOptions) -> Result<Opening, ConnectError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + options.connect_timeout;
    let metadata = build_metadata(&options.headers)?;
    let dialer = Arc::new(transport::Dialer::new(options)?);
    let config = |detail: String| ConnectError::Config { detail };

    // tonic only needs the URI for `:scheme` and `:authority`; our
    // connector ignores it, and the `http` scheme keeps tonic from looking
    // for TLS support of its own.
    let endpoint = Endpoint::from_shared(format!("http://{}", options.authority))
        .map_err(|_| config(format!("invalid authority \"{}\"", options.authority)))?
        .user_agent(options.user_agent.clone())
        .map_err(|_| config("invalid user agent".to_owned()))?;
    let endpoint = if options.tls.is_some() {
        let origin = format!("https://{}", options.authority)
            .parse()
            .map_err(|_| config(format!("invalid authority \"{}\"", options.authority)))?;
        endpoint.origin(origin)
    } else {
        endpoint
    };

    let dialed = dialer.dial(deadline).await?;
    // Under TLS 1.3 a rejected client certificate shows only now, as an
    // alert or a bare reset: see `blame_client_auth`.
    let client_auth = dialed.client_auth;
    let handshake = Arc::new(dialed.handshake);
    let (settings_tx, mut settings_rx) = oneshot::channel();
    let (closed_tx, closed_rx) = oneshot::channel();
    let connector = transport::Connector {
        first: Some(transport::Watched::new(
            dialed.io,
            Some(settings_tx),
            Some(closed_tx),
        )),
        dialer,
    };
    let channel =
        match tokio::time::timeout_at(deadline, endpoint.connect_with_connector(connector)).await {
            Err(_) => {
                return Err(ConnectError::Timeout {
                    after: options.connect_timeout,
                    stage: ConnectStage::Settings,
                });
            }
            Ok(Err(err)) => {
                // The watcher saw the real reason (e.g. a reset) before hyper
                // turned it into a generic handshake error.
                let err = match settings_rx.try_recv() {
                    Ok(Err(precise)) => precise,
                    _ => transport::classify_handshake_error(&err),
                };
                return Err(explain(err, client_auth.as_deref(), options.tls.is_none()));
            }
            Ok(Ok(channel)) => channel,
        };
    Ok(Opening {
        connection: Connection {
            channel,
            metadata: Arc::new(metadata),
            gzip: options.gzip,
            closed: Arc::new(Mutex::new(Some(closed_rx))),
            established_in: Duration::ZERO,
            handshake,
        },
        settings: settings_rx,
        client_auth,
        deadline,
        connect_timeout: options.connect_timeout,
        plaintext: options.tls.is_none(),
        started,
    })
}

/// What a failure before the server's SETTINGS most likely means.
fn explain(
    err: ConnectError,
    client_auth: Option<&tls::ClientAuthSeen>,
    plaintext: bool,
) -> ConnectError {
    // TLS servers (grpc-go's among them) close without a word when a
    // plaintext client shows up: the likeliest cause. When bytes we sent
    // are still unread (an RPC sent early, see `Opening`), their kernel
    // turns that close into a reset.
    const TLS_HINT: &str = "before sending HTTP/2 SETTINGS (if it serves TLS, use -tls)";
    match err {
        ConnectError::Closed { .. } if plaintext => ConnectError::Closed {
            stage_text: TLS_HINT,
        },
        ConnectError::Reset { .. } if plaintext => ConnectError::Reset {
            stage_text: TLS_HINT,
        },
        err => transport::blame_client_auth(err, client_auth),
    }
}

impl Opening {
    /// The connection, to start RPCs on before it is ready. Their answers
    /// mean nothing unless [`Opening::ready`] then succeeds.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Waits, within the connect timeout, for the server's first SETTINGS
    /// frame: the connection is READY. Anything else the server does first
    /// (closing, resetting, answering in HTTP/1 or TLS, rejecting the
    /// client certificate) is the precise [`ConnectError`].
    pub async fn ready(self) -> Result<Connection, ConnectError> {
        let Opening {
            mut connection,
            settings,
            client_auth,
            deadline,
            connect_timeout,
            plaintext,
            started,
        } = self;
        let explained = |err| Err(explain(err, client_auth.as_deref(), plaintext));
        match tokio::time::timeout_at(deadline, settings).await {
            Err(_) => Err(ConnectError::Timeout {
                after: connect_timeout,
                stage: ConnectStage::Settings,
            }),
            Ok(Err(_)) => explained(ConnectError::Closed {
                stage_text: "before sending HTTP/2 SETTINGS",
            }),
            Ok(Ok(Err(err))) => explained(err),
            Ok(Ok(Ok(()))) => {
                connection.established_in = started.elapsed();
                Ok(connection)
            }
        }
    }
}
