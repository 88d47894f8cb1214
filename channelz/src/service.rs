//! The `grpc.channelz.v1.Channelz` service: reads the registry and answers
//! the seven RPCs.
//!
//! Paging follows the spec: `start_*_id` is inclusive, results ascend by
//! id, `max_results` 0 (or negative) asks for the default page, larger
//! values are capped, and `end` is true only when nothing follows the page.
//! Unknown ids answer NOT_FOUND. Each page is copied out of the registry
//! under a read lock that holds only `Arc` clones; the protos are built
//! after it is released.

use std::net::SocketAddr;
use std::sync::Arc;

use grpc_toolkit_proto::channelz::v1 as pb;
use grpc_toolkit_proto::channelz::v1::channelz_server::{Channelz, ChannelzServer};
use tonic::{Request, Response, Status};

use crate::registry::{
    CallCounts, ChannelNode, ChildRef, ConnectivityState, Registry, ServerNode, Severity,
    SocketKind, SocketNode, SubchannelNode, Trace,
};

/// The page size used when a request asks for `max_results` 0.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// The largest page the service returns, whatever the request asks, so
/// one request cannot make it copy the whole registry.
pub const MAX_PAGE_SIZE: usize = 100;

/// The Channelz service over one [`Registry`].
#[derive(Debug, Clone)]
pub struct ChannelzService {
    registry: Registry,
    max_page: usize,
}

impl ChannelzService {
    /// A service reporting what `registry` holds.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            max_page: MAX_PAGE_SIZE,
        }
    }

    /// Overrides the page-size cap (at least 1).
    pub fn with_max_page_size(mut self, max: usize) -> Self {
        self.max_page = max.max(1);
        self
    }

    /// The tonic service to give to `Server::builder().add_service(...)`.
    pub fn into_server(self) -> ChannelzServer<Self> {
        ChannelzServer::new(self)
    }

    fn limit(&self, max_results: i64) -> usize {
        if max_results <= 0 {
            DEFAULT_PAGE_SIZE.min(self.max_page)
        } else {
            usize::try_from(max_results)
                .unwrap_or(usize::MAX)
                .min(self.max_page)
        }
    }
}

pub(crate) fn timestamp(nanos: i64) -> Option<prost_types::Timestamp> {
    (nanos > 0).then(|| prost_types::Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0),
    })
}

fn trace(trace: &Trace) -> pb::ChannelTrace {
    let (events, logged) = trace.snapshot();
    pb::ChannelTrace {
        num_events_logged: logged,
        creation_timestamp: timestamp(trace.created_nanos()),
        events: events
            .into_iter()
            .map(|e| pb::ChannelTraceEvent {
                description: e.description,
                severity: match e.severity {
                    Severity::Info => pb::channel_trace_event::Severity::CtInfo,
                    Severity::Warning => pb::channel_trace_event::Severity::CtWarning,
                    Severity::Error => pb::channel_trace_event::Severity::CtError,
                } as i32,
                timestamp: timestamp(e.timestamp_nanos),
                child_ref: e.child.map(|c| match c {
                    ChildRef::Channel(id) => {
                        pb::channel_trace_event::ChildRef::ChannelRef(pb::ChannelRef {
                            channel_id: id,
                            name: String::new(),
                        })
                    }
                    ChildRef::Subchannel(id) => {
                        pb::channel_trace_event::ChildRef::SubchannelRef(pb::SubchannelRef {
                            subchannel_id: id,
                            name: String::new(),
                        })
                    }
                }),
            })
            .collect(),
    }
}

fn state(s: ConnectivityState) -> pb::ChannelConnectivityState {
    use pb::channel_connectivity_state::State;
    let state = match s {
        ConnectivityState::Idle => State::Idle,
        ConnectivityState::Connecting => State::Connecting,
        ConnectivityState::Ready => State::Ready,
        ConnectivityState::TransientFailure => State::TransientFailure,
        ConnectivityState::Shutdown => State::Shutdown,
    };
    pb::ChannelConnectivityState {
        state: state as i32,
    }
}

fn channel_data(
    s: ConnectivityState,
    target: &str,
    t: &Trace,
    calls: CallCounts,
) -> pb::ChannelData {
    pb::ChannelData {
        state: Some(state(s)),
        target: target.to_string(),
        trace: Some(trace(t)),
        calls_started: calls.started,
        calls_succeeded: calls.succeeded,
        calls_failed: calls.failed,
        last_call_started_timestamp: timestamp(calls.last_started_nanos),
        max_connections_per_subchannel: 0,
    }
}

fn socket_ref(s: &SocketNode) -> pb::SocketRef {
    pb::SocketRef {
        socket_id: s.id,
        name: s.name.clone(),
    }
}

