//! CSDS read from a real grpcio xDS client (`tests/peers/python/xds_peer.py`)
//! with our generated client: proves our trimmed envoy protos on the wire
//! and that the peer produces every status the tools must show (ACKED,
//! NACKED with both versions and the reason, REQUESTED, DOES_NOT_EXIST).

use std::time::Duration;

use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;
use grpc_toolkit_proto::envoy::service::status::v3::client_config::GenericXdsConfig;
use grpc_toolkit_proto::envoy::service::status::v3::client_status_discovery_service_client::ClientStatusDiscoveryServiceClient;
use grpc_toolkit_proto::envoy::service::status::v3::{ClientStatusRequest, ClientStatusResponse};
use testkit::peers::{Peer, or_skip};

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";

/// One `FetchClientStatus` from the peer's admin port.
pub(crate) async fn fetch(addr: &str) -> ClientStatusResponse {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the xDS peer's admin port");
    ClientStatusDiscoveryServiceClient::new(channel)
        .fetch_client_status(ClientStatusRequest::default())
        .await
        .expect("FetchClientStatus")
        .into_inner()
}

/// The resource (type URL, name) of `scope` in `response`.
pub(crate) fn find<'a>(
    response: &'a ClientStatusResponse,
    scope: &str,
    type_url: &str,
    name: &str,
) -> Option<&'a GenericXdsConfig> {
    response
        .config
        .iter()
        .filter(|config| config.client_scope == scope)
        .flat_map(|config| &config.generic_xds_configs)
        .find(|resource| resource.type_url == type_url && resource.name == name)
}

/// Polls CSDS until `resource` in `scope` has `status` (the client applies
/// an update a moment after the peer answers `ok`).
pub(crate) async fn wait_for(
    addr: &str,
    scope: &str,
    type_url: &str,
    name: &str,
    status: ClientResourceStatus,
) -> GenericXdsConfig {
    wait_until(addr, (scope, type_url, name), |r| {
        r.client_status() == status
    })
    .await
}

/// Polls CSDS until the resource (scope, type URL, name) satisfies `done`.
pub(crate) async fn wait_until(
    addr: &str,
    (scope, type_url, name): (&str, &str, &str),
    done: impl Fn(&GenericXdsConfig) -> bool,
) -> GenericXdsConfig {
    let mut last = None;
    for _ in 0..50 {
        let response = fetch(addr).await;
        if let Some(found) = find(&response, scope, type_url, name) {
            if done(found) {
                return found.clone();
            }
            last = Some(found.clone());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{scope:?} {name} never got there; last seen {last:#?}");
}

#[tokio::test]
async fn grpcio_reports_every_status_over_csds() {
    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let addr = peer.addr();

    // At start every resource of both targets is ACKED, one scope per
    // target (gRFC A71) spelled `xds:/NAME`.
    let response = fetch(&addr).await;
    let mut scopes: Vec<_> = response
        .config
        .iter()
        .map(|c| c.client_scope.as_str())
        .collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["xds:/gone", "xds:/svc"]);
    for config in &response.config {
        assert_eq!(config.generic_xds_configs.len(), 4, "{config:#?}");
        for resource in &config.generic_xds_configs {
            assert_eq!(resource.client_status(), ClientResourceStatus::Acked);
            assert!(resource.xds_config.is_some(), "resource contents are sent");
        }
        assert_eq!(
            config.node.as_ref().map(|n| n.id.as_str()),
            Some("toolkit-xds-peer")
        );
    }
    let cluster = find(&response, "xds:/svc", CLUSTER, "cluster-svc").expect("cluster-svc");
    let accepted = cluster.version_info.clone();
    assert!(!accepted.is_empty());

    // An invalid update after a valid one: NACKED, the accepted version
    // kept, the rejected one and the reason in error_state.
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    let nacked = wait_for(
        &addr,
        "xds:/svc",
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
        error.details.contains("LB policy is not supported"),
        "{error:?}"
    );
    assert!(error.last_update_attempt.is_some());

    // A name the server never answers: REQUESTED (DOES_NOT_EXIST after 15 s).
    assert_eq!(peer.command("pending").await.expect("pending"), "ok");
    wait_for(
        &addr,
        "xds:/pending",
        LISTENER,
        "pending",
        ClientResourceStatus::Requested,
    )
    .await;

    // A listener sent before and left out of the next LDS response.
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    wait_for(
        &addr,
        "xds:/gone",
        LISTENER,
        "gone",
        ClientResourceStatus::DoesNotExist,
    )
    .await;

    // A valid update clears the NACK.
    assert_eq!(peer.command("restore").await.expect("restore"), "ok");
    let restored = wait_for(
        &addr,
        "xds:/svc",
        CLUSTER,
        "cluster-svc",
        ClientResourceStatus::Acked,
    )
    .await;
    assert!(restored.error_state.is_none(), "{restored:#?}");
}

/// The toolkit's CSDS client (`channelz-client`'s `csds`) against the same
/// peer: a NACKed cluster keeps its accepted version and carries the
/// reason, and the decoded payloads name the route and the EDS service.
#[tokio::test]
async fn the_csds_client_decodes_grpcio() {
    use grpc_toolkit_channelz_client::csds::{self, Summary};
    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
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
        "xds:/svc",
        CLUSTER,
        "cluster-svc",
        ClientResourceStatus::Nacked,
    )
    .await;
    let status = csds::fetch(&conn, Duration::from_secs(5))
        .await
        .expect("FetchClientStatus")
        .expect("the peer serves CSDS");
    let svc = status
        .scopes
        .iter()
        .find(|s| s.client_scope == "xds:/svc")
        .expect("scope xds:/svc");
    let by_name = |name: &str| {
        svc.resources
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} in {svc:#?}"))
    };
    assert_eq!(
        by_name("svc").summary,
        Summary::Listener {
            route_config_name: "route-svc".into(),
            inline_routes: false
        }
    );
    assert_eq!(
        by_name("route-svc").summary,
        Summary::Route {
            virtual_hosts: 1,
            clusters: vec!["cluster-svc".into()]
        }
    );
    assert_eq!(
        by_name("eds-svc").summary,
        Summary::Endpoints {
            total: 1,
            healthy: 1
        }
    );
    let cluster = by_name("cluster-svc");
    assert_eq!(cluster.status, ClientResourceStatus::Nacked);
    assert_eq!(
        cluster.summary,
        Summary::Cluster {
            kind: "EDS".into(),
            eds_service_name: "eds-svc".into()
        }
    );
    let failure = cluster.failure.as_ref().expect("the NACK");
    assert_ne!(failure.version, cluster.version);
    assert!(
        failure.details.contains("LB policy is not supported"),
        "{failure:?}"
    );
}
