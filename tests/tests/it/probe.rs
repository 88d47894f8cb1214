//! `grpc-probe` against in-process servers and the real peers: the exit
//! code matrix of the issue, the reference tool's messages, the flags, JSON
//! against its schema, several services, Watch, List, `--wait` and
//! `--timeout`. Runs the binary's whole life in-process (`run_cli`), and
//! the async core (`run::execute`) where a test must cancel or watch lines
//! arrive. Process-only behaviour (signals, the real exit status) is in
//! `probe/tests/process.rs`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpc_probe::cli::{self, Invocation};
use grpc_probe::exit::Status;
use grpc_probe::run::{self, Cancel, Sinks};
use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use serde_json::Value;
use testkit::bin::CliRun as Run;
use testkit::faults::{Fault, refused_addr};
use testkit::json_schema::Validator;
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};
use testkit::servers::{HealthKind, TestServer, Transport};
use testkit::tls::TestPki;

/// The reference tool's line for a service that is not serving.
const NOT_SERVING: &str = "service unhealthy (responded with \"NOT_SERVING\")";

/// Runs the whole CLI in-process, on its own thread (see
/// [`testkit::bin::in_process`]).
pub(crate) async fn probe(args: &[&str]) -> Run {
    let argv: Vec<String> = std::iter::once("grpc-probe")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    testkit::bin::in_process(move |out, err| grpc_probe::run_cli(argv, out, err).code()).await
}

/// Asserts a time-bounded run ended after its deadline and within a second
/// of it: a tool that ignored its deadline overruns by far more, and the
/// shared 2-core CI machine has stalled threads for most of a second.
fn assert_ends_near(run: &Run, deadline: Duration) {
    assert!(
        run.elapsed >= deadline && run.elapsed < deadline + Duration::from_secs(1),
        "ran {:?}, expected within [{deadline:?}, {:?}): {run:?}",
        run.elapsed,
        deadline + Duration::from_secs(1)
    );
}

/// Asserts a run that gave up connecting to `addr` at its deadline of
/// `millis` ms: exit 2 with the reference tool's line, within 500 ms of
/// the deadline.
fn assert_connect_timeout(run: &Run, addr: &str, millis: u64) {
    assert_only_line(
        run,
        2,
        &format!("timeout: failed to connect service \"{addr}\" within {millis}ms"),
    );
    assert_ends_near(run, Duration::from_millis(millis));
}

fn assert_only_line(run: &Run, code: u8, line: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert_eq!(run.lines(), [line], "{run:?}");
}

/// Asserts exit `code` with a first stderr line that starts with `prefix`.
fn assert_first_line_starts(run: &Run, code: u8, prefix: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert!(run.lines()[0].starts_with(prefix), "{run:?}");
}

fn assert_connect_error(run: &Run, addr: &str, reason: &str) {
    assert_eq!(run.code, 2, "{run:?}");
    let prefix = format!("error: failed to connect service at \"{addr}\": ");
    let lines = run.lines();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(
        lines[0].starts_with(&prefix) && lines[0].contains(reason),
        "expected {prefix}…{reason}…, got {:?}",
        lines[0]
    );
}

// ---------------------------------------------------------------- health

#[tokio::test]
async fn serving_exits_0_with_the_reference_line_and_nothing_on_stdout() {
    let (server, _) = TestServer::start_with_spec_health().await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_only_line(&run, 0, "status: SERVING");
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn not_serving_exits_4() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("db", ServingStatus::NotServing);
    let run = probe(&["-addr", server.addr(), "-service=db"]).await;
    assert_only_line(&run, 4, NOT_SERVING);
}

#[tokio::test]
async fn unknown_service_is_not_found_so_exit_3() {
    let (server, _) = TestServer::start_with_spec_health().await;
    let run = probe(&["-addr", server.addr(), "-service", "nope"]).await;
    assert_only_line(
        &run,
        3,
        "error: health rpc failed: NOT_FOUND: unknown service \"nope\"",
    );
}

#[tokio::test]
async fn a_server_without_health_is_unimplemented_so_exit_3() {
    let server = TestServer::start_with_health(HealthKind::None).await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_first_line_starts(
        &run,
        3,
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ",
    );
}

#[tokio::test]
async fn tonic_health_answers_too() {
    let server = TestServer::start_with_health(HealthKind::Tonic).await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_only_line(&run, 0, "status: SERVING");
}

