//! CSDS in channelz-tui's JSON, recordings and fleet (issue #20 item 2),
//! against the real grpcio xDS peer (`Peer::start_xds`: ACKED, NACKED with
//! the reason and both versions, REQUESTED, DOES_NOT_EXIST), servers
//! without CSDS (the demo), and the hostile CSDS server
//! (`testkit::hostile_csds`): control bytes, more resources than kept, an
//! answer larger than read, payloads nobody decodes, no answer at all.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use channelz_tui::demo::DemoServer;
use grpc_toolkit_channelz_client::csds::{self, Summary};
use serde_json::Value;
use testkit::hostile_csds::{CONTROLS, HostileCsds, Mode, SCOPE, limits};
use testkit::peers::{Peer, or_skip};

use crate::tui_json::run;
use crate::tui_record::{record_live, temp};

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";

async fn connect(addr: &str) -> grpc_toolkit_conn::Connection {
    let options = grpc_toolkit_conn::ConnArgs {
        addr: Some(addr.to_owned()),
        connect_timeout: Duration::from_secs(5),
        ..Default::default()
    }
    .to_options("grpc-toolkit-tests")
    .expect("flags");
    grpc_toolkit_conn::connect(&options).await.expect("connect")
}

/// The resource `name` of `type_url` in scope `scope` of a document's
/// `xds` section.
fn resource<'a>(xds: &'a Value, scope: &str, type_url: &str, name: &str) -> Option<&'a Value> {
    xds["scopes"]
        .as_array()?
        .iter()
        .filter(|s| s["clientScope"] == scope)
        .flat_map(|s| s["resources"].as_array().into_iter().flatten())
        .find(|r| r["typeUrl"] == type_url && r["name"] == name)
}

