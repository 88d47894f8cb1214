//! The HTTP side: listeners, optional TLS and basic auth from
//! `--web.config.file`, the route prefix, and the limits that keep a slow
//! or hostile client from holding the exporter: headers must arrive within
//! [`Settings::header_read_timeout`], the request head fits in
//! [`MAX_HEAD_BYTES`], and a declared body over [`MAX_BODY_BYTES`] is
//! refused (no endpoint reads one). HTTP/1.1 only: every Prometheus
//! version scrapes with it, and it keeps hyper's HTTP/2 server out of the
//! binary.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::{App, Req, text};
use crate::cli::Settings;
use crate::webconfig::BasicAuth;

/// The most a request line plus headers may take (hyper's floor is 8 KiB).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The largest body a request may declare.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// What the HTTP layer adds around [`App`], from one reading of the web
/// config.
#[derive(Debug, Default)]
pub struct Web {
    /// Basic auth (none when no users are configured).
    pub auth: BasicAuth,
    /// TLS for our listeners.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Extra response headers from the web config.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl Web {
    /// Reads `--web.config.file` (certificates and keys included).
    pub fn load(path: &std::path::Path) -> Result<Web, String> {
        let (web, tls) = crate::webconfig::load(path)?;
        let mut headers = Vec::new();
        for (name, value) in web
            .http_server_config
            .map(|h| h.headers)
            .unwrap_or_default()
        {
            let name = http::HeaderName::try_from(name.as_str())
                .map_err(|_| format!("{}: invalid header name \"{name}\"", path.display()))?;
            let value = http::HeaderValue::try_from(value.as_str())
                .map_err(|_| format!("{}: invalid value for header \"{name}\"", path.display()))?;
            headers.push((name, value));
        }
        Ok(Web {
            auth: BasicAuth::new(web.basic_auth_users),
            tls,
            headers,
        })
    }
}

/// The web config as of now: like exporter-toolkit, which reads its file
/// for every request, a changed web config or certificate is picked up
/// without a restart. Here the files' modification times are compared at
/// each new connection and the file is read again only when one changed;
/// a file that no longer loads keeps the previous settings (and says why
/// in the log), so a half-written edit cannot lock Prometheus out.
#[derive(Debug)]
pub struct WebSource {
    path: Option<std::path::PathBuf>,
    current: std::sync::RwLock<(Vec<Option<std::time::SystemTime>>, Arc<Web>)>,
}

fn stamps(path: &std::path::Path) -> Vec<Option<std::time::SystemTime>> {
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut out = vec![mtime(path)];
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(config) = serde_yaml_ng::from_str::<crate::webconfig::WebConfig>(&text)
        && let Some(tls) = config.tls_server_config
    {
        out.push(mtime(&tls.cert_file));
        out.push(mtime(&tls.key_file));
        out.extend(tls.client_ca_file.as_deref().map(mtime));
    }
    out
}

impl WebSource {
    /// Loads the web config (none: no TLS, no auth); an error at start is fatal.
    pub fn new(path: Option<std::path::PathBuf>) -> Result<WebSource, String> {
        let (stamp, web) = match &path {
            Some(p) => (stamps(p), Web::load(p)?),
            None => (Vec::new(), Web::default()),
        };
        Ok(WebSource {
            path,
            current: std::sync::RwLock::new((stamp, Arc::new(web))),
        })
    }

    /// The settings to use for a new connection.
    pub fn current(&self) -> Arc<Web> {
        let Some(path) = &self.path else {
            return self
                .current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .1
                .clone();
        };
        let now = stamps(path);
        {
            let guard = self.current.read().unwrap_or_else(|p| p.into_inner());
            if guard.0 == now {
                return guard.1.clone();
            }
        }
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        match Web::load(path) {
            Ok(web) => {
                crate::log::log(crate::log::Level::Info, "Reloaded web config", &[]);
                *guard = (now, Arc::new(web));
            }
            Err(reason) => {
                crate::log::log(
                    crate::log::Level::Error,
                    "Error reloading web config, keeping the previous one",
                    &[("err", &reason)],
                );
                // Remember the stamp: the same broken file is not re-read
                // for every connection.
                guard.0 = now;
            }
        }
        guard.1.clone()
    }
}

