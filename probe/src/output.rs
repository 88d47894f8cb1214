//! What a run found, and how it is printed.
//!
//! One data model ([`Report`]) feeds both printers: the stderr lines worded
//! exactly as `grpc_health_probe` words them (log alerts and scripts match
//! them), and the JSON object on stdout whose shape is fixed by
//! `probe/schema/result.schema.json`.

use std::time::Duration;

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use serde_json::{Value, json};

use crate::exit::Status;
use grpc_toolkit_conn::escape::escape_cut;
use grpc_toolkit_conn::{
    ConnectError, RpcError, code_name, flatten, format_go_duration, serving_status_name,
};

/// The most characters of a name (a service, an address) a stderr line
/// echoes; the rest is cut with a marker.
pub const NAME_LIMIT: usize = 256;
/// The most characters of a message (a server's grpc-message, an error
/// chain) a stderr line echoes.
pub const MESSAGE_LIMIT: usize = 1024;

/// `text` (reference stderr lines only) or `json` (plus one object on stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Human and log-matcher friendly lines on stderr.
    #[default]
    Text,
    /// The stderr lines, plus one JSON object on stdout.
    Json,
}

/// Which side a failure came from; the JSON `error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No READY connection.
    Connect,
    /// The health RPC failed on a READY connection.
    Rpc,
}

/// One failure, as JSON reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Connect or RPC.
    pub kind: FailureKind,
    /// For RPCs the UPPER_SNAKE gRPC code; for connects the reason code of
    /// [`ConnectError::code`] (or `CANCELLED` on a signal).
    pub code: String,
    /// The one-line message (the same text the stderr line carries).
    pub message: String,
}

impl Failure {
    /// From a connect error.
    pub fn connect(err: &ConnectError) -> Failure {
        Failure {
            kind: FailureKind::Connect,
            code: err.code().to_owned(),
            message: err.to_string(),
        }
    }

    /// From an RPC error.
    pub fn rpc(err: &RpcError) -> Failure {
        Failure {
            kind: FailureKind::Rpc,
            code: code_name(err.code()).to_owned(),
            message: err.to_string(),
        }
    }

    /// A run cut short by SIGINT/SIGTERM.
    pub fn cancelled(kind: FailureKind, signal: &str) -> Failure {
        Failure {
            kind,
            code: "CANCELLED".to_owned(),
            message: format!("cancellation received (signal: {signal})"),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "kind": match self.kind {
                FailureKind::Connect => "connect",
                FailureKind::Rpc => "rpc",
            },
            "code": self.code,
            "message": self.message,
        })
    }
}

/// The answer for one service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceResult {
    /// The service name (`""` is the whole server).
    pub service: String,
    /// The status the server answered, when it answered.
    pub status: Option<ServingStatus>,
    /// How long this service's RPC took, when it ran.
    pub elapsed: Option<Duration>,
    /// Why the RPC failed, when it did.
    pub error: Option<Failure>,
    /// With `--liveness`: the answer that showed the server alive.
    pub alive: Option<Liveness>,
}

/// With `--liveness`, what counted as the server answering the Check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// A serving status, whichever.
    ServingStatus,
    /// A gRPC status the server sent (RESOURCE_EXHAUSTED, UNAVAILABLE, ...).
    GrpcStatus,
    /// RST_STREAM REFUSED_STREAM on the established connection.
    RefusedStream,
}

impl Liveness {
    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Liveness::ServingStatus => "serving_status",
            Liveness::GrpcStatus => "grpc_status",
            Liveness::RefusedStream => "refused_stream",
        }
    }
}

impl ServiceResult {
    /// A service the run never got to ask about (the connection failed).
    pub fn not_asked(service: &str) -> ServiceResult {
        ServiceResult {
            service: service.to_owned(),
            status: None,
            elapsed: None,
            error: None,
            alive: None,
        }
    }

    /// The exit status this result alone would give.
    pub fn exit_status(&self) -> Status {
        if self.alive.is_some() {
            return Status::Serving;
        }
        match (&self.error, self.status) {
            (Some(_), _) => Status::RpcFailure,
            (None, Some(ServingStatus::Serving)) => Status::Serving,
            (None, Some(_)) => Status::NotServing,
            (None, None) => Status::ConnectFailure,
        }
    }

    /// This result as a JSON object (the `results[]` items, and the watch
    /// lines without `time`).
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "service": self.service,
            "status": self.status.map(|s| s.as_str_name()),
            "elapsed_ms": self.elapsed.map(millis),
            "error": self.error.as_ref().map(Failure::to_json),
        });
        if let Some(alive) = self.alive {
            value["liveness"] = alive.name().into();
        }
        value
    }
}

/// Everything one run found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `-addr` as given.
    pub target: String,
    /// The exit status.
    pub status: Status,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// The run-level failure: the connect failure, or else the first
    /// service's RPC failure.
    pub error: Option<Failure>,
    /// One entry per service, in the order asked (or listed).
    pub results: Vec<ServiceResult>,
}

