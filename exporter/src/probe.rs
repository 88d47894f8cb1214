//! The `grpc` prober: blackbox_exporter's series with its names, labels and
//! values, then our own in new series only.
//!
//! The order of work is blackbox's: resolve the host by its rule
//! (`preferred_ip_protocol`, `ip_protocol_fallback`), then, from "check
//! start", connect and Check, so `probe_grpc_duration_seconds{phase="check"}`
//! spans the same interval. Unlike blackbox_exporter (which calls Check
//! without the probe's context and so overruns the scrape on a silent
//! server) every step here is bounded by the one deadline: resolution by
//! `timeout_at`, connecting by the connect timeout set to the time left,
//! each RPC by `call` with the time left. A failure before the connection
//! is READY is gRPC's `UNAVAILABLE` (14), as grpc-go reports it to
//! blackbox; a deadline after it is `DEADLINE_EXCEEDED` (4).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use grpc_toolkit_conn::{
    self as conn, ConnectError, ConnectOptions, Connection, Header, RpcError, Target, TlsOptions,
    code_name,
};
use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use grpc_toolkit_proto::health::v1::{HealthCheckRequest, HealthListRequest};

use crate::allow::AllowList;
use crate::certs;
use crate::config::{GrpcModule, IpProtocol};
use crate::expose::{Families, Family};
use crate::log::{Level, ProbeLog};

/// The `user-agent` prefix when the module sets none.
pub const DEFAULT_USER_AGENT: &str = concat!("grpc-exporter/", env!("CARGO_PKG_VERSION"));

/// The four serving statuses, in the names blackbox's label values use.
const SERVING_STATUSES: [(&str, ServingStatus); 4] = [
    ("UNKNOWN", ServingStatus::Unknown),
    ("SERVING", ServingStatus::Serving),
    ("NOT_SERVING", ServingStatus::NotServing),
    ("SERVICE_UNKNOWN", ServingStatus::ServiceUnknown),
];

/// A probe refused before any packet was sent.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The target is outside the allow-list.
    #[error("target \"{0}\" is not in the allowed targets")]
    NotAllowed(String),
}

/// What a probe found.
#[derive(Debug)]
pub struct Outcome {
    /// `probe_success`.
    pub success: bool,
    /// The prober's series (the handler adds `probe_success` and the
    /// duration).
    pub families: Families,
}

/// The answer for one service.
#[derive(Debug, Clone)]
struct Answer {
    service: String,
    /// `Ok(status)` or the gRPC code of the failure.
    result: Result<ServingStatus, tonic::Code>,
}

/// The probe's values, filled in as it goes, written at the end.
struct Values {
    resolve: Option<f64>,
    connect: Option<f64>,
    tls: Option<f64>,
    check: Option<f64>,
    dns_lookup: Option<f64>,
    ip_protocol: Option<f64>,
    ip_hash: Option<f64>,
    ssl: bool,
    status_code: f64,
    /// `Some` once a Check (or List) was attempted.
    health: Option<Option<ServingStatus>>,
    tls_info: Option<conn::TlsHandshake>,
    failure: Option<(&'static str, String)>,
    per_service: Vec<Answer>,
    write_per_service: bool,
}

impl Values {
    fn new(per_service: bool) -> Values {
        Values {
            resolve: None,
            connect: None,
            tls: None,
            check: None,
            dns_lookup: None,
            ip_protocol: None,
            ip_hash: None,
            ssl: false,
            status_code: 0.0,
            health: None,
            tls_info: None,
            failure: None,
            per_service: Vec::new(),
            write_per_service: per_service,
        }
    }

    fn fail(&mut self, kind: &'static str, code: impl Into<String>) {
        // The first reason is the one a rule should see.
        if self.failure.is_none() {
            self.failure = Some((kind, code.into()));
        }
    }

