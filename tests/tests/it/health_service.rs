//! The shipped health service (`tonic_channelz::health`) and the admin
//! module (`tonic_channelz::admin`), end to end: the real Python, Node and
//! Go health clients against it (Check, Watch of a service that appears
//! later, List, the drain on shutdown), the spec's edge cases over the
//! network (List over the limit, many watchers, a watcher that never reads,
//! removal while watched, Resume after shutdown), and `grpc-probe` against
//! it and against the demo.

use std::time::{Duration, Instant};

use grpc_toolkit_proto::channelz::v1 as channelz_pb;
use grpc_toolkit_proto::channelz::v1::channelz_client::ChannelzClient;
use grpc_toolkit_proto::health::v1::health_client::HealthClient as GrpcHealthClient;
use grpc_toolkit_proto::health::v1::{HealthCheckRequest, HealthListRequest};
use testkit::peers::{HealthClient, PeerKind, or_skip};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic_channelz::Registry;
use tonic_channelz::admin::{self, Admin};
use tonic_channelz::health::{HealthReporter, ServingStatus};

/// How long a stream may take to show an expected message.
const WAIT: Duration = Duration::from_secs(10);

/// The admin services served on a listener of their own, the way an
/// operator keeps them off the public port.
struct AdminServer {
    addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), admin::Error>>,
}

impl AdminServer {
    async fn start(health: &HealthReporter) -> AdminServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let admin = Admin::new(&Registry::new(), health);
        let task = tokio::spawn(admin.serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        AdminServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Stops the server and requires it to finish: open Watch streams must
    /// not hold the graceful shutdown.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let ended = tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("the admin server stops despite open watches");
        ended.expect("no panic").expect("served without error");
    }