impl Report {
    /// The JSON object printed on stdout with `--output json`.
    pub fn to_json(&self) -> Value {
        json!({
            "target": self.target,
            "exit_code": self.status.code(),
            "elapsed_ms": millis(self.elapsed),
            "error": self.error.as_ref().map(Failure::to_json),
            "results": self.results.iter().map(ServiceResult::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Milliseconds as a float with microsecond resolution.
pub fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// `status: SERVING` or `service unhealthy (responded with "NOT_SERVING")`.
pub fn status_line(raw: i32) -> String {
    if raw == ServingStatus::Serving as i32 {
        "status: SERVING".to_owned()
    } else {
        format!(
            "service unhealthy (responded with \"{}\")",
            serving_status_name(raw)
        )
    }
}

/// A timeout as messages show it: Go's format, rounded to the millisecond
/// when it was cut by `--timeout` (299.993167ms reads as 300ms).
pub fn shown(d: Duration) -> String {
    if d >= Duration::from_millis(10) && !d.subsec_nanos().is_multiple_of(1_000_000) {
        let ms = (d.as_nanos() + 500_000) / 1_000_000;
        format_go_duration(Duration::from_millis(ms as u64))
    } else {
        format_go_duration(d)
    }
}

/// The reference tool's connect failure line.
pub fn connect_error_line(addr: &str, err: &ConnectError, effective_timeout: Duration) -> String {
    let addr = escape_cut(addr, NAME_LIMIT);
    if err.is_timeout() {
        format!(
            "timeout: failed to connect service \"{addr}\" within {}",
            shown(effective_timeout)
        )
    } else {
        // The reason may quote the server (its certificate's names, its
        // HTTP/1 answer, its TLS alert).
        format!(
            "error: failed to connect service at \"{addr}\": {}",
            escape_cut(&err.to_string(), MESSAGE_LIMIT)
        )
    }
}

/// The reference tool's health RPC failure line; `what` names the RPC for
/// List and Watch, whose failures mean something else.
pub fn rpc_error_line(err: &RpcError, effective_timeout: Duration) -> String {
    match err {
        RpcError::Status(status) if status.code() == tonic::Code::Unimplemented => format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
            escape_cut(&flatten(status.message()), MESSAGE_LIMIT)
        ),
        err if err.is_timeout() => format!(
            "timeout: health rpc did not complete within {}",
            shown(effective_timeout)
        ),
        err => format!(
            "error: health rpc failed: {}",
            escape_cut(&err.to_string(), MESSAGE_LIMIT)
        ),
    }
}

/// `SERVICE: ` in front of a line when several services share stderr;
/// the whole-server service `""` is shown as `""`. The name is escaped and
/// cut: a List answer's names come from the server, and one with a newline
/// must not forge a line of its own.
pub fn prefixed(service: &str, line: &str, with_prefix: bool) -> String {
    if !with_prefix {
        line.to_owned()
    } else if service.is_empty() {
        format!("\"\": {line}")
    } else {
        format!("{}: {line}", escape_cut(service, NAME_LIMIT))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_worded_as_the_reference_tool_words_them() {
        assert_eq!(status_line(1), "status: SERVING");
        assert_eq!(
            status_line(2),
            "service unhealthy (responded with \"NOT_SERVING\")"
        );
        assert_eq!(
            status_line(3),
            "service unhealthy (responded with \"SERVICE_UNKNOWN\")"
        );
        assert_eq!(status_line(9), "service unhealthy (responded with \"9\")");
    }

    #[test]
    fn rpc_lines_name_the_effective_timeout() {
        let timeout = RpcError::Timeout(Duration::from_millis(300));
        assert_eq!(
            rpc_error_line(&timeout, Duration::from_millis(300)),
            "timeout: health rpc did not complete within 300ms"
        );
        let unimplemented = RpcError::Status(tonic::Status::unimplemented("no\nhealth"));
        assert_eq!(
            rpc_error_line(&unimplemented, Duration::from_secs(1)),
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): no health"
        );
        let not_found = RpcError::Status(tonic::Status::not_found("unknown service"));
        assert_eq!(
            rpc_error_line(&not_found, Duration::from_secs(1)),
            "error: health rpc failed: NOT_FOUND: unknown service"
        );
    }

    #[test]
    fn server_text_is_escaped_and_cut_in_lines() {
        assert_eq!(
            prefixed("evil\nx: status: SERVING", "status: SERVING", true),
            "evil\\nx: status: SERVING: status: SERVING"
        );
        assert_eq!(
            prefixed("\u{202e}gnivres", "status: SERVING", true),
            "\\u{202e}gnivres: status: SERVING"
        );
        let long = RpcError::Status(tonic::Status::internal(format!(
            "\u{1b}]0;{}",
            "x".repeat(5000)
        )));
        let line = rpc_error_line(&long, Duration::from_secs(1));
        assert!(
            line.starts_with("error: health rpc failed: INTERNAL: \\x1b]0;xxx"),
            "{line}"
        );
        assert!(line.ends_with("…[+3990 chars]"), "{line}");
        assert!(!line.contains('\u{1b}'));
    }

    #[test]
    fn prefixes_only_with_several_services() {
        assert_eq!(prefixed("a", "status: SERVING", false), "status: SERVING");
        assert_eq!(prefixed("a", "status: SERVING", true), "a: status: SERVING");
        assert_eq!(
            prefixed("", "status: SERVING", true),
            "\"\": status: SERVING"
        );
    }

    #[test]
    fn results_map_to_exit_statuses() {
        let mut r = ServiceResult::not_asked("x");
        assert_eq!(r.exit_status(), Status::ConnectFailure);
        r.status = Some(ServingStatus::NotServing);
        assert_eq!(r.exit_status(), Status::NotServing);
        r.status = Some(ServingStatus::Serving);
        assert_eq!(r.exit_status(), Status::Serving);
        r.error = Some(Failure::rpc(&RpcError::Timeout(Duration::from_secs(1))));
        assert_eq!(r.exit_status(), Status::RpcFailure);
    }
}
