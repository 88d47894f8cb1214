//! `/channelz` against tonic-channelz (in process) and the Python, Node
//! and Go peers: the aggregates by channel target and listen address, the
//! counters staying monotonic when a channel closes between scrapes, the
//! detail level, the series cap, and the connection kept between scrapes.

use std::net::SocketAddr;
use std::time::Duration;

use grpc_toolkit_proto::health::v1::HealthCheckRequest;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};
use tokio::net::TcpListener;
use tonic::transport::{Endpoint, Server};
use tonic_channelz::{ChannelzService, InstrumentedChannel, Registry};

use crate::support::{self, assert_promtool_metrics, exporter, samples};

const CONFIG: &str = r#"
modules:
  grpc:
    prober: grpc
    grpc: {}
  grpc_detail:
    prober: grpc
    grpc:
      channelz:
        detail: true
  grpc_capped:
    prober: grpc
    grpc:
      channelz:
        max_series: 2
"#;

/// A health server counted by our Channelz layer and an admin server
/// serving the registry's Channelz.
struct Fixture {
    registry: Registry,
    app: SocketAddr,
    admin: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn fixture() -> Fixture {
    let registry = Registry::new();
    let app = registry.register_server("app");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let app_addr = listener.local_addr().expect("addr");
    let incoming = app.incoming(listener).expect("incoming");
    let (reporter, health) = tonic_health::server::health_reporter();
    let layer = app.layer();
    let app_task = tokio::spawn(async move {
        let _reporter = reporter;
        let _ = Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(incoming)
            .await;
    });
    let admin = registry.register_server("admin");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let admin_addr = listener.local_addr().expect("addr");
    let incoming = admin.incoming(listener).expect("incoming");
    let layer = admin.layer();
    let service = ChannelzService::new(registry.clone()).into_server();
    let admin_task = tokio::spawn(async move {
        let _ = Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    Fixture {
        registry,
        app: app_addr,
        admin: admin_addr,
        tasks: vec![app_task, admin_task],
    }
}

async fn calls(channel: &InstrumentedChannel, n: usize) {
    let mut client = HealthClient::new(channel.clone());
    for _ in 0..n {
        let _ = client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await;
    }
}

fn series<'a>(
    map: &'a std::collections::BTreeMap<String, f64>,
    prefix: &str,
) -> Vec<(&'a String, f64)> {
    map.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k, *v))
        .collect()
}

