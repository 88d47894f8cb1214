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

/// Scopes and Channelz targets, joined as the exporter joins them.
pub use grpc_toolkit_channelz_client::csds::{channelz_target, scope_joins_target};

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

// ---------------------------------------------------------------------------
// Counts, names and the Channelz join, shared by the JSON `xds` section,
// recordings and the fleet's column (engineer xjson). In a module of their
// own, re-exported, so that helpers others add to this file (and their
// imports) cannot collide with these.

pub use self::json_and_fleet::{STATUSES, StatusCounts, XdsCounts, short_type};

mod json_and_fleet {
    //! Status counts, the fleet's NACKED/missing figures, short type
    //! names and the scope-to-channel join.

    use grpc_toolkit_channelz_client::csds::Scope;
    use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;

    use super::XdsPoll;

    /// Every CSDS status, in the order documents list them.
    pub const STATUSES: [ClientResourceStatus; 7] = [
        ClientResourceStatus::Unknown,
        ClientResourceStatus::Requested,
        ClientResourceStatus::DoesNotExist,
        ClientResourceStatus::Acked,
        ClientResourceStatus::Nacked,
        ClientResourceStatus::ReceivedError,
        ClientResourceStatus::Timeout,
    ];

    /// Resources by status, over one scope or all of them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct StatusCounts {
        /// Indexed by the status number (the order of [`STATUSES`]).
        pub by_status: [usize; 7],
    }

    impl StatusCounts {
        /// The counts of `scopes`' resources.
        pub fn of<'a>(scopes: impl IntoIterator<Item = &'a Scope>) -> StatusCounts {
            let mut counts = StatusCounts::default();
            for scope in scopes {
                for r in &scope.resources {
                    counts.add(r.status);
                }
            }
            counts
        }

        fn add(&mut self, status: ClientResourceStatus) {
            if let Some(n) = usize::try_from(status as i32)
                .ok()
                .and_then(|i| self.by_status.get_mut(i))
            {
                *n += 1;
            }
        }

        /// Resources with `status`.
        pub fn get(&self, status: ClientResourceStatus) -> usize {
            usize::try_from(status as i32)
                .ok()
                .and_then(|i| self.by_status.get(i))
                .copied()
                .unwrap_or(0)
        }

        /// NACKED: the client rejected the last update (it keeps the version
        /// it accepted before, if any).
        pub fn nacked(&self) -> usize {
            self.get(ClientResourceStatus::Nacked)
        }

        /// "Missing": DOES_NOT_EXIST (the server said so, or the client's
        /// does-not-exist timer fired) plus TIMEOUT (asked, never answered
        /// within the client's timeout). REQUESTED is not counted: every
        /// resource is REQUESTED for a moment after it is first asked for.
        pub fn missing(&self) -> usize {
            self.get(ClientResourceStatus::DoesNotExist) + self.get(ClientResourceStatus::Timeout)
        }

        /// All resources counted.
        pub fn total(&self) -> usize {
            self.by_status.iter().sum()
        }
    }

    /// What the fleet's xDS column shows of one member: NACKED and missing
    /// resources (see [`StatusCounts::missing`]), of a member whose CSDS
    /// answered.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct XdsCounts {
        /// NACKED resources.
        pub nacked: usize,
        /// DOES_NOT_EXIST and TIMEOUT resources.
        pub missing: usize,
        /// All resources (kept ones; `dropped` are not counted).
        pub total: usize,
    }

    impl XdsPoll {
        /// The fleet column's counts; `None` when CSDS did not answer
        /// (unsupported, or the read failed).
        pub fn counts(&self) -> Option<XdsCounts> {
            match self {
                XdsPoll::Status(status) => {
                    let c = StatusCounts::of(&status.scopes);
                    Some(XdsCounts {
                        nacked: c.nacked(),
                        missing: c.missing(),
                        total: c.total(),
                    })
                }
                XdsPoll::Unsupported | XdsPoll::Failed(_) => None,
            }
        }
    }

    /// The short name of a resource type: the message name of its type URL
    /// (`Listener`, `RouteConfiguration`, `Cluster`, `ClusterLoadAssignment`),
    /// or the whole URL when it has no `/` and `.` form.
    pub fn short_type(type_url: &str) -> &str {
        let message = type_url.rsplit('/').next().unwrap_or(type_url);
        match message.rsplit('.').next() {
            Some(name) if !name.is_empty() => name,
            _ => type_url,
        }
    }

    #[cfg(test)]
    mod xjson_tests {
        use super::super::scope_joins_target;
        use super::*;

        #[test]
        fn scopes_join_channelz_targets_in_either_spelling() {
            assert!(scope_joins_target("xds:/svc", "xds:///svc"));
            assert!(scope_joins_target("xds:///svc", "xds:///svc"));
            assert!(scope_joins_target("xds:/svc", "xds:/svc"));
            assert!(!scope_joins_target("xds:/svc", "xds:///other"));
            assert!(!scope_joins_target("xds:/svc", "dns:///svc"));
            assert!(!scope_joins_target("", ""));
            assert!(!scope_joins_target("xds://auth/svc", "xds:///svc"));
            assert!(scope_joins_target("xds://auth/svc", "xds://auth/svc"));
        }

        #[test]
        fn short_types_are_message_names() {
            assert_eq!(
                short_type("type.googleapis.com/envoy.config.listener.v3.Listener"),
                "Listener"
            );
            assert_eq!(short_type("type.example/acme.Secret"), "Secret");
            assert_eq!(short_type("plain"), "plain");
            assert_eq!(short_type(""), "");
            assert_eq!(short_type("a/b."), "a/b.");
        }
    }
}
