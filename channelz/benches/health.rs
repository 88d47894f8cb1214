//! What the shipped health service costs: one `Check` over loopback TCP
//! against tonic-health's, and one status change with 1,000 watchers (the
//! setter's own time, and the time until every watcher has read it).
//!
//! Run: `cargo bench -p tonic-channelz --features bench --bench health`.

// criterion_group! generates an undocumented pub function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use grpc_toolkit_proto::health::v1::HealthCheckRequest;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Endpoint, Server};
use tonic_channelz::health::{HealthReporter, ServingStatus};

const WATCHERS: usize = 1_000;

fn check_loopback(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (tonic_addr, shipped_addr) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tonic_addr = listener.local_addr().expect("addr");
        let (reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(async move {
            let _reporter = reporter;
            let _ = Server::builder()
                .add_service(health)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let shipped_addr = listener.local_addr().expect("addr");
        let reporter = HealthReporter::new();
        let health = reporter.service().into_server();
        tokio::spawn(async move {
            let _reporter = reporter;
            let _ = Server::builder()
                .add_service(health)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await;
        });
        (tonic_addr, shipped_addr)
    });
    let mut group = c.benchmark_group("check_loopback");
    for (name, addr) in [("tonic_health", tonic_addr), ("shipped", shipped_addr)] {
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

/// 1,000 tasks, each reading its own Watch stream of one service (what the
/// server's streams do), counting the messages they read.
fn status_change(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let reporter = HealthReporter::new();
    reporter.set_service_status("s", ServingStatus::Serving);
    let service = reporter.service();
    let seen = Arc::new(AtomicUsize::new(0));
    let all_seen = Arc::new(Notify::new());
    rt.block_on(async {
        for _ in 0..WATCHERS {
            let mut watch = service.watch_service("s");
            let (seen, all_seen) = (seen.clone(), all_seen.clone());
            tokio::spawn(async move {
                while watch.next().await.is_some() {
                    if seen.fetch_add(1, Ordering::AcqRel) % WATCHERS == WATCHERS - 1 {
                        all_seen.notify_one();
                    }
                }
            });
        }
        // Every watcher's first message (the current status).
        all_seen.notified().await;
    });
    let mut serving = true;
    let mut flip = move || {
        serving = !serving;
        if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    let mut group = c.benchmark_group("status_change_1000_watchers");
    group.bench_function("setter", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let status = flip();
                    let started = Instant::now();
                    reporter.set_service_status("s", status);
                    total += started.elapsed();
                    // Untimed: let every watcher read it, so each change
                    // finds all watchers parked again.
                    all_seen.notified().await;
                }
                total
            })
        })
    });
    group.bench_function("until_all_watchers_read_it", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    reporter.set_service_status("s", flip());
                    all_seen.notified().await;
                }
                started.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = check_loopback, status_change
}
criterion_main!(benches);
