//! CSDS (`envoy.service.status.v3`, gRFC A40/A38): which xDS resources each
//! client scope of a process accepted or rejected, and why, read with one
//! `FetchClientStatus` and turned into a bounded, decoded [`XdsStatus`].
//!
//! Bounds: the response size (tonic's decoder), resources kept in all
//! ([`MAX_RESOURCES`]), and every name, version and reason cut to
//! [`MAX_TEXT`] characters. Text stays raw (lossy UTF-8 already, since
//! protobuf strings are UTF-8); escaping is the renderers' job. A payload
//! type we do not decode, or one that fails to decode, is
//! [`Summary::Other`] (type URL and size), never an error.

use std::time::Duration;

use grpc_toolkit_conn::{Connection, RpcError, call};
use grpc_toolkit_proto::envoy::admin::v3::{ClientResourceStatus, UpdateFailureState};
use grpc_toolkit_proto::envoy::config::cluster::v3::{Cluster, cluster};
use grpc_toolkit_proto::envoy::config::endpoint::v3::ClusterLoadAssignment;
use grpc_toolkit_proto::envoy::config::listener::v3::Listener;
use grpc_toolkit_proto::envoy::config::route::v3::RouteConfiguration;
use grpc_toolkit_proto::envoy::config::route::v3::route_action::ClusterSpecifier;
use grpc_toolkit_proto::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use grpc_toolkit_proto::envoy::service::status::v3::client_status_discovery_service_client::ClientStatusDiscoveryServiceClient;
use grpc_toolkit_proto::envoy::service::status::v3::{
    ClientStatusRequest, ClientStatusResponse, PerXdsConfig, per_xds_config::PerXdsConfig as Per,
};
use prost::Message;

/// The largest CSDS response read (a full config dump of a big mesh client
/// is a few MiB).
pub const MAX_MESSAGE: usize = 16 << 20;
/// Resources kept over all scopes; the rest are counted in `dropped`.
pub const MAX_RESOURCES: usize = 100_000;
/// Characters kept of any name, version, type URL or reason.
pub const MAX_TEXT: usize = 1024;

const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ENDPOINTS: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// What one CSDS read returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XdsStatus {
    /// One per xDS client (per data-plane target since gRFC A71, plus the
    /// server scope), in the server's order.
    pub scopes: Vec<Scope>,
    /// Resources left out by [`MAX_RESOURCES`].
    pub dropped: usize,
}

/// One xDS client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// `client_scope` as sent (`xds:/svc` for Channelz's `xds:///svc`);
    /// empty from clients older than A71.
    pub client_scope: String,
    /// The node id the client announces.
    pub node_id: String,
    /// Its resources.
    pub resources: Vec<Resource>,
}

/// One resource as the client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The type URL (`type.googleapis.com/envoy.config.listener.v3.Listener`;
    /// a bare message name as grpc-js-xds sends it gets that prefix).
    pub type_url: String,
    /// The resource name.
    pub name: String,
    /// REQUESTED, DOES_NOT_EXIST, ACKED, NACKED, ...
    pub status: ClientResourceStatus,
    /// The accepted version (empty when none was accepted).
    pub version: String,
    /// When the accepted version arrived, seconds since the epoch.
    pub last_updated: Option<i64>,
    /// The last rejected update, for NACKED (and DOES_NOT_EXIST, where
    /// C-core puts "does not exist").
    pub failure: Option<Failure>,
    /// The decoded accepted config.
    pub summary: Summary,
}

/// The last rejected update of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The rejected version.
    pub version: String,
    /// Why (the NACK reason).
    pub details: String,
    /// When, seconds since the epoch.
    pub at: Option<i64>,
}

