//! CSDS in the dashboard: what one poll learned of the target's xDS clients
//! ([`XdsPoll`]), the one value that the xDS screen, the JSON `xds`
//! section, recordings and the fleet's per-member counts all read.
//!
//! The poller asks CSDS beside Channelz on every poll (`Api::xds`); a
//! server without CSDS is [`XdsPoll::Unsupported`], a line on the screen,
//! never an error of the poll.

use grpc_toolkit_channelz_client::csds::XdsStatus;

// Shared helpers: the xDS screen, the JSON section and the fleet's counts
// must agree on names, order and what counts as a problem, so they live
// here, beside the type they read. (Above `XdsPoll`, with qualified paths,
// so that they merge cleanly with the helpers xjson adds below it.)

use grpc_toolkit_channelz_client::csds::Resource as CsdsResource;
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus as Status;

/// The status as CSDS spells it (`ACKED`, `NACKED`, `DOES_NOT_EXIST`, ...).
pub fn status_name(status: Status) -> &'static str {
    status.as_str_name()
}

/// Where a status sorts: what an operator must look at first comes first
/// (NACKED, RECEIVED_ERROR, TIMEOUT, DOES_NOT_EXIST, REQUESTED, UNKNOWN,
/// ACKED).
pub fn status_rank(status: Status) -> u8 {
    match status {
        Status::Nacked => 0,
        Status::ReceivedError => 1,
        Status::Timeout => 2,
        Status::DoesNotExist => 3,
        Status::Requested => 4,
        Status::Unknown => 5,
        Status::Acked => 6,
    }
}

/// Whether a status means the client is not running the config the
/// management server meant it to: rejected (NACKED), missing
/// (DOES_NOT_EXIST) or never delivered (RECEIVED_ERROR, TIMEOUT).
/// REQUESTED is a normal moment of every subscription, not a problem.
pub fn is_problem(status: Status) -> bool {
    status_rank(status) <= 3
}

/// The xDS types people read, in the order a request flows through them
/// (type URL, short name).
pub const KNOWN_TYPES: [(&str, &str); 4] = [
    (
        "type.googleapis.com/envoy.config.listener.v3.Listener",
        "Listener",
    ),
    (
        "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "RouteConfiguration",
    ),
    (
        "type.googleapis.com/envoy.config.cluster.v3.Cluster",
        "Cluster",
    ),
    (
        "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "ClusterLoadAssignment",
    ),
];

/// The short name of a known type, else the type URL itself (raw: escape
/// it before printing).
pub fn type_name(type_url: &str) -> &str {
    KNOWN_TYPES
        .iter()
        .find(|(url, _)| *url == type_url)
        .map_or(type_url, |(_, name)| name)
}

/// Where a type sorts: the known types in [`KNOWN_TYPES`] order, every
/// other type after them (then by type URL).
pub fn type_rank(type_url: &str) -> usize {
    KNOWN_TYPES
        .iter()
        .position(|(url, _)| *url == type_url)
        .unwrap_or(KNOWN_TYPES.len())
}

/// The order a scope's resources are shown in, as indices into
/// `resources`: NACKED first (of every type, the rejections an operator
/// came for), then the rest grouped by type ([`type_rank`], then type
/// URL), each type's problems first ([`status_rank`]), then by name.
pub fn display_order(resources: &[CsdsResource]) -> Vec<usize> {
    // The keys once per resource, not per comparison: type_rank compares
    // type URLs, and a scope can have tens of thousands of resources.
    let mut keyed: Vec<_> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                r.status != Status::Nacked,
                type_rank(&r.type_url),
                r.type_url.as_str(),
                status_rank(r.status),
                r.name.as_str(),
                i,
            )
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|k| k.5).collect()
}

/// The Channelz target of a CSDS client scope. Since gRFC A71 each
/// data-plane target has its own xDS client, and its `client_scope` is the
/// target as C-core re-spells a parsed URI: `xds:///svc` becomes
/// `xds:/svc` (an empty authority is dropped). Channelz shows the target
/// as the application wrote it, so `xds:/svc` is `xds:///svc`; a scope
/// with an authority (`xds://auth/svc`) or any other spelling is itself.
pub fn channelz_target(client_scope: &str) -> std::borrow::Cow<'_, str> {
    match client_scope.split_once(':') {
        Some((scheme, rest)) if rest.starts_with('/') && !rest.starts_with("//") => {
            std::borrow::Cow::Owned(format!("{scheme}://{rest}"))
        }
        _ => std::borrow::Cow::Borrowed(client_scope),
    }
}

/// One CSDS read, as the dashboard keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum XdsPoll {
    /// The decoded, bounded client status.
    Status(XdsStatus),
    /// The server answered UNIMPLEMENTED: it serves no CSDS.
    Unsupported,
    /// The read failed (deadline, connection, a malformed answer): the
    /// error's one line, raw (renderers escape it).
    Failed(String),
}
