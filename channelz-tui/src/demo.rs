//! The built-in demo: an in-process tonic server with health, Channelz and
//! live traffic, so a new user sees the whole toolkit working with no
//! server of their own.
//!
//! [`DemoServer::start`] binds the address it is given and serves
//! `grpc.health.v1.Health` (the spec-complete one, with List) and
//! `grpc.channelz.v1.Channelz` there, mounted with `tonic_channelz::admin`
//! and all reported through `tonic-channelz`. In the same process it runs:
//!
//! - a channel to the demo server itself that calls `Health/Check` a few
//!   times a second; every fifth call asks for an unknown service, so the
//!   counts show failures (NOT_FOUND) next to successes;
//! - a second backend on another local port that flaps: up a few seconds,
//!   down a few seconds. The channel calling it walks through CONNECTING,
//!   READY, IDLE and TRANSIENT_FAILURE and logs trace events as it goes;
//! - CSDS beside Channelz, as gRPC's admin server has it: the status of one
//!   xDS client mid-way through a canary rollout, one resource NACKED and
//!   one missing ([`xds`]), with a Channelz channel of its target
//!   (`xds:///demo-backend`) for the xDS screen to join it to.
//!
//! Both uses by `channelz-tui`:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use channelz_tui::demo::DemoServer;
//!
//! // `channelz-tui --demo`: start on a free local port, then open the
//! // dashboard on `demo.local_addr()`; the server stops when `demo` drops.
//! let demo = DemoServer::start("127.0.0.1:0").await?;
//! let target = format!("http://{}", demo.local_addr());
//! # let _ = target;
//!
//! // `channelz-tui --demo-server ADDR`: announce the address as the first
//! // line on stdout, then run until killed.
//! let demo = DemoServer::start("127.0.0.1:50051").await?;
//! println!("listening on {}", demo.local_addr());
//! tokio::signal::ctrl_c().await?;
//! demo.shutdown().await;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use grpc_toolkit_proto::channelz::v1::channelz_server::ChannelzServer;
use grpc_toolkit_proto::health::v1::HealthCheckRequest;
use grpc_toolkit_proto::health::v1::health_client::HealthClient;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::{Endpoint, Server};
use tonic_channelz::admin::Admin;
use tonic_channelz::health::{HealthReporter, HealthServer, HealthService};
use tonic_channelz::registry::{ChannelHandle, ConnectivityState, ServerHandle};
use tonic_channelz::{ChannelzService, InstrumentedChannel, Registry};

pub mod xds;

/// How often each demo channel makes a call.
const CALL_INTERVAL: Duration = Duration::from_millis(250);

/// Every n-th call of the steady channel asks for an unknown service.
const FAILURE_EVERY: u64 = 5;

/// How long the flapping backend stays up, then down.
const FLAP_PERIOD: Duration = Duration::from_secs(4);

/// Each call gives up after this, so a stuck call never stalls the loop.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// The demo could not start.
#[derive(Debug)]
pub enum DemoError {
    /// The address could not be bound (in use, not local, not an address).
    Bind {
        /// The address as given.
        addr: String,
        /// Why binding failed.
        source: io::Error,
    },
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
        }
    }
}

impl std::error::Error for DemoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DemoError::Bind { source, .. } => Some(source),
        }
    }
}

/// The running demo. Dropping it stops everything; [`DemoServer::shutdown`]
/// also waits for the server to finish.
#[derive(Debug)]
pub struct DemoServer {
    local_addr: SocketAddr,
    registry: Registry,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    background: Vec<JoinHandle<()>>,
    /// Listed in Channelz while the demo runs: the channel the CSDS
    /// status is of.
    _xds_channel: ChannelHandle,
}

impl DemoServer {
    /// Binds `addr` (e.g. `127.0.0.1:0` for any free port) and starts the
    /// server, the flapping backend and the traffic. Must be called inside
    /// a tokio runtime.
    pub async fn start(addr: &str) -> Result<Self, DemoError> {
        let bind_error = |addr: &str, source| DemoError::Bind {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| bind_error(addr, e))?;
        let local_addr = listener.local_addr().map_err(|e| bind_error(addr, e))?;
        // The flapping backend needs a fixed port to come back on; binding
        // port 0 once picks one that is free.
        let flap_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| bind_error("127.0.0.1:0", e))?;

        let registry = Registry::new();
        let (stop, stopped) = watch::channel(false);