    fn families(self) -> Families {
        let mut f = Families::default();
        let mut phases = Family::gauge(
            "probe_grpc_duration_seconds",
            "Duration of gRPC request by phase",
        );
        // blackbox creates `resolve` up front, so it is there (0) even when
        // resolution fails.
        phases.push(&[("phase", "resolve")], self.resolve.unwrap_or(0.0));
        for (phase, value) in [
            ("connect", self.connect),
            ("tls", self.tls),
            ("check", self.check),
        ] {
            if let Some(v) = value {
                phases.push(&[("phase", phase)], v);
            }
        }
        f.add(phases);
        if let Some(v) = self.dns_lookup {
            f.add(
                Family::gauge(
                    "probe_dns_lookup_time_seconds",
                    "Returns the time taken for probe dns lookup in seconds",
                )
                .sample(&[], v),
            );
        }
        if let Some(v) = self.ip_protocol {
            f.add(
                Family::gauge(
                    "probe_ip_protocol",
                    "Specifies whether probe ip protocol is IP4 or IP6",
                )
                .sample(&[], v),
            );
        }
        if let Some(v) = self.ip_hash {
            f.add(Family::gauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.").sample(&[], v));
        }
        f.add(
            Family::gauge(
                "probe_grpc_ssl",
                "Indicates if SSL was used for the connection",
            )
            .sample(&[], if self.ssl { 1.0 } else { 0.0 }),
        );
        f.add(
            Family::gauge("probe_grpc_status_code", "Response gRPC status code")
                .sample(&[], self.status_code),
        );
        let mut health = Family::gauge(
            "probe_grpc_healthcheck_response",
            "Response HealthCheck response",
        );
        if let Some(answer) = self.health {
            for (name, status) in SERVING_STATUSES {
                health.push(
                    &[("serving_status", name)],
                    if answer == Some(status) { 1.0 } else { 0.0 },
                );
            }
        }
        f.add(health);
        if let Some(tls) = &self.tls_info {
            if let Some(expiry) = certs::earliest_expiry(&tls.peer_certificates) {
                f.add(
                    Family::gauge(
                        "probe_ssl_earliest_cert_expiry",
                        "Returns last SSL chain expiry in unixtime",
                    )
                    .sample(&[], expiry as f64),
                );
            }
            f.add(
                Family::gauge(
                    "probe_tls_version_info",
                    "Returns the TLS version used or NaN when unknown",
                )
                .sample(&[("version", tls.version)], 1.0),
            );
            if let Some(leaf) = certs::leaf_info(&tls.peer_certificates) {
                f.add(
                    Family::gauge(
                        "probe_ssl_last_chain_info",
                        "Contains SSL leaf certificate information",
                    )
                    .sample(
                        &[
                            ("fingerprint_sha256", &leaf.fingerprint_sha256),
                            ("subject", &leaf.subject),
                            ("issuer", &leaf.issuer),
                            ("subjectalternative", &leaf.subjectalternative),
                            ("serialnumber", &leaf.serialnumber),
                        ],
                        1.0,
                    ),
                );
            }
        }
        if let Some((kind, code)) = &self.failure {
            f.add(
                Family::gauge(
                    "probe_grpc_failure_info",
                    "Why the probe failed: kind (resolve, connect, rpc, health) and a stable code",
                )
                .sample(&[("kind", kind), ("code", code)], 1.0),
            );
        }
        if self.write_per_service {
            let mut statuses = Family::gauge(
                "probe_grpc_service_healthcheck_response",
                "Health of each checked or listed service by serving status",
            );
            let mut codes = Family::gauge(
                "probe_grpc_service_status_code",
                "gRPC status code of each service's Check (0 for List entries)",
            );
            for answer in &self.per_service {
                let service = answer.service.as_str();
                let (code, status) = match answer.result {
                    Ok(status) => (0.0, Some(status)),
                    Err(code) => (f64::from(code as i32), None),
                };
                codes.push(&[("service", service)], code);
                for (name, s) in SERVING_STATUSES {
                    statuses.push(
                        &[("service", service), ("serving_status", name)],
                        if status == Some(s) { 1.0 } else { 0.0 },
                    );
                }
            }
            f.add(statuses);
            f.add(codes);
        }
        f
    }
}

/// blackbox's `probe_ip_addr_hash`: FNV-1a 32 of the address bytes (4 for
/// IPv4, 16 for IPv6).
pub fn ip_hash(ip: IpAddr) -> u32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets().to_vec(),
        },
    };
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// blackbox's `chooseProtocol` over the resolver's answer: the first address
/// of the preferred family, else (with fallback) the last of the other
/// family, as its loop leaves it. Returns the address and the family (4/6).
pub fn choose_address(
    addrs: &[IpAddr],
    preferred: IpProtocol,
    fallback: bool,
) -> Option<(IpAddr, u8)> {
    let wanted_v4 = preferred == IpProtocol::Ip4;
    if let Some(ip) = addrs.iter().find(|ip| ip.is_ipv4() == wanted_v4) {
        return Some((*ip, if wanted_v4 { 4 } else { 6 }));
    }
    if !fallback {
        return None;
    }
    addrs
        .iter()
        .rev()
        .find(|ip| ip.is_ipv4() != wanted_v4)
        .map(|ip| (*ip, if wanted_v4 { 6 } else { 4 }))
}

