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
//!
//! A server's data may lie. Each entity is written in full once; wherever
//! it appears again (a ref shared by several parents, or a cycle) it is
//! written as `{"ref": …}`, its Channelz ref alone, which still parses as
//! its message. Nesting stops at [`TREE_DEPTH`] levels. A field that has no
//! proto3 JSON form (a timestamp or duration out of range, an `Any` of a
//! type this build does not know, such as an ALTS context) is left out of
//! the entity and listed in an added `unmapped` array as
//! `{"field": "data.lastCallStartedTimestamp", "seconds": "…", "nanos": …}`
//! or `{"field": "security.other.value", "typeUrl": "…", "value": "<base64>"}`,
//! so the rest of the entity is kept. The document's `incomplete` array
//! says where data was cut, refused or missing.
//!
//! After `incomplete`, an `xds` key carries the same poll's CSDS read:
//! per client scope (joined to the top channel whose target it names,
//! `xds:/svc` being Channelz's `xds:///svc`) the resources with type,
//! name, status, versions, times, the NACK reason and a decoded summary,
//! counts by status, `nacked`, `missing` and `dropped`; or
//! `{"unsupported": true}` for a server without CSDS, or `{"error": …}`.
//! A snapshot that did not ask (a recording made before CSDS was read)
//! has no `xds` key at all, so its document is what it was then.
//!
//! With several members (a fleet), the document is `{"time", "members":
//! [...]}`; [`write_member`] writes each entry, for live `--json` and for
//! `--replay --json` alike, so that a replayed document is the live one.

use std::collections::HashSet;
use std::io::Write;
use std::sync::OnceLock;
use std::time::SystemTime;

use grpc_toolkit_proto::channelz::v1::{Channel, Server, Socket, Subchannel};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, ReflectMessage};
use serde_json::{Value, json};

use crate::decode;
use crate::model::{CutReason, EntityId, Incomplete, TREE_DEPTH};
use crate::poll::{self, Api, Budget, PollError};
use crate::snapshot::{Counters, Snapshot};
use crate::xds::{STATUSES, StatusCounts, XdsPoll, scope_joins_target, short_type};

fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(grpc_toolkit_proto::FILE_DESCRIPTOR_SET).ok())
        .as_ref()
}

/// The proto3 JSON of `message`, whose full protobuf name is `name`. A
/// field without a JSON form is left out and described in an added
/// `unmapped` array (see the module documentation).
pub fn proto_json<M: Message>(message: &M, name: &str) -> Value {
    let Some(desc) = pool().and_then(|p| p.get_message_by_name(name)) else {
        // Only reachable if the generated descriptor set is broken, which the
        // proto crate's tests rule out; an explicit marker beats a panic.
        return json!({ "error": format!("no descriptor for {name}") });
    };
    let mut dynamic = match DynamicMessage::decode(desc, message.encode_to_vec().as_slice()) {
        Ok(dynamic) => dynamic,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    if let Ok(v) = serde_json::to_value(&dynamic) {
        return v;
    }
    let mut unmapped = Vec::new();
    unmap(&mut dynamic, "", &mut unmapped);
    match serde_json::to_value(&dynamic) {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("unmapped".into(), Value::Array(unmapped));
            }
            v
        }
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// Clears every field of `msg` (recursively) that has no proto3 JSON form,
/// describing each in `out`.
fn unmap(msg: &mut DynamicMessage, path: &str, out: &mut Vec<Value>) {
    let fields: Vec<prost_reflect::FieldDescriptor> = msg.fields().map(|(f, _)| f).collect();
    for field in fields {
        let name = format!("{path}{}", field.json_name());
        let mut clear = None;
        match msg.get_field_mut(&field) {
            prost_reflect::Value::Message(m) => match fallback(m) {
                Some(fb) => clear = Some(fb),
                None => unmap(m, &format!("{name}."), out),
            },
            prost_reflect::Value::List(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    if let prost_reflect::Value::Message(m) = item {
                        unmap(m, &format!("{name}[{i}]."), out);
                    }
                }
            }
            _ => {}
        }
        if let Some(mut fb) = clear {
            if let Some(obj) = fb.as_object_mut() {
                obj.insert("field".into(), Value::String(name));
            }
            out.push(fb);
            msg.clear_field(&field);
        }
    }
}

