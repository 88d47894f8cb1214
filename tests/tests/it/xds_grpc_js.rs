//! CSDS read from a real `@grpc/grpc-js-xds` client
//! (`tests/peers/node/xds_peer.js`), the second xDS implementation beside
//! grpcio's (`xds_peer.rs`), fed by the same management server: proves our
//! generated client and the toolkit's `csds` reader on grpc-js's wire form,
//! that the peer produces every status (ACKED, NACKED with both versions
//! and the reason, REQUESTED, DOES_NOT_EXIST), and pins down where the two
//! libraries report the same state differently:
//!
//! * grpcio's `type_url` is a type URL
//!   (`type.googleapis.com/envoy.config.cluster.v3.Cluster`); grpc-js-xds
//!   1.14 sends the bare message name (`envoy.config.cluster.v3.Cluster`),
//!   while the payloads' own `Any`s carry full URLs;
//! * grpcio has one `ClientConfig` per channel target (gRFC A71),
//!   `client_scope` `xds:/svc`; grpc-js has one xDS client for every channel
//!   and one `ClientConfig` with an empty `client_scope`;
//! * both keep the accepted version in `version_info` on a NACK and put the
//!   rejected one in `error_state`, with their own reason text; grpc-js
//!   sends no `xds_config` for a resource that is not ACKED (the rejected
//!   payload is in `error_state.failed_configuration`), so a NACKED
//!   cluster has no decoded summary there;
//! * on DOES_NOT_EXIST C-core adds an `error_state` saying so, grpc-js none;
//! * a rollback to the accepted contents clears a NACK in grpcio and not
//!   in grpc-js (it keeps reporting the stale NACK until contents change).

use std::time::Duration;

use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;
use testkit::peers::{Peer, PeerKind, or_skip};

use crate::xds_peer::{fetch, find, wait_for, wait_until};

/// The type URL grpcio sends (and the payloads' `Any`s carry).
const CLUSTER_URL: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LISTENER_URL: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
// grpc-js-xds 1.14 sends the bare message names as `type_url`.
const CLUSTER: &str = "envoy.config.cluster.v3.Cluster";
const LISTENER: &str = "envoy.config.listener.v3.Listener";
const ROUTE: &str = "envoy.config.route.v3.RouteConfiguration";
const ENDPOINTS: &str = "envoy.config.endpoint.v3.ClusterLoadAssignment";

/// grpc-js's one scope: it does not set `client_scope`.
const JS_SCOPE: &str = "";

async fn start_js() -> Option<Peer> {
    or_skip(Peer::start_xds_of(PeerKind::Node).await)
}

#[tokio::test]
async fn grpc_js_reports_every_status_over_csds() {
    let Some(mut peer) = start_js().await else {
        return;
    };
    assert_eq!(peer.kind(), PeerKind::Node);
    let addr = peer.addr();

    // At start: one ClientConfig, no scope, both targets' four resources
    // ACKED with their contents.
    let response = fetch(&addr).await;
    assert_eq!(response.config.len(), 1, "{response:#?}");
    let config = &response.config[0];
    assert_eq!(config.client_scope, JS_SCOPE);
    assert_eq!(
        config.node.as_ref().map(|n| n.id.as_str()),
        Some("toolkit-xds-peer-node")
    );
    let mut names: Vec<_> = config
        .generic_xds_configs
        .iter()
        .map(|r| (r.type_url.as_str(), r.name.as_str()))
        .collect();
    names.sort_unstable();
    let mut expected = vec![
        (LISTENER, "svc"),
        (LISTENER, "gone"),
        (ROUTE, "route-svc"),
        (ROUTE, "route-gone"),
        (CLUSTER, "cluster-svc"),
        (CLUSTER, "cluster-gone"),
        (ENDPOINTS, "eds-svc"),
        (ENDPOINTS, "eds-gone"),
    ];
    expected.sort_unstable();
    assert_eq!(names, expected);
    for resource in &config.generic_xds_configs {
        assert_eq!(resource.client_status(), ClientResourceStatus::Acked);
        assert!(resource.xds_config.is_some(), "contents sent: {resource:?}");
        assert!(resource.last_updated.is_some());
        assert!(!resource.version_info.is_empty());
    }
    let accepted = find(&response, JS_SCOPE, CLUSTER, "cluster-svc")
        .expect("cluster-svc")
        .version_info
        .clone();

    // An invalid update after a valid one: NACKED, the accepted version
    // kept, the rejected one and grpc-js's own reason in error_state.
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    let nacked = wait_for(
        &addr,
        JS_SCOPE,
        CLUSTER,
        "cluster-svc",
        ClientResourceStatus::Nacked,
    )
    .await;
    assert_eq!(nacked.version_info, accepted, "the accepted version stays");
    let error = nacked.error_state.as_ref().expect("error_state on a NACK");
    assert_ne!(error.version_info, accepted);
    assert!(!error.version_info.is_empty());
    assert!(
        error.details.contains("unsupported lb_policy: MAGLEV"),
        "{error:?}"
    );
    assert!(error.last_update_attempt.is_some());
    // grpc-js: no xds_config unless ACKED; the rejected payload instead.
    assert!(nacked.xds_config.is_none(), "{nacked:?}");
    let failed = error
        .failed_configuration
        .as_ref()
        .expect("the rejected payload");
    assert_eq!(failed.type_url, CLUSTER_URL, "the Any is a full URL");

    // A name the server never answers: REQUESTED, in the same one scope.
    assert_eq!(peer.command("pending").await.expect("pending"), "ok");
    let requested = wait_for(
        &addr,
        JS_SCOPE,
        LISTENER,
        "pending",
        ClientResourceStatus::Requested,
    )
    .await;
    assert!(requested.version_info.is_empty(), "{requested:?}");

    // A listener sent before and left out of the next LDS response.
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    wait_for(
        &addr,
        JS_SCOPE,
        LISTENER,
        "gone",
        ClientResourceStatus::DoesNotExist,
    )
    .await;

    // A rollback to the accepted contents does NOT clear the NACK in
    // grpc-js (xds-client.js returns early when the decoded resource equals
    // the cached one, before it resets the status); grpcio clears it. The
    // stale NACK stays while the update has long arrived.
    assert_eq!(peer.command("restore").await.expect("restore"), "ok");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = fetch(&addr).await;
    let still = find(&after, JS_SCOPE, CLUSTER, "cluster-svc").expect("cluster-svc");
    assert_eq!(still.client_status(), ClientResourceStatus::Nacked);
    assert_eq!(still.version_info, accepted);
    assert_eq!(
        still.error_state.as_ref().map(|e| e.version_info.as_str()),
        Some(error.version_info.as_str()),
        "the old rejected version stays"
    );

    // A valid update with other contents clears it.
    assert_eq!(peer.command("change").await.expect("change"), "ok");
    let changed = wait_for(
        &addr,
        JS_SCOPE,
        CLUSTER,
        "cluster-svc",
        ClientResourceStatus::Acked,
    )
    .await;
    assert!(changed.error_state.is_none(), "{changed:#?}");
    assert_ne!(changed.version_info, accepted, "the new version");
    assert_ne!(changed.version_info, error.version_info);

    // A word the peer does not know is refused, one line, not a hang.
    let refused = peer.command("bogus").await.expect_err("bogus is refused");
    assert!(refused.to_string().contains("expected nack"), "{refused}");
}

