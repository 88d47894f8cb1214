//! Why the dashboard has no fresh data: a Channelz RPC that failed
//! ([`PollError`]) and the poller's lost or never-made connection
//! ([`Outage`]). Plain data that the poller produces, the model keeps and
//! the view shows, so it sits apart from all three.

use std::fmt;
use std::sync::Arc;

use grpc_toolkit_conn::{ConnectError, RpcError};

/// Why a poll failed as a whole. Failures of single entities or methods
/// do not end up here: they become [`Incomplete`](crate::model::Incomplete)
/// entries beside what the server did answer.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The server does not implement `grpc.channelz.v1.Channelz`
    /// (`GetTopChannels` answered UNIMPLEMENTED).
    #[error("this server has no Channelz service (UNIMPLEMENTED)")]
    NoChannelz,
    /// An RPC failed.
    #[error("{what}: {source}")]
    Rpc {
        /// Which RPC, with its arguments.
        what: String,
        /// The failure.
        source: RpcError,
    },
}

impl PollError {
    /// True when the connection itself is gone, so the poller must redial.
    pub fn is_connection_loss(&self) -> bool {
        match self {
            PollError::Rpc { source, .. } => is_connection_loss(source),
            PollError::NoChannelz => false,
        }
    }
}

pub(crate) fn is_connection_loss(e: &RpcError) -> bool {
    matches!(
        e.code(),
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
    )
}

/// Why the poller has no working connection.
#[derive(Debug, Clone)]
pub enum Outage {
    /// Connecting failed (refused, DNS, TLS, timeout, ...).
    Connect(Arc<ConnectError>),
    /// The connection broke during a poll (UNAVAILABLE, reset).
    Lost(Arc<PollError>),
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outage::Connect(e) => e.fmt(f),
            Outage::Lost(e) => e.fmt(f),
        }
    }
}

// The errors are not comparable themselves; two outages that say the same
// thing are the same for the dashboard (and for tests).
impl PartialEq for Outage {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl From<ConnectError> for Outage {
    fn from(e: ConnectError) -> Self {
        Outage::Connect(Arc::new(e))
    }
}

impl From<PollError> for Outage {
    fn from(e: PollError) -> Self {
        Outage::Lost(Arc::new(e))
    }
}