/// The fallback form of a well-known message that has no JSON form, or
/// `None` when it has one.
fn fallback(m: &DynamicMessage) -> Option<Value> {
    let int = |name: &str| m.get_field_by_name(name).and_then(|v| v.as_i64());
    let nanos = || {
        m.get_field_by_name("nanos")
            .and_then(|v| v.as_i32())
            .unwrap_or(0)
    };
    match m.descriptor().full_name() {
        "google.protobuf.Timestamp" => {
            let seconds = int("seconds").unwrap_or(0);
            let n = nanos();
            // 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
            let ok = (-62_135_596_800..=253_402_300_799).contains(&seconds)
                && (0..=999_999_999).contains(&n);
            (!ok).then(|| json!({ "seconds": seconds.to_string(), "nanos": n }))
        }
        "google.protobuf.Duration" => {
            let seconds = int("seconds").unwrap_or(0);
            let n = nanos();
            let ok = (-315_576_000_000..=315_576_000_000).contains(&seconds)
                && (-999_999_999..=999_999_999).contains(&n)
                && (seconds == 0 || n == 0 || (seconds > 0) == (n > 0));
            (!ok).then(|| json!({ "seconds": seconds.to_string(), "nanos": n }))
        }
        "google.protobuf.Any" => {
            let type_url = m
                .get_field_by_name("type_url")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let value = m
                .get_field_by_name("value")
                .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
                .unwrap_or_default();
            let name = type_url.rsplit('/').next().unwrap_or_default();
            let mappable = pool()
                .and_then(|p| p.get_message_by_name(name))
                .and_then(|d| DynamicMessage::decode(d, value.as_slice()).ok())
                .is_some_and(|inner| serde_json::to_value(&inner).is_ok());
            (!mappable).then(|| json!({ "typeUrl": type_url, "value": base64(&value) }))
        }
        _ => None,
    }
}

/// Standard base64 with padding, as proto3 JSON writes bytes.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Takes a complete snapshot: every page of every list, every descendant,
/// within the api's limits.
pub async fn take(api: &Api) -> Result<Snapshot, PollError> {
    let budget = Budget::new(api.limits);
    let (mut channels_cut, mut servers_cut) = (Vec::new(), Vec::new());
    let (channels, servers) = tokio::try_join!(
        api.top_channels(&budget, &mut channels_cut),
        api.servers(&budget, &mut servers_cut)
    )?;
    let mut snapshot = Snapshot::default();
    // CSDS beside the walk, not after it: a CSDS that hangs costs one RPC
    // deadline, not the walk's time plus that.
    let (walked, xds) = tokio::join!(
        poll::everything(api, &channels, &servers, &budget, &mut snapshot),
        api.xds()
    );
    let (details_cut, server_sockets) = walked?;
    let mut incomplete = channels_cut;
    incomplete.append(&mut servers_cut);
    incomplete.extend(details_cut);
    Ok(Snapshot {
        at: Some(SystemTime::now()),
        channels,
        servers,
        server_sockets,
        incomplete,
        xds: Some(xds),
        ..snapshot
    })
}

/// A snapshot's maps are filled as the walk fetches: one copy of each
/// entity, in a map sized before each level.
impl poll::Sink for Snapshot {
    fn reserve(&mut self, ids: &[EntityId]) {
        let (c, s, k) = poll::count_kinds(ids);
        self.nested.reserve(c);
        self.subchannels.reserve(s);
        self.sockets.reserve(k);
    }
    fn channel(&mut self, channel: Channel) {
        if let Some(id) = channel.r#ref.as_ref().map(|r| r.channel_id) {
            self.nested.insert(id, channel);
        }
    }
    fn subchannel(&mut self, subchannel: Subchannel) {
        if let Some(id) = subchannel.r#ref.as_ref().map(|r| r.subchannel_id) {
            self.subchannels.insert(id, subchannel);
        }
    }
    fn socket(&mut self, socket: Socket) {
        if let Some(id) = socket.r#ref.as_ref().map(|r| r.socket_id) {
            self.sockets.insert(id, socket);
        }
    }
}

