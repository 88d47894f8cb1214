//! `grpc-probe` against hostile servers and careless inputs (issue 11,
//! items 1–6): header values that must never be printed, server text that
//! must not reach a terminal raw, special files as TLS material, servers
//! that break the protocol, self-signed certificates that Go accepts, and
//! `--liveness`. Each test failed on the code before its fix.

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use testkit::faults::refused_addr;
use testkit::hostile::{HostileServer, Reply};
use testkit::servers::TestServer;

use crate::probe::{probe, schema, valid_json};

/// A token no message may ever show.
const SECRET: &str = "s3cr3t-T0KEN";

// Item 2: header values are never printed.

#[tokio::test]
async fn header_values_never_reach_any_message() {
    let addr = refused_addr();
    let header = format!("-rpc-header=authorization: Bearer {SECRET}");
    let split_value = format!("Bearer {SECRET}");
    let cases: Vec<Vec<String>> = vec![
        // A stray word before the header: it is ignored, and named.
        vec!["stray".into(), header.clone()],
        vec!["--".into(), header.clone()],
        // The separate-value form after a stray word.
        vec![
            "stray".into(),
            "-rpc-header".into(),
            format!("authorization: Bearer {SECRET}"),
        ],
        // An unquoted header split by the shell: the token is a bare word.
        vec![
            "-rpc-header=authorization:".into(),
            "Bearer".into(),
            SECRET.into(),
        ],
        vec![
            "-rpc-header".into(),
            "authorization:Bearer".into(),
            SECRET.into(),
        ],
        vec![
            "stray".into(),
            "-rpc-header=authorization:".into(),
            split_value.clone(),
        ],
        // Bad flag syntax and an unknown "flag" that is a pasted header.
        vec![format!("---rpc-header=authorization: Bearer {SECRET}")],
        vec![format!("-authorization: Bearer {SECRET}")],
        vec![format!("-rpc-headers=authorization: Bearer {SECRET}")],
        // A header value that is not printable ASCII.
        vec![format!("-rpc-header=authorization: Bearer {SECRET}\u{7}")],
    ];
    for case in cases {
        let mut args = vec!["-addr", addr.as_str(), "-v"];
        args.extend(case.iter().map(String::as_str));
        let run = probe(&args).await;
        assert!(
            !run.stderr.contains(SECRET) && !run.stdout.contains(SECRET),
            "{case:?} printed the header value: {run:?}"
        );
    }
}

#[tokio::test]
async fn the_ignored_arguments_warning_names_the_header_flag_but_hides_its_value() {
    let addr = refused_addr();
    let header = format!("-rpc-header=authorization: Bearer {SECRET}");
    let run = probe(&["-addr", &addr, "stray", &header, "-service=x"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.lines()[0],
        r#"warning: ignoring arguments after the flags, as grpc_health_probe does: "stray" "-rpc-header=<hidden>" "-service=x""#,
        "{run:?}"
    );
    let run = probe(&[
        "-addr",
        &addr,
        "-rpc-header=authorization:",
        "Bearer",
        SECRET,
    ])
    .await;
    assert_eq!(
        run.lines()[0],
        r#"warning: ignoring arguments after the flags, as grpc_health_probe does: "<hidden>" "<hidden>""#,
        "{run:?}"
    );
}

// Item 3: text from the network and the user is escaped and cut.

/// A grpc-message that tries everything a terminal or log matcher obeys.
const EVIL: &[u8] =
    b"\x1b]0;pwned\x07\x1b[2J\0\x7f\nstatus: SERVING\r\xc2\x9b31m\xe2\x80\xaeevil\xe2\x81\xa6";

fn assert_no_raw_controls(text: &str) {
    for c in text.chars() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}');
        assert!(!bad, "{:?} reached stderr raw: {text:?}", c);
    }
}