        let demo = registry.register_server("demo");
        let incoming = demo.incoming(listener).map_err(|e| bind_error(addr, e))?;
        // The shipped health service, so the dashboard's health panel and
        // `grpc-probe --list` show List; each admin service reports itself.
        let health = HealthReporter::new();
        health.set_serving::<ChannelzServer<ChannelzService>>();
        health.set_serving::<HealthServer<HealthService>>();
        let admin = Admin::new(&registry, &health);
        let csds = xds::DemoCsds::new(std::time::SystemTime::now()).into_server();
        let server = tokio::spawn({
            let stopped = stopped.clone();
            async move {
                // The server only ends on shutdown or a fatal listener
                // error; either way the demo has nothing to recover.
                let _ = Server::builder()
                    .layer(demo.layer())
                    .add_routes(admin.routes())
                    .add_service(csds)
                    .serve_with_incoming_shutdown(incoming, async {
                        wait_stop(stopped).await;
                        // Open Watch streams would hold the graceful
                        // shutdown forever.
                        health.shutdown();
                        health.close_watches();
                    })
                    .await;
            }
        });

        let flap_server = registry.register_server("demo-flapping-backend");
        let flap_addr = flap_listener
            .local_addr()
            .map_err(|e| bind_error("127.0.0.1:0", e))?;
        let mut background = vec![tokio::spawn(flap(
            flap_server,
            flap_listener,
            stopped.clone(),
        ))];

        // The traffic's channels are made here, before the xDS one, so
        // that Channelz lists the busy channel first.
        for (addr, with_failures) in [(reachable(local_addr), true), (flap_addr, false)] {
            if let Some(channel) = demo_channel(&registry, addr) {
                background.push(tokio::spawn(traffic(
                    channel,
                    with_failures,
                    stopped.clone(),
                )));
            }
        }
        let xds_channel = registry.register_channel(xds::TARGET);
        xds_channel.node().set_state(ConnectivityState::Ready);
        xds_channel.node().trace.add(
            tonic_channelz::registry::Severity::Info,
            "the demo's xDS client status is in CSDS (press x); this channel makes no calls",
            None,
        );

        Ok(Self {
            local_addr,
            registry,
            stop,
            server: Some(server),
            background,
            _xds_channel: xds_channel,
        })
    }

    /// The address the demo server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The registry the demo reports, for tests that compare it with what
    /// the Channelz service answers.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops the traffic and the servers and waits for the main server to
    /// close its listener.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.background.drain(..) {
            task.abort();
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.background {
            task.abort();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

async fn wait_stop(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// A wildcard listen address is not something to dial; the loopback of
/// the same family is.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// Serves health on `listener`'s port for one period, stays down for one
/// period, and repeats until stopped.
async fn flap(server: ServerHandle, listener: TcpListener, stopped: watch::Receiver<bool>) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let mut listener = Some(listener);
    loop {
        let current = match listener.take() {
            Some(l) => l,
            None => match TcpListener::bind(addr).await {
                Ok(l) => l,
                // Someone else took the port while we were down: stay down.
                Err(_) => return,
            },
        };
        let Ok(incoming) = server.incoming(current) else {
            return;
        };
        let (_reporter, health) = tonic_health::server::health_reporter();
        let up = tokio::time::sleep(FLAP_PERIOD);
        let stopping = wait_stop(stopped.clone());
        let serve = Server::builder()
            .layer(server.layer())
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async {
                tokio::select! {
                    _ = up => {}
                    _ = stopping => {}
                }
            });
        let _ = serve.await;
        if *stopped.borrow() {
            return;
        }
        let mut s = stopped.clone();
        tokio::select! {
            _ = tokio::time::sleep(FLAP_PERIOD) => {}
            _ = s.wait_for(|stop| *stop) => return,
        }
    }
}

/// An instrumented channel to `addr`, reported in `registry` (`None`
/// only if `http://addr` were not a URI, which a socket address always
/// makes).
fn demo_channel(registry: &Registry, addr: SocketAddr) -> Option<InstrumentedChannel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}")).ok()?;
    let endpoint = endpoint
        .connect_timeout(Duration::from_secs(1))
        .timeout(CALL_TIMEOUT);
    Some(InstrumentedChannel::lazy(registry, endpoint))
}

/// Calls `Health/Check` through `channel` until stopped; with
/// `with_failures`, every few calls ask for an unknown service.
async fn traffic(
    channel: InstrumentedChannel,
    with_failures: bool,
    mut stopped: watch::Receiver<bool>,
) {
    let mut client = HealthClient::new(channel);
    let mut ticker = tokio::time::interval(CALL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        n += 1;
        let service = if with_failures && n.is_multiple_of(FAILURE_EVERY) {
            "demo.UnknownService"
        } else {
            ""
        };
        // Failures are the point of the demo: they show up in the counts.
        let _ = client
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await;
    }
}
