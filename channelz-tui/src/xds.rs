//! CSDS in the dashboard: what one poll learned of the target's xDS clients
//! ([`XdsPoll`]), the one value that the xDS screen, the JSON `xds`
//! section, recordings and the fleet's per-member counts all read.
//!
//! The poller asks CSDS beside Channelz on every poll (`Api::xds`); a
//! server without CSDS is [`XdsPoll::Unsupported`], a line on the screen,
//! never an error of the poll.

use grpc_toolkit_channelz_client::csds::XdsStatus;

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

// Shared helpers: the xDS screen, the JSON section and the fleet's counts
// must agree on names, order and what counts as a problem, so they live
// here, beside the type they read.

use grpc_toolkit_channelz_client::csds::Resource;
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;

/// The status as CSDS spells it (`ACKED`, `NACKED`, `DOES_NOT_EXIST`, ...).
pub fn status_name(status: ClientResourceStatus) -> &'static str {
    status.as_str_name()
}

/// Where a status sorts: what an operator must look at first comes first
/// (NACKED, RECEIVED_ERROR, TIMEOUT, DOES_NOT_EXIST, REQUESTED, UNKNOWN,
/// ACKED).
pub fn status_rank(status: ClientResourceStatus) -> u8 {
    match status {
        ClientResourceStatus::Nacked => 0,
        ClientResourceStatus::ReceivedError => 1,
        ClientResourceStatus::Timeout => 2,
        ClientResourceStatus::DoesNotExist => 3,
        ClientResourceStatus::Requested => 4,
        ClientResourceStatus::Unknown => 5,
        ClientResourceStatus::Acked => 6,
    }
}

/// Whether a status means the client is not running the config the
/// management server meant it to: rejected (NACKED), missing
/// (DOES_NOT_EXIST) or never delivered (RECEIVED_ERROR, TIMEOUT).
/// REQUESTED is a normal moment of every subscription, not a problem.
pub fn is_problem(status: ClientResourceStatus) -> bool {
    status_rank(status) <= 3
}

/// Whether a resource is missing: DOES_NOT_EXIST (the fleet's "missing").
pub fn is_missing(status: ClientResourceStatus) -> bool {
    status == ClientResourceStatus::DoesNotExist
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
pub fn display_order(resources: &[Resource]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..resources.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&resources[a], &resources[b]);
        let nacked = |r: &Resource| r.status != ClientResourceStatus::Nacked;
        (nacked(a), type_rank(&a.type_url), &a.type_url)
            .cmp(&(nacked(b), type_rank(&b.type_url), &b.type_url))
            .then(status_rank(a.status).cmp(&status_rank(b.status)))
            .then(a.name.cmp(&b.name))
    });
    order
}

/// How many resources of a read are NACKED and how many missing
/// (DOES_NOT_EXIST), over every scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProblemCounts {
    /// NACKED resources.
    pub nacked: usize,
    /// DOES_NOT_EXIST resources.
    pub missing: usize,
    /// Every resource kept.
    pub total: usize,
}

/// [`ProblemCounts`] of one read.
pub fn problem_counts(status: &XdsStatus) -> ProblemCounts {
    let mut counts = ProblemCounts::default();
    for r in status.scopes.iter().flat_map(|s| &s.resources) {
        counts.total += 1;
        match r.status {
            ClientResourceStatus::Nacked => counts.nacked += 1,
            s if is_missing(s) => counts.missing += 1,
            _ => {}
        }
    }
    counts
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

/// Whether a CSDS scope and a Channelz channel target name the same
/// data-plane target (see [`channelz_target`]); an empty scope (a client
/// older than A71) names none.
pub fn scope_matches_target(client_scope: &str, target: &str) -> bool {
    !client_scope.is_empty() && channelz_target(client_scope) == channelz_target(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_toolkit_channelz_client::csds::Summary;

    fn resource(type_url: &str, name: &str, status: ClientResourceStatus) -> Resource {
        Resource {
            type_url: type_url.into(),
            name: name.into(),
            status,
            version: String::new(),
            last_updated: None,
            failure: None,
            summary: Summary::None,
        }
    }

    #[test]
    fn scopes_join_channelz_targets() {
        assert_eq!(channelz_target("xds:/svc"), "xds:///svc");
        assert_eq!(channelz_target("xds:///svc"), "xds:///svc");
        assert_eq!(channelz_target("xds://auth/svc"), "xds://auth/svc");
        assert_eq!(channelz_target("#server"), "#server");
        assert!(scope_matches_target("xds:/svc", "xds:///svc"));
        assert!(!scope_matches_target("xds:/svc", "xds:///svc2"));
        assert!(!scope_matches_target("", ""));
    }

    #[test]
    fn nacked_first_then_by_type_problems_first() {
        use ClientResourceStatus::*;
        let [l, r, c, e] = KNOWN_TYPES.map(|(url, _)| url);
        let rs = vec![
            resource(e, "e", Acked),
            resource("type.example/Z", "z", Acked),
            resource(l, "l-ok", Acked),
            resource(c, "c-bad", Nacked),
            resource(l, "l-gone", DoesNotExist),
            resource(r, "r", Requested),
        ];
        let names: Vec<&str> = display_order(&rs)
            .into_iter()
            .map(|i| rs[i].name.as_str())
            .collect();
        assert_eq!(names, ["c-bad", "l-gone", "l-ok", "r", "e", "z"]);
        assert_eq!(type_name(c), "Cluster");
        assert_eq!(type_name("type.example/Z"), "type.example/Z");
        assert!(is_problem(Timeout) && is_problem(Nacked) && !is_problem(Requested));
        let status = XdsStatus {
            scopes: vec![grpc_toolkit_channelz_client::csds::Scope {
                client_scope: "xds:/a".into(),
                node_id: "n".into(),
                resources: rs,
            }],
            dropped: 0,
        };
        assert_eq!(
            problem_counts(&status),
            ProblemCounts {
                nacked: 1,
                missing: 1,
                total: 6
            }
        );
    }
}
