//! An instrumented client channel: calls a server's health service a few
//! times, then prints what Channelz sees on both ends: the channel,
//! subchannel and socket this process registered, and (over the same
//! channel) the servers the peer's Channelz lists.
//!
//! ```text
//! cargo run -p tonic-channelz --example server &
//! cargo run -p tonic-channelz --example client -- http://127.0.0.1:50051
//! ```

use std::time::Duration;

use tonic_channelz::pb::channelz_client::ChannelzClient;
use tonic_channelz::pb::health::HealthCheckRequest;
use tonic_channelz::pb::health::health_client::HealthClient;
use tonic_channelz::{InstrumentedChannel, Registry};

/// Calls made before printing, so the counters have something to show.
const CALLS: usize = 3;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_string());
    let endpoint = tonic::transport::Endpoint::from_shared(target.clone())
        .map_err(|e| format!("{target:?} is not a URI: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    let registry = Registry::new();
    let channel = InstrumentedChannel::lazy(&registry, endpoint);

    let mut health = HealthClient::new(channel.clone());
    for _ in 0..CALLS {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await?;
        println!("health: {:?}", status.into_inner().status());
    }

    // This process's Channelz, read from the registry directly (what a
    // ChannelzService over `registry` would answer).
    let node = channel.handle().node();
    let calls = node.calls.snapshot();
    println!(
        "channel {} {:?}: {}, calls started {} succeeded {} failed {}",
        node.id,
        node.target,
        node.state().as_str(),
        calls.started,
        calls.succeeded,
        calls.failed
    );
    for sub in node.subchannels() {
        println!(
            "  subchannel {} {:?}: {}",
            sub.id,
            sub.target,
            sub.state().as_str()
        );
        for socket in sub.sockets() {
            let m = socket.metrics.snapshot();
            println!(
                "    socket {} {:?}: streams started {} succeeded {}, messages sent {} received {}",
                socket.id,
                socket.name,
                m.streams_started,
                m.streams_succeeded,
                m.messages_sent,
                m.messages_received
            );
        }
    }

    // The peer's Channelz, over the same channel. Its names are the
    // server's text: printed with {:?}, so control characters are escaped.
    let servers = ChannelzClient::new(channel)
        .get_servers(tonic_channelz::pb::GetServersRequest {
            start_server_id: 0,
            max_results: 10,
        })
        .await?
        .into_inner();
    for s in servers.server {
        let id = s.r#ref.as_ref().map_or(0, |r| r.server_id);
        let name = s.r#ref.map(|r| r.name).unwrap_or_default();
        let started = s.data.map_or(0, |d| d.calls_started);
        println!("peer server {id} {name:?}: calls started {started}");
    }
    Ok(())
}
