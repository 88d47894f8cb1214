//! A `grpc.health.v1.Health` service that follows the spec to the letter,
//! because tonic-health does not: it has no `List` (gRFC A90), and its
//! `Watch` answers NOT_FOUND for an unknown service where the spec says to
//! stream SERVICE_UNKNOWN and keep the call open.
//!
//! - **Check**: the status of a service, NOT_FOUND for one never set (or
//!   cleared).
//! - **Watch**: the current status at once (SERVICE_UNKNOWN for an unknown
//!   service), then every change, for as long as the client stays. Each
//!   service has its own `tokio::sync::watch` channel, so a setter never
//!   waits for a reader, a slow reader skips to the latest status, and a
//!   change wakes only the watchers of that service.
//! - **List**: every service and its status, or RESOURCE_EXHAUSTED when
//!   there are more than the limit (100 by default, as grpc-go and
//!   grpc-swift use), so one call cannot be made to build an unbounded
//!   response.
//! - **Shutdown**: [`HealthReporter::shutdown`] marks everything
//!   NOT_SERVING and ignores later changes until
//!   [`HealthReporter::resume`], as grpc-go's `Shutdown` does: probes see
//!   the drain before the listener closes.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tonic_channelz::health::{HealthReporter, ServingStatus};
//! let reporter = HealthReporter::new(); // "" (the whole server) is SERVING
//! reporter.set_service_status("app.v1.Orders", ServingStatus::NotServing);
//! tonic::transport::Server::builder()
//!     .add_service(reporter.service().into_server())
//!     // .add_service(your services...)
//!     .serve("0.0.0.0:50051".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use grpc_toolkit_proto::health::v1::health_server::Health;
use grpc_toolkit_proto::health::v1::{
    HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse,
};
use tokio::sync::watch;
use tokio_stream::Stream;
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

pub use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
pub use grpc_toolkit_proto::health::v1::health_server::HealthServer;

/// How many services `List` answers before it refuses with
/// RESOURCE_EXHAUSTED: grpc-go's and grpc-swift's limit.
pub const DEFAULT_LIST_LIMIT: usize = 100;

/// A service's entry: `None` while it is unknown (never set, or cleared)
/// but watched, so watchers that came first see it appear.
type StatusSender = watch::Sender<Option<ServingStatus>>;

#[derive(Debug, Default)]
struct State {
    services: HashMap<String, StatusSender>,
    /// Set by [`HealthReporter::shutdown`]: changes are ignored until
    /// [`HealthReporter::resume`].
    shut_down: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    list_limit: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the map
        // is still consistent (every change is one insert or one send).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle that sets statuses; clones share one set of statuses, and
/// every [`HealthService`] made from it answers from them.
///
/// All methods are synchronous and never wait for a watcher.
#[derive(Debug, Clone)]
pub struct HealthReporter {
    shared: Arc<Shared>,
}

impl Default for HealthReporter {
    fn default() -> Self {
        Self::new()
    }
}

/// A reporter and the tonic service for it, the same shape as
/// `tonic_health::server::health_reporter()`, so switching is one import.
pub fn health_reporter() -> (HealthReporter, HealthServer<HealthService>) {
    let reporter = HealthReporter::new();
    let server = reporter.service().into_server();
    (reporter, server)
}

impl HealthReporter {
    /// Statuses where the server as a whole (`""`) is SERVING, as every
    /// gRPC implementation's health service starts, and `List` answers up
    /// to [`DEFAULT_LIST_LIMIT`] services.
    pub fn new() -> Self {
        Self::with_list_limit(DEFAULT_LIST_LIMIT)
    }

