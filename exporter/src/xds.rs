//! The xDS part of `/channelz` (`channelz: {xds: true}`): a target's CSDS
//! (`envoy.service.status.v3`, read through `channelz-client`'s `csds`, the
//! reader the dashboard uses) as gRFC A78's XdsClient gauge in Prometheus
//! form, seen from outside the process:
//!
//! `grpc_xds_client_resources{grpc_target, grpc_xds_authority,
//! grpc_xds_cache_state, grpc_xds_resource_type}`, the number of resources
//! per xDS client target, authority, cache state and type, plus
//! `grpc_xds_client_resource_nack_info`, one series per rejected resource
//! carrying its accepted and rejected versions and the reason, which is
//! what an operator needs when routing breaks.
//!
//! Everything here comes from the server and is hostile: every label value
//! is escaped (controls, bidi, line breaks) and cut to 200 characters, and
//! the series are capped (`channelz.xds_max_series` per family): resource
//! counts beyond the cap are summed into series whose target, authority and
//! type are `_other` but whose cache state is kept (so a NACK alert still
//! fires), NACK series beyond it are left out, and
//! `grpc_xds_series_dropped{family}` says how many were folded or left out.
//! A server without CSDS (UNIMPLEMENTED) is `grpc_xds_csds_supported 0`,
//! not a failure.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use grpc_toolkit_channelz_client::csds::{self, Resource, Summary, XdsStatus};
use grpc_toolkit_conn::{self as conn, Connection};
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;

use crate::expose::{Families, Family};

/// Label value of the series that sum what the cap left out.
const OTHER: &str = "_other";
/// Longest label value taken from the server, in characters (as the
/// Channelz series).
const MAX_LABEL_CHARS: usize = 200;
/// `grpc.xds.authority` of an old-style (non-`xdstp:`) name, as A78 says.
const OLD_AUTHORITY: &str = "#old";
/// `grpc.target` of a scope without a name (clients older than gRFC A71,
/// with one XdsClient for the whole process).
const NO_SCOPE: &str = "unknown";

/// What one CSDS read gave.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// CSDS answered.
    Read(XdsStatus),
    /// The server does not serve CSDS.
    Unsupported,
    /// The read failed: the stable code (`DeadlineExceeded`, a connect
    /// error's code, ...) and what kind of failure.
    Failed {
        /// `connect`, `rpc` or `resolve`, as `grpc_channelz_failure_info`.
        kind: &'static str,
        /// The gRPC code name or the connect error's code.
        code: String,
    },
}

/// Reads CSDS once, the RPC ending by `deadline` (a server that never
/// answers is a `DeadlineExceeded` failure, never a late scrape).
pub(crate) async fn fetch(connection: &Connection, deadline: tokio::time::Instant) -> Outcome {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let read = tokio::time::timeout_at(deadline, csds::fetch(connection, left)).await;
    match read {
        Ok(Ok(Some(status))) => Outcome::Read(status),
        Ok(Ok(None)) => Outcome::Unsupported,
        Ok(Err(e)) => Outcome::Failed {
            kind: "rpc",
            code: conn::code_name(e.code()).to_owned(),
        },
        Err(_) => Outcome::Failed {
            kind: "rpc",
            code: conn::code_name(tonic::Code::DeadlineExceeded).to_owned(),
        },
    }
}

