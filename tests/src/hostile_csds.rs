//! A CSDS server (`envoy.service.status.v3.ClientStatusDiscoveryService`)
//! that answers what a hostile xDS client process could: names, versions,
//! scopes and NACK reasons full of terminal controls (and longer than any
//! bound), more resources than the readers keep, a response larger than
//! they read, payload types nobody decodes (and known types whose bytes do
//! not decode), or no answer at all. The dashboard's and the exporter's
//! hostile-CSDS tests start it with [`HostileCsds`].
//!
//! By default it also serves a small honest Channelz (one top channel whose
//! target is `xds:///hostile`, the scope [`SCOPE`] joined the way gRFC A71
//! spells it), since `channelz-tui` needs Channelz to make a document at
//! all; [`HostileCsds::without_channelz`] leaves it out (the exporter needs
//! none).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpc_toolkit_proto::envoy::admin::v3::{ClientResourceStatus, UpdateFailureState};
use grpc_toolkit_proto::envoy::config::core::v3::Node;
use grpc_toolkit_proto::envoy::service::status::v3::client_config::GenericXdsConfig;
use grpc_toolkit_proto::envoy::service::status::v3::client_status_discovery_service_server::{
    ClientStatusDiscoveryService, ClientStatusDiscoveryServiceServer,
};
use grpc_toolkit_proto::envoy::service::status::v3::{
    ClientConfig, ClientStatusRequest, ClientStatusResponse,
};
use tonic::{Request, Response, Status, Streaming};

use crate::servers::TestServer;

/// The client scope every mode's one scope has (`xds:///hostile` in
/// Channelz).
pub const SCOPE: &str = "xds:/hostile";

/// The same limits as `grpc_toolkit_channelz_client::csds` (restated so
/// the test kit does not depend on the reader it tests).
pub mod limits {
    /// `csds::MAX_MESSAGE`: the largest response a reader accepts.
    pub const MAX_MESSAGE: usize = 16 << 20;
    /// `csds::MAX_RESOURCES`: resources a reader keeps.
    pub const MAX_RESOURCES: usize = 100_000;
    /// `csds::MAX_TEXT`: characters a reader keeps of any text.
    pub const MAX_TEXT: usize = 1024;
}

/// Terminal controls, a bidi override, a NUL and a line break: what must
/// never reach a terminal, log line or label raw.
pub const CONTROLS: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\r\n\u{0}\u{9b}31m\u{202e}";

const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// What the server answers to `FetchClientStatus`.
#[derive(Debug, Clone)]
pub enum Mode {
    /// One scope whose client scope, node id, resource names, versions,
    /// type URL and NACK reasons hold [`CONTROLS`], each repeated past
    /// [`limits::MAX_TEXT`] characters; one resource per status (ACKED,
    /// NACKED with a reason, REQUESTED, DOES_NOT_EXIST, ...).
    ControlBytes,
    /// This many resources (use more than [`limits::MAX_RESOURCES`]), all
    /// ACKED listeners with no contents, in one scope.
    ManyResources(usize),
    /// One resource whose payload is one byte larger than
    /// [`limits::MAX_MESSAGE`]: the response must be refused, not read.
    HugePayload,
    /// Resources whose `Any`s a reader cannot decode: unknown type URLs
    /// with random-looking bytes, and known types (Listener, Cluster)
    /// whose bytes are not that message.
    UnknownAny,
    /// Never answers (the call stays open until the client gives up).
    Hang,
    /// Answers INTERNAL with this message (raw, any bytes).
    Error(String),
}

/// A hostile CSDS server; see [`Mode`].
#[derive(Debug, Clone)]
pub struct HostileCsds {
    mode: Mode,
    channelz: bool,
    calls: Arc<AtomicUsize>,
}

impl HostileCsds {
    /// A server that answers as `mode` says, with the honest Channelz.
    pub fn new(mode: Mode) -> HostileCsds {
        HostileCsds {
            mode,
            channelz: true,
            calls: Arc::default(),
        }
    }

    /// Leaves Channelz out: CSDS alone.
    pub fn without_channelz(mut self) -> HostileCsds {
        self.channelz = false;
        self
    }

    /// How many `FetchClientStatus` calls arrive (shared with the
    /// started server).
    pub fn calls(&self) -> Arc<AtomicUsize> {
        self.calls.clone()
    }

