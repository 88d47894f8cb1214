//! The shared connection layer (`grpc_toolkit_conn`) against in-process
//! servers: the target table, TLS and mTLS over TCP and unix sockets,
//! IPv6, metadata arriving at the server, and "connected means the
//! server's SETTINGS frame arrived" against every fault.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use grpc_toolkit_conn::{
    self as conn, ConnArgs, ConnectError, ConnectOptions, Connection, RpcError, SchemeSecurity,
    Target,
};
use grpc_toolkit_proto::health::v1::HealthCheckRequest;
use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use testkit::faults::{Fault, refused_addr};
use testkit::servers::{HealthKind, TestServer, Transport};
use testkit::tls::TestPki;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

const UA: &str = "conn-test/1.0";

fn args(addr: &str) -> ConnArgs {
    ConnArgs {
        addr: Some(addr.to_owned()),
        ..ConnArgs::default()
    }
}

/// [`args`] with a connect timeout of `timeout`.
fn args_timing_out(addr: &str, timeout: Duration) -> ConnArgs {
    ConnArgs {
        connect_timeout: timeout,
        ..args(addr)
    }
}

fn options(args: &ConnArgs) -> ConnectOptions {
    args.to_options(UA)
        .unwrap_or_else(|e| panic!("flags {args:?} should be valid: {e}"))
}

async fn try_connect(args: &ConnArgs) -> Result<Connection, ConnectError> {
    conn::connect(&options(args)).await
}

async fn connect_ok(args: &ConnArgs) -> Connection {
    try_connect(args)
        .await
        .unwrap_or_else(|e| panic!("connect to {:?} failed: {e} [{}]", args.addr, e.code()))
}

async fn connect_err(args: &ConnArgs) -> ConnectError {
    match try_connect(args).await {
        Ok(_) => panic!("connect to {:?} should have failed", args.addr),
        Err(e) => e,
    }
}

async fn check(conn: &Connection, service: &str) -> Result<ServingStatus, RpcError> {
    let timeout = Some(Duration::from_secs(5));
    let mut client = conn.health();
    let request = conn.request(
        HealthCheckRequest {
            service: service.to_owned(),
        },
        timeout,
    );
    let response = conn::call(timeout, client.check(request)).await?;
    Ok(response.into_inner().status())
}

/// Asserts that a Check of the whole server over `conn` answers SERVING;
/// `context` names the case.
async fn assert_serving(conn: &Connection, context: &str) {
    let status = check(conn, "").await.expect(context);
    assert_eq!(status, ServingStatus::Serving, "{context}");
}

/// A test server on `transport` serving TLS with `pki`'s server certificate.
async fn tls_server(transport: Transport, pki: &TestPki) -> TestServer {
    TestServer::builder()
        .transport(transport)
        .tls(pki)
        .start()
        .await
}

/// A test server on `transport` serving TLS as `config` says (mTLS here).
async fn tls_config_server(transport: Transport, config: Arc<ServerConfig>) -> TestServer {
    TestServer::builder()
        .transport(transport)
        .tls_config(config)
        .start()
        .await
}

