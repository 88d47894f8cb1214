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
    support::scrape_channelz(ex, module, target).await
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

/// `/channelz` against Channelz servers that lie (issue #18 item 1): the
/// exporter reads Channelz through the shared client, so each scrape ends
/// in bounded time with what was read and a series saying what was cut.
mod hostile {
    use std::time::{Duration, Instant};

    use grpc_toolkit_proto::channelz::v1::{
        Channel, ChannelData, ChannelRef, GetTopChannelsResponse, Subchannel,
    };
    use prost::Message;
    use testkit::channelz::{Hostile, Paging, channel};
    use testkit::hostile::{HostileServer, Reply};

    use crate::support::{self, assert_promtool_metrics, exporter, samples};

    const CONFIG: &str = r#"
modules:
  grpc:
    prober: grpc
    grpc:
      channelz:
        max_pages: 5
        max_entities: 1000
  grpc_detail:
    prober: grpc
    grpc:
      channelz:
        detail: true
        max_pages: 5
        max_entities: 1000
"#;

    /// A scrape of `target` with this scrape timeout, its body and how
    /// long it took; the body passes `promtool check metrics`.
    async fn scrape(module: &str, target: &str, timeout: &str) -> (String, Duration) {
        let ex = exporter(CONFIG).await;
        let started = Instant::now();
        let r = support::get_with(
            ex.addr(),
            &format!("/channelz?module={module}&target={}", support::enc(target)),
            &[("X-Prometheus-Scrape-Timeout-Seconds", timeout)],
        )
        .await;
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_promtool_metrics(&r.body);
        (r.body, took)
    }

    fn value(body: &str, series: &str) -> Option<f64> {
        support::value(body, series)
    }