/// Parses a target as blackbox and grpc-probe accept it: `host:port`,
/// `http(s)://host[:port]`, `dns:///host:port`, `unix:/path`; a bare host
/// gets blackbox's default port (443 with TLS, 80 without).
pub fn parse_target(target: &str, tls: bool) -> Result<(Target, bool), String> {
    let attempt = Target::parse_with_security(target);
    let (parsed, security) = match attempt {
        Ok(ok) => ok,
        Err(first) => {
            let bare = !target.contains(':') && !target.contains('/') && !target.is_empty();
            if !bare {
                return Err(first.to_string());
            }
            let port = if tls { 443 } else { 80 };
            Target::parse_with_security(&format!("{target}:{port}"))
                .map_err(|_| first.to_string())?
        }
    };
    Ok((parsed, tls || security == conn::SchemeSecurity::Tls))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Runs one probe within `deadline`.
pub async fn run(
    target: &str,
    module: &GrpcModule,
    deadline: tokio::time::Instant,
    allow: &AllowList,
    log: &mut ProbeLog,
) -> Result<Outcome, Refused> {
    let mut values = Values::new(module.per_service());
    let (parsed, tls) = match parse_target(target, module.tls) {
        Ok(ok) => ok,
        Err(reason) => {
            log.line(Level::Error, "Could not parse target", &[("err", &reason)]);
            values.fail("target", "INVALID");
            return Ok(Outcome {
                success: false,
                families: values.families(),
            });
        }
    };

    // Resolve (TCP) or check the socket path against the allow-list (unix).
    let (dial_target, default_authority) = match &parsed {
        Target::Unix { path } => {
            if !allow.allows_unix(path) {
                return Err(Refused::NotAllowed(target.to_owned()));
            }
            (parsed.clone(), parsed.default_authority())
        }
        Target::Tcp { host, port } => {
            log.line(
                Level::Debug,
                "Resolving target address",
                &[("target", host)],
            );
            let started = Instant::now();
            let lookup =
                tokio::time::timeout_at(deadline, tokio::net::lookup_host((host.as_str(), *port)))
                    .await;
            let took = secs(started.elapsed());
            values.dns_lookup = Some(took);
            values.ip_protocol = Some(0.0);
            values.ip_hash = Some(0.0);
            let addrs: Vec<IpAddr> = match lookup {
                Ok(Ok(addrs)) => addrs.map(|a: SocketAddr| a.ip()).collect(),
                Ok(Err(e)) => {
                    log.line(
                        Level::Error,
                        "Error resolving address",
                        &[("err", &e.to_string())],
                    );
                    values.fail("resolve", "DNS");
                    return Ok(Outcome {
                        success: false,
                        families: values.families(),
                    });
                }
                Err(_) => {
                    log.line(
                        Level::Error,
                        "Error resolving address",
                        &[("err", "deadline exceeded")],
                    );
                    values.fail("resolve", "TIMEOUT");
                    return Ok(Outcome {
                        success: false,
                        families: values.families(),
                    });
                }
            };
            let Some((ip, family)) = choose_address(
                &addrs,
                module.preferred_ip_protocol,
                module.ip_protocol_fallback,
            ) else {
                log.line(
                    Level::Error,
                    "Error resolving address",
                    &[("err", "unable to find ip; no fallback")],
                );
                values.fail("resolve", "NO_ADDRESS");
                return Ok(Outcome {
                    success: false,
                    families: values.families(),
                });
            };
            if !allow.allows_tcp(host, Some(ip)) {
                return Err(Refused::NotAllowed(target.to_owned()));
            }
            log.line(
                Level::Debug,
                "Resolved target address",
                &[("ip", &ip.to_string())],
            );
            values.resolve = Some(took);
            values.ip_protocol = Some(f64::from(family));
            values.ip_hash = Some(f64::from(ip_hash(ip)));
            (
                Target::Tcp {
                    host: ip.to_string(),
                    port: *port,
                },
                parsed.default_authority(),
            )
        }
    };

    let check_start = Instant::now();
    let remaining = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let options = connect_options(module, dial_target, default_authority, tls, remaining());
    log.line(
        Level::Debug,
        if tls {
            "Dialing gRPC with TLS"
        } else {
            "Dialing gRPC without TLS"
        },
        &[],
    );
    let opening = match conn::open(&options).await {
        Ok(opening) => opening,
        Err(err) => return Ok(not_connected(values, log, &err, module, check_start)),
    };
    // The transport (and TLS) is up: its facts are known before anything
    // is sent, so a TLS version outside the module's range sends nothing.
    let handshake = opening.connection().handshake().clone();
    values.connect = Some(secs(handshake.dial));
    if let Some(t) = &handshake.tls {
        values.tls = Some(secs(t.duration));
        let floor_ok = module
            .tls_config
            .min_version
            .is_none_or(|min| min.allows(t.version));
        let ceiling_ok = module.tls_config.max_version.is_none_or(|max| {
            // Above the ceiling: the floor of the next version allows it.
            !matches!(
                (max, t.version),
                (crate::config::TlsVersion::TLS12, "TLS 1.3")
            )
        });
        if !floor_ok || !ceiling_ok {
            log.line(
                Level::Error,
                "TLS version outside tls_config's min_version/max_version",
                &[("version", t.version)],
            );
            values.status_code = f64::from(tonic::Code::Unavailable as i32);
            values.health = Some(None);
            values.fail("connect", "TLS_VERSION");
            values.check = Some(secs(check_start.elapsed()));
            return Ok(Outcome {
                success: false,
                families: values.families(),
            });
        }
    }

    // The first Check goes out now, in the same write as the HTTP/2
    // preface (as grpc-probe's does), rather than a round trip later; its
    // answer counts only once the connection is READY. List waits.
    let services = module.checked_services();
    let first = start_check(opening.connection(), &services[0], remaining());
    let mut first = std::pin::pin!(first);
    let mut first_done = None;
    let ready = if module.list {
        opening.ready().await
    } else {
        ready_while(opening, first.as_mut(), &mut first_done).await
    };
    let connection = match ready {
        Ok(c) => c,
        // Dropping `first` aborts the Check.
        Err(err) => return Ok(not_connected(values, log, &err, module, check_start)),
    };

    let success = if module.list {
        list(&connection, module, &mut values, log, deadline).await
    } else {
        let first = async move {
            match first_done {
                Some(answer) => answer,
                None => first.await,
            }
        };
        check(&connection, services, first, &mut values, log, deadline).await
    };
    values.check = Some(secs(check_start.elapsed()));
    // blackbox only learns the peer (and so TLS facts) from a Check that
    // returned a response; keep its rule for its series.
    if let (Some(t), Some(Some(_))) = (handshake.tls, values.health) {
        values.ssl = true;
        values.tls_info = Some(t);
    }
    close_later(connection);
    if success {
        log.line(
            Level::Debug,
            "Connected to the gRPC server and it is serving",
            &[],
        );
    }
    Ok(Outcome {
        success,
        families: values.families(),
    })
}

/// A connection that did not become READY: blackbox's series for it.
fn not_connected(
    mut values: Values,
    log: &mut ProbeLog,
    err: &ConnectError,
    module: &GrpcModule,
    check_start: Instant,
) -> Outcome {
    connect_failed(&mut values, log, err, module);
    values.check = Some(secs(check_start.elapsed()));
    Outcome {
        success: false,
        families: values.families(),
    }
}

/// What a Check answered, or why it did not.
type CheckAnswer =
    Result<tonic::Response<grpc_toolkit_proto::health::v1::HealthCheckResponse>, RpcError>;

/// A Check of `service` on `connection`, bounded by `left`, owning all it
/// needs so that it can start before the connection is READY.
fn start_check(
    connection: &Connection,
    service: &str,
    left: Duration,
) -> impl Future<Output = CheckAnswer> + use<> {
    let mut client = connection.health();
    let request = connection.request(
        HealthCheckRequest {
            service: service.to_owned(),
        },
        Some(left),
    );
    async move { conn::call(Some(left), client.check(request)).await }
}

/// Waits for `opening` to be READY while `rpc` runs beside it; an answer
/// that comes first is kept in `done`.
async fn ready_while<F: Future>(
    opening: conn::Opening,
    mut rpc: std::pin::Pin<&mut F>,
    done: &mut Option<F::Output>,
) -> Result<Connection, ConnectError> {
    let ready = opening.ready();
    let mut ready = std::pin::pin!(ready);
    loop {
        tokio::select! {
            biased;
            result = &mut ready => return result,
            answer = rpc.as_mut(), if done.is_none() => *done = Some(answer),
        }
    }
}

/// The GOAWAY and close take a moment; the scrape does not wait for them.
/// Dropping the last handle is enough: hyper's connection task, which
/// outlives it, sends the GOAWAY and closes the socket as
/// [`Connection::close`] would; the exporter, unlike a one-shot CLI, has
/// no reason to wait for that (which cost a task, a channel and a timer per
/// probe).
fn close_later(connection: Connection) {
    drop(connection);
}

fn connect_failed(
    values: &mut Values,
    log: &mut ProbeLog,
    err: &ConnectError,
    module: &GrpcModule,
) {
    log.line(
        Level::Error,
        "can't connect grpc server",
        &[("err", &err.to_string()), ("code", err.code())],
    );
    values.status_code = f64::from(tonic::Code::Unavailable as i32);
    values.health = Some(None);
    values.fail("connect", err.code());
    for service in module.checked_services() {
        values.per_service.push(Answer {
            service,
            result: Err(tonic::Code::Unavailable),
        });
    }
}

fn rpc_code(err: &RpcError) -> tonic::Code {
    err.code()
}

/// Checks `services` in turn; the first one's answer is `first` (started
/// before the connection was READY).
async fn check(
    connection: &Connection,
    services: Vec<String>,
    first: impl Future<Output = CheckAnswer>,
    values: &mut Values,
    log: &mut ProbeLog,
    deadline: tokio::time::Instant,
) -> bool {
    let mut all_serving = true;
    let mut first = Some(first);
    for (i, service) in services.into_iter().enumerate() {
        let result = match first.take() {
            Some(first) => first.await,
            None => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                start_check(connection, &service, left).await
            }
        };
        let answer = match result {
            Ok(response) => {
                let status = ServingStatus::try_from(response.into_inner().status)
                    .unwrap_or(ServingStatus::Unknown);
                log.line(
                    Level::Debug,
                    "Health check answered",
                    &[
                        ("service", &service),
                        ("serving_status", status.as_str_name()),
                    ],
                );
                if status != ServingStatus::Serving {
                    values.fail("health", status.as_str_name());
                }
                Ok(status)
            }
            Err(err) => {
                let code = rpc_code(&err);
                log.line(
                    Level::Error,
                    "Health check failed",
                    &[("service", &service), ("err", &err.to_string())],
                );
                values.fail("rpc", code_name(code));
                Err(code)
            }
        };
        all_serving &= matches!(answer, Ok(ServingStatus::Serving));
        if i == 0 {
            match answer {
                Ok(status) => values.health = Some(Some(status)),
                Err(code) => {
                    values.health = Some(None);
                    values.status_code = f64::from(code as i32);
                }
            }
        }
        values.per_service.push(Answer {
            service,
            result: answer,
        });
    }
    all_serving
}

