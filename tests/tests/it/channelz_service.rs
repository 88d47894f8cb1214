//! `tonic-channelz` read by real clients: the Python grpcio Channelz stubs
//! (`tests/peers/python/channelz_client.py`), grpc-go's generated stubs
//! (`tests/peers/go/channelzclient`) and grpc-js with stubs from our
//! `channelz.proto` (`tests/peers/node/channelz_client.js`) query every RPC
//! of our service and print what they saw as the same proto3 JSON
//! document; these tests check that it is valid and consistent with the
//! calls and connections the test made, once per reader. TLS (both ends:
//! our accept wrapper and our instrumented channel) and the demo server of
//! `channelz-tui` are checked with the Python reader. The instrumented
//! channel's own TLS is also checked in process against the test kit's TLS
//! and mTLS servers, reading the registry directly.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use grpc_toolkit_proto::channelz::v1 as pb;
use grpc_toolkit_proto::channelz::v1::channelz_client::ChannelzClient;
use grpc_toolkit_proto::health::v1::HealthCheckRequest;
use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use serde_json::Value;
use testkit::peers::PeerKind;
use testkit::servers::TestServer;
use testkit::tls::TestPki;
use tokio::net::TcpListener;
use tonic::transport::{Endpoint, Server};
use tonic_channelz::client::ClientTls;
use tonic_channelz::registry::{ConnectivityState, ServerHandle, SocketNode};
use tonic_channelz::server::{ChannelzIncoming, ServerTls};
use tonic_channelz::{ChannelzService, InstrumentedChannel, Registry};

/// An app server (health, counted by our layer) and an admin server (our
/// Channelz) in one registry, so the reader's own calls never change the
/// app server's counts.
struct Fixture {
    registry: Registry,
    app_addr: SocketAddr,
    admin_addr: SocketAddr,
    app: ServerHandle,
    /// The `:scheme` of every request the app server received.
    app_schemes: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn start_fixture(registry: Registry) -> Fixture {
    start_fixture_with(registry, None).await
}

/// [`start_fixture`], with the app server terminating TLS in our accept
/// wrapper when `app_tls` is given.
async fn start_fixture_with(registry: Registry, app_tls: Option<ServerTls>) -> Fixture {
    let app = registry.register_server("app");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let app_addr = listener.local_addr().expect("app addr");
    let incoming = match app_tls {
        Some(tls) => app.incoming_tls(listener, tls),
        None => app.incoming(listener),
    }
    .expect("app incoming");
    let (_reporter, health) = tonic_health::server::health_reporter();
    let layer = app.layer();
    let app_schemes: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = app_schemes.clone();
    let record_scheme =
        tower::util::MapRequestLayer::new(move |req: http::Request<tonic::body::Body>| {
            let scheme = req.uri().scheme_str().unwrap_or_default().to_owned();
            record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(scheme);
            req
        });
    let app_task = tokio::spawn(async move {
        let _reporter = _reporter;
        Server::builder()
            .layer(layer)
            .layer(record_scheme)
            .add_service(health)
            .serve_with_incoming(incoming)
            .await
            .expect("app server");
    });

    let admin = registry.register_server("admin");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
    let admin_addr = listener.local_addr().expect("admin addr");
    let incoming = admin.incoming(listener).expect("admin incoming");
    let admin_task = serve_channelz(&registry, &admin, incoming);
    Fixture {
        registry,
        app_addr,
        admin_addr,
        app,
        app_schemes,
        tasks: vec![app_task, admin_task],
    }
}

/// Serves our Channelz over `registry` on `incoming`, the connections of
/// `server` (whose layer counts the calls), until the task is aborted.
fn serve_channelz(
    registry: &Registry,
    server: &ServerHandle,
    incoming: ChannelzIncoming,
) -> tokio::task::JoinHandle<()> {
    let layer = server.layer();
    let channelz = ChannelzService::new(registry.clone()).into_server();
    tokio::spawn(async move {
        Server::builder()
            .layer(layer)
            .add_service(channelz)
            .serve_with_incoming(incoming)
            .await
            .expect("channelz server");
    })
}

/// A plaintext endpoint for `addr`.
fn http_endpoint(addr: impl Display) -> Endpoint {
    Endpoint::from_shared(format!("http://{addr}")).expect("endpoint")
}

/// Runs `reader`'s Channelz client against `target`; `None` when that peer
/// kind is missing outside CI (the test kit's skip policy).
async fn read(reader: PeerKind, target: &str, args: &[&str]) -> Option<Value> {
    let mut command = testkit::peers::or_skip(testkit::peers::channelz_reader(reader).await)?;
    let child = command
        .args(args)
        .arg(target)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {reader} channelz reader: {e}"));
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the {reader} channelz reader timed out"))
        .unwrap_or_else(|e| panic!("the {reader} channelz reader did not run: {e}"));
    assert!(
        out.status.success(),
        "{reader} channelz reader failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("the reader prints JSON"))
}

/// proto3 JSON writes int64 as a string and leaves out zero values.
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().expect("an int64 string"),
        Value::Number(n) => n.as_i64().expect("an integer"),
        Value::Null => 0,
        other => panic!("not an integer: {other}"),
    }
}

