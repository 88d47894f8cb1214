//! Running a validated [`Config`]: connect, ask, report, with one deadline
//! and cancellation by signal.
//!
//! Everything here is async and writes through the two `Write`s it is given,
//! so tests run it in-process against in-process servers; the binary wraps
//! it in a current-thread runtime (see [`crate::run_cli`]).
//!
//! Time: `--timeout` sets one deadline `D`; the connect phase gets
//! `min(-connect-timeout, D - now)` and each RPC `min(-rpc-timeout, D -
//! now)`, and the messages print that effective value. `--wait` retries
//! whole attempts with backoff until serving or its own end (capped by `D`).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::{Duration, Instant};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use grpc_toolkit_proto::health::v1::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};

use crate::cli::{Config, Mode};
use crate::exit::Status;
use crate::output::{
    Failure, FailureKind, Liveness, MESSAGE_LIMIT, NAME_LIMIT, OutputFormat, Report, ServiceResult,
    connect_error_line, prefixed, rpc_error_line, status_line,
};
use grpc_toolkit_conn::escape::escape_cut;
use grpc_toolkit_conn::{self as conn, Connection, RpcError, format_go_duration};

/// Resolves with the signal's Go name (`interrupt`, `terminated`) when the
/// run must stop.
pub type Cancel<'a> = Pin<Box<dyn Future<Output = &'static str> + 'a>>;

/// A cancel that never fires (tests, and runs without signal handling).
pub fn never_cancel() -> Cancel<'static> {
    Box::pin(std::future::pending())
}

/// The health RPCs made unary, by path (see [`conn::StrictUnary`]).
const CHECK: &str = "/grpc.health.v1.Health/Check";
const LIST: &str = "/grpc.health.v1.Health/List";

/// First backoff between `--wait` attempts; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Backoff cap: a startup probe should notice readiness within a second.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Where the run writes.
pub struct Sinks<'a> {
    /// JSON (and nothing else) goes here.
    pub stdout: &'a mut dyn Write,
    /// The reference tool's lines go here.
    pub stderr: &'a mut dyn Write,
}

impl Sinks<'_> {
    fn line(&mut self, text: &str) {
        // Each line's parts from the server or the user were escaped and
        // cut where they were put in; escaping the whole line again (which
        // changes nothing already escaped) guards against a part that was
        // missed.
        let text = grpc_toolkit_conn::escape::escape(text);
        // A closed stderr must not turn a health answer into a crash.
        let _ = writeln!(self.stderr, "{text}");
    }
    fn json(&mut self, value: &serde_json::Value) {
        let _ = writeln!(self.stdout, "{value}");
        let _ = self.stdout.flush();
    }
}

/// Runs `config` to the end and returns its exit status, having printed
/// its lines (and JSON) to `sinks`.
pub async fn execute(config: &Config, mut cancel: Cancel<'_>, sinks: &mut Sinks<'_>) -> Status {
    let start = Instant::now();
    let deadline = config.timeout.map(|t| start + t);
    if !config.ignored.is_empty() {
        let quoted = &config.ignored;
        sinks.line(&format!(
            "warning: ignoring {} after the flags, as grpc_health_probe does: {}",
            if quoted.len() == 1 {
                "an argument"
            } else {
                "arguments"
            },
            quoted.join(" ")
        ));
    }
    if config.verbose {
        verbose_options(config, sinks);
    }
    match config.mode {
        Mode::Check | Mode::List => {
            let report = attempts(config, start, deadline, &mut cancel, sinks).await;
            if config.format == OutputFormat::Json {
                sinks.json(&report.to_json());
            }
            report.status
        }
        Mode::Watch => watch(config, deadline, &mut cancel, sinks).await,
    }
}