#[tokio::test]
async fn a_servers_status_message_is_escaped_on_stderr_and_exact_in_json() {
    let server = HostileServer::start(Reply::status(13, EVIL)).await;
    let run = probe(&["-addr", server.addr(), "--json"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_no_raw_controls(&run.stderr);
    assert_eq!(
        run.lines().len(),
        1,
        "one line, not a forged second: {run:?}"
    );
    assert!(
        run.lines()[0]
            .starts_with(r"error: health rpc failed: INTERNAL: \x1b]0;pwned\x07\x1b[2J\x00\x7f"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains(r"\u{9b}31m\u{202e}evil\u{2066}"),
        "{run:?}"
    );
    // JSON keeps the exact text (only JSON's own escaping).
    let json = valid_json(&schema(), &run);
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\u{1b}]0;pwned\u{7}\u{1b}[2J"),
        "{message:?}"
    );
    assert!(
        message.contains("\u{9b}31m\u{202e}evil\u{2066}"),
        "{message:?}"
    );
}

#[tokio::test]
async fn a_long_status_message_is_cut_with_a_marker() {
    let long = "x".repeat(8_000);
    let server = HostileServer::start(Reply::status(13, long.as_bytes())).await;
    let run = probe(&["-addr", server.addr(), "--json"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    let line = run.lines()[0];
    assert!(line.len() < 1200, "{} bytes", line.len());
    assert!(line.contains("…[+"), "{line}");
    let json = valid_json(&schema(), &run);
    assert!(json["error"]["message"].as_str().unwrap().contains(&long));
}

#[tokio::test]
async fn listed_service_names_cannot_forge_lines() {
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set("down\n\"\": status: SERVING", ServingStatus::NotServing);
    health.set("\u{202e}GNIVRES\u{1b}[0m", ServingStatus::NotServing);
    let run = probe(&["-addr", server.addr(), "--list", "--json"]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert_no_raw_controls(&run.stderr);
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{run:?}");
    assert!(
        lines
            .iter()
            .all(|l| !l.starts_with("\"\": status: SERVING") || l == &"\"\": status: SERVING"),
        "{run:?}"
    );
    assert!(
        lines.contains(
            &r#"down\n"": status: SERVING: service unhealthy (responded with "NOT_SERVING")"#
        ),
        "{run:?}"
    );
    assert!(
        lines.contains(
            &r#"\u{202e}GNIVRES\x1b[0m: service unhealthy (responded with "NOT_SERVING")"#
        ),
        "{run:?}"
    );
    let json = valid_json(&schema(), &run);
    let names: Vec<&str> = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"down\n\"\": status: SERVING"), "{names:?}");
    assert!(names.contains(&"\u{202e}GNIVRES\u{1b}[0m"), "{names:?}");
}

#[tokio::test]
async fn the_users_own_arguments_are_escaped_when_echoed() {
    let run = probe(&[
        "-addr=h:1",
        "-tls",
        "-tls-ca-cert=/nonexistent/\u{1b}[2J\u{202e}.pem",
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_no_raw_controls(&run.stderr);
    assert!(run.stderr.contains(r"\x1b[2J\u{202e}.pem"), "{run:?}");
}

// Item 4: special files as TLS material keep the deadline.

fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
}

#[tokio::test]
async fn devices_and_sockets_are_refused_as_tls_files() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ca.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let socket = socket.to_str().unwrap().to_owned();
    for (file, what) in [
        ("/dev/zero", "a device"),
        ("/dev/urandom", "a device"),
        (socket.as_str(), "a socket"),
        ("/", "a directory"),
    ] {
        let ca = format!("-tls-ca-cert={file}");
        let run = probe(&["-addr=localhost:1", "-tls", &ca, "--timeout=1s"]).await;
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(
            run.lines(),
            [format!(
                "error: cannot read -tls-ca-cert file \"{file}\": it is {what}, not a file"
            )],
            "{run:?}"
        );
        assert!(run.elapsed < std::time::Duration::from_secs(1), "{run:?}");
    }
    let key = "-tls-client-key=/dev/zero";
    let run = probe(&["-addr=h:1", "-tls", "-tls-client-cert=/dev/null", key]).await;
    assert_eq!(run.code, 1, "{run:?}");
}

#[tokio::test]
async fn a_pipe_nobody_closes_ends_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ca.pem");
    mkfifo(&fifo);
    let ca = format!("-tls-ca-cert={}", fifo.display());
    // A writer that opens the pipe and never closes it.
    let writer_path = fifo.clone();
    let _writer = std::thread::spawn(move || {
        let held = std::fs::OpenOptions::new().write(true).open(writer_path);
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(held);
    });
    let run = probe(&[
        "-addr=localhost:1",
        "-tls",
        &ca,
        "-connect-timeout=5s",
        "--timeout=1s",
    ])
    .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.lines()[0].contains("the pipe was not closed by its writer in time"),
        "{run:?}"
    );
    assert!(
        run.elapsed >= std::time::Duration::from_secs(1)
            && run.elapsed < std::time::Duration::from_secs(2),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_pipe_and_a_symlink_are_read_like_the_file_they_carry() {
    let pki = testkit::tls::TestPki::generate();
    let server = TestServer::builder().tls(&pki).start().await;
    let dir = tempfile::tempdir().unwrap();
    // Kubernetes mounts Secrets as symlinks to symlinks.
    let data = dir.path().join("..data");
    std::fs::create_dir(&data).unwrap();
    std::fs::copy(pki.ca_cert(), data.join("ca.crt")).unwrap();
    let link = dir.path().join("ca.crt");
    std::os::unix::fs::symlink(data.join("ca.crt"), &link).unwrap();
    let ca = format!("-tls-ca-cert={}", link.display());
    let run = probe(&[
        "-addr",
        server.addr(),
        "-tls",
        &ca,
        "-tls-server-name=localhost",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");

    let fifo = dir.path().join("ca.fifo");
    mkfifo(&fifo);
    let (writer_path, pem) = (fifo.clone(), std::fs::read(pki.ca_cert()).unwrap());
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let mut pipe = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        // In two parts, as a slow writer would.
        pipe.write_all(&pem[..100]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        pipe.write_all(&pem[100..]).unwrap();
    });
    let ca = format!("-tls-ca-cert={}", fifo.display());
    let run = probe(&[
        "-addr",
        server.addr(),
        "-tls",
        &ca,
        // The writer is a thread of this busy test process: give it time to
        // be scheduled (CI saw it miss the default 1 s). The deadline itself
        // is tested above.
        "-connect-timeout=30s",
        "-tls-server-name=localhost",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    writer.join().unwrap();
}

#[tokio::test]
async fn a_tls_file_over_one_mebibyte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.pem");
    std::fs::write(&big, vec![b'A'; (1 << 20) + 1]).unwrap();
    let ca = format!("-tls-ca-cert={}", big.display());
    let run = probe(&["-addr=h:1", "-tls", &ca]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.lines()[0].ends_with("it is larger than 1 MiB"),
        "{run:?}"
    );
}

// Item 1: a server certificate that is itself a trust anchor.

mod anchors {
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use rustls::ServerConfig;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use testkit::servers::TestServer;

    use crate::probe::probe;

    /// One shape of certificate, served by the server and given (itself, or
    /// its issuer) as `-tls-ca-cert`.
    struct Shape {
        /// The server's certificate and key.
        server: (CertificateDer<'static>, KeyPair),
        /// The PEM given as `-tls-ca-cert`.
        anchor_pem: String,
    }

    /// Made as `openssl req -x509 -subj /CN=NAME -addext
    /// subjectAltName=DNS:NAME` makes it: self-signed, basicConstraints
    /// CA:TRUE, no extendedKeyUsage.
    fn self_signed(
        name: &str,
        ca: bool,
        expired: bool,
        usage: Option<ExtendedKeyUsagePurpose>,
    ) -> Shape {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        params.extended_key_usages = usage.into_iter().collect();
        let cert = params.self_signed(&key).unwrap();
        Shape {
            anchor_pem: cert.pem(),
            server: (cert.der().clone(), key),
        }
    }

    /// A CA:TRUE certificate for `localhost`, signed by a self-signed root
    /// that is the only anchor.
    fn ca_signed_by_anchor() -> Shape {
        let root_key = KeyPair::generate().unwrap();
        let mut root = CertificateParams::new(Vec::<String>::new()).unwrap();
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.distinguished_name.push(DnType::CommonName, "root");
        root.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let root_cert = root.self_signed(&root_key).unwrap();
        let issuer = Issuer::new(root, root_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Shape {
            anchor_pem: root_cert.pem(),
            server: (cert.der().clone(), key),
        }
    }

    fn config((cert, key): &(CertificateDer<'static>, KeyPair)) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(config)
    }

    /// The probe's exit code and stderr against a server presenting the
    /// shape's certificate, with `localhost` as the name to verify.
    async fn verdict(shape: &Shape) -> (u8, String) {
        let server = TestServer::builder()
            .tls_config(config(&shape.server))
            .start()
            .await;
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &shape.anchor_pem).unwrap();
        let ca = format!("-tls-ca-cert={}", ca.display());
        let run = probe(&[
            "-addr",
            server.addr(),
            "-tls",
            &ca,
            "-tls-server-name=localhost",
        ])
        .await;
        (run.code, run.stderr)
    }

    /// grpc_health_probe (Go's crypto/x509) takes a leaf that is in the
    /// root pool as a chain of one: it checks the leaf's dates, name and
    /// extended key usage, never its basicConstraints. Verdict: exit 0.
    #[tokio::test]
    async fn openssl_default_self_signed_ca_true_as_its_own_anchor_is_accepted() {
        let (code, stderr) = verdict(&self_signed("localhost", true, false, None)).await;
        assert_eq!((code, stderr.as_str()), (0, "status: SERVING\n"));
    }

    /// Go: "x509: certificate is valid for other.example, not localhost",
    /// exit 2.
    #[tokio::test]
    async fn self_signed_ca_true_anchor_with_the_wrong_name_is_refused() {
        let (code, stderr) = verdict(&self_signed("other.example", true, false, None)).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("server certificate is not valid for \"localhost\""),
            "{stderr}"
        );
    }

    /// Go: "x509: certificate has expired or is not yet valid", exit 2.
    #[tokio::test]
    async fn expired_self_signed_ca_true_anchor_is_refused() {
        let (code, stderr) = verdict(&self_signed("localhost", true, true, None)).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("expired at 2001-01-01T00:00:00Z"),
            "{stderr}"
        );
    }

    /// Go: "x509: certificate specifies an incompatible key usage", exit 2.
    #[tokio::test]
    async fn self_signed_ca_true_anchor_for_client_auth_only_is_refused() {
        let shape = self_signed(
            "localhost",
            true,
            false,
            Some(ExtendedKeyUsagePurpose::ClientAuth),
        );
        let (code, stderr) = verdict(&shape).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("server certificate is not trusted"),
            "{stderr}"
        );
    }

    /// Go: exit 0 (it never looks at a leaf's basicConstraints). grpc-probe
    /// refuses on purpose, as the issue asks: only a certificate that is
    /// itself an anchor is excused from being a CA, not one an anchor
    /// signed. A documented difference (probe/README.md, "Self-signed certificates").
    #[tokio::test]
    async fn a_ca_certificate_only_signed_by_the_anchor_is_still_refused() {
        let (code, stderr) = verdict(&ca_signed_by_anchor()).await;
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("it is a CA certificate (basicConstraints CA:TRUE)"),
            "{stderr}"
        );
    }

    /// Go: exit 0; webpki accepts it too (a trust anchor's own
    /// basicConstraints are not checked).
    #[tokio::test]
    async fn plain_self_signed_certificate_as_its_own_anchor_is_accepted() {
        let (code, stderr) = verdict(&self_signed("localhost", false, false, None)).await;
        assert_eq!((code, stderr.as_str()), (0, "status: SERVING\n"));
    }
}

// Item 5: protocol laxity.

use testkit::hostile::health_response;

#[tokio::test]
async fn a_unary_answer_with_two_messages_is_internal() {
    let serving = health_response(ServingStatus::Serving);
    let server = HostileServer::start(Reply::messages(vec![serving.clone(), serving])).await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "error: health rpc failed: INTERNAL: cardinality violation: expected <EOF> for non server-streaming RPCs, but received another message"
        ],
        "{run:?}"
    );
    let run = probe(&["-addr", server.addr(), "--list"]).await;
    assert_eq!(run.code, 3, "{run:?}");
}

#[tokio::test]
async fn a_unary_answer_with_no_message_is_internal() {
    let server = HostileServer::start(Reply::messages(Vec::new())).await;
    let run = probe(&["-addr", server.addr()]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.lines()[0].contains("INTERNAL: cardinality violation: received no response message"),
        "{run:?}"
    );
}

#[tokio::test]
async fn an_answer_that_is_not_grpc_content_is_unknown() {
    for content_type in ["text/html", "application/grpcx", "application/json"] {
        let server = HostileServer::start(Reply::Answer {
            content_type,
            messages: vec![health_response(ServingStatus::Serving)],
            status: 0,
            message: Vec::new(),
        })
        .await;
        let run = probe(&["-addr", server.addr(), "--json"]).await;
        assert_eq!(run.code, 3, "{content_type}: {run:?}");
        assert_eq!(
            run.lines(),
            [format!(
                "error: health rpc failed: UNKNOWN: transport: received unexpected content-type \"{content_type}\""
            )],
            "{run:?}"
        );
        assert_eq!(valid_json(&schema(), &run)["error"]["code"], "UNKNOWN");
    }
    // The forms gRPC allows stay fine.
    for content_type in ["application/grpc+proto", "application/grpc;charset=utf-8"] {
        let server = HostileServer::start(Reply::Answer {
            content_type,
            messages: vec![health_response(ServingStatus::Serving)],
            status: 0,
            message: Vec::new(),
        })
        .await;
        let run = probe(&["-addr", server.addr()]).await;
        assert_eq!(run.code, 0, "{content_type}: {run:?}");
    }
}

/// Issue 18 item 2: an answer that is not gRPC (an ingress or proxy whose
/// backend is down) gets its code from the HTTP status, as grpc-go maps
/// it, and the line names the HTTP status and the content type. Check,
/// List and Watch alike; trailers-only, headers then a body, and no
/// content type at all.
#[tokio::test]
async fn a_proxys_http_answer_gets_its_code_from_the_http_status() {
    use bytes::Bytes;
    // HTTP status, content type, body (none: trailers-only), the JSON
    // code, the line after `error: health rpc failed: `.
    type Case = (
        u16,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        &'static str,
    );
    let cases: [Case; 6] = [
        (
            503,
            Some("text/plain"),
            None,
            "UNAVAILABLE",
            r#"UNAVAILABLE: Service Unavailable: HTTP status code 503; transport: received unexpected content-type "text/plain""#,
        ),
        (
            503,
            Some("text/plain"),
            Some("no healthy upstream"),
            "UNAVAILABLE",
            r#"UNAVAILABLE: Service Unavailable: HTTP status code 503; transport: received unexpected content-type "text/plain""#,
        ),
        (
            502,
            Some("text/html"),
            Some("<html>Bad Gateway</html>"),
            "UNAVAILABLE",
            r#"UNAVAILABLE: Bad Gateway: HTTP status code 502; transport: received unexpected content-type "text/html""#,
        ),
        (
            401,
            None,
            None,
            "UNAUTHENTICATED",
            "UNAUTHENTICATED: Unauthorized: HTTP status code 401; malformed header: missing HTTP content-type",
        ),
        (
            404,
            Some("text/plain"),
            Some("404 page not found"),
            "UNIMPLEMENTED",
            r#"UNIMPLEMENTED: Not Found: HTTP status code 404; transport: received unexpected content-type "text/plain""#,
        ),
        (
            200,
            Some("text/html"),
            Some("<html>login</html>"),
            "UNKNOWN",
            r#"UNKNOWN: transport: received unexpected content-type "text/html""#,
        ),
    ];
    for (status, content_type, body, code, line) in cases {
        let server = HostileServer::start(Reply::Http {
            status,
            content_type,
            body: body.map(|b| Bytes::from_static(b.as_bytes())),
        })
        .await;
        for mode in [&[][..], &["--list"][..]] {
            let mut args = vec!["-addr", server.addr(), "--json"];
            args.extend_from_slice(mode);
            let run = probe(&args).await;
            assert_eq!(run.code, 3, "{status} {body:?} {mode:?}: {run:?}");
            let want = if code == "UNIMPLEMENTED" {
                // The probe's own words for UNIMPLEMENTED, as
                // grpc_health_probe's, then the status's message.
                let message = line.split_once(": ").map_or(line, |(_, m)| m);
                let what = if mode.is_empty() {
                    "the grpc health protocol (grpc.health.v1.Health)"
                } else {
                    "the health List RPC (grpc.health.v1.Health/List)"
                };
                format!("error: this server does not implement {what}: {message}")
            } else {
                format!("error: health rpc failed: {line}")
            };
            assert_eq!(run.lines(), [want.as_str()], "{status} {body:?}: {run:?}");
            assert_eq!(valid_json(&schema(), &run)["error"]["code"], code);
        }
        let run = probe(&["-addr", server.addr(), "--watch", "--timeout=5s"]).await;
        let message = line.split_once(": ").map_or(line, |(_, m)| m);
        assert!(
            run.code == 3 && run.stderr.contains(message),
            "{status} {body:?} watch: {run:?}"
        );
    }
}

#[tokio::test]
async fn goaway_before_the_answer_says_what_happened() {
    let server = HostileServer::start(Reply::GoawayBeforeAnswer).await;
    let run = probe(&["-addr", server.addr(), "--json"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    let line = run.lines()[0];
    assert_eq!(
        line,
        "error: health rpc failed: UNAVAILABLE: the server closed the connection (GOAWAY, NO_ERROR) before answering",
        "{run:?}"
    );
}

#[tokio::test]
async fn ipv6_zone_ids_are_accepted() {
    let Ok(server) = HostileServer::start_on(
        "[::1]:0",
        Reply::messages(vec![health_response(ServingStatus::Serving)]),
    )
    .await
    else {
        eprintln!("skipped: no IPv6 loopback");
        return;
    };
    // Issue 18 item 3: `%25lo`, the URL escape grpc_health_probe users
    // write, as grpc-go unescapes it (was exit 2, `no network interface
    // "25lo"`).
    for addr in [
        format!("[::1%lo]:{}", server.port()),
        format!("-addr=[::1%25lo]:{}", server.port()),
        format!("dns:///[::1%25lo]:{}", server.port()),
    ] {
        let run = if let Some(flag) = addr.strip_prefix('-') {
            probe(&[&format!("-{flag}")]).await
        } else {
            probe(&["-addr", &addr]).await
        };
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (0, "status: SERVING\n"),
            "{addr}: {run:?}"
        );
    }
}

// Item 6: --liveness.

#[tokio::test]
async fn liveness_counts_any_answer_from_the_server() {
    let validator = schema();
    let cases = [
        (
            Reply::status(8, "shedding load"),
            "alive: the server answered the health check with RESOURCE_EXHAUSTED: shedding load",
            "grpc_status",
        ),
        (
            Reply::status(14, "busy"),
            "alive: the server answered the health check with UNAVAILABLE: busy",
            "grpc_status",
        ),
        (
            Reply::RefusedStream,
            "alive: the server refused the health check's stream (REFUSED_STREAM) on an established connection",
            "refused_stream",
        ),
        (
            Reply::messages(vec![health_response(ServingStatus::NotServing)]),
            "alive: the server answered the health check: NOT_SERVING",
            "serving_status",
        ),
    ];
    for (reply, line, answer) in cases {
        let server = HostileServer::start(reply.clone()).await;
        // The default stays as it was: these are failures.
        let run = probe(&["-addr", server.addr()]).await;
        assert_ne!(run.code, 0, "{run:?}");
        let run = probe(&["-addr", server.addr(), "--liveness", "--json"]).await;
        assert_eq!((run.code, run.lines()), (0, vec![line]), "{run:?}");
        let json = valid_json(&validator, &run);
        assert_eq!(json["results"][0]["liveness"], answer, "{json}");
        assert_eq!(json["exit_code"], 0, "{json}");
    }
}

#[tokio::test]
async fn liveness_still_fails_without_a_connection_or_an_answer() {
    let addr = refused_addr();
    let run = probe(&["-addr", &addr, "--liveness"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    let (server, health) = TestServer::start_with_spec_health().await;
    health.set_hang(true);
    let run = probe(&["-addr", server.addr(), "--liveness", "-rpc-timeout=200ms"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert_eq!(
        run.lines(),
        ["timeout: health rpc did not complete within 200ms"],
        "{run:?}"
    );
    let run = probe(&["-addr=h:1", "--liveness", "--list"]).await;
    assert_eq!(run.code, 1, "{run:?}");
}