    async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .connect()
            .await
            .expect("connect to the admin server")
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// The next message of a Watch stream (panics on end, error or timeout).
async fn next(
    stream: &mut tonic::Streaming<grpc_toolkit_proto::health::v1::HealthCheckResponse>,
) -> ServingStatus {
    tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("a message in time")
        .expect("no error")
        .expect("the stream stays open")
        .status()
}

// ------------------------------------------------------ real health clients

async fn real_client_checks_watches_lists_and_sees_the_drain(kind: PeerKind) {
    let health = HealthReporter::with_list_limit(4);
    health.set_service_status("app.Orders", ServingStatus::NotServing);
    let server = AdminServer::start(&health).await;
    let Some(mut client) = or_skip(HealthClient::start(kind, &server.addr).await) else {
        return;
    };
    let ok = |r: Result<String, testkit::peers::PeerError>| r.expect("the client answers");

    assert_eq!(ok(client.check("").await), "SERVING", "{kind}");
    assert_eq!(
        ok(client.check("app.Orders").await),
        "NOT_SERVING",
        "{kind}"
    );
    assert_eq!(ok(client.check("nope").await), "error NOT_FOUND", "{kind}");
    assert_eq!(
        ok(client.list().await),
        r#"ok 2 ""=SERVING app.Orders=NOT_SERVING"#,
        "{kind}"
    );

    // A service that appears later: SERVICE_UNKNOWN, the call kept open,
    // then the change; removal while watched is SERVICE_UNKNOWN again.
    client.watch("later").await.expect("watch");
    assert_eq!(ok(client.next_watch("later").await), "SERVICE_UNKNOWN");
    health.set_service_status("later", ServingStatus::Serving);
    assert_eq!(ok(client.next_watch("later").await), "SERVING", "{kind}");
    client.watch("").await.expect("watch");
    assert_eq!(ok(client.next_watch("").await), "SERVING", "{kind}");
    health.clear_service_status("later");
    assert_eq!(ok(client.next_watch("later").await), "SERVICE_UNKNOWN");

    // Over the limit (4 here): RESOURCE_EXHAUSTED, not a partial list.
    for name in ["b", "c", "d"] {
        health.set_service_status(name, ServingStatus::Serving);
    }
    assert_eq!(
        ok(client.list().await),
        "error RESOURCE_EXHAUSTED",
        "{kind}"
    );
    health.clear_service_status("d");
    assert_eq!(
        ok(client.list().await),
        r#"ok 4 ""=SERVING app.Orders=NOT_SERVING b=SERVING c=SERVING"#,
        "{kind}"
    );

    // The drain: everything NOT_SERVING, later changes ignored, watchers
    // told at once; Resume brings it back.
    health.shutdown();
    assert_eq!(ok(client.next_watch("").await), "NOT_SERVING", "{kind}");
    health.set_service_status("", ServingStatus::Serving);
    assert_eq!(ok(client.check("").await), "NOT_SERVING", "{kind}");
    assert_eq!(ok(client.check("b").await), "NOT_SERVING", "{kind}");
    health.resume();
    assert_eq!(ok(client.next_watch("").await), "SERVING", "{kind}");
    assert_eq!(ok(client.check("b").await), "SERVING", "{kind}");

    // Stopping the admin server: watchers see NOT_SERVING, then their
    // streams end cleanly, and the server finishes.
    server.stop().await;
    assert_eq!(ok(client.next_watch("").await), "NOT_SERVING", "{kind}");
    assert_eq!(ok(client.next_watch("").await), "end OK", "{kind}");
    assert_eq!(ok(client.next_watch("later").await), "end OK", "{kind}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_health_client_against_the_shipped_service() {
    real_client_checks_watches_lists_and_sees_the_drain(PeerKind::Python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_health_client_against_the_shipped_service() {
    real_client_checks_watches_lists_and_sees_the_drain(PeerKind::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_health_client_against_the_shipped_service() {
    real_client_checks_watches_lists_and_sees_the_drain(PeerKind::Go).await;
}

// ------------------------------------------------ the spec's edge cases

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_answers_100_services_and_refuses_101() {
    let health = HealthReporter::new();
    for i in 1..100 {
        health.set_service_status(&format!("svc.{i:03}"), ServingStatus::Serving);
    }
    let server = AdminServer::start(&health).await;
    let mut client = GrpcHealthClient::new(server.channel().await);
    let list = client
        .list(HealthListRequest {})
        .await
        .expect("100 services is the limit")
        .into_inner();
    assert_eq!(list.statuses.len(), 100);

    health.set_service_status("svc.100", ServingStatus::Serving);
    let err = client
        .list(HealthListRequest {})
        .await
        .expect_err("101 > 100");
    assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_watchers_on_one_service_all_see_each_change() {
    let health = HealthReporter::new();
    health.set_service_status("busy", ServingStatus::Serving);
    let server = AdminServer::start(&health).await;
    let channel = server.channel().await;
    let mut streams = Vec::new();
    for _ in 0..100 {
        let mut client = GrpcHealthClient::new(channel.clone());
        let mut stream = client
            .watch(request("busy"))
            .await
            .expect("watch")
            .into_inner();
        assert_eq!(next(&mut stream).await, ServingStatus::Serving);
        streams.push(stream);
    }
    assert_eq!(health.watchers("busy"), 100);
    health.set_service_status("busy", ServingStatus::NotServing);
    for stream in &mut streams {
        assert_eq!(next(stream).await, ServingStatus::NotServing);
    }
    drop(streams);
    let deadline = Instant::now() + WAIT;
    while health.watchers("busy") > 0 {
        assert!(Instant::now() < deadline, "watchers not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_never_reads_never_blocks_the_setter() {
    let health = HealthReporter::new();
    let server = AdminServer::start(&health).await;
    let mut client = GrpcHealthClient::new(server.channel().await);
    let mut idle = client
        .watch(request("flappy"))
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(next(&mut idle).await, ServingStatus::ServiceUnknown);

    // Far more changes than any HTTP/2 window holds: the setter must not
    // wait for the reader.
    let started = Instant::now();
    for i in 0..100_000 {
        let status = if i % 2 == 0 {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        health.set_service_status("flappy", status);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "100,000 changes took {:?}",
        started.elapsed()
    );

    // The reader then gets to the latest status, and nothing after it.
    let mut read = 0;
    loop {
        read += 1;
        if next(&mut idle).await == ServingStatus::NotServing {
            let more = tokio::time::timeout(Duration::from_millis(300), idle.message()).await;
            if more.is_err() {
                break;
            }
        }
        assert!(read <= 100_000, "more messages than changes");
    }
    // A later reader sees only the latest.
    let mut late = client
        .watch(request("flappy"))
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(next(&mut late).await, ServingStatus::NotServing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_while_watched_streams_service_unknown_and_keeps_the_call() {
    let health = HealthReporter::new();
    health.set_service_status("gone", ServingStatus::Serving);
    let server = AdminServer::start(&health).await;
    let mut client = GrpcHealthClient::new(server.channel().await);
    let mut stream = client
        .watch(request("gone"))
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);
    health.clear_service_status("gone");
    assert_eq!(next(&mut stream).await, ServingStatus::ServiceUnknown);
    let err = client.check(request("gone")).await.expect_err("removed");
    assert_eq!(err.code(), tonic::Code::NotFound);
    health.set_service_status("gone", ServingStatus::NotServing);
    assert_eq!(next(&mut stream).await, ServingStatus::NotServing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_shutdown_accepts_changes_again() {
    let health = HealthReporter::new();
    health.set_service_status("app", ServingStatus::Serving);
    let server = AdminServer::start(&health).await;
    let mut client = GrpcHealthClient::new(server.channel().await);
    let status = async |client: &mut GrpcHealthClient<Channel>, name: &str| {
        client
            .check(request(name))
            .await
            .expect("check")
            .into_inner()
            .status()
    };
    health.shutdown();
    assert_eq!(status(&mut client, "app").await, ServingStatus::NotServing);
    health.set_service_status("app", ServingStatus::Serving);
    assert_eq!(status(&mut client, "app").await, ServingStatus::NotServing);
    health.resume();
    assert_eq!(status(&mut client, "app").await, ServingStatus::Serving);
    assert_eq!(status(&mut client, "").await, ServingStatus::Serving);
    health.set_service_status("app", ServingStatus::NotServing);
    assert_eq!(status(&mut client, "app").await, ServingStatus::NotServing);
}

// ----------------------------------------------------------------- admin

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_services_mount_on_a_public_router() {
    let registry = Registry::new();
    let health = HealthReporter::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let public = registry.register_server("public");
    let incoming = public.incoming(listener).expect("incoming");
    let router = tonic::transport::Server::builder()
        .layer(public.layer())
        .add_routes(tonic::service::Routes::default());
    let router = admin::add_admin_services(router, &registry, &health);
    let task = tokio::spawn(router.serve_with_incoming(incoming));

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let status = GrpcHealthClient::new(channel.clone())
        .check(request(""))
        .await
        .expect("health check")
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);
    let servers = ChannelzClient::new(channel)
        .get_servers(channelz_pb::GetServersRequest::default())
        .await
        .expect("GetServers")
        .into_inner()
        .server;
    assert_eq!(servers.len(), 1, "{servers:?}");
    assert_eq!(
        servers[0].data.as_ref().map(|d| d.calls_succeeded),
        Some(1),
        "the health check counted"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_listener_appears_in_channelz_and_stops_with_watches_open() {
    let health = HealthReporter::new();
    let server = AdminServer::start(&health).await;
    let channel = server.channel().await;
    let mut stream = GrpcHealthClient::new(channel.clone())
        .watch(request(""))
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(next(&mut stream).await, ServingStatus::Serving);
    let servers = ChannelzClient::new(channel)
        .get_servers(channelz_pb::GetServersRequest::default())
        .await
        .expect("GetServers")
        .into_inner()
        .server;
    let names: Vec<_> = servers
        .iter()
        .filter_map(|s| s.r#ref.as_ref().map(|r| r.name.clone()))
        .collect();
    assert_eq!(names, ["admin"]);

    server.stop().await;
    assert_eq!(next(&mut stream).await, ServingStatus::NotServing);
    let end = tokio::time::timeout(WAIT, stream.message())
        .await
        .expect("the stream ends in time");
    assert!(matches!(end, Ok(None)), "ended cleanly: {end:?}");
    assert!(health.is_shut_down());
}

// ------------------------------------------------------------ grpc-probe

async fn probe(args: &[&str]) -> testkit::bin::CliRun {
    let argv: Vec<String> = std::iter::once("grpc-probe")
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    testkit::bin::in_process(move |out, err| grpc_probe::run_cli(argv, out, err).code()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_probe_lists_the_shipped_services() {
    let health = HealthReporter::new();
    health.set_service_status("app.v1.Orders", ServingStatus::Serving);
    health.set_service_status("app.v1.Payments", ServingStatus::NotServing);
    let server = AdminServer::start(&health).await;
    let run = probe(&["-addr", &server.addr, "--list"]).await;
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "\"\": status: SERVING",
            "app.v1.Orders: status: SERVING",
            "app.v1.Payments: service unhealthy (responded with \"NOT_SERVING\")",
        ]
    );
    health.set_service_status("app.v1.Payments", ServingStatus::Serving);
    assert_eq!(probe(&["-addr", &server.addr, "--list"]).await.code, 0);

    for i in 0..100 {
        health.set_service_status(&format!("bulk.{i}"), ServingStatus::Serving);
    }
    let run = probe(&["-addr", &server.addr, "--list"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("RESOURCE_EXHAUSTED"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_probe_watch_follows_a_service_that_appears_later() {
    let health = HealthReporter::new();
    let server = AdminServer::start(&health).await;
    let flip = health.clone();
    tokio::spawn(async move {
        // Once the probe watches (its first message, SERVICE_UNKNOWN, is
        // on its way), the service appears.
        while flip.watchers("later") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        flip.set_service_status("later", ServingStatus::Serving);
    });
    let run = probe(&[
        "-addr",
        &server.addr,
        "-service=later",
        "--watch",
        "--timeout=1500ms",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "service unhealthy (responded with \"SERVICE_UNKNOWN\")",
            "status: SERVING"
        ],
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_probe_lists_the_demo_services() {
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("start the demo");
    let addr = demo.local_addr().to_string();
    let run = probe(&["-addr", &addr, "--list"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            "\"\": status: SERVING",
            "grpc.channelz.v1.Channelz: status: SERVING",
            "grpc.health.v1.Health: status: SERVING",
        ]
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_health_panel_shows_the_demo_list() {
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("start the demo");
    let args = grpc_toolkit_conn::ConnArgs {
        addr: Some(demo.local_addr().to_string()),
        ..grpc_toolkit_conn::ConnArgs::default()
    };
    let options = args.to_options("health-test/1.0").expect("valid flags");
    let conn = grpc_toolkit_conn::connect(&options)
        .await
        .expect("connect to the demo");
    let report = channelz_tui::poll::Api::new(conn, Duration::from_secs(5))
        .health()
        .await;
    let serving = ServingStatus::Serving as i32;
    assert_eq!(report.overall, Ok(serving));
    let services: Vec<(String, i32)> = report
        .services
        .expect("List is offered")
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect();
    assert_eq!(
        services,
        [
            (String::new(), serving),
            ("grpc.channelz.v1.Channelz".to_owned(), serving),
            ("grpc.health.v1.Health".to_owned(), serving),
        ]
    );
    demo.shutdown().await;
}