#[tokio::test]
async fn a_hanging_handler_times_out_at_the_rpc_timeout_exit_3() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set_hang(true);
    let run = probe(&["-addr", server.addr(), "-rpc-timeout=300ms"]).await;
    assert_only_line(&run, 3, "timeout: health rpc did not complete within 300ms");
    assert_ends_near(&run, Duration::from_millis(300));
    // The deadline was also sent to the server.
    assert!(
        server
            .last_request()
            .and_then(|r| r.grpc_timeout().map(str::to_owned))
            .is_some()
    );
}

#[tokio::test]
async fn the_connection_is_closed_gracefully() {
    let (server, _) = TestServer::start_with_spec_health().await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_eq!(run.code, 0);
    let closes = server.wait_for_closes(1, Duration::from_secs(2)).await;
    assert_eq!((closes.graceful, closes.abrupt), (1, 0), "{closes:?}");
}

// ----------------------------------------------------------- connecting

#[tokio::test]
async fn refused_fails_at_once_with_the_reason_exit_2() {
    let addr = refused_addr();
    let run = probe(&["-addr", &addr, "-connect-timeout=10s"]).await;
    assert_connect_error(&run, &addr, "connection refused");
    // The reference tool waits out the connect timeout here; we must not.
    assert!(run.elapsed < Duration::from_secs(10), "{run:?}");
}

#[tokio::test]
async fn dns_failure_exit_2() {
    let addr = "no-such-host.invalid:443";
    let run = probe(&["-addr", addr, "-connect-timeout=10s"]).await;
    assert_connect_error(&run, addr, "cannot resolve host");
}

#[tokio::test]
async fn a_silent_server_is_a_connect_timeout_exit_2() {
    let server = Fault::AcceptSilent.start().await;
    let run = probe(&["-addr", server.addr(), "-connect-timeout", "300ms"]).await;
    assert_connect_timeout(&run, server.addr(), 300);
}

#[tokio::test]
async fn every_pre_settings_fault_is_a_connection_failure() {
    for (fault, reason) in [
        (Fault::Http1, "HTTP/2"),
        (Fault::Garbage, "HTTP/2"),
        (Fault::Reset, ""),
        (Fault::CloseAfterAccept, ""),
    ] {
        let server = fault.start().await;
        let run = probe(&["-addr", server.addr(), "-connect-timeout=5s"]).await;
        assert_connect_error(&run, server.addr(), reason);
    }
}

#[tokio::test]
async fn http2_that_is_not_grpc_connects_and_fails_the_rpc_exit_3() {
    let server = Fault::Http2NotGrpc.start().await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_eq!(run.code, 3, "{run:?}");
}

#[tokio::test]
async fn ipv6_unix_and_colon_port_targets() {
    let v6 = TestServer::start_on(Transport::Ipv6).await;
    assert_only_line(&probe(&["-addr", v6.addr()]).await, 0, "status: SERVING");

    let unix = TestServer::start_on(Transport::Unix).await;
    assert_only_line(&probe(&["-addr", unix.addr()]).await, 0, "status: SERVING");

    let (tcp, _) = TestServer::start_with_spec_health().await;
    let port = tcp.port();
    let run = probe(&["-addr", &format!(":{port}")]).await;
    assert_only_line(&run, 0, "status: SERVING");
    let authority = tcp.last_request().and_then(|r| r.authority);
    assert_eq!(
        authority.as_deref(),
        Some(format!("localhost:{port}").as_str())
    );
}

