//! `channelz-tui --json` over every transport the shared connection layer
//! offers: TLS with a CA file, mTLS, a server name override, skip-verify,
//! unix sockets (plain and TLS), `-rpc-header`, and a real Python peer
//! serving TLS. Each run must reach the server's Channelz and print the
//! channels and servers it registered; an untrusted server is exit 2 with a
//! one-line TLS error.

use std::time::Duration;

use serde_json::Value;
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};
use testkit::servers::{TestServer, Transport};
use testkit::tls::TestPki;
use tonic_channelz::registry::{ChannelHandle, ServerHandle};
use tonic_channelz::{ChannelzService, Registry};

/// What a test server's Channelz shows: one top channel with calls and one
/// server, both with names unique to the test, kept listed while it lives.
struct Entities {
    channel: ChannelHandle,
    server: ServerHandle,
    target: String,
    server_name: String,
}

/// A test server on `transport` (TLS per `tls`) that also serves Channelz
/// over a fresh registry holding [`Entities`].
async fn channelz_server(
    name: &str,
    transport: Transport,
    tls: impl FnOnce(testkit::servers::TestServerBuilder) -> testkit::servers::TestServerBuilder,
) -> (TestServer, Entities) {
    let registry = Registry::new();
    let target = format!("dns:///{name}.backend.test:443");
    let server_name = format!("{name}-server");
    let channel = registry.register_channel(target.clone());
    // Two calls, one failed, so the counts are distinguishable from zero
    // defaults and from each other.
    let now = 1_700_000_000_000_000_000;
    channel.node().calls.start(now);
    channel.node().calls.finish(true);
    channel.node().calls.start(now + 1);
    channel.node().calls.finish(false);
    let server = registry.register_server(server_name.clone());
    let service = ChannelzService::new(registry).into_server();
    let builder = TestServer::builder().transport(transport).routes(move |r| {
        r.add_service(service);
    });
    let test_server = tls(builder).start().await;
    (
        test_server,
        Entities {
            channel,
            server,
            target,
            server_name,
        },
    )
}

/// Runs `channelz-tui --json ARGS` in-process ([`channelz_tui::run_cli`]),
/// bounded so that a hang fails the test rather than the suite, and
/// returns (exit code, stdout, stderr).
async fn run(args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let argv: Vec<String> = ["channelz-tui", "--json"]
        .into_iter()
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    let run = tokio::time::timeout(
        Duration::from_secs(30),
        testkit::bin::in_process(move |out, err| channelz_tui::run_cli(argv, out, err).code()),
    )
    .await
    .unwrap_or_else(|_| panic!("channelz-tui --json {args:?} did not finish in 30s"));
    (
        Some(i32::from(run.code)),
        run.stdout.into_bytes(),
        run.stderr,
    )
}