fn by_name<'a>(items: &'a Value, name: &str) -> &'a Value {
    items
        .as_array()
        .expect("an array")
        .iter()
        .find(|item| item["ref"]["name"] == name)
        .unwrap_or_else(|| panic!("no entity named {name} in {items}"))
}

/// proto3 JSON writes `bytes` as standard base64.
fn bytes(v: &Value) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let text = v.as_str().expect("base64 text");
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {text}"));
        acc = (acc << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// An `Address` message as a socket address.
fn address(v: &Value) -> SocketAddr {
    let tcp = &v["tcpip_address"];
    let ip = bytes(&tcp["ip_address"]);
    let ip: std::net::IpAddr = match ip.len() {
        4 => <[u8; 4]>::try_from(ip.as_slice()).expect("4 bytes").into(),
        16 => <[u8; 16]>::try_from(ip.as_slice())
            .expect("16 bytes")
            .into(),
        n => panic!("ip address of {n} bytes"),
    };
    SocketAddr::new(ip, u16::try_from(int(&tcp["port"])).expect("a port"))
}

/// The subchannel with id `id` among those the reader fetched.
fn subchannel_by_id(seen: &Value, id: i64) -> &Value {
    seen["subchannels"]
        .as_array()
        .expect("subchannels")
        .iter()
        .find(|s| int(&s["ref"]["subchannel_id"]) == id)
        .expect("the subchannel was fetched")
}

/// Asserts a socket's `security.tls` names a standard (IANA) cipher suite
/// and the `local` and `remote` certificates (DER); returns the suite.
fn assert_tls<'a>(tls: &'a Value, local: &[u8], remote: &[u8]) -> &'a str {
    let suite = tls["standard_name"]
        .as_str()
        .unwrap_or_else(|| panic!("a standard cipher name in {tls}"));
    assert!(suite.starts_with("TLS_"), "{suite}");
    assert_eq!(bytes(&tls["local_certificate"]), local, "{tls}");
    assert_eq!(bytes(&tls["remote_certificate"]), remote, "{tls}");
    suite
}

fn page_ids(pages: &Value) -> Vec<i64> {
    pages
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|p| p["ids"].as_array().expect("ids").iter().map(int))
        .collect()
}

async fn check(client: &mut HealthClient<InstrumentedChannel>, service: &str) -> bool {
    client
        .check(HealthCheckRequest {
            service: service.to_string(),
        })
        .await
        .is_ok()
}

/// One test per reader, each named after it, so a failure says which
/// implementation's stubs saw it.
macro_rules! test_each_reader {
    ($body:ident: $($test:ident => $reader:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                $body(PeerKind::$reader).await;
            }
        )+
    };
}

test_each_reader!(counts_match_the_calls_made:
    python_reads_counts_that_match_the_calls_made => Python,
    go_reads_counts_that_match_the_calls_made => Go,
    node_reads_counts_that_match_the_calls_made => Node,
);

