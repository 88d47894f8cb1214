//! How `grpc_toolkit_conn` reports a server certificate it will not accept:
//! a stable code and one line in words for each way a certificate goes
//! wrong. rustls's own text for several of these is a `Debug` dump
//! (`Other(OtherError(CaUsedAsEndEntity))`), which must never reach the
//! operator. Each server presents a certificate made wrong in one way by
//! `testkit::tls::ServerCertSpec`; its good twin connects, so each failure
//! is the flaw's doing.

use std::path::PathBuf;

use grpc_toolkit_conn::{self as conn, ConnArgs, ConnectError, ConnectOptions};
use testkit::servers::TestServer;
use testkit::tls::{CustomServerCert, ExtendedKeyUsagePurpose, ServerCertSpec, TestPki};

const UA: &str = "tls-errors-test/1.0";

/// TLS flags trusting `ca`.
fn args(addr: &str, ca: PathBuf) -> ConnArgs {
    ConnArgs {
        addr: Some(addr.to_owned()),
        tls: true,
        tls_ca_cert: Some(ca),
        ..ConnArgs::default()
    }
}

/// A TLS server presenting a certificate made to `spec` by `pki`, and that
/// certificate.
async fn serve(pki: &TestPki, spec: &ServerCertSpec) -> (TestServer, CustomServerCert) {
    let cert = pki.server_with(spec);
    let server = TestServer::builder()
        .tls_config(cert.config.clone())
        .start()
        .await;
    (server, cert)
}

fn options(args: &ConnArgs) -> ConnectOptions {
    args.to_options(UA)
        .unwrap_or_else(|e| panic!("flags {args:?} should be valid: {e}"))
}

async fn connect_err(args: &ConnArgs) -> ConnectError {
    match conn::connect(&options(args)).await {
        Ok(_) => panic!("connect to {:?} should have failed", args.addr),
        Err(e) => e,
    }
}

/// The error as `CODE: message`, once the message is shown to be plain
/// (see [`assert_plain`]).
fn described(err: &ConnectError) -> String {
    let message = err.to_string();
    assert_plain(&message);
    format!("{}: {message}", err.code())
}

/// The message is one line with no trace of Rust `Debug` output.
fn assert_plain(message: &str) {
    assert!(!message.contains('\n'), "more than one line: {message:?}");
    for debug in [
        "Other(",
        "Error(",
        "Context",
        " { ",
        "Some(",
        "DnsName(",
        "IpAddress(",
    ] {
        assert!(
            !message.contains(debug),
            "{message:?} shows Debug text {debug:?}"
        );
    }
}

/// Connects to a server presenting a certificate made to `spec` by a fresh
/// PKI (trusting its CA, or the certificate itself when it is
/// self-signed) and returns the error as `CODE: message`
/// (`the_good_twin_connects` shows that the same setup without the flaw
/// connects).
async fn failure(spec: ServerCertSpec, self_signed: bool) -> String {
    let pki = TestPki::generate();
    let (server, bad) = serve(&pki, &spec).await;
    let ca = if self_signed { bad.cert } else { pki.ca_cert() };
    described(&connect_err(&args(server.addr(), ca)).await)
}

/// [`failure`] for a message that ends `... (current time T)`: checks that
/// `T` is an RFC 3339 UTC time of today's era, and returns the text before.
async fn failure_at_current_time(spec: ServerCertSpec) -> String {
    let message = failure(spec, false).await;
    let (before, now) = message
        .strip_suffix(')')
        .and_then(|m| m.rsplit_once(" (current time "))
        .unwrap_or_else(|| panic!("{message:?} does not end with the current time"));
    let shape: String = now
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99Z", "{message:?}");
    // RFC 3339 times of one shape sort as text.
    assert!(
        ("2025".."2200").contains(&now),
        "current time {now} is not now"
    );
    before.to_owned()
}

#[tokio::test]
async fn the_good_twin_connects() {
    let pki = TestPki::generate();
    let (server, _good) = serve(&pki, &ServerCertSpec::new()).await;
    let options = options(&args(server.addr(), pki.ca_cert()));
    if let Err(e) = conn::connect(&options).await {
        panic!(
            "the unflawed certificate should be trusted: {e} [{}]",
            e.code()
        );
    }
}