#[tokio::test]
async fn headers_user_agent_gzip_and_authority_reach_the_server() {
    let (server, _) = TestServer::start_with_spec_health().await;
    let run = probe(&[
        "-addr",
        server.addr(),
        "-rpc-header",
        "Authorization: Bearer s3cret",
        "-rpc-header=x-trace-bin: raw",
        "-user-agent=kubelet-check",
        "-gzip",
        "-authority=health.example:443",
        "-v",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let request = server.last_request().expect("a request arrived");
    assert_eq!(request.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(request.header_all("x-trace-bin").len(), 1);
    assert!(
        request
            .user_agent()
            .is_some_and(|ua| ua.starts_with("kubelet-check")),
        "{request:?}"
    );
    assert_eq!(request.grpc_encoding(), Some("gzip"));
    assert_eq!(request.authority.as_deref(), Some("health.example:443"));
    // -v names the header but never prints its value.
    assert!(run.stderr.contains("authorization"), "{run:?}");
    assert!(!run.stderr.contains("s3cret"), "{run:?}");
}

#[tokio::test]
async fn the_default_user_agent_is_the_reference_tools() {
    let (server, _) = TestServer::start_with_spec_health().await;
    assert_eq!(probe(&["-addr", server.addr()]).await.code, 0);
    let ua = server
        .last_request()
        .and_then(|r| r.user_agent().map(str::to_owned));
    assert!(ua.is_some_and(|ua| ua.starts_with("grpc_health_probe")));
}

// ------------------------------------------------------------------ TLS

#[tokio::test]
async fn tls_verification_outcomes() {
    let pki = TestPki::generate();
    let server = TestServer::builder().tls(&pki).start().await;
    let addr = server.addr();

    let ok = probe(&pki.tls_args(&["-addr", addr])).await;
    assert_only_line(&ok, 0, "status: SERVING");

    let untrusted = probe(&pki.untrusted_tls_args(&["-addr", addr])).await;
    assert_connect_error(&untrusted, addr, "not trusted");

    let wrong_name = probe(&pki.tls_args(&["-addr", addr, "-tls-server-name=other.example"])).await;
    assert_connect_error(&wrong_name, addr, "not valid for");

    let skip = probe(&["-addr", addr, "-tls", "-tls-no-verify"]).await;
    assert_only_line(&skip, 0, "status: SERVING");

    let plaintext_client = probe(&["-addr", addr, "-connect-timeout=5s"]).await;
    assert_eq!(plaintext_client.code, 2, "{plaintext_client:?}");
}

#[tokio::test]
async fn server_name_override_verifies_against_the_given_name() {
    let pki = TestPki::generate();
    let server = TestServer::builder().tls(&pki).start().await;
    // Dial by IP, verify as "localhost": only the override makes it pass.
    let port = server.port();
    let ca = pki.ca_cert().to_string_lossy().into_owned();
    let run = probe(&[
        &format!("-addr=127.0.0.1:{port}"),
        "-tls",
        &format!("-tls-ca-cert={ca}"),
        "-tls-server-name=localhost",
    ])
    .await;
    assert_only_line(&run, 0, "status: SERVING");
}

#[tokio::test]
async fn tls_client_against_a_plaintext_server_is_named() {
    let (server, _) = TestServer::start_with_spec_health().await;
    let run = probe(&["-addr", server.addr(), "-tls", "-tls-no-verify"]).await;
    assert_connect_error(&run, server.addr(), "plaintext");
}

#[tokio::test]
async fn mtls_with_without_and_with_a_foreign_client_cert() {
    let pki = TestPki::generate();
    let server = TestServer::builder().mtls(&pki).start().await;
    let addr = server.addr();

    let with = probe(&pki.mtls_args(&["-addr", addr])).await;
    assert_only_line(&with, 0, "status: SERVING");

    let without = probe(&pki.tls_args(&["-addr", addr])).await;

    let foreign = probe(&pki.foreign_mtls_args(&["-addr", addr])).await;
    // Exit 2 and the reference wording, with the same reason whether the
    // server's TLS alert or its TCP reset is read first.
    let failed = |reason: &str| format!("error: failed to connect service at \"{addr}\": {reason}");
    assert_only_line(
        &without,
        2,
        &failed("server requires a client certificate (-tls-client-cert)"),
    );
    assert_only_line(
        &foreign,
        2,
        &failed("server rejected the client certificate"),
    );
}

#[tokio::test]
async fn tls_over_a_unix_socket() {
    let pki = TestPki::generate();
    let server = TestServer::builder()
        .transport(Transport::Unix)
        .tls(&pki)
        .start()
        .await;
    let run = probe(&pki.tls_args(&["-addr", server.addr()])).await;
    assert_only_line(&run, 0, "status: SERVING");
}

// ------------------------------------------------------------ bad flags

#[tokio::test]
async fn every_bad_flag_rule_exits_1_with_one_line_before_any_connection() {
    let pki = TestPki::generate();
    let ca = pki.ca_cert().to_string_lossy().into_owned();
    let cert = pki.client_cert().to_string_lossy().into_owned();
    let missing = pki.dir().join("missing.pem").to_string_lossy().into_owned();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec![], "error: -addr not specified".into()),
        (vec!["-x".into()], "flag provided but not defined: -x".into()),
        (vec!["-addr".into()], "flag needs an argument: -addr".into()),
        (
            vec!["-addr=h:1".into(), "-tls=maybe".into()],
            "invalid boolean value \"maybe\" for -tls: parse error".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-connect-timeout=0".into()],
            "error: -connect-timeout must be greater than zero (specified: 0s)".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-rpc-timeout=0s".into()],
            "error: -rpc-timeout must be greater than zero (specified: 0s)".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-tls-no-verify".into()],
            "error: specified -tls-no-verify without specifying -tls".into(),
        ),
        (
            vec!["-addr=h:1".into(), format!("-tls-ca-cert={ca}")],
            "error: specified -tls-ca-cert without specifying -tls".into(),
        ),
        (
            vec!["-addr=h:1".into(), format!("-tls-client-cert={cert}")],
            "error: specified -tls-client-cert without specifying -tls".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-tls-server-name=x".into()],
            "error: specified -tls-server-name without specifying -tls".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-tls".into(), format!("-tls-client-cert={cert}")],
            "error: specified -tls-client-cert without specifying -tls-client-key".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-tls".into(), format!("-tls-client-key={cert}")],
            "error: specified -tls-client-key without specifying -tls-client-cert".into(),
        ),
        (
            vec![
                "-addr=h:1".into(),
                "-tls".into(),
                "-tls-no-verify".into(),
                format!("-tls-ca-cert={ca}"),
            ],
            "error: cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)"
                .into(),
        ),
        (
            vec![
                "-addr=h:1".into(),
                "-tls".into(),
                "-tls-no-verify".into(),
                "-tls-server-name=x".into(),
            ],
            "error: cannot specify -tls-server-name with -tls-no-verify (server name would not be used)"
                .into(),
        ),
        (
            vec!["-addr=h:1".into(), "-alts".into()],
            "error: -alts is not supported (ALTS works only on Google Cloud; use -tls)".into(),
        ),
        (
            vec!["-addr=h:1".into(), "-o".into(), "yaml".into()],
            "invalid value \"yaml\" for flag -output: expected text or json".into(),
        ),
        (
            vec!["-addr=h:1".into(), "--watch".into(), "--list".into()],
            "error: --watch and --list cannot be combined".into(),
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = probe(&args).await;
        assert_only_line(&run, 1, &expected);
        assert_eq!(run.stdout, "", "bad usage prints no JSON: {run:?}");
    }

    // Messages that name the bad input without a fixed text.
    for (args, needle) in [
        (
            vec!["-addr=h:1", "-rpc-timeout=5"],
            "invalid value \"5\" for flag -rpc-timeout",
        ),
        (
            vec!["-addr=h:1", "-connect-timeout=1"],
            "invalid value \"1\" for flag -connect-timeout",
        ),
        (
            vec!["-addr=h:1", "-wait=soon"],
            "invalid value \"soon\" for flag -wait",
        ),
        (vec!["-addr=h:1", "-rpc-header=novalue"], "-rpc-header"),
    ] {
        let run = probe(&args).await;
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(run.lines().len(), 1, "{run:?}");
        assert!(run.stderr.contains(needle), "{needle}: {run:?}");
    }

    // An unreadable file is a usage error too (the reference tool's exit 1).
    let run = probe(&["-addr=h:1", "-tls", &format!("-tls-ca-cert={missing}")]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("missing.pem"), "{run:?}");
}

#[tokio::test]
async fn arguments_after_the_flags_are_ignored_as_the_reference_does() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("down", ServingStatus::NotServing);
    let addr = server.addr();
    // Go's flag package stops at "stray": the -service after it is not
    // read, so the default service ("", serving) is checked.
    let run = probe(&["-addr", addr, "stray", "-service=down"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            r#"warning: ignoring arguments after the flags, as grpc_health_probe does: "stray" "-service=down""#,
            "status: SERVING"
        ],
        "{run:?}"
    );
    let run = probe(&["-addr", addr, "-service=down", "--", "-v"]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            r#"warning: ignoring an argument after the flags, as grpc_health_probe does: "-v""#,
            r#"service unhealthy (responded with "NOT_SERVING")"#
        ],
        "{run:?}"
    );
}