/// The PKI's mTLS server configs, TLS 1.3 (and 1.2) and TLS 1.2 only, by
/// version: each rejects a client certificate in its own way.
fn mtls_configs(pki: &TestPki) -> [(&'static str, Arc<ServerConfig>); 2] {
    [
        ("TLS 1.3", pki.mtls_server_config()),
        ("TLS 1.2", pki.mtls_server_config_tls12()),
    ]
}

fn tls_args(addr: &str, pki: &TestPki) -> ConnArgs {
    ConnArgs {
        tls: true,
        tls_ca_cert: Some(pki.ca_cert()),
        ..args(addr)
    }
}

fn mtls_args(addr: &str, pki: &TestPki, cert: PathBuf, key: PathBuf) -> ConnArgs {
    ConnArgs {
        tls_client_cert: Some(cert),
        tls_client_key: Some(key),
        ..tls_args(addr, pki)
    }
}

/// mTLS with the client certificate `pki`'s servers accept.
fn client_cert_args(addr: &str, pki: &TestPki) -> ConnArgs {
    mtls_args(addr, pki, pki.client_cert(), pki.client_key())
}

/// mTLS with the foreign client certificate, which `pki`'s servers reject.
fn foreign_cert_args(addr: &str, pki: &TestPki) -> ConnArgs {
    let (cert, key) = (pki.foreign_client_cert(), pki.foreign_client_key());
    mtls_args(addr, pki, cert, key)
}

/// TLS trusting only the foreign CA, which signed nothing `pki`'s servers
/// present.
fn untrusted_args(addr: &str, pki: &TestPki) -> ConnArgs {
    ConnArgs {
        tls_ca_cert: Some(pki.foreign_ca_cert()),
        ..tls_args(addr, pki)
    }
}

/// TLS verifying the server as `wrong.example`, a name its certificate
/// lacks.
fn wrong_name_args(addr: &str, pki: &TestPki) -> ConnArgs {
    ConnArgs {
        tls_server_name: Some("wrong.example".into()),
        ..tls_args(addr, pki)
    }
}

// ---------------------------------------------------------------- targets

#[test]
fn target_table() {
    let tcp = |host: &str, port| Target::Tcp {
        host: host.to_owned(),
        port,
    };
    let unix = |path: &str| Target::Unix {
        path: PathBuf::from(path),
    };
    let cases = [
        (
            "localhost:50051",
            tcp("localhost", 50051),
            "localhost:50051",
            SchemeSecurity::Unspecified,
        ),
        (
            ":50051",
            tcp("localhost", 50051),
            "localhost:50051",
            SchemeSecurity::Unspecified,
        ),
        (
            "10.0.0.1:80",
            tcp("10.0.0.1", 80),
            "10.0.0.1:80",
            SchemeSecurity::Unspecified,
        ),
        (
            "[::1]:50051",
            tcp("::1", 50051),
            "[::1]:50051",
            SchemeSecurity::Unspecified,
        ),
        (
            "[fe80::1]:1",
            tcp("fe80::1", 1),
            "[fe80::1]:1",
            SchemeSecurity::Unspecified,
        ),
        (
            "dns:///svc.ns:8080",
            tcp("svc.ns", 8080),
            "svc.ns:8080",
            SchemeSecurity::Unspecified,
        ),
        (
            "dns:svc.ns:8080",
            tcp("svc.ns", 8080),
            "svc.ns:8080",
            SchemeSecurity::Unspecified,
        ),
        (
            "passthrough:///h:1",
            tcp("h", 1),
            "h:1",
            SchemeSecurity::Unspecified,
        ),
        (
            "unix:rel/s.sock",
            unix("rel/s.sock"),
            "localhost",
            SchemeSecurity::Unspecified,
        ),
        (
            "unix:/abs/s.sock",
            unix("/abs/s.sock"),
            "localhost",
            SchemeSecurity::Unspecified,
        ),
        (
            "unix:///abs/s.sock",
            unix("/abs/s.sock"),
            "localhost",
            SchemeSecurity::Unspecified,
        ),
        (
            "http://h:8080",
            tcp("h", 8080),
            "h:8080",
            SchemeSecurity::Plaintext,
        ),
        ("http://h", tcp("h", 80), "h:80", SchemeSecurity::Plaintext),
        (
            "https://h:8443/",
            tcp("h", 8443),
            "h:8443",
            SchemeSecurity::Tls,
        ),
        ("https://h", tcp("h", 443), "h:443", SchemeSecurity::Tls),
        (
            "https://[::1]:9",
            tcp("::1", 9),
            "[::1]:9",
            SchemeSecurity::Tls,
        ),
    ];
    for (input, want, authority, security) in cases {
        let (got, got_security) =
            Target::parse_with_security(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, want, "{input}");
        assert_eq!(got.default_authority(), authority, "{input}");
        assert_eq!(got_security, security, "{input}");
        assert_eq!(Target::parse(input).ok(), Some(want), "{input}");
    }
}

#[test]
fn bad_targets_are_one_line_errors_naming_the_input() {
    for input in [
        "",
        "localhost",
        "localhost:",
        "localhost:http",
        "localhost:70000",
        "host:0",
        "::1:50051",
        "[::1",
        "[::1]50051",
        "[nothex]:1",
        "unix:",
        "unix://host/abs",
        "dns://8.8.8.8/h:1",
        "xds:///svc",
        "unix-abstract:name",
        "https://h:1/path",
        "a b:1",
    ] {
        let err = Target::parse(input).expect_err(input);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("invalid address \"{input}\": ")),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }
}

/// `path` relative to the current directory, without changing it (the
/// current directory is shared by every test in the process).
fn relative_to_cwd(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().expect("current dir");
    let ups = cwd.components().count().saturating_sub(1);
    let tail = path.strip_prefix("/").expect("an absolute path");
    format!("{}{}", "../".repeat(ups), tail.display())
}

#[tokio::test]
async fn every_address_form_connects() {
    let tcp = TestServer::builder().start().await;
    let port = tcp.port();
    let unix = TestServer::start_on(Transport::Unix).await;
    let socket = unix
        .addr()
        .strip_prefix("unix://")
        .expect("unix:// address")
        .to_owned();
    let forms = [
        (format!(":{port}"), &tcp),
        (format!("localhost:{port}"), &tcp),
        (format!("dns:///localhost:{port}"), &tcp),
        (format!("passthrough:///127.0.0.1:{port}"), &tcp),
        (format!("http://127.0.0.1:{port}"), &tcp),
        (format!("unix:{socket}"), &unix),
        (format!("unix://{socket}"), &unix),
        (
            format!("unix:{}", relative_to_cwd(std::path::Path::new(&socket))),
            &unix,
        ),
    ];
    for (addr, server) in forms {
        let before = server.requests().len();
        let conn = connect_ok(&args(&addr)).await;
        assert_serving(&conn, &addr).await;
        assert_eq!(
            server.requests().len(),
            before + 1,
            "{addr} reached its server"
        );
    }
}

#[tokio::test]
async fn https_address_and_tls_over_ipv6() {
    let pki = TestPki::generate();
    let server = tls_server(Transport::Ipv6, &pki).await;
    let flags = ConnArgs {
        tls_ca_cert: Some(pki.ca_cert()),
        ..args(&format!("https://{}", server.addr()))
    };
    let conn = connect_ok(&flags).await;
    assert_serving(&conn, "https:// with a CA file").await;
    // Without a CA file the OS store is used, which does not know our CA.
    let err = connect_err(&args(&format!("https://{}", server.addr()))).await;
    assert_eq!(err.code(), "TLS_UNTRUSTED", "{err}");
}

// ------------------------------------------------------------ flag checks

