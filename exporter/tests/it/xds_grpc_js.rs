//! `/channelz` with `channelz: {xds: true}` against the real
//! `@grpc/grpc-js-xds` client (`tests/peers/node/xds_peer.js`, fed by the
//! same management server as the grpcio peer): the same A78 series from
//! the second implementation. grpc-js reports one xDS client with no
//! `client_scope`, so every series has `grpc_target="unknown"` (the
//! exporter's word for a scope-less client) and no Channelz channel joins
//! it; its bare `type_url` names give the same `grpc_xds_resource_type`
//! as grpcio's type URLs; and a rollback to the accepted contents leaves
//! its NACK (and so the NACK series and alert) standing, where grpcio
//! clears it.

use std::net::SocketAddr;
use std::time::Duration;

use testkit::peers::{Peer, PeerKind, or_skip};

use crate::support::{self, assert_promtool_metrics, exporter, samples};
use crate::xds::{assert_one_nack, nack_series};

const CONFIG: &str = r#"
modules:
  grpc_xds:
    prober: grpc
    grpc:
      channelz:
        xds: true
"#;

const CLUSTER: &str = "envoy.config.cluster.v3.Cluster";
const LISTENER: &str = "envoy.config.listener.v3.Listener";
/// The exporter's `grpc_target` for a client that sends no scope.
const NO_SCOPE: &str = "unknown";

async fn scrape(ex: SocketAddr, target: &str) -> String {
    let r = support::get_with(
        ex,
        &format!("/channelz?module=grpc_xds&target={}", support::enc(target)),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_promtool_metrics(&r.body);
    r.body
}

fn resources(state: &str, kind: &str) -> String {
    support::canonical(&format!(
        "grpc_xds_client_resources{{grpc_target=\"{NO_SCOPE}\",grpc_xds_authority=\"#old\",\
         grpc_xds_cache_state=\"{state}\",grpc_xds_resource_type=\"{kind}\"}}"
    ))
}

/// Scrapes until `series` has `value`; every scrape must be valid.
async fn scrape_until(ex: SocketAddr, target: &str, series: &str, value: f64) -> String {
    let mut body = String::new();
    for _ in 0..50 {
        body = scrape(ex, target).await;
        if samples(&body).get(series) == Some(&value) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never was {value}; last scrape:\n{body}");
}

#[tokio::test]
async fn grpc_js_resources_by_cache_state_with_the_nack_reason() {
    let Some(mut peer) = or_skip(Peer::start_xds_of(PeerKind::Node).await) else {
        return;
    };
    let ex = exporter(CONFIG).await;
    let target = peer.addr();

    // Both targets' resources in the one scope: two of each type.
    let body = scrape(ex.addr(), &target).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&1.0), "{body}");
    assert_eq!(s.get("grpc_xds_csds_supported"), Some(&1.0), "{body}");
    assert_eq!(s.get("grpc_xds_scrape_complete"), Some(&1.0), "{body}");
    for kind in [
        LISTENER,
        CLUSTER,
        "envoy.config.route.v3.RouteConfiguration",
        "envoy.config.endpoint.v3.ClusterLoadAssignment",
    ] {
        assert_eq!(
            s.get(&resources("acked", kind)),
            Some(&2.0),
            "{kind}: {body}"
        );
    }
    assert!(
        !body.contains("grpc_target=\"xds:///"),
        "grpc-js names no target: {body}"
    );
    assert_eq!(s.get("grpc_channelz_scrape_success"), Some(&1.0), "{body}");
    // grpc-js's Channelz lists the xds: channels, which no scope names.
    for t in ["xds:///svc", "xds:///gone"] {
        assert!(
            s.contains_key(&format!("grpc_channelz_channels{{target=\"{t}\"}}")),
            "{t}: {body}"
        );
    }

    // The NACK: one cluster nacked_but_cached, the other still acked, and
    // the NACK series with both versions and grpc-js's reason.
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    let body = scrape_until(
        ex.addr(),
        &target,
        &resources("nacked_but_cached", CLUSTER),
        1.0,
    )
    .await;
    assert_eq!(
        samples(&body).get(&resources("acked", CLUSTER)),
        Some(&1.0),
        "{body}"
    );
    assert_one_nack(&body, NO_SCOPE, "unsupported lb_policy: MAGLEV");

    // requested, then does_not_exist, in the same scope.
    assert_eq!(peer.command("pending").await.expect("pending"), "ok");
    scrape_until(ex.addr(), &target, &resources("requested", LISTENER), 1.0).await;
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    scrape_until(
        ex.addr(),
        &target,
        &resources("does_not_exist", LISTENER),
        1.0,
    )
    .await;

    // A rollback to the accepted contents: grpc-js keeps the NACK, so the
    // series (and GrpcXdsResourceNacked) stays.
    assert_eq!(peer.command("restore").await.expect("restore"), "ok");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let body = scrape(ex.addr(), &target).await;
    assert_eq!(nack_series(&body).len(), 1, "{body}");

    // Other contents clear it.
    assert_eq!(peer.command("change").await.expect("change"), "ok");
    let body = scrape_until(ex.addr(), &target, &resources("acked", CLUSTER), 2.0).await;
    assert!(nack_series(&body).is_empty(), "{body}");
}
