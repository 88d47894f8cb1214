//! Channelz entities and models for the unit and snapshot tests, at a fixed
//! "now" so that no wall-clock time reaches a snapshot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grpc_toolkit_proto::channelz::v1::{
    Address, Channel, ChannelConnectivityState, ChannelData, ChannelRef, ChannelTrace,
    ChannelTraceEvent, Security, Server, ServerData, ServerRef, Socket, SocketData, SocketOption,
    SocketOptionTcpInfo, SocketRef, Subchannel, SubchannelRef, address, security,
};
use prost::Message;

use crate::model::{HealthReport, Link, Model, ServiceHealth};
use crate::msg::{Details, Msg};
use crate::outage::Outage;
use crate::update::update;

/// The fixed "now" of every test.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// `now` minus `secs`.
pub fn ago(secs: u64) -> SystemTime {
    now() - Duration::from_secs(secs)
}

fn ts(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: 0,
    }
}

fn event(desc: &str, severity: i32, secs_ago: u64) -> ChannelTraceEvent {
    ChannelTraceEvent {
        description: desc.into(),
        severity,
        timestamp: Some(ts(ago(secs_ago))),
        child_ref: None,
    }
}

/// A channel's data.
pub fn data(target: &str, state: i32, started: i64, ok: i64, failed: i64) -> ChannelData {
    ChannelData {
        state: Some(ChannelConnectivityState { state }),
        target: target.into(),
        trace: Some(ChannelTrace {
            num_events_logged: 4,
            creation_timestamp: Some(ts(ago(600))),
            events: vec![
                event("Channel created", 1, 600),
                event("Subchannel connection failed: connection refused", 0, 300),
                event("Channel switched to IDLE", 0, 200),
                event("state changed to READY", 1, 100),
            ],
        }),
        calls_started: started,
        calls_succeeded: ok,
        calls_failed: failed,
        // grpc-go's "never": the zero time.Time.
        last_call_started_timestamp: Some(if started > 0 {
            ts(ago(2))
        } else {
            prost_types::Timestamp {
                seconds: -62_135_596_800,
                nanos: 0,
            }
        }),
        max_connections_per_subchannel: 0,
    }
}

/// A top channel with subchannels.
pub fn channel(
    id: i64,
    target: &str,
    state: i32,
    calls: (i64, i64, i64),
    subchannels: &[i64],
) -> Channel {
    Channel {
        r#ref: Some(ChannelRef {
            channel_id: id,
            name: target.into(),
        }),
        data: Some(data(target, state, calls.0, calls.1, calls.2)),
        channel_ref: vec![],
        // Unsorted on purpose, as grpc-go sends them.
        subchannel_ref: subchannels
            .iter()
            .rev()
            .map(|s| SubchannelRef {
                subchannel_id: *s,
                name: String::new(),
            })
            .collect(),
        socket_ref: vec![],
    }
}

/// A subchannel with sockets.
pub fn subchannel(
    id: i64,
    target: &str,
    state: i32,
    calls: (i64, i64, i64),
    sockets: &[i64],
) -> Subchannel {
    Subchannel {
        r#ref: Some(SubchannelRef {
            subchannel_id: id,
            name: target.into(),
        }),
        data: Some(data(target, state, calls.0, calls.1, calls.2)),
        channel_ref: vec![],
        subchannel_ref: vec![],
        socket_ref: sockets
            .iter()
            .map(|s| SocketRef {
                socket_id: *s,
                name: String::new(),
            })
            .collect(),
    }
}

/// A server with listen sockets.
pub fn server(id: i64, listen: &[(i64, &str)], calls: (i64, i64, i64)) -> Server {
    Server {
        r#ref: Some(ServerRef {
            server_id: id,
            name: String::new(),
        }),
        data: Some(ServerData {
            trace: None,
            calls_started: calls.0,
            calls_succeeded: calls.1,
            calls_failed: calls.2,
            last_call_started_timestamp: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
        }),
        listen_socket: listen
            .iter()
            .map(|(id, name)| SocketRef {
                socket_id: *id,
                name: (*name).into(),
            })
            .collect(),
    }
}

fn v4(port: i32) -> Address {
    Address {
        address: Some(address::Address::TcpipAddress(address::TcpIpAddress {
            ip_address: vec![10, 0, 0, 7],
            port,
        })),
    }
}

/// A connection socket with TCP_INFO, a timeout option and no security.
pub fn socket(id: i64) -> Socket {
    let tcp = SocketOptionTcpInfo {
        tcpi_rtt: 2500,
        tcpi_rttvar: 400,
        tcpi_snd_cwnd: 10,
        tcpi_retransmits: 1,
        tcpi_snd_mss: 1448,
        tcpi_pmtu: 1500,
        tcpi_rto: 204_000,
        ..Default::default()
    };
    Socket {
        r#ref: Some(SocketRef {
            socket_id: id,
            name: String::new(),
        }),
        data: Some(SocketData {
            streams_started: 40,
            streams_succeeded: 38,
            streams_failed: 2,
            messages_sent: 40,
            messages_received: 38,
            keep_alives_sent: 3,
            last_local_stream_created_timestamp: Some(ts(ago(5))),
            last_remote_stream_created_timestamp: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            last_message_sent_timestamp: Some(ts(ago(5))),
            last_message_received_timestamp: Some(ts(ago(4))),
            local_flow_control_window: Some(65_535),
            remote_flow_control_window: None,
            option: vec![
                SocketOption {
                    name: "TCP_INFO".into(),
                    value: String::new(),
                    additional: Some(prost_types::Any {
                        type_url: "type.googleapis.com/grpc.channelz.v1.SocketOptionTcpInfo".into(),
                        value: tcp.encode_to_vec(),
                    }),
                },
                SocketOption {
                    name: "SO_KEEPALIVE".into(),
                    value: "1".into(),
                    additional: None,
                },
            ],
            received_goaway_error: None,
            peer_max_concurrent_streams: 100,
        }),
        local: Some(v4(40_000 + id as i32)),
        remote: Some(v4(50051)),
        security: None,
        remote_name: String::new(),
    }
}