async fn counts_match_the_calls_made(reader: PeerKind) {
    let fx = start_fixture(Registry::new()).await;
    let channel = InstrumentedChannel::connect(&fx.registry, http_endpoint(fx.app_addr))
        .await
        .expect("connect");
    let mut client = HealthClient::new(channel);
    let (mut ok, mut failed) = (0, 0);
    for i in 0..10 {
        // tonic-health answers an unknown service with a trailers-only
        // NOT_FOUND, the known one with a message and OK trailers: both
        // ways of ending a call are counted.
        let service = if i % 3 == 2 { "no.such.Service" } else { "" };
        if check(&mut client, service).await {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    assert_eq!((ok, failed), (7, 3));

    let Some(seen) = read(reader, &fx.admin_addr.to_string(), &[]).await else {
        return;
    };

    let app = by_name(&seen["servers"], "app");
    let data = &app["data"];
    assert_eq!(int(&data["calls_started"]), 10, "{app}");
    assert_eq!(int(&data["calls_succeeded"]), 7, "{app}");
    assert_eq!(int(&data["calls_failed"]), 3, "{app}");
    assert!(data["last_call_started_timestamp"].is_string());
    let listen_id = int(&app["listen_socket"][0]["socket_id"]);
    let listen = &seen["sockets"][listen_id.to_string()];
    assert_eq!(address(&listen["local"]), fx.app_addr);
    assert!(listen.get("remote").is_none(), "a listener has no peer");

    let app_id = int(&app["ref"]["server_id"]);
    let app_sockets = page_ids(&seen["server_sockets"][app_id.to_string()]);
    assert_eq!(app_sockets.len(), 1, "only our one connection");
    let server_side = &seen["sockets"][app_sockets[0].to_string()];
    let sd = &server_side["data"];
    assert_eq!(int(&sd["streams_started"]), 10, "{server_side}");
    assert_eq!(
        int(&sd["streams_succeeded"]),
        10,
        "every call ended its stream"
    );
    assert_eq!(int(&sd["streams_failed"]), 0);
    assert_eq!(int(&sd["messages_received"]), 10, "one request each");
    assert_eq!(
        int(&sd["messages_sent"]),
        7,
        "trailers-only answers carry none"
    );
    assert!(sd["last_remote_stream_created_timestamp"].is_string());
    // Fields hyper and h2 do not expose are left out, not faked.
    assert!(sd.get("local_flow_control_window").is_none());
    assert!(sd.get("remote_flow_control_window").is_none());
    assert!(sd.get("keep_alives_sent").is_none());
    let summary = &seen["socket_summaries"][app_sockets[0].to_string()];
    assert!(summary.get("data").is_none(), "summary leaves the data out");
    assert_eq!(summary["ref"], server_side["ref"]);

    let target = format!("http://{}", fx.app_addr);
    let channel = by_name(&seen["channels"], &target);
    let cd = &channel["data"];
    assert_eq!(cd["target"], target.as_str());
    assert_eq!(cd["state"]["state"], "READY");
    assert_eq!(
        (
            int(&cd["calls_started"]),
            int(&cd["calls_succeeded"]),
            int(&cd["calls_failed"])
        ),
        (10, 7, 3)
    );
    let events: Vec<&str> = cd["trace"]["events"]
        .as_array()
        .expect("trace events")
        .iter()
        .filter_map(|e| e["description"].as_str())
        .collect();
    assert!(
        events.iter().any(|e| e.starts_with("resolved 127.0.0.1:")),
        "{events:?}"
    );
    assert!(events.contains(&"state changed to READY"), "{events:?}");
    assert!(int(&cd["trace"]["num_events_logged"]) >= events.len() as i64);

    let sub_refs = channel["subchannel_ref"].as_array().expect("subchannels");
    assert_eq!(sub_refs.len(), 1, "one subchannel per resolved address");
    let sub = subchannel_by_id(&seen, int(&sub_refs[0]["subchannel_id"]));
    assert_eq!(sub["data"]["target"], fx.app_addr.to_string().as_str());
    assert_eq!(sub["data"]["state"]["state"], "READY");
    assert_eq!(int(&sub["data"]["calls_started"]), 10);
    let client_socket_id = int(&sub["socket_ref"][0]["socket_id"]);
    let client_side = &seen["sockets"][client_socket_id.to_string()];
    let cs = &client_side["data"];
    assert_eq!(int(&cs["streams_started"]), 10, "{client_side}");
    assert_eq!(int(&cs["streams_succeeded"]), 10);
    assert_eq!(int(&cs["messages_sent"]), 10);
    assert_eq!(int(&cs["messages_received"]), 7);
    assert!(cs["last_local_stream_created_timestamp"].is_string());

    // The two ends of the one connection agree on its addresses.
    assert_eq!(address(&client_side["remote"]), fx.app_addr);
    assert_eq!(
        address(&client_side["local"]),
        address(&server_side["remote"])
    );
    assert_eq!(address(&server_side["local"]), fx.app_addr);
}

test_each_reader!(server_sockets_follow_connections:
    python_sees_server_sockets_appear_and_disappear_with_connections => Python,
    go_sees_server_sockets_appear_and_disappear_with_connections => Go,
    node_sees_server_sockets_appear_and_disappear_with_connections => Node,
);

async fn server_sockets_follow_connections(reader: PeerKind) {
    let fx = start_fixture(Registry::new()).await;
    let channel = http_endpoint(fx.app_addr).connect().await.expect("connect");
    let mut client = HealthClient::new(channel);
    client
        .check(HealthCheckRequest::default())
        .await
        .expect("health check");

    let Some(seen) = read(reader, &fx.admin_addr.to_string(), &[]).await else {
        return;
    };
    let app_id = fx.app.id();
    let open = page_ids(&seen["server_sockets"][app_id.to_string()]);
    assert_eq!(open.len(), 1, "{}", seen["server_sockets"]);
    assert!(seen["sockets"][open[0].to_string()].is_object());

    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fx.app.node().sockets_page(0, 10).0.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the closed connection is still listed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let gone = open[0].to_string();
    let Some(seen) = read(reader, &fx.admin_addr.to_string(), &["--unknown-id", &gone]).await
    else {
        return;
    };
    assert!(page_ids(&seen["server_sockets"][app_id.to_string()]).is_empty());
    assert_eq!(seen["unknown_id"]["GetSocket"], "NOT_FOUND");
    let app = by_name(&seen["servers"], "app");
    assert_eq!(
        app["listen_socket"].as_array().map(Vec::len),
        Some(1),
        "the listener stays"
    );
}

test_each_reader!(paging_walks_thousands_of_channels:
    python_pages_through_thousands_of_channels_without_gaps_or_repeats => Python,
    go_pages_through_thousands_of_channels_without_gaps_or_repeats => Go,
    node_pages_through_thousands_of_channels_without_gaps_or_repeats => Node,
);

async fn paging_walks_thousands_of_channels(reader: PeerKind) {
    let registry = Registry::new();
    let mut channels: Vec<_> = (0..2_500)
        .map(|i| registry.register_channel(format!("dns:///backend-{i}:443")))
        .collect();
    // Holes in the id space: a page must skip them, not stop at them.
    channels.retain(|c| c.id() % 7 != 3);
    let expected: Vec<i64> = channels.iter().map(|c| c.id()).collect();
    let fx = start_fixture(registry).await;
    let target = fx.admin_addr.to_string();

    for (page_size, expected_page) in [("0", 100usize), ("7", 7), ("5000", 100)] {
        let Some(seen) = read(reader, &target, &["--walk-only", "--page-size", page_size]).await
        else {
            return;
        };
        let pages = seen["top_channel_pages"].as_array().expect("pages");
        assert_eq!(
            page_ids(&seen["top_channel_pages"]),
            expected,
            "page size {page_size}"
        );
        let (last, full) = pages.split_last().expect("at least one page");
        assert_eq!(last["end"], true);
        for page in full {
            assert_eq!(page["end"], false, "end only on the last page");
            assert_eq!(page["ids"].as_array().map(Vec::len), Some(expected_page));
        }
        assert!(last["ids"].as_array().map(Vec::len) <= Some(expected_page));
    }
}

test_each_reader!(unknown_ids_are_not_found:
    python_gets_not_found_for_unknown_ids_and_ids_of_another_kind => Python,
    go_gets_not_found_for_unknown_ids_and_ids_of_another_kind => Go,
    node_gets_not_found_for_unknown_ids_and_ids_of_another_kind => Node,
);

async fn unknown_ids_are_not_found(reader: PeerKind) {
    let registry = Registry::new();
    let channel = registry.register_channel("dns:///x:1");
    let fx = start_fixture(registry).await;
    let target = fx.admin_addr.to_string();

    let Some(seen) = read(
        reader,
        &target,
        &["--walk-only", "--unknown-id", "987654321"],
    )
    .await
    else {
        return;
    };
    for rpc in [
        "GetChannel",
        "GetSubchannel",
        "GetServer",
        "GetServerSockets",
        "GetSocket",
    ] {
        assert_eq!(seen["unknown_id"][rpc], "NOT_FOUND", "{rpc}");
    }

    // A channel id is not a server, subchannel or socket id.
    let id = channel.id().to_string();
    let Some(seen) = read(reader, &target, &["--walk-only", "--unknown-id", &id]).await else {
        return;
    };
    assert_eq!(seen["unknown_id"]["GetChannel"], "OK");
    for rpc in [
        "GetSubchannel",
        "GetServer",
        "GetServerSockets",
        "GetSocket",
    ] {
        assert_eq!(seen["unknown_id"][rpc], "NOT_FOUND", "{rpc}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_terminated_by_the_accept_wrapper_shows_suite_and_certificates() {
    let pki = TestPki::generate();
    let server_der = cert_der(&pki.server_cert());
    let client_der = cert_der(&pki.client_cert());

    let registry = Registry::new();
    let server = registry.register_server("secure");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let incoming = server
        .incoming_tls(
            listener,
            ServerTls::new(pki.mtls_server_config(), server_der.clone()),
        )
        .expect("incoming");
    let task = serve_channelz(&registry, &server, incoming);

    let ca = pki.ca_cert();
    let cert = pki.client_cert();
    let key = pki.client_key();
    let args = [
        "--ca",
        ca.to_str().expect("utf-8 path"),
        "--cert",
        cert.to_str().expect("utf-8 path"),
        "--key",
        key.to_str().expect("utf-8 path"),
    ];
    let Some(seen) = read(
        PeerKind::Python,
        &format!("localhost:{}", addr.port()),
        &args,
    )
    .await
    else {
        task.abort();
        return;
    };
    task.abort();

    let ids = page_ids(&seen["server_sockets"][server.id().to_string()]);
    assert_eq!(ids.len(), 1, "the reader's own connection");
    let socket = &seen["sockets"][ids[0].to_string()];
    assert_tls(&socket["security"]["tls"], &server_der, &client_der);
    assert!(
        seen["socket_summaries"][ids[0].to_string()]
            .get("security")
            .is_none()
    );
}

/// The first certificate of a PEM file, as DER.
fn cert_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).expect("read a PEM file");
    rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .expect("one certificate")
        .expect("a valid certificate")
        .to_vec()
}

/// TLS for an instrumented channel that trusts `ca` and, with `mtls`,
/// presents the PKI's client certificate.
fn client_tls(pki: &TestPki, ca: &Path, mtls: bool) -> ClientTls {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der(ca).into()).expect("the CA parses");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots);
    let config = if mtls {
        let key_pem = std::fs::read(pki.client_key()).expect("read the client key");
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .expect("a readable key file")
            .expect("a private key");
        builder
            .with_client_auth_cert(vec![cert_der(&pki.client_cert()).into()], key)
            .expect("the client key matches its certificate")
    } else {
        builder.with_no_client_auth()
    };
    ClientTls::new(Arc::new(config))
}