    /// As [`HealthReporter::new`], with `List` answering up to `limit`
    /// services (RESOURCE_EXHAUSTED above it).
    pub fn with_list_limit(limit: usize) -> Self {
        let reporter = Self {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                list_limit: limit,
            }),
        };
        reporter.set_service_status("", ServingStatus::Serving);
        reporter
    }

    /// The gRPC service answering from these statuses.
    pub fn service(&self) -> HealthService {
        HealthService {
            shared: self.shared.clone(),
        }
    }

    /// Marks the service `S` (by its gRPC name, e.g. `app.v1.Orders`)
    /// SERVING.
    pub fn set_serving<S: NamedService>(&self) {
        self.set_service_status(S::NAME, ServingStatus::Serving);
    }

    /// Marks the service `S` NOT_SERVING.
    pub fn set_not_serving<S: NamedService>(&self) {
        self.set_service_status(S::NAME, ServingStatus::NotServing);
    }

    /// Sets `service`'s status (`""` is the server as a whole); its
    /// watchers see the change. Ignored after [`HealthReporter::shutdown`]
    /// until [`HealthReporter::resume`].
    pub fn set_service_status(&self, service: &str, status: ServingStatus) {
        let mut state = self.shared.lock();
        if state.shut_down {
            return;
        }
        set_locked(&mut state, service, status);
    }

    /// Forgets `service`: Check answers NOT_FOUND, List leaves it out, and
    /// its watchers see SERVICE_UNKNOWN (and stay, to see it come back).
    /// Ignored after [`HealthReporter::shutdown`] until
    /// [`HealthReporter::resume`], so a drain stays visible.
    pub fn clear_service_status(&self, service: &str) {
        let mut state = self.shared.lock();
        if state.shut_down {
            return;
        }
        let Some(sender) = state.services.get(service) else {
            return;
        };
        if sender.receiver_count() == 0 {
            state.services.remove(service);
        } else {
            sender.send_if_modified(|status| status.take().is_some());
        }
    }

    /// The status of `service`, `None` when unknown.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        let state = self.shared.lock();
        state.services.get(service).and_then(|s| *s.borrow())
    }

    /// Marks every known service NOT_SERVING and ignores later changes
    /// until [`HealthReporter::resume`], as grpc-go's `Shutdown`: call it
    /// when the server starts to drain, so load balancers and probes stop
    /// sending work before the listener closes.
    pub fn shutdown(&self) {
        let mut state = self.shared.lock();
        state.shut_down = true;
        for sender in state.services.values() {
            sender.send_if_modified(|status| match status {
                Some(s) if *s != ServingStatus::NotServing => {
                    *s = ServingStatus::NotServing;
                    true
                }
                _ => false,
            });
        }
    }

    /// Marks every known service SERVING and accepts changes again, as
    /// grpc-go's `Resume`.
    pub fn resume(&self) {
        let mut state = self.shared.lock();
        state.shut_down = false;
        for sender in state.services.values() {
            sender.send_if_modified(|status| match status {
                Some(s) if *s != ServingStatus::Serving => {
                    *s = ServingStatus::Serving;
                    true
                }
                _ => false,
            });
        }
    }

    /// Whether [`HealthReporter::shutdown`] is in force.
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }

    /// Ends every open Watch stream, after it has sent the latest status.
    /// A server's graceful shutdown waits for open streams, and a Watch
    /// never ends by itself, so call this (after
    /// [`HealthReporter::shutdown`]) when the server itself stops; clients
    /// reconnect and watch again. Statuses are kept.
    pub fn close_watches(&self) {
        let mut state = self.shared.lock();
        // Dropping a sender ends its receivers' streams once they have
        // seen its last value; a fresh sender with the same value serves
        // later watchers.
        state.services.retain(|_, sender| sender.borrow().is_some());
        for sender in state.services.values_mut() {
            let status = *sender.borrow();
            *sender = watch::Sender::new(status);
        }
    }

    /// How many Watch streams are open on `service` now (for metrics, and
    /// for tests that must wait until a client watches).
    pub fn watchers(&self, service: &str) -> usize {
        let state = self.shared.lock();
        state
            .services
            .get(service)
            .map_or(0, watch::Sender::receiver_count)
    }

    /// How many services have a status (the count `List` would answer).
    pub fn len(&self) -> usize {
        let state = self.shared.lock();
        state
            .services
            .values()
            .filter(|s| s.borrow().is_some())
            .count()
    }

    /// Whether no service has a status (not even `""`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn set_locked(state: &mut State, service: &str, status: ServingStatus) {
    match state.services.get(service) {
        // Unchanged statuses wake no one, so a watcher sees only changes.
        Some(sender) => {
            sender.send_if_modified(|current| {
                let changed = *current != Some(status);
                *current = Some(status);
                changed
            });
        }
        None => {
            state
                .services
                .insert(service.to_owned(), watch::Sender::new(Some(status)));
        }
    }
}