#[test]
fn flag_rules_match_grpc_health_probe() {
    let pki = TestPki::generate();
    let base = || args("127.0.0.1:1");
    let cases: Vec<(ConnArgs, &str)> = vec![
        (
            ConnArgs {
                addr: None,
                ..base()
            },
            "-addr not specified",
        ),
        (
            ConnArgs {
                tls_no_verify: true,
                ..base()
            },
            "specified -tls-no-verify without specifying -tls",
        ),
        (
            ConnArgs {
                tls_ca_cert: Some(pki.ca_cert()),
                ..base()
            },
            "specified -tls-ca-cert without specifying -tls",
        ),
        (
            ConnArgs {
                tls_client_cert: Some(pki.client_cert()),
                ..base()
            },
            "specified -tls-client-cert without specifying -tls",
        ),
        (
            ConnArgs {
                tls_server_name: Some("x".into()),
                ..base()
            },
            "specified -tls-server-name without specifying -tls",
        ),
        (
            ConnArgs {
                tls: true,
                tls_client_cert: Some(pki.client_cert()),
                ..base()
            },
            "specified -tls-client-cert without specifying -tls-client-key",
        ),
        (
            ConnArgs {
                tls: true,
                tls_client_key: Some(pki.client_key()),
                ..base()
            },
            "specified -tls-client-key without specifying -tls-client-cert",
        ),
        (
            ConnArgs {
                tls: true,
                tls_no_verify: true,
                tls_ca_cert: Some(pki.ca_cert()),
                ..base()
            },
            "cannot specify -tls-ca-cert with -tls-no-verify (CA cert would not be used)",
        ),
        (
            ConnArgs {
                tls: true,
                tls_no_verify: true,
                tls_server_name: Some("x".into()),
                ..base()
            },
            "cannot specify -tls-server-name with -tls-no-verify (server name would not be used)",
        ),
        (
            ConnArgs {
                connect_timeout: Duration::ZERO,
                ..base()
            },
            "-connect-timeout must be greater than zero (specified: 0s)",
        ),
        (
            ConnArgs {
                tls: true,
                ..args("http://h:1")
            },
            "specified -tls with the plaintext address \"http://h:1\" (use https:// or drop http://)",
        ),
    ];
    for (flags, want) in cases {
        let err = flags.to_options(UA).expect_err(want);
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn unreadable_or_empty_tls_files_are_usage_errors_naming_the_flag() {
    let pki = TestPki::generate();
    let missing = pki.dir().join("missing.pem");
    let not_pem = pki.dir().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write a file");
    let with_ca = |ca: &PathBuf| ConnArgs {
        tls_ca_cert: Some(ca.clone()),
        ..tls_args("h:1", &pki)
    };
    let cases = [
        (
            with_ca(&missing),
            format!(
                "cannot read -tls-ca-cert file \"{}\": no such file",
                missing.display()
            ),
        ),
        (
            with_ca(&not_pem),
            format!(
                "no PEM certificates found in -tls-ca-cert file \"{}\"",
                not_pem.display()
            ),
        ),
        (
            mtls_args("h:1", &pki, missing.clone(), pki.client_key()),
            format!(
                "cannot read -tls-client-cert file \"{}\": no such file",
                missing.display()
            ),
        ),
        (
            mtls_args("h:1", &pki, pki.client_cert(), not_pem.clone()),
            format!(
                "no PEM private key found in -tls-client-key file \"{}\"",
                not_pem.display()
            ),
        ),
    ];
    for (flags, want) in cases {
        assert_eq!(flags.to_options(UA).expect_err(&want).to_string(), want);
    }
}

#[test]
fn https_implies_tls_and_the_authority_names_the_host() {
    let opts = options(&args("https://example.com"));
    assert!(opts.tls.is_some());
    assert_eq!(opts.authority, "example.com:443");
    let opts = options(&ConnArgs {
        authority: Some("override.svc".into()),
        ..args(":8080")
    });
    assert_eq!(opts.authority, "override.svc");
    assert_eq!(options(&args(":8080")).authority, "localhost:8080");
    assert_eq!(options(&args(":8080")).user_agent, UA);
}

#[test]
fn headers_parse_like_grpc_health_probe() {
    let h = conn::parse_header("X-Token:  a:b:c  ").expect("valid header");
    assert_eq!((h.name.as_str(), h.value.as_str()), ("x-token", "a:b:c"));
    let h = conn::parse_header("trace-bin: \u{1}\u{2}").expect("binary header");
    assert_eq!(h.name, "trace-bin");
    for bad in [
        "no-colon-here",
        ": value",
        "bad name: v",
        "grpc-timeout: 1S",
    ] {
        conn::parse_header(bad).expect_err(bad);
    }
    let err = conn::parse_header("x-token: caf\u{e9}").expect_err("non-ascii value");
    assert!(err.to_string().contains("-bin"), "{err}");
}

#[test]
fn header_values_never_appear_in_debug_or_display() {
    const SECRET: &str = "s3cr3t-t0ken-value";
    let flags = ConnArgs {
        rpc_header: vec![
            format!("authorization: Bearer {SECRET}"),
            format!("x-k-bin: {SECRET}"),
        ],
        ..args("127.0.0.1:1")
    };
    let opts = options(&flags);
    let dumps = [
        format!("{flags:?}"),
        format!("{opts:?}"),
        format!("{:?}", opts.headers),
    ];
    for dump in &dumps {
        assert!(!dump.contains(SECRET), "leaked in {dump}");
        assert!(dump.contains("authorization"), "names stay visible: {dump}");
    }
    // Errors about headers name the header, never the value.
    for raw in [
        format!("Bearer{SECRET}"),
        format!("x-a: {SECRET}\u{e9}"),
        format!("grpc-x: {SECRET}"),
        format!("{SECRET} x: v"),
    ] {
        let err = conn::parse_header(&raw).expect_err(&raw);
        assert!(!err.to_string().contains(SECRET), "leaked in {err}");
        let flags = ConnArgs {
            rpc_header: vec![raw.clone()],
            ..args("h:1")
        };
        let err = flags.to_options(UA).expect_err(&raw);
        assert!(
            !format!("{err} {err:?}").contains(SECRET),
            "leaked in {err:?}"
        );
    }
}

#[tokio::test]
async fn hand_built_options_are_checked_at_connect() {
    const SECRET: &str = "hunter2-\u{e9}";
    let target = Target::parse("127.0.0.1:1").expect("target");
    let mut opts = ConnectOptions::plaintext(target, UA);
    opts.headers = vec![conn::Header {
        name: "x-token".into(),
        value: SECRET.into(),
    }];
    let err = conn::connect(&opts).await.expect_err("a non-ASCII value");
    assert_eq!(err.code(), "CONFIG", "{err}");
    assert!(!format!("{err} {err:?}").contains(SECRET), "{err:?}");

    opts.headers.clear();
    opts.tls = Some(conn::TlsOptions {
        ca_file: Some(PathBuf::from("/nonexistent/ca.pem")),
        ..Default::default()
    });
    let err = conn::connect(&opts).await.expect_err("a missing CA file");
    assert_eq!(err.code(), "CONFIG", "{err}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

// -------------------------------------------------------------- plaintext

#[tokio::test]
async fn plaintext_tcp_check_and_metadata_arrive() {
    let server = TestServer::builder().start().await;
    let flags = ConnArgs {
        rpc_header: vec![
            "X-Tenant: blue ".to_owned(),
            "x-tenant: green".to_owned(),
            "trace-bin: \u{1}raw\u{7f}".to_owned(),
        ],
        user_agent: Some("probe-ua/2".to_owned()),
        gzip: true,
        ..args(server.addr())
    };
    let conn = connect_ok(&flags).await;
    assert_serving(&conn, "plaintext with metadata").await;
    let seen = server.last_request().expect("a request arrived");
    assert_eq!(seen.path, "/grpc.health.v1.Health/Check");
    assert_eq!(
        seen.header_all("x-tenant"),
        [b"blue".to_vec(), b"green".to_vec()]
    );
    // A -bin header carries the literal bytes, base64 on the wire.
    let wire = seen.header("trace-bin").expect("binary header arrived");
    let decoded = base64_decode(wire);
    assert_eq!(decoded, b"\x01raw\x7f");
    let ua = seen.user_agent().expect("user agent");
    assert!(ua.starts_with("probe-ua/2 tonic/"), "{ua}");
    assert_eq!(seen.grpc_encoding(), Some("gzip"));
    assert!(
        seen.grpc_accept_encoding()
            .is_some_and(|e| e.contains("gzip"))
    );
    assert!(
        seen.grpc_timeout().is_some(),
        "the RPC timeout is sent as grpc-timeout"
    );
    assert_eq!(seen.authority.as_deref(), Some(server.addr()));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    engine
        .decode(text.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("{text:?} is not base64: {e}"))
}

#[tokio::test]
async fn default_user_agent_and_localhost_authority_for_unix() {
    let server = TestServer::start_on(Transport::Unix).await;
    let conn = connect_ok(&args(server.addr())).await;
    check(&conn, "").await.expect("check over a unix socket");
    let seen = server.last_request().expect("a request arrived");
    assert!(
        seen.user_agent()
            .is_some_and(|ua| ua.starts_with("conn-test/1.0 "))
    );
    assert_eq!(seen.authority.as_deref(), Some("localhost"));
    assert_eq!(seen.grpc_encoding(), None, "no gzip unless asked");
}

#[tokio::test]
async fn ipv6_loopback() {
    let server = TestServer::start_on(Transport::Ipv6).await;
    assert!(server.addr().starts_with("[::1]:"), "{}", server.addr());
    let conn = connect_ok(&args(server.addr())).await;
    assert_serving(&conn, "[::1]").await;
    // `localhost` is 127.0.0.1 then ::1 without the resolver: a server on
    // ::1 only is reached after 127.0.0.1 refuses.
    let port = server.port();
    let conn = connect_ok(&args(&format!("localhost:{port}"))).await;
    assert_serving(&conn, "check via localhost").await;
    // With nothing on either, the preferred address's refusal is reported.
    drop(server);
    let err = loop {
        match try_connect(&args(&format!("localhost:{port}"))).await {
            Err(err) if err.code() == "REFUSED" => break err,
            // The listener closes when its aborted task is next polled.
            _ => tokio::task::yield_now().await,
        }
    };
    assert_eq!(
        err.to_string(),
        format!("connection refused by 127.0.0.1:{port}")
    );
}

#[tokio::test]
async fn rpc_failures_are_rpc_errors_not_connect_errors() {
    let (server, health) = TestServer::start_with_spec_health().await;
    let conn = connect_ok(&args(server.addr())).await;
    let err = check(&conn, "nope").await.expect_err("unknown service");
    assert_eq!(err.to_string(), "NOT_FOUND: unknown service \"nope\"");
    health.set_hang(true);
    let timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let mut client = conn.health();
    let err = conn::call(
        timeout,
        client.check(conn.request(HealthCheckRequest::default(), timeout)),
    )
    .await
    .expect_err("a hung handler times out");
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(800),
        "{took:?}"
    );

    let none = TestServer::start_with_health(HealthKind::None).await;
    let conn = connect_ok(&args(none.addr())).await;
    let err = check(&conn, "").await.expect_err("no health service");
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err}");
}

#[tokio::test]
async fn spec_health_lists_and_watches_as_the_spec_says() {
    use grpc_toolkit_proto::health::v1::HealthListRequest;
    let server = TestServer::builder().start().await;
    let health = server
        .spec_health()
        .expect("SpecHealth is the default")
        .clone();
    health.set("svc", ServingStatus::NotServing);
    let conn = connect_ok(&args(server.addr())).await;
    let mut client = conn.health();

    let list = client
        .list(HealthListRequest {})
        .await
        .expect("list")
        .into_inner();
    let mut listed: Vec<(String, ServingStatus)> = list
        .statuses
        .into_iter()
        .map(|(name, r)| (name, r.status()))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        [
            (String::new(), ServingStatus::Serving),
            ("svc".to_owned(), ServingStatus::NotServing)
        ]
    );

    let watch = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let mut stream = client
        .watch(watch("later"))
        .await
        .expect("watch")
        .into_inner();
    let next = async |stream: &mut tonic::Streaming<_>| -> ServingStatus {
        let item: Option<grpc_toolkit_proto::health::v1::HealthCheckResponse> =
            tokio::time::timeout(Duration::from_secs(5), stream.message())
                .await
                .expect("an update within 5s")
                .expect("a message");
        item.expect("the stream stays open").status()
    };
    assert_eq!(next(&mut stream).await, ServingStatus::ServiceUnknown);
    health.set("later", ServingStatus::Serving);
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);
    health.remove("later");
    assert_eq!(next(&mut stream).await, ServingStatus::ServiceUnknown);

    // tonic-health, by contrast, refuses to watch an unknown service.
    let tonic_server = TestServer::start_with_health(HealthKind::Tonic).await;
    let conn = connect_ok(&args(tonic_server.addr())).await;
    assert_serving(&conn, "tonic-health").await;
    let status = match conn.health().watch(watch("unknown")).await {
        Err(status) => status,
        Ok(response) => {
            let mut stream = response.into_inner();
            stream
                .message()
                .await
                .expect_err("tonic-health ends the watch with NOT_FOUND")
        }
    };
    assert_eq!(status.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn test_servers_stop_when_dropped() {
    for transport in TRANSPORTS {
        let server = TestServer::start_on(transport).await;
        let addr = server.addr().to_owned();
        drop(server);
        let want = if transport == Transport::Unix {
            "NO_SUCH_SOCKET"
        } else {
            "REFUSED"
        };
        // The listener closes when its aborted task is next polled, so a
        // connect right after the drop may still land in the backlog.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let outcome = try_connect(&args(&addr)).await.map(|_| ());
            if outcome.as_ref().is_err_and(|e| e.code() == want) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{transport:?} still up: {outcome:?}"
            );
            tokio::task::yield_now().await;
        }
    }
}