async fn list(
    connection: &Connection,
    module: &GrpcModule,
    values: &mut Values,
    log: &mut ProbeLog,
    deadline: tokio::time::Instant,
) -> bool {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let mut client = connection.health();
    let request = connection.request(HealthListRequest {}, Some(left));
    match conn::call(Some(left), client.list(request)).await {
        Ok(response) => {
            let statuses = response.into_inner().statuses;
            let mut names: Vec<&String> = statuses.keys().collect();
            names.sort();
            let mut all_serving = !names.is_empty();
            for name in names {
                let status = statuses
                    .get(name)
                    .and_then(|r| ServingStatus::try_from(r.status).ok())
                    .unwrap_or(ServingStatus::Unknown);
                if status != ServingStatus::Serving {
                    all_serving = false;
                    values.fail("health", status.as_str_name());
                }
                values.per_service.push(Answer {
                    service: name.clone(),
                    result: Ok(status),
                });
            }
            if statuses.is_empty() {
                values.fail("health", "NO_SERVICES");
            }
            values.health = Some(Some(
                statuses
                    .get(&module.service)
                    .and_then(|r| ServingStatus::try_from(r.status).ok())
                    .unwrap_or(ServingStatus::ServiceUnknown),
            ));
            log.line(
                Level::Debug,
                "Health list answered",
                &[("services", &statuses.len().to_string())],
            );
            all_serving
        }
        Err(err) => {
            let code = rpc_code(&err);
            log.line(
                Level::Error,
                "Health list failed",
                &[("err", &err.to_string())],
            );
            values.fail("rpc", code_name(code));
            values.health = Some(None);
            values.status_code = f64::from(code as i32);
            false
        }
    }
}