/// The proto form of a channel.
pub fn channel_proto(c: &ChannelNode) -> pb::Channel {
    pb::Channel {
        r#ref: Some(pb::ChannelRef {
            channel_id: c.id,
            name: c.target.clone(),
        }),
        data: Some(channel_data(
            c.state(),
            &c.target,
            &c.trace,
            c.calls.snapshot(),
        )),
        channel_ref: Vec::new(),
        subchannel_ref: c
            .subchannels()
            .iter()
            .map(|s| pb::SubchannelRef {
                subchannel_id: s.id,
                name: s.target.clone(),
            })
            .collect(),
        socket_ref: Vec::new(),
    }
}

/// The proto form of a subchannel.
pub fn subchannel_proto(s: &SubchannelNode) -> pb::Subchannel {
    pb::Subchannel {
        r#ref: Some(pb::SubchannelRef {
            subchannel_id: s.id,
            name: s.target.clone(),
        }),
        data: Some(channel_data(
            s.state(),
            &s.target,
            &s.trace,
            s.calls.snapshot(),
        )),
        channel_ref: Vec::new(),
        subchannel_ref: Vec::new(),
        socket_ref: s.sockets().iter().map(|s| socket_ref(s)).collect(),
    }
}

/// The proto form of a server.
pub fn server_proto(s: &ServerNode) -> pb::Server {
    let calls = s.calls.snapshot();
    pb::Server {
        r#ref: Some(pb::ServerRef {
            server_id: s.id,
            name: s.name.clone(),
        }),
        data: Some(pb::ServerData {
            trace: Some(trace(&s.trace)),
            calls_started: calls.started,
            calls_succeeded: calls.succeeded,
            calls_failed: calls.failed,
            last_call_started_timestamp: timestamp(calls.last_started_nanos),
        }),
        listen_socket: s.listen_sockets().iter().map(|s| socket_ref(s)).collect(),
    }
}

fn address(addr: SocketAddr) -> pb::Address {
    let ip_address = match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    pb::Address {
        address: Some(pb::address::Address::TcpipAddress(
            pb::address::TcpIpAddress {
                ip_address,
                port: i32::from(addr.port()),
            },
        )),
    }
}

/// The proto form of a socket. With `summary`, only the ref and addresses:
/// the spec lets a summary leave out the data, and we leave it all out.
///
/// Never filled, because hyper and h2 do not expose them: flow-control
/// windows, keepalives sent, the received GOAWAY code, the peer's
/// max-concurrent-streams and socket options.
pub fn socket_proto(s: &SocketNode, summary: bool) -> pb::Socket {
    let security = s.tls().map(|tls| pb::Security {
        model: Some(pb::security::Model::Tls(pb::security::Tls {
            cipher_suite: match (&tls.standard_name, &tls.other_name) {
                (Some(n), _) => Some(pb::security::tls::CipherSuite::StandardName(n.clone())),
                (None, Some(n)) => Some(pb::security::tls::CipherSuite::OtherName(n.clone())),
                (None, None) => None,
            },
            local_certificate: tls.local_certificate.clone(),
            remote_certificate: tls.remote_certificate.clone(),
        })),
    });
    let data = (!summary && s.kind != SocketKind::Listen).then(|| {
        let m = s.metrics.snapshot();
        pb::SocketData {
            streams_started: m.streams_started,
            streams_succeeded: m.streams_succeeded,
            streams_failed: m.streams_failed,
            messages_sent: m.messages_sent,
            messages_received: m.messages_received,
            keep_alives_sent: 0,
            last_local_stream_created_timestamp: timestamp(m.last_local_stream_nanos),
            last_remote_stream_created_timestamp: timestamp(m.last_remote_stream_nanos),
            last_message_sent_timestamp: timestamp(m.last_message_sent_nanos),
            last_message_received_timestamp: timestamp(m.last_message_received_nanos),
            local_flow_control_window: None,
            remote_flow_control_window: None,
            option: Vec::new(),
            received_goaway_error: None,
            peer_max_concurrent_streams: 0,
        }
    });
    pb::Socket {
        r#ref: Some(socket_ref(s)),
        data,
        local: s.local.map(address),
        remote: s.remote.map(address),
        security: if summary { None } else { security },
        remote_name: s.remote_name.clone(),
    }
}

fn not_found(kind: &str, id: i64) -> Status {
    Status::not_found(format!("no {kind} with id {id}"))
}

#[tonic::async_trait]
impl Channelz for ChannelzService {
    async fn get_top_channels(
        &self,
        request: Request<pb::GetTopChannelsRequest>,
    ) -> Result<Response<pb::GetTopChannelsResponse>, Status> {
        let req = request.into_inner();
        let (channels, end) = self
            .registry
            .channels_page(req.start_channel_id, self.limit(req.max_results));
        Ok(Response::new(pb::GetTopChannelsResponse {
            channel: channels.iter().map(|c| channel_proto(c)).collect(),
            end,
        }))
    }

