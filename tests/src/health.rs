//! [`SpecHealth`]: the shipped spec-complete health service
//! ([`tonic_channelz::health`]) with one switch the shipped one must not
//! have: handlers that hang, for the "server accepts the RPC and never
//! answers" fault. Everything else is delegated, so the tests exercise the
//! code users run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use grpc_toolkit_proto::health::v1::health_server::{Health, HealthServer};
use grpc_toolkit_proto::health::v1::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use tonic::{Request, Response, Status};
use tonic_channelz::health::{HealthReporter, HealthService, HealthWatch};

/// The shipped health service plus a hang switch; clones share state, so a
/// test keeps one clone to change statuses while the server runs.
#[derive(Clone, Debug)]
pub struct SpecHealth {
    reporter: HealthReporter,
    service: HealthService,
    hang: Arc<AtomicBool>,
}

impl Default for SpecHealth {
    fn default() -> Self {
        Self::new()
    }
}

impl SpecHealth {
    /// A service where the server as a whole (`""`) is SERVING, as every
    /// gRPC implementation's health service starts.
    pub fn new() -> Self {
        Self::with_reporter(HealthReporter::new())
    }

    /// Wraps an existing reporter (say, one with another List limit).
    pub fn with_reporter(reporter: HealthReporter) -> Self {
        Self {
            service: reporter.service(),
            reporter,
            hang: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The shipped reporter behind this service (shutdown, resume, ...).
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }

    /// Sets a service's status; open Watch streams on it see the change.
    pub fn set(&self, service: &str, status: ServingStatus) {
        self.reporter.set_service_status(service, status);
    }

    /// Forgets a service: Check answers NOT_FOUND, Watch SERVICE_UNKNOWN.
    pub fn remove(&self, service: &str) {
        self.reporter.clear_service_status(service);
    }

    /// When on, every handler waits forever (until the client gives up),
    /// so the RPC is accepted and never answered.
    pub fn set_hang(&self, hang: bool) {
        self.hang.store(hang, Ordering::SeqCst);
    }

    /// The tonic service to add to a server.
    pub fn server(&self) -> HealthServer<SpecHealth> {
        HealthServer::new(self.clone())
    }

    async fn maybe_hang(&self) {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

#[tonic::async_trait]
impl Health for SpecHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.maybe_hang().await;
        self.service.check(request).await
    }

    async fn list(
        &self,
        request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        self.maybe_hang().await;
        self.service.list(request).await
    }

    type WatchStream = HealthWatch;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.maybe_hang().await;
        self.service.watch(request).await
    }
}
