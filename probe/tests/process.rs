//! What only a real process shows: the exit status the kernel reports,
//! which stream each line lands on, and SIGINT/SIGTERM handling. Everything
//! else is tested in-process in `tests/tests/probe.rs`.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use testkit::health::SpecHealth;
use testkit::servers::{HealthKind, TestServer};

const BIN: &str = env!("CARGO_BIN_EXE_grpc-probe");

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary to the end off the async runtime, which keeps serving.
async fn run(args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args);
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run grpc-probe")
}

fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid} failed");
}

#[tokio::test]
async fn exit_statuses_and_streams() {
    let health = SpecHealth::new();
    health.set("down", ServingStatus::NotServing);
    let server = TestServer::builder()
        .health(HealthKind::Spec(health))
        .start()
        .await;

    let ok = run(&["-addr", server.addr()]).await;
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(text(&ok.stderr), "status: SERVING\n");
    assert_eq!(text(&ok.stdout), "");

    let json = run(&["-addr", server.addr(), "-service=down", "--json"]).await;
    assert_eq!(json.status.code(), Some(4));
    assert_eq!(
        text(&json.stderr),
        "service unhealthy (responded with \"NOT_SERVING\")\n"
    );
    let value: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("stdout holds exactly one JSON object");
    assert_eq!(value["exit_code"], 4);

    let usage = run(&["-addr"]).await;
    assert_eq!(usage.status.code(), Some(1));
    assert_eq!(text(&usage.stderr), "flag needs an argument: -addr\n");
    assert_eq!(text(&usage.stdout), "");

    let spiffe = run(&["-addr=x:1", "-spiffe"]).await;
    assert_eq!(spiffe.status.code(), Some(20));

    let version = run(&["-version"]).await;
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(text(&version.stdout).trim(), env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn sigint_while_connecting_exits_2() {
    // Accepts and never speaks: the probe sits in the connect phase.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let child = Command::new(BIN)
        .args(["-addr", &addr, "-connect-timeout=30s"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (_held, _) = tokio::task::spawn_blocking(move || listener.accept())
        .await
        .expect("join")
        .expect("accept");
    // Connected at TCP level means the runtime (and its signal handlers)
    // is up.
    let started = Instant::now();
    kill(pid, "-INT");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("cancellation received (signal: interrupt)\n"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn sigterm_during_the_rpc_exits_3() {
    let health = SpecHealth::new();
    health.set_hang(true);
    let server = TestServer::builder()
        .health(HealthKind::Spec(health))
        .start()
        .await;
    let child = Command::new(BIN)
        .args(["-addr", server.addr(), "-rpc-timeout=30s"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().is_empty() {
        assert!(Instant::now() < deadline, "the RPC never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(pid, "-TERM");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("cancellation received (signal: terminated)\n"),
        "{}",
        text(&out.stderr)
    );
}
