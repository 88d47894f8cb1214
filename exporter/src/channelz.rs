//! `/channelz`: a target's Channelz (every page of every list) as metrics
//! with labels designed for Prometheus rather than copied from Channelz.
//!
//! Channelz ids churn with every new channel, so ids never become labels:
//! channels are aggregated by their `target`, servers by their listen
//! address(es). Counters stay monotonic across entities that vanish: the
//! last counts of a channel that closed stay in its group's total, so
//! `rate()` sees no false reset. Series per family are capped
//! (`channelz.max_series` in the module, default 500): the first groups
//! seen keep their own series for as long as the exporter runs (a stable
//! choice keeps each series monotonic), later ones are summed into one
//! series labelled `_other`, and `grpc_channelz_series_dropped` says how
//! many groups were folded.
//!
//! The default level reads only what the GetTopChannels and GetServers
//! pages carry. `channelz: {detail: true}` adds subchannels and sockets
//! (one RPC each), aggregated the same way.
//!
//! One connection per (module, target) is kept between scrapes and
//! dropped when a scrape finds it broken or when the target has not been
//! scraped for [`IDLE_DROP`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpc_toolkit_conn::{self as conn, ConnectOptions, Connection, RpcError, Target};
use grpc_toolkit_proto::channelz::v1::{
    self as pb, GetServerSocketsRequest, GetServersRequest, GetSocketRequest, GetSubchannelRequest,
    GetTopChannelsRequest,
};

use crate::allow::AllowList;
use crate::config::GrpcModule;
use crate::expose::{Families, Family};
use crate::probe::{self, Refused};

/// A target not scraped for this long loses its connection and state.
pub const IDLE_DROP: Duration = Duration::from_secs(600);
/// Label value of the series that sums the groups over the cap.
pub const OTHER: &str = "_other";
/// Page size asked for; servers may send more or fewer.
const PAGE: i64 = 500;

const STATES: [&str; 6] = [
    "UNKNOWN",
    "IDLE",
    "CONNECTING",
    "READY",
    "TRANSIENT_FAILURE",
    "SHUTDOWN",
];

/// Counters kept monotonic per group.
type Counts = Vec<f64>;

/// Sums of counters by group, monotonic across vanished entities.
#[derive(Debug, Default)]
struct Monotonic {
    live: HashMap<i64, (String, Counts)>,
    retired: HashMap<String, Counts>,
    kept: BTreeSet<String>,
}