    /// The response of every mode that answers (`None` for
    /// [`Mode::Hang`] and [`Mode::Error`]), for tests that decode it
    /// directly.
    pub fn response(&self) -> Option<ClientStatusResponse> {
        let resources = match &self.mode {
            Mode::ControlBytes => control_bytes(),
            Mode::ManyResources(n) => (0..*n)
                .map(|i| generic(LISTENER, &format!("l{i}"), ClientResourceStatus::Acked))
                .collect(),
            Mode::HugePayload => {
                let mut r = generic(LISTENER, "huge", ClientResourceStatus::Acked);
                r.xds_config = Some(prost_types::Any {
                    type_url: LISTENER.to_owned(),
                    value: vec![0u8; limits::MAX_MESSAGE + 1],
                });
                vec![r]
            }
            Mode::UnknownAny => unknown_any(),
            Mode::Hang | Mode::Error(_) => return None,
        };
        let long = |s: &str| s.repeat(limits::MAX_TEXT / s.chars().count().max(1) + 2);
        let controls = matches!(self.mode, Mode::ControlBytes);
        Some(ClientStatusResponse {
            config: vec![ClientConfig {
                node: Some(Node {
                    id: if controls {
                        long(CONTROLS)
                    } else {
                        "hostile-node".to_owned()
                    },
                    ..Default::default()
                }),
                client_scope: if controls {
                    format!("{SCOPE}{}", long(CONTROLS))
                } else {
                    SCOPE.to_owned()
                },
                generic_xds_configs: resources,
                ..Default::default()
            }],
        })
    }

    /// Serves it on a loopback port of its own (panics if it cannot
    /// listen: a test cannot go on).
    pub async fn start(self) -> TestServer {
        let channelz = self
            .channelz
            .then(|| crate::channelz::one_channel("xds:///hostile"));
        let csds = ClientStatusDiscoveryServiceServer::new(self)
            .max_encoding_message_size(usize::MAX)
            .max_decoding_message_size(1 << 20);
        TestServer::builder()
            .routes(move |r| {
                r.add_service(csds);
                if let Some(channelz) = channelz {
                    r.add_service(channelz);
                }
            })
            .start()
            .await
    }
}

fn generic(type_url: &str, name: &str, status: ClientResourceStatus) -> GenericXdsConfig {
    GenericXdsConfig {
        type_url: type_url.to_owned(),
        name: name.to_owned(),
        client_status: status as i32,
        ..Default::default()
    }
}

fn now() -> prost_types::Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    prost_types::Timestamp { seconds, nanos: 0 }
}

/// See [`Mode::ControlBytes`].
fn control_bytes() -> Vec<GenericXdsConfig> {
    let long = CONTROLS.repeat(limits::MAX_TEXT / CONTROLS.chars().count() + 2);
    let statuses = [
        ClientResourceStatus::Acked,
        ClientResourceStatus::Nacked,
        ClientResourceStatus::Requested,
        ClientResourceStatus::DoesNotExist,
        ClientResourceStatus::ReceivedError,
        ClientResourceStatus::Timeout,
        ClientResourceStatus::Unknown,
    ];
    let mut out: Vec<_> = statuses
        .iter()
        .map(|status| {
            let mut r = generic(
                LISTENER,
                &format!("{}{long}", status.as_str_name()),
                *status,
            );
            r.version_info = format!("v{long}");
            r.last_updated = Some(now());
            if matches!(
                status,
                ClientResourceStatus::Nacked | ClientResourceStatus::ReceivedError
            ) {
                r.error_state = Some(UpdateFailureState {
                    failed_configuration: None,
                    last_update_attempt: Some(now()),
                    details: format!("rejected: {long}"),
                    version_info: format!("bad{long}"),
                });
            }
            r
        })
        .collect();
    // A type URL with controls too, and a status number no enum has.
    let mut odd = generic(
        &format!("type.example/{long}"),
        CONTROLS,
        ClientResourceStatus::Acked,
    );
    odd.client_status = 99;
    out.push(odd);
    out
}

/// See [`Mode::UnknownAny`].
fn unknown_any() -> Vec<GenericXdsConfig> {
    let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let entries = [
        ("type.example.com/acme.Secret", junk.clone()),
        ("", vec![1, 2, 3]),
        (LISTENER, vec![0x0a, 0x7f]),
        (CLUSTER, vec![0xff; 64]),
        (
            "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
            junk,
        ),
    ];
    entries
        .into_iter()
        .enumerate()
        .map(|(i, (type_url, value))| {
            let mut r = generic(
                if type_url.is_empty() {
                    "type.example.com/acme.Empty"
                } else {
                    type_url
                },
                &format!("any{i}"),
                ClientResourceStatus::Acked,
            );
            r.version_info = "1".to_owned();
            r.xds_config = Some(prost_types::Any {
                type_url: type_url.to_owned(),
                value,
            });
            r
        })
        .collect()
}

#[tonic::async_trait]
impl ClientStatusDiscoveryService for HostileCsds {
    type StreamClientStatusStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<ClientStatusResponse, Status>>>;

    async fn stream_client_status(
        &self,
        _request: Request<Streaming<ClientStatusRequest>>,
    ) -> Result<Response<Self::StreamClientStatusStream>, Status> {
        Err(Status::unimplemented("only FetchClientStatus"))
    }

    async fn fetch_client_status(
        &self,
        _request: Request<ClientStatusRequest>,
    ) -> Result<Response<ClientStatusResponse>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match &self.mode {
            Mode::Hang => {
                std::future::pending::<()>().await;
                Err(Status::internal("unreachable"))
            }
            Mode::Error(message) => Err(Status::internal(message.clone())),
            _ => self
                .response()
                .map(Response::new)
                .ok_or_else(|| Status::internal("no response")),
        }
    }
}
