//! The demo's xDS client status: a CSDS service
//! (`envoy.service.status.v3.ClientStatusDiscoveryService`) answering what
//! one gRPC xDS client would, so `--demo` shows the xDS screen (`x`) and
//! the JSON `xds` section with no management server of the user's own.
//!
//! There is no xDS client behind it: the answer is fixed, made once when
//! the demo starts. It is the status of one data-plane target,
//! [`TARGET`], as gRFC A71 scopes it (`client_scope` `xds:/demo-backend`),
//! and the demo registers a Channelz channel of that target so the screen
//! joins the two, as it does for a real client. The config is a canary
//! rollout caught half-way, the case the screen is for:
//!
//! - the Listener and its RouteConfiguration are ACKED: 90 % of calls to
//!   cluster `demo-backend-v1`, 10 % to `demo-backend-v2`;
//! - `demo-backend-v1` and its endpoints (three, one unhealthy) are ACKED;
//! - `demo-backend-v2`'s version 4 was NACKED (gRPC has no Maglev), so the
//!   client still runs version 3;
//! - `demo-backend-v2`'s endpoints DOES_NOT_EXIST on the management server.
//!
//! `StreamClientStatus` answers each request with the same status, as a
//! real client's would while nothing changes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grpc_toolkit_proto::envoy::admin::v3::{ClientResourceStatus, UpdateFailureState};
use grpc_toolkit_proto::envoy::config::cluster::v3::{Cluster, cluster};
use grpc_toolkit_proto::envoy::config::core::v3::{
    Address, HealthStatus, Node, SocketAddress, address, socket_address,
};
use grpc_toolkit_proto::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use grpc_toolkit_proto::envoy::config::listener::v3::{ApiListener, Listener};
use grpc_toolkit_proto::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, VirtualHost, WeightedCluster, route, route_action,
    weighted_cluster,
};
use grpc_toolkit_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, Rds, http_connection_manager,
};
use grpc_toolkit_proto::envoy::service::status::v3::client_config::GenericXdsConfig;
use grpc_toolkit_proto::envoy::service::status::v3::client_status_discovery_service_server::{
    ClientStatusDiscoveryService, ClientStatusDiscoveryServiceServer,
};
use grpc_toolkit_proto::envoy::service::status::v3::{
    ClientConfig, ClientStatusRequest, ClientStatusResponse, ConfigStatus,
};
use prost::Message;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

/// The data-plane target the status is of, as Channelz shows it.
pub const TARGET: &str = "xds:///demo-backend";

/// The node id the demo's client announces.
pub const NODE_ID: &str = "channelz-tui-demo";

const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ENDPOINTS: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// The NACK reason of `demo-backend-v2`'s rejected version, worded as
/// gRPC's validation errors are.
pub const NACK_REASON: &str =
    "errors validating Cluster resource: [field:lb_policy error:unknown LB policy MAGLEV]";

/// The CSDS service of the demo (see the module doc).
#[derive(Debug, Clone)]
pub struct DemoCsds {
    status: ClientStatusResponse,
}

impl DemoCsds {
    /// The status as of `now`: resources accepted a few minutes before,
    /// the rejected update a minute before.
    pub fn new(now: SystemTime) -> Self {
        Self {
            status: status(now),
        }
    }

    /// The tonic service to add to a server.
    pub fn into_server(self) -> ClientStatusDiscoveryServiceServer<Self> {
        ClientStatusDiscoveryServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl ClientStatusDiscoveryService for DemoCsds {
    type StreamClientStatusStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<ClientStatusResponse, Status>> + Send>,
    >;

    async fn stream_client_status(
        &self,
        request: Request<Streaming<ClientStatusRequest>>,
    ) -> Result<Response<Self::StreamClientStatusStream>, Status> {
        let status = self.status.clone();
        // One answer per request: the stream ends when the client's does
        // (or on its first bad message), so it holds nothing of its own.
        let answers = request.into_inner().map(move |r| r.map(|_| status.clone()));
        Ok(Response::new(Box::pin(answers)))
    }

    async fn fetch_client_status(
        &self,
        _request: Request<ClientStatusRequest>,
    ) -> Result<Response<ClientStatusResponse>, Status> {
        Ok(Response::new(self.status.clone()))
    }
}

fn any(type_url: &str, message: &impl Message) -> prost_types::Any {
    prost_types::Any {
        type_url: type_url.to_owned(),
        value: message.encode_to_vec(),
    }
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    let seconds = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    prost_types::Timestamp { seconds, nanos: 0 }
}

fn acked(
    type_url: &str,
    name: &str,
    version: &str,
    config: prost_types::Any,
    at: SystemTime,
) -> GenericXdsConfig {
    GenericXdsConfig {
        type_url: type_url.to_owned(),
        name: name.to_owned(),
        version_info: version.to_owned(),
        xds_config: Some(config),
        last_updated: Some(timestamp(at)),
        config_status: ConfigStatus::Synced as i32,
        client_status: ClientResourceStatus::Acked as i32,
        ..Default::default()
    }
}

fn listener() -> Listener {
    let manager = HttpConnectionManager {
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            route_config_name: "demo-backend-routes".to_owned(),
        })),
        ..Default::default()
    };
    Listener {
        name: "demo-backend".to_owned(),
        api_listener: Some(ApiListener {
            api_listener: Some(any(HCM, &manager)),
        }),
        ..Default::default()
    }
}