async fn scrape(ex: SocketAddr, module: &str, target: &str) -> String {
    let r = support::get_with(
        ex,
        &format!("/channelz?module={module}&target={}", support::enc(target)),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

#[tokio::test]
async fn aggregates_by_target_and_stay_monotonic() {
    let fx = fixture().await;
    let ex = exporter(CONFIG).await;
    let endpoint = Endpoint::from_shared(format!("http://{}", fx.app)).expect("endpoint");
    let a = InstrumentedChannel::connect(&fx.registry, endpoint.clone())
        .await
        .expect("connect a");
    let b = InstrumentedChannel::connect(&fx.registry, endpoint.clone())
        .await
        .expect("connect b");
    calls(&a, 5).await;
    calls(&b, 3).await;
    let body = scrape(ex.addr(), "grpc", &fx.admin.to_string()).await;
    assert_promtool_metrics(&body);
    let s = samples(&body);
    assert_eq!(s.get("grpc_channelz_scrape_success"), Some(&1.0), "{body}");
    let started = series(&s, "grpc_channelz_channel_calls_started_total{");
    assert_eq!(started.len(), 1, "one target, no ids in labels: {body}");
    let (key, first) = (started[0].0.clone(), started[0].1);
    assert_eq!(first, 8.0, "{body}");
    let target_label = key.trim_start_matches("grpc_channelz_channel_calls_started_total");
    let target = target_label
        .trim_start_matches("{target=\"")
        .trim_end_matches("\"}");
    assert_eq!(
        s.get(&format!("grpc_channelz_channels{target_label}")),
        Some(&2.0),
        "{body}"
    );
    assert_eq!(
        support::value(
            &body,
            &format!("grpc_channelz_channel_state{{target=\"{target}\",state=\"READY\"}}")
        ),
        Some(2.0),
        "{body}"
    );
    let served = series(&s, "grpc_channelz_server_calls_started_total{");
    assert!(served.iter().any(|(_, v)| *v >= 8.0), "{body}");
    assert!(!body.contains("channel_id"), "{body}");

    // Channel b closes: its 3 calls stay in the total.
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    calls(&a, 1).await;
    let body = scrape(ex.addr(), "grpc", &fx.admin.to_string()).await;
    let s = samples(&body);
    assert_eq!(s.get(&key), Some(&9.0), "monotonic: {body}");
    assert_eq!(
        s.get(&format!("grpc_channelz_channels{target_label}")),
        Some(&1.0),
        "{body}"
    );
    // One connection kept between the scrapes.
    let m = support::get(ex.addr(), "/metrics").await;
    assert_eq!(
        support::value(&m.body, "grpc_exporter_channelz_connections"),
        Some(1.0),
        "{}",
        m.body
    );

    // Detail: subchannels and sockets.
    let body = scrape(ex.addr(), "grpc_detail", &fx.admin.to_string()).await;
    assert_promtool_metrics(&body);
    assert!(
        body.contains("grpc_channelz_server_socket_streams_started_total"),
        "{body}"
    );
    drop(a);
}

#[tokio::test]
async fn series_are_capped() {
    let fx = fixture().await;
    let ex = exporter(CONFIG).await;
    let mut channels = Vec::new();
    for i in 0..4 {
        // Different targets: the same server under different names.
        let uri = if i % 2 == 0 {
            format!("http://{}", fx.app)
        } else {
            format!("http://localhost:{}", fx.app.port())
        };
        let uri = format!("{uri}/?n={i}");
        let endpoint = Endpoint::from_shared(uri).expect("endpoint");
        if let Ok(c) = InstrumentedChannel::connect(&fx.registry, endpoint).await {
            channels.push(c);
        }
    }
    let body = scrape(ex.addr(), "grpc_capped", &fx.admin.to_string()).await;
    let s = samples(&body);
    let started = series(&s, "grpc_channelz_channel_calls_started_total{");
    assert!(started.len() <= 2, "{body}");
    assert_promtool_metrics(&body);
}

#[tokio::test]
async fn failures_are_reported_not_errors() {
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc", &testkit::faults::refused_addr()).await;
    assert_eq!(
        support::value(&body, "grpc_channelz_scrape_success"),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        support::value(
            &body,
            "grpc_channelz_failure_info{kind=\"connect\",code=\"REFUSED\"}"
        ),
        Some(1.0),
        "{body}"
    );
    // A server without Channelz.
    let server =
        testkit::servers::TestServer::start_with_health(testkit::servers::HealthKind::SpecDefault)
            .await;
    let body = scrape(ex.addr(), "grpc", server.addr()).await;
    assert_eq!(
        support::value(
            &body,
            "grpc_channelz_failure_info{kind=\"rpc\",code=\"UNIMPLEMENTED\"}"
        ),
        Some(1.0),
        "{body}"
    );
}

async fn peer(kind: PeerKind) {
    let Some(peer) = start_or_skip(
        kind,
        PeerOptions {
            channels: 3,
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let ex = exporter(CONFIG).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = scrape(ex.addr(), "grpc_detail", &peer.addr()).await;
        let s = samples(&body);
        let ok = s.get("grpc_channelz_scrape_success") == Some(&1.0);
        let channels: f64 = series(&s, "grpc_channelz_channels{")
            .iter()
            .map(|(_, v)| v)
            .sum();
        let started: f64 = series(&s, "grpc_channelz_channel_calls_started_total{")
            .iter()
            .map(|(_, v)| v)
            .sum();
        let servers: f64 = series(&s, "grpc_channelz_servers{")
            .iter()
            .map(|(_, v)| v)
            .sum();
        if ok && channels >= 3.0 && started >= 1.0 && servers >= 1.0 {
            assert_promtool_metrics(&body);
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{kind}: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn python_peer() {
    peer(PeerKind::Python).await;
}

#[tokio::test]
async fn node_peer() {
    peer(PeerKind::Node).await;
}

#[tokio::test]
async fn go_peer() {
    peer(PeerKind::Go).await;
}

#[tokio::test]
async fn every_page_is_read_and_the_cap_holds() {
    let fx = fixture().await;
    let ex = exporter(CONFIG).await;
    // More channels than one page of tonic-channelz, to distinct targets.
    let mut kept = Vec::new();
    for i in 0..600 {
        let endpoint = Endpoint::from_shared(format!("http://10.1.{}.{}:50051", i / 256, i % 256))
            .expect("endpoint");
        kept.push(InstrumentedChannel::lazy(&fx.registry, endpoint));
    }
    let body = scrape(ex.addr(), "grpc", &fx.admin.to_string()).await;
    let s = samples(&body);
    let channels: f64 = series(&s, "grpc_channelz_channels{")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(channels, 600.0, "every page counted");
    let groups = series(&s, "grpc_channelz_channels{").len();
    assert_eq!(groups, 500, "499 targets and _other");
    assert!(s.contains_key("grpc_channelz_channels{target=\"_other\"}"));
    assert_eq!(
        s.get("grpc_channelz_series_dropped"),
        Some(&101.0),
        "600 groups, 499 kept"
    );
    drop(kept);
}