    async fn get_servers(
        &self,
        request: Request<pb::GetServersRequest>,
    ) -> Result<Response<pb::GetServersResponse>, Status> {
        let req = request.into_inner();
        let (servers, end) = self
            .registry
            .servers_page(req.start_server_id, self.limit(req.max_results));
        Ok(Response::new(pb::GetServersResponse {
            server: servers.iter().map(|s| server_proto(s)).collect(),
            end,
        }))
    }

    async fn get_server(
        &self,
        request: Request<pb::GetServerRequest>,
    ) -> Result<Response<pb::GetServerResponse>, Status> {
        let id = request.into_inner().server_id;
        let server = self
            .registry
            .server(id)
            .ok_or_else(|| not_found("server", id))?;
        Ok(Response::new(pb::GetServerResponse {
            server: Some(server_proto(&server)),
        }))
    }

    async fn get_server_sockets(
        &self,
        request: Request<pb::GetServerSocketsRequest>,
    ) -> Result<Response<pb::GetServerSocketsResponse>, Status> {
        let req = request.into_inner();
        let server: Arc<ServerNode> = self
            .registry
            .server(req.server_id)
            .ok_or_else(|| not_found("server", req.server_id))?;
        let (sockets, end) = server.sockets_page(req.start_socket_id, self.limit(req.max_results));
        Ok(Response::new(pb::GetServerSocketsResponse {
            socket_ref: sockets.iter().map(|s| socket_ref(s)).collect(),
            end,
        }))
    }

    async fn get_channel(
        &self,
        request: Request<pb::GetChannelRequest>,
    ) -> Result<Response<pb::GetChannelResponse>, Status> {
        let id = request.into_inner().channel_id;
        let channel = self
            .registry
            .channel(id)
            .ok_or_else(|| not_found("channel", id))?;
        Ok(Response::new(pb::GetChannelResponse {
            channel: Some(channel_proto(&channel)),
        }))
    }

    async fn get_subchannel(
        &self,
        request: Request<pb::GetSubchannelRequest>,
    ) -> Result<Response<pb::GetSubchannelResponse>, Status> {
        let id = request.into_inner().subchannel_id;
        let sub = self
            .registry
            .subchannel(id)
            .ok_or_else(|| not_found("subchannel", id))?;
        Ok(Response::new(pb::GetSubchannelResponse {
            subchannel: Some(subchannel_proto(&sub)),
        }))
    }

    async fn get_socket(
        &self,
        request: Request<pb::GetSocketRequest>,
    ) -> Result<Response<pb::GetSocketResponse>, Status> {
        let req = request.into_inner();
        let socket = self
            .registry
            .socket(req.socket_id)
            .ok_or_else(|| not_found("socket", req.socket_id))?;
        Ok(Response::new(pb::GetSocketResponse {
            socket: Some(socket_proto(&socket, req.summary)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_and_is_capped() {
        let svc = ChannelzService::new(Registry::new());
        assert_eq!(svc.limit(0), DEFAULT_PAGE_SIZE);
        assert_eq!(svc.limit(-5), DEFAULT_PAGE_SIZE);
        assert_eq!(svc.limit(7), 7);
        assert_eq!(svc.limit(i64::MAX), MAX_PAGE_SIZE);
        let small = ChannelzService::new(Registry::new()).with_max_page_size(10);
        assert_eq!(small.limit(0), 10);
        assert_eq!(small.limit(50), 10);
    }

    #[tokio::test]
    async fn every_single_entity_rpc_answers_not_found_for_unknown_ids() {
        let registry = Registry::new();
        let channel = registry.register_channel("t");
        let svc = ChannelzService::new(registry);
        // An id that exists, but as another kind, is unknown too.
        let id = channel.id();
        let codes = [
            svc.get_server(Request::new(pb::GetServerRequest { server_id: id }))
                .await
                .err(),
            svc.get_server_sockets(Request::new(pb::GetServerSocketsRequest {
                server_id: id,
                ..Default::default()
            }))
            .await
            .err(),
            svc.get_subchannel(Request::new(pb::GetSubchannelRequest { subchannel_id: id }))
                .await
                .err(),
            svc.get_socket(Request::new(pb::GetSocketRequest {
                socket_id: id,
                summary: false,
            }))
            .await
            .err(),
            svc.get_channel(Request::new(pb::GetChannelRequest { channel_id: id + 1 }))
                .await
                .err(),
        ];
        for status in codes {
            assert_eq!(status.map(|s| s.code()), Some(tonic::Code::NotFound));
        }
        let found = svc
            .get_channel(Request::new(pb::GetChannelRequest { channel_id: id }))
            .await;
        assert!(found.is_ok());
    }

    #[test]
    fn timestamps_split_nanos_and_leave_never_absent() {
        assert_eq!(timestamp(0), None);
        let ts = timestamp(1_700_000_000_123_456_789).expect("a time");
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123_456_789));
    }
}
