//! A synthetic server's snapshots, poll after poll, for the recording
//! benchmark (`benches/record.rs`) and the record tests: `channels` top
//! channels, each with a subchannel and a socket carrying `TCP_INFO`, of
//! which `busy` take calls every poll (counters, last-call times, stream
//! and message counts, flow-control windows and `TCP_INFO` change), and
//! one server with a listen socket and a socket per busy channel.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grpc_toolkit_proto::channelz::v1::{
    Address, Channel, ChannelConnectivityState, ChannelData, ChannelRef, ChannelTrace,
    ChannelTraceEvent, Server, ServerData, ServerRef, Socket, SocketData, SocketOption,
    SocketOptionTcpInfo, SocketRef, Subchannel, SubchannelRef, address,
};
use prost::Message;

use crate::snapshot::Snapshot;

/// The shape of the synthetic server.
#[derive(Debug, Clone, Copy)]
pub struct Synthetic {
    /// Top channels.
    pub channels: i64,
    /// Of which this many take calls every poll.
    pub busy: i64,
    /// The time of poll 0.
    pub start: SystemTime,
    /// The poll interval.
    pub interval: Duration,
}

fn ts(t: SystemTime) -> Option<prost_types::Timestamp> {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Some(prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(0),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    })
}

fn addr(port: i64) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::TcpipAddress(address::TcpIpAddress {
            ip_address: vec![10, 1, (port >> 8) as u8, port as u8],
            port: i32::try_from(port % 60_000).unwrap_or(0),
        })),
    })
}

/// A pseudo-random number from `seed`, the same for the same seed.
fn jitter(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    x ^= x >> 31;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^ (x >> 29)
}