#[tokio::test]
async fn spiffe_exits_20_and_version_and_help_exit_0() {
    let run = probe(&["-addr=h:1", "-spiffe"]).await;
    assert_only_line(
        &run,
        20,
        "failed to initialize tls credentials with spiffe. error=not supported",
    );
    let run = probe(&["-version"]).await;
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, env!("CARGO_PKG_VERSION"))
    );
    let run = probe(&["-help"]).await;
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("--rpc-timeout"), "{run:?}");
}

#[tokio::test]
async fn go_flag_spellings_all_work() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("a", ServingStatus::NotServing);
    let addr = server.addr();
    for args in [
        vec![format!("-addr={addr}"), "-service=a".into()],
        vec![
            "-addr".into(),
            addr.to_owned(),
            "-service".into(),
            "a".into(),
        ],
        vec![format!("--addr={addr}"), "--service".into(), "a".into()],
        // The last -addr wins, as in Go.
        vec![
            "-addr=nowhere:1".into(),
            format!("-addr={addr}"),
            "-service=a".into(),
        ],
        // A boolean never eats the next argument.
        vec![
            "-gzip".into(),
            "-addr".into(),
            addr.to_owned(),
            "-service=a".into(),
            "-tls=false".into(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = probe(&args).await;
        assert_only_line(&run, 4, NOT_SERVING);
    }
}

// -------------------------------------------------------- several services

#[tokio::test]
async fn several_services_are_checked_on_one_connection_and_combined() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("a", ServingStatus::Serving);
    health.set("b", ServingStatus::NotServing);
    let addr = server.addr();

    let run = probe(&["-addr", addr, "-service=a", "-service="]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines(), ["a: status: SERVING", "\"\": status: SERVING"]);

    let run = probe(&["-addr", addr, "-service=a", "-service=b"]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "a: status: SERVING",
            "b: service unhealthy (responded with \"NOT_SERVING\")"
        ]
    );

    let run = probe(&["-addr", addr, "-service=b", "-service=zzz", "-service=a"]).await;
    assert_eq!(run.code, 3, "an RPC failure outranks not serving: {run:?}");
    assert_eq!(run.lines().len(), 3);
    assert!(run.lines()[1].starts_with("zzz: error: health rpc failed: NOT_FOUND"));

    // All on one connection.
    assert_eq!(server.accepted(), 3);
}