/// The `grpc.health.v1.Health` service; make it with
/// [`HealthReporter::service`] and add [`HealthService::into_server`] to a
/// tonic server.
#[derive(Debug, Clone)]
pub struct HealthService {
    shared: Arc<Shared>,
}

impl HealthService {
    /// The tonic server to add to a router.
    pub fn into_server(self) -> HealthServer<Self> {
        HealthServer::new(self)
    }

    /// A Watch stream on `service`, as the Watch RPC answers: the current
    /// status first, then each change. In-process users (and benchmarks)
    /// get the exact stream a client would.
    pub fn watch_service(&self, service: &str) -> HealthWatch {
        let receiver = {
            let mut state = self.shared.lock();
            match state.services.get(service) {
                Some(sender) => sender.subscribe(),
                None => {
                    let sender = watch::Sender::new(None);
                    let receiver = sender.subscribe();
                    state.services.insert(service.to_owned(), sender);
                    receiver
                }
            }
        };
        HealthWatch {
            inner: Some(tokio_stream::wrappers::WatchStream::new(receiver)),
            last: None,
            service: service.to_owned(),
            shared: Arc::downgrade(&self.shared),
        }
    }

    fn check_service(&self, service: &str) -> Result<ServingStatus, Status> {
        let state = self.shared.lock();
        match state.services.get(service).and_then(|s| *s.borrow()) {
            Some(status) => Ok(status),
            None => Err(Status::not_found(format!("unknown service \"{service}\""))),
        }
    }