fn verbose_options(config: &Config, sinks: &mut Sinks<'_>) {
    let c = &config.connect;
    sinks.line("parsed options:");
    sinks.line(&format!(
        "> addr={} conn_timeout={} rpc_timeout={}",
        escape_cut(&config.addr, NAME_LIMIT),
        format_go_duration(c.connect_timeout),
        format_go_duration(config.rpc_timeout)
    ));
    if !c.headers.is_empty() {
        // Names only: values may be credentials.
        let names: Vec<&str> = c.headers.iter().map(|h| h.name.as_str()).collect();
        sinks.line(&format!("> headers: {} (values hidden)", names.join(", ")));
    }
    sinks.line(&format!("> tls={}", c.tls.is_some()));
    if let Some(tls) = &c.tls {
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        sinks.line(&format!("  > no-verify={}", tls.insecure_skip_verify));
        sinks.line(&format!("  > ca-cert={}", path(&tls.ca_file)));
        sinks.line(&format!("  > client-cert={}", path(&tls.client_cert)));
        sinks.line(&format!("  > client-key={}", path(&tls.client_key)));
        sinks.line(&format!(
            "  > server-name={}",
            tls.server_name.as_deref().unwrap_or_default()
        ));
    }
}

/// The smaller of `own` and the time left before `until`.
fn effective(own: Duration, until: Option<Instant>) -> Duration {
    match until {
        Some(until) => own.min(until.saturating_duration_since(Instant::now())),
        None => own,
    }
}

/// One attempt's findings, before deciding whether to retry.
struct Attempt {
    lines: Vec<String>,
    error: Option<Failure>,
    results: Vec<ServiceResult>,
    status: Status,
    cancelled: bool,
}

impl Attempt {
    /// An attempt that ended before any service answered.
    fn unanswered(
        config: &Config,
        lines: Vec<String>,
        failure: Failure,
        status: Status,
        cancelled: bool,
    ) -> Attempt {
        Attempt {
            lines,
            error: Some(failure),
            results: config
                .services
                .iter()
                .map(|s| ServiceResult::not_asked(s))
                .collect(),
            status,
            cancelled,
        }
    }

    /// The attempt that decides the run: print its lines, then report it.
    fn finish(self, config: &Config, start: Instant, sinks: &mut Sinks<'_>) -> Report {
        for line in &self.lines {
            sinks.line(line);
        }
        Report {
            target: config.addr.clone(),
            status: self.status,
            elapsed: start.elapsed(),
            error: self.error,
            results: self.results,
        }
    }
}