#[tokio::test]
async fn expired_says_when_and_the_current_time() {
    let spec = ServerCertSpec::new()
        .not_before(2000, 1, 1)
        .not_after(2001, 1, 1);
    assert_eq!(
        failure_at_current_time(spec).await,
        "TLS_UNTRUSTED: server certificate is not trusted: expired at 2001-01-01T00:00:00Z"
    );
}

#[tokio::test]
async fn not_yet_valid_says_from_when_and_the_current_time() {
    let spec = ServerCertSpec::new()
        .not_before(2200, 1, 1)
        .not_after(2201, 1, 1);
    assert_eq!(
        failure_at_current_time(spec).await,
        "TLS_UNTRUSTED: server certificate is not trusted: not valid until 2200-01-01T00:00:00Z"
    );
}

/// A CA certificate that is only signed by an anchor stays refused (a
/// self-signed one that is itself the anchor is accepted, as Go does: see
/// `probe_hostile`).
#[tokio::test]
async fn a_ca_certificate_signed_by_the_anchor_served_as_the_servers_own() {
    let got = failure(ServerCertSpec::new().ca_signed_by_pki(), false).await;
    assert_eq!(
        got,
        "TLS_UNTRUSTED: server certificate is not trusted: \
         it is a CA certificate (basicConstraints CA:TRUE), not a server certificate"
    );
}

#[tokio::test]
async fn a_client_auth_only_certificate_is_not_for_servers() {
    let spec = ServerCertSpec::new().usage(ExtendedKeyUsagePurpose::ClientAuth);
    let got = failure(spec, false).await;
    assert_eq!(
        got,
        "TLS_UNTRUSTED: server certificate is not trusted: \
         not for server authentication: its extended key usage allows only client authentication"
    );
}

#[tokio::test]
async fn a_broken_signature() {
    let got = failure(ServerCertSpec::new().corrupt_signature(), false).await;
    assert_eq!(
        got,
        "TLS_UNTRUSTED: server certificate is not trusted: \
         bad signature: not signed by its issuer's key"
    );
}

#[tokio::test]
async fn an_unsupported_signature_algorithm_is_named() {
    let spec = ServerCertSpec::new().unsupported_signature_algorithm();
    let got = failure(spec, false).await;
    assert_eq!(
        got,
        "TLS_UNTRUSTED: server certificate is not trusted: \
         signed with an unsupported algorithm (ecdsa-with-SHA224, 1.2.840.10045.4.3.1)"
    );
}

#[tokio::test]
async fn unknown_issuer_and_name_mismatch_keep_their_codes() {
    let pki = TestPki::generate();
    let (server, _good) = serve(&pki, &ServerCertSpec::new()).await;

    let err = connect_err(&args(server.addr(), pki.foreign_ca_cert())).await;
    assert_eq!(
        described(&err),
        "TLS_UNTRUSTED: server certificate is not trusted: \
         issued by an unknown certificate authority"
    );

    let wrong_name = ConnArgs {
        tls_server_name: Some("wrong.example".into()),
        ..args(server.addr(), pki.ca_cert())
    };
    let err = connect_err(&wrong_name).await;
    assert_eq!(
        described(&err),
        "TLS_NAME_MISMATCH: server certificate is not valid for \"wrong.example\": \
         certificate is only valid for localhost, 127.0.0.1 or ::1"
    );
}

/// The whole line `grpc-probe` prints for a CA certificate served as the
/// server's own. (The case first seen in the wild, `openssl req -x509`'s
/// self-signed CA:TRUE certificate given as its own `-tls-ca-cert`, is
/// accepted now, as Go accepts it.)
#[tokio::test]
async fn the_probe_prints_one_line_for_a_ca_certificate() {
    let pki = TestPki::generate();
    let (server, _bad) = serve(&pki, &ServerCertSpec::new().ca_signed_by_pki()).await;
    let addr = server.addr().to_owned();
    let argv = vec![
        "grpc-probe".to_owned(),
        format!("-addr={addr}"),
        "-tls".to_owned(),
        format!("-tls-ca-cert={}", pki.ca_cert().display()),
    ];
    let run =
        testkit::bin::in_process(move |out, err| grpc_probe::run_cli(argv, out, err).code()).await;
    assert_eq!(run.code, 2, "a connect failure");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!(
            "error: failed to connect service at \"{addr}\": server certificate is not trusted: \
             it is a CA certificate (basicConstraints CA:TRUE), not a server certificate\n"
        )
    );
}
