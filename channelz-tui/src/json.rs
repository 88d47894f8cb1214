//! Monitoring mode: a complete snapshot as JSON.
//!
//! Entities use the exact proto3 JSON mapping (lowerCamelCase names, int64
//! as strings, RFC 3339 times, `@type` on `Any`), produced by transcoding
//! each prost message into a `prost_reflect::DynamicMessage` over the
//! generated descriptor set. A serde derive on the prost structs would not
//! be that mapping. Resolved children go in added arrays (`childChannels`,
//! `subchannels`, `sockets`, and `listenSockets` on servers) and rates in an
//! added `rates` object, so a consumer strips those keys and parses the rest
//! straight back into the Channelz messages.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

use grpc_toolkit_proto::channelz::v1::{Channel, Server, Socket, Subchannel};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Value, json};

use crate::decode;
use crate::model::EntityId;
use crate::poll::{self, Api, PollError};

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(grpc_toolkit_proto::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The proto3 JSON of `message`, whose full protobuf name is `name`.
pub fn proto_json<M: Message>(message: &M, name: &str) -> Value {
    let Some(desc) = pool().and_then(|p| p.get_message_by_name(name)) else {
        // Only reachable if the generated descriptor set is broken, which the
        // proto crate's tests rule out; an explicit marker beats a panic.
        return json!({ "error": format!("no descriptor for {name}") });
    };
    match DynamicMessage::decode(desc, message.encode_to_vec().as_slice()) {
        Ok(dynamic) => {
            serde_json::to_value(&dynamic).unwrap_or_else(|e| json!({ "error": e.to_string() }))
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Everything one snapshot found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// When the snapshot completed.
    pub at: Option<SystemTime>,
    /// Top channels in id order.
    pub channels: Vec<Channel>,
    /// Servers in id order.
    pub servers: Vec<Server>,
    /// Nested channels by id.
    pub nested: HashMap<i64, Channel>,
    /// Subchannels by id.
    pub subchannels: HashMap<i64, Subchannel>,
    /// Sockets by id.
    pub sockets: HashMap<i64, Socket>,
    /// Every socket id of each server (all `GetServerSockets` pages).
    pub server_sockets: HashMap<i64, Vec<i64>>,
}

/// Cumulative counters of each entity in a snapshot, to derive rates from
/// the next one.
pub type Counters = HashMap<EntityId, CallCounts>;

/// One entity's cumulative call (or, for sockets, stream) counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallCounts {
    /// When the snapshot that read them completed.
    pub at: SystemTime,
    /// Calls (streams) started.
    pub started: i64,
    /// Calls (streams) failed.
    pub failed: i64,
}

/// Takes a complete snapshot: every page of every list, every descendant.
pub async fn take(api: &Api) -> Result<Snapshot, PollError> {
    let (channels, servers) = tokio::try_join!(api.top_channels(), api.servers())?;
    let (details, server_sockets) = poll::everything(api, &channels, &servers).await?;
    Ok(Snapshot {
        at: Some(SystemTime::now()),
        channels,
        servers,
        nested: details
            .channels
            .into_iter()
            .filter_map(|c| c.r#ref.as_ref().map(|r| r.channel_id).map(|id| (id, c)))
            .collect(),
        subchannels: details
            .subchannels
            .into_iter()
            .filter_map(|c| c.r#ref.as_ref().map(|r| r.subchannel_id).map(|id| (id, c)))
            .collect(),
        sockets: details
            .sockets
            .into_iter()
            .filter_map(|c| c.r#ref.as_ref().map(|r| r.socket_id).map(|id| (id, c)))
            .collect(),
        server_sockets,
    })
}

impl Snapshot {
    /// The counters of every entity, for the next snapshot's rates.
    pub fn counters(&self) -> Counters {
        let at = self.at.unwrap_or(SystemTime::UNIX_EPOCH);
        let mut out = Counters::new();
        for c in self.channels.iter().chain(self.nested.values()) {
            if let (Some(r), Some(d)) = (&c.r#ref, &c.data) {
                out.insert(
                    EntityId::Channel(r.channel_id),
                    CallCounts {
                        at,
                        started: d.calls_started,
                        failed: d.calls_failed,
                    },
                );
            }
        }
        for s in self.subchannels.values() {
            if let (Some(r), Some(d)) = (&s.r#ref, &s.data) {
                out.insert(
                    EntityId::Subchannel(r.subchannel_id),
                    CallCounts {
                        at,
                        started: d.calls_started,
                        failed: d.calls_failed,
                    },
                );
            }
        }
        for s in &self.servers {
            if let (Some(r), Some(d)) = (&s.r#ref, &s.data) {
                out.insert(
                    EntityId::Server(r.server_id),
                    CallCounts {
                        at,
                        started: d.calls_started,
                        failed: d.calls_failed,
                    },
                );
            }
        }
        for s in self.sockets.values() {
            if let (Some(r), Some(d)) = (&s.r#ref, &s.data) {
                out.insert(
                    EntityId::Socket(r.socket_id),
                    CallCounts {
                        at,
                        started: d.streams_started,
                        failed: d.streams_failed,
                    },
                );
            }
        }
        out
    }

    /// The snapshot as one JSON document; `previous` (the last snapshot's
    /// counters) fills the rates, which are null without it.
    pub fn to_json(&self, target: &str, previous: Option<&Counters>) -> Value {
        let mut buf = Vec::new();
        match self.write_json(target, previous, &mut buf) {
            Ok(()) => {
                serde_json::from_slice(&buf).unwrap_or_else(|e| json!({ "error": e.to_string() }))
            }
            Err(e) => json!({ "error": e.to_string() }),
        }
    }

    /// Writes the document of [`Snapshot::to_json`] (no trailing newline),
    /// one top-level entity at a time, so that memory holds one entity's
    /// JSON tree rather than the whole document's.
    pub fn write_json(
        &self,
        target: &str,
        previous: Option<&Counters>,
        w: &mut dyn Write,
    ) -> std::io::Result<()> {
        let now = self.counters();
        let rates = |id: EntityId| -> Value {
            let pair = previous.and_then(|p| p.get(&id)).zip(now.get(&id));
            match pair {
                Some((before, after)) => {
                    let dt = after
                        .at
                        .duration_since(before.at)
                        .unwrap_or_default()
                        .as_secs_f64();
                    if dt > 0.0 && after.started >= before.started && after.failed >= before.failed
                    {
                        json!({
                            "callsPerSecond": (after.started - before.started) as f64 / dt,
                            "failuresPerSecond": (after.failed - before.failed) as f64 / dt,
                        })
                    } else {
                        json!({ "callsPerSecond": null, "failuresPerSecond": null })
                    }
                }
                None => json!({ "callsPerSecond": null, "failuresPerSecond": null }),
            }
        };
        let ctx = Ctx {
            snap: self,
            rates: &rates,
        };
        let time = decode::rfc3339(self.at.unwrap_or(SystemTime::UNIX_EPOCH));
        write!(
            w,
            "{{\"target\":{},\"time\":{},\"channels\":[",
            Value::String(target.into()),
            Value::String(time)
        )?;
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, &ctx.channel(c, 0))?;
        }
        w.write_all(b"],\"servers\":[")?;
        for (i, s) in self.servers.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, &ctx.server(s))?;
        }
        w.write_all(b"]}")
    }
}

struct Ctx<'a> {
    snap: &'a Snapshot,
    rates: &'a dyn Fn(EntityId) -> Value,
}

