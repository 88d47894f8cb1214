//! `/probe` against the test kit's in-process servers: blackbox's series
//! and values for each outcome, our extensions, the deadline on silent and
//! hung servers, unix sockets, TLS and mTLS, and `debug=true`. Every
//! classic exposition also passes `promtool check metrics`.

use std::time::{Duration, Instant};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use testkit::faults::{Fault, refused_addr};
use testkit::servers::{HealthKind, TestServer, Transport};
use testkit::tls::TestPki;

use crate::support::{self, assert_promtool_metrics, exporter, probe, value};

/// blackbox's modules (`blackbox::config`), then a module of another
/// prober and modules with our own keys.
pub fn config(pki: &TestPki) -> String {
    format!("{}{OUR_MODULES}", crate::blackbox::config(pki))
}

const OUR_MODULES: &str = r#"  http_2xx:
    prober: http
  grpc_meta:
    prober: grpc
    grpc:
      metadata:
        authorization: ["Bearer sup3rs3cret"]
      authority: "svc.example:443"
  grpc_multi:
    prober: grpc
    grpc:
      services: ["", "svc", "missing"]
  grpc_list:
    prober: grpc
    grpc:
      list: true
"#;

const STATUSES: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

fn assert_health(body: &str, serving: Option<&str>) {
    for s in STATUSES {
        let want = if Some(s) == serving { 1.0 } else { 0.0 };
        assert_eq!(
            value(
                body,
                &format!("probe_grpc_healthcheck_response{{serving_status=\"{s}\"}}")
            ),
            Some(want),
            "{s} in\n{body}"
        );
    }
}

#[tokio::test]
async fn serving_server_has_blackbox_series() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    let r = probe(ex.addr(), "grpc_plain", server.addr(), "5").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(value(b, "probe_success"), Some(1.0), "{b}");
    assert_eq!(value(b, "probe_grpc_status_code"), Some(0.0));
    assert_eq!(value(b, "probe_grpc_ssl"), Some(0.0));
    assert_eq!(value(b, "probe_ip_protocol"), Some(4.0));
    let hash = grpc_exporter::probe::ip_hash("127.0.0.1".parse().expect("ip"));
    assert_eq!(value(b, "probe_ip_addr_hash"), Some(f64::from(hash)));
    assert_eq!(value(b, "probe_timeout_seconds"), Some(4.5));
    for phase in ["resolve", "connect", "check"] {
        assert!(
            value(
                b,
                &format!("probe_grpc_duration_seconds{{phase=\"{phase}\"}}")
            )
            .is_some(),
            "{phase}: {b}"
        );
    }
    assert!(value(b, "probe_dns_lookup_time_seconds").is_some());
    assert_health(b, Some("SERVING"));
    assert!(!b.contains("probe_ssl_"), "no TLS series without TLS: {b}");
    assert!(!b.contains("probe_grpc_failure_info"), "{b}");
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/plain; version=0.0.4")
    );
    assert_promtool_metrics(b);
}