    fn sum(body: &str, prefix: &str) -> f64 {
        samples(body)
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| *v)
            .sum()
    }

    /// A partial scrape: it succeeded, says it is not complete, and counts
    /// one cut of `reason` in `method`.
    fn assert_partial(body: &str, method: &str, reason: &str) {
        assert_eq!(
            value(body, "grpc_channelz_scrape_success"),
            Some(1.0),
            "{body}"
        );
        assert_eq!(
            value(body, "grpc_channelz_scrape_complete"),
            Some(0.0),
            "{body}"
        );
        let cut = format!("grpc_channelz_incomplete{{method=\"{method}\",reason=\"{reason}\"}}");
        assert!(
            value(body, &cut).is_some_and(|v| v >= 1.0),
            "{cut} in:\n{body}"
        );
    }

    fn honest(ids: &[i64]) -> Hostile {
        let mut h = Hostile::default();
        for id in ids {
            h.channels.insert(*id, channel(*id, &[], &[]));
            h.top.push(*id);
        }
        h
    }

    #[tokio::test]
    async fn endless_pages_stop_at_max_pages() {
        let server = Hostile {
            paging: Paging::Endless,
            ..Hostile::default()
        }
        .start()
        .await;
        let (body, took) = scrape("grpc", server.addr(), "10").await;
        assert!(took < Duration::from_secs(5), "bounded time: {took:?}");
        assert_partial(&body, "GetTopChannels", "limit");
        // Five pages per scrape, one of them GetServers': four of 100
        // channels, each to a target of its own, all counted.
        assert_eq!(sum(&body, "grpc_channelz_channels{"), 400.0, "{body}");
    }

    #[tokio::test]
    async fn repeating_pages_stop_paging() {
        let server = Hostile {
            paging: Paging::Repeat,
            ..honest(&[1, 2])
        }
        .start()
        .await;
        let (body, took) = scrape("grpc", server.addr(), "10").await;
        assert!(took < Duration::from_secs(5), "bounded time: {took:?}");
        assert_partial(&body, "GetTopChannels", "error");
        assert_eq!(sum(&body, "grpc_channelz_channels{"), 2.0, "{body}");
    }

    #[tokio::test]
    async fn the_largest_id_stops_paging_without_overflow() {
        let server = Hostile {
            paging: Paging::Overflow,
            ..Hostile::default()
        }
        .start()
        .await;
        let (body, took) = scrape("grpc", server.addr(), "10").await;
        assert!(took < Duration::from_secs(5), "bounded time: {took:?}");
        assert_partial(&body, "GetTopChannels", "error");
        assert_eq!(sum(&body, "grpc_channelz_channels{"), 1.0, "{body}");
    }

    #[tokio::test]
    async fn negative_ids_stop_paging() {
        let server = Hostile {
            paging: Paging::Negative,
            ..Hostile::default()
        }
        .start()
        .await;
        let (body, took) = scrape("grpc", server.addr(), "10").await;
        assert!(took < Duration::from_secs(5), "bounded time: {took:?}");
        assert_partial(&body, "GetTopChannels", "error");
        assert_eq!(sum(&body, "grpc_channelz_channels{"), 2.0, "{body}");
    }

    #[tokio::test]
    async fn cycles_end_and_each_entity_counts_once() {
        // 1 -> 2 -> 1 among channels, and subchannel 3 (under both) lists
        // channel 1 again.
        let mut h = honest(&[1]);
        h.channels.insert(1, channel(1, &[2], &[3]));
        h.channels.insert(2, channel(2, &[1], &[3]));
        h.subchannels.insert(
            3,
            Subchannel {
                r#ref: Some(grpc_toolkit_proto::channelz::v1::SubchannelRef {
                    subchannel_id: 3,
                    name: String::new(),
                }),
                data: Some(ChannelData {
                    calls_started: 7,
                    ..Default::default()
                }),
                channel_ref: vec![ChannelRef {
                    channel_id: 1,
                    name: String::new(),
                }],
                ..Default::default()
            },
        );
        let server = h.start().await;
        let (body, took) = scrape("grpc_detail", server.addr(), "10").await;
        assert!(took < Duration::from_secs(5), "bounded time: {took:?}");
        assert_eq!(
            value(&body, "grpc_channelz_scrape_success"),
            Some(1.0),
            "{body}"
        );
        assert_eq!(
            sum(&body, "grpc_channelz_subchannel_calls_started_total{"),
            7.0,
            "subchannel 3 once: {body}"
        );
    }

    #[tokio::test]
    async fn unimplemented_methods_keep_the_rest() {
        let mut h = honest(&[1]);
        h.channels.insert(1, channel(1, &[], &[3]));
        h.unimplemented = vec!["GetServers", "GetSubchannel"];
        let server = h.start().await;
        let (body, _) = scrape("grpc_detail", server.addr(), "10").await;
        assert_partial(&body, "GetServers", "unimplemented");
        assert_partial(&body, "GetSubchannel", "unimplemented");
        assert_eq!(
            value(
                &body,
                "grpc_channelz_channel_calls_started_total{target=\"dns:///c1.test:443\"}"
            ),
            Some(11.0),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_server_slower_than_the_scrape_deadline_fails_in_time() {
        let server = Hostile {
            paging: Paging::Slow(Duration::from_secs(60)),
            ..honest(&[1])
        }
        .start()
        .await;
        // 2 s less the default 0.5 s offset; a second of lateness allowed.
        let (body, took) = scrape("grpc", server.addr(), "2").await;
        assert!(
            took < Duration::from_millis(2_500),
            "hard deadline: {took:?}"
        );
        assert_eq!(
            value(&body, "grpc_channelz_scrape_success"),
            Some(0.0),
            "{body}"
        );
        assert_eq!(
            value(
                &body,
                "grpc_channelz_failure_info{kind=\"rpc\",code=\"DEADLINE_EXCEEDED\"}"
            ),
            Some(1.0),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_detail_walk_slower_than_the_deadline_keeps_what_was_read() {
        let mut h = honest(&[1]);
        h.channels.insert(1, channel(1, &[], &[3]));
        h.hang = vec!["GetSubchannel"];
        let server = h.start().await;
        let (body, took) = scrape("grpc_detail", server.addr(), "2").await;
        assert!(
            took < Duration::from_millis(2_500),
            "hard deadline: {took:?}"
        );
        assert_partial(&body, "GetSubchannel", "error");
        assert_eq!(
            value(
                &body,
                "grpc_channelz_channel_calls_started_total{target=\"dns:///c1.test:443\"}"
            ),
            Some(11.0),
            "the channels read before the deadline are exported: {body}"
        );
    }

    #[tokio::test]
    async fn hostile_label_values_keep_the_exposition_valid() {
        let targets = [
            "quote\"d".to_owned(),
            "back\\slash".to_owned(),
            "new\nline\r".to_owned(),
            "esc\u{1b}[31mred\u{7}".to_owned(),
            "bidi\u{202e}txt".to_owned(),
            "x".repeat(10_000),
        ];
        let mut h = Hostile::default();
        for (i, t) in targets.iter().enumerate() {
            let id = i as i64 + 1;
            let mut c = channel(id, &[], &[]);
            if let Some(d) = c.data.as_mut() {
                d.target = t.clone();
            }
            h.channels.insert(id, c);
            h.top.push(id);
        }
        let server = h.start().await;
        let (body, _) = scrape("grpc", server.addr(), "10").await;
        assert_eq!(
            value(&body, "grpc_channelz_scrape_success"),
            Some(1.0),
            "{body}"
        );
        assert_eq!(sum(&body, "grpc_channelz_channels{"), 6.0, "{body}");
        for raw in ['\u{1b}', '\u{7}', '\r', '\u{202e}'] {
            assert!(!body.contains(raw), "{raw:?} reached the exposition");
        }
        assert!(body.contains("esc\\\\x1b[31mred\\\\x07"), "{body}");
        assert!(body.contains("quote\\\"d"), "{body}");
        assert!(
            body.lines().all(|l| l.len() < 1_000),
            "label values are bounded"
        );
    }

    #[tokio::test]
    async fn invalid_utf8_from_the_server_keeps_the_exposition_valid() {
        // A target of "XXXX", then those bytes replaced by invalid UTF-8
        // (the same length, so every length prefix still holds).
        let response = GetTopChannelsResponse {
            channel: vec![Channel {
                r#ref: Some(ChannelRef {
                    channel_id: 1,
                    name: String::new(),
                }),
                data: Some(ChannelData {
                    target: "XXXX".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            end: true,
        };
        let mut bytes = response.encode_to_vec();
        let at = bytes
            .windows(4)
            .position(|w| w == b"XXXX")
            .expect("the placeholder");
        bytes[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0x1b, 0x80]);
        let server = HostileServer::start(Reply::messages(vec![bytes.into()])).await;
        let (body, took) = scrape("grpc", server.addr(), "10").await;
        assert!(took < Duration::from_secs(5), "bounded time: {took:?}");
        assert_eq!(
            value(&body, "grpc_channelz_scrape_success"),
            Some(0.0),
            "{body}"
        );
        assert!(!body.contains('\u{1b}'), "{body}");
    }

    #[tokio::test]
    async fn counters_that_go_down_on_the_server_stay_monotonic() {
        let mut h = honest(&[1]);
        if let Some(d) = h.channels.get_mut(&1).and_then(|c| c.data.as_mut()) {
            d.calls_started = 1000;
        }
        let server = Hostile {
            shrinking: true,
            ..h
        }
        .start()
        .await;
        let ex = exporter(CONFIG).await;
        let series = "grpc_channelz_channel_calls_started_total{target=\"dns:///c1.test:443\"}";
        let mut last = 0.0;
        for _ in 0..4 {
            let r = support::get_with(
                ex.addr(),
                &format!(
                    "/channelz?module=grpc&target={}",
                    support::enc(server.addr())
                ),
                &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
            )
            .await;
            let now = value(&r.body, series).expect("the series");
            assert!(now >= last, "{now} after {last}: {}", r.body);
            last = now;
        }
        assert!(last >= 1000.0, "{last}");
    }
}
