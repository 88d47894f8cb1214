//! Issue 18 item 4, the exporter's edges: text a client or a server sent
//! is escaped on every page that shows it; the allow-list gives one answer
//! to every spelling of an address; a module's metadata never shows, even
//! when the target echoes it back; and the HTTP limits hold under 2,000
//! concurrent requests. (A bad flag being one line and exit 1 is in
//! `config`, which runs the binary.)

use std::time::{Duration, Instant};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use testkit::hostile::{HostileServer, Reply, list_response};
use testkit::servers::{HealthKind, TestServer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, enc, exporter, exporter_with, get, probe, value};

const SECRET: &str = "sup3rs3cret-T0KEN";

fn config(extra: &str) -> String {
    format!(
        r#"
modules:
  grpc:
    prober: grpc
    grpc: {{}}
  grpc_list:
    prober: grpc
    grpc:
      list: true
  grpc_meta:
    prober: grpc
    grpc:
      metadata:
        authorization: ["Bearer {SECRET}"]
  grpc_meta_list:
    prober: grpc
    grpc:
      list: true
      metadata:
        x-api-key: ["{SECRET}"]
{extra}"#
    )
}

/// No C0 or C1 control (the newlines that end lines aside), no DEL and no
/// bidi override.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| (c.is_control() && *c != '\n') || matches!(c, '\u{202e}' | '\u{2066}'))
        .collect()
}

/// The pages of the probe the exporter ran last: the debug text (asked
/// again with `debug=true`), its `/logs` entry and `/`.
async fn pages(addr: std::net::SocketAddr, module: &str, target: &str) -> Vec<(String, String)> {
    let debug = get(
        addr,
        &format!("/probe?module={module}&target={}&debug=true", enc(target)),
    )
    .await;
    let index = get(addr, "/").await;
    let mut out = vec![
        ("debug".to_owned(), debug.body),
        ("/".to_owned(), index.body),
    ];
    for id in 0..4 {
        let logs = get(addr, &format!("/logs?id={id}")).await;
        if logs.status == 200 {
            out.push((format!("/logs?id={id}"), logs.body));
        }
    }
    out
}