/// Check (or List) once, or with `--wait` until serving or out of time.
async fn attempts(
    config: &Config,
    start: Instant,
    deadline: Option<Instant>,
    cancel: &mut Cancel<'_>,
    sinks: &mut Sinks<'_>,
) -> Report {
    let wait_until = config.wait.map(|w| {
        let end = start + w;
        deadline.map_or(end, |d| d.min(end))
    });
    let until = wait_until.or(deadline);
    let mut backoff = FIRST_BACKOFF;
    let mut number = 1u32;
    loop {
        let attempt = attempt(config, until, cancel, sinks).await;
        let retry = match wait_until {
            Some(end) if !attempt.cancelled && attempt.status != Status::Serving => {
                Instant::now() + backoff < end
            }
            _ => false,
        };
        if !retry {
            return attempt.finish(config, start, sinks);
        }
        if config.verbose {
            for line in &attempt.lines {
                sinks.line(&format!("attempt {number}: {line}"));
            }
            sinks.line(&format!(
                "attempt {number}: retrying in {}",
                format_go_duration(backoff)
            ));
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            signal = cancel.as_mut() => {
                sinks.line(&format!("cancellation received (signal: {signal})"));
                return attempt.finish(config, start, sinks);
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        number += 1;
    }
}

/// Why an attempt did not get a connection.
struct NotConnected {
    /// The stderr lines, as the reference tool prints them (a signal gives
    /// two: the cancellation and the connect failure).
    lines: Vec<String>,
    /// The JSON `error`.
    failure: Failure,
    /// Whether a signal ended the attempt rather than the server.
    cancelled: bool,
}

/// Dials with the effective connect timeout (see [`conn::Opening`]), or
/// reports why not.
async fn open(
    config: &Config,
    until: Option<Instant>,
    cancel: &mut Cancel<'_>,
    sinks: &mut Sinks<'_>,
) -> Result<(conn::Opening, Duration), NotConnected> {
    let mut options = config.connect.clone();
    options.connect_timeout = effective(options.connect_timeout, until);
    if config.verbose {
        sinks.line("establishing connection");
    }
    tokio::select! {
        result = conn::open(&options) => result
            .map(|opening| (opening, options.connect_timeout))
            .map_err(|err| not_connected(config, &err, options.connect_timeout)),
        signal = cancel.as_mut() => Err(cancelled_connect(config, signal)),
    }
}

/// Waits for the server's SETTINGS on an opened connection, or reports why
/// it did not come.
async fn ready(
    config: &Config,
    (opening, connect_timeout): (conn::Opening, Duration),
    cancel: &mut Cancel<'_>,
    sinks: &mut Sinks<'_>,
) -> Result<Connection, NotConnected> {
    tokio::select! {
        result = opening.ready() => match result {
            Ok(connection) => {
                if config.verbose {
                    sinks.line(&format!(
                        "connection established (took {})",
                        format_go_duration(connection.established_in())
                    ));
                }
                Ok(connection)
            }
            Err(err) => Err(not_connected(config, &err, connect_timeout)),
        },
        signal = cancel.as_mut() => Err(cancelled_connect(config, signal)),
    }
}

/// Connects and waits until the connection is ready.
async fn connect(
    config: &Config,
    until: Option<Instant>,
    cancel: &mut Cancel<'_>,
    sinks: &mut Sinks<'_>,
) -> Result<Connection, NotConnected> {
    let opened = open(config, until, cancel, sinks).await?;
    ready(config, opened, cancel, sinks).await
}

fn not_connected(config: &Config, err: &conn::ConnectError, timeout: Duration) -> NotConnected {
    NotConnected {
        lines: vec![connect_error_line(&config.addr, err, timeout)],
        failure: Failure::connect(err),
        cancelled: false,
    }
}

fn cancelled_connect(config: &Config, signal: &'static str) -> NotConnected {
    let failure = Failure::cancelled(FailureKind::Connect, signal);
    NotConnected {
        lines: vec![
            failure.message.clone(),
            format!(
                "error: failed to connect service at \"{}\": context canceled",
                config.addr
            ),
        ],
        failure,
        cancelled: true,
    }
}

fn connect_failed(config: &Config, why: NotConnected) -> Attempt {
    Attempt::unanswered(
        config,
        why.lines,
        why.failure,
        Status::ConnectFailure,
        why.cancelled,
    )
}

async fn attempt(
    config: &Config,
    until: Option<Instant>,
    cancel: &mut Cancel<'_>,
    sinks: &mut Sinks<'_>,
) -> Attempt {
    let opened = match open(config, until, cancel, sinks).await {
        Ok(opened) => opened,
        Err(why) => return connect_failed(config, why),
    };
    // The RPCs go out now, with the HTTP/2 preface, rather than a round
    // trip later; their answers count only once the connection is ready.
    let sent_timeout = effective(config.rpc_timeout, until);
    let connection = opened.0.connection();
    let in_flight = match config.mode {
        Mode::List => {
            let client = connection.strict_unary();
            let request = connection.request(HealthListRequest {}, Some(sent_timeout));
            Asked::List(InFlight::send(
                [async move { client.call(request, LIST).await }],
                sent_timeout,
            ))
        }
        _ => Asked::Check(InFlight::send(
            config.services.iter().map(|service| {
                let client = connection.strict_unary();
                let request = connection.request(
                    HealthCheckRequest {
                        service: service.clone(),
                    },
                    Some(sent_timeout),
                );
                async move { client.call(request, CHECK).await }
            }),
            sent_timeout,
        )),
    };
    let connection = match ready(config, opened, cancel, sinks).await {
        Ok(connection) => connection,
        // Dropping `in_flight` aborts the RPCs.
        Err(why) => return connect_failed(config, why),
    };
    let connect_took = connection.established_in();
    let rpc_timeout = effective(config.rpc_timeout, until);
    let rpc_started = Instant::now();
    let asked = match in_flight {
        Asked::List(rpc) => match rpc.answers(rpc_started, rpc_timeout, cancel).await {
            Ok(mut answers) => Ok(list(answers.remove(0), rpc_timeout)),
            Err(signal) => Err(signal),
        },
        Asked::Check(rpcs) => rpcs
            .answers(rpc_started, rpc_timeout, cancel)
            .await
            .map(|answers| checked(&config.services, answers, rpc_timeout, config.liveness)),
    };
    close(connection).await;
    let mut attempt = match asked {
        Ok(attempt) => attempt,
        Err(signal) => {
            let failure = Failure::cancelled(FailureKind::Rpc, signal);
            let lines = vec![
                failure.message.clone(),
                "error: health rpc failed: CANCELLED: context canceled".to_owned(),
            ];
            Attempt::unanswered(config, lines, failure, Status::RpcFailure, true)
        }
    };
    if config.verbose && attempt.status == Status::Serving {
        attempt.lines.insert(
            0,
            format!(
                "time elapsed: connect={} rpc={}",
                format_go_duration(connect_took),
                format_go_duration(rpc_started.elapsed())
            ),
        );
    }
    attempt
}

/// Graceful close, so the server sees GOAWAY instead of a broken
/// connection (the layer bounds the wait).
async fn close(connection: Connection) {
    connection.close().await;
}

/// The RPCs of one attempt, sent before the connection was ready.
enum Asked {
    Check(InFlight<HealthCheckResponse>),
    List(InFlight<HealthListResponse>),
}

/// One RPC's outcome, and how long after the connection was ready it came.
struct Answer<R> {
    outcome: Result<R, RpcError>,
    elapsed: Duration,
}

/// RPCs running as tasks, all at once on one connection.
struct InFlight<R> {
    tasks: tokio::task::JoinSet<(usize, Result<tonic::Response<R>, tonic::Status>, Instant)>,
    count: usize,
    sent: Instant,
    sent_timeout: Duration,
}

impl<R: Send + 'static> InFlight<R> {
    /// Starts `rpcs`, which carry `sent_timeout` as their gRPC deadline.
    fn send<F>(rpcs: impl IntoIterator<Item = F>, sent_timeout: Duration) -> Self
    where
        F: Future<Output = Result<tonic::Response<R>, tonic::Status>> + Send + 'static,
    {
        let mut tasks = tokio::task::JoinSet::new();
        let mut count = 0;
        for (index, rpc) in rpcs.into_iter().enumerate() {
            tasks.spawn(async move { (index, rpc.await, Instant::now()) });
            count += 1;
        }
        Self {
            tasks,
            count,
            sent: Instant::now(),
            sent_timeout,
        }
    }

    /// Every answer, in the order sent. The local deadline is `limit`
    /// after the connection became ready (`ready_at`), as if they had been
    /// sent then; unanswered RPCs are timeouts. A signal ends the wait.
    async fn answers(
        mut self,
        ready_at: Instant,
        limit: Duration,
        cancel: &mut Cancel<'_>,
    ) -> Result<Vec<Answer<R>>, &'static str> {
        let mut answers: Vec<Option<Answer<R>>> = (0..self.count).map(|_| None).collect();
        let (sent, sent_timeout) = (self.sent, self.sent_timeout);
        let all = async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Ok((index, result, at)) = joined {
                    answers[index] = Some(Answer {
                        outcome: conn::outcome(
                            result.map(tonic::Response::into_inner),
                            at.saturating_duration_since(sent),
                            sent_timeout,
                        ),
                        elapsed: at.saturating_duration_since(ready_at),
                    });
                }
            }
        };
        tokio::select! {
            () = all => {}
            () = tokio::time::sleep_until((ready_at + limit).into()) => {}
            signal = cancel.as_mut() => return Err(signal),
        }
        Ok(answers
            .into_iter()
            .map(|answer| {
                answer.unwrap_or(Answer {
                    outcome: Err(RpcError::Timeout(limit)),
                    elapsed: limit,
                })
            })
            .collect())
    }
}