/// A new instrumented channel over `tls` to `endpoint` that has made
/// `checks` successful health checks; `round` names the connection.
async fn checked_tls_channel(
    registry: &Registry,
    endpoint: &Endpoint,
    tls: &ClientTls,
    checks: usize,
    round: &str,
) -> InstrumentedChannel {
    let channel = InstrumentedChannel::connect_tls(registry, endpoint.clone(), tls.clone())
        .await
        .unwrap_or_else(|e| panic!("{round}: connect over tls: {e:?}"));
    let mut client = HealthClient::new(channel.clone());
    for _ in 0..checks {
        assert!(check(&mut client, "").await, "{round}: health check");
    }
    channel
}

/// The one open connection of an instrumented channel.
fn open_socket(channel: &InstrumentedChannel) -> Arc<SocketNode> {
    let mut sockets: Vec<_> = channel
        .handle()
        .node()
        .subchannels()
        .iter()
        .flat_map(|sub| sub.sockets())
        .collect();
    assert_eq!(sockets.len(), 1, "one connection: {sockets:?}");
    sockets.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_channel_over_tls_shows_suite_and_server_certificate() {
    let pki = TestPki::generate();
    let server = TestServer::builder().tls(&pki).start().await;
    let server_der = cert_der(&pki.server_cert());
    let tls = client_tls(&pki, &pki.ca_cert(), false);
    // An IP address host: the certificate is checked against its IP SAN.
    let endpoint = http_endpoint(server.addr());
    let registry = Registry::new();
    // The second channel shares the TLS config and so may resume the first
    // one's session, where no certificate crosses the wire: rustls keeps
    // the server's from the session, and the socket must still show it.
    for round in ["first connection", "second connection"] {
        let channel = checked_tls_channel(&registry, &endpoint, &tls, 3, round).await;

        let node = channel.handle().node();
        assert_eq!(node.state(), ConnectivityState::Ready);
        assert_eq!(node.target, format!("https://{}", server.addr()));
        let socket = open_socket(&channel);
        assert_eq!(socket.metrics.snapshot().streams_started, 3);
        let info = socket.tls().expect("the client socket shows its tls");
        let suite = info.standard_name.as_deref().expect("a standard name");
        assert!(
            suite.starts_with("TLS_") && !suite.starts_with("TLS13_"),
            "{round}: an IANA name: {suite}"
        );
        assert_eq!(info.other_name, None);
        assert_eq!(info.remote_certificate, server_der, "{round}");
        assert!(
            info.local_certificate.is_empty(),
            "{round}: no client certificate was asked for"
        );
    }
    let request = server.last_request().expect("the server saw the calls");
    assert_eq!(request.authority.as_deref(), Some(server.addr()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_channel_over_mtls_shows_our_certificate_on_every_connection() {
    let pki = TestPki::generate();
    let server = TestServer::builder().mtls(&pki).start().await;
    let client_der = cert_der(&pki.client_cert());
    let server_der = cert_der(&pki.server_cert());
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a dns name");
    let tls = client_tls(&pki, &pki.ca_cert(), true).server_name(name);
    let endpoint = http_endpoint(server.addr());
    let registry = Registry::new();
    // The second channel reconnects with the same TLS config: a resumed
    // session would send no certificate, and the socket must still show
    // the one that authenticated us.
    for round in ["first connection", "second connection"] {
        let channel = checked_tls_channel(&registry, &endpoint, &tls, 1, round).await;
        let socket = open_socket(&channel);
        let info = socket.tls().expect("the client socket shows its tls");
        assert!(info.standard_name.is_some(), "{round}: {info:?}");
        assert_eq!(info.local_certificate, client_der, "{round}: ours");
        assert_eq!(info.remote_certificate, server_der, "{round}: the server's");
    }
    assert_eq!(server.accepted(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_channel_to_an_untrusted_server_fails_naming_the_certificate_error() {
    let pki = TestPki::generate();
    let server = TestServer::builder().tls(&pki).start().await;
    let registry = Registry::new();
    let endpoint = http_endpoint(server.addr());
    // The foreign CA signed nothing the server presents.
    let tls = client_tls(&pki, &pki.foreign_ca_cert(), false);
    let channel = InstrumentedChannel::lazy_tls(&registry, endpoint, tls);
    let mut client = HealthClient::new(channel.clone());
    client
        .check(HealthCheckRequest::default())
        .await
        .expect_err("an untrusted server fails the call");

    let node = channel.handle().node();
    assert_eq!(node.state(), ConnectivityState::TransientFailure);
    let subs = node.subchannels();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].state(), ConnectivityState::TransientFailure);
    assert!(
        subs[0].sockets().is_empty(),
        "no socket without a handshake"
    );
    let cause = "invalid peer certificate: UnknownIssuer";
    let (events, _) = subs[0].trace.snapshot();
    let want = format!("tls handshake with {} failed: {cause}", server.addr());
    assert!(
        events.iter().any(|e| e.description == want),
        "{want} in {events:?}"
    );
    let (events, _) = node.trace.snapshot();
    let failure = events
        .iter()
        .find(|e| e.description.starts_with("no address of "))
        .unwrap_or_else(|| panic!("a channel failure event in {events:?}"));
    assert!(
        failure.description.contains(&want) && !failure.description.contains('\n'),
        "{failure:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.description == "state changed to TRANSIENT_FAILURE"),
        "{events:?}"
    );
    assert_eq!(server.accepted(), 0, "the server finished no handshake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_reads_the_security_of_both_ends_of_an_instrumented_mtls_channel() {
    let pki = TestPki::generate();
    let server_der = cert_der(&pki.server_cert());
    let client_der = cert_der(&pki.client_cert());
    let app_tls = ServerTls::new(pki.mtls_server_config(), server_der.clone());
    let fx = start_fixture_with(Registry::new(), Some(app_tls)).await;
    let endpoint = http_endpoint(fx.app_addr);
    let tls = client_tls(&pki, &pki.ca_cert(), true);
    // Kept open while the reader looks at both of its ends.
    let _channel = checked_tls_channel(&fx.registry, &endpoint, &tls, 3, "mtls").await;
    let schemes = fx
        .app_schemes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(schemes, ["https"; 3], "tonic sends the origin's scheme");

    let Some(seen) = read(PeerKind::Python, &fx.admin_addr.to_string(), &[]).await else {
        return;
    };
    let target = format!("https://{}", fx.app_addr);
    let channel = by_name(&seen["channels"], &target);
    assert_eq!(channel["data"]["state"]["state"], "READY", "{channel}");
    let sub = subchannel_by_id(&seen, int(&channel["subchannel_ref"][0]["subchannel_id"]));
    let client_id = int(&sub["socket_ref"][0]["socket_id"]);
    let client_side = &seen["sockets"][client_id.to_string()]["security"]["tls"];
    let app_sockets = page_ids(&seen["server_sockets"][fx.app.id().to_string()]);
    assert_eq!(app_sockets.len(), 1, "only our one connection");
    let server_side = &seen["sockets"][app_sockets[0].to_string()]["security"]["tls"];

    let suite = assert_tls(client_side, &client_der, &server_der);
    let server_suite = assert_tls(server_side, &server_der, &client_der);
    assert_eq!(server_suite, suite, "both ends agree");
    assert!(
        seen["socket_summaries"][client_id.to_string()]
            .get("security")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_server_is_healthy_and_shows_its_channels_and_servers() {
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("start the demo");
    let channel = http_endpoint(demo.local_addr())
        .connect()
        .await
        .expect("connect to the demo");
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("health check")
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);

    // Traffic starts at once; wait (bounded) until both channels have had
    // a connected subchannel, the steady one has seen a failure and the
    // flapping one a TRANSIENT_FAILURE.
    let mut channelz = ChannelzClient::new(channel);
    let deadline = Instant::now() + Duration::from_secs(20);
    let channels = loop {
        let channels = channelz
            .get_top_channels(pb::GetTopChannelsRequest::default())
            .await
            .expect("GetTopChannels")
            .into_inner()
            .channel;
        let mut connected = 0;
        for c in &channels {
            for sref in &c.subchannel_ref {
                let sub = channelz
                    .get_subchannel(pb::GetSubchannelRequest {
                        subchannel_id: sref.subchannel_id,
                    })
                    .await
                    .map(|r| r.into_inner().subchannel);
                if let Ok(Some(sub)) = sub {
                    let ever_ready = sub.data.and_then(|d| d.trace).is_some_and(|t| {
                        t.events
                            .iter()
                            .any(|e| e.description == "state changed to READY")
                    });
                    if ever_ready {
                        connected += 1;
                    }
                }
            }
        }
        let failed = channels
            .iter()
            .any(|c| c.data.as_ref().is_some_and(|d| d.calls_failed > 0));
        // The flapping backend goes down after a few seconds; its channel
        // must say so.
        let flapped = channels.iter().any(|c| {
            c.data
                .as_ref()
                .and_then(|d| d.trace.as_ref())
                .is_some_and(|t| {
                    t.events
                        .iter()
                        .any(|e| e.description == "state changed to TRANSIENT_FAILURE")
                })
        });
        if channels.len() >= 2 && connected >= 2 && failed && flapped {
            break channels;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not show two connected channels, failures and a flap: {channels:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The traffic's channels have subchannels; the xDS one (the channel
    // the demo's CSDS status is of) makes no calls and has none.
    fn target(c: &pb::Channel) -> &str {
        c.data.as_ref().map_or("", |d| d.target.as_str())
    }
    let (xds, traffic): (Vec<_>, Vec<_>) = channels
        .iter()
        .partition(|c| target(c) == channelz_tui::demo::xds::TARGET);
    assert_eq!(xds.len(), 1, "{channels:?}");
    assert!(xds[0].subchannel_ref.is_empty());
    assert_eq!(traffic.len(), 2, "{channels:?}");
    assert!(traffic.iter().all(|c| !c.subchannel_ref.is_empty()));

    let servers = channelz
        .get_servers(pb::GetServersRequest::default())
        .await
        .expect("GetServers")
        .into_inner();
    assert!(servers.end);
    let names: Vec<&str> = servers
        .server
        .iter()
        .filter_map(|s| s.r#ref.as_ref().map(|r| r.name.as_str()))
        .collect();
    assert!(names.contains(&"demo"), "{names:?}");
    let main = servers
        .server
        .iter()
        .find(|s| s.r#ref.as_ref().is_some_and(|r| r.name == "demo"))
        .expect("the demo server");
    assert_eq!(main.listen_socket.len(), 1);
    let main_id = main.r#ref.as_ref().map(|r| r.server_id).expect("ref");
    let sockets = channelz
        .get_server_sockets(pb::GetServerSocketsRequest {
            server_id: main_id,
            ..Default::default()
        })
        .await
        .expect("GetServerSockets")
        .into_inner();
    assert!(
        sockets.socket_ref.len() >= 2,
        "its own traffic channel and this test's connection: {sockets:?}"
    );

    // grpc-probe (its whole CLI, in-process on its own thread since it
    // builds its own runtime) finds the demo SERVING: exit code 0.
    let addr = demo.local_addr().to_string();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let status =
            grpc_probe::run_cli(["grpc-probe", "-addr", addr.as_str()], &mut out, &mut err);
        (status.code(), String::from_utf8_lossy(&err).into_owned())
    })
    .await
    .expect("the probe thread panicked");
    assert_eq!(code, 0, "grpc-probe against the demo: {stderr}");

    // The Python stubs read the demo as well.
    if let Some(seen) = read(PeerKind::Python, &demo.local_addr().to_string(), &[]).await {
        assert!(seen["channels"].as_array().is_some_and(|c| c.len() >= 2));
        assert!(seen["servers"].as_array().is_some_and(|s| s.len() >= 2));
    }
    demo.shutdown().await;
}
