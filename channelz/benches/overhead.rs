//! What Channelz costs: the server layer per unary call (isolated, and in a
//! real call over loopback TCP), and the registry operations.
//!
//! Run: `cargo bench -p tonic-channelz --features bench --bench overhead`.

// criterion_group! generates an undocumented pub function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use grpc_toolkit_proto::channelz::v1 as pb;
use grpc_toolkit_proto::channelz::v1::channelz_server::Channelz;
use grpc_toolkit_proto::health::v1::HealthCheckRequest;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::transport::{Endpoint, Server};
use tonic_channelz::registry::{SocketKind, SocketSpec};
use tonic_channelz::server::ChannelzConnectInfo;
use tonic_channelz::{ChannelzService, Registry};
use tower::{Layer, ServiceExt};

/// A unary handler's answer: one message, then OK trailers.
fn response() -> Response<Body> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = vec![
        Ok::<_, Infallible>(http_body::Frame::data(bytes::Bytes::from_static(&[
            0, 0, 0, 0, 2, 8, 1,
        ]))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    Response::new(Body::new(http_body_util::StreamBody::new(
        tokio_stream::iter(frames),
    )))
}

fn request(info: Option<&ChannelzConnectInfo>) -> Request<Body> {
    let mut req = Request::new(Body::new(http_body_util::Full::new(
        bytes::Bytes::from_static(&[0, 0, 0, 0, 0]),
    )));
    if let Some(info) = info {
        req.extensions_mut().insert(info.clone());
    }
    req
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let handler = tower::service_fn(|req: Request<Body>| async move {
        // Read the request as a real handler would.
        let _ = req.into_body().collect().await;
        Ok::<_, Infallible>(response())
    });
    let registry = Registry::new();
    let server = registry.register_server("bench");
    let socket = registry.register_server_socket(
        &server,
        SocketSpec {
            kind: SocketKind::Server,
            local: None,
            remote: None,
            remote_name: String::new(),
        },
    );
    let info = ChannelzConnectInfo::new(socket);
    let layered = server.layer().layer(handler);

    let mut group = c.benchmark_group("server_layer_isolated");
    group.bench_function("without", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = handler.oneshot(request(None)).await.expect("infallible");
            resp.into_body().collect().await.expect("infallible");
        })
    });
    group.bench_function("with_layer_and_socket", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = layered
                .clone()
                .oneshot(request(Some(&info)))
                .await
                .expect("infallible");
            resp.into_body().collect().await.expect("infallible");
        })
    });
    group.finish();
}

fn loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = Registry::new();
    let (plain_addr, counted_addr) = rt.block_on(async {
        let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let plain_addr = plain.local_addr().expect("addr");
        let (_r1, health) = tonic_health::server::health_reporter();
        tokio::spawn(async move {
            let _r1 = _r1;
            let _ = Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(plain))
                .await;
        });
        let server = registry.register_server("bench");
        let counted = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let counted_addr = counted.local_addr().expect("addr");
        let incoming = server.incoming(counted).expect("incoming");
        let (_r2, health) = tonic_health::server::health_reporter();
        tokio::spawn(async move {
            let _r2 = _r2;
            let _ = Server::builder()
                .layer(server.layer())
                .add_service(health)
                .serve_with_incoming(incoming)
                .await;
        });
        (plain_addr, counted_addr)
    });
    let mut group = c.benchmark_group("unary_call_loopback");
    for (name, addr) in [("without", plain_addr), ("with_channelz", counted_addr)] {
        let channel = rt.block_on(async {
            Endpoint::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect()
                .await
                .expect("connect")
        });
        let client = HealthClient::new(channel);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let mut client = client.clone();
                async move {
                    client
                        .check(HealthCheckRequest::default())
                        .await
                        .expect("check");
                }
            })
        });
    }
    group.finish();
}

fn registry_ops(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let registry = Registry::new();
    let _many: Vec<_> = (0..2_500)
        .map(|i| registry.register_channel(format!("dns:///backend-{i}:443")))
        .collect();
    let mut group = c.benchmark_group("registry");
    group.bench_function("register_and_drop_channel", |b| {
        b.iter(|| drop(registry.register_channel("dns:///x:443")))
    });
    let service = ChannelzService::new(registry.clone());
    group.bench_function("get_top_channels_page_of_100_of_2500", |b| {
        b.to_async(&rt).iter(|| async {
            service
                .get_top_channels(tonic::Request::new(pb::GetTopChannelsRequest {
                    start_channel_id: 1_000,
                    max_results: 100,
                }))
                .await
                .expect("page")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = layer, loopback, registry_ops
}
criterion_main!(benches);