/// What the accepted config says, for the payload types people read.
#[derive(Debug, Clone, PartialEq)]
pub enum Summary {
    /// No contents (not received, or asked with exclude_resource_contents).
    None,
    /// A listener: the route configuration its HTTP connection manager
    /// names (`rds`), or `inline` for an inline one.
    Listener {
        /// The RDS name, or empty.
        route_config_name: String,
        /// Whether the routes are inline.
        inline_routes: bool,
    },
    /// A route configuration: virtual hosts and the clusters routes name.
    Route {
        /// How many virtual hosts.
        virtual_hosts: usize,
        /// Cluster names routed to, sorted, each once (bounded).
        clusters: Vec<String>,
    },
    /// A cluster.
    Cluster {
        /// EDS, LOGICAL_DNS, or the custom type's name (aggregate).
        kind: String,
        /// The EDS service name, or empty.
        eds_service_name: String,
    },
    /// Endpoints by health.
    Endpoints {
        /// All endpoints.
        total: usize,
        /// HEALTHY or UNKNOWN (gRPC uses both).
        healthy: usize,
    },
    /// A type we do not decode, or a payload that did not decode: the
    /// documented fallback.
    Other {
        /// The `Any`'s type URL.
        type_url: String,
        /// Its size in bytes.
        size: usize,
    },
}

/// Reads CSDS once within `timeout`. `Ok(None)` when the server does not
/// serve CSDS (UNIMPLEMENTED): a line on the screen, not an error.
pub async fn fetch(conn: &Connection, timeout: Duration) -> Result<Option<XdsStatus>, RpcError> {
    let mut client = ClientStatusDiscoveryServiceClient::new(conn.grpc_channel())
        .max_decoding_message_size(MAX_MESSAGE);
    let request = conn.request(ClientStatusRequest::default(), Some(timeout));
    match call(Some(timeout), client.fetch_client_status(request)).await {
        Ok(response) => Ok(Some(decode(response.into_inner()))),
        Err(e) if e.code() == tonic::Code::Unimplemented => Ok(None),
        Err(e) => Err(e),
    }
}

/// Turns a response into the bounded model: `generic_xds_configs` when a
/// scope has them, else its older per-type `xds_config`.
// Reading the deprecated per-type form is the point for older clients.
#[allow(deprecated)]
pub fn decode(response: ClientStatusResponse) -> XdsStatus {
    let mut status = XdsStatus::default();
    let mut kept = 0usize;
    for config in response.config {
        let mut scope = Scope {
            client_scope: cut(&config.client_scope),
            node_id: cut(config.node.as_ref().map_or("", |n| n.id.as_str())),
            resources: Vec::new(),
        };
        let resources: Box<dyn Iterator<Item = Resource>> = if config.generic_xds_configs.is_empty()
        {
            Box::new(config.xds_config.into_iter().flat_map(per_type))
        } else {
            Box::new(config.generic_xds_configs.into_iter().map(|g| {
                let status = g.client_status();
                resource(
                    &g.type_url,
                    &g.name,
                    status,
                    &g.version_info,
                    g.last_updated.map(|t| t.seconds),
                    g.error_state,
                    g.xds_config,
                )
            }))
        };
        for resource in resources {
            if kept >= MAX_RESOURCES {
                status.dropped += 1;
                continue;
            }
            kept += 1;
            scope.resources.push(resource);
        }
        status.scopes.push(scope);
    }
    status
}

fn resource(
    type_url: &str,
    name: &str,
    status: ClientResourceStatus,
    version: &str,
    last_updated: Option<i64>,
    error: Option<UpdateFailureState>,
    config: Option<prost_types::Any>,
) -> Resource {
    Resource {
        type_url: cut(&type_url_of(type_url)),
        name: cut(name),
        status,
        version: cut(version),
        last_updated,
        failure: error.map(|e| Failure {
            version: cut(&e.version_info),
            details: cut(&e.details),
            at: e.last_update_attempt.map(|t| t.seconds),
        }),
        summary: config.map_or(Summary::None, |any| summarize(&any)),
    }
}

