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
mod connection;
mod duration;
mod error;
pub mod escape;
pub mod goflags;
mod grpc_channel;
#[cfg(feature = "handshake")]
mod handshake;
mod health;
mod options;
mod rfc3339;
mod target;
mod tls;
mod transport;

pub use args::{ConnArgs, parse_header};
pub use connection::{Connection, Opening, StrictUnary, call, connect, open, outcome};
pub use duration::{format_go_duration, parse_go_duration};
pub use error::{ConnectError, ConnectStage, RpcError, UsageError, code_name, flatten, one_line};
pub use grpc_channel::{Checked, GrpcChannel};
#[cfg(feature = "handshake")]
pub use handshake::{Handshake, TlsHandshake};
pub use health::serving_status_name;
pub use options::{ConnectOptions, Header, TlsOptions};
pub use rfc3339::{rfc3339, rfc3339_now, rfc3339_utc};
pub use target::{SchemeSecurity, Target, TargetError};
pub use tls::{TrustSource, trust_source};
#[cfg(feature = "lean-writes")]
pub use transport::CloseOnly;
