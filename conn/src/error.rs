//! The two failure types callers tell apart: [`ConnectError`] (we never got
//! a READY connection) and [`RpcError`] (connected, but the call failed).
//! Both display as one line: tonic, hyper and io errors repeat each other's
//! text down their `source()` chains, so [`one_line`] walks the chain and
//! keeps only what is new.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration::format_go_duration;

/// Which step of connecting was running when the connect timeout fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectStage {
    /// Resolving the host name and opening the TCP or unix socket.
    Dial,
    /// The TLS handshake.
    TlsHandshake,
    /// Waiting for the server's first HTTP/2 SETTINGS frame.
    Settings,
}

impl std::fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectStage::Dial => "while opening the connection",
            ConnectStage::TlsHandshake => "during the TLS handshake",
            ConnectStage::Settings => "waiting for the server's HTTP/2 SETTINGS frame",
        })
    }
}

/// Why a connection could not be established. Every variant keeps the
/// precise reason; [`ConnectError::code`] gives a stable machine name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connect timeout elapsed.
    #[error("timed out after {} {stage}", format_go_duration(*after))]
    Timeout {
        /// The effective connect timeout.
        after: Duration,
        /// What was still running.
        stage: ConnectStage,
    },
    /// Nothing listens there (TCP RST on connect, or a stale unix socket).
    #[error("connection refused by {addr}")]
    Refused {
        /// The address that refused (`ip:port` or the socket path).
        addr: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve host \"{host}\": {detail}")]
    Dns {
        /// The host name.
        host: String,
        /// The resolver's reason.
        detail: String,
    },
    /// The unix socket file does not exist.
    #[error("no such unix socket: {}", path.display())]
    NoSuchSocket {
        /// The socket path.
        path: PathBuf,
    },
    /// The server's certificate chain is not trusted (unknown CA, expired,
    /// not yet valid, a CA certificate served as the server's own, not for
    /// server authentication, bad signature, ...). One code for all of
    /// them: what an operator must fix differs, what a script does (fail
    /// the check) does not, and the message names the cause.
    #[error("server certificate is not trusted: {detail}")]
    TlsUntrusted {
        /// The cause in words, e.g. `expired at 2001-01-01T00:00:00Z
        /// (current time ...)`; never rustls's `Debug` text.
        detail: String,
    },
    /// The server's certificate does not cover the name we verify against.
    #[error("server certificate is not valid for \"{name}\": {detail}")]
    TlsNameMismatch {
        /// The name checked (the `-tls-server-name`, or the host).
        name: String,
        /// rustls's reason.
        detail: String,
    },
    /// We spoke TLS and the server answered in plaintext.
    #[error("server answered the TLS handshake in plaintext (is it serving without TLS?)")]
    TlsPlaintextServer,
    /// The server refused our client certificate, or asked for one and we
    /// had none. Under TLS 1.3 this only shows at the first read after the
    /// handshake, as the server's alert or, when its TCP reset overtakes the
    /// alert, as a bare reset or close; both give this error, with the same
    /// message.
    #[error("{}", client_cert_reason(*.offered))]
    TlsClientCertRejected {
        /// Whether we sent a certificate (false: the server asked for one
        /// and no `-tls-client-cert` was given).
        offered: bool,
        /// The server's TLS alert (e.g. `unknown_ca`), when it was read
        /// before the reset. Which of the two arrives first is a race, so
        /// the message does not depend on it.
        alert: Option<String>,
    },
    /// Any other TLS failure (alert, protocol mismatch, ...).
    #[error("TLS handshake failed: {detail}")]
    Tls {
        /// rustls's reason, in words.
        detail: String,
    },
    /// The TLS material could not be loaded, or a header is not valid
    /// metadata (only when [`ConnectOptions`](crate::ConnectOptions) were built
    /// by hand: `ConnArgs::to_options` checks both).
    #[error("{detail}")]
    Config {
        /// What was wrong.
        detail: String,
    },
    /// The server does not speak HTTP/2 (an HTTP/1 reply, or bytes that are
    /// not an HTTP/2 SETTINGS frame).
    #[error("server does not speak HTTP/2: {detail}")]
    NotHttp2 {
        /// What arrived instead.
        detail: String,
    },
    /// The server closed the connection before sending SETTINGS.
    #[error("server closed the connection {stage_text}")]
    Closed {
        /// When it happened, e.g. "before sending HTTP/2 SETTINGS".
        stage_text: &'static str,
    },
    /// The server reset the connection.
    #[error("connection reset by the server {stage_text}")]
    Reset {
        /// When it happened.
        stage_text: &'static str,
    },
    /// Any other I/O failure.
    #[error("{detail}")]
    Io {
        /// The one-line reason.
        detail: String,
    },
}

fn client_cert_reason(offered: bool) -> &'static str {
    if offered {
        "server rejected the client certificate"
    } else {
        "server requires a client certificate (-tls-client-cert)"
    }
}