/// The older form: one `PerXdsConfig` per type with dynamic entries.
fn per_type(per: PerXdsConfig) -> Vec<Resource> {
    let mut out = Vec::new();
    match per.per_xds_config {
        Some(Per::ListenerConfig(dump)) => {
            for l in dump.dynamic_listeners {
                let status = l.client_status();
                let active = l.active_state.unwrap_or_default();
                out.push(resource(
                    LISTENER,
                    &l.name,
                    status,
                    &active.version_info,
                    active.last_updated.map(|t| t.seconds),
                    l.error_state,
                    active.listener,
                ));
            }
        }
        Some(Per::RouteConfig(dump)) => {
            for r in dump.dynamic_route_configs {
                let status = r.client_status();
                let name = r.route_config.as_ref().map(route_name).unwrap_or_default();
                let at = r.last_updated.map(|t| t.seconds);
                out.push(resource(
                    ROUTE,
                    &name,
                    status,
                    &r.version_info,
                    at,
                    r.error_state,
                    r.route_config,
                ));
            }
        }
        Some(Per::ClusterConfig(dump)) => {
            for c in dump.dynamic_active_clusters {
                let status = c.client_status();
                let name = c
                    .cluster
                    .as_ref()
                    .and_then(|a| Cluster::decode(a.value.as_slice()).ok())
                    .map(|c| c.name)
                    .unwrap_or_default();
                let at = c.last_updated.map(|t| t.seconds);
                out.push(resource(
                    CLUSTER,
                    &name,
                    status,
                    &c.version_info,
                    at,
                    c.error_state,
                    c.cluster,
                ));
            }
        }
        Some(Per::EndpointConfig(dump)) => {
            for e in dump.dynamic_endpoint_configs {
                let status = e.client_status();
                let name = e
                    .endpoint_config
                    .as_ref()
                    .and_then(|a| ClusterLoadAssignment::decode(a.value.as_slice()).ok())
                    .map(|c| c.cluster_name)
                    .unwrap_or_default();
                let at = e.last_updated.map(|t| t.seconds);
                out.push(resource(
                    ENDPOINTS,
                    &name,
                    status,
                    &e.version_info,
                    at,
                    e.error_state,
                    e.endpoint_config,
                ));
            }
        }
        Some(Per::ScopedRouteConfig(_)) | None => {}
    }
    out
}

fn route_name(any: &prost_types::Any) -> String {
    RouteConfiguration::decode(any.value.as_slice())
        .map(|r| r.name)
        .unwrap_or_default()
}

/// Decodes the payload types people read; everything else is the fallback.
pub fn summarize(any: &prost_types::Any) -> Summary {
    let other = || Summary::Other {
        type_url: cut(&any.type_url),
        size: any.value.len(),
    };
    let bytes = any.value.as_slice();
    match any.type_url.as_str() {
        LISTENER => match Listener::decode(bytes) {
            Ok(listener) => {
                let manager = listener
                    .api_listener
                    .and_then(|a| a.api_listener)
                    .filter(|a| a.type_url == HCM)
                    .and_then(|a| HttpConnectionManager::decode(a.value.as_slice()).ok());
                let (route_config_name, inline_routes) =
                    match manager.and_then(|m| m.route_specifier) {
                        Some(RouteSpecifier::Rds(rds)) => (cut(&rds.route_config_name), false),
                        Some(RouteSpecifier::RouteConfig(_)) => (String::new(), true),
                        None => (String::new(), false),
                    };
                Summary::Listener {
                    route_config_name,
                    inline_routes,
                }
            }
            Err(_) => other(),
        },
        ROUTE => match RouteConfiguration::decode(bytes) {
            Ok(route) => {
                let mut clusters = std::collections::BTreeSet::new();
                for host in &route.virtual_hosts {
                    for action in host.routes.iter().filter_map(|r| match &r.action {
                        Some(
                            grpc_toolkit_proto::envoy::config::route::v3::route::Action::Route(a),
                        ) => a.cluster_specifier.as_ref(),
                        None => None,
                    }) {
                        match action {
                            ClusterSpecifier::Cluster(name) => {
                                clusters.insert(cut(name));
                            }
                            ClusterSpecifier::WeightedClusters(w) => {
                                clusters.extend(w.clusters.iter().map(|c| cut(&c.name)));
                            }
                            ClusterSpecifier::ClusterHeader(_)
                            | ClusterSpecifier::ClusterSpecifierPlugin(_) => {}
                        }
                        if clusters.len() >= 64 {
                            break;
                        }
                    }
                }
                Summary::Route {
                    virtual_hosts: route.virtual_hosts.len(),
                    clusters: clusters.into_iter().collect(),
                }
            }
            Err(_) => other(),
        },
        CLUSTER => match Cluster::decode(bytes) {
            Ok(c) => Summary::Cluster {
                kind: match &c.cluster_discovery_type {
                    Some(cluster::ClusterDiscoveryType::Type(t)) => {
                        cluster::DiscoveryType::try_from(*t)
                            .map_or_else(|_| format!("type {t}"), |t| t.as_str_name().to_owned())
                    }
                    Some(cluster::ClusterDiscoveryType::ClusterType(custom)) => cut(&custom.name),
                    None => "STATIC".to_owned(),
                },
                eds_service_name: c
                    .eds_cluster_config
                    .map(|e| cut(&e.service_name))
                    .unwrap_or_default(),
            },
            Err(_) => other(),
        },
        ENDPOINTS => match ClusterLoadAssignment::decode(bytes) {
            Ok(cla) => {
                let endpoints = cla.endpoints.iter().flat_map(|l| &l.lb_endpoints);
                let (mut total, mut healthy) = (0, 0);
                for e in endpoints {
                    total += 1;
                    // gRPC treats UNKNOWN like HEALTHY (gRFC A27).
                    if matches!(e.health_status, 0 | 1) {
                        healthy += 1;
                    }
                }
                Summary::Endpoints { total, healthy }
            }
            Err(_) => other(),
        },
        _ => other(),
    }
}

