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

// The root is grouped by side: what fills the registry for a server
// (`server`), for a client (`client`), the registry itself (`registry`), the
// service that reads it (`service`), the wire types (`pb`). The three types
// almost every user names are also at the root.
// The README's examples are doctests (so they cannot drift from the
// API), as tokio's and tonic's are; only under `cfg(doctest)`, so the
// crate's docs keep their own front page.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;

pub mod admin;
pub mod client;
pub mod health;
mod io;
pub mod observe;
pub mod pb;
pub mod registry;
pub mod server;
pub mod service;

pub use client::InstrumentedChannel;
pub use registry::Registry;
pub use service::ChannelzService;