impl Snapshot {
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
        let mut writer = Writer {
            snap: self,
            rates: &rates,
            shown: HashSet::new(),
            path: HashSet::new(),
            cut: Vec::new(),
        };
        let time = decode::rfc3339(self.at.unwrap_or(SystemTime::UNIX_EPOCH));
        write!(
            w,
            "{{\"target\":{},\"time\":{},\"channels\":[",
            Value::String(target.into()),
            Value::String(time)
        )?;
        // Top channels are shown at the top level: a channel that lists
        // one as its child shows it as a ref.
        writer.shown.extend(
            self.channels
                .iter()
                .filter_map(|c| c.r#ref.as_ref().map(|r| EntityId::Channel(r.channel_id))),
        );
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            let id = EntityId::Channel(c.r#ref.as_ref().map_or(0, |r| r.channel_id));
            writer.path.insert(id);
            writer.channel(w, c, 0)?;
            writer.path.remove(&id);
        }
        w.write_all(b"],\"servers\":[")?;
        for (i, s) in self.servers.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            writer.server(w, s)?;
        }
        w.write_all(b"],\"incomplete\":")?;
        let mut seen = HashSet::new();
        let incomplete: Vec<Value> = self
            .incomplete
            .iter()
            .chain(&writer.cut)
            .filter(|i| seen.insert(*i))
            .map(|i| json!({ "entity": i.entity, "reason": i.reason.name(), "detail": i.detail }))
            .collect();
        serde_json::to_writer(&mut *w, &incomplete)?;
        if let Some(xds) = &self.xds {
            w.write_all(b",\"xds\":")?;
            xds_section(w, xds, &self.channels)?;
        }
        w.write_all(b"}")
    }
}

/// Writes the `xds` section (see the module documentation and
/// docs-pending/xjson.md for its schema): one resource's JSON at a time,
/// so 100,000 resources are never one tree in memory. Text is the
/// server's, cut to `MAX_TEXT` characters (the reader cut it already; a
/// replayed recording is cut again by its reader) and left for the JSON
/// encoder to escape.
fn xds_section(w: &mut dyn Write, xds: &XdsPoll, channels: &[Channel]) -> std::io::Result<()> {
    let status = match xds {
        XdsPoll::Status(status) => status,
        XdsPoll::Unsupported => return w.write_all(b"{\"unsupported\":true}"),
        XdsPoll::Failed(error) => {
            return serde_json::to_writer(&mut *w, &json!({ "error": cut(error) }))
                .map_err(Into::into);
        }
    };
    let all = StatusCounts::of(&status.scopes);
    write!(
        w,
        "{{\"counts\":{},\"nacked\":{},\"missing\":{},\"dropped\":{},\"scopes\":[",
        counts_json(&all),
        all.nacked(),
        all.missing(),
        status.dropped
    )?;
    for (i, scope) in status.scopes.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        // The first (lowest id) top channel whose target is the scope.
        let channel = channels
            .iter()
            .find(|c| {
                c.data
                    .as_ref()
                    .is_some_and(|d| scope_joins_target(&scope.client_scope, &d.target))
            })
            .and_then(|c| c.r#ref.as_ref())
            .map(|r| Value::String(r.channel_id.to_string()));
        write!(
            w,
            "{{\"clientScope\":{},\"nodeId\":{},\"channelId\":{},\"counts\":{},\"resources\":[",
            Value::String(cut(&scope.client_scope)),
            Value::String(cut(&scope.node_id)),
            channel.unwrap_or(Value::Null),
            counts_json(&StatusCounts::of([scope])),
        )?;
        for (j, r) in scope.resources.iter().enumerate() {
            if j > 0 {
                w.write_all(b",")?;
            }
            serde_json::to_writer(&mut *w, &resource_json(r))?;
        }
        w.write_all(b"]}")?;
    }
    w.write_all(b"]}")
}

/// `{"UNKNOWN": n, "REQUESTED": n, ...}`, every status, zeros included.
fn counts_json(counts: &StatusCounts) -> Value {
    let mut out = serde_json::Map::new();
    for status in STATUSES {
        out.insert(status.as_str_name().into(), json!(counts.get(status)));
    }
    Value::Object(out)
}

/// At most `MAX_TEXT` characters.
fn cut(text: &str) -> String {
    text.chars()
        .take(grpc_toolkit_channelz_client::csds::MAX_TEXT)
        .collect()
}

/// A CSDS time (seconds since the epoch) as RFC 3339, or null when absent
/// or outside 1970-01-01..9999-12-31.
fn csds_time(seconds: Option<i64>) -> Value {
    seconds
        .filter(|s| (0..=253_402_300_799).contains(s))
        .and_then(|s| u64::try_from(s).ok())
        .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(s)))
        .map_or(Value::Null, |t| Value::String(decode::rfc3339(t)))
}