/// The attempt that one Check per service makes.
fn checked(
    services: &[String],
    answers: Vec<Answer<HealthCheckResponse>>,
    rpc_timeout: Duration,
    liveness: bool,
) -> Attempt {
    let several = services.len() > 1;
    let mut lines = Vec::new();
    let mut results = Vec::new();
    for (service, Answer { outcome, elapsed }) in services.iter().zip(answers) {
        let (line, result) = match outcome {
            Ok(response) => {
                let raw = response.status;
                (
                    if liveness {
                        format!(
                            "alive: the server answered the health check: {}",
                            grpc_toolkit_conn::serving_status_name(raw)
                        )
                    } else {
                        status_line(raw)
                    },
                    ServiceResult {
                        service: service.clone(),
                        status: Some(
                            ServingStatus::try_from(raw).unwrap_or(ServingStatus::Unknown),
                        ),
                        elapsed: Some(elapsed),
                        error: None,
                        alive: liveness.then_some(Liveness::ServingStatus),
                    },
                )
            }
            Err(err) => {
                let alive = if !liveness {
                    None
                } else if err.is_refused_stream() {
                    Some(Liveness::RefusedStream)
                } else if err.is_servers_answer() {
                    Some(Liveness::GrpcStatus)
                } else {
                    None
                };
                let line = match alive {
                    Some(Liveness::RefusedStream) => "alive: the server refused the health check's stream (REFUSED_STREAM) on an established connection".to_owned(),
                    Some(_) => format!(
                        "alive: the server answered the health check with {}",
                        escape_cut(&err.to_string(), MESSAGE_LIMIT)
                    ),
                    None => rpc_error_line(&err, rpc_timeout),
                };
                (
                    line,
                    ServiceResult {
                        service: service.clone(),
                        status: None,
                        elapsed: Some(elapsed),
                        error: Some(Failure::rpc(&err)),
                        alive,
                    },
                )
            }
        };
        // A single SERVING or unhealthy answer prints exactly the reference
        // line; with several services each line names its service.
        lines.push(prefixed(service, &line, several));
        results.push(result);
    }
    let status = Status::combine(results.iter().map(ServiceResult::exit_status));
    // With --liveness, an error that counted as an answer is no failure.
    let error = results
        .iter()
        .filter(|r| r.alive.is_none())
        .find_map(|r| r.error.clone());
    Attempt {
        lines,
        error,
        results,
        status,
        cancelled: false,
    }
}

