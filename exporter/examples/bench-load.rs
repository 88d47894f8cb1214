//! The load side of `exporter/bench/run.sh`: sends `--count` GETs of
//! `--url` (with `{i}` replaced by a target index) at `--concurrency`, or
//! spread evenly over `--over` seconds, and prints the exporter's CPU
//! seconds (`/proc/PID/stat`) and peak RSS (`VmHWM`) with the p50/p99
//! latency, as one line of `key=value`.
//!
//! Each of the `--concurrency` workers holds one persistent HTTP/1.1
//! connection, as Prometheus's scrape client does (keep-alive on, idle
//! connections kept for minutes: one connection carries every scrape of a
//! job's targets). `--close` opens a new connection per request instead
//! (`Connection: close`), the worst case of a scraper without keep-alive;
//! it adds an accept and a close per probe to the exporter's CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

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

/// `http://host:port/path` split into host and path.
fn split_url(url: &str) -> Result<(&str, String), String> {
    let rest = url.strip_prefix("http://").ok_or("http only")?;
    Ok(rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into())))
}

/// One worker's connection: kept across requests unless `close`, and
/// opened again when the server ends it.
struct Conn {
    stream: Option<BufReader<TcpStream>>,
    close: bool,
}

impl Conn {
    async fn get(&mut self, url: &str) -> Result<String, String> {
        let (host, path) = split_url(url)?;
        // A kept connection the server has closed since shows up as an
        // error or EOF on first use: retry once on a new one.
        for attempt in 0..2 {
            let reused = self.stream.is_some();
            match self.try_get(host, &path).await {
                Ok(body) => return Ok(body),
                Err(e) => {
                    self.stream = None;
                    if !reused || attempt == 1 {
                        return Err(e);
                    }
                }
            }
        }
        unreachable!("two attempts return")
    }

    async fn try_get(&mut self, host: &str, path: &str) -> Result<String, String> {
        let e = |e: std::io::Error| e.to_string();
        if self.stream.is_none() {
            let s = TcpStream::connect(host).await.map_err(e)?;
            s.set_nodelay(true).map_err(e)?;
            self.stream = Some(BufReader::new(s));
        }
        let s = self.stream.as_mut().expect("connected above");
        let connection = if self.close { "close" } else { "keep-alive" };
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: {connection}\r\n\r\n"
        );
        s.get_mut().write_all(req.as_bytes()).await.map_err(e)?;
        let (length, chunked, server_closes) = read_head(s).await?;
        let body = if chunked {
            read_chunked(s).await?
        } else if let Some(n) = length {
            let mut b = vec![0; n];
            s.read_exact(&mut b).await.map_err(e)?;
            b
        } else {
            let mut b = Vec::new();
            s.read_to_end(&mut b).await.map_err(e)?;
            self.stream = None;
            b
        };
        if self.close || server_closes {
            self.stream = None;
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// The status line and headers: content length, chunked, and whether the
/// server closes the connection after this response.
async fn read_head(s: &mut BufReader<TcpStream>) -> Result<(Option<usize>, bool, bool), String> {
    let mut line = String::new();
    let (mut length, mut chunked, mut closes) = (None, false, false);
    let mut first = true;
    loop {
        line.clear();
        if s.read_line(&mut line).await.map_err(|e| e.to_string())? == 0 {
            return Err("connection closed before the response".into());
        }
        let l = line.trim_end().to_ascii_lowercase();
        if first {
            first = false;
            continue;
        }
        if l.is_empty() {
            return Ok((length, chunked, closes));
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        } else if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        } else if l.starts_with("connection:") && l.contains("close") {
            closes = true;
        }
    }
}

async fn read_chunked(s: &mut BufReader<TcpStream>) -> Result<Vec<u8>, String> {
    let e = |e: std::io::Error| e.to_string();
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        s.read_line(&mut line).await.map_err(e)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| format!("bad chunk size {line:?}"))?;
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                line.clear();
                s.read_line(&mut line).await.map_err(e)?;
                if line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let at = body.len();
        body.resize(at + size + 2, 0);
        s.read_exact(&mut body[at..]).await.map_err(e)?;
        body.truncate(at + size);
    }
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
        .unwrap_or(8)
        .max(1);
    let over: Option<f64> = arg(&args, "--over").and_then(|v| v.parse().ok());
    let pid: u32 = arg(&args, "--pid")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let targets: usize = arg(&args, "--targets")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let close = args.iter().any(|a| a == "--close");
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(url);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, url) = (next.clone(), url.clone());
            tokio::spawn(async move {
                let mut conn = Conn {
                    stream: None,
                    close,
                };
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return out;
                    }
                    if let Some(over) = over {
                        let at = started + Duration::from_secs_f64(over * i as f64 / count as f64);
                        tokio::time::sleep_until(at.into()).await;
                    }
                    let n = i % targets;
                    let url = url.replace("{i}", &format!("127.0.{}.{}", n / 250, n % 250 + 1));
                    let t = Instant::now();
                    let ok = conn
                        .get(&url)
                        .await
                        .map(|b| b.contains("probe_success 1"))
                        .unwrap_or(false);
                    out.push((t.elapsed(), ok));
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count);
    let mut failures = 0;
    for w in workers {
        for (d, ok) in w.await.expect("worker") {
            latencies.push(d);
            failures += usize::from(!ok);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    println!(
        "probes={count} failures={failures} wall_s={wall:.2} cpu_s={cpu:.2} cpu_ms_per_probe={:.3} p50_ms={:.2} p99_ms={:.2} peak_rss_mb={:.1} connections={}",
        cpu * 1000.0 / count as f64,
        pct(0.50),
        pct(0.99),
        peak_rss_mb(pid),
        if close { "per-request" } else { "kept" }
    );
}