fn resource_json(r: &grpc_toolkit_channelz_client::csds::Resource) -> Value {
    use grpc_toolkit_channelz_client::csds::Summary;
    let summary = match &r.summary {
        Summary::None => Value::Null,
        Summary::Listener {
            route_config_name,
            inline_routes,
        } => json!({
            "kind": "listener",
            "routeConfigName": cut(route_config_name),
            "inlineRoutes": inline_routes,
        }),
        Summary::Route {
            virtual_hosts,
            clusters,
        } => json!({
            "kind": "route",
            "virtualHosts": virtual_hosts,
            "clusters": clusters.iter().map(|c| cut(c)).collect::<Vec<_>>(),
        }),
        Summary::Cluster {
            kind,
            eds_service_name,
        } => json!({
            "kind": "cluster",
            "clusterType": cut(kind),
            "edsServiceName": cut(eds_service_name),
        }),
        Summary::Endpoints { total, healthy } => json!({
            "kind": "endpoints",
            "total": total,
            "healthy": healthy,
        }),
        Summary::Other { type_url, size } => json!({
            "kind": "other",
            "typeUrl": cut(type_url),
            "size": size,
        }),
    };
    let type_url = cut(&r.type_url);
    json!({
        "type": short_type(&type_url),
        "typeUrl": type_url,
        "name": cut(&r.name),
        "status": r.status.as_str_name(),
        "version": cut(&r.version),
        "lastUpdated": csds_time(r.last_updated),
        "failure": r.failure.as_ref().map(|f| json!({
            "version": cut(&f.version),
            "details": cut(&f.details),
            "at": csds_time(f.at),
        })),
        "summary": summary,
    })
}

/// Writes entities one at a time, straight to the output: a channel with
/// 100,000 subchannels is never one JSON tree in memory.
struct Writer<'a> {
    snap: &'a Snapshot,
    rates: &'a dyn Fn(EntityId) -> Value,
    /// Entities written (or to be written at the top level) so far.
    shown: HashSet<EntityId>,
    /// The entity being written and its ancestors.
    path: HashSet<EntityId>,
    /// What writing cut: cycles and depth.
    cut: Vec<Incomplete>,
}

/// The Channelz ref of a child, as proto3 JSON: what a repeated, cut or
/// missing child is written as.
fn ref_json(id: EntityId, name: &str) -> Value {
    json!({ "ref": ref_object(id, name) })
}

/// The proto3 JSON of a Channelz ref: `{"channelId": "7", "name": "…"}`.
fn ref_object(id: EntityId, name: &str) -> Value {
    let (key, n) = match id {
        EntityId::Channel(n) => ("channelId", n),
        EntityId::Subchannel(n) => ("subchannelId", n),
        EntityId::Socket(n) => ("socketId", n),
        EntityId::Server(n) => ("serverId", n),
    };
    let mut r = serde_json::Map::new();
    r.insert(key.into(), Value::String(n.to_string()));
    if !name.is_empty() {
        r.insert("name".into(), Value::String(name.into()));
    }
    Value::Object(r)
}

/// Writes `,"key":[ref, …]` into an open object, one ref at a time, or
/// nothing for no refs (proto3 JSON leaves empty lists out).
fn ref_list<'a>(
    w: &mut dyn Write,
    key: &str,
    refs: impl Iterator<Item = (EntityId, &'a str)>,
) -> std::io::Result<()> {
    let mut refs = refs.peekable();
    if refs.peek().is_none() {
        return Ok(());
    }
    write!(w, ",\"{key}\":[")?;
    for (i, (id, name)) in refs.enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        serde_json::to_writer(&mut *w, &ref_object(id, name))?;
    }
    w.write_all(b"]")
}

/// The three ref lists of a channel or subchannel, as proto3 JSON fields.
fn ref_lists(
    w: &mut dyn Write,
    channels: &[grpc_toolkit_proto::channelz::v1::ChannelRef],
    subchannels: &[grpc_toolkit_proto::channelz::v1::SubchannelRef],
    sockets: &[grpc_toolkit_proto::channelz::v1::SocketRef],
) -> std::io::Result<()> {
    ref_list(
        w,
        "channelRef",
        channels
            .iter()
            .map(|r| (EntityId::Channel(r.channel_id), r.name.as_str())),
    )?;
    ref_list(
        w,
        "subchannelRef",
        subchannels
            .iter()
            .map(|r| (EntityId::Subchannel(r.subchannel_id), r.name.as_str())),
    )?;
    ref_list(
        w,
        "socketRef",
        sockets
            .iter()
            .map(|r| (EntityId::Socket(r.socket_id), r.name.as_str())),
    )
}