/// The attempt that the List RPC makes: every service the server knows,
/// sorted by name.
fn list(answer: Answer<HealthListResponse>, rpc_timeout: Duration) -> Attempt {
    let Answer {
        outcome: answer,
        elapsed,
    } = answer;
    let response = match answer {
        Ok(response) => response,
        Err(err) => {
            let line = match &err {
                RpcError::Status(s) if s.code() == tonic::Code::Unimplemented => format!(
                    "error: this server does not implement the health List RPC (grpc.health.v1.Health/List): {}",
                    escape_cut(&grpc_toolkit_conn::flatten(s.message()), MESSAGE_LIMIT)
                ),
                RpcError::Status(s) if s.code() == tonic::Code::ResourceExhausted => format!(
                    "error: the server has too many services to list (RESOURCE_EXHAUSTED, the limit is 100): {}",
                    escape_cut(&grpc_toolkit_conn::flatten(s.message()), MESSAGE_LIMIT)
                ),
                err => rpc_error_line(err, rpc_timeout),
            };
            return Attempt {
                lines: vec![line],
                error: Some(Failure::rpc(&err)),
                results: Vec::new(),
                status: Status::RpcFailure,
                cancelled: false,
            };
        }
    };
    let mut statuses: Vec<(String, i32)> = response
        .statuses
        .into_iter()
        .map(|(name, check)| (name, check.status))
        .collect();
    statuses.sort();
    let mut lines = Vec::new();
    let mut results = Vec::new();
    for (service, raw) in statuses {
        lines.push(prefixed(&service, &status_line(raw), true));
        results.push(ServiceResult {
            service,
            status: Some(ServingStatus::try_from(raw).unwrap_or(ServingStatus::Unknown)),
            elapsed: Some(elapsed),
            error: None,
            alive: None,
        });
    }
    let status = Status::combine(results.iter().map(ServiceResult::exit_status));
    Attempt {
        lines,
        error: None,
        results,
        status,
        cancelled: false,
    }
}