/// Writes the xDS families of one scrape into `families`.
pub(crate) fn render(families: &mut Families, outcome: &Outcome, cap: usize, took: Duration) {
    let read = !matches!(outcome, Outcome::Failed { .. });
    families.add(
        Family::gauge(
            "grpc_xds_scrape_success",
            "Whether the CSDS read succeeded (a server without CSDS counts as read)",
        )
        .sample(&[], if read { 1.0 } else { 0.0 }),
    );
    families.add(
        Family::gauge(
            "grpc_xds_scrape_duration_seconds",
            "How long the CSDS read took",
        )
        .sample(&[], took.as_secs_f64()),
    );
    let status = match outcome {
        Outcome::Failed { kind, code } => {
            families.add(
                Family::gauge("grpc_xds_failure_info", "Why the CSDS read failed")
                    .sample(&[("kind", kind), ("code", code)], 1.0),
            );
            return;
        }
        Outcome::Unsupported => {
            families.add(supported(0.0));
            return;
        }
        Outcome::Read(status) => status,
    };
    families.add(supported(1.0));
    let cap = cap.max(1);
    let (resources, folded) = resources(status, cap);
    let mut family = Family::gauge(
        "grpc_xds_client_resources",
        "xDS resources by client target, authority, cache state and type (gRFC A78)",
    );
    for ((target, authority, state, kind), n) in &resources {
        family.push(
            &[
                ("grpc_target", target),
                ("grpc_xds_authority", authority),
                ("grpc_xds_cache_state", state),
                ("grpc_xds_resource_type", kind),
            ],
            *n as f64,
        );
    }
    families.add(family);
    let (nacks, left_out) = nacks(status, cap);
    let mut family = Family::gauge(
        "grpc_xds_client_resource_nack_info",
        "A rejected xDS resource: its accepted and rejected versions and the reason",
    );
    for labels in nacks {
        family.push_owned(labels, 1.0);
    }
    families.add(family);
    let mut dropped = Family::gauge(
        "grpc_xds_series_dropped",
        "xDS series the cap (channelz.xds_max_series) folded into _other or left out, by family",
    );
    dropped.push(&[("family", "resources")], folded as f64);
    dropped.push(&[("family", "nack_info")], left_out as f64);
    families.add(dropped);
    families.add(
        Family::gauge(
            "grpc_xds_resources_dropped",
            "Resources beyond the CSDS reader's bound, not counted in any series",
        )
        .sample(&[], status.dropped as f64),
    );
    families.add(
        Family::gauge(
            "grpc_xds_scrape_complete",
            "Whether every resource CSDS listed is in its own series (0: see grpc_xds_series_dropped and grpc_xds_resources_dropped)",
        )
        .sample(
            &[],
            if folded == 0 && left_out == 0 && status.dropped == 0 {
                1.0
            } else {
                0.0
            },
        ),
    );
}

fn supported(value: f64) -> Family {
    Family::gauge(
        "grpc_xds_csds_supported",
        "Whether the target serves CSDS (0: UNIMPLEMENTED, no xDS series)",
    )
    .sample(&[], value)
}