/// Writes `v` (an object) without its closing brace, so that added arrays
/// can follow it.
fn write_open(w: &mut dyn Write, mut v: Value, rates: Value) -> std::io::Result<()> {
    if let Some(obj) = v.as_object_mut() {
        obj.insert("rates".into(), rates);
    }
    let mut text = serde_json::to_vec(&v)?;
    // `rates` makes it a non-empty object: it ends in `}`.
    text.pop();
    w.write_all(&text)
}

impl Writer<'_> {
    fn server(&mut self, w: &mut dyn Write, s: &Server) -> std::io::Result<()> {
        let id = s.r#ref.as_ref().map_or(0, |r| r.server_id);
        let bare = Server {
            r#ref: s.r#ref.clone(),
            data: s.data.clone(),
            ..Server::default()
        };
        let v = proto_json(&bare, "grpc.channelz.v1.Server");
        write_open(w, v, (self.rates)(EntityId::Server(id)))?;
        ref_list(
            w,
            "listenSocket",
            s.listen_socket
                .iter()
                .map(|r| (EntityId::Socket(r.socket_id), r.name.as_str())),
        )?;
        let mut listen: Vec<(i64, &str)> = s
            .listen_socket
            .iter()
            .map(|r| (r.socket_id, r.name.as_str()))
            .collect();
        listen.sort_unstable();
        listen.dedup_by_key(|(id, _)| *id);
        w.write_all(b",\"listenSockets\":[")?;
        for (i, (socket, name)) in listen.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            self.child(w, EntityId::Socket(*socket), name, 0)?;
        }
        w.write_all(b"],\"sockets\":[")?;
        let ids = self
            .snap
            .server_sockets
            .get(&id)
            .cloned()
            .unwrap_or_default();
        for (i, socket) in ids.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            self.child(w, EntityId::Socket(*socket), "", 0)?;
        }
        w.write_all(b"]}")
    }

    fn channel(&mut self, w: &mut dyn Write, c: &Channel, depth: usize) -> std::io::Result<()> {
        let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id);
        // The ref lists are written by `ref_lists`, one ref at a time: as
        // a JSON tree, 100,000 refs took ~100 MiB.
        let bare = Channel {
            r#ref: c.r#ref.clone(),
            data: c.data.clone(),
            ..Channel::default()
        };
        let v = proto_json(&bare, "grpc.channelz.v1.Channel");
        write_open(w, v, (self.rates)(EntityId::Channel(id)))?;
        ref_lists(w, &c.channel_ref, &c.subchannel_ref, &c.socket_ref)?;
        self.children(w, &c.channel_ref, &c.subchannel_ref, &c.socket_ref, depth)?;
        w.write_all(b"}")
    }

    fn subchannel(
        &mut self,
        w: &mut dyn Write,
        s: &Subchannel,
        depth: usize,
    ) -> std::io::Result<()> {
        let id = s.r#ref.as_ref().map_or(0, |r| r.subchannel_id);
        let bare = Subchannel {
            r#ref: s.r#ref.clone(),
            data: s.data.clone(),
            ..Subchannel::default()
        };
        let v = proto_json(&bare, "grpc.channelz.v1.Subchannel");
        write_open(w, v, (self.rates)(EntityId::Subchannel(id)))?;
        ref_lists(w, &s.channel_ref, &s.subchannel_ref, &s.socket_ref)?;
        self.children(w, &s.channel_ref, &s.subchannel_ref, &s.socket_ref, depth)?;
        w.write_all(b"}")
    }

    fn socket(&mut self, w: &mut dyn Write, s: &Socket) -> std::io::Result<()> {
        let id = s.r#ref.as_ref().map_or(0, |r| r.socket_id);
        let v = proto_json(s, "grpc.channelz.v1.Socket");
        write_open(w, v, (self.rates)(EntityId::Socket(id)))?;
        w.write_all(b"}")
    }

    /// The added child arrays of a channel or subchannel at `depth`.
    fn children(
        &mut self,
        w: &mut dyn Write,
        channels: &[grpc_toolkit_proto::channelz::v1::ChannelRef],
        subchannels: &[grpc_toolkit_proto::channelz::v1::SubchannelRef],
        sockets: &[grpc_toolkit_proto::channelz::v1::SocketRef],
        depth: usize,
    ) -> std::io::Result<()> {
        fn sorted(mut refs: Vec<(EntityId, &str)>) -> Vec<(EntityId, &str)> {
            refs.sort_unstable_by_key(|(id, _)| *id);
            refs.dedup_by_key(|(id, _)| *id);
            refs
        }
        let lists = [
            (
                "childChannels",
                sorted(
                    channels
                        .iter()
                        .map(|r| (EntityId::Channel(r.channel_id), r.name.as_str()))
                        .collect(),
                ),
            ),
            (
                "subchannels",
                sorted(
                    subchannels
                        .iter()
                        .map(|r| (EntityId::Subchannel(r.subchannel_id), r.name.as_str()))
                        .collect(),
                ),
            ),
            (
                "sockets",
                sorted(
                    sockets
                        .iter()
                        .map(|r| (EntityId::Socket(r.socket_id), r.name.as_str()))
                        .collect(),
                ),
            ),
        ];
        for (key, refs) in lists {
            write!(w, ",\"{key}\":[")?;
            for (i, (id, name)) in refs.into_iter().enumerate() {
                if i > 0 {
                    w.write_all(b",")?;
                }
                self.child(w, id, name, depth)?;
            }
            w.write_all(b"]")?;
        }
        Ok(())
    }

    /// A child of an entity at `depth`: in full the first time, as its ref
    /// when it was shown already, is an ancestor (a cycle), lies too deep,
    /// or was not fetched (the fetch said why in `incomplete`).
    fn child(
        &mut self,
        w: &mut dyn Write,
        id: EntityId,
        name: &str,
        depth: usize,
    ) -> std::io::Result<()> {
        let as_ref = |w: &mut dyn Write| serde_json::to_writer(w, &ref_json(id, name));
        if self.path.contains(&id) {
            self.cut.push(Incomplete::new(
                id.label(),
                CutReason::Cycle,
                "refers back to an entity that contains it; shown once",
            ));
            return Ok(as_ref(w)?);
        }
        if self.shown.contains(&id) {
            return Ok(as_ref(w)?);
        }
        if depth >= TREE_DEPTH {
            self.cut.push(Incomplete::new(
                id.label(),
                CutReason::Depth,
                format!("more than {TREE_DEPTH} levels below a top entity"),
            ));
            return Ok(as_ref(w)?);
        }
        let snap = self.snap;
        self.shown.insert(id);
        self.path.insert(id);
        let written = match id {
            EntityId::Channel(n) => match snap.nested.get(&n) {
                Some(c) => self.channel(w, c, depth + 1),
                None => Ok(as_ref(w)?),
            },
            EntityId::Subchannel(n) => match snap.subchannels.get(&n) {
                Some(s) => self.subchannel(w, s, depth + 1),
                None => Ok(as_ref(w)?),
            },
            EntityId::Socket(n) => match snap.sockets.get(&n) {
                Some(s) => self.socket(w, s),
                None => Ok(as_ref(w)?),
            },
            EntityId::Server(_) => Ok(as_ref(w)?),
        };
        self.path.remove(&id);
        written
    }
}