impl ConnectError {
    /// A stable UPPER_SNAKE name for the failure, for JSON output and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Timeout { .. } => "TIMEOUT",
            ConnectError::Refused { .. } => "REFUSED",
            ConnectError::Dns { .. } => "DNS",
            ConnectError::NoSuchSocket { .. } => "NO_SUCH_SOCKET",
            ConnectError::TlsUntrusted { .. } => "TLS_UNTRUSTED",
            ConnectError::TlsNameMismatch { .. } => "TLS_NAME_MISMATCH",
            ConnectError::TlsPlaintextServer => "TLS_PLAINTEXT_SERVER",
            ConnectError::TlsClientCertRejected { .. } => "TLS_CLIENT_CERT_REJECTED",
            ConnectError::Tls { .. } => "TLS",
            ConnectError::Config { .. } => "CONFIG",
            ConnectError::NotHttp2 { .. } => "NOT_HTTP2",
            ConnectError::Closed { .. } => "CLOSED",
            ConnectError::Reset { .. } => "RESET",
            ConnectError::Io { .. } => "IO",
        }
    }

    /// True when the connect timeout elapsed (grpc_health_probe prints
    /// these as `timeout: ...` rather than `error: ...`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, ConnectError::Timeout { .. })
    }
}

/// Why an RPC on a READY connection failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The RPC timeout elapsed locally (the same deadline is also sent to
    /// the server as `grpc-timeout`).
    #[error("DEADLINE_EXCEEDED: rpc did not complete within {}", format_go_duration(*.0))]
    Timeout(Duration),
    /// The server (or the transport) ended the call with a status.
    #[error("{}", status_line(.0))]
    Status(tonic::Status),
}

impl RpcError {
    /// True for a local timeout and for a `DEADLINE_EXCEEDED` status.
    pub fn is_timeout(&self) -> bool {
        match self {
            RpcError::Timeout(_) => true,
            RpcError::Status(status) => status.code() == tonic::Code::DeadlineExceeded,
        }
    }

    /// The gRPC status code (`DeadlineExceeded` for a local timeout).
    pub fn code(&self) -> tonic::Code {
        match self {
            RpcError::Timeout(_) => tonic::Code::DeadlineExceeded,
            RpcError::Status(status) => status.code(),
        }
    }
}

/// `UNAVAILABLE`, `NOT_FOUND`, ...: the names the gRPC spec and every other
/// implementation print.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The name grpc-go prints for a health `ServingStatus`: the enum name
/// (`SERVING`), or the bare number for a value this proto does not know.
pub fn serving_status_name(raw: i32) -> String {
    use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
    ServingStatus::try_from(raw).map_or_else(|_| raw.to_string(), |s| s.as_str_name().to_owned())
}

fn status_line(status: &tonic::Status) -> String {
    let mut text = status.message().to_owned();
    // A transport failure arrives as a status whose message is generic and
    // whose source chain has the real reason.
    if let Some(source) = StdError::source(status) {
        let more = one_line(source);
        if !text.contains(&more) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&more);
        }
    }
    let text = flatten(&text);
    if text.is_empty() {
        code_name(status.code()).to_owned()
    } else {
        format!("{}: {text}", code_name(status.code()))
    }
}

/// One line from an error and its `source()` chain, dropping each message
/// that repeats text already said (tonic and hyper embed their sources'
/// messages in their own).
pub fn one_line(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let msg = flatten(&e.to_string());
        let repeated = parts.iter().any(|p| p.contains(&msg));
        if !msg.is_empty() && !repeated {
            // A later, more specific message may contain an earlier generic
            // one; keep the specific one only.
            parts.retain(|p| !msg.contains(p.as_str()));
            parts.push(msg);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Newlines and runs of blanks become single spaces: every message we print
/// is one line.
fn flatten(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Chain(&'static str, Option<Box<Chain>>);
    impl std::fmt::Display for Chain {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl StdError for Chain {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|c| c as _)
        }
    }

    #[test]
    fn one_line_drops_repeats_and_newlines() {
        let err = Chain(
            "transport error",
            Some(Box::new(Chain(
                "error trying to connect: connection refused",
                Some(Box::new(Chain("connection\nrefused", None))),
            ))),
        );
        assert_eq!(
            one_line(&err),
            "transport error: error trying to connect: connection refused"
        );
    }

    #[test]
    fn rpc_error_is_one_line_with_code_name() {
        let e = RpcError::Status(tonic::Status::not_found("unknown\nservice"));
        assert_eq!(e.to_string(), "NOT_FOUND: unknown service");
        let e = RpcError::Timeout(Duration::from_millis(1500));
        assert_eq!(
            e.to_string(),
            "DEADLINE_EXCEEDED: rpc did not complete within 1.5s"
        );
        assert!(e.is_timeout());
        assert_eq!(
            RpcError::Status(tonic::Status::unavailable("")).to_string(),
            "UNAVAILABLE"
        );
    }
}
