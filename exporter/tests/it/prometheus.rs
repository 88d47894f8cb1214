//! A real Prometheus 2.42 scrapes the exporter with the README's scrape
//! config (relabeling `__param_target` and friends, only the addresses
//! changed) and its HTTP API then returns `probe_success`, the
//! healthcheck series and Channelz counters with the right values.

use std::time::Duration;

use serde_json::Value;
use testkit::servers::{HealthKind, TestServer};

use crate::support::{self, crate_dir, exporter};

const CONFIG: &str = "modules:\n  grpc:\n    prober: grpc\n    grpc: {}\n";

async fn query(prom: std::net::SocketAddr, expr: &str) -> Vec<Value> {
    let r = support::get(prom, &format!("/api/v1/query?query={}", support::enc(expr))).await;
    let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn scalar(result: &[Value]) -> Option<f64> {
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[tokio::test]
async fn prometheus_scrapes_with_the_readme_config() {
    let ex = exporter(CONFIG).await;
    let server = TestServer::start_with_health(HealthKind::SpecDefault).await;
    // Channelz: tonic-channelz serving its own registry, with one call made.
    let registry = tonic_channelz::Registry::new();
    let admin = registry.register_server("admin");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let admin_addr = listener.local_addr().expect("addr");
    let incoming = admin.incoming(listener).expect("incoming");
    let layer = admin.layer();
    let service = tonic_channelz::ChannelzService::new(registry.clone()).into_server();
    let task = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .layer(layer)
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr()))
        .expect("endpoint");
    let channel = tonic_channelz::InstrumentedChannel::connect(&registry, endpoint)
        .await
        .expect("connect");
    let mut client =
        grpc_toolkit_proto::health::v1::health_client::HealthClient::new(channel.clone());
    for _ in 0..4 {
        client
            .check(grpc_toolkit_proto::health::v1::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("check");
    }

    let config = std::fs::read_to_string(crate_dir().join("deploy/prometheus.yml"))
        .expect("config")
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("scrape_timeout: 10s", "scrape_timeout: 1s")
        .replace("10.0.0.5:50051", server.addr())
        .replace("10.0.0.5:50052", &admin_addr.to_string())
        .replace("127.0.0.1:9913", &ex.addr().to_string())
        .replace("rule_files:\n  - grpc.rules.yml\n  - xds.rules.yml\n", "");
    let Some(prom) = support::prometheus(&config).await else {
        return;
    };
    let instance = server.addr();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let success = scalar(
            &query(
                prom.addr,
                &format!("probe_success{{instance=\"{instance}\"}}"),
            )
            .await,
        );
        let serving = scalar(&query(prom.addr, &format!("probe_grpc_healthcheck_response{{instance=\"{instance}\",serving_status=\"SERVING\"}}")).await);
        let calls = scalar(
            &query(
                prom.addr,
                &format!(
                    "sum(grpc_channelz_channel_calls_started_total{{instance=\"{admin_addr}\"}})"
                ),
            )
            .await,
        );
        let own = scalar(&query(prom.addr, "grpc_exporter_config_last_reload_successful").await);
        if success == Some(1.0) && serving == Some(1.0) && calls == Some(4.0) && own == Some(1.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "prometheus saw probe_success={success:?} serving={serving:?} calls={calls:?} reload={own:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    task.abort();
}
