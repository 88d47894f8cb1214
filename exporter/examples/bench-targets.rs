//! Targets for `exporter/bench/run.sh`: a plaintext health server on every
//! interface (so `127.0.x.y` gives the benchmark 1,000 distinct targets on
//! one process), a TLS health server (the test kit's PKI), and a Channelz
//! server with `--channels N` top channels. Prints one line,
//! `HEALTH <port> TLS <addr> CA <file> CHANNELZ <port>`, and runs until
//! stdin closes.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tonic::transport::{Endpoint, Server};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let channels: usize = args
        .iter()
        .position(|a| a == "--channels")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);

    let listener = TcpListener::bind("0.0.0.0:0").await.expect("bind health");
    let health_port = listener.local_addr().expect("addr").port();
    let (reporter, health) = tonic_health::server::health_reporter();
    let incoming = tokio_stream_from(listener);
    tokio::spawn(async move {
        let _reporter = reporter;
        let _ = Server::builder()
            .add_service(health)
            .serve_with_incoming(incoming)
            .await;
    });

    let pki = testkit::tls::TestPki::generate();
    let tls = testkit::servers::TestServer::builder()
        .tls(&pki)
        .start()
        .await;

    let registry = tonic_channelz::Registry::new();
    let admin = registry.register_server("admin");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind channelz");
    let channelz_port = listener.local_addr().expect("addr").port();
    let incoming = admin.incoming(listener).expect("incoming");
    let layer = admin.layer();
    let service = tonic_channelz::ChannelzService::new(registry.clone()).into_server();
    tokio::spawn(async move {
        let _ = Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    // Lazy channels to many targets: registered, never dialed.
    let mut kept = Vec::with_capacity(channels);
    for i in 0..channels {
        let endpoint = Endpoint::from_shared(format!(
            "http://10.{}.{}.{}:50051",
            i / 65_536 % 256,
            i / 256 % 256,
            i % 256
        ))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(1));
        kept.push(tonic_channelz::InstrumentedChannel::lazy(
            &registry, endpoint,
        ));
    }
    println!(
        "HEALTH {health_port} TLS {} CA {} CHANNELZ {channelz_port}",
        tls.addr(),
        pki.ca_cert().display()
    );
    let mut sink = [0u8; 64];
    while let Ok(n) = tokio::io::stdin().read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
    drop(kept);
}

fn tokio_stream_from(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener)
}