/// The Channelz target of a CSDS client scope. Since gRFC A71 each
/// data-plane target has its own xDS client, and its `client_scope` is the
/// target as C-core re-spells a parsed URI: `xds:///svc` becomes `xds:/svc`
/// (an empty authority is dropped). Channelz shows the target as the
/// application wrote it, so a scheme followed by one slash gets the empty
/// authority back; a scope with an authority (`xds://auth/svc`), without a
/// valid URI scheme, or in any other spelling is itself. Raw: escape it
/// before printing.
pub fn channelz_target(client_scope: &str) -> std::borrow::Cow<'_, str> {
    match client_scope.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && rest.starts_with('/')
                && !rest.starts_with("//") =>
        {
            std::borrow::Cow::Owned(format!("{scheme}://{rest}"))
        }
        _ => std::borrow::Cow::Borrowed(client_scope),
    }
}

/// Whether the Channelz channel `target` is the channel of CSDS scope
/// `scope`: both spellings of one target (`xds:/svc`, `xds:///svc`) join,
/// on either side; an empty scope (a client older than A71, or grpc-js,
/// which keeps one xDS client for all channels) joins no channel.
pub fn scope_joins_target(scope: &str, target: &str) -> bool {
    !scope.is_empty() && channelz_target(scope) == channelz_target(target)
}

/// A resource's type URL: as sent, except a bare message name (grpc-js-xds
/// 1.14 sends `envoy.config.cluster.v3.Cluster`) gets the
/// `type.googleapis.com/` prefix its payload's `Any` has, so a type is one
/// string whichever client reported it.
fn type_url_of(sent: &str) -> std::borrow::Cow<'_, str> {
    if sent.is_empty() || sent.contains('/') {
        std::borrow::Cow::Borrowed(sent)
    } else {
        std::borrow::Cow::Owned(format!("type.googleapis.com/{sent}"))
    }
}