/// `--watch`: one Watch stream per service on the one connection; one line
/// per status change until a signal, `--timeout`, or a stream fails.
async fn watch(
    config: &Config,
    deadline: Option<Instant>,
    cancel: &mut Cancel<'_>,
    sinks: &mut Sinks<'_>,
) -> Status {
    let start = Instant::now();
    let services = &config.services;
    let several = services.len() > 1;
    let json = config.format == OutputFormat::Json;
    // The JSON line for a watch that failed; the stderr lines are printed
    // by the caller.
    let emit_failure = |sinks: &mut Sinks<'_>, service: &str, failure: Failure| {
        if json {
            let mut result = ServiceResult::not_asked(service);
            result.elapsed = Some(start.elapsed());
            result.error = Some(failure);
            let mut value = result.to_json();
            value["time"] = grpc_toolkit_conn::rfc3339_now().into();
            sinks.json(&value);
        }
    };
    let connection = match connect(config, deadline, cancel, sinks).await {
        Ok(connection) => connection,
        Err(why) => {
            for line in &why.lines {
                sinks.line(line);
            }
            for service in services {
                emit_failure(sinks, service, why.failure.clone());
            }
            return Status::ConnectFailure;
        }
    };
    let sleep_until_deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);

    // Each stream runs as a task and reports here: a status, or the error
    // that ended it. No deadline on the streams: -rpc-timeout does not
    // apply to Watch, only --timeout (enforced below).
    let (updates, mut received) = tokio::sync::mpsc::unbounded_channel();
    let mut streams = tokio::task::JoinSet::new();
    for (index, service) in services.iter().enumerate() {
        let mut client = connection.health();
        let request = connection.request(
            HealthCheckRequest {
                service: service.clone(),
            },
            None,
        );
        let updates = updates.clone();
        streams.spawn(async move {
            let ended = match client.watch(request).await {
                Ok(response) => {
                    let mut stream = response.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(update)) => {
                                if updates.send((index, Ok(update.status))).is_err() {
                                    return;
                                }
                            }
                            Ok(None) => {
                                break tonic::Status::unavailable(
                                    "the server ended the watch stream",
                                );
                            }
                            Err(status) => break status,
                        }
                    }
                }
                Err(status) => status,
            };
            let _ = updates.send((index, Err(RpcError::Status(ended))));
        });
    }
    drop(updates);

    let mut last: Vec<Option<i32>> = vec![None; services.len()];
    let ended = loop {
        tokio::select! {
            Some((index, update)) = received.recv() => match update {
                Ok(status) if last[index] != Some(status) => {
                    last[index] = Some(status);
                    let service = &services[index];
                    sinks.line(&prefixed(service, &status_line(status), several));
                    if json {
                        let result = ServiceResult {
                            service: service.clone(),
                            status: Some(
                                ServingStatus::try_from(status).unwrap_or(ServingStatus::Unknown),
                            ),
                            elapsed: Some(start.elapsed()),
                            error: None,
                            alive: None,
                        };
                        let mut value = result.to_json();
                        value["time"] = grpc_toolkit_conn::rfc3339_now().into();
                        sinks.json(&value);
                    }
                }
                Ok(_) => {}
                Err(err) => break Some(Err((index, err))),
            },
            signal = cancel.as_mut() => {
                break Some(Ok(format!("cancellation received (signal: {signal})")));
            }
            () = &mut sleep_until_deadline => break None,
        }
    };
    // The streams hold clients of the connection: end them before closing.
    streams.shutdown().await;
    close(connection).await;
    match ended {
        Some(Err((index, err))) => {
            let service = &services[index];
            sinks.line(&prefixed(
                service,
                &rpc_error_line(&err, Duration::ZERO),
                several,
            ));
            emit_failure(sinks, service, Failure::rpc(&err));
            Status::RpcFailure
        }
        Some(Ok(line)) => {
            sinks.line(&line);
            watch_status(&last)
        }
        None => {
            if config.verbose {
                sinks.line(&format!(
                    "--timeout reached after {}",
                    format_go_duration(start.elapsed())
                ));
            }
            watch_status(&last)
        }
    }
}

/// The exit code of a watch that ended by signal or deadline: each
/// service's last status's, combined as for Check (an RPC failure for a
/// service that sent none).
fn watch_status(last: &[Option<i32>]) -> Status {
    Status::combine(last.iter().map(|last| match last {
        Some(raw) if *raw == ServingStatus::Serving as i32 => Status::Serving,
        Some(_) => Status::NotServing,
        None => Status::RpcFailure,
    }))
}