// ----------------------------------------------------------------- JSON

pub(crate) fn schema() -> Validator {
    let text = include_str!("../../../probe/schema/result.schema.json");
    let schema: Value = serde_json::from_str(text).expect("the schema is JSON");
    Validator::new(&schema).expect("the schema uses only keywords the validator checks")
}

fn assert_valid(validator: &Validator, value: &Value) {
    let errors = validator.iter_errors(value);
    assert!(
        errors.is_empty(),
        "{value} does not match the schema: {errors:?}"
    );
}

/// The run's stdout as one JSON document, checked against the schema.
pub(crate) fn valid_json(validator: &Validator, run: &Run) -> Value {
    let value = run.json();
    assert_valid(validator, &value);
    value
}

/// Each line of `text` (the stdout of `--watch --json`) as JSON, each
/// checked against the schema.
fn valid_json_lines(validator: &Validator, text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let value = serde_json::from_str(line).expect("each stdout line is JSON");
            assert_valid(validator, &value);
            value
        })
        .collect()
}

#[tokio::test]
async fn json_output_matches_the_schema_in_every_outcome() {
    let validator = schema();
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("down", ServingStatus::NotServing);
    let addr = server.addr().to_owned();
    let refused = refused_addr();

    let serving = probe(&["-addr", &addr, "--output", "json"]).await;
    let v = valid_json(&validator, &serving);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["target"], addr.as_str());
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["results"][0]["status"], "SERVING");
    assert!(v["elapsed_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    // stderr keeps its lines.
    assert_eq!(serving.lines(), ["status: SERVING"]);

    let mixed = probe(&[
        "-addr",
        &addr,
        "-o",
        "json",
        "-service=down",
        "-service=gone",
    ])
    .await;
    let v = valid_json(&validator, &mixed);
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["results"][0]["status"], "NOT_SERVING");
    assert_eq!(v["results"][1]["status"], Value::Null);
    assert_eq!(v["results"][1]["error"]["code"], "NOT_FOUND");
    assert_eq!(v["error"]["kind"], "rpc");

    let failed = probe(&["-addr", &refused, "--json"]).await;
    let v = valid_json(&validator, &failed);
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["error"]["kind"], "connect");
    assert_eq!(v["error"]["code"], "REFUSED");
    assert_eq!(v["results"][0]["elapsed_ms"], Value::Null);

    health.set_hang(true);
    let timeout = probe(&["-addr", &addr, "--json", "-rpc-timeout=100ms"]).await;
    let v = valid_json(&validator, &timeout);
    assert_eq!(v["error"]["code"], "DEADLINE_EXCEEDED");
}

// ----------------------------------------------------- timeouts and --wait

