//! The two failure types callers tell apart: [`ConnectError`] (we never got
//! a READY connection) and [`RpcError`] (connected, but the call failed).
//! Both display as one line: tonic, hyper and io errors repeat each other's
//! text down their `source()` chains, so [`one_line`] walks the chain and
//! keeps only what is new.
//!
//! Every classifier and message for a failure lives in this module tree,
//! next to the types: [`io`] for sockets and HTTP/2, [`tls`] for
//! certificates, alerts and client authentication, [`der`] for the one
//! certificate field the words need. Tracing a message means reading here.

pub(crate) mod der;
pub(crate) mod io;
pub(crate) mod tls;

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

/// Options built by hand (not through `ConnArgs`) can still name a file
/// that cannot be read or a header that cannot be sent: then connecting
/// fails with the same words a usage error has.
impl From<UsageError> for ConnectError {
    fn from(err: UsageError) -> Self {
        ConnectError::Config {
            detail: err.message().to_owned(),
        }
    }
}

/// A bad command line, for every binary of the toolkit: exit 1, one line
/// on stderr, nothing attempted. Two kinds, because grpc_health_probe
/// prints them differently and scripts match its lines: Go's flag package
/// reports bad syntax as a bare line (`flag provided but not defined: -x`),
/// the tool's own rules as `error: …` ([`UsageError::go_line`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    message: String,
    flag_syntax: bool,
}

impl UsageError {
    /// A rule the flags break (`-addr not specified`).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            flag_syntax: false,
        }
    }

    /// A line as Go's flag package words it (an unknown flag, a value that
    /// does not parse).
    pub fn flag_syntax(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            flag_syntax: true,
        }
    }

    /// The message, without any prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The line grpc_health_probe prints for it: flag syntax as it is,
    /// every other rule behind `error: `.
    pub fn go_line(&self) -> String {
        if self.flag_syntax {
            self.message.clone()
        } else {
            format!("error: {}", self.message)
        }
    }
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

    /// The gRPC status code (`DeadlineExceeded` for a local timeout;
    /// `Unavailable` when the server sent GOAWAY or refused the stream, as
    /// grpc-go reports both).
    pub fn code(&self) -> tonic::Code {
        match self {
            RpcError::Timeout(_) => tonic::Code::DeadlineExceeded,
            RpcError::Status(status) if h2_cause(status).is_some() => tonic::Code::Unavailable,
            RpcError::Status(status) => status.code(),
        }
    }

    /// True when the server reset the call's stream with REFUSED_STREAM:
    /// it is up, and declined this call (too many streams).
    pub fn is_refused_stream(&self) -> bool {
        matches!(self, RpcError::Status(s) if matches!(h2_cause(s), Some(H2Cause::Refused)))
    }

    /// True when the status is the server's own answer (a `grpc-status`
    /// it sent, or a protocol rule it broke), not the transport's report of
    /// a connection that failed under the call.
    pub fn is_servers_answer(&self) -> bool {
        matches!(self, RpcError::Status(s) if StdError::source(s).is_none())
    }
}

/// What HTTP/2 said about a call that ended without an answer.
enum H2Cause {
    /// The server sent GOAWAY (with this reason) before answering.
    GoAway(h2::Reason),
    /// The server reset the stream with REFUSED_STREAM.
    Refused,
}

fn h2_cause(status: &tonic::Status) -> Option<H2Cause> {
    let mut next = StdError::source(status);
    while let Some(err) = next {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return match h2.reason() {
                Some(reason) if h2.is_go_away() => Some(H2Cause::GoAway(reason)),
                Some(h2::Reason::REFUSED_STREAM) if h2.is_remote() => Some(H2Cause::Refused),
                _ => None,
            };
        }
        next = err.source();
    }
    None
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

fn status_line(status: &tonic::Status) -> String {
    match h2_cause(status) {
        Some(H2Cause::GoAway(reason)) => {
            return format!(
                "UNAVAILABLE: the server closed the connection (GOAWAY, {}) before answering",
                reason_name(reason)
            );
        }
        Some(H2Cause::Refused) => {
            return "UNAVAILABLE: the server refused the call's stream (REFUSED_STREAM)".to_owned();
        }
        None => {}
    }
    let mut text = status.message().to_owned();
    // A transport failure arrives as a status whose message is generic and
    // whose source chain has the real reason.
    if let Some(source) = StdError::source(status) {
        let more = one_line(source);
        if more.contains(&text) {
            // "transport error" and a chain that starts with it: once.
            text = more;
        } else if !text.contains(&more) {
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

/// `NO_ERROR`, `ENHANCE_YOUR_CALM`, ...: an HTTP/2 error code's name.
fn reason_name(reason: h2::Reason) -> String {
    // h2's Debug of a known reason is its name; of an unknown one, a
    // `Reason(n)` dump.
    let name = format!("{reason:?}");
    if name.starts_with("Reason(") {
        format!("error code {}", u32::from(reason))
    } else {
        name
    }
}

/// io::Error text without the "(os error N)" suffix. Here, not in `io`,
/// because `io` and `tls` both word I/O errors and must not import each
/// other.
pub(crate) fn io_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_ascii_lowercase(),
        None => text,
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
pub fn flatten(text: &str) -> String {
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
