//! CSDS in a recording: a poll's [`XdsPoll`] as an [`XdsRecord`] and back.
//! The writer stores what the CSDS client decoded (already bounded); the
//! reader trusts nothing and bounds it again as the client does
//! (resources, text, route clusters), so a crafted file cannot hand the
//! screens more than a live server could.

use grpc_toolkit_channelz_client::csds::{
    Failure, MAX_RESOURCES, MAX_TEXT, Resource, Scope, Summary, XdsStatus,
};
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;

use super::format::{
    XdsFailureRecord, XdsRecord, XdsResourceRecord, XdsScopeRecord, XdsSummaryRecord, summary_kind,
    xds_kind,
};
use crate::xds::XdsPoll;

/// Route clusters kept per resource when reading (the CSDS client keeps
/// about 64; a file may claim any number).
const MAX_CLUSTERS: usize = 1024;

/// The record of `poll`; `None` (not asked) is [`xds_kind::NOT_ASKED`].
pub fn record_of(poll: Option<&XdsPoll>) -> XdsRecord {
    match poll {
        None => XdsRecord {
            kind: xds_kind::NOT_ASKED,
            ..XdsRecord::default()
        },
        Some(XdsPoll::Unsupported) => XdsRecord {
            kind: xds_kind::UNSUPPORTED,
            ..XdsRecord::default()
        },
        Some(XdsPoll::Failed(error)) => XdsRecord {
            kind: xds_kind::FAILED,
            error: cut(error),
            ..XdsRecord::default()
        },
        Some(XdsPoll::Status(status)) => XdsRecord {
            kind: xds_kind::STATUS,
            error: String::new(),
            scopes: status.scopes.iter().map(scope_record).collect(),
            dropped: status.dropped as u64,
        },
    }
}

fn scope_record(scope: &Scope) -> XdsScopeRecord {
    XdsScopeRecord {
        client_scope: scope.client_scope.clone(),
        node_id: scope.node_id.clone(),
        resources: scope.resources.iter().map(resource_record).collect(),
    }
}

fn resource_record(r: &Resource) -> XdsResourceRecord {
    let blank = XdsSummaryRecord::default();
    let summary = match &r.summary {
        Summary::None => None,
        Summary::Listener {
            route_config_name,
            inline_routes,
        } => Some(XdsSummaryRecord {
            kind: summary_kind::LISTENER,
            text: route_config_name.clone(),
            flag: *inline_routes,
            ..blank
        }),
        Summary::Route {
            virtual_hosts,
            clusters,
        } => Some(XdsSummaryRecord {
            kind: summary_kind::ROUTE,
            count: *virtual_hosts as u64,
            names: clusters.clone(),
            ..blank
        }),
        Summary::Cluster {
            kind,
            eds_service_name,
        } => Some(XdsSummaryRecord {
            kind: summary_kind::CLUSTER,
            text: kind.clone(),
            text2: eds_service_name.clone(),
            ..blank
        }),
        Summary::Endpoints { total, healthy } => Some(XdsSummaryRecord {
            kind: summary_kind::ENDPOINTS,
            count: *total as u64,
            count2: *healthy as u64,
            ..blank
        }),
        Summary::Other { type_url, size } => Some(XdsSummaryRecord {
            kind: summary_kind::OTHER,
            text: type_url.clone(),
            count: *size as u64,
            ..blank
        }),
    };
    XdsResourceRecord {
        type_url: r.type_url.clone(),
        name: r.name.clone(),
        status: r.status as i32,
        version: r.version.clone(),
        last_updated: r.last_updated,
        failure: r.failure.as_ref().map(|f| XdsFailureRecord {
            version: f.version.clone(),
            details: f.details.clone(),
            at: f.at,
        }),
        summary,
    }
}

/// The poll a record stores (`None` for not asked), bounded as the CSDS
/// client bounds a live answer; an unknown kind is an error.
pub fn poll_of(record: XdsRecord) -> Result<Option<XdsPoll>, String> {
    match record.kind {
        xds_kind::NOT_ASKED => Ok(None),
        xds_kind::UNSUPPORTED => Ok(Some(XdsPoll::Unsupported)),
        xds_kind::FAILED => Ok(Some(XdsPoll::Failed(cut(&record.error)))),
        xds_kind::STATUS => {
            let mut kept = 0usize;
            let mut dropped = usize::try_from(record.dropped).unwrap_or(usize::MAX);
            let mut scopes = Vec::with_capacity(record.scopes.len().min(MAX_RESOURCES));
            for s in record.scopes {
                // A scope costs memory too, resources or not.
                if scopes.len() >= MAX_RESOURCES {
                    dropped = dropped.saturating_add(s.resources.len());
                    continue;
                }
                let mut resources = Vec::new();
                for r in s.resources {
                    if kept >= MAX_RESOURCES {
                        dropped = dropped.saturating_add(1);
                        continue;
                    }
                    kept += 1;
                    resources.push(resource_of(r)?);
                }
                scopes.push(Scope {
                    client_scope: cut(&s.client_scope),
                    node_id: cut(&s.node_id),
                    resources,
                });
            }
            Ok(Some(XdsPoll::Status(XdsStatus { scopes, dropped })))
        }
        other => Err(format!("unknown CSDS record kind {other}")),
    }
}

