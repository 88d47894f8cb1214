//! Side by side with the real blackbox_exporter 0.23 on one config and the
//! same targets: the series both write agree in names, labels and values
//! (durations aside: those must only exist on both sides), except the two
//! ways 0.23 differs from blackbox's current release (it prints
//! `probe_ssl_earliest_cert_expiry 0` without a handshake, and its chain
//! info has no `serialnumber`). On a silent server and a hung handler ours
//! ends by the deadline with `probe_success 0` where 0.23 overruns. Its web
//! config's `client_auth_type` modes ask for, and accept, the same client
//! certificates as ours.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use testkit::faults::{Fault, refused_addr};
use testkit::servers::{HealthKind, TestServer};
use testkit::tls::TestPki;

use crate::http::{CLIENT_AUTH, client_auth_mismatches, client_auth_web_config};
use crate::support::{self, assert_promtool_metrics, exporter, samples};

/// Series both exporters write, compared by value.
const SHARED: [&str; 9] = [
    "probe_success",
    "probe_grpc_ssl",
    "probe_grpc_status_code",
    "probe_grpc_healthcheck_response",
    "probe_ip_protocol",
    "probe_ip_addr_hash",
    "probe_ssl_earliest_cert_expiry",
    "probe_tls_version_info",
    "probe_ssl_last_chain_info",
];
/// Series compared by presence only.
const TIMINGS: [&str; 3] = [
    "probe_duration_seconds",
    "probe_grpc_duration_seconds",
    "probe_dns_lookup_time_seconds",
];

/// The grpc modules blackbox_exporter 0.23 loads too (no metadata, none of
/// our keys); `probe::config` adds ours to the same file.
pub fn config(pki: &TestPki) -> String {
    format!(
        r#"
modules:
  grpc_plain:
    prober: grpc
    grpc: {{}}
  grpc_svc:
    prober: grpc
    grpc:
      service: svc
  grpc_tls:
    prober: grpc
    grpc:
      tls: true
      tls_config:
        ca_file: {ca}
  grpc_untrusted:
    prober: grpc
    grpc:
      tls: true
      tls_config:
        ca_file: {foreign}
  grpc_mtls:
    prober: grpc
    grpc:
      tls: true
      tls_config:
        ca_file: {ca}
        cert_file: {cert}
        key_file: {key}
"#,
        ca = pki.ca_cert().display(),
        foreign = pki.foreign_ca_cert().display(),
        cert = pki.client_cert().display(),
        key = pki.client_key().display(),
    )
}

fn name_of(series: &str) -> &str {
    series.split('{').next().unwrap_or(series)
}

fn without_serial(series: &str) -> String {
    // `…,serialnumber="…",…` → gone; labels are sorted, so drop the pair.
    let Some(at) = series.find("serialnumber=\"") else {
        return series.to_owned();
    };
    let end = series[at + 14..]
        .find('"')
        .map_or(series.len(), |e| at + 14 + e + 1);
    let mut out = format!("{}{}", &series[..at], &series[end..]);
    out = out.replace(",,", ",").replace("{,", "{").replace(",}", "}");
    out
}

fn compare(case: &str, ours: &str, theirs: &str) {
    let ours_map = samples(ours);
    let theirs_map = samples(theirs);
    let ours_shared: BTreeMap<String, f64> = ours_map
        .iter()
        .filter(|(k, _)| SHARED.contains(&name_of(k)))
        .map(|(k, v)| (without_serial(k), *v))
        .collect();
    let mut theirs_shared: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in &theirs_map {
        let name = name_of(k);
        if !SHARED.contains(&name) {
            continue;
        }
        // 0.23 writes the expiry as 0 when there was no handshake.
        if name == "probe_ssl_earliest_cert_expiry" && *v == 0.0 && !ours_map.contains_key(k) {
            continue;
        }
        theirs_shared.insert(without_serial(k), *v);
    }
    assert_eq!(
        ours_shared, theirs_shared,
        "{case}: shared series differ\nours:\n{ours}\nblackbox:\n{theirs}"
    );
    for (k, _) in theirs_map
        .iter()
        .filter(|(k, _)| TIMINGS.contains(&name_of(k)))
    {
        assert!(
            ours_map.contains_key(k),
            "{case}: {k} missing from ours:\n{ours}"
        );
    }
}

async fn both(
    ours: SocketAddr,
    theirs: SocketAddr,
    module: &str,
    target: &str,
) -> (String, String) {
    let a = support::probe(ours, module, target, "5").await;
    let b = support::probe(theirs, module, target, "5").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(b.status, 200, "{}", b.body);
    (a.body, b.body)
}

