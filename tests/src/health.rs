//! [`SpecHealth`]: a `grpc.health.v1.Health` service that follows the spec
//! to the letter, unlike tonic-health: `List`, and a `Watch` that streams
//! `SERVICE_UNKNOWN` for a service it does not know (and keeps the stream
//! open, sending each later change) where tonic-health answers NOT_FOUND.
//! It can also hang inside its handlers, for the "server accepts the RPC
//! and never answers" fault.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
use grpc_toolkit_proto::health::v1::health_server::{Health, HealthServer};
use grpc_toolkit_proto::health::v1::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// A spec-complete health service; clones share state, so a test keeps
/// one clone to change statuses while the server runs.
#[derive(Clone)]
pub struct SpecHealth {
    statuses: Arc<watch::Sender<HashMap<String, ServingStatus>>>,
    hang: Arc<AtomicBool>,
}

impl std::fmt::Debug for SpecHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecHealth")
            .field("statuses", &*self.statuses.borrow())
            .field("hang", &self.hang.load(Ordering::Relaxed))
            .finish()
    }
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
        let mut statuses = HashMap::new();
        statuses.insert(String::new(), ServingStatus::Serving);
        Self {
            statuses: Arc::new(watch::Sender::new(statuses)),
            hang: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Sets a service's status; open Watch streams on it see the change.
    pub fn set(&self, service: &str, status: ServingStatus) {
        self.statuses.send_modify(|map| {
            map.insert(service.to_owned(), status);
        });
    }

    /// Forgets a service: Check answers NOT_FOUND, Watch SERVICE_UNKNOWN.
    pub fn remove(&self, service: &str) {
        self.statuses.send_modify(|map| {
            map.remove(service);
        });
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

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

#[tonic::async_trait]
impl Health for SpecHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.maybe_hang().await;
        let service = request.into_inner().service;
        match self.statuses.borrow().get(&service) {
            Some(status) => Ok(Response::new(response(*status))),
            None => Err(Status::not_found(format!("unknown service \"{service}\""))),
        }
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        self.maybe_hang().await;
        let statuses = self
            .statuses
            .borrow()
            .iter()
            .map(|(name, status)| (name.clone(), response(*status)))
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.maybe_hang().await;
        let service = request.into_inner().service;
        let mut updates = self.statuses.subscribe();
        let stream = async_stream(move |tx| async move {
            let mut last = None;
            loop {
                let now = updates
                    .borrow_and_update()
                    .get(&service)
                    .copied()
                    .unwrap_or(ServingStatus::ServiceUnknown);
                // The spec: send the current status, then only changes.
                if last != Some(now) {
                    if tx.send(Ok(response(now))).await.is_err() {
                        return;
                    }
                    last = Some(now);
                }
                if updates.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// A stream fed by a task: the task ends when the client goes away (its
/// send fails) or when the service is dropped.
fn async_stream<F, Fut>(body: F) -> WatchStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<HealthCheckResponse, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(body(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
