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

// ---------------------------------------------------------------------------
// Counts, names and the Channelz join, shared by the JSON `xds` section,
// recordings and the fleet's column (engineer xjson). In a module of their
// own, re-exported, so that helpers others add to this file (and their
// imports) cannot collide with these.

pub use self::json_and_fleet::{STATUSES, StatusCounts, XdsCounts, scope_joins_target, short_type};

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

    /// Whether the Channelz channel `target` is the channel of CSDS scope
    /// `scope`. gRFC A71 names a scope by its data-plane target, which gRPC
    /// implementations write in its normalised form (`xds:/svc`) while
    /// Channelz keeps the target as the application gave it (`xds:///svc`);
    /// both spellings, and an exact match, join.
    pub fn scope_joins_target(scope: &str, target: &str) -> bool {
        if scope.is_empty() {
            return false;
        }
        if scope == target {
            return true;
        }
        let normal = |s: &str| -> Option<String> {
            let rest = s.strip_prefix("xds:")?;
            // `xds:///svc` and `xds:/svc` both name path `/svc` with an empty
            // authority; `xds://auth/svc` has an authority and stays as is.
            let path = rest
                .strip_prefix("//")
                .map_or(Some(rest), |after| after.starts_with('/').then_some(after))?;
            Some(format!("xds:{path}"))
        };
        matches!((normal(scope), normal(target)), (Some(a), Some(b)) if a == b)
    }

    #[cfg(test)]
    mod xjson_tests {
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
