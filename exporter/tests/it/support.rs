//! Helpers shared by the topics: an in-process exporter on a free port, a
//! tiny HTTP/1.1 client (enough for our endpoints, blackbox_exporter's and
//! Prometheus's API), an exposition parser, and the external programs
//! (promtool, prometheus, blackbox_exporter) started on loopback ports in
//! temp dirs and killed on drop. A missing program fails the test when
//! `CI=true` and skips it otherwise, as the test kit does for peers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpc_exporter::Running;
use grpc_exporter::cli::Settings;
use testkit::tls::TestPki;
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

/// The certificate a TLS client presents when the server asks for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCert {
    /// None at all.
    Nothing,
    /// [`TestPki::client_cert`], from the CA the server is given.
    FromTheCa,
    /// [`TestPki::foreign_client_cert`], from a CA the server does not know.
    Foreign,
    /// [`TestPki::client_cert`] signed for with the foreign certificate's
    /// key: the client does not hold the certificate's key.
    NotItsKey,
}

/// What [`tls_get`] saw.
#[derive(Debug)]
pub struct TlsReply {
    /// The answer, or where the exchange failed.
    pub reply: Result<Reply, String>,
    /// The CA names the server hinted when it asked for a client
    /// certificate (DER); `None` when it did not ask.
    pub asked: Option<Vec<Vec<u8>>>,
}

/// Presents a fixed certificate (or none) whatever the server hints, as
/// rustls's own resolver does, and records that it was asked and the hints.
#[derive(Debug)]
struct Presenting {
    key: Option<Arc<rustls::sign::CertifiedKey>>,
    asked: Mutex<Option<Vec<Vec<u8>>>>,
}

impl rustls::client::ResolvesClientCert for Presenting {
    fn resolve(
        &self,
        hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let hints = hints.iter().map(|h| h.to_vec()).collect();
        *self.asked.lock().expect("lock") = Some(hints);
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

fn pem_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    let file = std::fs::File::open(path).expect("open a PEM file");
    rustls_pemfile::certs(&mut std::io::BufReader::new(file))
        .collect::<Result<_, _>>()
        .expect("PEM certificates")
}

/// The subjects of `ca` as a server hints them (DER).
pub fn ca_subjects(ca: &Path) -> Vec<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certs(ca) {
        roots.add(cert).expect("a CA certificate");
    }
    roots
        .subjects()
        .iter()
        .map(|s| s.as_ref().to_vec())
        .collect()
}

/// `GET path` over TLS to `localhost`, trusting `pki`'s CA and presenting
/// `cert` if asked. A refused client certificate may fail the handshake or
/// only the read (with TLS 1.3 the client's handshake ends before the
/// server has checked it); both are an `Err` naming the step.
pub async fn tls_get(addr: SocketAddr, path: &str, pki: &TestPki, cert: ClientCert) -> TlsReply {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = match cert {
        ClientCert::Nothing => None,
        ClientCert::FromTheCa => Some((pki.client_cert(), pki.client_key())),
        ClientCert::Foreign => Some((pki.foreign_client_cert(), pki.foreign_client_key())),
        ClientCert::NotItsKey => Some((pki.client_cert(), pki.foreign_client_key())),
    };
    let key = key.map(|(cert, key)| {
        let file = std::fs::File::open(key).expect("open the client key");
        let der = rustls_pemfile::private_key(&mut std::io::BufReader::new(file))
            .expect("PEM key")
            .expect("a private key");
        let signer = provider
            .key_provider
            .load_private_key(der)
            .expect("a usable key");
        Arc::new(rustls::sign::CertifiedKey::new(pem_certs(&cert), signer))
    });
    let presenting = Arc::new(Presenting {
        key,
        asked: Mutex::new(None),
    });
    let mut roots = rustls::RootCertStore::empty();
    for ca in pem_certs(&pki.ca_cert()) {
        roots.add(ca).expect("the test CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_cert_resolver(presenting.clone());
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::new();
        let read = tls.read_to_end(&mut buf).await;
        match (parse_reply(&buf), read) {
            (reply, _) if reply.status != 0 => Ok(reply),
            (_, Err(e)) => Err(format!("no answer: {e}")),
            (_, Ok(_)) => Err("no answer".to_owned()),
        }
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_else(|_| Err("no answer in 10 s".to_owned()));
    let asked = presenting.asked.lock().expect("lock").take();
    TlsReply { reply, asked }
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

/// One `/channelz` scrape of `target` with `module`, as Prometheus asks
/// with a 10 s scrape timeout: the body of a 200 answer.
pub async fn scrape_channelz(ex: SocketAddr, module: &str, target: &str) -> String {
    let r = get_with(
        ex,
        &format!("/channelz?module={module}&target={}", enc(target)),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// `text` percent-encoded for a query string.
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
    testkit::peers::record_skip(&format!("{name} is not installed"));
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
    let (dir, addr, mut child) = start_blackbox(&bin, config, None);
    wait_healthy(addr, "/-/healthy", &mut child, "blackbox_exporter").await;
    Some(Daemon {
        addr,
        _dir: dir,
        child,
    })
}

/// blackbox_exporter 0.23 with `config` and `--web.config.file` holding
/// `web` (a `tls_server_config` with `pki`'s server certificate), ready
/// once a client presenting [`TestPki::client_cert`] gets `/-/healthy`,
/// which every `client_auth_type` serves when the client CA is `pki`'s.
pub async fn blackbox_tls(config: &str, web: &str, pki: &TestPki) -> Option<Daemon> {
    let bin = program("prometheus-blackbox-exporter")?;
    let (dir, addr, mut child) = start_blackbox(&bin, config, Some(web));
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let got = tls_get(addr, "/-/healthy", pki, ClientCert::FromTheCa).await;
        if got.reply.is_ok_and(|r| r.status == 200) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("blackbox_exporter exited at start: {status}");
        }
        assert!(
            Instant::now() < until,
            "blackbox_exporter did not become healthy over TLS"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Daemon {
        addr,
        _dir: dir,
        child,
    })
}

/// Starts blackbox_exporter with `config` and, if given, `web` as its
/// `--web.config.file`, both written into a new temp dir.
fn start_blackbox(
    bin: &Path,
    config: &str,
    web: Option<&str>,
) -> (tempfile::TempDir, SocketAddr, std::process::Child) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("blackbox.yml");
    std::fs::write(&path, config).expect("write");
    let mut command = std::process::Command::new(bin);
    if let Some(web) = web {
        let web_path = dir.path().join("web.yml");
        std::fs::write(&web_path, web).expect("write");
        command.arg(format!("--web.config.file={}", web_path.display()));
    }
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = command
        .arg(format!("--config.file={}", path.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("blackbox_exporter runs");
    (dir, addr, child)
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
