//! The exporter's state (current config, history, own metrics, probe
//! slots, Channelz connections) and its endpoints, one function each:
//! `/probe`, `/channelz`, `/metrics`, `/`, `/-/healthy`, `/-/reload`,
//! `/config`, `/logs`. Transport concerns (TLS, auth, limits) are in
//! [`crate::server`]; this module sees a parsed request and answers it.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use tokio::sync::Semaphore;

use grpc_toolkit_conn::escape::{escape, escape_cut};

use crate::channelz;
use crate::cli::Settings;
use crate::config::{self, Config, Module};
use crate::expose::{self, Families, Family, Format};
use crate::history::{History, ProbeDebug};
use crate::log::{self, Level, ProbeLog, Secrets};
use crate::probe;
use crate::selfmetrics::SelfMetrics;
use crate::timeout;

/// The response type of every endpoint.
pub type Reply = Response<Full<Bytes>>;

/// A request as the endpoints see it.
#[derive(Debug, Clone)]
pub struct Req {
    /// The method.
    pub method: Method,
    /// The path with the route prefix removed.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// `X-Prometheus-Scrape-Timeout-Seconds`.
    pub scrape_timeout: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
}

/// Everything the endpoints share.
#[derive(Debug)]
pub struct App {
    settings: Settings,
    config: RwLock<Arc<Config>>,
    /// Own metrics.
    pub metrics: SelfMetrics,
    history: History,
    slots: Arc<Semaphore>,
    channelz: channelz::Pool,
}

/// Builds a plain-text reply. `nosniff`: a body that repeats a client's
/// or a server's text (a target, a log line) must stay text, never be
/// guessed into HTML by a browser.
pub fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    let body: String = body.into();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

/// A client's text repeated in a plain-text reply (an unknown module's
/// name, a refused target): controls and bidi characters as visible
/// escapes, at most 256 characters.
fn echo(text: &str) -> String {
    escape_cut(text, 256)
}

fn with_type(mut r: Reply, content_type: &'static str) -> Reply {
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// Parses `a=b&c=d` with percent-decoding (`+` is a space); malformed
/// escapes are an error (answered 400).
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| "malformed percent-escape in the query string".to_owned())?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "the query string is not UTF-8".to_owned())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Text for an HTML page: markup characters as entities, and controls
/// and bidi characters as visible escapes (the page is also read with
/// `curl` on a terminal).
fn html_escape(text: &str) -> String {
    escape(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn url_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Holds a probe slot and counts it in flight.
struct Slot<'a> {
    _permit: tokio::sync::OwnedSemaphorePermit,
    app: &'a App,
}

/// A request `/probe` or `/channelz` accepted (see `App::admit`).
struct Admitted<'a> {
    /// The query's parameters (`debug`, ...).
    params: Vec<(String, String)>,
    module_name: String,
    module: Module,
    target: String,
    /// The probe's deadline, from now, in seconds.
    seconds: f64,
    slot: Slot<'a>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.app.metrics.in_flight.dec();
    }
}

