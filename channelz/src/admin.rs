//! The admin services in one call, as grpc-go's and grpc-java's `admin`
//! packages (gRFC A38) offer: Channelz and the spec-complete health
//! service, mounted on your server or served on a listener of their own.
//!
//! A separate admin listener keeps operators' tools off the public port,
//! outside whatever load shedding, authentication or rate limits guard the
//! application's services, so the dashboard and the probes still answer
//! when the application is overloaded.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tonic_channelz::admin::Admin;
//! use tonic_channelz::health::HealthReporter;
//! use tonic_channelz::Registry;
//!
//! let health = HealthReporter::new();
//! let admin = Admin::new(Registry::global(), &health);
//!
//! // Either next to your services, on the public port:
//! // (or `admin.add_to(router)` on a router you already have).
//! let router = tonic::transport::Server::builder().add_routes(admin.routes());
//! # drop(router);
//!
//! // or on a listener of its own (it appears in Channelz as "admin"):
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:50052").await?;
//! let served = tokio::spawn(admin.serve_with_shutdown(listener, async {
//!     let _ = stopped.await;
//! }));
//! // ... on SIGTERM: health NOT_SERVING, watches end, the listener closes.
//! let _ = stop.send(());
//! served.await??;
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;

use grpc_toolkit_proto::channelz::v1::channelz_server::ChannelzServer;
use tokio::net::TcpListener;
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::server::Router;

use crate::health::{HealthReporter, HealthServer, HealthService};
use crate::{ChannelzService, Registry};

/// Channelz and health, ready to mount or to serve.
#[derive(Debug, Clone)]
pub struct Admin {
    registry: Registry,
    health: HealthReporter,
}

/// Mounts Channelz (reporting `registry`) and the health service (answering
/// from `health`) on `router`: the one-line form of [`Admin::add_to`].
pub fn add_admin_services<L>(
    router: Router<L>,
    registry: &Registry,
    health: &HealthReporter,
) -> Router<L> {
    Admin::new(registry, health).add_to(router)
}

impl Admin {
    /// Admin services reporting `registry` (usually [`Registry::global`])
    /// and answering health from `health` (keep a clone to set statuses).
    pub fn new(registry: &Registry, health: &HealthReporter) -> Self {
        Self {
            registry: registry.clone(),
            health: health.clone(),
        }
    }

    /// The health reporter the health service answers from.
    pub fn health(&self) -> &HealthReporter {
        &self.health
    }

    /// The registry Channelz reports.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Channelz service alone.
    pub fn channelz_server(&self) -> ChannelzServer<ChannelzService> {
        ChannelzService::new(self.registry.clone()).into_server()
    }

    /// The health service alone.
    pub fn health_server(&self) -> HealthServer<HealthService> {
        self.health.service().into_server()
    }

    /// Both services as tonic routes, for `Server::add_routes` or your own
    /// [`RoutesBuilder`].
    pub fn routes(&self) -> Routes {
        let mut routes = RoutesBuilder::default();
        self.add_to_routes(&mut routes);
        routes.routes()
    }

    /// Adds both services to a [`RoutesBuilder`].
    pub fn add_to_routes(&self, routes: &mut RoutesBuilder) {
        routes
            .add_service(self.channelz_server())
            .add_service(self.health_server());
    }

    /// Adds both services to a tonic router.
    pub fn add_to<L>(&self, router: Router<L>) -> Router<L> {
        router
            .add_service(self.channelz_server())
            .add_service(self.health_server())
    }

    /// Serves the admin services on `listener` until the task is dropped
    /// or the listener fails. The listener is a Channelz server named
    /// `admin`, with its connections listed.
    pub async fn serve(self, listener: TcpListener) -> Result<(), Error> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// As [`Admin::serve`], until `signal` completes. Then, in this order:
    /// health goes NOT_SERVING ([`HealthReporter::shutdown`]), open Watch
    /// streams get that status and end (a graceful shutdown waits for open
    /// streams, and a Watch never ends by itself), and the listener closes
    /// once the calls in flight have finished.
    pub async fn serve_with_shutdown<F>(self, listener: TcpListener, signal: F) -> Result<(), Error>
    where
        F: Future<Output = ()>,
    {
        let server = self.registry.register_server("admin");
        let incoming = server.incoming(listener).map_err(Kind::Listen)?;
        let health = self.health.clone();
        let drain = async move {
            signal.await;
            health.shutdown();
            health.close_watches();
        };
        tonic::transport::Server::builder()
            .layer(server.layer())
            .add_routes(self.routes())
            .serve_with_incoming_shutdown(incoming, drain)
            .await
            .map_err(|e| Error::from(Kind::Serve(e)))
    }
}

/// Why the admin server could not serve. Opaque, so the wording can
/// change; the cause is in [`std::error::Error::source`].
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Listen(std::io::Error),
    Serve(tonic::transport::Error),
}

impl From<Kind> for Error {
    fn from(kind: Kind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Listen(_) => f.write_str("cannot use the admin listener"),
            Kind::Serve(_) => f.write_str("the admin server failed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Listen(e) => Some(e),
            Kind::Serve(e) => Some(e),
        }
    }
}