/// Binds every listen address (port 0 picks a free port).
pub async fn bind(settings: &Settings) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for addr in &settings.listen {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            // `:port` means every interface; without IPv6 that is 0.0.0.0.
            Err(_) if addr.ip().is_unspecified() && addr.is_ipv6() => {
                TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], addr.port()))).await?
            }
            Err(e) => return Err(e),
        };
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves one listener until `stop` turns true.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    source: Arc<WebSource>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, _peer)) = accepted else {
            // EMFILE and friends: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Closed without a `shutdown(SHUT_WR)` first: the FIN is the same,
        // one syscall fewer per request.
        let stream = grpc_toolkit_conn::CloseOnly::new(stream);
        let app = app.clone();
        let web = source.current();
        let acceptor = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        app.settings().header_read_timeout,
                        acceptor.accept(stream),
                    )
                    .await;
                    if let Ok(Ok(tls)) = handshake {
                        serve_connection(TokioIo::new(tls), app, web).await;
                    }
                }
                None => serve_connection(TokioIo::new(stream), app, web).await,
            }
        });
    }
}

async fn serve_connection<I>(io: I, app: Arc<App>, web: Arc<Web>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let timeout = app.settings().header_read_timeout;
    let service = service_fn(move |req: Request<Incoming>| {
        let app = app.clone();
        let web = web.clone();
        async move { Ok::<_, Infallible>(respond(&app, &web, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(io, service)
        .await;
}

async fn respond(app: &App, web: &Arc<Web>, req: Request<Incoming>) -> http::Response<Full<Bytes>> {
    let mut reply = route(app, web, req).await;
    for (name, value) in &web.headers {
        reply.headers_mut().insert(name.clone(), value.clone());
    }
    reply
}

async fn route(app: &App, web: &Arc<Web>, req: Request<Incoming>) -> http::Response<Full<Bytes>> {
    let header = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header(header::AUTHORIZATION);
    let allowed = match web.auth.quick(authorization.as_deref()) {
        Some(verdict) => verdict,
        None => bcrypt_off_thread(web.clone(), authorization).await,
    };
    if !allowed {
        app.metrics.reject("unauthorized");
        let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Basic"),
        );
        return r;
    }
    let declared = header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    if declared > MAX_BODY_BYTES {
        app.metrics.reject("too_large");
        return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    }
    let prefix = app.settings().route_prefix.as_str();
    let path = req.uri().path();
    let path = if prefix == "/" {
        path.to_owned()
    } else {
        match path.strip_prefix(prefix) {
            Some("") => "/".to_owned(),
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => return text(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    };
    let scrape_timeout = req
        .headers()
        .get("x-prometheus-scrape-timeout-seconds")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let r = Req {
        method: req.method().clone(),
        path,
        query: req.uri().query().unwrap_or("").to_owned(),
        scrape_timeout,
        accept: header(header::ACCEPT),
    };
    app.handle(r).await
}

/// A bcrypt comparison (tens of milliseconds of CPU) on the blocking pool:
/// the runtime has one thread, which every probe shares. One at a time, as
/// exporter-toolkit does, so a flood of bad passwords costs one core at
/// most; the requests waiting for their turn hold no thread. The permit
/// goes with the comparison, so a client that hangs up does not let a
/// second one start beside it.
async fn bcrypt_off_thread(web: Arc<Web>, authorization: Option<String>) -> bool {
    static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let Ok(permit) = ONE_AT_A_TIME.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        web.auth.allows(authorization.as_deref())
    })
    .await
    .unwrap_or(false)
}
