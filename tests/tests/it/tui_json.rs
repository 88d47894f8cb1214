//! `channelz-tui --json`: the snapshot is proto3 JSON. Each entity, with
//! the added keys (`childChannels`, `subchannels`, `sockets`,
//! `listenSockets`, `rates`) removed, parses back into its Channelz message
//! with prost-reflect's strict proto3 JSON parser; the added arrays hold the
//! resolved children. Also the exit codes and NDJSON error lines, through
//! the in-process CLI ([`channelz_tui::run_cli`]).

use std::time::Duration;

use channelz_tui::demo::DemoServer;
use channelz_tui::json;
use channelz_tui::poll::Api;
use grpc_toolkit_conn::{ConnectOptions, Target, connect};
use serde_json::Value;

/// Parses `value` minus the added keys as message `name`, strictly (unknown
/// fields are errors), and recurses into the added arrays; every entity
/// has its `rates`, and none has `unmapped` (every field of a real
/// server's entity has a JSON form). Returns how many entities were checked.
fn check(value: &Value, name: &str) -> usize {
    testkit::channelz::check_entity(value, name, &mut |entity| {
        assert!(entity.get("unmapped").is_none(), "{entity}");
        let rates = entity.get("rates").expect("rates object");
        assert!(
            rates.get("callsPerSecond").is_some() && rates.get("failuresPerSecond").is_some(),
            "{rates}"
        );
    })
}

async fn api(addr: std::net::SocketAddr) -> Api {
    let options = ConnectOptions::plaintext(
        Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        "tui-json-test",
    );
    Api::new(
        connect(&options).await.expect("demo accepts"),
        Duration::from_secs(5),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_is_proto3_json_with_resolved_children_and_rates() {
    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo starts");
    let api = api(demo.local_addr()).await;
    // The demo's traffic starts with the server; give it a poll interval.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let first = json::take(&api).await.expect("snapshot");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = json::take(&api).await.expect("snapshot");
    let doc = second.to_json("demo", Some(&first.counters()));
    // Round trip through text, as a consumer would read it.
    let doc: Value = serde_json::from_str(&doc.to_string()).expect("valid JSON");

    let channels = doc["channels"].as_array().expect("channels array");
    let servers = doc["servers"].as_array().expect("servers array");
    assert!(!channels.is_empty() && !servers.is_empty(), "{doc}");
    let mut checked = 0;
    for c in channels {
        checked += check(c, "grpc.channelz.v1.Channel");
    }
    for s in servers {
        checked += check(s, "grpc.channelz.v1.Server");
    }
    assert!(
        checked > channels.len() + servers.len(),
        "children were resolved and checked ({checked})"
    );

    // Exact mapping details: int64 as strings, enums by name, RFC 3339.
    let c = &channels[0];
    assert!(
        c["ref"]["channelId"].is_string(),
        "int64 is a string: {}",
        c["ref"]
    );
    assert!(
        c["data"]["state"]["state"]
            .as_str()
            .is_some_and(|s| s.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
    );
    let ts = c["data"]["trace"]["creationTimestamp"]
        .as_str()
        .expect("timestamp");
    assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");

    // Resolved subchannels match the refs they resolve.
    let with_subs = channels
        .iter()
        .find(|c| c["subchannelRef"].as_array().is_some_and(|a| !a.is_empty()))
        .expect("a channel with subchannels");
    let refs: Vec<&str> = with_subs["subchannelRef"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["subchannelId"].as_str())
        .collect();
    let resolved: Vec<&str> = with_subs["subchannels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["ref"]["subchannelId"].as_str())
        .collect();
    let mut refs_sorted = refs.clone();
    refs_sorted.sort_by_key(|s| s.parse::<i64>().unwrap_or(0));
    assert_eq!(resolved, refs_sorted);

    // The demo's first channel calls every poll: a rate over two snapshots.
    let rate = channels
        .iter()
        .filter_map(|c| c["rates"]["callsPerSecond"].as_f64())
        .fold(0.0, f64::max);
    assert!(
        rate > 0.0,
        "a positive calls/s from two snapshots: {}",
        channels[0]["rates"]
    );
    // The first snapshot alone has no rates.
    let alone = first.to_json("demo", None);
    assert!(alone["channels"][0]["rates"]["callsPerSecond"].is_null());
    demo.shutdown().await;
}

/// Runs `channelz-tui ARGS` in-process ([`channelz_tui::run_cli`]) to the
/// end (the other `tui_*` modules use it too).
pub(crate) async fn run(args: &[&str]) -> testkit::bin::CliRun {
    let argv: Vec<String> = std::iter::once("channelz-tui")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    testkit::bin::in_process(move |out, err| channelz_tui::run_cli(argv, out, err).code()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_watch_error_lines() {
    // Nothing listens on a port we bound and closed.
    let dead = testkit::faults::refused_addr();

    let out = run(&[dead.as_str(), "--json"]).await;
    assert_eq!(out.code, 2, "cannot connect is exit 2");
    assert_eq!(out.lines().len(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.contains(&dead), "{}", out.stderr);

    let out = run(&["--json", "-o", "yaml", "x:1"]).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("yaml"));

    // A server without Channelz: exit 3, said plainly.
    let server = testkit::servers::TestServer::builder().start().await;
    let out = run(&[server.addr(), "--json"]).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("no Channelz service"));

    // --watch against a dead server: `{"error": ...}` lines, and it keeps going.
    let (tx, rx) = std::sync::mpsc::channel();
    let argv = [
        "channelz-tui",
        dead.as_str(),
        "--json",
        "--watch",
        "--interval",
        "100ms",
    ]
    .map(String::from);
    let watch = std::thread::spawn(move || {
        let mut out = testkit::bin::LineSink {
            partial: Vec::new(),
            lines: tx,
        };
        channelz_tui::run_cli(argv, &mut out, &mut std::io::sink())
    });
    for _ in 0..3 {
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a line in time");
        let v: Value = serde_json::from_str(&line).expect("NDJSON line");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("cannot connect")),
            "{line}"
        );
    }
    // No one reads any more: the next line fails to write and ends the run.
    drop(rx);
    let status = tokio::task::spawn_blocking(move || watch.join())
        .await
        .expect("joins")
        .expect("no panic");
    assert_eq!(status, channelz_tui::ExitStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_json_snapshot_of_the_demo() {
    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo starts");
    let addr = demo.local_addr().to_string();
    let out = run(&["-addr", &addr, "-o", "json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    for c in doc["channels"].as_array().expect("channels") {
        check(c, "grpc.channelz.v1.Channel");
    }
    demo.shutdown().await;
}