fn add(into: &mut Counts, from: &[f64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0.0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

impl Monotonic {
    /// Takes this scrape's entities (id, group, counts) and returns totals
    /// by group, with groups over `cap` folded into [`OTHER`], and how many
    /// groups were folded.
    fn update(
        &mut self,
        current: Vec<(i64, String, Counts)>,
        cap: usize,
    ) -> (BTreeMap<String, Counts>, usize) {
        let ids: HashSet<i64> = current.iter().map(|(id, _, _)| *id).collect();
        for (id, (group, counts)) in self.live.drain() {
            if !ids.contains(&id) {
                add(self.retired.entry(group).or_default(), &counts);
            }
        }
        for (id, group, counts) in current {
            self.live.insert(id, (group, counts));
        }
        let mut totals: BTreeMap<String, Counts> = BTreeMap::new();
        for (group, counts) in &self.retired {
            add(totals.entry(group.clone()).or_default(), counts);
        }
        // Live entities in id order, so "first seen" is stable.
        let mut live: Vec<(&i64, &(String, Counts))> = self.live.iter().collect();
        live.sort_by_key(|(id, _)| **id);
        for (_, (group, counts)) in live {
            add(totals.entry(group.clone()).or_default(), counts);
        }
        self.fold(totals, cap)
    }

    fn fold(
        &mut self,
        totals: BTreeMap<String, Counts>,
        cap: usize,
    ) -> (BTreeMap<String, Counts>, usize) {
        let room = cap.saturating_sub(1).max(1);
        let mut out = BTreeMap::new();
        let mut folded = 0;
        for (group, counts) in totals {
            if !self.kept.contains(&group) && self.kept.len() < room {
                self.kept.insert(group.clone());
            }
            if self.kept.contains(&group) {
                out.insert(group, counts);
            } else {
                folded += 1;
                add(out.entry(OTHER.to_owned()).or_default(), &counts);
            }
        }
        (out, folded)
    }
}

/// Gauges (not monotonic) summed by group, folded like the counters.
fn fold_gauges(
    kept: &BTreeSet<String>,
    values: BTreeMap<String, Counts>,
) -> BTreeMap<String, Counts> {
    let mut out = BTreeMap::new();
    for (group, v) in values {
        let key = if kept.contains(&group) {
            group
        } else {
            OTHER.to_owned()
        };
        add(out.entry(key).or_default(), &v);
    }
    out
}

/// Per-target state between scrapes.
#[derive(Debug, Default)]
struct State {
    channels: Monotonic,
    servers: Monotonic,
    subchannels: Monotonic,
    client_sockets: Monotonic,
    server_sockets: Monotonic,
}

#[derive(Debug)]
struct Entry {
    connection: tokio::sync::Mutex<Option<Connection>>,
    state: Mutex<State>,
    last_used: Mutex<Instant>,
}

/// The connections and aggregates of every Channelz target.
#[derive(Debug, Default)]
pub struct Pool {
    entries: Mutex<HashMap<(String, String), Arc<Entry>>>,
}

#[derive(Debug, thiserror::Error)]
enum ScrapeError {
    #[error("connect: {0}")]
    Connect(#[from] conn::ConnectError),
    #[error("{what}: {source}")]
    Rpc {
        what: &'static str,
        source: RpcError,
    },
    #[error("{0}: pages do not advance")]
    Paging(&'static str),
    #[error("resolve: {0}")]
    Resolve(String),
}

impl ScrapeError {
    fn connection_lost(&self) -> bool {
        matches!(self, ScrapeError::Rpc { source, .. } if matches!(source.code(), tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled))
    }
}

fn secs_of(ts: &Option<prost_types::Timestamp>) -> Option<f64> {
    ts.as_ref()
        .map(|t| t.seconds as f64 + f64::from(t.nanos) / 1e9)
}

impl Pool {
    /// How many connections are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no connection is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry(&self, module: &str, target: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        entries.retain(|_, e| {
            now.duration_since(*e.last_used.lock().unwrap_or_else(|p| p.into_inner())) < IDLE_DROP
        });
        let entry = entries
            .entry((module.to_owned(), target.to_owned()))
            .or_insert_with(|| {
                Arc::new(Entry {
                    connection: tokio::sync::Mutex::new(None),
                    state: Mutex::new(State::default()),
                    last_used: Mutex::new(now),
                })
            })
            .clone();
        *entry.last_used.lock().unwrap_or_else(|p| p.into_inner()) = now;
        entry
    }

    /// Scrapes one target within `deadline`.
    pub async fn scrape(
        &self,
        module_name: &str,
        target: &str,
        module: &GrpcModule,
        deadline: tokio::time::Instant,
        allow: &AllowList,
    ) -> Result<Families, Refused> {
        let started = Instant::now();
        let options = options(target, module, deadline, allow).await;
        let options = match options {
            Ok(o) => o,
            Err(Ok(refused)) => return Err(refused),
            Err(Err(err)) => return Ok(failed(started, &err)),
        };
        let entry = self.entry(module_name, target);
        let mut slot = entry.connection.lock().await;
        let mut attempt = 0;
        let data = loop {
            attempt += 1;
            let connection = match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    let mut options = options.clone();
                    options.connect_timeout =
                        deadline.saturating_duration_since(tokio::time::Instant::now());
                    match conn::connect(&options).await {
                        Ok(c) => {
                            *slot = Some(c.clone());
                            c
                        }
                        Err(e) => return Ok(failed(started, &ScrapeError::Connect(e))),
                    }
                }
            };
            let fetched = tokio::time::timeout_at(
                deadline,
                fetch(&connection, module.channelz.detail, deadline),
            )
            .await;
            match fetched {
                Ok(Ok(data)) => break data,
                Ok(Err(e)) if e.connection_lost() && attempt == 1 => {
                    // A kept connection the server closed: redial once.
                    *slot = None;
                }
                Ok(Err(e)) => {
                    if e.connection_lost() {
                        *slot = None;
                    }
                    return Ok(failed(started, &e));
                }
                Err(_) => {
                    return Ok(failed(
                        started,
                        &ScrapeError::Rpc {
                            what: "Channelz",
                            source: RpcError::Timeout(started.elapsed()),
                        },
                    ));
                }
            }
        };
        drop(slot);
        let mut state = entry.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut families = render(&mut state, &data, module.channelz.max_series);
        families.add(
            Family::gauge(
                "grpc_channelz_scrape_success",
                "Whether the Channelz scrape succeeded",
            )
            .sample(&[], 1.0),
        );
        families.add(
            Family::gauge(
                "grpc_channelz_scrape_duration_seconds",
                "How long the Channelz scrape took",
            )
            .sample(&[], started.elapsed().as_secs_f64()),
        );
        Ok(families)
    }
}