#[tokio::test]
async fn network_text_is_escaped_on_every_page() {
    let ex = exporter(&config("")).await;
    // A server's grpc-message with a terminal escape, a forged line and a
    // bidi override; a List answer whose service name does the same.
    let status = HostileServer::start(Reply::status(
        13,
        "boom\x1b[2J\x1b]0;owned\x07\nlevel=info msg=forged \u{202e}<script>",
    ))
    .await;
    let listing = HostileServer::start(Reply::messages(vec![list_response(&[(
        "svc\x1b[31m\u{9b}1m\u{202e}",
        ServingStatus::Serving,
    )])]))
    .await;
    for (module, server) in [("grpc", &status), ("grpc_list", &listing)] {
        let r = probe(ex.addr(), module, server.addr(), "5").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(raw_controls(&r.body), [], "{module} /probe: {:?}", r.body);
        for (page, body) in pages(ex.addr(), module, server.addr()).await {
            assert_eq!(raw_controls(&body), [], "{module} {page}: {body:?}");
            assert!(!body.contains("\nlevel=info msg=forged"), "{page}: {body}");
        }
    }
    let debug = get(
        ex.addr(),
        &format!(
            "/probe?module=grpc&target={}&debug=true",
            enc(status.addr())
        ),
    )
    .await;
    assert!(
        debug
            .body
            .contains(r"boom\x1b[2J\x1b]0;owned\x07 level=info"),
        "the server's text is shown escaped, not dropped: {}",
        debug.body
    );
    assert_eq!(debug.header("x-content-type-options"), Some("nosniff"));

    // A client's text: a target and a module name with markup and escapes.
    let target = "<img src=x onerror=alert(1)>\x1b[5m:1";
    let _ = probe(ex.addr(), "grpc", target, "5").await;
    let index = get(ex.addr(), "/").await;
    assert!(!index.body.contains("<img"), "{}", index.body);
    assert_eq!(raw_controls(&index.body), [], "{:?}", index.body);
    let unknown = get(ex.addr(), "/probe?module=%1b%5b2J%3Cb%3E&target=x:1").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(raw_controls(&unknown.body), [], "{:?}", unknown.body);
    assert_eq!(unknown.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn a_secret_the_target_echoes_back_never_shows() {
    let ex = exporter(&config("")).await;
    // The whole value, and the token alone, in the error message.
    for echoed in [
        format!("bad authorization \"Bearer {SECRET}\""),
        format!("invalid token {SECRET}, go away"),
    ] {
        let server = HostileServer::start(Reply::status(16, echoed.into_bytes())).await;
        let r = probe(ex.addr(), "grpc_meta", server.addr(), "5").await;
        assert_eq!(
            value(&r.body, "probe_grpc_status_code"),
            Some(16.0),
            "{}",
            r.body
        );
        for (page, body) in pages(ex.addr(), "grpc_meta", server.addr()).await {
            assert!(!body.contains(SECRET), "{page}: {body}");
        }
        let debug = get(
            ex.addr(),
            &format!(
                "/probe?module=grpc_meta&target={}&debug=true",
                enc(server.addr())
            ),
        )
        .await;
        assert!(debug.body.contains("<hidden>"), "{}", debug.body);
    }
    // In a List answer's service name, which becomes a label.
    let server = HostileServer::start(Reply::messages(vec![list_response(&[(
        &format!("echo-{SECRET}"),
        ServingStatus::Serving,
    )])]))
    .await;
    let r = probe(ex.addr(), "grpc_meta_list", server.addr(), "5").await;
    assert!(!r.body.contains(SECRET), "{}", r.body);
    assert!(r.body.contains("echo-<hidden>"), "{}", r.body);
    for (page, body) in pages(ex.addr(), "grpc_meta_list", server.addr()).await {
        assert!(!body.contains(SECRET), "{page}: {body}");
    }
}

#[tokio::test]
async fn every_spelling_of_an_address_gets_the_allow_lists_answer() {
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    let port = server.port();
    let unix = TestServer::start_on(Transport::Unix).await;
    let socket = unix
        .addr()
        .strip_prefix("unix://")
        .expect("a unix address")
        .to_owned();
    let dir = std::path::Path::new(&socket)
        .parent()
        .expect("a directory")
        .to_owned();
    std::fs::create_dir_all(dir.join("allowed")).expect("mkdir");
    let name = std::path::Path::new(&socket)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name");

    let spellings = [
        format!("127.1:{port}"),
        format!("0x7f.0.0.1:{port}"),
        format!("0177.0.0.1:{port}"),
        format!("2130706433:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("LOCALHOST.:{port}"),
        format!("LocalHost:{port}"),
        format!("127.0.0.1.:{port}"),
        format!("dns:///127.0.0.1:{port}"),
        format!("dns:///localhost:{port}"),
        format!("http://x.allowed.example@127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}#@x.allowed.example"),
        format!("https://x.allowed.example:{port}@127.0.0.1"),
    ];
    // Nothing of 127.0.0.0/8 or the secret directory is allowed.
    let denying = exporter(&config(&format!(
        "allowed_targets: [\"10.0.0.0/8\", \"*.allowed.example\", \"10.0.*\", \"unix:{}/allowed/*.sock\"]\n",
        dir.display()
    )))
    .await;
    let climbing = format!("unix:{}/allowed/../{name}", dir.display());
    for target in spellings.iter().chain([&climbing]) {
        let r = probe(denying.addr(), "grpc", target, "5").await;
        let success = value(&r.body, "probe_success");
        assert!(
            r.status == 403 || (r.status == 200 && success == Some(0.0)),
            "{target} was probed: {} {}",
            r.status,
            r.body
        );
    }
    assert_eq!(server.accepted(), 0, "a denied spelling reached the server");
    assert_eq!(
        unix.accepted(),
        0,
        "`..` reached the socket outside the allowed directory"
    );

    // The same spellings where 127.0.0.0/8 is allowed: each one that names
    // the address passes (the test tells the two apart).
    let allowing = exporter(&config("allowed_targets: [\"127.0.0.0/8\", \"127.0.*\"]\n")).await;
    for target in &spellings[..8] {
        let r = probe(allowing.addr(), "grpc", target, "5").await;
        assert_ne!(r.status, 403, "{target}: {}", r.body);
    }
    for target in [&spellings[0], &spellings[1], &spellings[4], &spellings[8]] {
        let r = probe(allowing.addr(), "grpc", target, "5").await;
        assert_eq!(
            value(&r.body, "probe_success"),
            Some(1.0),
            "{target}: {}",
            r.body
        );
    }
}

/// One request of the storm, as a client that may misbehave.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// `/probe` of a silent target: holds a probe slot until its deadline.
    Probe,
    /// Headers that never end.
    Slowloris,
    /// A body declared over the limit.
    HugeBody,
    /// A head over the 16 KiB limit.
    HugeHead,
}

/// The status line's code, or 0 when the connection closed without one.
async fn storm_request(addr: std::net::SocketAddr, kind: Client, target: &str) -> u16 {
    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let request = match kind {
        Client::Probe => format!(
            "GET /probe?module=grpc&target={} HTTP/1.1\r\nHost: x\r\nX-Prometheus-Scrape-Timeout-Seconds: 1.5\r\nConnection: close\r\n\r\n",
            enc(target)
        ),
        Client::Slowloris => "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_owned(),
        Client::HugeBody => "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n".to_owned(),
        Client::HugeHead => format!(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(20 * 1024)
        ),
    };
    if stream.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    support::parse_reply(&buf).status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_limits_hold_under_two_thousand_concurrent_requests() {
    const CLIENTS: usize = 2000;
    const SLOTS: usize = 8;
    let ex = exporter_with(&config(""), |s| {
        s.max_concurrent = SLOTS;
        s.header_read_timeout = Duration::from_secs(2);
    })
    .await;
    let addr = ex.addr();
    let silent = testkit::faults::Fault::AcceptSilent.start().await;
    let target = silent.addr().to_owned();
    let started = Instant::now();
    let mut storm = tokio::task::JoinSet::new();
    for i in 0..CLIENTS {
        let kind = match i % 4 {
            0 | 1 => Client::Probe,
            2 => Client::Slowloris,
            _ if i % 8 == 3 => Client::HugeBody,
            _ => Client::HugeHead,
        };
        let target = target.clone();
        storm.spawn(async move {
            let limit = Duration::from_secs(30);
            let code = tokio::time::timeout(limit, storm_request(addr, kind, &target)).await;
            (kind, code.ok())
        });
    }
    // While the storm is on, the exporter answers its own endpoints, and no
    // more probes run than there are slots.
    let mut most_in_flight = 0.0f64;
    for _ in 0..10 {
        let asked = Instant::now();
        let healthy = tokio::time::timeout(Duration::from_secs(5), get(addr, "/-/healthy")).await;
        assert!(
            healthy.as_ref().is_ok_and(|r| r.status == 200),
            "/-/healthy did not answer within 5 s under load"
        );
        assert!(asked.elapsed() < Duration::from_secs(5));
        let metrics = get(addr, "/metrics").await;
        let in_flight = value(&metrics.body, "grpc_exporter_probes_in_flight").unwrap_or(-1.0);
        assert!(
            (0.0..=SLOTS as f64).contains(&in_flight),
            "{in_flight} probes in flight with {SLOTS} slots"
        );
        most_in_flight = most_in_flight.max(in_flight);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut probes = (0, 0);
    while let Some(joined) = storm.join_next().await {
        let (kind, code) = joined.expect("a storm task");
        let Some(code) = code else {
            panic!("a {kind:?} request was still open after 30 s");
        };
        match (kind, code) {
            (Client::Probe, 200) => probes.0 += 1,
            (Client::Probe, 503) => probes.1 += 1,
            (Client::Slowloris, 0 | 408) => {}
            (Client::HugeBody, 413) => {}
            (Client::HugeHead, 0 | 431) => {}
            (kind, code) => panic!("{kind:?} answered {code}"),
        }
    }
    assert_eq!(probes.0 + probes.1, CLIENTS / 2);
    assert!(probes.0 >= SLOTS, "{probes:?}");
    assert!(probes.1 > 0, "the slot limit never turned a probe away");
    assert!(most_in_flight >= 1.0, "no probe was ever seen running");
    // Every connection ended by the limits, not by the test's own bound.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let after = get(addr, "/metrics").await;
    assert_eq!(
        value(&after.body, "grpc_exporter_probes_in_flight"),
        Some(0.0),
        "{}",
        after.body
    );
    assert_eq!(get(addr, "/-/healthy").await.status, 200);
}
