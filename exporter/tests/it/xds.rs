//! `/channelz` with `channelz: {xds: true}` against the real grpcio xDS
//! client (`tests/peers/python/xds_peer.py`): gRFC A78's resource gauge
//! shows every cache state the peer can produce, the NACK series carries
//! both versions and the reason, the CSDS scope joins the Channelz channel
//! target, and every scrape is a valid exposition. A server without CSDS
//! and one that cannot be reached stay valid scrapes that say so.

use std::net::SocketAddr;
use std::time::Duration;

use testkit::peers::{Peer, or_skip};
use tokio::net::TcpListener;

use crate::support::{self, assert_promtool_metrics, exporter, samples};

const CONFIG: &str = r#"
modules:
  grpc_xds:
    prober: grpc
    grpc:
      channelz:
        xds: true
  grpc:
    prober: grpc
    grpc: {}
"#;

const CLUSTER: &str = "envoy.config.cluster.v3.Cluster";
const LISTENER: &str = "envoy.config.listener.v3.Listener";

async fn scrape(ex: SocketAddr, module: &str, target: &str) -> String {
    let body = support::scrape_channelz(ex, module, target).await;
    assert_promtool_metrics(&body);
    body
}

/// The resource gauge's series for (target, state, type).
fn resources(target: &str, state: &str, kind: &str) -> String {
    support::canonical(&format!(
        "grpc_xds_client_resources{{grpc_target=\"{target}\",grpc_xds_authority=\"#old\",\
         grpc_xds_cache_state=\"{state}\",grpc_xds_resource_type=\"{kind}\"}}"
    ))
}

/// Every `grpc_xds_client_resource_nack_info` series of a scrape.
pub fn nack_series(body: &str) -> Vec<String> {
    samples(body)
        .into_keys()
        .filter(|k| k.starts_with("grpc_xds_client_resource_nack_info{"))
        .collect()
}

/// The scrape's one NACK series: `cluster-svc` in `target`, both versions
/// there and different, the reason containing `reason`.
pub fn assert_one_nack(body: &str, target: &str, reason: &str) {
    let nacks = nack_series(body);
    assert_eq!(nacks.len(), 1, "{body}");
    let nack = &nacks[0];
    assert_eq!(label(nack, "name"), Some("cluster-svc"), "{nack}");
    assert_eq!(label(nack, "grpc_target"), Some(target), "{nack}");
    assert_eq!(label(nack, "grpc_xds_resource_type"), Some(CLUSTER));
    let accepted = label(nack, "version").expect("version");
    let rejected = label(nack, "rejected_version").expect("rejected_version");
    assert!(
        !accepted.is_empty() && !rejected.is_empty() && accepted != rejected,
        "{nack}"
    );
    assert!(
        label(nack, "reason").is_some_and(|r| r.contains(reason)),
        "{nack}"
    );
}

/// The value of label `key` in a canonical series `name{k="v",...}`.
pub fn label<'a>(series: &'a str, key: &str) -> Option<&'a str> {
    // `{key="` or `,key="`: `version` must not find `rejected_version`.
    let at = [format!("{{{key}=\""), format!(",{key}=\"")]
        .iter()
        .filter_map(|p| series.find(p.as_str()))
        .min()?;
    let rest = &series[at + key.len() + 3..];
    let bytes = rest.as_bytes();
    let mut end = 0;
    while end < bytes.len() && bytes[end] != b'"' {
        end += if bytes[end] == b'\\' { 2 } else { 1 };
    }
    rest.get(..end)
}

