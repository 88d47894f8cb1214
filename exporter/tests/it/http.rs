//! The HTTP surface: bad input (unknown or non-grpc module, missing target,
//! target outside the allow-list, malformed query strings, oversized
//! requests, slow headers), the probe bound (503), basic auth and TLS (and
//! each `client_auth_type`, as Go means it) from `--web.config.file`, the
//! route prefix, `/metrics`, `/`, `/-/healthy`, `/config`, and reloads that
//! keep the old config on error.

use std::time::{Duration, Instant};

use base64::Engine as _;
use testkit::servers::{HealthKind, TestServer};
use testkit::tls::TestPki;
use tokio::io::AsyncWriteExt;

use crate::support::{
    self, ClientCert, assert_promtool_metrics, exporter, exporter_with, get, get_with, post, probe,
    value,
};

const CONFIG: &str = r#"
modules:
  grpc:
    prober: grpc
    grpc: {}
  http_2xx:
    prober: http
    http: {method: GET}
  future:
    prober: quic
    quic: {whatever: [1, 2]}
"#;

#[tokio::test]
async fn bad_input_is_400_with_a_reason() {
    let ex = exporter(CONFIG).await;
    let r = get(ex.addr(), "/probe?module=nope&target=127.0.0.1:1").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Unknown module \"nope\""), "{}", r.body);
    let r = get(ex.addr(), "/probe?module=http_2xx&target=example.com").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("prober \"http\""), "{}", r.body);
    let r = get(ex.addr(), "/probe?module=future&target=example.com").await;
    assert_eq!(r.status, 400);
    let r = get(ex.addr(), "/probe?module=grpc").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("Target parameter is missing"), "{}", r.body);
    let r = get(ex.addr(), "/probe?module=grpc&target=%zz").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("malformed"), "{}", r.body);
    let r = get_with(
        ex.addr(),
        "/probe?module=grpc&target=127.0.0.1:1",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "soon")],
    )
    .await;
    assert_eq!(r.status, 500);
    let r = get(ex.addr(), "/nowhere").await;
    assert_eq!(r.status, 404);
    let r = get(ex.addr(), "/logs?id=x").await;
    assert_eq!(r.status, 400);
    let r = get(ex.addr(), "/-/reload").await;
    assert_eq!(r.status, 405);
    let m = get(ex.addr(), "/metrics").await;
    assert_eq!(
        value(&m.body, "grpc_exporter_module_unknown_total"),
        Some(1.0),
        "{}",
        m.body
    );
}