/// Opens a fleet document (several members, `channelz-tui A B --json`): `{"time":…,"members":[`.
pub fn write_fleet_head(w: &mut dyn Write, time: SystemTime) -> std::io::Result<()> {
    write!(
        w,
        "{{\"time\":{},\"members\":[",
        // Milliseconds: intervals may be shorter than a second.
        Value::String(grpc_toolkit_conn::rfc3339(time))
    )
}

/// One member's entry of a fleet document: `"member"` and `"name"`, then
/// the member's one-target document (its rates from `previous`), or its
/// `"error"`. Live `--json` and `--replay --json` both write it here, so
/// that a replayed document is the live one.
pub fn write_member(
    w: &mut dyn Write,
    member: &str,
    name: &str,
    answer: Result<(&Snapshot, Option<&Counters>), &str>,
) -> std::io::Result<()> {
    write!(
        w,
        "{{\"member\":{},\"name\":{},",
        Value::String(member.to_owned()),
        Value::String(name.to_owned())
    )?;
    match answer {
        Ok((snapshot, previous)) => {
            // The one-target document, without its opening brace: the
            // member's keys come first in the same object.
            let mut rest = SkipFirstByte {
                inner: w,
                skipped: false,
            };
            snapshot.write_json(member, previous, &mut rest)
        }
        Err(error) => write!(w, "\"error\":{}}}", Value::String(error.to_owned())),
    }
}

/// Passes everything on but the first byte: the `{` of a document whose
/// keys join an object already open.
struct SkipFirstByte<'a> {
    inner: &'a mut dyn Write,
    skipped: bool,
}

impl Write for SkipFirstByte<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.skipped && !buf.is_empty() {
            self.skipped = true;
            return self.inner.write(&buf[1..]).map(|n| n + 1);
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