#[tokio::test]
async fn shared_series_agree_with_blackbox_0_23() {
    let pki = TestPki::generate();
    let text = config(&pki);
    let Some(bb) = support::blackbox(&text).await else {
        return;
    };
    let ex = exporter(&text).await;

    let (serving, _) = TestServer::start_with_spec_health().await;
    let (not_serving, health) = TestServer::start_with_spec_health().await;
    health.set("", ServingStatus::NotServing);
    let bare = TestServer::start_with_health(HealthKind::None).await;
    let tls = TestServer::builder().tls(&pki).start().await;
    let mtls = TestServer::builder().mtls(&pki).start().await;
    let refused = refused_addr();
    let cases: Vec<(&str, &str, String)> = vec![
        ("serving", "grpc_plain", serving.addr().to_owned()),
        ("not serving", "grpc_plain", not_serving.addr().to_owned()),
        ("unknown service", "grpc_svc", serving.addr().to_owned()),
        ("no health service", "grpc_plain", bare.addr().to_owned()),
        ("refused", "grpc_plain", refused),
        ("tls trusted", "grpc_tls", tls.addr().to_owned()),
        ("tls untrusted", "grpc_untrusted", tls.addr().to_owned()),
        ("mtls", "grpc_mtls", mtls.addr().to_owned()),
    ];
    for (case, module, target) in &cases {
        let (ours, theirs) = both(ex.addr(), bb.addr, module, target).await;
        compare(case, &ours, &theirs);
        assert_promtool_metrics(&ours);
    }
}

/// Issue 18 item 2: a proxy's own HTTP answer (no `grpc-status`, not
/// `application/grpc`) gets its `probe_grpc_status_code` from the HTTP
/// status as grpc-go maps it, as blackbox_exporter's does: 14 for a 503,
/// where ours said 2.
#[tokio::test]
async fn a_proxys_http_answer_has_blackboxs_status_code() {
    use testkit::hostile::{HostileServer, Reply};
    let pki = TestPki::generate();
    let text = config(&pki);
    let Some(bb) = support::blackbox(&text).await else {
        return;
    };
    let ex = exporter(&text).await;
    let body = |text: &'static str| Some(bytes::Bytes::from_static(text.as_bytes()));
    let cases = [
        ("503 trailers-only", 503, Some("text/plain"), None, 14.0),
        (
            "503 with a body",
            503,
            Some("text/plain"),
            body("no healthy upstream"),
            14.0,
        ),
        (
            "502 page",
            502,
            Some("text/html"),
            body("<html>bad gateway</html>"),
            14.0,
        ),
        ("504", 504, Some("text/plain"), None, 14.0),
        ("429", 429, Some("text/plain"), body("slow down"), 14.0),
        ("401", 401, Some("text/plain"), None, 16.0),
        ("403", 403, None, None, 7.0),
        (
            "404",
            404,
            Some("text/plain"),
            body("404 page not found"),
            12.0,
        ),
        ("400", 400, Some("text/plain"), None, 13.0),
        ("500", 500, Some("text/plain"), None, 2.0),
        (
            "200 login page",
            200,
            Some("text/html"),
            body("<html>login</html>"),
            2.0,
        ),
    ];
    for (case, status, content_type, body, code) in cases {
        let server = HostileServer::start(Reply::Http {
            status,
            content_type,
            body,
        })
        .await;
        let (ours, theirs) = both(ex.addr(), bb.addr, "grpc_plain", server.addr()).await;
        assert_eq!(
            support::value(&ours, "probe_grpc_status_code"),
            Some(code),
            "{case}: ours:\n{ours}"
        );
        compare(case, &ours, &theirs);
    }
}

#[tokio::test]
async fn ours_ends_by_the_deadline_where_0_23_overruns() {
    let pki = TestPki::generate();
    let text = config(&pki);
    let Some(bb) = support::blackbox(&text).await else {
        return;
    };
    let ex = exporter(&text).await;
    let silent = Fault::AcceptSilent.start().await;
    let (hung, health) = TestServer::start_with_spec_health().await;
    health.set_hang(true);
    // Both targets, and both exporters, at once: each side waits out its own
    // deadline, so in sequence this test took four waits instead of one.
    let check = |target: String| {
        let (ex, bb) = (&ex, &bb);
        async move {
            let started = Instant::now();
            let (ours, theirs) = tokio::join!(
                async {
                    let ours = support::probe(ex.addr(), "grpc_plain", &target, "2").await;
                    (ours, started.elapsed())
                },
                // The scrape would have given up at 2 s; 0.23 is still probing.
                tokio::time::timeout(
                    Duration::from_secs(3),
                    support::probe(bb.addr, "grpc_plain", &target, "2"),
                ),
            );
            let (ours, took) = ours;
            assert!(took < Duration::from_millis(2000), "{target}: {took:?}");
            assert_eq!(
                support::value(&ours.body, "probe_success"),
                Some(0.0),
                "{target}: {}",
                ours.body
            );
            assert!(
                theirs.is_err(),
                "blackbox_exporter 0.23 answered {target} within the scrape: {:?}",
                theirs.map(|r| r.body)
            );
        }
    };
    tokio::join!(
        check(silent.addr().to_owned()),
        check(hung.addr().to_owned())
    );
}

#[tokio::test]
async fn client_auth_types_match_blackbox_0_23() {
    let pki = TestPki::generate();
    let text = config(&pki);
    let mut wrong = Vec::new();
    for row @ (mode, _, _) in CLIENT_AUTH {
        let web = client_auth_web_config(&pki, mode);
        let Some(bb) = support::blackbox_tls(&text, &web, &pki).await else {
            return;
        };
        wrong.extend(client_auth_mismatches(bb.addr, &pki, row).await);
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