// -------------------------------------------------------------------- TLS

const TRANSPORTS: [Transport; 2] = [Transport::Tcp, Transport::Unix];

#[tokio::test]
async fn tls_verification_over_tcp_and_unix() {
    let pki = TestPki::generate();
    for transport in TRANSPORTS {
        let server = tls_server(transport, &pki).await;
        let addr = server.addr();

        let conn = connect_ok(&tls_args(addr, &pki)).await;
        assert_serving(&conn, &format!("{transport:?}: check over TLS")).await;

        let err = connect_err(&untrusted_args(addr, &pki)).await;
        assert_eq!(err.code(), "TLS_UNTRUSTED", "{transport:?}: {err}");

        let system_roots = ConnArgs {
            tls_ca_cert: None,
            ..tls_args(addr, &pki)
        };
        assert_eq!(
            connect_err(&system_roots).await.code(),
            "TLS_UNTRUSTED",
            "{transport:?}"
        );

        let err = connect_err(&wrong_name_args(addr, &pki)).await;
        assert_eq!(err.code(), "TLS_NAME_MISMATCH", "{transport:?}: {err}");
        assert!(err.to_string().contains("wrong.example"), "{err}");

        let skip = ConnArgs {
            tls: true,
            tls_no_verify: true,
            ..args(addr)
        };
        let conn = connect_ok(&skip).await;
        check(&conn, "").await.expect("check with -tls-no-verify");

        let plaintext_client = args(addr);
        let err = connect_err(&plaintext_client).await;
        assert!(
            !err.is_timeout(),
            "a TLS server answering plaintext fails fast: {err}"
        );
    }
}