fn failed(started: Instant, err: &ScrapeError) -> Families {
    let mut families = Families::default();
    families.add(
        Family::gauge(
            "grpc_channelz_scrape_success",
            "Whether the Channelz scrape succeeded",
        )
        .sample(&[], 0.0),
    );
    families.add(
        Family::gauge(
            "grpc_channelz_scrape_duration_seconds",
            "How long the Channelz scrape took",
        )
        .sample(&[], started.elapsed().as_secs_f64()),
    );
    let (kind, code) = match err {
        ScrapeError::Connect(e) => ("connect", e.code().to_owned()),
        ScrapeError::Rpc { source, .. } => ("rpc", conn::code_name(source.code()).to_owned()),
        ScrapeError::Paging(_) => ("rpc", "PAGING".to_owned()),
        ScrapeError::Resolve(_) => ("resolve", "DNS".to_owned()),
    };
    families.add(
        Family::gauge(
            "grpc_channelz_failure_info",
            "Why the Channelz scrape failed",
        )
        .sample(&[("kind", kind), ("code", &code)], 1.0),
    );
    families
}

/// Connect options for a target, resolved and checked against the allow-list.
async fn options(
    target: &str,
    module: &GrpcModule,
    deadline: tokio::time::Instant,
    allow: &AllowList,
) -> Result<ConnectOptions, Result<Refused, ScrapeError>> {
    let (parsed, tls) =
        probe::parse_target(target, module.tls).map_err(|e| Err(ScrapeError::Resolve(e)))?;
    let (dial, authority) = match &parsed {
        Target::Unix { path } => {
            if !allow.allows_unix(path) {
                return Err(Ok(Refused::NotAllowed(target.to_owned())));
            }
            (parsed.clone(), parsed.default_authority())
        }
        Target::Tcp { host, port } => {
            let addrs =
                tokio::time::timeout_at(deadline, tokio::net::lookup_host((host.as_str(), *port)))
                    .await
                    .map_err(|_| Err(ScrapeError::Resolve("timeout".to_owned())))?
                    .map_err(|e| Err(ScrapeError::Resolve(e.to_string())))?
                    .map(|a| a.ip())
                    .collect::<Vec<_>>();
            let (ip, _) = probe::choose_address(
                &addrs,
                module.preferred_ip_protocol,
                module.ip_protocol_fallback,
            )
            .ok_or_else(|| Err(ScrapeError::Resolve("no address".to_owned())))?;
            if !allow.allows_tcp(host, Some(ip)) {
                return Err(Ok(Refused::NotAllowed(target.to_owned())));
            }
            (
                Target::Tcp {
                    host: ip.to_string(),
                    port: *port,
                },
                parsed.default_authority(),
            )
        }
    };
    Ok(probe::connect_options(
        module,
        dial,
        authority,
        tls,
        Duration::ZERO,
    ))
}