/// The toolkit's CSDS reader (`channelz-client`'s `csds`) on grpc-js's
/// answer: the one empty scope, the decoded payloads, and a NACKED cluster
/// with the reason and both versions but no summary (grpc-js sends no
/// config for it).
#[tokio::test]
async fn the_csds_client_decodes_grpc_js() {
    use grpc_toolkit_channelz_client::csds::{self, Summary};
    let Some(mut peer) = start_js().await else {
        return;
    };
    let options = grpc_toolkit_conn::ConnArgs {
        addr: Some(peer.addr()),
        connect_timeout: Duration::from_secs(10),
        ..Default::default()
    }
    .to_options("grpc-toolkit-tests")
    .expect("flags");
    let conn = grpc_toolkit_conn::connect(&options).await.expect("connect");
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    wait_for(
        &peer.addr(),
        JS_SCOPE,
        CLUSTER,
        "cluster-svc",
        ClientResourceStatus::Nacked,
    )
    .await;
    let status = csds::fetch(&conn, Duration::from_secs(5))
        .await
        .expect("FetchClientStatus")
        .expect("grpc-js serves CSDS");
    assert_eq!(status.scopes.len(), 1, "{status:#?}");
    let scope = &status.scopes[0];
    assert_eq!(scope.client_scope, JS_SCOPE);
    assert_eq!(scope.node_id, "toolkit-xds-peer-node");
    let by_name = |name: &str| {
        scope
            .resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} in {scope:#?}"))
    };
    assert_eq!(
        by_name("svc").summary,
        Summary::Listener {
            route_config_name: "route-svc".into(),
            inline_routes: false
        }
    );
    assert_eq!(
        by_name("route-gone").summary,
        Summary::Route {
            virtual_hosts: 1,
            clusters: vec!["cluster-gone".into()]
        }
    );
    assert_eq!(
        by_name("eds-svc").summary,
        Summary::Endpoints {
            total: 1,
            healthy: 1
        }
    );
    assert_eq!(
        by_name("cluster-gone").summary,
        Summary::Cluster {
            kind: "EDS".into(),
            eds_service_name: "eds-gone".into()
        }
    );
    // The bare names grpc-js sends are read as the type URLs grpcio sends.
    for r in &scope.resources {
        assert!(
            r.type_url.starts_with("type.googleapis.com/envoy.config."),
            "{r:?}"
        );
    }
    let cluster = by_name("cluster-svc");
    assert_eq!(cluster.type_url, CLUSTER_URL);
    assert_eq!(cluster.status, ClientResourceStatus::Nacked);
    assert_eq!(cluster.summary, Summary::None, "grpc-js sends no config");
    let failure = cluster.failure.as_ref().expect("the NACK");
    assert_ne!(failure.version, cluster.version);
    assert!(!cluster.version.is_empty());
    assert!(
        failure.details.contains("unsupported lb_policy: MAGLEV"),
        "{failure:?}"
    );
}