#[tokio::test]
async fn overall_timeout_cuts_the_rpc_and_names_the_effective_value() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set_hang(true);
    let run = probe(&[
        "-addr",
        server.addr(),
        "-rpc-timeout=10s",
        "--timeout=400ms",
    ])
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    let line = run.lines()[0];
    assert!(
        line.starts_with("timeout: health rpc did not complete within ") && !line.ends_with("10s"),
        "{line}"
    );
    assert_ends_near(&run, Duration::from_millis(400));
}

#[tokio::test]
async fn overall_timeout_cuts_the_connect() {
    let server = Fault::AcceptSilent.start().await;
    let run = probe(&[
        "-addr",
        server.addr(),
        "-connect-timeout=10s",
        "--timeout",
        "300ms",
    ])
    .await;
    assert_connect_timeout(&run, server.addr(), 300);
}

#[tokio::test]
async fn wait_retries_until_serving() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("late", ServingStatus::NotServing);
    let flip = health.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        flip.set("late", ServingStatus::Serving);
    });
    let run = probe(&["-addr", server.addr(), "-service=late", "--wait=5s"]).await;
    assert_only_line(&run, 0, "status: SERVING");
    assert!(server.accepted() >= 2, "it retried");
}

#[tokio::test]
async fn wait_gives_up_with_the_last_attempts_code() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("never", ServingStatus::NotServing);
    let run = probe(&["-addr", server.addr(), "-service=never", "--wait=600ms"]).await;
    assert_only_line(&run, 4, NOT_SERVING);
    assert!(server.accepted() >= 3, "it retried: {}", server.accepted());
    // It stops when the next attempt could not start in time.
    assert!(run.elapsed < Duration::from_millis(1100), "{run:?}");

    let addr = refused_addr();
    let run = probe(&["-addr", &addr, "--wait=300ms"]).await;
    assert_connect_error(&run, &addr, "connection refused");
}

// ------------------------------------------------------------ cancellation

/// A writer the test can read while the run is still writing.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
    async fn wait_for_lines(&self, n: usize) {
        self.wait_until(&format!("{n} lines"), |text| text.lines().count() >= n)
            .await;
    }
    async fn wait_for(&self, needle: &str) {
        self.wait_until(&format!("{needle:?}"), |text| text.contains(needle))
            .await;
    }
    /// Waits (up to 5 s, failing the test after) until the text so far
    /// shows `what`, as `seen` tells.
    async fn wait_until(&self, what: &str, seen: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !seen(&self.text()) {
            assert!(
                Instant::now() < deadline,
                "never saw {what} in {:?}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn config(args: &[&str]) -> cli::Config {
    let argv = std::iter::once("grpc-probe").chain(args.iter().copied());
    match cli::parse(argv) {
        Ok(Invocation::Run(config)) => *config,
        other => panic!("not a run: {other:?}"),
    }
}

/// Runs the async core on `args`, writing to `out` and `err` (clones of
/// which the test reads while it runs), until it ends or `cancel` fires.
async fn execute(args: &[&str], cancel: Cancel<'_>, out: &Shared, err: &Shared) -> Status {
    let config = config(args);
    let (mut o, mut e) = (out.clone(), err.clone());
    let mut sinks = Sinks {
        stdout: &mut o,
        stderr: &mut e,
    };
    run::execute(&config, cancel, &mut sinks).await
}

/// [`execute`], cancelled as a signal would once `signal` (which may drive
/// the server meanwhile) ends with the signal's name; returns when both the
/// run and `signal` have ended.
async fn execute_until_signal(
    args: &[&str],
    out: &Shared,
    err: &Shared,
    signal: impl Future<Output = &'static str>,
) -> Status {
    let (fire, fired) = tokio::sync::oneshot::channel();
    let cancel: Cancel<'static> = Box::pin(async move { fired.await.unwrap_or("interrupt") });
    let send = async {
        let _ = fire.send(signal.await);
    };
    let (status, ()) = tokio::join!(execute(args, cancel, out, err), send);
    status
}

/// Asserts stderr opens with the line that reports cancellation by `signal`.
fn assert_cancelled_by(err: &Shared, signal: &str) {
    let text = err.text();
    let line = format!("cancellation received (signal: {signal})\n");
    assert!(text.starts_with(&line), "{text}");
}

#[tokio::test]
async fn a_signal_while_connecting_exits_2_and_during_the_rpc_exits_3() {
    let silent = Fault::AcceptSilent.start().await;
    let err = Shared::default();
    let args = ["-addr", silent.addr(), "-connect-timeout=10s"];
    let status = execute_until_signal(&args, &Shared::default(), &err, async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        "interrupt"
    })
    .await;
    assert_eq!(status, Status::ConnectFailure);
    assert_cancelled_by(&err, "interrupt");

    let (server, health) = TestServer::start_with_spec_health().await;
    health.set_hang(true);
    let err = Shared::default();
    let args = ["-addr", server.addr(), "-rpc-timeout=10s"];
    let status = execute_until_signal(&args, &Shared::default(), &err, async {
        while server.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        "terminated"
    })
    .await;
    assert_eq!(status, Status::RpcFailure);
    assert_cancelled_by(&err, "terminated");
}

// ---------------------------------------------------------------- watch

#[tokio::test]
async fn watch_prints_each_change_and_ends_with_the_last_status() {
    let validator = schema();
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("w", ServingStatus::Serving);
    let (out, err) = (Shared::default(), Shared::default());
    let args = ["-addr", server.addr(), "-service=w", "--watch", "--json"];
    // Each flip only after the previous status was printed, so no change
    // is coalesced away.
    let status = execute_until_signal(&args, &out, &err, async {
        err.wait_for_lines(1).await;
        health.set("w", ServingStatus::NotServing);
        err.wait_for_lines(2).await;
        health.set("w", ServingStatus::Serving);
        err.wait_for_lines(3).await;
        health.set("w", ServingStatus::NotServing);
        err.wait_for_lines(4).await;
        "interrupt"
    })
    .await;
    let text = err.text();
    assert_eq!(status, Status::NotServing, "{text}");
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "status: SERVING",
            NOT_SERVING,
            "status: SERVING",
            NOT_SERVING,
            "cancellation received (signal: interrupt)",
        ]
    );
    let lines = valid_json_lines(&validator, &out.text());
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["status"], "NOT_SERVING");
}

