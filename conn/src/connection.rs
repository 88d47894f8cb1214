//! Opening a connection and making RPCs on it: [`open`] / [`Opening::ready`]
//! (and [`connect`], both in one), the READY [`Connection`] with its
//! clients, and [`call`], which enforces an RPC timeout locally as well as
//! sending it as the gRPC deadline.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use grpc_toolkit_proto::channelz::v1::channelz_client::ChannelzClient;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use tokio::sync::oneshot;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, BinaryMetadataKey, BinaryMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};

use crate::error::{self, ConnectError, ConnectStage, RpcError};
use crate::grpc_channel::GrpcChannel;
#[cfg(feature = "handshake")]
use crate::handshake::Handshake;
use crate::options::{ConnectOptions, Header};
use crate::{args, tls, transport};

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
    #[cfg(feature = "handshake")]
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

    #[cfg(feature = "handshake")]
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

    /// The channel held to gRPC's rules for answers (see [`GrpcChannel`]).
    pub fn grpc_channel(&self) -> GrpcChannel {
        GrpcChannel::new(self.channel())
    }

    /// A `grpc.health.v1.Health` client (gzip on when asked for) whose
    /// calls fail as grpc-go's do on an answer that is not gRPC (see
    /// [`GrpcChannel`]).
    pub fn health(&self) -> HealthClient<GrpcChannel> {
        let client = HealthClient::new(self.grpc_channel());
        if self.gzip {
            client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip)
        } else {
            client
        }
    }

    /// A client for unary calls that holds the server to the protocol
    /// (see [`StrictUnary`]).
    pub fn strict_unary(&self) -> StrictUnary {
        StrictUnary {
            channel: self.grpc_channel(),
            gzip: self.gzip,
        }
    }

    /// A `grpc.channelz.v1.Channelz` client (gzip on when asked for),
    /// held to gRPC's rules for answers as [`Connection::health`].
    pub fn channelz_client(&self) -> ChannelzClient<GrpcChannel> {
        let client = ChannelzClient::new(self.grpc_channel())
            .max_decoding_message_size(CHANNELZ_MAX_MESSAGE);
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

/// Unary calls as grpc-go makes them: tonic's unary client takes the
/// first message and drops any more, and does not look at the response's
/// content-type, so a server that answers twice, or answers with an HTML
/// page carrying a `grpc-status`, would pass. Here both are errors, with
/// grpc-go's codes: INTERNAL for a second message (or none), and for an
/// answer that is not gRPC the code its HTTP status maps to (see
/// [`GrpcChannel`]).
#[derive(Debug, Clone)]
pub struct StrictUnary {
    channel: GrpcChannel,
    gzip: bool,
}

impl StrictUnary {
    /// Calls `path` (`/package.Service/Method`) with `request`.
    pub async fn call<Req, Resp>(
        &self,
        request: tonic::Request<Req>,
        path: &'static str,
    ) -> Result<tonic::Response<Resp>, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(error::one_line(&e)))?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let response = grpc
            .server_streaming(request, http::uri::PathAndQuery::from_static(path), codec)
            .await?;
        let (metadata, mut stream, extensions) = response.into_parts();
        let Some(message) = stream.message().await? else {
            return Err(tonic::Status::internal(
                "cardinality violation: received no response message from non-server-streaming RPC",
            ));
        };
        if stream.message().await?.is_some() {
            return Err(tonic::Status::internal(
                "cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message",
            ));
        }
        Ok(tonic::Response::from_parts(metadata, message, extensions))
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
        args::check_header(header)?;
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
    let dialer = Arc::new(transport::Dialer::new(options, deadline.into_std())?);
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
    #[cfg(feature = "handshake")]
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
                    _ => error::io::classify_handshake_error(&err),
                };
                return Err(error::io::explain(
                    err,
                    client_auth.as_ref().map(|seen| seen.facts()),
                    options.tls.is_none(),
                ));
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
            #[cfg(feature = "handshake")]
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
        let explained = |err| {
            Err(error::io::explain(
                err,
                client_auth.as_ref().map(|seen| seen.facts()),
                plaintext,
            ))
        };
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