impl App {
    /// State for `settings` with `config` loaded.
    pub fn new(settings: Settings, config: Config) -> App {
        let metrics = SelfMetrics::new();
        metrics.reloaded(None);
        App {
            history: History::new(settings.history_limit),
            slots: Arc::new(Semaphore::new(settings.max_concurrent)),
            settings,
            config: RwLock::new(Arc::new(config)),
            metrics,
            channelz: channelz::Pool::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The current config.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads the config file; on error the old config stays and the
    /// reason is logged and reported in `/metrics`.
    pub fn reload(&self) -> Result<(), String> {
        match config::load(&self.settings.config_file) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    log::log(Level::Warn, warning, &[]);
                }
                *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded.config);
                self.metrics.reloaded(None);
                log::log(Level::Info, "Loaded config file", &[]);
                Ok(())
            }
            Err(err) => {
                let reason = err.to_string();
                self.metrics.reloaded(Some(&reason));
                log::log(
                    Level::Error,
                    "Error reloading config, keeping the old one",
                    &[("err", &reason)],
                );
                Err(reason)
            }
        }
    }

    fn slot(&self) -> Option<Slot<'_>> {
        let permit = self.slots.clone().try_acquire_owned().ok()?;
        self.metrics.in_flight.inc();
        Some(Slot {
            _permit: permit,
            app: self,
        })
    }

    /// Answers one request.
    pub async fn handle(&self, req: Req) -> Reply {
        match (req.method.clone(), req.path.as_str()) {
            (Method::GET | Method::HEAD, "/probe") => self.probe(&req).await,
            (Method::GET | Method::HEAD, "/channelz") => self.channelz(&req).await,
            (Method::GET | Method::HEAD, "/metrics") => {
                let format = Format::from_accept(req.accept.as_deref());
                self.metrics
                    .channelz_connections
                    .set(self.channelz.len() as i64);
                with_type(
                    text(StatusCode::OK, self.metrics.encode(format)),
                    format.content_type(),
                )
            }
            (Method::GET | Method::HEAD, "/-/healthy") => text(StatusCode::OK, "Healthy"),
            (Method::POST | Method::PUT, "/-/reload") => match self.reload() {
                Ok(()) => text(StatusCode::OK, "OK"),
                Err(reason) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("failed to reload config: {reason}\n"),
                ),
            },
            (_, "/-/reload") => text(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint requires a POST request.\n",
            ),
            (Method::GET | Method::HEAD, "/config") => {
                text(StatusCode::OK, self.config().masked_yaml())
            }
            (Method::GET | Method::HEAD, "/logs") => self.logs(&req),
            (Method::GET | Method::HEAD, "/") => self.index(),
            _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    }

    fn bad(&self, reason: &str, status: StatusCode, body: String) -> Reply {
        self.metrics.reject(reason);
        text(status, body)
    }

    /// Module lookup shared by `/probe` and `/channelz`.
    fn grpc_module(&self, params: &[(String, String)]) -> Result<(String, Module), Box<Reply>> {
        let name = param(params, "module").unwrap_or("http_2xx").to_owned();
        let config = self.config();
        let Some(module) = config.modules.get(&name) else {
            self.metrics.module_unknown.inc();
            return Err(Box::new(self.bad(
                "unknown_module",
                StatusCode::BAD_REQUEST,
                format!("Unknown module \"{}\"\n", echo(&name)),
            )));
        };
        if module.grpc.is_none() {
            return Err(Box::new(self.bad(
                "unknown_module",
                StatusCode::BAD_REQUEST,
                format!(
                    "module \"{}\" uses prober \"{}\", which grpc-exporter does not run (only grpc modules)\n",
                    echo(&name),
                    echo(&module.prober)
                ),
            )));
        }
        Ok((name, module.clone()))
    }

    fn target_and_deadline(
        &self,
        req: &Req,
        params: &[(String, String)],
        module: &Module,
    ) -> Result<(String, f64), Box<Reply>> {
        let Some(target) = param(params, "target").filter(|t| !t.is_empty()) else {
            return Err(Box::new(self.bad(
                "bad_request",
                StatusCode::BAD_REQUEST,
                "Target parameter is missing\n".to_owned(),
            )));
        };
        // blackbox unescapes the target once more (Prometheus relabeling
        // sometimes leaves it escaped).
        let target = if target.contains('%') {
            decode(target).unwrap_or_else(|_| target.to_owned())
        } else {
            target.to_owned()
        };
        let seconds = timeout::probe_timeout(
            req.scrape_timeout.as_deref(),
            module.timeout,
            self.settings.timeout_offset,
        )
        .map_err(|e| {
            Box::new(self.bad(
                "bad_request",
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("{}\n", echo(&e.to_string())),
            ))
        })?;
        Ok((target, seconds))
    }

    /// What `/probe` and `/channelz` check before any work: the query, the
    /// module (a grpc one), the target (allowed) and the deadline, then a
    /// free slot among `--probe.max-concurrent`; each refusal is the reply.
    fn admit(&self, req: &Req) -> Result<Admitted<'_>, Box<Reply>> {
        let params = parse_query(&req.query).map_err(|e| {
            Box::new(self.bad("bad_request", StatusCode::BAD_REQUEST, format!("{e}\n")))
        })?;
        let (module_name, module) = self.grpc_module(&params)?;
        let (target, seconds) = self.target_and_deadline(req, &params, &module)?;
        let Some(slot) = self.slot() else {
            return Err(Box::new(self.bad(
                "busy",
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "too many concurrent probes (--probe.max-concurrent={})\n",
                    self.settings.max_concurrent
                ),
            )));
        };
        Ok(Admitted {
            params,
            module_name,
            module,
            target,
            seconds,
            slot,
        })
    }

    async fn probe(&self, req: &Req) -> Reply {
        let Admitted {
            params,
            module_name,
            module,
            target,
            seconds,
            slot: _slot,
        } = match self.admit(req) {
            Ok(admitted) => admitted,
            Err(reply) => return *reply,
        };
        let Some(grpc) = module.grpc.as_ref() else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "not a grpc module\n");
        };
        let allow = self.config().allowed_targets.clone();
        let secrets = Secrets::new(grpc.metadata.values().flatten());
        let mut plog = ProbeLog::new(&module_name, &target);
        plog.hide(secrets.clone());
        plog.line(
            Level::Debug,
            "Beginning probe",
            &[("probe", "grpc"), ("timeout_seconds", &seconds.to_string())],
        );
        let started = Instant::now();
        let timeout = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::ZERO);
        let deadline = tokio::time::Instant::now() + timeout;
        // Every step inside is bounded by the deadline; this belt only
        // guarantees it, whatever a future change does inside.
        let belt = deadline + Duration::from_millis(20);
        let outcome = match tokio::time::timeout_at(
            belt,
            probe::run(&target, grpc, deadline, &allow, &mut plog),
        )
        .await
        {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(refused)) => {
                return self.bad(
                    "not_allowed",
                    StatusCode::FORBIDDEN,
                    format!("{}\n", echo(&refused.to_string())),
                );
            }
            Err(_) => {
                plog.line(Level::Error, "Probe ran out of time", &[]);
                let mut families = Families::default();
                families.add(Family::gauge("probe_grpc_failure_info", "Why the probe failed: kind (resolve, connect, rpc, health) and a stable code").sample(&[("kind", "deadline"), ("code", "TIMEOUT")], 1.0));
                probe::Outcome {
                    success: false,
                    families,
                }
            }
        };
        let duration = started.elapsed().as_secs_f64();
        if outcome.success {
            plog.line(
                Level::Debug,
                "Probe succeeded",
                &[("duration_seconds", &duration.to_string())],
            );
        } else {
            plog.line(
                Level::Error,
                "Probe failed",
                &[("duration_seconds", &duration.to_string())],
            );
        }
        let mut families = Families::default();
        families.add(
            Family::gauge(
                "probe_success",
                "Displays whether or not the probe was a success",
            )
            .sample(&[], if outcome.success { 1.0 } else { 0.0 }),
        );
        families.add(
            Family::gauge(
                "probe_duration_seconds",
                "Returns how long the probe took to complete in seconds",
            )
            .sample(&[], duration),
        );
        families.add(
            Family::gauge(
                "probe_timeout_seconds",
                "Returns how long the probe timeout is in seconds",
            )
            .sample(&[], seconds),
        );
        families.0.extend(outcome.families.0);
        families.rewrite_label_values(|value| match secrets.hide(value) {
            Cow::Owned(hidden) => Some(hidden),
            Cow::Borrowed(_) => None,
        });
        let registry = families.into_registry();

        let result = if outcome.success {
            "success"
        } else {
            "failure"
        };
        self.metrics
            .probes
            .get_or_create(&vec![
                ("module".to_owned(), module_name.clone()),
                ("result".to_owned(), result.to_owned()),
            ])
            .inc();
        self.metrics
            .durations
            .get_or_create(&vec![("module".to_owned(), module_name.clone())])
            .observe(duration);

        // The debug page is rendered only when asked for (`debug=true`,
        // `/logs?id=`): rendering the module's YAML and the page for every
        // probe was ~10 % of a probe's CPU (see docs-pending/speed.md).
        let classic = expose::encode(&registry, Format::Classic);
        let format = Format::from_accept(req.accept.as_deref());
        let body = match format {
            Format::Classic => classic.clone(),
            Format::OpenMetrics => expose::encode(&registry, format),
        };
        let debug = ProbeDebug {
            log: plog,
            metrics: classic,
            module,
        };
        if param(&params, "debug") == Some("true") {
            let page = debug.render();
            self.history
                .add(&module_name, &target, outcome.success, debug);
            return text(StatusCode::OK, page);
        }
        self.history
            .add(&module_name, &target, outcome.success, debug);
        with_type(text(StatusCode::OK, body), format.content_type())
    }

    async fn channelz(&self, req: &Req) -> Reply {
        let Admitted {
            params: _,
            module_name,
            module,
            target,
            seconds,
            slot: _slot,
        } = match self.admit(req) {
            Ok(admitted) => admitted,
            Err(reply) => return *reply,
        };
        let Some(grpc) = module.grpc.as_ref() else {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "not a grpc module\n");
        };
        let allow = self.config().allowed_targets.clone();
        let timeout = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::ZERO);
        let deadline = tokio::time::Instant::now() + timeout;
        let scraped = self
            .channelz
            .scrape(&module_name, &target, grpc, deadline, &allow)
            .await;
        match scraped {
            Ok(mut families) => {
                let secrets = Secrets::new(grpc.metadata.values().flatten());
                families.rewrite_label_values(|value| match secrets.hide(value) {
                    Cow::Owned(hidden) => Some(hidden),
                    Cow::Borrowed(_) => None,
                });
                let format = Format::from_accept(req.accept.as_deref());
                with_type(
                    text(
                        StatusCode::OK,
                        expose::encode(&families.into_registry(), format),
                    ),
                    format.content_type(),
                )
            }
            Err(refused) => self.bad(
                "not_allowed",
                StatusCode::FORBIDDEN,
                format!("{}\n", echo(&refused.to_string())),
            ),
        }
    }

    fn logs(&self, req: &Req) -> Reply {
        let params = match parse_query(&req.query) {
            Ok(p) => p,
            Err(e) => return self.bad("bad_request", StatusCode::BAD_REQUEST, format!("{e}\n")),
        };
        let Some(id) = param(&params, "id").and_then(|id| id.parse::<u64>().ok()) else {
            return self.bad(
                "bad_request",
                StatusCode::BAD_REQUEST,
                "Invalid probe id\n".to_owned(),
            );
        };
        match self.history.get(id) {
            Some(debug) => text(StatusCode::OK, debug),
            None => text(StatusCode::NOT_FOUND, "Probe id not found\n"),
        }
    }

    fn index(&self) -> Reply {
        let prefix = if self.settings.route_prefix == "/" {
            ""
        } else {
            self.settings.route_prefix.as_str()
        };
        let mut rows = String::new();
        for e in self.history.list() {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{prefix}/logs?id={}\">Logs</a> <a href=\"{prefix}/probe?module={}&amp;target={}&amp;debug=true\">Debug probe</a></td></tr>\n",
                html_escape(&e.module),
                html_escape(&e.target),
                if e.success { "<span style=\"color:green\">Success</span>" } else { "<strong style=\"color:red\">Failure</strong>" },
                e.id,
                url_encode(&e.module),
                url_encode(&e.target),
            ));
        }
        let body = format!(
            "<!DOCTYPE html>\n<html><head><title>gRPC Exporter</title></head><body>\n<h1>gRPC Exporter</h1>\n\
             <p><a href=\"{prefix}/metrics\">Metrics</a> · <a href=\"{prefix}/config\">Configuration</a> · <a href=\"{prefix}/-/healthy\">Health</a></p>\n\
             <h2>Recent Probes</h2>\n<table border=\"1\" cellpadding=\"3\"><tr><th>Module</th><th>Target</th><th>Result</th><th>Debug</th></tr>\n{rows}</table>\n</body></html>\n"
        );
        with_type(text(StatusCode::OK, body), "text/html; charset=utf-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings() {
        let q = parse_query("target=a%3A1&module=grpc+x&debug").expect("ok");
        assert_eq!(q[0], ("target".to_owned(), "a:1".to_owned()));
        assert_eq!(q[1].1, "grpc x");
        assert_eq!(q[2], ("debug".to_owned(), String::new()));
        assert!(parse_query("target=%zz").is_err());
        assert!(parse_query("target=%4").is_err());
        assert!(parse_query("target=%ff").is_err());
    }
}