/// Runs the CLI, requires exit 0, and parses the one JSON document.
async fn snapshot(args: &[&str]) -> Value {
    let (code, stdout, stderr) = run(args).await;
    assert_eq!(code, Some(0), "channelz-tui {args:?}: {stderr}");
    serde_json::from_slice(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document: {e}"))
}

/// Runs the CLI, requires that its snapshot shows `e` (see
/// [`assert_shows`]).
async fn assert_snapshot_shows(args: &[&str], e: &Entities) {
    assert_shows(&snapshot(args).await, e);
}

/// Runs the CLI, requires exit 2 (it could not connect) with one line
/// on stderr, and returns (stdout, stderr).
async fn connect_failure(args: &[&str]) -> (Vec<u8>, String) {
    let (code, stdout, stderr) = run(args).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    (stdout, stderr)
}

/// The snapshot lists exactly the registered channel (with its target and
/// call counts) and server (with its name), by their Channelz ids.
fn assert_shows(doc: &Value, e: &Entities) {
    let channels = doc["channels"].as_array().expect("channels array");
    assert_eq!(channels.len(), 1, "{doc}");
    let c = &channels[0];
    assert_eq!(c["ref"]["channelId"], e.channel.id().to_string(), "{c}");
    assert_eq!(c["data"]["target"], e.target.as_str(), "{c}");
    assert_eq!(c["data"]["callsStarted"], "2", "{c}");
    assert_eq!(c["data"]["callsSucceeded"], "1", "{c}");
    assert_eq!(c["data"]["callsFailed"], "1", "{c}");
    let servers = doc["servers"].as_array().expect("servers array");
    assert_eq!(servers.len(), 1, "{doc}");
    let s = &servers[0];
    assert_eq!(s["ref"]["serverId"], e.server.id().to_string(), "{s}");
    assert_eq!(s["ref"]["name"], e.server_name.as_str(), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_file() {
    let pki = TestPki::generate();
    let (server, e) = channelz_server("tls", Transport::Tcp, |b| b.tls(&pki)).await;
    assert_snapshot_shows(&pki.tls_args(&[server.addr()]), &e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_with_a_client_certificate() {
    let pki = TestPki::generate();
    let (server, e) = channelz_server("mtls", Transport::Tcp, |b| b.mtls(&pki)).await;
    assert_snapshot_shows(&pki.mtls_args(&["-addr", server.addr()]), &e).await;

    // Without the client certificate the server refuses: exit 2, one line.
    let (_, stderr) = connect_failure(&pki.tls_args(&[server.addr()])).await;
    assert!(stderr.contains("client certificate"), "says why: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_server_name_override() {
    let pki = TestPki::generate();
    let (server, e) = channelz_server("sni", Transport::Tcp, |b| b.tls(&pki)).await;
    // Dial the IP but verify against `localhost` (a SAN of the
    // certificate); then against a name it lacks, which must fail, proving
    // the override is what gets checked.
    let localhost = pki.tls_args(&[server.addr(), "-tls-server-name", "localhost"]);
    assert_snapshot_shows(&localhost, &e).await;
    let not_in_cert = pki.tls_args(&[server.addr(), "-tls-server-name", "not-in-the-cert.test"]);
    let (_, stderr) = connect_failure(&not_in_cert).await;
    assert!(
        stderr.contains("not-in-the-cert.test"),
        "names the name checked: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_no_verify_accepts_an_untrusted_server() {
    let pki = TestPki::generate();
    let (server, e) = channelz_server("noverify", Transport::Tcp, |b| b.tls(&pki)).await;
    assert_snapshot_shows(&[server.addr(), "-tls", "-tls-no-verify"], &e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_ca_is_exit_2_with_one_tls_line() {
    let pki = TestPki::generate();
    let (server, _e) = channelz_server("untrusted", Transport::Tcp, |b| b.tls(&pki)).await;
    let (stdout, stderr) = connect_failure(&pki.untrusted_tls_args(&[server.addr()])).await;
    assert!(stdout.is_empty(), "no snapshot on stdout");
    assert!(
        stderr.contains("certificate is not trusted"),
        "says it is a TLS trust problem: {stderr}"
    );
    assert!(
        stderr.contains(server.addr()),
        "names the address: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_plaintext() {
    let (server, e) = channelz_server("unix", Transport::Unix, |b| b).await;
    assert!(server.addr().starts_with("unix:"), "{}", server.addr());
    assert_snapshot_shows(&[server.addr()], &e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_tls() {
    let pki = TestPki::generate();
    let (server, e) = channelz_server("unixtls", Transport::Unix, |b| b.tls(&pki)).await;
    // A unix path is no host name: the certificate is checked against
    // `localhost` by default, or against the name given.
    assert_snapshot_shows(&pki.tls_args(&[server.addr()]), &e).await;
    let localhost = pki.tls_args(&[server.addr(), "-tls-server-name", "localhost"]);
    assert_snapshot_shows(&localhost, &e).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_headers_reach_every_channelz_call() {
    let (server, e) = channelz_server("headers", Transport::Tcp, |b| b).await;
    let header = "authorization: Bearer s3cret-token";
    assert_snapshot_shows(&[server.addr(), "-rpc-header", header], &e).await;
    let requests = server.requests();
    let channelz: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/grpc.channelz.v1.Channelz/"))
        .collect();
    assert!(!channelz.is_empty(), "Channelz RPCs were made");
    for r in channelz {
        assert_eq!(
            r.header("authorization"),
            Some("Bearer s3cret-token"),
            "{}",
            r.path
        );
    }

    // A server without Channelz: the error names the problem, never the
    // header's value.
    let plain = TestServer::builder().start().await;
    let (code, _, stderr) = run(&[plain.addr(), "-rpc-header", header]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the secret leaked: {stderr}");
    assert!(
        plain
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some("Bearer s3cret-token")),
        "the header was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_peer_over_tls() {
    let pki = TestPki::generate();
    let Some(peer) = start_or_skip(
        PeerKind::Python,
        PeerOptions {
            tls: Some((pki.server_cert(), pki.server_key())),
            ..Default::default()
        },
    )
    .await
    else {
        return;
    };
    let addr = peer.addr();
    // The peer's own TLS channel to itself and its call appear
    // asynchronously after it prints its address: retry for a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let doc = snapshot(&pki.tls_args(&[&addr])).await;
        let servers = doc["servers"].as_array().cloned().unwrap_or_default();
        let channels = doc["channels"].as_array().cloned().unwrap_or_default();
        // C-core lists its listener with the address it was asked for
        // (port 0), so the port shows on the accepted sockets: TLS ones.
        let port = peer.port().map(i64::from);
        let serving = servers.iter().any(|s| {
            s["sockets"].as_array().into_iter().flatten().any(|k| {
                k["local"]["tcpipAddress"]["port"].as_i64() == port
                    && k["security"].get("tls").is_some()
            })
        });
        let called = channels.iter().any(|c| {
            c["data"]["target"]
                .as_str()
                .is_some_and(|t| t.ends_with(&format!(":{}", port.unwrap_or(-1))))
                && c["data"]["callsStarted"]
                    .as_str()
                    .and_then(|n| n.parse::<i64>().ok())
                    .is_some_and(|n| n > 0)
        });
        if serving && called {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a TLS server socket on {addr} and a channel with calls to it: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
