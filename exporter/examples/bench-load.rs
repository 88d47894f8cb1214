//! The load side of `exporter/bench/run.sh`: sends `--count` GETs of
//! `--url` (with `{i}` replaced by a target index) at `--concurrency`, or
//! spread evenly over `--over` seconds, and prints the exporter's CPU
//! seconds (`/proc/PID/stat`) and peak RSS (`VmHWM`) with the p50/p99
//! latency, as one line of `key=value`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn get(url: &str, timeout_header: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").ok_or("http only")?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Prometheus-Scrape-Timeout-Seconds: {timeout_header}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, "--url").expect("--url");
    let count: usize = arg(&args, "--count")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let concurrency: usize = arg(&args, "--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let over: Option<f64> = arg(&args, "--over").and_then(|v| v.parse().ok());
    let pid: u32 = arg(&args, "--pid")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let targets: usize = arg(&args, "--targets")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        if let Some(over) = over {
            let at = started + Duration::from_secs_f64(over * i as f64 / count as f64);
            tokio::time::sleep_until(at.into()).await;
        }
        let permit = slots.clone().acquire_owned().await.expect("semaphore");
        let n = i % targets;
        let url = url.replace("{i}", &format!("127.0.{}.{}", n / 250, n % 250 + 1));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let body = get(&url, "10").await;
            drop(permit);
            let ok = body.map(|b| b.contains("probe_success 1")).unwrap_or(false);
            (t.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    for t in tasks {
        let (d, ok) = t.await.expect("task");
        latencies.push(d);
        failures += usize::from(!ok);
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    println!(
        "probes={count} failures={failures} wall_s={wall:.2} cpu_s={cpu:.2} cpu_ms_per_probe={:.3} p50_ms={:.2} p99_ms={:.2} peak_rss_mb={:.1}",
        cpu * 1000.0 / count as f64,
        pct(0.50),
        pct(0.99),
        peak_rss_mb(pid)
    );
}
