//! Why the dashboard has no fresh data: a Channelz RPC that failed
//! ([`PollError`]) and the poller's lost or never-made connection
//! ([`Outage`]). Plain data that the poller produces, the model keeps and
//! the view shows, so it sits apart from all three.

use std::fmt;
use std::sync::Arc;

use grpc_toolkit_conn::ConnectError;

/// Why a poll failed as a whole: the Channelz client's error. Failures of
/// single entities or methods do not end up here: they become
/// [`Incomplete`](crate::model::Incomplete) entries beside what the server
/// did answer.
pub use grpc_toolkit_channelz_client::Error as PollError;

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