/// (target, authority, cache state, type) of a resource count series.
type Key = (String, String, &'static str, String);

/// Resource counts by series key, the first `cap` keys in the server's
/// order kept and the rest summed by cache state into `_other`, and how
/// many keys were folded. Holds at most `cap` + the cache states keys
/// whatever the server sends (the input itself is bounded by the CSDS
/// reader: 16 MiB, 100,000 resources, 1,024 characters a text).
fn resources(status: &XdsStatus, cap: usize) -> (BTreeMap<Key, usize>, usize) {
    let mut kept: BTreeMap<Key, usize> = BTreeMap::new();
    let mut folded: BTreeMap<Key, usize> = BTreeMap::new();
    // Folded keys are counted by their hash, not kept: 8 bytes each
    // however long the labels a server sends.
    let mut folded_keys = std::collections::HashSet::new();
    for scope in &status.scopes {
        let target = grpc_target(&scope.client_scope);
        for r in &scope.resources {
            let key = (
                target.clone(),
                authority(&r.name),
                cache_state(r),
                resource_type(&r.type_url),
            );
            if let Some(n) = kept.get_mut(&key) {
                *n += 1;
            } else if kept.len() < cap {
                kept.insert(key, 1);
            } else {
                let other = (OTHER.to_owned(), OTHER.to_owned(), key.2, OTHER.to_owned());
                *folded.entry(other).or_default() += 1;
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                key.hash(&mut hasher);
                folded_keys.insert(hasher.finish());
            }
        }
    }
    for (key, n) in folded {
        *kept.entry(key).or_default() += n;
    }
    (kept, folded_keys.len())
}

/// One label set per rejected resource (NACKED or RECEIVED_ERROR, with
/// the failure CSDS reported), at most `cap`, and how many were left out.
fn nacks(status: &XdsStatus, cap: usize) -> (Vec<Vec<(String, String)>>, usize) {
    let mut out = Vec::new();
    let mut left_out = 0;
    for scope in &status.scopes {
        let target = grpc_target(&scope.client_scope);
        for r in &scope.resources {
            if !matches!(
                r.status,
                ClientResourceStatus::Nacked | ClientResourceStatus::ReceivedError
            ) {
                continue;
            }
            if out.len() >= cap {
                left_out += 1;
                continue;
            }
            let (rejected, reason) = r
                .failure
                .as_ref()
                .map_or((String::new(), String::new()), |f| {
                    (label(&f.version), label(&f.details))
                });
            out.push(vec![
                ("grpc_target".to_owned(), target.clone()),
                ("grpc_xds_authority".to_owned(), authority(&r.name)),
                ("grpc_xds_cache_state".to_owned(), cache_state(r).to_owned()),
                (
                    "grpc_xds_resource_type".to_owned(),
                    resource_type(&r.type_url),
                ),
                ("name".to_owned(), label(&r.name)),
                ("version".to_owned(), label(&r.version)),
                ("rejected_version".to_owned(), rejected),
                ("reason".to_owned(), reason),
            ]);
        }
    }
    (out, left_out)
}

/// A78's cache state of a resource. NACKED splits on whether a version is
/// cached (`nacked_but_cached`: the client still uses the last good one);
/// RECEIVED_ERROR (gRFC A88) the same way; TIMEOUT and UNKNOWN, which A78
/// predates, keep their CSDS names.
fn cache_state(r: &Resource) -> &'static str {
    let cached = !r.version.is_empty() || !matches!(r.summary, Summary::None);
    match r.status {
        ClientResourceStatus::Requested => "requested",
        ClientResourceStatus::DoesNotExist => "does_not_exist",
        ClientResourceStatus::Acked => "acked",
        ClientResourceStatus::Nacked if cached => "nacked_but_cached",
        ClientResourceStatus::Nacked => "nacked",
        ClientResourceStatus::ReceivedError if cached => "received_error_but_cached",
        ClientResourceStatus::ReceivedError => "received_error",
        ClientResourceStatus::Timeout => "timeout",
        ClientResourceStatus::Unknown => "unknown",
    }
}

/// The channel target a CSDS client scope stands for: C-core spells the
/// target `xds:///svc` as the URI `xds:/svc`, so a scheme followed by one
/// slash gets the empty authority back, and the label joins Channelz's
/// `target`.
fn grpc_target(scope: &str) -> String {
    if scope.is_empty() {
        return NO_SCOPE.to_owned();
    }
    label(&csds::channelz_target(scope))
}

/// The authority of an `xdstp://AUTHORITY/...` name, else `#old`.
fn authority(name: &str) -> String {
    match name.strip_prefix("xdstp://") {
        Some(rest) => label(rest.split('/').next().unwrap_or_default()),
        None => OLD_AUTHORITY.to_owned(),
    }
}

/// The type as A78 names it: the type URL without its host part
/// (`envoy.config.listener.v3.Listener`).
fn resource_type(type_url: &str) -> String {
    let name = type_url.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        "unknown".to_owned()
    } else {
        label(name)
    }
}