/// Both implementations at once, the same management script, the same
/// NACK: what each reports, side by side, so a change in either library
/// shows here first.
#[tokio::test]
async fn grpcio_and_grpc_js_report_one_nack_their_own_ways() {
    let Some(mut grpcio) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let Some(mut js) = start_js().await else {
        return;
    };
    for peer in [&mut grpcio, &mut js] {
        assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    }
    let c = wait_for(
        &grpcio.addr(),
        "xds:/svc",
        CLUSTER_URL,
        "cluster-svc",
        ClientResourceStatus::Nacked,
    )
    .await;
    let j = wait_for(
        &js.addr(),
        JS_SCOPE,
        CLUSTER,
        "cluster-svc",
        ClientResourceStatus::Nacked,
    )
    .await;

    // The type: a type URL against the bare message name.
    assert_eq!(c.type_url, CLUSTER_URL);
    assert_eq!(j.type_url, CLUSTER);

    // Scopes: one per target against one for all.
    let mut c_scopes: Vec<_> = fetch(&grpcio.addr())
        .await
        .config
        .into_iter()
        .map(|c| c.client_scope)
        .collect();
    c_scopes.sort_unstable();
    assert_eq!(c_scopes, ["xds:/gone", "xds:/svc"]);
    let j_scopes: Vec<_> = fetch(&js.addr())
        .await
        .config
        .into_iter()
        .map(|c| c.client_scope)
        .collect();
    assert_eq!(j_scopes, [JS_SCOPE]);

    // The same versions: both count from the same management server.
    assert_eq!(c.version_info, j.version_info, "accepted version");
    let (ce, je) = (
        c.error_state.as_ref().expect("grpcio error_state"),
        j.error_state.as_ref().expect("grpc-js error_state"),
    );
    assert_eq!(ce.version_info, je.version_info, "rejected version");
    // Each its own reason for the one MAGLEV cluster.
    assert!(ce.details.contains("LB policy is not supported"), "{ce:?}");
    assert!(
        je.details.contains("unsupported lb_policy: MAGLEV"),
        "{je:?}"
    );
    // grpcio keeps the accepted payload in xds_config; grpc-js sends none
    // and the rejected one in failed_configuration.
    assert!(c.xds_config.is_some(), "grpcio: {c:?}");
    assert!(j.xds_config.is_none(), "grpc-js: {j:?}");
    assert!(je.failed_configuration.is_some(), "grpc-js: {je:?}");

    // A rollback to the accepted contents: grpcio clears the NACK,
    // grpc-js keeps it (see grpc_js_reports_every_status_over_csds).
    for peer in [&mut grpcio, &mut js] {
        assert_eq!(peer.command("restore").await.expect("restore"), "ok");
    }
    let c = wait_for(
        &grpcio.addr(),
        "xds:/svc",
        CLUSTER_URL,
        "cluster-svc",
        ClientResourceStatus::Acked,
    )
    .await;
    assert!(c.error_state.is_none(), "grpcio: {c:?}");
    // Time for grpc-js to have the same update (it changes nothing there).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = fetch(&js.addr()).await;
    let j = find(&after, JS_SCOPE, CLUSTER, "cluster-svc").expect("cluster-svc");
    assert_eq!(j.client_status(), ClientResourceStatus::Nacked, "{j:?}");

    // A deleted listener: both DOES_NOT_EXIST; C-core adds an error_state
    // saying so, grpc-js none.
    for peer in [&mut grpcio, &mut js] {
        assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    }
    let gone = ClientResourceStatus::DoesNotExist;
    let c_gone = wait_for(&grpcio.addr(), "xds:/gone", LISTENER_URL, "gone", gone).await;
    let j_gone = wait_for(&js.addr(), JS_SCOPE, LISTENER, "gone", gone).await;
    assert!(
        c_gone
            .error_state
            .as_ref()
            .is_some_and(|e| e.details.contains("does not exist")),
        "grpcio: {c_gone:?}"
    );
    assert!(j_gone.error_state.is_none(), "grpc-js: {j_gone:?}");

    // Other valid contents: both ACKED, at the same version.
    for peer in [&mut grpcio, &mut js] {
        assert_eq!(peer.command("change").await.expect("change"), "ok");
    }
    let (c_version, j_version) = (c.version_info.clone(), j.version_info.clone());
    let c = wait_until(
        &grpcio.addr(),
        ("xds:/svc", CLUSTER_URL, "cluster-svc"),
        |r| r.client_status() == ClientResourceStatus::Acked && r.version_info != c_version,
    )
    .await;
    let j = wait_until(&js.addr(), (JS_SCOPE, CLUSTER, "cluster-svc"), |r| {
        r.client_status() == ClientResourceStatus::Acked
    })
    .await;
    assert_ne!(c.version_info, c_version, "grpcio took the change");
    assert_ne!(j.version_info, j_version, "grpc-js took the change");
    assert_eq!(c.version_info, j.version_info);
    assert!(c.error_state.is_none() && j.error_state.is_none());
}
