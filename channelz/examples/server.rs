//! A tonic server with the admin surface: Channelz and the health service
//! mounted next to the application's services, on one port, with the
//! Channelz layer counting every call and the accept wrapper listing every
//! connection.
//!
//! ```text
//! cargo run -p tonic-channelz --example server -- 127.0.0.1:50051
//! grpc-probe -addr 127.0.0.1:50051            # health: SERVING
//! channelz-tui 127.0.0.1:50051                # the server, its sockets, its calls
//! ```
//!
//! The address defaults to 127.0.0.1:50051; port 0 picks a free one. The
//! first line on stdout is `listening on <addr>` (the example test reads it).

use std::io::Write;

use tonic_channelz::Registry;
use tonic_channelz::admin::Admin;
use tonic_channelz::health::HealthReporter;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_string());
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an address (host:port): {e}"))?;

    let registry = Registry::global();
    // The server as Channelz lists it: its calls, listen socket and
    // connections are filled by the layer and the accept wrapper below.
    let server = registry.register_server("example");
    let health = HealthReporter::new();
    // The whole server is serving (service name ""): a real application
    // would also set each of its services, and NOT_SERVING while draining.
    health.set_service_status("", tonic_channelz::health::ServingStatus::Serving);
    let admin = Admin::new(registry, &health);

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;

    tonic::transport::Server::builder()
        .layer(server.layer())
        .add_routes(admin.routes())
        // Your own services go here too: `.add_service(...)`.
        .serve_with_incoming(server.incoming(listener)?)
        .await?;
    Ok(())
}