/// Everything one scrape read.
#[derive(Debug, Default)]
struct Data {
    channels: Vec<pb::Channel>,
    servers: Vec<pb::Server>,
    /// (channel target, subchannel) at detail level.
    subchannels: Vec<(String, pb::Subchannel)>,
    /// (group, socket): channel target or server listen label.
    client_sockets: Vec<(String, pb::Socket)>,
    server_sockets: Vec<(String, pb::Socket)>,
}

fn left(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}

async fn fetch(
    connection: &Connection,
    detail: bool,
    deadline: tokio::time::Instant,
) -> Result<Data, ScrapeError> {
    let client = connection.channelz_client();
    let rpc = |what: &'static str| move |source: RpcError| ScrapeError::Rpc { what, source };
    let mut data = Data::default();
    let mut start = 0;
    loop {
        let t = left(deadline);
        let req = connection.request(
            GetTopChannelsRequest {
                start_channel_id: start,
                max_results: PAGE,
            },
            Some(t),
        );
        let resp = conn::call(Some(t), client.clone().get_top_channels(req))
            .await
            .map_err(rpc("GetTopChannels"))?
            .into_inner();
        let last = resp
            .channel
            .iter()
            .filter_map(|c| c.r#ref.as_ref())
            .map(|r| r.channel_id)
            .max();
        data.channels.extend(resp.channel);
        if resp.end {
            break;
        }
        match last {
            Some(last) if last >= start => start = last + 1,
            _ => return Err(ScrapeError::Paging("GetTopChannels")),
        }
    }
    let mut start = 0;
    loop {
        let t = left(deadline);
        let req = connection.request(
            GetServersRequest {
                start_server_id: start,
                max_results: PAGE,
            },
            Some(t),
        );
        let resp = conn::call(Some(t), client.clone().get_servers(req))
            .await
            .map_err(rpc("GetServers"))?
            .into_inner();
        let last = resp
            .server
            .iter()
            .filter_map(|s| s.r#ref.as_ref())
            .map(|r| r.server_id)
            .max();
        data.servers.extend(resp.server);
        if resp.end {
            break;
        }
        match last {
            Some(last) if last >= start => start = last + 1,
            _ => return Err(ScrapeError::Paging("GetServers")),
        }
    }
    // Pages may overlap on servers that ignore start ids.
    data.channels
        .sort_by_key(|c| c.r#ref.as_ref().map_or(0, |r| r.channel_id));
    data.channels
        .dedup_by_key(|c| c.r#ref.as_ref().map_or(0, |r| r.channel_id));
    data.servers
        .sort_by_key(|s| s.r#ref.as_ref().map_or(0, |r| r.server_id));
    data.servers
        .dedup_by_key(|s| s.r#ref.as_ref().map_or(0, |r| r.server_id));
    if !detail {
        return Ok(data);
    }
    for channel in &data.channels {
        let target = channel_target(channel);
        for sub in &channel.subchannel_ref {
            let t = left(deadline);
            let req = connection.request(
                GetSubchannelRequest {
                    subchannel_id: sub.subchannel_id,
                },
                Some(t),
            );
            match conn::call(Some(t), client.clone().get_subchannel(req)).await {
                Ok(resp) => {
                    if let Some(s) = resp.into_inner().subchannel {
                        for socket in &s.socket_ref {
                            if let Some(sock) =
                                socket_of(connection, &client, socket.socket_id, deadline).await?
                            {
                                data.client_sockets.push((target.clone(), sock));
                            }
                        }
                        data.subchannels.push((target.clone(), s));
                    }
                }
                // Gone between the two RPCs.
                Err(e) if e.code() == tonic::Code::NotFound => {}
                Err(e) => return Err(rpc("GetSubchannel")(e)),
            }
        }
        for socket in &channel.socket_ref {
            if let Some(sock) = socket_of(connection, &client, socket.socket_id, deadline).await? {
                data.client_sockets.push((target.clone(), sock));
            }
        }
    }
    for server in &data.servers {
        let listen = listen_label(server);
        let id = server.r#ref.as_ref().map_or(0, |r| r.server_id);
        let mut start = 0;
        loop {
            let t = left(deadline);
            let req = connection.request(
                GetServerSocketsRequest {
                    server_id: id,
                    start_socket_id: start,
                    max_results: PAGE,
                },
                Some(t),
            );
            let resp = match conn::call(Some(t), client.clone().get_server_sockets(req)).await {
                Ok(r) => r.into_inner(),
                Err(e) if e.code() == tonic::Code::NotFound => break,
                Err(e) => return Err(rpc("GetServerSockets")(e)),
            };
            let last = resp.socket_ref.iter().map(|r| r.socket_id).max();
            for socket in &resp.socket_ref {
                if let Some(sock) =
                    socket_of(connection, &client, socket.socket_id, deadline).await?
                {
                    data.server_sockets.push((listen.clone(), sock));
                }
            }
            if resp.end {
                break;
            }
            match last {
                Some(last) if last >= start => start = last + 1,
                _ => return Err(ScrapeError::Paging("GetServerSockets")),
            }
        }
    }
    Ok(data)
}

async fn socket_of(
    connection: &Connection,
    client: &grpc_toolkit_proto::channelz::v1::channelz_client::ChannelzClient<
        tonic::transport::Channel,
    >,
    id: i64,
    deadline: tokio::time::Instant,
) -> Result<Option<pb::Socket>, ScrapeError> {
    let t = left(deadline);
    let req = connection.request(
        GetSocketRequest {
            socket_id: id,
            summary: false,
        },
        Some(t),
    );
    match conn::call(Some(t), client.clone().get_socket(req)).await {
        Ok(resp) => Ok(resp.into_inner().socket),
        Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
        Err(source) => Err(ScrapeError::Rpc {
            what: "GetSocket",
            source,
        }),
    }
}

fn channel_target(channel: &pb::Channel) -> String {
    channel
        .data
        .as_ref()
        .map(|d| d.target.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A server's listen label: its listen sockets' names, sorted and joined.
fn listen_label(server: &pb::Server) -> String {
    let mut names: Vec<&str> = server
        .listen_socket
        .iter()
        .map(|s| s.name.as_str())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "unknown".to_owned()
    } else {
        names.join(",")
    }
}

fn state_name(data: Option<&pb::ChannelData>) -> &'static str {
    let state = data.and_then(|d| d.state.as_ref()).map_or(0, |s| s.state);
    STATES
        .get(usize::try_from(state).unwrap_or(0))
        .copied()
        .unwrap_or("UNKNOWN")
}

fn call_counts(data: Option<&pb::ChannelData>) -> Counts {
    data.map_or(vec![0.0; 3], |d| {
        vec![
            d.calls_started as f64,
            d.calls_succeeded as f64,
            d.calls_failed as f64,
        ]
    })
}

fn socket_counts(s: &pb::Socket) -> Counts {
    s.data.as_ref().map_or(vec![0.0; 6], |d| {
        vec![
            d.streams_started as f64,
            d.streams_succeeded as f64,
            d.streams_failed as f64,
            d.messages_sent as f64,
            d.messages_received as f64,
            d.keep_alives_sent as f64,
        ]
    })
}

/// Writes counters (`names`, same order as the counts) for each group.
fn counters(
    families: &mut Families,
    label: &str,
    prefix: &str,
    names: &[(&str, &str)],
    totals: &BTreeMap<String, Counts>,
) {
    for (i, (name, help)) in names.iter().enumerate() {
        let mut f = Family::counter(&format!("{prefix}_{name}"), help);
        for (group, counts) in totals {
            f.push(&[(label, group)], counts.get(i).copied().unwrap_or(0.0));
        }
        families.add(f);
    }
}

fn render(state: &mut State, data: &Data, cap: usize) -> Families {
    let mut families = Families::default();
    let mut dropped = 0;

    // Channels by target.
    let current = data
        .channels
        .iter()
        .map(|c| {
            (
                c.r#ref.as_ref().map_or(0, |r| r.channel_id),
                channel_target(c),
                call_counts(c.data.as_ref()),
            )
        })
        .collect();
    let (totals, folded) = state.channels.update(current, cap);
    dropped += folded;
    counters(
        &mut families,
        "target",
        "grpc_channelz_channel",
        &[
            (
                "calls_started",
                "Calls started on channels to this target (closed channels included)",
            ),
            (
                "calls_succeeded",
                "Calls succeeded on channels to this target (closed channels included)",
            ),
            (
                "calls_failed",
                "Calls failed on channels to this target (closed channels included)",
            ),
        ],
        &totals,
    );
    let mut gauges: BTreeMap<String, Counts> = BTreeMap::new();
    for c in &data.channels {
        let d = c.data.as_ref();
        let mut v = vec![0.0; STATES.len() + 3];
        let state = state_name(d);
        if let Some(i) = STATES.iter().position(|s| *s == state) {
            v[i] = 1.0;
        }
        v[STATES.len()] = 1.0;
        v[STATES.len() + 1] = c.subchannel_ref.len() as f64;
        v[STATES.len() + 2] = c.channel_ref.len() as f64;
        add(gauges.entry(channel_target(c)).or_default(), &v);
    }
    let mut last_call: BTreeMap<String, f64> = BTreeMap::new();
    for c in &data.channels {
        if let Some(ts) = secs_of(&c.data.as_ref().and_then(|d| d.last_call_started_timestamp)) {
            let key = if state.channels.kept.contains(&channel_target(c)) {
                channel_target(c)
            } else {
                OTHER.to_owned()
            };
            let e = last_call.entry(key).or_insert(0.0);
            *e = e.max(ts);
        }
    }
    let gauges = fold_gauges(&state.channels.kept, gauges);
    let mut states = Family::gauge(
        "grpc_channelz_channel_state",
        "Channels to this target in each connectivity state",
    );
    let mut count = Family::gauge(
        "grpc_channelz_channels",
        "Live top-level channels to this target",
    );
    let mut subs = Family::gauge(
        "grpc_channelz_channel_subchannels",
        "Subchannels of the channels to this target",
    );
    let mut children = Family::gauge(
        "grpc_channelz_channel_child_channels",
        "Child channels of the channels to this target",
    );
    for (target, v) in &gauges {
        for (i, s) in STATES.iter().enumerate() {
            states.push(&[("target", target), ("state", s)], v[i]);
        }
        count.push(&[("target", target)], v[STATES.len()]);
        subs.push(&[("target", target)], v[STATES.len() + 1]);
        children.push(&[("target", target)], v[STATES.len() + 2]);
    }
    families.add(states);
    families.add(count);
    families.add(subs);
    families.add(children);
    let mut lc = Family::gauge(
        "grpc_channelz_channel_last_call_started_timestamp_seconds",
        "When the last call on a channel to this target started",
    );
    for (target, ts) in &last_call {
        lc.push(&[("target", target)], *ts);
    }
    families.add(lc);

    // Servers by listen address.
    let current = data
        .servers
        .iter()
        .map(|s| {
            let d = s.data.as_ref();
            let counts = d.map_or(vec![0.0; 3], |d| {
                vec![
                    d.calls_started as f64,
                    d.calls_succeeded as f64,
                    d.calls_failed as f64,
                ]
            });
            (
                s.r#ref.as_ref().map_or(0, |r| r.server_id),
                listen_label(s),
                counts,
            )
        })
        .collect();
    let (totals, folded) = state.servers.update(current, cap);
    dropped += folded;
    counters(
        &mut families,
        "listen",
        "grpc_channelz_server",
        &[
            ("calls_started", "Calls started on servers listening here"),
            (
                "calls_succeeded",
                "Calls succeeded on servers listening here",
            ),
            ("calls_failed", "Calls failed on servers listening here"),
        ],
        &totals,
    );
    let mut servers: BTreeMap<String, Counts> = BTreeMap::new();
    let mut server_last: BTreeMap<String, f64> = BTreeMap::new();
    for s in &data.servers {
        let listen = listen_label(s);
        let key = if state.servers.kept.contains(&listen) {
            listen
        } else {
            OTHER.to_owned()
        };
        add(
            servers.entry(key.clone()).or_default(),
            &[1.0, s.listen_socket.len() as f64],
        );
        if let Some(ts) = secs_of(&s.data.as_ref().and_then(|d| d.last_call_started_timestamp)) {
            let e = server_last.entry(key).or_insert(0.0);
            *e = e.max(ts);
        }
    }
    let mut count = Family::gauge("grpc_channelz_servers", "Servers listening here");
    let mut sockets = Family::gauge(
        "grpc_channelz_server_listen_sockets",
        "Listen sockets of the servers listening here",
    );
    for (listen, v) in &servers {
        count.push(&[("listen", listen)], v[0]);
        sockets.push(&[("listen", listen)], v[1]);
    }
    families.add(count);
    families.add(sockets);
    let mut lc = Family::gauge(
        "grpc_channelz_server_last_call_started_timestamp_seconds",
        "When the last call on a server listening here started",
    );
    for (listen, ts) in &server_last {
        lc.push(&[("listen", listen)], *ts);
    }
    families.add(lc);

    // Detail: subchannels and sockets.
    if !data.subchannels.is_empty() {
        let current = data
            .subchannels
            .iter()
            .map(|(target, s)| {
                (
                    s.r#ref.as_ref().map_or(0, |r| r.subchannel_id),
                    target.clone(),
                    call_counts(s.data.as_ref()),
                )
            })
            .collect();
        let (totals, folded) = state.subchannels.update(current, cap);
        dropped += folded;
        counters(
            &mut families,
            "target",
            "grpc_channelz_subchannel",
            &[
                (
                    "calls_started",
                    "Calls started on subchannels of channels to this target",
                ),
                (
                    "calls_succeeded",
                    "Calls succeeded on subchannels of channels to this target",
                ),
                (
                    "calls_failed",
                    "Calls failed on subchannels of channels to this target",
                ),
            ],
            &totals,
        );
        let mut by: BTreeMap<String, Counts> = BTreeMap::new();
        for (target, s) in &data.subchannels {
            let mut v = vec![0.0; STATES.len()];
            if let Some(i) = STATES
                .iter()
                .position(|x| *x == state_name(s.data.as_ref()))
            {
                v[i] = 1.0;
            }
            add(by.entry(target.clone()).or_default(), &v);
        }
        let mut states = Family::gauge(
            "grpc_channelz_subchannel_state",
            "Subchannels of channels to this target in each connectivity state",
        );
        for (target, v) in fold_gauges(&state.subchannels.kept, by) {
            for (i, s) in STATES.iter().enumerate() {
                states.push(&[("target", &target), ("state", s)], v[i]);
            }
        }
        families.add(states);
    }
    for (sockets, mono, label, prefix) in [
        (
            &data.client_sockets,
            &mut state.client_sockets,
            "target",
            "grpc_channelz_client_socket",
        ),
        (
            &data.server_sockets,
            &mut state.server_sockets,
            "listen",
            "grpc_channelz_server_socket",
        ),
    ] {
        if sockets.is_empty() {
            continue;
        }
        let current = sockets
            .iter()
            .map(|(group, s)| {
                (
                    s.r#ref.as_ref().map_or(0, |r| r.socket_id),
                    group.clone(),
                    socket_counts(s),
                )
            })
            .collect();
        let (totals, folded) = mono.update(current, cap);
        dropped += folded;
        counters(
            &mut families,
            label,
            prefix,
            &[
                ("streams_started", "HTTP/2 streams started on these sockets"),
                ("streams_succeeded", "HTTP/2 streams that ended with OK"),
                ("streams_failed", "HTTP/2 streams that ended with an error"),
                ("messages_sent", "Messages sent on these sockets"),
                ("messages_received", "Messages received on these sockets"),
                ("keepalives_sent", "Keepalive pings sent on these sockets"),
            ],
            &totals,
        );
        let mut windows: BTreeMap<String, Counts> = BTreeMap::new();
        let mut seen_window = false;
        for (group, s) in sockets {
            let d = s.data.as_ref();
            let local = d
                .and_then(|d| d.local_flow_control_window)
                .map(|w| w as f64);
            let remote = d
                .and_then(|d| d.remote_flow_control_window)
                .map(|w| w as f64);
            seen_window |= local.is_some() || remote.is_some();
            add(
                windows.entry(group.clone()).or_default(),
                &[1.0, local.unwrap_or(0.0), remote.unwrap_or(0.0)],
            );
        }
        let windows = fold_gauges(&mono.kept, windows);
        let mut open = Family::gauge(&format!("{prefix}s"), "Open sockets");
        let mut lw = Family::gauge(
            &format!("{prefix}_local_flow_control_window_bytes"),
            "Sum of the connection-level flow-control windows granted to us",
        );
        let mut rw = Family::gauge(
            &format!("{prefix}_remote_flow_control_window_bytes"),
            "Sum of the connection-level flow-control windows we granted",
        );
        for (group, v) in &windows {
            open.push(&[(label, group)], v[0]);
            if seen_window {
                lw.push(&[(label, group)], v[1]);
                rw.push(&[(label, group)], v[2]);
            }
        }
        families.add(open);
        families.add(lw);
        families.add(rw);
    }
    families.add(
        Family::gauge(
            "grpc_channelz_series_dropped",
            "Groups summed into the _other series because of the series cap",
        )
        .sample(&[], dropped as f64),
    );
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vanished_entities_keep_their_counts() {
        let mut m = Monotonic::default();
        let (t, _) = m.update(
            vec![(1, "a".into(), vec![5.0]), (2, "a".into(), vec![3.0])],
            10,
        );
        assert_eq!(t["a"], vec![8.0]);
        // Channel 2 closes; channel 3 opens.
        let (t, _) = m.update(
            vec![(1, "a".into(), vec![6.0]), (3, "a".into(), vec![1.0])],
            10,
        );
        assert_eq!(t["a"], vec![10.0]);
        let (t, _) = m.update(vec![], 10);
        assert_eq!(t["a"], vec![10.0]);
    }

    #[test]
    fn cap_folds_later_groups_stably() {
        let mut m = Monotonic::default();
        let current = (0..5).map(|i| (i, format!("g{i}"), vec![1.0])).collect();
        let (t, folded) = m.update(current, 3);
        assert_eq!(folded, 3);
        assert_eq!(t.len(), 3);
        assert_eq!(t[OTHER], vec![3.0]);
        // A new group sorting first does not displace a kept one.
        let current = (0..5)
            .map(|i| (i, format!("g{i}"), vec![1.0]))
            .chain([(9, "a".to_owned(), vec![1.0])])
            .collect();
        let (t, _) = m.update(current, 3);
        assert!(t.contains_key("g0") && t.contains_key("g1"), "{t:?}");
        assert_eq!(t[OTHER], vec![4.0]);
    }
}