#[tokio::test]
async fn outcomes_and_failure_reasons() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("", ServingStatus::NotServing);
    let r = probe(ex.addr(), "grpc_plain", server.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(0.0));
    assert_eq!(value(&r.body, "probe_grpc_status_code"), Some(0.0));
    assert_health(&r.body, Some("NOT_SERVING"));
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"health\",code=\"NOT_SERVING\"}"
        ),
        Some(1.0),
        "{}",
        r.body
    );
    assert_promtool_metrics(&r.body);

    // Unknown service: NOT_FOUND (5), no serving status.
    let r = probe(ex.addr(), "grpc_svc", server.addr(), "5").await;
    assert_eq!(
        value(&r.body, "probe_grpc_status_code"),
        Some(5.0),
        "{}",
        r.body
    );
    assert_health(&r.body, None);
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"rpc\",code=\"NOT_FOUND\"}"
        ),
        Some(1.0)
    );

    // No health service: UNIMPLEMENTED (12).
    let bare = TestServer::start_with_health(HealthKind::None).await;
    let r = probe(ex.addr(), "grpc_plain", bare.addr(), "5").await;
    assert_eq!(
        value(&r.body, "probe_grpc_status_code"),
        Some(12.0),
        "{}",
        r.body
    );
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"rpc\",code=\"UNIMPLEMENTED\"}"
        ),
        Some(1.0)
    );

    // Refused: UNAVAILABLE (14) like grpc-go, and the precise reason.
    let r = probe(ex.addr(), "grpc_plain", &refused_addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(0.0));
    assert_eq!(
        value(&r.body, "probe_grpc_status_code"),
        Some(14.0),
        "{}",
        r.body
    );
    assert_health(&r.body, None);
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"connect\",code=\"REFUSED\"}"
        ),
        Some(1.0)
    );
    assert_promtool_metrics(&r.body);

    // An HTTP/1 server: connect failure NOT_HTTP2.
    let http1 = Fault::Http1.start().await;
    let r = probe(ex.addr(), "grpc_plain", http1.addr(), "5").await;
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"connect\",code=\"NOT_HTTP2\"}"
        ),
        Some(1.0),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn silent_and_hung_servers_end_by_the_deadline() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let silent = Fault::AcceptSilent.start().await;
    let started = Instant::now();
    let r = probe(ex.addr(), "grpc_plain", silent.addr(), "2").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2000),
        "took {took:?}: past the 2 s scrape timeout"
    );
    assert!(took >= Duration::from_millis(1400), "took {took:?}");
    let inside = value(&r.body, "probe_duration_seconds").expect("duration");
    assert!(
        inside <= 1.5 + 0.05,
        "the probe itself ran {inside} s for a 1.5 s deadline"
    );
    assert_eq!(value(&r.body, "probe_success"), Some(0.0), "{}", r.body);
    assert_eq!(value(&r.body, "probe_grpc_status_code"), Some(14.0));
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"connect\",code=\"TIMEOUT\"}"
        ),
        Some(1.0),
        "{}",
        r.body
    );

    let (server, health) = TestServer::start_with_spec_health().await;
    health.set_hang(true);
    let started = Instant::now();
    let r = probe(ex.addr(), "grpc_plain", server.addr(), "2").await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2000),
        "took {took:?}: past the 2 s scrape timeout"
    );
    assert_eq!(value(&r.body, "probe_success"), Some(0.0));
    assert_eq!(
        value(&r.body, "probe_grpc_status_code"),
        Some(4.0),
        "{}",
        r.body
    );
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"rpc\",code=\"DEADLINE_EXCEEDED\"}"
        ),
        Some(1.0)
    );
    assert_promtool_metrics(&r.body);
}

#[tokio::test]
async fn tls_series_after_a_handshake() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let tls = TestServer::builder().tls(&pki).start().await;
    let r = probe(ex.addr(), "grpc_tls", tls.addr(), "5").await;
    let b = &r.body;
    assert_eq!(value(b, "probe_success"), Some(1.0), "{b}");
    assert_eq!(value(b, "probe_grpc_ssl"), Some(1.0));
    assert_eq!(
        value(b, "probe_tls_version_info{version=\"TLS 1.3\"}"),
        Some(1.0),
        "{b}"
    );
    let expiry = value(b, "probe_ssl_earliest_cert_expiry").expect("expiry");
    assert!(expiry > 1.7e9, "{expiry}");
    let chain = b
        .lines()
        .find(|l| l.starts_with("probe_ssl_last_chain_info{"))
        .expect("chain info");
    assert!(chain.contains("subject=\"CN=localhost\""), "{chain}");
    assert!(
        chain.contains("issuer=\"CN=grpc-toolkit test CA\""),
        "{chain}"
    );
    assert!(
        chain.contains("subjectalternative=\"localhost\""),
        "{chain}"
    );
    assert!(chain.contains("serialnumber=\""), "{chain}");
    assert!(value(b, "probe_grpc_duration_seconds{phase=\"tls\"}").is_some());
    assert_promtool_metrics(b);

    let r = probe(ex.addr(), "grpc_untrusted", tls.addr(), "5").await;
    assert_eq!(
        value(&r.body, "probe_grpc_status_code"),
        Some(14.0),
        "{}",
        r.body
    );
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"connect\",code=\"TLS_UNTRUSTED\"}"
        ),
        Some(1.0)
    );
    assert!(!r.body.contains("probe_ssl_"), "{}", r.body);

    let mtls = TestServer::builder().mtls(&pki).start().await;
    let r = probe(ex.addr(), "grpc_mtls", mtls.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(1.0), "{}", r.body);
    let r = probe(ex.addr(), "grpc_tls", mtls.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(0.0));
    assert_eq!(
        value(
            &r.body,
            "probe_grpc_failure_info{kind=\"connect\",code=\"TLS_CLIENT_CERT_REJECTED\"}"
        ),
        Some(1.0),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn unix_sockets_authority_and_metadata() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let unix = TestServer::start_on(Transport::Unix).await;
    let r = probe(ex.addr(), "grpc_plain", unix.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(1.0), "{}", r.body);
    assert!(
        value(&r.body, "probe_ip_protocol").is_none(),
        "no IP for a unix socket"
    );

    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    let r = probe(ex.addr(), "grpc_meta", server.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(1.0), "{}", r.body);
    let seen = server.last_request().expect("a request");
    assert_eq!(seen.header("authorization"), Some("Bearer sup3rs3cret"));
    assert_eq!(seen.authority.as_deref(), Some("svc.example:443"));
    assert!(
        seen.user_agent()
            .unwrap_or("")
            .starts_with("grpc-exporter/")
    );

    // The secret appears nowhere we write.
    let debug = support::get(
        ex.addr(),
        &format!(
            "/probe?module=grpc_meta&target={}&debug=true",
            support::enc(server.addr())
        ),
    )
    .await;
    assert!(debug.body.contains("Logs for the probe:"), "{}", debug.body);
    assert!(
        debug
            .body
            .contains("Metrics that would have been returned:")
    );
    assert!(debug.body.contains("Module configuration:"));
    for path in ["/config", "/", "/metrics", "/logs?id=0", "/logs?id=1"] {
        let r = support::get(ex.addr(), path).await;
        assert!(!r.body.contains("sup3rs3cret"), "{path}: {}", r.body);
        assert!(!r.body.contains("authorization"), "{path}: {}", r.body);
    }
    assert!(!debug.body.contains("sup3rs3cret"), "{}", debug.body);
}