/// At most [`MAX_TEXT`] characters.
fn cut(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_toolkit_proto::envoy::service::status::v3::ClientConfig;
    use grpc_toolkit_proto::envoy::service::status::v3::client_config::GenericXdsConfig;

    fn any(type_url: &str, value: Vec<u8>) -> prost_types::Any {
        prost_types::Any {
            type_url: type_url.to_owned(),
            value,
        }
    }

    fn generic(name: &str, config: Option<prost_types::Any>) -> GenericXdsConfig {
        GenericXdsConfig {
            type_url: CLUSTER.to_owned(),
            name: name.to_owned(),
            xds_config: config,
            ..Default::default()
        }
    }

    #[test]
    fn unknown_and_broken_payloads_are_the_fallback() {
        assert_eq!(
            summarize(&any("type.example/Nope", vec![1, 2, 3])),
            Summary::Other {
                type_url: "type.example/Nope".into(),
                size: 3
            }
        );
        // A field-1 length prefix past the end: does not decode.
        assert_eq!(
            summarize(&any(CLUSTER, vec![0x0a, 0x7f])),
            Summary::Other {
                type_url: CLUSTER.into(),
                size: 2
            }
        );
    }

    #[test]
    fn a_cluster_decodes() {
        let c = Cluster {
            name: "c".into(),
            cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
                cluster::DiscoveryType::Eds as i32,
            )),
            eds_cluster_config: Some(cluster::EdsClusterConfig {
                service_name: "eds".into(),
            }),
            ..Default::default()
        };
        assert_eq!(
            summarize(&any(CLUSTER, c.encode_to_vec())),
            Summary::Cluster {
                kind: "EDS".into(),
                eds_service_name: "eds".into()
            }
        );
    }

    #[test]
    fn resources_and_text_are_bounded() {
        let long = "\u{1b}[31m".repeat(MAX_TEXT);
        let many: Vec<_> = (0..MAX_RESOURCES + 5)
            .map(|_| generic(&long, None))
            .collect();
        let status = decode(ClientStatusResponse {
            config: vec![ClientConfig {
                generic_xds_configs: many,
                ..Default::default()
            }],
        });
        assert_eq!(status.scopes[0].resources.len(), MAX_RESOURCES);
        assert_eq!(status.dropped, 5);
        assert_eq!(status.scopes[0].resources[0].name.chars().count(), MAX_TEXT);
    }

    #[test]
    #[allow(deprecated)]
    fn the_older_per_type_form_is_read_when_generic_is_empty() {
        use grpc_toolkit_proto::envoy::admin::v3::{
            ClustersConfigDump, clusters_config_dump::DynamicCluster,
        };
        let c = Cluster {
            name: "old".into(),
            ..Default::default()
        };
        let per = PerXdsConfig {
            per_xds_config: Some(Per::ClusterConfig(ClustersConfigDump {
                dynamic_active_clusters: vec![DynamicCluster {
                    version_info: "7".into(),
                    cluster: Some(any(CLUSTER, c.encode_to_vec())),
                    client_status: ClientResourceStatus::Acked as i32,
                    ..Default::default()
                }],
                ..Default::default()
            })),
            ..Default::default()
        };
        let status = decode(ClientStatusResponse {
            config: vec![ClientConfig {
                xds_config: vec![per],
                ..Default::default()
            }],
        });
        let r = &status.scopes[0].resources[0];
        assert_eq!(
            (r.name.as_str(), r.version.as_str(), r.status),
            ("old", "7", ClientResourceStatus::Acked)
        );
    }

    /// grpc-js-xds 1.14 sends `envoy.config.cluster.v3.Cluster` as the
    /// type_url: read as the type URL grpcio sends, so every tool names
    /// and sorts one type one way; anything with a `/` stays as sent.
    #[test]
    fn a_bare_message_name_is_read_as_its_type_url() {
        let mut bare = generic("c", None);
        bare.type_url = "envoy.config.cluster.v3.Cluster".into();
        let mut custom = generic("x", None);
        custom.type_url = "type.example/acme.Secret".into();
        let mut empty = generic("e", None);
        empty.type_url = String::new();
        let status = decode(ClientStatusResponse {
            config: vec![ClientConfig {
                generic_xds_configs: vec![bare, generic("full", None), custom, empty],
                ..Default::default()
            }],
        });
        let urls: Vec<&str> = status.scopes[0]
            .resources
            .iter()
            .map(|r| r.type_url.as_str())
            .collect();
        assert_eq!(urls, [CLUSTER, CLUSTER, "type.example/acme.Secret", ""]);
    }
}