impl Synthetic {
    /// The poll `n`'s snapshot.
    pub fn snapshot(&self, n: u64) -> Snapshot {
        let at = self.start + self.interval * u32::try_from(n).unwrap_or(u32::MAX);
        let created = self.start - Duration::from_secs(3600);
        let mut snap = Snapshot {
            at: Some(at),
            ..Snapshot::default()
        };
        let n_i = i64::try_from(n).unwrap_or(0);
        let mut server_sockets = Vec::new();
        for i in 1..=self.channels {
            let busy = i <= self.busy;
            let calls = if busy {
                n_i * 50 + i64::try_from(jitter(n ^ (i as u64) << 20) % 20).unwrap_or(0)
            } else {
                100
            };
            let failed = if busy { calls / 97 } else { 1 };
            let last = if busy { at } else { created };
            let sub_id = 10_000 + i;
            let sock_id = 20_000 + i;
            let trace = ChannelTrace {
                num_events_logged: 3,
                creation_timestamp: ts(created),
                events: [
                    "Channel created",
                    "Resolver state updated",
                    "Channel switches to new LB policy \"pick_first\"",
                ]
                .iter()
                .map(|d| ChannelTraceEvent {
                    description: (*d).into(),
                    severity: 1,
                    timestamp: ts(created),
                    child_ref: None,
                })
                .collect(),
            };
            let data = ChannelData {
                state: Some(ChannelConnectivityState { state: 3 }),
                target: format!("dns:///backend-{i}.prod.svc.cluster.local:50051"),
                trace: Some(trace),
                calls_started: calls,
                calls_succeeded: calls - failed,
                calls_failed: failed,
                last_call_started_timestamp: ts(last),
                ..ChannelData::default()
            };
            snap.channels.push(Channel {
                r#ref: Some(ChannelRef {
                    channel_id: i,
                    name: String::new(),
                }),
                data: Some(data.clone()),
                channel_ref: vec![],
                subchannel_ref: vec![SubchannelRef {
                    subchannel_id: sub_id,
                    name: String::new(),
                }],
                socket_ref: vec![],
            });
            snap.subchannels.insert(
                sub_id,
                Subchannel {
                    r#ref: Some(SubchannelRef {
                        subchannel_id: sub_id,
                        name: String::new(),
                    }),
                    data: Some(ChannelData {
                        target: format!("10.1.{}.{}:50051", i >> 8, i & 255),
                        ..data
                    }),
                    channel_ref: vec![],
                    subchannel_ref: vec![],
                    socket_ref: vec![SocketRef {
                        socket_id: sock_id,
                        name: format!(
                            "10.0.0.7:{} -> 10.1.{}.{}:50051",
                            30_000 + i,
                            i >> 8,
                            i & 255
                        ),
                    }],
                },
            );
            snap.sockets
                .insert(sock_id, self.socket(sock_id, busy, calls, at, n));
            if busy {
                let id = 40_000 + i;
                server_sockets.push(id);
                snap.sockets.insert(id, self.socket(id, true, calls, at, n));
            }
        }
        let listen = 50_000;
        snap.sockets
            .insert(listen, self.socket(listen, false, 0, at, n));
        snap.servers.push(Server {
            r#ref: Some(ServerRef {
                server_id: 60_000,
                name: String::new(),
            }),
            data: Some(ServerData {
                trace: None,
                calls_started: n_i * 50 * self.busy,
                calls_succeeded: n_i * 49 * self.busy,
                calls_failed: n_i * self.busy,
                last_call_started_timestamp: ts(at),
            }),
            listen_socket: vec![SocketRef {
                socket_id: listen,
                name: "[::]:50051".into(),
            }],
        });
        snap.server_sockets = HashMap::from([(60_000, server_sockets)]);
        snap
    }

    fn socket(&self, id: i64, busy: bool, calls: i64, at: SystemTime, n: u64) -> Socket {
        let j = if busy {
            jitter(n ^ (id as u64) << 24)
        } else {
            7
        };
        let tcp = SocketOptionTcpInfo {
            tcpi_state: 1,
            tcpi_rto: 204_000,
            tcpi_snd_mss: 1448,
            tcpi_rcv_mss: 1448,
            tcpi_last_data_sent: if busy { (j % 900) as u32 } else { 3_600_000 },
            tcpi_last_data_recv: if busy { (j % 700) as u32 } else { 3_600_000 },
            tcpi_last_ack_recv: if busy { (j % 800) as u32 } else { 3_600_000 },
            tcpi_pmtu: 1500,
            tcpi_rcv_ssthresh: 64_076,
            tcpi_rtt: 200 + (j % 300) as u32,
            tcpi_rttvar: 50 + (j % 80) as u32,
            tcpi_snd_ssthresh: 2_147_483_647,
            tcpi_snd_cwnd: 10,
            tcpi_advmss: 1448,
            tcpi_reordering: 3,
            ..Default::default()
        };
        let last = if busy { ts(at) } else { ts(self.start) };
        Socket {
            r#ref: Some(SocketRef {
                socket_id: id,
                name: String::new(),
            }),
            data: Some(SocketData {
                streams_started: calls,
                streams_succeeded: calls - calls / 97,
                streams_failed: calls / 97,
                messages_sent: calls,
                messages_received: calls,
                keep_alives_sent: i64::try_from(n / 30).unwrap_or(0),
                last_local_stream_created_timestamp: last,
                last_remote_stream_created_timestamp: None,
                last_message_sent_timestamp: last,
                last_message_received_timestamp: last,
                local_flow_control_window: Some(65_535 - (j % 4096) as i64),
                remote_flow_control_window: Some(65_535 - (j % 2048) as i64),
                option: vec![
                    SocketOption {
                        name: "SO_LINGER".into(),
                        value: String::new(),
                        additional: None,
                    },
                    SocketOption {
                        name: "TCP_INFO".into(),
                        value: String::new(),
                        additional: Some(prost_types::Any {
                            type_url: "type.googleapis.com/grpc.channelz.v1.SocketOptionTcpInfo"
                                .into(),
                            value: tcp.encode_to_vec(),
                        }),
                    },
                ],
                received_goaway_error: None,
                peer_max_concurrent_streams: 100,
            }),
            local: addr(30_000 + id),
            remote: addr(50_051),
            security: None,
            remote_name: String::new(),
        }
    }
}
