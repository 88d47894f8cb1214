//! xDS screen benchmark: one frame of the xDS screen with 10,000 resources
//! (10 client scopes of 1,000: listeners, routes, clusters, endpoints and
//! an unknown type, 1% NACKED with a long reason), on a 200x60 TestBackend,
//! with the selection in the middle; and applying one such CSDS read
//! (escaping, change marks, display order) in `update`.
//!
//! Run: `cargo bench -p channelz-tui --features bench --bench xds`
//!
//! Besides criterion's figures it prints the mean ms per frame over 200
//! frames (target: < 50 ms).

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime};

use channelz_tui::model::{Model, Screen};
use channelz_tui::msg::{Action, Msg};
use channelz_tui::update::update;
use channelz_tui::view;
use channelz_tui::xds::{KNOWN_TYPES, XdsPoll};
use criterion::{Criterion, criterion_group};
use grpc_toolkit_channelz_client::csds::{Failure, Resource, Scope, Summary, XdsStatus};
use grpc_toolkit_proto::channelz::v1::{
    Channel, ChannelConnectivityState, ChannelData, ChannelRef,
};
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SCOPES: usize = 10;
const PER_SCOPE: usize = 1_000;

fn status(version: u32) -> XdsStatus {
    let scopes = (0..SCOPES)
        .map(|s| Scope {
            client_scope: format!("xds:/svc-{s}"),
            node_id: "bench-node".into(),
            resources: (0..PER_SCOPE)
                .map(|i| {
                    let type_url = if i % 50 == 49 {
                        "type.googleapis.com/example.Unknown".to_owned()
                    } else {
                        KNOWN_TYPES[i % 4].0.to_owned()
                    };
                    let nacked = i % 100 == 7;
                    let status = if nacked {
                        ClientResourceStatus::Nacked
                    } else if i % 100 == 13 {
                        ClientResourceStatus::DoesNotExist
                    } else {
                        ClientResourceStatus::Acked
                    };
                    Resource {
                        type_url,
                        name: format!("resource-{s}-{i}"),
                        status,
                        version: version.to_string(),
                        last_updated: Some(1_700_000_000),
                        failure: nacked.then(|| Failure {
                            version: (version + 1).to_string(),
                            details: format!("invalid resource {i}: {}", "reason ".repeat(100)),
                            at: Some(1_700_000_001),
                        }),
                        summary: match i % 4 {
                            0 => Summary::Listener {
                                route_config_name: format!("route-{i}"),
                                inline_routes: false,
                            },
                            1 => Summary::Route {
                                virtual_hosts: 1,
                                clusters: vec![format!("cluster-{i}")],
                            },
                            2 => Summary::Cluster {
                                kind: "EDS".into(),
                                eds_service_name: format!("eds-{i}"),
                            },
                            _ => Summary::Endpoints {
                                total: 3,
                                healthy: 2,
                            },
                        },
                    }
                })
                .collect(),
        })
        .collect();
    XdsStatus { scopes, dropped: 0 }
}

fn channel(id: i64) -> Channel {
    Channel {
        r#ref: Some(ChannelRef {
            channel_id: id,
            name: String::new(),
        }),
        data: Some(ChannelData {
            state: Some(ChannelConnectivityState { state: 3 }),
            target: format!("xds:///svc-{id}"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model() -> Model {
    let now = SystemTime::now();
    let mut model = Model::new("bench", Duration::from_secs(1), now);
    update(&mut model, Msg::Connected);
    update(
        &mut model,
        Msg::Overview {
            at: now,
            channels: (0..SCOPES as i64).map(channel).collect(),
            servers: vec![],
            server_socket_counts: vec![],
            incomplete: vec![],
        },
    );
    update(&mut model, Msg::Resize(view::panel_heights(60)));
    update(&mut model, Msg::Action(Action::Xds));
    update(
        &mut model,
        Msg::Xds {
            at: now,
            poll: XdsPoll::Status(status(1)),
        },
    );
    model.cursors.entry(Screen::Xds).or_default().row = model.xds.rows.len() / 2;
    model
}

fn bench(c: &mut Criterion) {
    let model = model();
    assert_eq!(model.xds.rows.len(), SCOPES * PER_SCOPE + SCOPES);
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    // The figure the target is about, without criterion's statistics.
    let frames = 200;
    let started = Instant::now();
    for _ in 0..frames {
        terminal.draw(|f| view::view(&model, f)).unwrap();
    }
    let per_frame = started.elapsed().as_secs_f64() * 1e3 / f64::from(frames);
    eprintln!(
        "xds screen, {} resources, 200x60: {per_frame:.3} ms per frame (mean of {frames})",
        SCOPES * PER_SCOPE
    );

    let mut group = c.benchmark_group("channelz-tui xds at 10k");
    group.sample_size(20);
    group.bench_function("xds frame render (200x60)", |b| {
        b.iter(|| terminal.draw(|f| view::view(&model, f)).unwrap().area)
    });
    let next = status(2);
    group.bench_function("apply a CSDS read of 10k resources (update)", |b| {
        b.iter_batched(
            || (model.clone(), next.clone()),
            |(mut m, s)| {
                update(
                    &mut m,
                    Msg::Xds {
                        at: SystemTime::now(),
                        poll: XdsPoll::Status(s),
                    },
                );
                m.xds.rows.len()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
