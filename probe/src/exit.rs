//! The exit codes, in one place.
//!
//! Kubernetes and scripts act on these numbers (a wrong one restarts a
//! healthy pod), so they are the same as `grpc_health_probe`'s and every
//! path to the end of the program goes through [`Status`].

use std::process::ExitCode;

/// How a run ended, as the process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Every checked service is SERVING (and `-version`, `-help`).
    Serving,
    /// Bad arguments or unreadable files: nothing was attempted.
    Usage,
    /// No connection: refused, DNS, TLS, not HTTP/2, connect timeout.
    ConnectFailure,
    /// Connected, but a health RPC failed (including NOT_FOUND for an
    /// unknown service and UNIMPLEMENTED for a server without health).
    RpcFailure,
    /// A service answered with something other than SERVING.
    NotServing,
    /// `-spiffe`, which this build does not support (the reference tool's
    /// SPIFFE failure code, so alerts keyed on it still fire).
    Spiffe,
}

impl Status {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Status::Serving => 0,
            Status::Usage => 1,
            Status::ConnectFailure => 2,
            Status::RpcFailure => 3,
            Status::NotServing => 4,
            Status::Spiffe => 20,
        }
    }

    /// Combines the statuses of several services checked over one
    /// connection: a connection failure wins, then any RPC failure, then any
    /// service not serving; all serving is success.
    pub fn combine(statuses: impl IntoIterator<Item = Status>) -> Status {
        let mut worst = Status::Serving;
        for status in statuses {
            if status.severity() > worst.severity() {
                worst = status;
            }
        }
        worst
    }

    fn severity(self) -> u8 {
        match self {
            Status::Serving => 0,
            Status::NotServing => 1,
            Status::RpcFailure => 2,
            Status::ConnectFailure => 3,
            Status::Usage => 4,
            Status::Spiffe => 5,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn codes_match_the_reference_tool() {
        let codes: Vec<u8> = [
            Serving,
            Usage,
            ConnectFailure,
            RpcFailure,
            NotServing,
            Spiffe,
        ]
        .map(Status::code)
        .to_vec();
        assert_eq!(codes, [0, 1, 2, 3, 4, 20]);
    }

    #[test]
    fn several_services_combine_worst_first() {
        assert_eq!(Status::combine([Serving, Serving]), Serving);
        assert_eq!(Status::combine([Serving, NotServing]), NotServing);
        assert_eq!(
            Status::combine([NotServing, RpcFailure, Serving]),
            RpcFailure
        );
        assert_eq!(
            Status::combine([RpcFailure, ConnectFailure]),
            ConnectFailure
        );
        assert_eq!(Status::combine([]), Serving);
    }
}