#[tokio::test]
async fn tls_server_name_override_over_tcp_and_unix() {
    let pki = TestPki::generate();
    for transport in TRANSPORTS {
        let server = tls_server(transport, &pki).await;
        // An :authority the certificate does not cover: verification uses
        // its host unless -tls-server-name says otherwise.
        let flags = ConnArgs {
            authority: Some("not-in-cert.test:443".into()),
            ..tls_args(server.addr(), &pki)
        };
        let err = connect_err(&flags).await;
        assert_eq!(err.code(), "TLS_NAME_MISMATCH", "{transport:?}: {err}");
        assert!(err.to_string().contains("\"not-in-cert.test\""), "{err}");
        let flags = ConnArgs {
            tls_server_name: Some("localhost".into()),
            ..flags
        };
        let conn = connect_ok(&flags).await;
        check(&conn, "")
            .await
            .expect("check with a server name override");
        assert_eq!(
            server.last_request().and_then(|r| r.authority).as_deref(),
            Some("not-in-cert.test:443"),
            "{transport:?}: the override changes verification, not :authority"
        );
    }
}

/// Set in the child process that [`trust_store_follows_ssl_cert_env`]
/// starts: the environment is read once per process, so each trust-store
/// setting needs a process of its own.
const CHILD_ADDR: &str = "GRPC_TOOLKIT_TRUST_CHILD_ADDR";
const CHILD_WANT: &str = "GRPC_TOOLKIT_TRUST_CHILD_WANT";

#[tokio::test]
async fn trust_store_child() {
    let (Ok(addr), Ok(want)) = (std::env::var(CHILD_ADDR), std::env::var(CHILD_WANT)) else {
        return; // Only meaningful when started by the test below.
    };
    let flags = ConnArgs {
        tls: true,
        ..args(&addr)
    };
    let source = conn::trust_source(options(&flags).tls.as_ref().expect("tls on"));
    let outcome = match try_connect(&flags).await {
        Ok(_) => "OK".to_owned(),
        Err(e) => e.code().to_owned(),
    };
    assert_eq!(format!("{source:?} {outcome}"), want);
}