/// The connection options a grpc module asks for, to the address already
/// chosen (`target`): authority, TLS files, metadata, user agent, gzip.
/// `/probe` and `/channelz` dial through this one definition.
pub(crate) fn connect_options(
    module: &GrpcModule,
    target: Target,
    default_authority: String,
    tls: bool,
    connect_timeout: Duration,
) -> ConnectOptions {
    ConnectOptions {
        target,
        authority: module.authority.clone().unwrap_or(default_authority),
        tls: tls.then(|| TlsOptions {
            ca_file: module.tls_config.ca_file.clone(),
            client_cert: module.tls_config.cert_file.clone(),
            client_key: module.tls_config.key_file.clone(),
            server_name: module.tls_config.server_name.clone(),
            insecure_skip_verify: module.tls_config.insecure_skip_verify,
        }),
        headers: module
            .metadata
            .iter()
            .flat_map(|(name, values)| {
                values.iter().map(move |value| Header {
                    name: name.to_ascii_lowercase(),
                    value: value.clone(),
                })
            })
            .collect(),
        user_agent: module
            .user_agent
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()),
        gzip: module.gzip,
        connect_timeout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_hash_is_blackbox_fnv1a() {
        // FNV-1a 32 of [127,0,0,1], as Go's hash/fnv computes it.
        let mut h: u32 = 0x811c_9dc5;
        for b in [127u8, 0, 0, 1] {
            h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
        }
        assert_eq!(ip_hash("127.0.0.1".parse().expect("ip")), h);
        assert_eq!(ip_hash("::ffff:127.0.0.1".parse().expect("ip")), h);
    }

    #[test]
    fn address_choice_follows_blackbox() {
        let v4: IpAddr = "10.0.0.1".parse().expect("ip");
        let v6: IpAddr = "fd00::1".parse().expect("ip");
        assert_eq!(
            choose_address(&[v4, v6], IpProtocol::Ip6, true),
            Some((v6, 6))
        );
        assert_eq!(choose_address(&[v4], IpProtocol::Ip6, true), Some((v4, 4)));
        assert_eq!(choose_address(&[v4], IpProtocol::Ip6, false), None);
        assert_eq!(
            choose_address(&[v6, v4], IpProtocol::Ip4, false),
            Some((v4, 4))
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            parse_target("example.com", true).expect("ok").0,
            Target::Tcp {
                host: "example.com".into(),
                port: 443
            }
        );
        assert_eq!(
            parse_target("example.com", false).expect("ok").0,
            Target::Tcp {
                host: "example.com".into(),
                port: 80
            }
        );
        assert!(parse_target("https://example.com", false).expect("ok").1);
        assert!(matches!(
            parse_target("unix:/tmp/s.sock", false).expect("ok").0,
            Target::Unix { .. }
        ));
        assert!(parse_target("a b", false).is_err());
    }
}