/// `--json` against `addr` until `ready` holds for its `xds` section (the
/// client applies an update a moment after the peer says `ok`).
async fn json_until(addr: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..50 {
        let out = run(&[addr, "--json"]).await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let doc = out.json();
        if ready(&doc["xds"]) {
            return doc;
        }
        last = doc["xds"].clone();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never {what}; last xds section: {last:#}");
}

fn status_is(xds: &Value, scope: &str, type_url: &str, name: &str, status: &str) -> bool {
    resource(xds, scope, type_url, name).is_some_and(|r| r["status"] == status)
}

/// Every status the peer produces, in one `--json` document: the NACK
/// with its reason and both versions, the join to the Channelz channel,
/// the decoded summaries, the counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_shows_every_status_of_the_grpcio_peer() {
    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let addr = peer.addr();
    let doc = json_until(&addr, "all ACKED", |x| {
        status_is(x, "xds:/svc", CLUSTER, "cluster-svc", "ACKED")
    })
    .await;
    let accepted = resource(&doc["xds"], "xds:/svc", CLUSTER, "cluster-svc").unwrap()["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!accepted.is_empty());

    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    json_until(&addr, "NACKED", |x| {
        status_is(x, "xds:/svc", CLUSTER, "cluster-svc", "NACKED")
    })
    .await;
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    json_until(&addr, "DOES_NOT_EXIST", |x| {
        status_is(x, "xds:/gone", LISTENER, "gone", "DOES_NOT_EXIST")
    })
    .await;
    // REQUESTED lasts 15 s (then DOES_NOT_EXIST): asked last.
    assert_eq!(peer.command("pending").await.expect("pending"), "ok");
    let doc = json_until(&addr, "REQUESTED", |x| {
        status_is(x, "xds:/pending", LISTENER, "pending", "REQUESTED")
            && status_is(x, "xds:/svc", CLUSTER, "cluster-svc", "NACKED")
            && status_is(x, "xds:/gone", LISTENER, "gone", "DOES_NOT_EXIST")
    })
    .await;
    let xds = &doc["xds"];

    let nacked = resource(xds, "xds:/svc", CLUSTER, "cluster-svc").unwrap();
    assert_eq!(nacked["type"], "Cluster");
    assert_eq!(nacked["version"], accepted.as_str(), "the accepted version");
    let failure = &nacked["failure"];
    let rejected = failure["version"].as_str().expect("the rejected version");
    assert!(!rejected.is_empty() && rejected != accepted, "{failure}");
    assert!(
        failure["details"]
            .as_str()
            .is_some_and(|d| d.contains("LB policy is not supported")),
        "the NACK reason: {failure}"
    );
    let rfc3339 = |v: &Value| {
        v.as_str().is_some_and(|t| {
            t.len() == 20 && t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.starts_with("20")
        })
    };
    assert!(rfc3339(&failure["at"]), "{failure}");
    assert!(rfc3339(&nacked["lastUpdated"]), "{nacked}");
    // The accepted config is still decoded.
    assert_eq!(nacked["summary"]["kind"], "cluster", "{nacked}");
    assert_eq!(nacked["summary"]["edsServiceName"], "eds-svc");

    let listener = resource(xds, "xds:/svc", LISTENER, "svc").unwrap();
    assert_eq!(listener["status"], "ACKED");
    assert_eq!(listener["summary"]["routeConfigName"], "route-svc");
    assert!(listener["failure"].is_null());
    let pending = resource(xds, "xds:/pending", LISTENER, "pending").unwrap();
    assert!(
        pending["version"] == "" && pending["summary"].is_null(),
        "{pending}"
    );

    // Each scope joined to its Channelz channel: `xds:/svc` is the top
    // channel whose target is `xds:///svc`.
    for scope in xds["scopes"].as_array().unwrap() {
        let name = scope["clientScope"].as_str().unwrap();
        let target = format!("xds:///{}", name.trim_start_matches("xds:/"));
        let channel = doc["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["data"]["target"] == target.as_str())
            .unwrap_or_else(|| panic!("a channel for {target}"));
        assert_eq!(scope["channelId"], channel["ref"]["channelId"], "{name}");
        assert_eq!(scope["nodeId"], "toolkit-xds-peer");
    }

    // Counts: per scope and in all, every status named; missing is
    // DOES_NOT_EXIST + TIMEOUT.
    let counts = &xds["counts"];
    assert_eq!(counts["NACKED"], 1, "{counts}");
    assert!(counts["DOES_NOT_EXIST"].as_u64() >= Some(1), "{counts}");
    assert_eq!(counts["REQUESTED"], 1, "{counts}");
    assert_eq!(xds["nacked"], 1);
    assert_eq!(
        xds["missing"].as_u64(),
        Some(counts["DOES_NOT_EXIST"].as_u64().unwrap() + counts["TIMEOUT"].as_u64().unwrap())
    );
    assert_eq!(xds["dropped"], 0);
    let total: u64 = xds["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resources"].as_array().unwrap().len() as u64)
        .sum();
    let counted: u64 = counts
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(total, counted);

    // channelz-tui/README.md's `xds` example has the keys of this run at
    // every level: the section, its counts, a scope, the NACKED cluster,
    // its failure and its summary.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let examples = testkit::docs::blocks_checked_by(&root, testkit::docs::checker::XDS_JSON);
    assert!(!examples.is_empty(), "no xds JSON example in the docs");
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    let scope = xds["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["clientScope"] == "xds:/svc")
        .unwrap();
    for block in examples {
        let at = block.at();
        let doc: Value = serde_json::from_str(&block.body.replace("[...]", "[]"))
            .unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
        let doc_scope = &doc["scopes"][0];
        let doc_resource = &doc_scope["resources"][0];
        assert_eq!(
            doc_resource["status"], "NACKED",
            "{at}: the example is a NACK"
        );
        for (what, documented, real) in [
            ("the section", &doc, xds),
            ("counts", &doc["counts"], &xds["counts"]),
            ("a scope", doc_scope, scope),
            ("a scope's counts", &doc_scope["counts"], &scope["counts"]),
            ("a NACKED resource", doc_resource, nacked),
            ("its failure", &doc_resource["failure"], failure),
            ("its summary", &doc_resource["summary"], &nacked["summary"]),
        ] {
            assert_eq!(keys(documented), keys(real), "{at}: the keys of {what}");
        }
        assert_eq!(doc_resource["type"], nacked["type"], "{at}");
        assert_eq!(
            doc_resource["summary"]["kind"], nacked["summary"]["kind"],
            "{at}"
        );
    }
}

/// A server without CSDS: `{"unsupported": true}`, exit 0, the Channelz
/// document as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_without_csds_says_unsupported_and_exits_0() {
    let server = testkit::channelz::start_without_csds().await;
    let addr = server.addr().to_owned();
    let out = run(&[&addr, "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stderr, "");
    let doc = out.json();
    assert_eq!(doc["xds"], serde_json::json!({ "unsupported": true }));
    assert!(!doc["channels"].as_array().unwrap().is_empty());
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["channels", "incomplete", "servers", "target", "time", "xds"],
        "one new key"
    );
}

/// The demo serves CSDS beside Channelz (`--demo` shows xDS with no
/// management server): its `xds` section has the one scope joined to the
/// demo's `xds:///demo-backend` channel, one NACKED with both versions and
/// the reason, one DOES_NOT_EXIST, and each payload decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_an_xds_client_status() {
    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo starts");
    let out = run(&[&demo.local_addr().to_string(), "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let xds = &doc["xds"];
    assert_eq!(
        (xds["nacked"].as_u64(), xds["missing"].as_u64()),
        (Some(1), Some(1)),
        "{xds}"
    );
    assert_eq!(xds["counts"]["ACKED"], 4, "{xds}");
    let scope = &xds["scopes"][0];
    assert_eq!(scope["clientScope"], "xds:/demo-backend");
    assert_eq!(scope["nodeId"], channelz_tui::demo::xds::NODE_ID);
    let channel = doc["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["data"]["target"] == channelz_tui::demo::xds::TARGET)
        .unwrap_or_else(|| panic!("the xDS channel in {doc}"));
    assert_eq!(
        scope["channelId"], channel["ref"]["channelId"],
        "joined: {doc}"
    );
    assert!(
        status_is(
            xds,
            "xds:/demo-backend",
            CLUSTER,
            "demo-backend-v2",
            "NACKED"
        ),
        "{xds}"
    );
    let resources = scope["resources"].as_array().expect("resources");
    let nacked = resources
        .iter()
        .find(|r| r["status"] == "NACKED")
        .expect("the NACKED one");
    assert_eq!(
        (&nacked["version"], &nacked["failure"]["version"]),
        (&"3".into(), &"4".into())
    );
    assert_eq!(
        nacked["failure"]["details"],
        channelz_tui::demo::xds::NACK_REASON
    );
    let kinds: Vec<&str> = resources
        .iter()
        .filter_map(|r| r["summary"]["kind"].as_str())
        .collect();
    for kind in ["listener", "route", "cluster", "endpoints"] {
        assert!(kinds.contains(&kind), "a decoded {kind}: {xds}");
    }
    demo.shutdown().await;
}

/// A recording of the peer (one NACKED) replays its `xds` section as the
/// live run printed it, in `--json --watch` and in `--json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_of_the_peer_replays_its_xds_section() {
    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let addr = peer.addr();
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    json_until(&addr, "NACKED", |x| {
        status_is(x, "xds:/svc", CLUSTER, "cluster-svc", "NACKED")
    })
    .await;
    let file = temp("xds-peer.rec");
    let live = record_live(&[&addr], &file, 4).await;
    let last: Value = serde_json::from_str(&live[3]).expect("JSON");
    assert!(
        status_is(&last["xds"], "xds:/svc", CLUSTER, "cluster-svc", "NACKED"),
        "{last}"
    );
    let path = file.display().to_string();
    let out = run(&["--replay", &path, "--json", "--watch"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let replayed: Vec<&str> = out.stdout.lines().collect();
    assert!(replayed.len() >= 4);
    for (i, (live, replayed)) in live.iter().zip(&replayed).enumerate() {
        assert_eq!(live, replayed, "poll {i}");
    }
    let out = run(&["--replay", &path, "--json"]).await;
    let doc = out.json();
    assert_eq!(
        doc["xds"],
        serde_json::from_str::<Value>(replayed.last().unwrap()).unwrap()["xds"].clone()
    );
    let nacked = resource(&doc["xds"], "xds:/svc", CLUSTER, "cluster-svc").unwrap();
    assert!(
        nacked["failure"]["details"]
            .as_str()
            .is_some_and(|d| d.contains("LB policy is not supported")),
        "{nacked}"
    );
}

/// A recording made before CSDS was read (the fixture, written by the
/// build before this change) replays exactly as it did then: no `xds` key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_made_before_csds_replays_as_it_did() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../channelz-tui/tests/fixtures");
    let path = dir.join("before-xds.cztui").display().to_string();
    let expected = std::fs::read_to_string(dir.join("before-xds.json")).expect("fixture");
    let out = run(&["--replay", &path, "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, expected);
    assert!(out.json().get("xds").is_none());
}

/// A fleet of the xds peer (one NACKED, one DOES_NOT_EXIST) and a server
/// without CSDS: the fleet document carries each member's counts, and the
/// fleet screen's nack/miss column shows `1/1` and `–`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_shows_each_members_nacked_and_missing() {
    use channelz_tui::fleet::model::{FleetModel, Summary as Row};
    use channelz_tui::fleet::poll::{MemberId, Outcome, Report};
    use channelz_tui::fleet::update::{FleetMsg, update};
    use channelz_tui::model::HealthReport;

    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let addr = peer.addr();
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    json_until(&addr, "NACKED and DOES_NOT_EXIST", |x| {
        status_is(x, "xds:/svc", CLUSTER, "cluster-svc", "NACKED")
            && status_is(x, "xds:/gone", LISTENER, "gone", "DOES_NOT_EXIST")
    })
    .await;
    let plain = testkit::channelz::start_without_csds().await;
    let plain_addr = plain.addr().to_owned();

    let out = run(&[&addr, &plain_addr, "--json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc = out.json();
    let members = doc["members"].as_array().expect("a fleet document");
    let xds_of = |a: &str| {
        members
            .iter()
            .find(|m| m["member"] == a)
            .map(|m| m["xds"].clone())
            .unwrap_or_else(|| panic!("member {a} in {doc}"))
    };
    let peer_xds = xds_of(&addr);
    assert_eq!(
        (peer_xds["nacked"].as_u64(), peer_xds["missing"].as_u64()),
        (Some(1), Some(1)),
        "{peer_xds}"
    );
    assert_eq!(
        xds_of(&plain_addr),
        serde_json::json!({ "unsupported": true })
    );

    // The screen: each member's real snapshot through the fleet model
    // and view.
    let mut model = FleetModel::new(
        "fleet",
        Duration::from_secs(1),
        std::time::SystemTime::now(),
    );
    let ids: Vec<MemberId> = [&addr, &plain_addr]
        .iter()
        .map(|a| MemberId {
            name: (*a).clone(),
            address: (*a).clone(),
        })
        .collect();
    update(
        &mut model,
        FleetMsg::Resolved {
            at: std::time::SystemTime::now(),
            members: ids.clone(),
            problems: Vec::new(),
        },
    );
    for id in &ids {
        let conn = connect(&id.address).await;
        let api = channelz_tui::poll::Api::new(conn, Duration::from_secs(5));
        let snapshot = channelz_tui::json::take(&api).await.expect("a snapshot");
        let health = HealthReport {
            overall: Err("not asked".into()),
            services: None,
        };
        update(
            &mut model,
            FleetMsg::Report(Report {
                id: id.clone(),
                round: 1,
                at: std::time::SystemTime::now(),
                outcome: Outcome::Answer(Row::of_snapshot(&snapshot, &health)),
            }),
        );
    }
    update(&mut model, FleetMsg::RoundEnd);
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 16)).unwrap();
    terminal
        .draw(|f| channelz_tui::fleet::view::view(&model, f))
        .unwrap();
    let screen = terminal.backend().to_string();
    let row = |a: &str| {
        screen
            .lines()
            .find(|l| l.contains(a))
            .unwrap_or_else(|| panic!("a row for {a}:\n{screen}"))
            .to_owned()
    };
    assert!(screen.contains("nack/miss"), "{screen}");
    assert!(row(&addr).contains(" 1/1 "), "{screen}");
    assert!(row(&plain_addr).contains(" – "), "{screen}");
}

/// The hostile server's modes reach the reader as they say: text past
/// the bound is cut, resources past the bound are counted, an oversized
/// answer is an error, undecodable payloads are the fallback, and a hang
/// ends at the deadline.
#[tokio::test]
async fn the_hostile_csds_server_modes_reach_the_reader() {
    let fetch = |mode: Mode| async move {
        let server = HostileCsds::new(mode).start().await;
        let conn = connect(server.addr()).await;
        csds::fetch(&conn, Duration::from_secs(2)).await
    };

    let status = fetch(Mode::ControlBytes).await.unwrap().unwrap();
    let scope = &status.scopes[0];
    assert!(scope.client_scope.starts_with(SCOPE));
    assert_eq!(scope.client_scope.chars().count(), limits::MAX_TEXT);
    assert!(
        scope
            .resources
            .iter()
            .all(|r| r.name.chars().count() <= limits::MAX_TEXT)
    );
    assert!(scope.resources.iter().any(|r| r.failure.is_some()));

    let many = limits::MAX_RESOURCES + 7;
    let status = fetch(Mode::ManyResources(many)).await.unwrap().unwrap();
    assert_eq!(status.scopes[0].resources.len(), limits::MAX_RESOURCES);
    assert_eq!(status.dropped, 7);

    let error = fetch(Mode::HugePayload).await.unwrap_err();
    // tonic's decoder refuses it before reading it all (OUT_OF_RANGE).
    assert_eq!(error.code(), tonic::Code::OutOfRange, "{error}");

    let status = fetch(Mode::UnknownAny).await.unwrap().unwrap();
    assert!(
        status.scopes[0]
            .resources
            .iter()
            .all(|r| matches!(r.summary, Summary::Other { .. })),
        "{status:#?}"
    );

    let started = Instant::now();
    let error = fetch(Mode::Hang).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::DeadlineExceeded, "{error}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// Every string in `v`, with its JSON path.
fn strings<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                strings(item, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// `--json` against the hostile CSDS server in `mode`: exit 0 (Channelz
/// answered), one valid document, one CSDS call, no raw control byte on
/// stdout. A hang ends at the RPC deadline (1 s); the others get a
/// deadline that a debug build under load meets with 100,000 resources.
async fn hostile_json(mode: Mode) -> Value {
    let hostile = HostileCsds::new(mode.clone());
    let calls = hostile.calls();
    let server = hostile.start().await;
    let (timeout, within) = if matches!(mode, Mode::Hang) {
        ("1s", Duration::from_secs(4))
    } else {
        ("20s", Duration::from_secs(60))
    };
    let out = run(&[server.addr(), "--json", "--rpc-timeout", timeout]).await;
    assert_eq!(out.code, 0, "{mode:?}: {}", out.stderr);
    assert!(out.elapsed < within, "{mode:?}: {:?}", out.elapsed);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "{mode:?}: one CSDS read per snapshot"
    );
    let body = out.stdout.trim_end_matches('\n');
    assert!(
        !body.bytes().any(|b| b < 0x20 || b == 0x7f),
        "{mode:?}: a raw control byte on stdout"
    );
    let doc = out.json();
    let mut all = Vec::new();
    strings(&doc["xds"], "xds".into(), &mut all);
    for (path, s) in &all {
        assert!(
            s.chars().count() <= limits::MAX_TEXT,
            "{mode:?}: {path} is {} chars",
            s.chars().count()
        );
    }
    doc["xds"].clone()
}

/// Hostile CSDS answers: the document stays valid, bounded, escaped by
/// the JSON encoder, and ends before the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_of_a_hostile_csds_stays_valid_and_bounded() {
    let xds = hostile_json(Mode::ControlBytes).await;
    let scope = &xds["scopes"][0];
    let client_scope = scope["clientScope"].as_str().unwrap();
    assert!(
        client_scope.starts_with(SCOPE) && client_scope.contains(CONTROLS),
        "kept raw, cut: {client_scope:?}"
    );
    assert_eq!(xds["nacked"], 1);
    assert_eq!(xds["missing"], 2, "DOES_NOT_EXIST + TIMEOUT");
    let resources = scope["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 8);
    // The status number no enum has is UNKNOWN.
    assert_eq!(scope["counts"]["UNKNOWN"], 2, "{}", scope["counts"]);
    let nacked = resources.iter().find(|r| r["status"] == "NACKED").unwrap();
    assert!(
        nacked["failure"]["details"]
            .as_str()
            .unwrap()
            .starts_with("rejected: \u{1b}[2J")
    );
    // Not joined: no channel's target is the control-laden scope.
    assert!(scope["channelId"].is_null());

    let xds = hostile_json(Mode::ManyResources(limits::MAX_RESOURCES + 7)).await;
    assert_eq!(
        xds["scopes"][0]["resources"].as_array().unwrap().len(),
        limits::MAX_RESOURCES
    );
    assert_eq!(xds["dropped"], 7);
    assert_eq!(xds["counts"]["ACKED"], limits::MAX_RESOURCES);
    // Joined: the honest Channelz's top channel is xds:///hostile.
    assert_eq!(xds["scopes"][0]["channelId"], "1");

    let xds = hostile_json(Mode::HugePayload).await;
    let error = xds["error"].as_str().expect("an error");
    assert!(error.contains("too large"), "{error}");

    let xds = hostile_json(Mode::UnknownAny).await;
    for r in xds["scopes"][0]["resources"].as_array().unwrap() {
        assert_eq!(r["summary"]["kind"], "other", "{r}");
        assert!(r["summary"]["size"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["status"], "ACKED");
    }
    let secret = resource(&xds, SCOPE, "type.example.com/acme.Secret", "any0").unwrap();
    assert_eq!(secret["type"], "Secret");
    assert_eq!(secret["summary"]["typeUrl"], "type.example.com/acme.Secret");
    assert_eq!(secret["summary"]["size"], 4096);

    let xds = hostile_json(Mode::Hang).await;
    assert!(
        xds["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("deadline"),
        "{xds}"
    );

    let xds = hostile_json(Mode::Error(format!("boom {}", CONTROLS.repeat(100)))).await;
    assert!(xds["error"].as_str().unwrap().contains("boom"), "{xds}");
}

/// A recording of the hostile server replays what the live run printed,
/// control bytes and 100,000 resources included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_of_a_hostile_csds_replays_as_live() {
    for (name, mode) in [
        ("controls", Mode::ControlBytes),
        ("many", Mode::ManyResources(limits::MAX_RESOURCES + 3)),
        ("hang", Mode::Hang),
    ] {
        let server = HostileCsds::new(mode).start().await;
        let file = temp(&format!("hostile-{name}.rec"));
        let live = record_live(&[server.addr()], &file, 2).await;
        let first: Value = serde_json::from_str(&live[0]).expect("JSON");
        let recorded = &first["xds"];
        assert!(
            recorded["scopes"].is_array() || recorded["error"].is_string(),
            "{name}: an xds section"
        );
        let out = run(&["--replay", &file.display().to_string(), "--json", "--watch"]).await;
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let replayed: Vec<&str> = out.stdout.lines().collect();
        for (i, (live, replayed)) in live.iter().zip(&replayed).enumerate() {
            assert!(live == replayed, "{name}: poll {i} differs");
        }
    }
}
