//! `/channelz` with `channelz: {xds: true}` against the test kit's hostile
//! CSDS server (`testkit::hostile_csds`), one test per mode: every scrape
//! is a valid exposition (`promtool check metrics`), holds a bounded number
//! of series, ends before its deadline, and carries no raw control byte;
//! what was cut or failed says so in its own series, and the Channelz part
//! of the scrape is unharmed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::hostile_csds::{CONTROLS, HostileCsds, Mode, limits};

use crate::support::{self, assert_promtool_metrics, exporter, samples};

const CONFIG: &str = r#"
modules:
  grpc_xds:
    prober: grpc
    grpc:
      channelz:
        xds: true
  grpc_xds_capped:
    prober: grpc
    grpc:
      channelz:
        xds: true
        xds_max_series: 1
"#;

/// The scrape timeout Prometheus sends in these tests.
const TIMEOUT: Duration = Duration::from_secs(3);

/// One scrape of `target`: 200, a valid exposition, within [`TIMEOUT`],
/// with no control or bidi character anywhere in the body.
async fn scrape(ex: SocketAddr, module: &str, target: &str) -> String {
    let started = Instant::now();
    let r = support::get_with(
        ex,
        &format!("/channelz?module={module}&target={}", support::enc(target)),
        &[(
            "X-Prometheus-Scrape-Timeout-Seconds",
            &TIMEOUT.as_secs().to_string(),
        )],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(took < TIMEOUT, "the scrape took {took:?}, past {TIMEOUT:?}");
    assert_promtool_metrics(&r.body);
    let raw = r.body.chars().find(|c| {
        (c.is_control() && *c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert_eq!(raw, None, "a raw control character in:\n{}", r.body);
    r.body
}

/// Sample lines (not comments) of the xDS families.
fn xds_series(body: &str) -> usize {
    body.lines().filter(|l| l.starts_with("grpc_xds_")).count()
}

async fn start(mode: Mode) -> testkit::servers::TestServer {
    HostileCsds::new(mode).start().await
}

#[tokio::test]
async fn control_bytes_are_escaped_and_cut() {
    let server = start(Mode::ControlBytes).await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&1.0), "{body}");
    assert_eq!(s.get("grpc_channelz_scrape_success"), Some(&1.0), "{body}");
    // Every status of the mode has its series (RECEIVED_ERROR and an
    // unknown status number included), each label escaped and cut.
    for state in [
        "acked",
        "nacked_but_cached",
        "requested",
        "does_not_exist",
        "received_error_but_cached",
        "timeout",
        "unknown",
    ] {
        assert!(
            body.contains(&format!("grpc_xds_cache_state=\"{state}\"")),
            "{state}: {body}"
        );
    }
    assert!(body.contains("\\x1b[2J"), "ESC is shown escaped: {body}");
    assert!(body.contains("\\u{202e}"), "the bidi override too: {body}");
    let nacks: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("grpc_xds_client_resource_nack_info{"))
        .collect();
    assert_eq!(nacks.len(), 2, "NACKED and RECEIVED_ERROR: {body}");
    for line in nacks {
        // Eight labels, those from the server at most 200 characters of
        // escaped text plus the cut marker and count: no label is the
        // 1,024 characters the reader kept.
        assert!(line.contains("…[+"), "cut with a marker: {line}");
        assert!(line.len() < 8 * 1_700, "{} bytes: {line}", line.len());
    }
}

#[tokio::test]
async fn the_series_cap_folds_counts_and_drops_nack_series() {
    let server = start(Mode::ControlBytes).await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds_capped", server.addr()).await;
    let s = samples(&body);
    // One series kept; the other keys sum into `_other` by cache state,
    // so an alert on a state still sees it.
    assert_eq!(
        s.get("grpc_xds_series_dropped{family=\"resources\"}"),
        Some(&7.0),
        "{body}"
    );
    assert_eq!(
        s.get("grpc_xds_series_dropped{family=\"nack_info\"}"),
        Some(&1.0),
        "{body}"
    );
    assert_eq!(s.get("grpc_xds_scrape_complete"), Some(&0.0), "{body}");
    let total: f64 = s
        .iter()
        .filter(|(k, _)| k.starts_with("grpc_xds_client_resources{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 8.0, "no resource lost from the counts: {body}");
    assert!(
        body.contains("grpc_target=\"_other\"") && body.contains("\"nacked_but_cached\""),
        "{body}"
    );
    assert!(xds_series(&body) <= 20, "{body}");
}

#[tokio::test]
async fn more_resources_than_the_reader_keeps() {
    let extra = 10;
    let server = start(Mode::ManyResources(limits::MAX_RESOURCES + extra)).await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    let s = samples(&body);
    assert_eq!(
        s.get("grpc_xds_resources_dropped"),
        Some(&(extra as f64)),
        "{body}"
    );
    assert_eq!(s.get("grpc_xds_scrape_complete"), Some(&0.0), "{body}");
    let acked = support::canonical(
        "grpc_xds_client_resources{grpc_target=\"xds:///hostile\",grpc_xds_authority=\"#old\",\
         grpc_xds_cache_state=\"acked\",grpc_xds_resource_type=\"envoy.config.listener.v3.Listener\"}",
    );
    assert_eq!(
        s.get(&acked),
        Some(&(limits::MAX_RESOURCES as f64)),
        "{body}"
    );
    assert!(xds_series(&body) <= 20, "{body}");
}

#[tokio::test]
async fn a_response_past_the_message_bound_is_refused() {
    let server = start(Mode::HugePayload).await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&0.0), "{body}");
    assert_eq!(
        s.get("grpc_xds_failure_info{code=\"OUT_OF_RANGE\",kind=\"rpc\"}"),
        Some(&1.0),
        "{body}"
    );
    assert!(!body.contains("grpc_xds_client_resources{"), "{body}");
    assert_eq!(
        s.get("grpc_channelz_scrape_success"),
        Some(&1.0),
        "Channelz is read all the same: {body}"
    );
}

#[tokio::test]
async fn unknown_payload_types_are_counted_not_errors() {
    let server = start(Mode::UnknownAny).await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&1.0), "{body}");
    for kind in [
        "acme.Secret",
        "acme.Empty",
        "envoy.config.listener.v3.Listener",
        "envoy.config.cluster.v3.Cluster",
        "envoy.extensions.transport_sockets.tls.v3.Secret",
    ] {
        assert!(
            body.contains(&format!("grpc_xds_resource_type=\"{kind}\"")),
            "{kind}: {body}"
        );
    }
}