    fn list_services(&self) -> Result<HealthListResponse, Status> {
        let state = self.shared.lock();
        let known = state
            .services
            .iter()
            .filter_map(|(name, sender)| sender.borrow().map(|status| (name, status)));
        let mut statuses = HashMap::new();
        for (name, status) in known {
            if statuses.len() == self.shared.list_limit {
                return Err(Status::resource_exhausted(format!(
                    "server health list exceeds maximum capacity: {}",
                    self.shared.list_limit
                )));
            }
            statuses.insert(name.clone(), response(status));
        }
        Ok(HealthListResponse { statuses })
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

/// One Watch stream: the current status, then each change; unknown is
/// SERVICE_UNKNOWN. Its state is one `watch` receiver (and the service
/// name), so a client that never reads costs one receiver, nothing queues
/// up behind it, and it reads only the latest status when it does.
pub struct HealthWatch {
    /// `None` once dropped (see `Drop`).
    inner: Option<tokio_stream::wrappers::WatchStream<Option<ServingStatus>>>,
    /// The last status sent, so a change and its reversal between two
    /// reads send nothing twice.
    last: Option<ServingStatus>,
    service: String,
    /// Weak, so open streams do not keep a dropped service's state alive.
    shared: std::sync::Weak<Shared>,
}

impl std::fmt::Debug for HealthWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthWatch")
            .field("service", &self.service)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl Stream for HealthWatch {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        loop {
            match Pin::new(&mut *inner).poll_next(cx) {
                Poll::Ready(Some(status)) => {
                    let status = status.unwrap_or(ServingStatus::ServiceUnknown);
                    if this.last == Some(status) {
                        continue;
                    }
                    this.last = Some(status);
                    return Poll::Ready(Some(Ok(response(status))));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for HealthWatch {
    fn drop(&mut self) {
        // The receiver goes first, so the count below no longer includes
        // it: the last watcher of an unknown service removes its entry,
        // which bounds the map by the services set plus those watched now.
        drop(self.inner.take());
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let mut state = shared.lock();
        let unused = state
            .services
            .get(&self.service)
            .is_some_and(|s| s.borrow().is_none() && s.receiver_count() == 0);
        if unused {
            state.services.remove(&self.service);
        }
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        self.check_service(&service)
            .map(|status| Response::new(response(status)))
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        self.list_services().map(Response::new)
    }

    type WatchStream = HealthWatch;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        Ok(Response::new(self.watch_service(&service)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio_stream::StreamExt;

    async fn next(watch: &mut HealthWatch) -> ServingStatus {
        let item = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("an update within 5s")
            .expect("the stream stays open")
            .expect("no error");
        item.status()
    }

    async fn nothing_more(watch: &mut HealthWatch) {
        let more = tokio::time::timeout(Duration::from_millis(50), watch.next()).await;
        assert!(more.is_err(), "unexpected update {more:?}");
    }

    fn names(list: &HealthListResponse) -> Vec<(String, ServingStatus)> {
        let mut names: Vec<_> = list
            .statuses
            .iter()
            .map(|(name, r)| (name.clone(), r.status()))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn starts_with_the_server_serving() {
        let reporter = HealthReporter::new();
        let service = reporter.service();
        assert_eq!(service.check_service("").ok(), Some(ServingStatus::Serving));
        let err = service.check_service("nope").expect_err("unknown");
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert_eq!(err.message(), "unknown service \"nope\"");
        assert_eq!(reporter.len(), 1);
    }

    #[test]
    fn typed_helpers_use_the_grpc_name() {
        struct Orders;
        impl NamedService for Orders {
            const NAME: &'static str = "app.v1.Orders";
        }
        let reporter = HealthReporter::new();
        reporter.set_serving::<Orders>();
        assert_eq!(
            reporter.status("app.v1.Orders"),
            Some(ServingStatus::Serving)
        );
        reporter.set_not_serving::<Orders>();
        assert_eq!(
            reporter.status("app.v1.Orders"),
            Some(ServingStatus::NotServing)
        );
    }

    #[test]
    fn list_answers_up_to_the_limit_then_refuses() {
        let reporter = HealthReporter::with_list_limit(3);
        let service = reporter.service();
        reporter.set_service_status("a", ServingStatus::NotServing);
        reporter.set_service_status("b", ServingStatus::Serving);
        let list = service.list_services().expect("3 is the limit");
        assert_eq!(
            names(&list),
            [
                (String::new(), ServingStatus::Serving),
                ("a".into(), ServingStatus::NotServing),
                ("b".into(), ServingStatus::Serving),
            ]
        );
        reporter.set_service_status("c", ServingStatus::Serving);
        let err = service.list_services().expect_err("4 > 3");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        reporter.clear_service_status("c");
        assert!(service.list_services().is_ok());
    }

    #[test]
    fn watched_unknown_services_are_not_listed_and_leave_no_entry() {
        let reporter = HealthReporter::with_list_limit(1);
        let service = reporter.service();
        let watches: Vec<_> = (0..10)
            .map(|i| service.watch_service(&format!("unknown-{i}")))
            .collect();
        assert_eq!(names(&service.list_services().expect("one")).len(), 1);
        assert_eq!(reporter.len(), 1);
        assert_eq!(reporter.watchers("unknown-3"), 1);
        drop(watches);
        assert_eq!(reporter.shared.lock().services.len(), 1, "entries removed");
        assert_eq!(reporter.watchers("unknown-3"), 0);
    }

    #[tokio::test]
    async fn watch_streams_unknown_then_each_change_then_unknown_on_removal() {
        let reporter = HealthReporter::new();
        let mut watch = reporter.service().watch_service("later");
        assert_eq!(next(&mut watch).await, ServingStatus::ServiceUnknown);
        nothing_more(&mut watch).await;
        reporter.set_service_status("later", ServingStatus::NotServing);
        assert_eq!(next(&mut watch).await, ServingStatus::NotServing);
        reporter.set_service_status("later", ServingStatus::NotServing);
        nothing_more(&mut watch).await;
        reporter.set_service_status("later", ServingStatus::Serving);
        assert_eq!(next(&mut watch).await, ServingStatus::Serving);
        reporter.clear_service_status("later");
        assert_eq!(next(&mut watch).await, ServingStatus::ServiceUnknown);
        reporter.set_service_status("later", ServingStatus::Serving);
        assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    }

    #[tokio::test]
    async fn a_reader_that_never_reads_blocks_no_one_and_then_sees_the_latest() {
        let reporter = HealthReporter::new();
        let service = reporter.service();
        let mut idle = service.watch_service("s");
        let mut busy = service.watch_service("s");
        assert_eq!(next(&mut busy).await, ServingStatus::ServiceUnknown);
        for i in 0..10_000 {
            let status = if i % 2 == 0 {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("s", status);
        }
        // The idle reader skips everything in between.
        assert_eq!(next(&mut idle).await, ServingStatus::NotServing);
        nothing_more(&mut idle).await;
        assert_eq!(next(&mut busy).await, ServingStatus::NotServing);
    }

    #[tokio::test]
    async fn many_watchers_of_one_service_all_see_a_change() {
        let reporter = HealthReporter::new();
        let service = reporter.service();
        let mut watches: Vec<_> = (0..1000).map(|_| service.watch_service("")).collect();
        for watch in &mut watches {
            assert_eq!(next(watch).await, ServingStatus::Serving);
        }
        reporter.set_service_status("", ServingStatus::NotServing);
        for watch in &mut watches {
            assert_eq!(next(watch).await, ServingStatus::NotServing);
        }
    }

    #[tokio::test]
    async fn shutdown_drains_ignores_changes_until_resume() {
        let reporter = HealthReporter::new();
        reporter.set_service_status("a", ServingStatus::Serving);
        reporter.set_service_status("b", ServingStatus::Unknown);
        let service = reporter.service();
        let mut watch = service.watch_service("a");
        assert_eq!(next(&mut watch).await, ServingStatus::Serving);

        reporter.shutdown();
        assert!(reporter.is_shut_down());
        assert_eq!(next(&mut watch).await, ServingStatus::NotServing);
        for name in ["", "a", "b"] {
            assert_eq!(
                service.check_service(name).ok(),
                Some(ServingStatus::NotServing),
                "{name:?}"
            );
        }
        reporter.set_service_status("a", ServingStatus::Serving);
        reporter.clear_service_status("b");
        reporter.set_service_status("new", ServingStatus::Serving);
        assert_eq!(reporter.status("a"), Some(ServingStatus::NotServing));
        assert_eq!(reporter.status("b"), Some(ServingStatus::NotServing));
        assert_eq!(reporter.status("new"), None);
        nothing_more(&mut watch).await;

        reporter.resume();
        assert!(!reporter.is_shut_down());
        assert_eq!(next(&mut watch).await, ServingStatus::Serving);
        assert_eq!(reporter.status("b"), Some(ServingStatus::Serving));
        reporter.set_service_status("a", ServingStatus::NotServing);
        assert_eq!(next(&mut watch).await, ServingStatus::NotServing);
    }

    #[tokio::test]
    async fn close_watches_ends_streams_after_the_latest_status_and_keeps_statuses() {
        let reporter = HealthReporter::new();
        let service = reporter.service();
        let mut known = service.watch_service("");
        let mut unknown = service.watch_service("nope");
        assert_eq!(next(&mut known).await, ServingStatus::Serving);
        reporter.shutdown();
        reporter.close_watches();
        assert_eq!(next(&mut known).await, ServingStatus::NotServing);
        assert!(known.next().await.is_none(), "ended");
        assert_eq!(next(&mut unknown).await, ServingStatus::ServiceUnknown);
        assert!(unknown.next().await.is_none(), "ended");
        reporter.resume();
        let mut again = service.watch_service("");
        assert_eq!(next(&mut again).await, ServingStatus::Serving);
    }
}