#[tokio::test]
async fn trust_store_follows_ssl_cert_env() {
    let pki = TestPki::generate();
    let server = TestServer::builder().tls(&pki).start().await;
    let missing = pki.dir().join("missing.pem");
    let cases = [
        ("SSL_CERT_FILE", pki.ca_cert(), "System OK"),
        ("SSL_CERT_DIR", pki.dir().to_path_buf(), "System OK"),
        // An empty store (as in a FROM scratch image): bundled Mozilla
        // roots, which do not know our CA.
        ("SSL_CERT_FILE", missing, "BundledMozilla TLS_UNTRUSTED"),
    ];
    let exe = std::env::current_exe().expect("test binary path");
    for (var, value, want) in cases {
        let output = tokio::process::Command::new(&exe)
            .args(["--exact", "trust_store_child", "--nocapture"])
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env(var, &value)
            .env(CHILD_ADDR, server.addr())
            .env(CHILD_WANT, want)
            .kill_on_drop(true)
            .output()
            .await
            .expect("run the child test");
        assert!(
            output.status.success(),
            "{var}={}: {}",
            value.display(),
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn tls_client_against_plaintext_server() {
    let server = TestServer::builder().start().await;
    let pki = TestPki::generate();
    let err = connect_err(&tls_args(server.addr(), &pki)).await;
    assert_eq!(err.code(), "TLS_PLAINTEXT_SERVER", "{err}");
}

/// How often each rejected-client-certificate case is repeated: whether
/// the server's TLS alert or its TCP reset is read first is a race, and
/// the answer must not depend on who wins it.
const REJECTION_ROUNDS: usize = 30;

const NO_CERT: &str = "server requires a client certificate (-tls-client-cert)";
const CERT_REFUSED: &str = "server rejected the client certificate";

#[tokio::test]
async fn mtls_over_tcp_and_unix_with_tls13_and_tls12() {
    let pki = TestPki::generate();
    for transport in TRANSPORTS {
        for (version, config) in mtls_configs(&pki) {
            let server = tls_config_server(transport, config).await;
            let addr = server.addr();
            let conn = connect_ok(&client_cert_args(addr, &pki)).await;
            check(&conn, "").await.expect("check over mTLS");

            let none = tls_args(addr, &pki);
            let foreign = foreign_cert_args(addr, &pki);
            for round in 0..REJECTION_ROUNDS {
                for (flags, offered, want) in
                    [(&none, false, NO_CERT), (&foreign, true, CERT_REFUSED)]
                {
                    let context = format!("{transport:?} {version} round {round}");
                    assert_client_cert_rejected(flags, want, &context, |err| {
                        matches!(err, ConnectError::TlsClientCertRejected { offered: o, .. } if *o == offered)
                    })
                    .await;
                }
            }
        }
    }
}

/// Asserts that connecting with `flags` fails as a rejected client
/// certificate, in the words `want`, and with an error `shape` accepts;
/// `context` names the case.
async fn assert_client_cert_rejected(
    flags: &ConnArgs,
    want: &str,
    context: &str,
    shape: impl Fn(&ConnectError) -> bool,
) {
    let err = connect_err(flags).await;
    let context = format!("{context}: {err:?}");
    assert_eq!(err.code(), "TLS_CLIENT_CERT_REJECTED", "{context}");
    assert_eq!(err.to_string(), want, "{context}");
    assert!(shape(&err), "{context}");
}

/// Passes the server's first handshake flight through, then swallows every
/// later write. A rejected client certificate then reaches the client as a
/// bare reset or close without the alert: the order the client sees when
/// the server's reset overtakes its alert, made deterministic.
struct MuteAfterFirstFlight<S> {
    inner: S,
    wrote: bool,
    mute: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for MuteAfterFirstFlight<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        // rustls writes its whole flight before reading the client's.
        if self.wrote {
            self.mute = true;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MuteAfterFirstFlight<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.mute {
            return Poll::Ready(Ok(buf.len()));
        }
        self.wrote = true;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An mTLS server that rejects client certificates without an alert:
/// with a reset (`reset`), or with a clean close (FIN) after reading all
/// the client sends.
async fn mtls_rejecting_silently(config: Arc<ServerConfig>, reset: bool) -> (String, AbortOnDrop) {
    raw_tls_server(config, move |acceptor, tcp| async move {
        let muted = MuteAfterFirstFlight {
            inner: tcp,
            wrote: false,
            mute: false,
        };
        let Err((_, muted)) = acceptor.accept(muted).into_fallible().await else {
            return;
        };
        let mut tcp = muted.inner;
        if reset {
            // SO_LINGER 0 turns the close into an RST.
            let _ = tcp.set_zero_linger();
        } else {
            let _ = tcp.shutdown().await;
            let mut sink = Vec::new();
            let _ = tcp.read_to_end(&mut sink).await;
        }
    })
    .await
}

/// A TCP listener on 127.0.0.1 that hands each connection in turn, with a
/// TLS acceptor for `config`, to `serve`, which plays a misbehaving TLS
/// server; returns its address and the accept loop, stopped when dropped.
async fn raw_tls_server<F, Fut>(config: Arc<ServerConfig>, serve: F) -> (String, AbortOnDrop)
where
    F: Fn(TlsAcceptor, TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let acceptor = TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            serve(acceptor.clone(), tcp).await;
        }
    });
    (addr, AbortOnDrop(task))
}

/// TLS 1.3 only: a TLS 1.2 server judges the certificate inside the
/// handshake, where a bare reset is not evidence enough (it may have
/// accepted us and gone away before we read its Finished).
#[tokio::test]
async fn a_rejected_client_cert_is_named_when_only_a_reset_or_close_arrives() {
    let pki = TestPki::generate();
    let config = pki.mtls_server_config();
    for reset in [true, false] {
        let (addr, _server) = mtls_rejecting_silently(config.clone(), reset).await;
        let none = tls_args(&addr, &pki);
        let foreign = foreign_cert_args(&addr, &pki);
        for round in 0..REJECTION_ROUNDS {
            for (flags, want) in [(&none, NO_CERT), (&foreign, CERT_REFUSED)] {
                let context = format!("reset={reset} round {round}");
                assert_client_cert_rejected(flags, want, &context, |err| {
                    matches!(err, ConnectError::TlsClientCertRejected { alert: None, .. })
                })
                .await;
            }
        }
    }
}

/// A TLS server that completes each handshake and then resets the
/// connection, as one does when it restarts at that moment.
async fn tls_then_reset(config: Arc<ServerConfig>) -> (String, AbortOnDrop) {
    raw_tls_server(config, |acceptor, tcp| async move {
        // SO_LINGER 0 turns the close into an RST.
        let _ = tcp.set_zero_linger();
        if let Ok(tls) = acceptor.accept(tcp).await {
            drop(tls);
        }
    })
    .await
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test]
async fn a_server_resetting_after_the_handshake_is_a_reset_not_a_rejected_cert() {
    let pki = TestPki::generate();
    // A server that never asks for a client certificate (with one
    // configured or not), and mTLS servers that accepted ours: a TLS 1.2
    // server judges it before its Finished, a TLS 1.3 one before the
    // session tickets it sends.
    let servers = [
        ("TLS", pki.server_config()),
        ("mTLS 1.3", pki.mtls_server_config()),
        ("mTLS 1.2", pki.mtls_server_config_tls12()),
    ];
    for (kind, config) in servers {
        let (addr, _server) = tls_then_reset(config).await;
        let mut cases = vec![client_cert_args(&addr, &pki)];
        if kind == "TLS" {
            cases.push(tls_args(&addr, &pki));
        }
        for flags in cases {
            for round in 0..REJECTION_ROUNDS {
                let err = connect_err(&flags).await;
                let context = format!("{kind} round {round}: {err:?}");
                assert_eq!(err.code(), "RESET", "{context}");
                // Under TLS 1.2 the reset may come before we read the
                // server's Finished.
                assert!(
                    err.to_string()
                        == "connection reset by the server before sending HTTP/2 SETTINGS"
                        || (kind == "mTLS 1.2"
                            && err.to_string()
                                == "connection reset by the server during the TLS handshake"),
                    "{context}"
                );
            }
        }
    }
}

// ------------------------------------------------- connected means SETTINGS

#[tokio::test]
async fn every_fault_is_its_own_connect_error() {
    let expected = [
        (Fault::Http1, "NOT_HTTP2"),
        (Fault::Garbage, "NOT_HTTP2"),
        (Fault::Reset, "RESET"),
        (Fault::CloseAfterAccept, "CLOSED"),
    ];
    for (fault, code) in expected {
        let server = fault.start().await;
        // A long timeout: a fault must fail on its own, not by timing out.
        let flags = args_timing_out(server.addr(), Duration::from_secs(30));
        let err = connect_err(&flags).await;
        assert_eq!(err.code(), code, "{fault:?}: {err}");
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
    }
}

#[tokio::test]
async fn http1_reply_is_named() {
    let server = Fault::Http1.start().await;
    let err = connect_err(&args(server.addr())).await;
    assert!(err.to_string().contains("HTTP/1"), "{err}");
}

#[tokio::test]
async fn silent_server_times_out_within_the_connect_timeout() {
    for tls in [false, true] {
        let pki = TestPki::generate();
        let server = Fault::AcceptSilent.start().await;
        let timeout = Duration::from_millis(400);
        let base = if tls {
            tls_args(server.addr(), &pki)
        } else {
            args(server.addr())
        };
        let flags = ConnArgs {
            connect_timeout: timeout,
            ..base
        };
        let started = Instant::now();
        let err = connect_err(&flags).await;
        let took = started.elapsed();
        assert!(err.is_timeout(), "{err}");
        assert_eq!(err.code(), "TIMEOUT");
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(1),
            "{took:?}"
        );
        let stage = if tls {
            "during the TLS handshake"
        } else {
            "SETTINGS"
        };
        assert!(err.to_string().contains(stage), "{err}");
        assert!(
            err.to_string().starts_with("timed out after 400ms"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn http2_that_is_not_grpc_connects_then_fails_the_rpc() {
    let server = Fault::Http2NotGrpc.start().await;
    let conn = connect_ok(&args(server.addr())).await;
    let err = check(&conn, "")
        .await
        .expect_err("a 404 is not a health answer");
    // tonic reads the 404's body as a gRPC message before it looks at the
    // HTTP status; what matters is that this is an RPC failure naming the
    // 404, not a connection failure.
    assert!(matches!(err, RpcError::Status(_)), "{err:?}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn refused_dns_and_missing_socket_fail_fast_with_their_code() {
    let long = Duration::from_secs(60);
    let cases = [
        (refused_addr(), "REFUSED"),
        ("no-such-host.invalid:50051".to_owned(), "DNS"),
        (
            "unix:///nonexistent-dir/grpc.sock".to_owned(),
            "NO_SUCH_SOCKET",
        ),
    ];
    for (addr, code) in cases {
        let flags = args_timing_out(&addr, long);
        // A 60s timeout: only failing fast can give anything but TIMEOUT.
        let err = connect_err(&flags).await;
        assert_eq!(err.code(), code, "{addr}: {err}");
    }
}

// ------------------------------------------------------------- closing

/// Runs a client on its own runtime and drops that runtime right after,
/// as a probe process exits; returns how the server saw the connection end.
fn client_then_exit(close: bool) -> testkit::servers::CloseCounts {
    let server_rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = server_rt.block_on(TestServer::builder().start());
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let flags = args(server.addr());
    client_rt.block_on(async {
        let conn = connect_ok(&flags).await;
        check(&conn, "").await.expect("check");
        if close {
            conn.close().await;
        } else {
            // The process "exits" with the connection still open.
            std::mem::forget(conn);
        }
    });
    drop(client_rt);
    server_rt.block_on(server.wait_for_closes(1, Duration::from_secs(5)))
}

#[test]
fn close_sends_goaway_before_returning() {
    let closes = client_then_exit(true);
    assert_eq!((closes.graceful, closes.abrupt), (1, 0), "{closes:?}");
}

#[test]
fn exiting_without_close_is_abrupt() {
    let closes = client_then_exit(false);
    assert_eq!((closes.graceful, closes.abrupt), (0, 1), "{closes:?}");
}

// ------------------------------------------- sending before SETTINGS arrive

/// Opens as the probe does: the Check leaves with the HTTP/2 preface,
/// before the server's SETTINGS (see `conn::Opening`); only then waits for
/// the connection to be ready.
async fn try_pipelined(args: &ConnArgs) -> Result<Connection, ConnectError> {
    let opening = conn::open(&options(args)).await?;
    let early = opening.connection().clone();
    let _check = AbortOnDrop(tokio::spawn(async move {
        let _ = check(&early, "").await;
    }));
    // Let the Check task run, so its request is written before we wait.
    tokio::task::yield_now().await;
    opening.ready().await
}

/// The verdicts of `connect` and of the pipelined open, side by side: the
/// request sent early must not change what a connection failure is called.
async fn both_verdicts(args: &ConnArgs) -> [Result<(), (String, String)>; 2] {
    let verdict = |outcome: Result<Connection, ConnectError>| {
        outcome
            .map(|_| ())
            .map_err(|e| (e.code().to_owned(), e.to_string()))
    };
    let (plain, pipelined) = tokio::join!(try_connect(args), try_pipelined(args));
    [verdict(plain), verdict(pipelined)]
}

#[tokio::test]
async fn sending_before_settings_changes_no_verdict() {
    let pki = TestPki::generate();
    let mut cases: Vec<(String, ConnArgs, Option<&str>, usize)> = Vec::new();
    let mut servers = Vec::new();
    let mut faults = Vec::new();
    let mut silent = Vec::new();

    let plain = TestServer::builder().start().await;
    cases.push(("serving".into(), args(plain.addr()), None, 1));
    cases.push((
        "TLS client, plaintext server".into(),
        tls_args(plain.addr(), &pki),
        Some("TLS_PLAINTEXT_SERVER"),
        1,
    ));
    for (fault, code) in [
        (Fault::Http1, Some("NOT_HTTP2")),
        (Fault::Garbage, Some("NOT_HTTP2")),
        (Fault::Reset, Some("RESET")),
        (Fault::CloseAfterAccept, Some("CLOSED")),
        (Fault::AcceptSilent, Some("TIMEOUT")),
        (Fault::Http2NotGrpc, None),
    ] {
        let server = fault.start().await;
        let flags = args_timing_out(server.addr(), Duration::from_millis(300));
        cases.push((format!("{fault:?}"), flags, code, 1));
        faults.push(server);
    }
    for transport in TRANSPORTS {
        let tls = tls_server(transport, &pki).await;
        let addr = tls.addr();
        let t = format!("{transport:?}");
        cases.push((format!("{t} TLS"), tls_args(addr, &pki), None, 1));
        cases.push((
            format!("{t} untrusted"),
            untrusted_args(addr, &pki),
            Some("TLS_UNTRUSTED"),
            1,
        ));
        cases.push((
            format!("{t} wrong name"),
            wrong_name_args(addr, &pki),
            Some("TLS_NAME_MISMATCH"),
            1,
        ));
        // Closed, or reset when the early request was still unread as the
        // server closed: either way with the hint.
        cases.push((
            format!("{t} plaintext client, TLS server"),
            args(addr),
            Some("CLOSED|RESET"),
            5,
        ));
        for (version, config) in mtls_configs(&pki) {
            let mtls = tls_config_server(transport, config).await;
            let addr = mtls.addr();
            let good = client_cert_args(addr, &pki);
            cases.push((format!("{t} {version} mTLS"), good, None, 1));
            let foreign = foreign_cert_args(addr, &pki);
            let rejected = Some("TLS_CLIENT_CERT_REJECTED");
            let rounds = REJECTION_ROUNDS;
            cases.push((
                format!("{t} {version} no cert"),
                tls_args(addr, &pki),
                rejected,
                rounds,
            ));
            cases.push((
                format!("{t} {version} foreign cert"),
                foreign,
                rejected,
                rounds,
            ));
            servers.push(mtls);
        }
        servers.push(tls);
    }
    for reset in [true, false] {
        let (addr, server) = mtls_rejecting_silently(pki.mtls_server_config(), reset).await;
        let flags = tls_args(&addr, &pki);
        let name = format!("mTLS 1.3 rejecting without an alert (reset={reset})");
        let rejected = Some("TLS_CLIENT_CERT_REJECTED");
        cases.push((name, flags, rejected, REJECTION_ROUNDS));
        silent.push(server);
    }

    for (name, flags, want, rounds) in &cases {
        for round in 0..*rounds {
            let [plain, pipelined] = both_verdicts(flags).await;
            let context = format!("{name}, round {round}: {plain:?} / {pipelined:?}");
            match want {
                None => assert!(plain.is_ok() && pipelined.is_ok(), "{context}"),
                Some(codes) if codes.contains('|') => {
                    for verdict in [&plain, &pipelined] {
                        let (code, text) = verdict.as_ref().expect_err(&context);
                        assert!(codes.split('|').any(|c| c == code), "{context}");
                        assert!(text.ends_with("(if it serves TLS, use -tls)"), "{context}");
                    }
                }
                Some(code) => {
                    assert_eq!(
                        plain.as_ref().err().map(|e| e.0.as_str()),
                        Some(*code),
                        "{context}"
                    );
                    assert_eq!(plain, pipelined, "{context}");
                }
            }
        }
    }
    drop((servers, faults, silent));
}