fn resource_of(r: XdsResourceRecord) -> Result<Resource, String> {
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let summary = match r.summary {
        None => Summary::None,
        Some(s) => match s.kind {
            summary_kind::LISTENER => Summary::Listener {
                route_config_name: cut(&s.text),
                inline_routes: s.flag,
            },
            summary_kind::ROUTE => Summary::Route {
                virtual_hosts: size(s.count),
                clusters: s.names.iter().take(MAX_CLUSTERS).map(|c| cut(c)).collect(),
            },
            summary_kind::CLUSTER => Summary::Cluster {
                kind: cut(&s.text),
                eds_service_name: cut(&s.text2),
            },
            summary_kind::ENDPOINTS => Summary::Endpoints {
                total: size(s.count),
                healthy: size(s.count2),
            },
            summary_kind::OTHER => Summary::Other {
                type_url: cut(&s.text),
                size: size(s.count),
            },
            other => return Err(format!("unknown CSDS summary kind {other}")),
        },
    };
    Ok(Resource {
        type_url: cut(&r.type_url),
        name: cut(&r.name),
        status: ClientResourceStatus::try_from(r.status).unwrap_or(ClientResourceStatus::Unknown),
        version: cut(&r.version),
        last_updated: r.last_updated,
        failure: r.failure.map(|f| Failure {
            version: cut(&f.version),
            details: cut(&f.details),
            at: f.at,
        }),
        summary,
    })
}

/// At most [`MAX_TEXT`] characters.
fn cut(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> XdsPoll {
        let resource = |status, summary| Resource {
            type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
            name: "c".into(),
            status,
            version: "1".into(),
            last_updated: Some(1_700_000_000),
            failure: Some(Failure {
                version: "2".into(),
                details: "bad \u{1b}[31m".into(),
                at: Some(-5),
            }),
            summary,
        };
        XdsPoll::Status(XdsStatus {
            scopes: vec![Scope {
                client_scope: "xds:/svc".into(),
                node_id: "n".into(),
                resources: vec![
                    resource(ClientResourceStatus::Nacked, Summary::None),
                    resource(
                        ClientResourceStatus::Acked,
                        Summary::Listener {
                            route_config_name: "r".into(),
                            inline_routes: true,
                        },
                    ),
                    resource(
                        ClientResourceStatus::Requested,
                        Summary::Route {
                            virtual_hosts: 2,
                            clusters: vec!["a".into(), "b".into()],
                        },
                    ),
                    resource(
                        ClientResourceStatus::Timeout,
                        Summary::Cluster {
                            kind: "EDS".into(),
                            eds_service_name: "e".into(),
                        },
                    ),
                    resource(
                        ClientResourceStatus::DoesNotExist,
                        Summary::Endpoints {
                            total: 3,
                            healthy: 1,
                        },
                    ),
                    resource(
                        ClientResourceStatus::ReceivedError,
                        Summary::Other {
                            type_url: "type.example/X".into(),
                            size: 9,
                        },
                    ),
                ],
            }],
            dropped: 4,
        })
    }

    #[test]
    fn every_kind_and_summary_round_trips() {
        for poll in [
            None,
            Some(XdsPoll::Unsupported),
            Some(XdsPoll::Failed("deadline".into())),
            Some(status()),
        ] {
            assert_eq!(poll_of(record_of(poll.as_ref())), Ok(poll));
        }
    }

    #[test]
    fn a_crafted_record_is_bounded_or_refused() {
        let mut record = record_of(Some(&status()));
        record.scopes[0].client_scope = "x".repeat(MAX_TEXT * 3);
        let one = record.scopes[0].resources[0].clone();
        record.scopes[0].resources = vec![one; MAX_RESOURCES + 10];
        record.scopes[0].resources[0].status = 1234;
        let Ok(Some(XdsPoll::Status(status))) = poll_of(record.clone()) else {
            panic!("a status");
        };
        assert_eq!(status.scopes[0].client_scope.chars().count(), MAX_TEXT);
        assert_eq!(status.scopes[0].resources.len(), MAX_RESOURCES);
        assert_eq!(status.dropped, 4 + 10);
        assert_eq!(
            status.scopes[0].resources[0].status,
            ClientResourceStatus::Unknown
        );
        record.kind = 77;
        assert!(poll_of(record.clone()).is_err());
        record.kind = xds_kind::STATUS;
        record.scopes[0].resources[0].summary = Some(XdsSummaryRecord {
            kind: 42,
            ..XdsSummaryRecord::default()
        });
        assert!(poll_of(record).is_err());
    }

    /// A recorded poll's CSDS reaches the xDS screen when it is replayed
    /// (and when the recording poller shows what it records): the
    /// messages a snapshot gives `update` carry it, so the screen shows the
    /// recorded scope, not "waiting for the first CSDS answer".
    #[test]
    fn a_replayed_poll_feeds_the_xds_screen() {
        use crate::model::{Focus, Model};
        use crate::msg::Msg;
        use crate::snapshot::Snapshot;
        use crate::update::update;
        use std::time::{Duration, SystemTime};

        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_100);
        let recorded = poll_of(record_of(Some(&status()))).expect("decodes");
        let snap = Snapshot {
            at: Some(at),
            xds: recorded.clone(),
            ..Snapshot::default()
        };
        let msgs = crate::record::replay::messages(&snap, &Focus::Overview, at);
        assert!(
            msgs.iter()
                .any(|m| matches!(m, Msg::Xds { poll, .. } if Some(poll) == recorded.as_ref())),
            "no Msg::Xds among {} messages",
            msgs.len()
        );
        let mut model = Model::new("recorded", Duration::from_secs(1), at);
        update(&mut model, Msg::Connected);
        for msg in msgs {
            update(&mut model, msg);
        }
        assert_eq!(model.xds_scopes().len(), 1);
        assert_eq!(model.xds_scopes()[0].client_scope, "xds:/svc");

        // A recording made before CSDS was recorded sends no xDS message.
        let old = Snapshot {
            at: Some(at),
            ..Snapshot::default()
        };
        assert!(
            !crate::record::replay::messages(&old, &Focus::Overview, at)
                .iter()
                .any(|m| matches!(m, Msg::Xds { .. }))
        );
    }
}