/// Scrapes until `series` appears (the client applies an update a moment
/// after the peer says `ok`); every scrape on the way must be valid.
async fn scrape_until(ex: SocketAddr, target: &str, series: &str) -> String {
    let mut body = String::new();
    for _ in 0..50 {
        body = scrape(ex, "grpc_xds", target).await;
        if samples(&body).get(series) == Some(&1.0) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never showed; last scrape:\n{body}");
}

#[tokio::test]
async fn grpcio_resources_by_cache_state_with_the_nack_reason() {
    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let ex = exporter(CONFIG).await;
    let target = peer.addr();

    let body = scrape(ex.addr(), "grpc_xds", &target).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&1.0), "{body}");
    assert_eq!(s.get("grpc_xds_csds_supported"), Some(&1.0), "{body}");
    assert_eq!(s.get("grpc_xds_scrape_complete"), Some(&1.0), "{body}");
    for t in ["xds:///svc", "xds:///gone"] {
        for kind in [
            LISTENER,
            CLUSTER,
            "envoy.config.route.v3.RouteConfiguration",
            "envoy.config.endpoint.v3.ClusterLoadAssignment",
        ] {
            assert_eq!(
                s.get(&resources(t, "acked", kind)),
                Some(&1.0),
                "{t} {kind}: {body}"
            );
        }
    }
    // The CSDS scope `xds:/svc` is the Channelz channel `xds:///svc`: the
    // same label value on both families.
    assert!(
        s.contains_key("grpc_channelz_channels{target=\"xds:///svc\"}"),
        "{body}"
    );
    assert_eq!(
        s.get("grpc_channelz_scrape_success"),
        Some(&1.0),
        "the Channelz part still works: {body}"
    );

    // A cached cluster updated with an invalid one: nacked_but_cached
    // (A78: the client keeps the last good version), and the NACK series.
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    let body = scrape_until(
        ex.addr(),
        &target,
        &resources("xds:///svc", "nacked_but_cached", CLUSTER),
    )
    .await;
    let s = samples(&body);
    assert_eq!(s.get(&resources("xds:///svc", "acked", CLUSTER)), None);
    assert_one_nack(&body, "xds:///svc", "LB policy is not supported");

    // A name the server never answers: requested.
    assert_eq!(peer.command("pending").await.expect("pending"), "ok");
    scrape_until(
        ex.addr(),
        &target,
        &resources("xds:///pending", "requested", LISTENER),
    )
    .await;

    // A listener sent before and left out: does_not_exist.
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    let body = scrape_until(
        ex.addr(),
        &target,
        &resources("xds:///gone", "does_not_exist", LISTENER),
    )
    .await;
    assert!(
        samples(&body).contains_key(&resources("xds:///svc", "nacked_but_cached", CLUSTER)),
        "states of other targets stay: {body}"
    );

    // A valid update clears the NACK and its series.
    assert_eq!(peer.command("restore").await.expect("restore"), "ok");
    let body = scrape_until(
        ex.addr(),
        &target,
        &resources("xds:///svc", "acked", CLUSTER),
    )
    .await;
    assert!(
        !body.contains("grpc_xds_client_resource_nack_info{"),
        "{body}"
    );

    // Without `xds: true` nothing of CSDS is read or shown.
    let body = scrape(ex.addr(), "grpc", &target).await;
    assert!(!body.contains("grpc_xds_"), "{body}");
}

/// A gRPC server without CSDS (tonic's health service only).
async fn plain_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (addr, task)
}

#[tokio::test]
async fn a_server_without_csds_is_a_valid_scrape_that_says_so() {
    let (addr, task) = plain_server().await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", &addr.to_string()).await;
    task.abort();
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_csds_supported"), Some(&0.0), "{body}");
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&1.0), "{body}");
    assert!(!body.contains("grpc_xds_client_resources{"), "{body}");
}

#[tokio::test]
async fn an_unreachable_target_fails_the_xds_part_too() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", &addr.to_string()).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&0.0), "{body}");
    assert!(
        body.contains("grpc_xds_failure_info{kind=\"connect\""),
        "{body}"
    );
    assert_eq!(s.get("grpc_xds_csds_supported"), None, "{body}");
}

/// `--config.check` of the real binary accepts the xDS keys and names a
/// bad one with its line.
#[tokio::test]
async fn config_check_takes_the_xds_keys() {
    let check = |text: &'static str| async move {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("blackbox.yml");
        std::fs::write(&path, text).expect("write");
        let arg = format!("--config.file={}", path.display());
        let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_grpc-exporter"));
        testkit::bin::output(&bin, &[&arg, "--config.check"], Duration::from_secs(120)).await
    };
    let out = check(
        "modules:\n  g:\n    prober: grpc\n    grpc:\n      channelz:\n        xds: true\n        xds_max_series: 50\n",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (text, reason) in [
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      channelz:\n        xds_max_series: 0\n",
            "channelz.xds_max_series must be at least 1",
        ),
        (
            "modules:\n  g:\n    prober: grpc\n    grpc:\n      channelz:\n        xds: maybe\n",
            "invalid type",
        ),
    ] {
        let out = check(text).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(reason),
            "{text}: want {reason:?} in {stderr}"
        );
        assert!(stderr.contains("blackbox.yml"), "{stderr}");
    }
}