fn routes() -> RouteConfiguration {
    let weight = |name: &str, weight| weighted_cluster::ClusterWeight {
        name: name.to_owned(),
        weight: Some(weight),
    };
    RouteConfiguration {
        name: "demo-backend-routes".to_owned(),
        virtual_hosts: vec![VirtualHost {
            name: "demo-backend".to_owned(),
            domains: vec!["demo-backend".to_owned()],
            routes: vec![Route {
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(route_action::ClusterSpecifier::WeightedClusters(
                        WeightedCluster {
                            clusters: vec![
                                weight("demo-backend-v1", 90),
                                weight("demo-backend-v2", 10),
                            ],
                            ..Default::default()
                        },
                    )),
                })),
                ..Default::default()
            }],
        }],
    }
}

fn eds_cluster(name: &str) -> Cluster {
    Cluster {
        name: name.to_owned(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            service_name: name.to_owned(),
        }),
        ..Default::default()
    }
}

fn endpoints(name: &str) -> ClusterLoadAssignment {
    // Documentation addresses (RFC 5737): nothing the demo dials.
    let endpoint = |last: u8, health: HealthStatus| LbEndpoint {
        health_status: health as i32,
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: format!("192.0.2.{last}"),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(50051)),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    ClusterLoadAssignment {
        cluster_name: name.to_owned(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![
                endpoint(1, HealthStatus::Healthy),
                endpoint(2, HealthStatus::Healthy),
                endpoint(3, HealthStatus::Unhealthy),
            ],
            ..Default::default()
        }],
    }
}

fn status(now: SystemTime) -> ClientStatusResponse {
    let ago = |minutes: u64| now - Duration::from_secs(minutes * 60);
    let mut rejected = eds_cluster("demo-backend-v2");
    // gRPC clients accept ROUND_ROBIN, RING_HASH and LEAST_REQUEST here.
    rejected.lb_policy = cluster::LbPolicy::Maglev as i32;
    let nacked = GenericXdsConfig {
        client_status: ClientResourceStatus::Nacked as i32,
        config_status: ConfigStatus::Error as i32,
        error_state: Some(UpdateFailureState {
            failed_configuration: Some(any(CLUSTER, &rejected)),
            last_update_attempt: Some(timestamp(ago(1))),
            details: NACK_REASON.to_owned(),
            version_info: "4".to_owned(),
        }),
        ..acked(
            CLUSTER,
            "demo-backend-v2",
            "3",
            any(CLUSTER, &eds_cluster("demo-backend-v2")),
            ago(12),
        )
    };
    let missing = GenericXdsConfig {
        type_url: ENDPOINTS.to_owned(),
        name: "demo-backend-v2".to_owned(),
        client_status: ClientResourceStatus::DoesNotExist as i32,
        ..Default::default()
    };
    let resources = vec![
        acked(
            LISTENER,
            "demo-backend",
            "7",
            any(LISTENER, &listener()),
            ago(30),
        ),
        acked(
            ROUTE,
            "demo-backend-routes",
            "12",
            any(ROUTE, &routes()),
            ago(12),
        ),
        acked(
            CLUSTER,
            "demo-backend-v1",
            "9",
            any(CLUSTER, &eds_cluster("demo-backend-v1")),
            ago(30),
        ),
        nacked,
        acked(
            ENDPOINTS,
            "demo-backend-v1",
            "41",
            any(ENDPOINTS, &endpoints("demo-backend-v1")),
            ago(2),
        ),
        missing,
    ];
    ClientStatusResponse {
        config: vec![ClientConfig {
            node: Some(Node {
                id: NODE_ID.to_owned(),
                ..Default::default()
            }),
            // gRFC A71: the target as C-core re-spells the parsed URI.
            client_scope: "xds:/demo-backend".to_owned(),
            generic_xds_configs: resources,
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_toolkit_channelz_client::csds::{self, Summary};

    /// The shared reader decodes every resource the demo sends into the
    /// summary the screen shows: the payloads are the real messages.
    #[test]
    fn the_reader_decodes_the_demo_status() {
        let status = csds::decode(status(SystemTime::now()));
        assert_eq!(status.dropped, 0);
        let [scope] = status.scopes.as_slice() else {
            panic!("one scope: {status:?}");
        };
        assert!(csds::scope_joins_target(&scope.client_scope, TARGET));
        assert_eq!(scope.node_id, NODE_ID);
        let of = |type_url: &str, name: &str| {
            scope
                .resources
                .iter()
                .find(|r| r.type_url == type_url && r.name == name)
                .unwrap_or_else(|| panic!("{name} in {scope:?}"))
        };
        assert_eq!(
            of(LISTENER, "demo-backend").summary,
            Summary::Listener {
                route_config_name: "demo-backend-routes".into(),
                inline_routes: false
            }
        );
        assert_eq!(
            of(ROUTE, "demo-backend-routes").summary,
            Summary::Route {
                virtual_hosts: 1,
                clusters: vec!["demo-backend-v1".into(), "demo-backend-v2".into()]
            }
        );
        assert_eq!(
            of(CLUSTER, "demo-backend-v1").summary,
            Summary::Cluster {
                kind: "EDS".into(),
                eds_service_name: "demo-backend-v1".into()
            }
        );
        let nacked = of(CLUSTER, "demo-backend-v2");
        assert_eq!(nacked.status, ClientResourceStatus::Nacked);
        assert_eq!(nacked.version, "3");
        let failure = nacked.failure.as_ref().expect("a NACK reason");
        assert_eq!(
            (failure.version.as_str(), failure.details.as_str()),
            ("4", NACK_REASON)
        );
        assert_eq!(
            of(ENDPOINTS, "demo-backend-v1").summary,
            Summary::Endpoints {
                total: 3,
                healthy: 2
            }
        );
        assert_eq!(
            of(ENDPOINTS, "demo-backend-v2").status,
            ClientResourceStatus::DoesNotExist
        );
    }
}
