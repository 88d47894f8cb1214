//! The exit statuses, in one place.
//!
//! Scripts act on these numbers (`channelz-tui --json` in a cron job, a
//! health check that runs it), so every way out of the program ends in an
//! [`ExitStatus`], and only [`From<ExitStatus> for ExitCode`] turns it into
//! the process's number. The numbers match `grpc-probe`'s for the statuses
//! both tools have.

use std::process::ExitCode;

/// How a run ended, as the process reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// The user quit, the snapshot was printed, or `--help`/`--version`.
    Ok,
    /// Bad arguments, no terminal, or the terminal failed: nothing useful
    /// could be shown.
    Usage,
    /// No connection: refused, DNS, TLS, not HTTP/2, connect timeout.
    ConnectFailure,
    /// Connected, but a Channelz RPC failed (including a server without a
    /// Channelz service) and `--json` had nothing complete to print.
    RpcFailure,
}

impl ExitStatus {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Usage => 1,
            ExitStatus::ConnectFailure => 2,
            ExitStatus::RpcFailure => 3,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus::*;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes = [Ok, Usage, ConnectFailure, RpcFailure].map(|s| s.code());
        assert_eq!(codes, [0, 1, 2, 3]);
    }
}
