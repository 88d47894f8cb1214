//! A `grpc.channelz.v1` Channelz service for tonic: a registry of channels,
//! subchannels, servers and sockets, a tower layer and an accept wrapper
//! that fill it for a tonic server, and an instrumented client channel.
//!
//! Server side, in a few lines:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tonic_channelz::{ChannelzService, Registry};
//! let registry = Registry::global();
//! let server = registry.register_server("api");
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:50051").await?;
//! tonic::transport::Server::builder()
//!     .layer(server.layer())
//!     .add_service(ChannelzService::new(registry.clone()).into_server())
//!     // .add_service(your services...)
//!     .serve_with_incoming(server.incoming(listener)?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The [`health`] module is a spec-complete `grpc.health.v1.Health` (Check,
//! Watch, List, drain on shutdown); [`admin`] mounts it and Channelz in one
//! call, or serves both on a listener of their own.
//!
//! Client side: [`InstrumentedChannel::lazy`] in place of
//! `Endpoint::connect_lazy` ([`InstrumentedChannel::lazy_tls`] for TLS).
//!
//! # What is filled, and what is not
//!
//! Filled: ids, names, targets, call counts and last-call times (from
//! `grpc-status` in trailers or in a trailers-only response), trace events,
//! connectivity states (derived from our connector, as tonic exposes none),
//! subchannels per resolved address, sockets with local/remote addresses,
//! stream counts, message counts (from the gRPC length-prefixed framing),
//! last stream/message times, and TLS cipher suite and certificates when
//! our accept wrapper (server) or connector (client) does the handshake.
//!
//! Left absent, never guessed, because hyper and h2 do not expose them:
//! flow-control windows, keepalives sent, the received GOAWAY error code,
//! the peer's max-concurrent-streams, and socket options.

pub mod admin;
mod client;
pub mod health;
mod io;
mod observe;
mod registry;
mod server;
mod service;

pub use client::{ClientResponseFuture, ClientStream, ClientTls, InstrumentedChannel};
pub use observe::ObservedBody;
pub use registry::{
    CallCounts, CallMetrics, ChannelHandle, ChannelNode, ChildRef, ConnectivityState,
    DEFAULT_TRACE_CAPACITY, Registry, ServerHandle, ServerNode, Severity, SocketCounts,
    SocketHandle, SocketKind, SocketMetrics, SocketNode, SocketSpec, SubchannelHandle,
    SubchannelNode, TlsInfo, Trace, TraceEvent,
};
pub use server::{
    CallCounting, ChannelzConnectInfo, ChannelzIncoming, ChannelzLayer, ChannelzStream,
    ResponseFuture, ServerTls,
};
pub use service::{
    ChannelzService, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, channel_proto, server_proto, socket_proto,
    subchannel_proto,
};