impl Ctx<'_> {
    fn server(&self, s: &Server) -> Value {
        let id = s.r#ref.as_ref().map_or(0, |r| r.server_id);
        let mut v = proto_json(s, "grpc.channelz.v1.Server");
        let mut listen: Vec<i64> = s.listen_socket.iter().map(|r| r.socket_id).collect();
        listen.sort_unstable();
        let listen: Vec<Value> = listen.iter().filter_map(|id| self.socket(*id)).collect();
        let sockets: Vec<Value> = self
            .snap
            .server_sockets
            .get(&id)
            .map(|ids| ids.iter().filter_map(|id| self.socket(*id)).collect())
            .unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("listenSockets".into(), Value::Array(listen));
            obj.insert("sockets".into(), Value::Array(sockets));
            obj.insert("rates".into(), (self.rates)(EntityId::Server(id)));
        }
        v
    }

    fn channel(&self, c: &Channel, depth: usize) -> Value {
        let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id);
        let mut v = proto_json(c, "grpc.channelz.v1.Channel");
        self.children(
            &mut v,
            &c.channel_ref,
            &c.subchannel_ref,
            &c.socket_ref,
            depth,
        );
        if let Some(obj) = v.as_object_mut() {
            obj.insert("rates".into(), (self.rates)(EntityId::Channel(id)));
        }
        v
    }

    fn subchannel(&self, s: &Subchannel, depth: usize) -> Value {
        let id = s.r#ref.as_ref().map_or(0, |r| r.subchannel_id);
        let mut v = proto_json(s, "grpc.channelz.v1.Subchannel");
        self.children(
            &mut v,
            &s.channel_ref,
            &s.subchannel_ref,
            &s.socket_ref,
            depth,
        );
        if let Some(obj) = v.as_object_mut() {
            obj.insert("rates".into(), (self.rates)(EntityId::Subchannel(id)));
        }
        v
    }

    fn socket(&self, id: i64) -> Option<Value> {
        let s = self.snap.sockets.get(&id)?;
        let mut v = proto_json(s, "grpc.channelz.v1.Socket");
        if let Some(obj) = v.as_object_mut() {
            obj.insert("rates".into(), (self.rates)(EntityId::Socket(id)));
        }
        Some(v)
    }

    fn children(
        &self,
        v: &mut Value,
        channels: &[grpc_toolkit_proto::channelz::v1::ChannelRef],
        subchannels: &[grpc_toolkit_proto::channelz::v1::SubchannelRef],
        sockets: &[grpc_toolkit_proto::channelz::v1::SocketRef],
        depth: usize,
    ) {
        // A cycle from a broken server must not recurse forever.
        if depth > 16 {
            return;
        }
        let sorted = |mut ids: Vec<i64>| {
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let child_channels: Vec<Value> = sorted(channels.iter().map(|r| r.channel_id).collect())
            .into_iter()
            .filter_map(|id| self.snap.nested.get(&id))
            .map(|c| self.channel(c, depth + 1))
            .collect();
        let subs: Vec<Value> = sorted(subchannels.iter().map(|r| r.subchannel_id).collect())
            .into_iter()
            .filter_map(|id| self.snap.subchannels.get(&id))
            .map(|s| self.subchannel(s, depth + 1))
            .collect();
        let socks: Vec<Value> = sorted(sockets.iter().map(|r| r.socket_id).collect())
            .into_iter()
            .filter_map(|id| self.socket(id))
            .collect();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("childChannels".into(), Value::Array(child_channels));
            obj.insert("subchannels".into(), Value::Array(subs));
            obj.insert("sockets".into(), Value::Array(socks));
        }
    }
}