/// Text from the server made a bounded, printable label value.
fn label(text: &str) -> String {
    conn::escape::escape_cut(text, MAX_LABEL_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpc_toolkit_channelz_client::csds::{Failure, Scope};

    fn resource(name: &str, status: ClientResourceStatus, version: &str) -> Resource {
        Resource {
            type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
            name: name.into(),
            status,
            version: version.into(),
            last_updated: None,
            failure: None,
            summary: Summary::None,
        }
    }

    fn status(scope: &str, resources: Vec<Resource>) -> XdsStatus {
        XdsStatus {
            scopes: vec![Scope {
                client_scope: scope.into(),
                node_id: String::new(),
                resources,
            }],
            dropped: 0,
        }
    }

    #[test]
    fn scopes_become_channel_targets() {
        assert_eq!(grpc_target("xds:/svc"), "xds:///svc");
        assert_eq!(grpc_target("xds://auth/svc"), "xds://auth/svc");
        assert_eq!(grpc_target("#server"), "#server");
        assert_eq!(grpc_target(""), "unknown");
        assert_eq!(grpc_target("xds:/a\u{1b}[31m"), "xds:///a\\x1b[31m");
    }

    #[test]
    fn cache_states_follow_a78() {
        use ClientResourceStatus as S;
        let state = |s, v| cache_state(&resource("c", s, v));
        assert_eq!(state(S::Requested, ""), "requested");
        assert_eq!(state(S::DoesNotExist, ""), "does_not_exist");
        assert_eq!(state(S::Acked, "1"), "acked");
        assert_eq!(state(S::Nacked, "1"), "nacked_but_cached");
        assert_eq!(state(S::Nacked, ""), "nacked");
        assert_eq!(state(S::ReceivedError, ""), "received_error");
        assert_eq!(state(S::Timeout, ""), "timeout");
    }

    #[test]
    fn authorities_and_types() {
        assert_eq!(authority("cluster-a"), "#old");
        assert_eq!(
            authority("xdstp://mesh.example/envoy.config.cluster.v3.Cluster/c"),
            "mesh.example"
        );
        assert_eq!(
            resource_type("type.googleapis.com/envoy.config.listener.v3.Listener"),
            "envoy.config.listener.v3.Listener"
        );
        assert_eq!(resource_type(""), "unknown");
    }

    #[test]
    fn the_cap_folds_counts_but_keeps_the_cache_state() {
        use ClientResourceStatus as S;
        // Three types; a cap of one keeps the first, the other two fold
        // with their states kept.
        let mut rs = vec![resource("a", S::Acked, "1"), resource("b", S::Acked, "1")];
        let mut other = resource("c", S::Nacked, "1");
        other.type_url = "t/Other".into();
        rs.push(other);
        let mut third = resource("d", S::Acked, "1");
        third.type_url = "t/Third".into();
        rs.push(third);
        let (series, folded) = resources(&status("xds:/s", rs), 1);
        assert_eq!(folded, 2);
        let total: usize = series.values().sum();
        assert_eq!(total, 4, "{series:?}");
        let nacked = (
            OTHER.to_owned(),
            OTHER.to_owned(),
            "nacked_but_cached",
            OTHER.to_owned(),
        );
        assert_eq!(series.get(&nacked), Some(&1), "{series:?}");
        assert_eq!(series.len(), 3, "{series:?}");
    }

    #[test]
    fn series_stay_within_the_cap_whatever_the_server_sends() {
        use ClientResourceStatus as S;
        // 20,000 resources, each of a type of its own, in every state.
        let states = [
            S::Requested,
            S::DoesNotExist,
            S::Acked,
            S::Nacked,
            S::ReceivedError,
            S::Timeout,
            S::Unknown,
        ];
        let rs = (0..20_000)
            .map(|i| {
                let mut r = resource(&format!("r{i}"), states[i % states.len()], "");
                if i % 2 == 0 {
                    r.version = "1".into();
                }
                r.type_url = format!("t/T{i}");
                r
            })
            .collect();
        let status = status("xds:/s", rs);
        let (series, folded) = resources(&status, 5);
        assert!(series.len() <= 5 + 9, "{}", series.len());
        assert_eq!(folded, 20_000 - 5);
        assert_eq!(series.values().sum::<usize>(), 20_000);
        let (nacks, left_out) = nacks(&status, 5);
        assert_eq!(nacks.len(), 5);
        assert!(left_out > 5_000, "{left_out}");
    }

    #[test]
    fn nack_series_carry_escaped_cut_text_and_are_capped() {
        use ClientResourceStatus as S;
        let mut r = resource("c\u{7}", S::Nacked, "1");
        r.failure = Some(Failure {
            version: "2\n".into(),
            details: "bad\u{202e}".repeat(100),
            at: None,
        });
        let (series, left_out) = nacks(&status("xds:/s", vec![r.clone(), r]), 1);
        assert_eq!((series.len(), left_out), (1, 1));
        let get = |k: &str| {
            series[0]
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get("name"), "c\\x07");
        assert_eq!(get("rejected_version"), "2\\n");
        assert!(get("reason").contains("[+"), "{}", get("reason"));
        assert!(!get("reason").contains('\u{202e}'));
    }
}