#[tokio::test]
async fn a_server_that_never_answers_ends_at_the_deadline() {
    let hostile = HostileCsds::new(Mode::Hang);
    let calls = hostile.calls();
    let server = hostile.start().await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    let s = samples(&body);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&0.0), "{body}");
    assert_eq!(
        s.get("grpc_xds_failure_info{code=\"DEADLINE_EXCEEDED\",kind=\"rpc\"}"),
        Some(&1.0),
        "{body}"
    );
    assert_eq!(
        s.get("grpc_channelz_scrape_success"),
        Some(&1.0),
        "the hang does not take Channelz with it: {body}"
    );
}

#[tokio::test]
async fn an_error_message_never_reaches_the_page() {
    let server = start(Mode::Error(CONTROLS.repeat(100))).await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    assert_eq!(
        samples(&body).get("grpc_xds_failure_info{code=\"INTERNAL\",kind=\"rpc\"}"),
        Some(&1.0),
        "{body}"
    );
    assert!(!body.contains("pwned"), "{body}");
}

#[tokio::test]
async fn csds_without_channelz_still_gives_the_xds_series() {
    let server = HostileCsds::new(Mode::UnknownAny)
        .without_channelz()
        .start()
        .await;
    let ex = exporter(CONFIG).await;
    let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
    let s = samples(&body);
    assert_eq!(s.get("grpc_channelz_scrape_success"), Some(&0.0), "{body}");
    assert_eq!(s.get("grpc_xds_scrape_success"), Some(&1.0), "{body}");
    assert_eq!(s.get("grpc_xds_csds_supported"), Some(&1.0), "{body}");
}

/// CSDS rides the connection the Channelz scrape keeps: two scrapes, two
/// CSDS calls, one accepted connection.
#[tokio::test]
async fn csds_uses_the_one_kept_connection() {
    let hostile = HostileCsds::new(Mode::UnknownAny);
    let calls = hostile.calls();
    let server = hostile.start().await;
    let ex = exporter(CONFIG).await;
    for _ in 0..2 {
        let body = scrape(ex.addr(), "grpc_xds", server.addr()).await;
        assert_eq!(
            samples(&body).get("grpc_xds_scrape_success"),
            Some(&1.0),
            "{body}"
        );
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(server.accepted(), 1, "one connection for both scrapes");
}