/// A DER certificate for `localhost` and 127.0.0.1, valid until 4096.
pub fn certificate() -> Vec<u8> {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen");
    key.cert.der().to_vec()
}

/// A socket with TLS: a real remote certificate and a broken local one.
pub fn tls_socket(id: i64) -> Socket {
    let mut s = socket(id);
    s.security = Some(Security {
        model: Some(security::Model::Tls(security::Tls {
            local_certificate: b"not der".to_vec(),
            remote_certificate: certificate(),
            cipher_suite: Some(security::tls::CipherSuite::StandardName(
                "TLS_AES_128_GCM_SHA256".into(),
            )),
        })),
    });
    s
}

/// A model that has seen two overview polls of a small server.
pub fn populated() -> Model {
    let mut m = Model::new(
        "dns:///backend.example:443",
        Duration::from_secs(1),
        ago(10),
    );
    update(&mut m, Msg::Connected);
    for (i, t) in [ago(2), ago(1)].into_iter().enumerate() {
        let k = i as i64;
        update(
            &mut m,
            Msg::Overview {
                at: t,
                channels: vec![
                    channel(
                        1,
                        "dns:///backend.example:443",
                        3,
                        (100 + 10 * k, 95 + 9 * k, 5 + k),
                        &[4, 3],
                    ),
                    channel(
                        2,
                        "dns:///flaky.example:443",
                        if k == 0 { 3 } else { 4 },
                        (50 + 4 * k, 20 + k, 30 + 3 * k),
                        &[5],
                    ),
                    channel(7, "unix:///run/sidecar.sock", 1, (0, 0, 0), &[]),
                ],
                servers: vec![server(
                    8,
                    &[(9, "[::]:50051")],
                    (1000 + 20 * k, 990 + 20 * k, 10),
                )],
                server_socket_counts: vec![(8, 3)],
                incomplete: vec![],
            },
        );
    }
    update(
        &mut m,
        Msg::Health(HealthReport {
            overall: Ok(1),
            services: Some(vec![
                ServiceHealth {
                    name: String::new(),
                    status: 1,
                },
                ServiceHealth {
                    name: "backend.Api".into(),
                    status: 2,
                },
            ]),
        }),
    );
    update(&mut m, Msg::Tick(now()));
    m
}

/// [`populated`] with details of channel 1 fetched.
pub fn with_details() -> Model {
    let mut m = populated();
    update(
        &mut m,
        Msg::Details(Details {
            at: Some(ago(1)),
            channels: vec![],
            subchannels: vec![
                subchannel(3, "10.0.0.1:443", 3, (60, 58, 2), &[10]),
                subchannel(4, "10.0.0.2:443", 2, (50, 46, 4), &[]),
            ],
            sockets: vec![socket(10), tls_socket(11)],
            server_sockets: vec![],
            incomplete: vec![],
        }),
    );
    m
}

/// [`with_details`] with `events` trace events on channel 1, numbered from
/// the oldest ("event 1", a minute apart) to the newest ("event {events}").
pub fn with_long_trace(events: u64) -> Model {
    let mut m = with_details();
    let trace = m.top_channels[0]
        .data
        .as_mut()
        .and_then(|d| d.trace.as_mut())
        .expect("channel 1 has a trace");
    trace.num_events_logged = events as i64 + 100;
    trace.events = (1..=events)
        .map(|i| event(&format!("event {i}"), 1, 60 * (events + 1 - i)))
        .collect();
    m
}

/// A model that has seen one overview of `n` top channels (ids 1..=n),
/// each with one subchannel (id 1000 + its channel's id).
pub fn many_channels(n: i64) -> Model {
    let mut m = Model::new("localhost:50051", Duration::from_secs(1), now());
    update(&mut m, Msg::Connected);
    update(
        &mut m,
        Msg::Overview {
            at: now(),
            channels: (1..=n)
                .map(|i| {
                    channel(
                        i,
                        &format!("dns:///backend-{i}.example:443"),
                        3,
                        (i, i, 0),
                        &[1000 + i],
                    )
                })
                .collect(),
            servers: vec![],
            server_socket_counts: vec![],
            incomplete: vec![],
        },
    );
    m
}

/// A model whose link is down before any data arrived.
pub fn disconnected() -> Model {
    let mut m = Model::new("localhost:50051", Duration::from_secs(1), now());
    update(
        &mut m,
        Msg::Disconnected {
            error: outage("connection refused (127.0.0.1:50051)"),
            retry_at: now() + Duration::from_secs(4),
        },
    );
    m
}

/// A connect failure that reads `text`.
pub fn outage(text: &str) -> Outage {
    Outage::from(grpc_toolkit_conn::ConnectError::Io {
        detail: text.into(),
    })
}

/// The resize message of a terminal `height` rows tall.
pub fn resize(height: u16) -> Msg {
    Msg::Resize(crate::view::panel_heights(height))
}

/// Sets the link of `m`.
pub fn set_link(m: &mut Model, link: Link) {
    m.link = link;
}
