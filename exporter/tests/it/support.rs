//! Helpers shared by the topics: an in-process exporter on a free port, a
//! tiny HTTP/1.1 client (enough for our endpoints, blackbox_exporter's and
//! Prometheus's API), an exposition parser, and the external programs
//! (promtool, prometheus, blackbox_exporter) started on loopback ports in
//! temp dirs and killed on drop. A missing program fails the test when
//! `CI=true` and skips it otherwise, as the test kit does for peers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grpc_exporter::Running;
use grpc_exporter::cli::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An exporter running in this process with `config` (YAML text).
pub struct Exporter {
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl Exporter {
    pub fn addr(&self) -> SocketAddr {
        self.running.addrs[0]
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yml")
    }
}

pub fn settings(config: &Path) -> Settings {
    Settings {
        config_file: config.to_owned(),
        config_check: false,
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        web_config_file: None,
        route_prefix: "/".to_owned(),
        timeout_offset: 0.5,
        log_level: grpc_exporter::log::Level::Error,
        log_format: grpc_exporter::log::Format::Logfmt,
        history_limit: 100,
        max_concurrent: 64,
        header_read_timeout: Duration::from_secs(2),
    }
}

pub async fn exporter(config: &str) -> Exporter {
    exporter_with(config, |_| {}).await
}

pub async fn exporter_with(config: &str, adjust: impl FnOnce(&mut Settings)) -> Exporter {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.yml");
    std::fs::write(&path, config).expect("write config");
    let mut s = settings(&path);
    adjust(&mut s);
    let running = grpc_exporter::start(s).await.expect("exporter starts");
    Exporter { running, dir }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends raw bytes and reads the whole answer (the server closes).
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut buf)).await;
    parse_reply(&buf)
}

pub fn parse_reply(buf: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(buf).to_string();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Reply {
            status: 0,
            headers: Vec::new(),
            body: text,
        };
    };
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// GET `path` with extra headers.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    raw(addr, req.as_bytes()).await
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    get_with(addr, path, &[]).await
}

pub async fn post(addr: SocketAddr, path: &str) -> Reply {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    raw(addr, req.as_bytes()).await
}

/// `/probe?target=…&module=…` with a scrape timeout header.
pub async fn probe(addr: SocketAddr, module: &str, target: &str, scrape_timeout: &str) -> Reply {
    let path = format!("/probe?module={}&target={}", enc(module), enc(target));
    get_with(
        addr,
        &path,
        &[("X-Prometheus-Scrape-Timeout-Seconds", scrape_timeout)],
    )
    .await
}

pub fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A classic exposition as `name{k="v",…}` (labels sorted) → value.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = match line.rfind('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            None => match line.split_once(' ') {
                Some((n, v)) => (n, v.trim()),
                None => continue,
            },
        };
        let value = value.split_whitespace().next().unwrap_or("");
        let value: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or(f64::NAN),
        };
        out.insert(canonical(series), value);
    }
    out
}

/// Sorts the labels of `name{…}`.
pub fn canonical(series: &str) -> String {
    let Some(open) = series.find('{') else {
        return series.to_owned();
    };
    let name = &series[..open];
    let inner = &series[open + 1..series.len() - 1];
    let mut labels = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim_start_matches(',').trim();
        let after = &rest[eq + 2..];
        let mut end = 0;
        let bytes = after.as_bytes();
        while end < bytes.len() {
            if bytes[end] == b'\\' {
                end += 2;
                continue;
            }
            if bytes[end] == b'"' {
                break;
            }
            end += 1;
        }
        labels.push(format!("{key}=\"{}\"", &after[..end.min(after.len())]));
        rest = after.get(end + 1..).unwrap_or("");
    }
    labels.sort();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// The value of one series (labels in any order).
pub fn value(text: &str, series: &str) -> Option<f64> {
    samples(text).get(&canonical(series)).copied()
}

/// An external program, or `None` (skip) outside CI. A missing one is
/// installed first, once per test binary, by `tests/peers/setup.sh
/// monitoring` (Debian's packages, as root), as the gRPC peers are.
pub fn program(name: &str) -> Option<PathBuf> {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    let find = || {
        [
            PathBuf::from("/usr/bin").join(name),
            PathBuf::from("/usr/local/bin").join(name),
        ]
        .into_iter()
        .find(|p| p.exists())
    };
    if let Some(found) = find() {
        return Some(found);
    }
    INSTALLED.call_once(|| {
        let script = crate::support::crate_dir().join("../tests/peers/setup.sh");
        let _ = std::process::Command::new("bash")
            .arg(script)
            .arg("monitoring")
            .stdin(std::process::Stdio::null())
            .status();
    });
    if let Some(found) = find() {
        return Some(found);
    }
    if testkit::peers::in_ci() {
        panic!(
            "{name} is missing: .ci/run installs it (Debian packages prometheus, prometheus-blackbox-exporter)"
        );
    }
    eprintln!("skipping: {name} is not installed");
    None
}

/// A free loopback port.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A child process killed on drop, with its temp dir.
pub struct Daemon {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_healthy(addr: SocketAddr, path: &str, child: &mut std::process::Child, what: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr)).await
        {
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            if s.write_all(req.as_bytes()).await.is_ok() {
                let mut buf = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf)).await;
                if parse_reply(&buf).status == 200 {
                    return;
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start: {status}");
        }
        assert!(Instant::now() < until, "{what} did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// blackbox_exporter 0.23 with `config` on a loopback port.
pub async fn blackbox(config: &str) -> Option<Daemon> {
    let bin = program("prometheus-blackbox-exporter")?;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(&path, config).expect("write");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", path.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("blackbox_exporter runs");
    wait_healthy(addr, "/-/healthy", &mut child, "blackbox_exporter").await;
    Some(Daemon {
        addr,
        _dir: dir,
        child,
    })
}

/// Prometheus with `config` (prometheus.yml text) on a loopback port.
pub async fn prometheus(config: &str) -> Option<Daemon> {
    let bin = program("prometheus")?;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("prometheus.yml");
    std::fs::write(&path, config).expect("write");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut child = std::process::Command::new(bin)
        .arg(format!("--config.file={}", path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus runs");
    wait_healthy(addr, "/-/ready", &mut child, "prometheus").await;
    Some(Daemon {
        addr,
        _dir: dir,
        child,
    })
}

/// Runs promtool with `args`; `None` when it is missing outside CI.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> Option<std::process::Output> {
    let bin = program("promtool")?;
    let mut child = std::process::Command::new(bin)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    Some(child.wait_with_output().expect("promtool finishes"))
}

/// `promtool check metrics` passes on `text`.
pub fn assert_promtool_metrics(text: &str) {
    if let Some(out) = promtool(&["check", "metrics"], Some(text)) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Lint findings (e.g. naming advice) exit 3; parse errors exit 1.
        assert!(
            out.status.success(),
            "promtool check metrics failed:\n{stdout}{stderr}\non:\n{text}"
        );
    }
}

/// The workspace's `exporter/` directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