#[tokio::test]
async fn oversized_and_slow_requests_are_cut() {
    let ex = exporter(CONFIG).await;
    let long = "a".repeat(40 * 1024);
    let r = get(ex.addr(), &format!("/probe?module=grpc&target={long}")).await;
    assert!(
        r.status == 431 || r.status == 0 || r.status == 400,
        "{}",
        r.status
    );
    let req = format!(
        "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        10 * 1024 * 1024
    );
    let r = support::raw(ex.addr(), req.as_bytes()).await;
    assert_eq!(r.status, 413);

    // Headers that never finish are dropped after the header-read timeout.
    let mut s = tokio::net::TcpStream::connect(ex.addr())
        .await
        .expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut buf),
    )
    .await;
    assert!(read.is_ok(), "connection still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn probes_over_the_bound_get_503() {
    let ex = exporter_with(CONFIG, |s| s.max_concurrent = 1).await;
    let silent = testkit::faults::Fault::AcceptSilent.start().await;
    let addr = ex.addr();
    let target = silent.addr().to_owned();
    let slow = tokio::spawn(async move { probe(addr, "grpc", &target, "2").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = probe(addr, "grpc", silent.addr(), "2").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(slow.await.expect("join").status, 200);
    let m = get(addr, "/metrics").await;
    assert_eq!(
        value(
            &m.body,
            "grpc_exporter_requests_rejected_total{reason=\"busy\"}"
        ),
        Some(1.0),
        "{}",
        m.body
    );
}

#[tokio::test]
async fn allow_list_refuses_other_targets() {
    let config = format!(
        "{CONFIG}allowed_targets: [\"10.0.0.0/8\", \"*.svc.cluster.local\", \"unix:/run/grpc/*.sock\"]\n"
    );
    let ex = exporter(&config).await;
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    let r = probe(ex.addr(), "grpc", server.addr(), "5").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = probe(ex.addr(), "grpc", "unix:/tmp/x.sock", "5").await;
    assert_eq!(r.status, 403, "{}", r.body);
    let config = format!("{CONFIG}allowed_targets: [\"127.0.0.0/8\"]\n");
    let ex = exporter(&config).await;
    let r = probe(ex.addr(), "grpc", server.addr(), "5").await;
    assert_eq!(value(&r.body, "probe_success"), Some(1.0), "{}", r.body);
    // A name resolving into the allowed range is allowed by its address.
    let port = server
        .addr()
        .rsplit_once(':')
        .map(|(_, p)| p)
        .unwrap_or("0");
    let r = probe(ex.addr(), "grpc", &format!("localhost:{port}"), "5").await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn own_endpoints() {
    let ex = exporter(CONFIG).await;
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    probe(ex.addr(), "grpc", server.addr(), "5").await;
    let m = get(ex.addr(), "/metrics").await;
    assert_eq!(m.status, 200);
    assert_eq!(
        value(
            &m.body,
            "grpc_exporter_probes_total{module=\"grpc\",result=\"success\"}"
        ),
        Some(1.0),
        "{}",
        m.body
    );
    assert_eq!(
        value(&m.body, "grpc_exporter_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(value(&m.body, "grpc_exporter_probes_in_flight"), Some(0.0));
    assert!(value(&m.body, "process_resident_memory_bytes").is_some());
    assert_promtool_metrics(&m.body);
    let r = get(ex.addr(), "/").await;
    assert!(
        r.body.contains("Recent Probes") && r.body.contains("/logs?id=0"),
        "{}",
        r.body
    );
    let r = get(ex.addr(), "/logs?id=0").await;
    assert!(r.body.contains("Logs for the probe:"), "{}", r.body);
    assert_eq!(get(ex.addr(), "/-/healthy").await.status, 200);
    let r = get(ex.addr(), "/config").await;
    assert!(r.body.contains("grpc"), "{}", r.body);
}

#[tokio::test]
async fn reload_keeps_the_old_config_on_error() {
    let ex = exporter(CONFIG).await;
    std::fs::write(
        ex.config_path(),
        "modules:\n  grpc:\n    prober: grpc\n    grpc:\n      servce: typo\n",
    )
    .expect("write");
    let r = post(ex.addr(), "/-/reload").await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("config.yml:5"), "{}", r.body);
    let m = get(ex.addr(), "/metrics").await;
    assert_eq!(
        value(&m.body, "grpc_exporter_config_last_reload_successful"),
        Some(0.0)
    );
    // The old config still answers.
    let r = get(ex.addr(), "/probe?module=grpc&target=127.0.0.1:1").await;
    assert_eq!(r.status, 200);
    std::fs::write(ex.config_path(), "modules:\n  grpc2:\n    prober: grpc\n").expect("write");
    assert_eq!(post(ex.addr(), "/-/reload").await.status, 200);
    assert_eq!(
        get(ex.addr(), "/probe?module=grpc2&target=127.0.0.1:1")
            .await
            .status,
        200
    );
    assert_eq!(
        get(ex.addr(), "/probe?module=grpc&target=127.0.0.1:1")
            .await
            .status,
        400
    );
    let m = get(ex.addr(), "/metrics").await;
    assert_eq!(
        value(&m.body, "grpc_exporter_config_last_reload_successful"),
        Some(1.0)
    );
}

#[tokio::test]
async fn route_prefix() {
    let ex = exporter_with(CONFIG, |s| s.route_prefix = "/ex".to_owned()).await;
    assert_eq!(get(ex.addr(), "/ex/-/healthy").await.status, 200);
    assert_eq!(get(ex.addr(), "/-/healthy").await.status, 404);
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test]
async fn basic_auth_and_tls_from_the_web_config() {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().expect("dir");
    let web = dir.path().join("web.yml");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).expect("write");
    let ex = exporter_with(CONFIG, |s| s.web_config_file = Some(web.clone())).await;
    let r = get(ex.addr(), "/metrics").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic"));
    let r = get_with(
        ex.addr(),
        "/metrics",
        &[("Authorization", &basic("alice", "wrong"))],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = get_with(
        ex.addr(),
        "/metrics",
        &[("Authorization", &basic("mallory", "s3cret"))],
    )
    .await;
    assert_eq!(r.status, 401);
    let r = get_with(
        ex.addr(),
        "/metrics",
        &[("Authorization", &basic("alice", "s3cret"))],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("s3cret"));

    // TLS: a plaintext request gets no HTTP answer; a TLS one does.
    let key = pki.server_key();
    let cert = pki.server_cert();
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert.display(),
            key.display()
        ),
    )
    .expect("write");
    let ex = exporter_with(CONFIG, |s| s.web_config_file = Some(web.clone())).await;
    let r = get(ex.addr(), "/-/healthy").await;
    assert_ne!(r.status, 200);
    let got = support::tls_get(ex.addr(), "/-/healthy", &pki, ClientCert::Nothing).await;
    assert_eq!(got.reply.expect("a TLS answer").status, 200);
    assert!(got.asked.is_none(), "a client certificate was asked for");
}

/// `client_auth_type` as Go's `crypto/tls` means it: whether a client is
/// asked for a certificate, and whether it is served when it presents none,
/// one from the configured client CA, a foreign one, or one from the CA
/// without holding its key (the handshake's signature is checked in every
/// mode that asks). Not served: the handshake fails, or no answer comes.
#[rustfmt::skip]
pub const CLIENT_AUTH: [(&str, bool, [bool; 4]); 5] = [
    //                               asked   none   from CA  foreign  not its key
    ("NoClientCert",                 false, [true,  true,    true,    true ]),
    ("RequestClientCert",            true,  [true,  true,    true,    false]),
    ("RequireAnyClientCert",         true,  [false, true,    true,    false]),
    ("VerifyClientCertIfGiven",      true,  [true,  true,    false,   false]),
    ("RequireAndVerifyClientCert",   true,  [false, true,    false,   false]),
];
const PRESENTED: [ClientCert; 4] = [
    ClientCert::Nothing,
    ClientCert::FromTheCa,
    ClientCert::Foreign,
    ClientCert::NotItsKey,
];

/// A web config serving TLS with `pki`'s server certificate in `mode`. Every
/// mode but `NoClientCert` (where exporter-toolkit refuses it) gets `pki`'s
/// CA as `client_ca_file`, so the foreign certificate shows which modes
/// verify against it and which only name it as a hint.
pub fn client_auth_web_config(pki: &TestPki, mode: &str) -> String {
    let mut text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: {mode}\n",
        pki.server_cert().display(),
        pki.server_key().display(),
    );
    if mode != "NoClientCert" {
        text.push_str(&format!("  client_ca_file: {}\n", pki.ca_cert().display()));
    }
    text
}

/// How `addr`, serving [`client_auth_web_config`] for `mode`, departs from
/// `asked` and `served` (a row of [`CLIENT_AUTH`]): one line per case.
pub async fn client_auth_mismatches(
    addr: std::net::SocketAddr,
    pki: &TestPki,
    (mode, asked, served): (&str, bool, [bool; 4]),
) -> Vec<String> {
    let hints = support::ca_subjects(&pki.ca_cert());
    let mut wrong = Vec::new();
    for (cert, served) in PRESENTED.into_iter().zip(served) {
        let got = support::tls_get(addr, "/-/healthy", pki, cert).await;
        let case = format!("{mode}, client certificate {cert:?}");
        match (&got.asked, asked) {
            (None, false) => {}
            (Some(sent), true) if *sent == hints => {}
            (Some(_), true) => wrong.push(format!("{case}: asked without the client CA as hint")),
            (None, true) => wrong.push(format!("{case}: no client certificate was asked for")),
            (Some(_), false) => wrong.push(format!("{case}: a client certificate was asked for")),
        }
        match (got.reply, served) {
            (Ok(reply), true) if reply.status == 200 => {}
            (Err(_), false) => {}
            (Ok(reply), true) => wrong.push(format!("{case}: want 200, got {}", reply.status)),
            (Err(e), true) => wrong.push(format!("{case}: want 200, got {e}")),
            (Ok(reply), false) => wrong.push(format!(
                "{case}: want a refused handshake, got HTTP {}",
                reply.status
            )),
        }
    }
    wrong
}

#[tokio::test]
async fn client_auth_types_mean_what_they_mean_in_go() {
    let pki = TestPki::generate();
    let dir = tempfile::tempdir().expect("dir");
    let mut wrong = Vec::new();
    for row @ (mode, _, _) in CLIENT_AUTH {
        let web = dir.path().join(format!("{mode}.yml"));
        std::fs::write(&web, client_auth_web_config(&pki, mode)).expect("write");
        let ex = exporter_with(CONFIG, |s| s.web_config_file = Some(web.clone())).await;
        wrong.extend(client_auth_mismatches(ex.addr(), &pki, row).await);
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn web_config_changes_apply_without_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let web = dir.path().join("web.yml");
    let old = bcrypt::hash("old", 4).expect("hash");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {old}\n")).expect("write");
    let ex = exporter_with(CONFIG, |s| s.web_config_file = Some(web.clone())).await;
    let r = get_with(
        ex.addr(),
        "/-/healthy",
        &[("Authorization", &basic("alice", "old"))],
    )
    .await;
    assert_eq!(r.status, 200);
    // Modification times have a coarse grain on some filesystems.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let new = bcrypt::hash("new", 4).expect("hash");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {new}\n")).expect("write");
    let r = get_with(
        ex.addr(),
        "/-/healthy",
        &[("Authorization", &basic("alice", "new"))],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get_with(
        ex.addr(),
        "/-/healthy",
        &[("Authorization", &basic("alice", "old"))],
    )
    .await;
    assert_eq!(r.status, 401);
    // A broken edit keeps the previous settings.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    std::fs::write(&web, "basic_auth_users: [\n").expect("write");
    let r = get_with(
        ex.addr(),
        "/-/healthy",
        &[("Authorization", &basic("alice", "new"))],
    )
    .await;
    assert_eq!(r.status, 200);
}

/// bcrypt takes tens of milliseconds of CPU and the exporter has one
/// runtime thread: comparisons queued by a flood of bad passwords must not
/// hold up a client whose password is already verified.
#[tokio::test]
async fn a_bcrypt_flood_does_not_hold_up_verified_clients() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().expect("dir");
    let web = dir.path().join("web.yml");
    // Cost 12: ~0.2 s per comparison, as with a real user's hash.
    let hash = bcrypt::hash("s3cret", 12).expect("hash");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).expect("write");
    let ex = exporter_with(CONFIG, |s| s.web_config_file = Some(web.clone())).await;
    let good = basic("alice", "s3cret");
    let r = get_with(ex.addr(), "/-/healthy", &[("Authorization", &good)]).await;
    assert_eq!(r.status, 200, "verified once, then cached");
    // The flood, from a thread of its own: four clients that keep sending
    // wrong passwords until told to stop.
    let addr = ex.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let clients: Vec<_> = (0..4)
                    .map(|i| {
                        let stop = stop.clone();
                        tokio::spawn(async move {
                            let bad = basic("alice", &format!("wrong{i}"));
                            let mut refused = 0;
                            while !stop.load(Ordering::Relaxed) {
                                let r =
                                    get_with(addr, "/-/healthy", &[("Authorization", &bad)]).await;
                                assert_eq!(r.status, 401);
                                refused += 1;
                            }
                            refused
                        })
                    })
                    .collect();
                let mut refused = 0;
                for c in clients {
                    refused += c.await.expect("client");
                }
                refused
            })
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let r = get_with(addr, "/-/healthy", &[("Authorization", &good)]).await;
        assert_eq!(r.status, 200);
        fastest = fastest.min(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    let refused = tokio::task::spawn_blocking(move || flood.join().expect("flood"))
        .await
        .expect("join");
    assert!(refused > 0, "the flood was refused");
    assert!(
        fastest < Duration::from_millis(150),
        "a verified client waited {fastest:?} behind bcrypt"
    );
}