#[tokio::test]
async fn several_services_and_list() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("svc", ServingStatus::Serving);
    let r = probe(ex.addr(), "grpc_multi", server.addr(), "5").await;
    let b = &r.body;
    assert_eq!(
        value(b, "probe_success"),
        Some(0.0),
        "one service is missing: {b}"
    );
    assert_health(b, Some("SERVING"));
    assert_eq!(
        value(b, "probe_grpc_service_status_code{service=\"svc\"}"),
        Some(0.0),
        "{b}"
    );
    assert_eq!(
        value(b, "probe_grpc_service_status_code{service=\"missing\"}"),
        Some(5.0),
        "{b}"
    );
    assert_eq!(
        value(
            b,
            "probe_grpc_service_healthcheck_response{service=\"svc\",serving_status=\"SERVING\"}"
        ),
        Some(1.0)
    );
    assert_promtool_metrics(b);

    health.remove("svc");
    health.set("other", ServingStatus::NotServing);
    let r = probe(ex.addr(), "grpc_list", server.addr(), "5").await;
    let b = &r.body;
    assert_eq!(
        value(
            b,
            "probe_grpc_service_healthcheck_response{service=\"other\",serving_status=\"NOT_SERVING\"}"
        ),
        Some(1.0),
        "{b}"
    );
    assert_eq!(
        value(
            b,
            "probe_grpc_service_healthcheck_response{service=\"\",serving_status=\"SERVING\"}"
        ),
        Some(1.0),
        "{b}"
    );
    assert_eq!(value(b, "probe_success"), Some(0.0));
    health.set("other", ServingStatus::Serving);
    let r = probe(ex.addr(), "grpc_list", server.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(1.0), "{}", r.body);
}

#[tokio::test]
async fn openmetrics_when_asked() {
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    let path = format!(
        "/probe?module=grpc_plain&target={}",
        support::enc(server.addr())
    );
    let r = support::get_with(
        ex.addr(),
        &path,
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .await;
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/openmetrics-text"),
        "{:?}",
        r.headers
    );
    assert!(r.body.ends_with("# EOF\n"), "{}", r.body);
}

/// The HTTP/2 frame types a client sent, in order, after its preface.
fn frame_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes.get(24..).unwrap_or_default();
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        types.push(rest[3]);
        rest = rest.get(9 + len..).unwrap_or_default();
    }
    types
}

#[tokio::test]
async fn a_probe_ends_its_connection_with_goaway_then_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = TestPki::generate();
    let ex = exporter(&config(&pki)).await;
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    // A proxy that records what the exporter sends, until it closes.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy_addr = proxy.local_addr().expect("addr");
    let upstream = server.addr().to_owned();
    let recorded = tokio::spawn(async move {
        let (client, _) = proxy.accept().await.expect("accept");
        let server = tokio::net::TcpStream::connect(upstream)
            .await
            .expect("connect");
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        });
        let mut sent = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    sent.extend_from_slice(&buf[..n]);
                    let _ = server_write.write_all(&buf[..n]).await;
                }
            }
        }
        sent
    });
    let r = probe(ex.addr(), "grpc_plain", &proxy_addr.to_string(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(1.0), "{}", r.body);
    let sent = tokio::time::timeout(Duration::from_secs(5), recorded)
        .await
        .expect("the exporter closes the connection after the probe")
        .expect("proxy");
    let types = frame_types(&sent);
    // SETTINGS (4) first, GOAWAY (7) last, then the close ended the read.
    assert_eq!(types.first(), Some(&4), "{types:?}");
    assert_eq!(types.last(), Some(&7), "{types:?}");
}