#[tokio::test]
async fn watch_follows_several_services_on_one_connection() {
    let validator = schema();
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("a", ServingStatus::Serving);
    health.set("b", ServingStatus::Serving);
    let (out, err) = (Shared::default(), Shared::default());
    let args = [
        "-addr",
        server.addr(),
        "-service=a",
        "-service=b",
        "--watch",
        "--json",
    ];
    let status = execute_until_signal(&args, &out, &err, async {
        err.wait_for_lines(2).await;
        health.set("b", ServingStatus::NotServing);
        err.wait_for("b: service unhealthy").await;
        health.set("a", ServingStatus::NotServing);
        err.wait_for("a: service unhealthy").await;
        health.set("a", ServingStatus::Serving);
        err.wait_for_lines(5).await;
        "terminated"
    })
    .await;
    let text = err.text();
    // b was last NOT_SERVING, so the run ends with 4.
    assert_eq!(status, Status::NotServing, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let mut first_two = lines[..2].to_vec();
    first_two.sort_unstable();
    assert_eq!(
        first_two,
        ["a: status: SERVING", "b: status: SERVING"],
        "{text}"
    );
    assert_eq!(
        lines[2..],
        [
            "b: service unhealthy (responded with \"NOT_SERVING\")",
            "a: service unhealthy (responded with \"NOT_SERVING\")",
            "a: status: SERVING",
            "cancellation received (signal: terminated)",
        ],
        "{text}"
    );
    let json = valid_json_lines(&validator, &out.text());
    assert_eq!(json.len(), 5);
    assert_eq!(
        (json[2]["service"].as_str(), json[2]["status"].as_str()),
        (Some("b"), Some("NOT_SERVING"))
    );
    // One connection carried every stream.
    assert_eq!(server.accepted(), 1, "{text}");
}

#[tokio::test]
async fn watch_streams_service_unknown_and_ends_at_the_timeout() {
    let (server, health) = TestServer::start_with_spec_health().await;
    let (out, err) = (Shared::default(), Shared::default());
    let started = Instant::now();
    let args = [
        "-addr",
        server.addr(),
        "-service=later",
        "--watch",
        "--timeout=600ms",
    ];
    let flip = health.clone();
    let watcher = err.clone();
    tokio::spawn(async move {
        watcher.wait_for("SERVICE_UNKNOWN").await;
        flip.set("later", ServingStatus::Serving);
    });
    let status = execute(&args, run::never_cancel(), &out, &err).await;
    let elapsed = started.elapsed();
    assert_eq!(status, Status::Serving, "{}", err.text());
    assert_eq!(
        err.text().lines().collect::<Vec<_>>(),
        [
            "service unhealthy (responded with \"SERVICE_UNKNOWN\")",
            "status: SERVING"
        ]
    );
    let deadline = Duration::from_millis(600);
    assert!(
        elapsed >= deadline && elapsed < deadline + Duration::from_secs(1),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn watch_on_tonic_health_for_an_unknown_service_exits_3() {
    let server = TestServer::start_with_health(HealthKind::Tonic).await;
    let run = probe(&["-addr", server.addr(), "-service=nope", "--watch"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("NOT_FOUND"), "{run:?}");
}

#[tokio::test]
async fn watch_that_cannot_connect_exits_2_with_one_json_line() {
    let addr = refused_addr();
    let run = probe(&["-addr", &addr, "--watch", "--json"]).await;
    assert_connect_error(&run, &addr, "connection refused");
    let v = valid_json(&schema(), &run);
    assert_eq!(v["error"]["code"], "REFUSED");
    assert!(v["time"].is_string());
}

// ----------------------------------------------------------------- list

#[tokio::test]
async fn list_reports_every_service() {
    let validator = schema();
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("b", ServingStatus::NotServing);
    health.set("a", ServingStatus::Serving);
    let run = probe(&["-addr", server.addr(), "--list", "--json"]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "\"\": status: SERVING",
            "a: status: SERVING",
            "b: service unhealthy (responded with \"NOT_SERVING\")"
        ]
    );
    let v = valid_json(&validator, &run);
    assert_eq!(v["results"].as_array().map(Vec::len), Some(3));

    health.set("b", ServingStatus::Serving);
    assert_eq!(probe(&["-addr", server.addr(), "--list"]).await.code, 0);
}

#[tokio::test]
async fn list_on_a_server_without_it_exits_3_saying_so() {
    let server = TestServer::start_with_health(HealthKind::Tonic).await;
    let run = probe(&["-addr", server.addr(), "--list"]).await;
    assert_first_line_starts(
        &run,
        3,
        "error: this server does not implement the health List RPC",
    );
}

// ---------------------------------------------------------- real peers

#[tokio::test]
async fn real_peers_serving_not_serving_unknown_and_list() {
    for kind in PeerKind::ALL {
        let Some(mut peer) = start_or_skip(kind, PeerOptions::default()).await else {
            continue;
        };
        let addr = peer.addr();
        let run = probe(&["-addr", &addr]).await;
        assert_only_line(&run, 0, "status: SERVING");

        peer.set_status("svc", ServingStatus::NotServing)
            .await
            .expect("set a status");
        let run = probe(&["-addr", &addr, "-service=svc"]).await;
        assert_only_line(&run, 4, NOT_SERVING);

        let run = probe(&["-addr", &addr, "-service=unknown.Service"]).await;
        assert_eq!(run.code, 3, "{kind}: {run:?}");
        assert!(run.stderr.contains("NOT_FOUND"), "{kind}: {run:?}");

        let run = probe(&["-addr", &addr, "-service=", "-service=svc", "--json"]).await;
        assert_eq!(run.code, 4, "{kind}: {run:?}");
        valid_json(&schema(), &run);
    }
}

#[tokio::test]
async fn real_peers_over_tls_and_unix_sockets() {
    let pki = TestPki::generate();
    for kind in PeerKind::ALL {
        let tls = PeerOptions {
            tls: Some((pki.server_cert(), pki.server_key())),
            ..PeerOptions::default()
        };
        let Some(peer) = start_or_skip(kind, tls).await else {
            continue;
        };
        let addr = peer.addr();
        // 5 s, not the default 1 s: a TLS handshake with a peer on the
        // loaded 2-core CI machine once took longer (the answer is what
        // this asserts; deadlines have tests of their own).
        let run = probe(&pki.tls_args(&["-addr", &addr, "-connect-timeout=5s"])).await;
        assert_only_line(&run, 0, "status: SERVING");
        let run = probe(&["-addr", &addr, "-connect-timeout=5s"]).await;
        assert_eq!(run.code, 2, "{kind}: plaintext to a TLS peer: {run:?}");
        drop(peer);

        let dir = tempfile::tempdir().expect("temp dir");
        let unix = PeerOptions {
            unix: Some(dir.path().join("peer.sock")),
            ..PeerOptions::default()
        };
        let Some(peer) = start_or_skip(kind, unix).await else {
            continue;
        };
        let run = probe(&["-addr", &peer.addr()]).await;
        assert_only_line(&run, 0, "status: SERVING");
    }
}
