//! `/channelz`: a target's Channelz (every page of every list, within
//! bounds) as metrics
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
//! Channelz is read through `grpc-toolkit-channelz-client`, the client the
//! dashboard uses, so a hostile server meets the same rules: pages and
//! entities per scrape are bounded (`channelz.max_pages`,
//! `channelz.max_entities`), pages that repeat, go backwards or end at id
//! 2^63-1 stop paging, each entity is fetched once (cycles end), a method
//! answering UNIMPLEMENTED or a child answering NOT_FOUND is a note, and no
//! RPC outlives the scrape deadline. What was read is exported; what was
//! cut says so in `grpc_channelz_scrape_complete` and
//! `grpc_channelz_incomplete{method, reason}`. Counters whose server-side
//! value goes down (a restart reusing ids) count as new entities, so the
//! export stays monotonic. Targets and listen names are escaped (controls,
//! bidi, line breaks) and cut to 200 characters before they become labels.
//!
//! With `channelz: {xds: true}` the same scrape reads CSDS too, at the
//! same time and on the same connection, and adds gRFC A78's xDS series
//! (`crate::xds`).
//!
//! One connection per (module, target) is kept between scrapes and
//! dropped when a scrape finds it broken or when the target has not been
//! scraped for [`IDLE_DROP`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use grpc_toolkit_channelz_client::{
    self as channelz_client, Budget, Client, CutReason, EntityId, Incomplete, Limits, Sink,
    children, count_kinds,
};
use grpc_toolkit_conn::{self as conn, ConnectOptions, Connection, RpcError, Target};
use grpc_toolkit_proto::channelz::v1 as pb;

use crate::allow::AllowList;
use crate::config::{ChannelzOptions, GrpcModule};
use crate::expose::{Families, Family};
use crate::probe::{self, Refused};
use crate::xds;

/// A target not scraped for this long loses its connection and state.
pub const IDLE_DROP: Duration = Duration::from_secs(600);
/// Label value of the series that sums the groups over the cap.
pub const OTHER: &str = "_other";
/// Label value for an entity without a target or listen address.
const UNKNOWN: &str = "unknown";
/// Longest label value taken from the server, in characters (escaped and
/// cut with a marker beyond it): a 1 MB target must not become a 1 MB label
/// on every series.
const MAX_LABEL_CHARS: usize = 200;

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

/// How many entities a family keeps live while scrapes are cut: beyond
/// it, absent entities are retired as if gone (their counts stay in the
/// total), so a server that lists new ids on every cut scrape cannot grow
/// the exporter's state without end.
const LIVE_BOUND: usize = 200_000;

impl Monotonic {
    /// Takes this scrape's entities (id, group, counts) and returns totals
    /// by group, with groups over `cap` folded into [`OTHER`], and how many
    /// groups were folded. `complete` says whether the scrape listed
    /// everything: an entity absent from a cut scrape may only be unlisted,
    /// so it stays live with its last counts (retiring it would count it
    /// twice when it is listed again).
    ///
    /// Totals never go down: an entity whose counters went down (a
    /// restarted server reusing the id) or whose group changed is a new
    /// entity, the old one's counts retired into its group.
    fn update(
        &mut self,
        current: Vec<(i64, String, Counts)>,
        cap: usize,
        complete: bool,
    ) -> (BTreeMap<String, Counts>, usize) {
        let room = cap.saturating_sub(1).max(1);
        let ids: HashSet<i64> = current.iter().map(|(id, _, _)| *id).collect();
        let keep_absent = !complete && self.live.len() <= LIVE_BOUND;
        let mut retire = Vec::new();
        self.live.retain(|id, entry| {
            let keep = keep_absent || ids.contains(id);
            if !keep {
                retire.push(std::mem::take(entry));
            }
            keep
        });
        for (id, group, counts) in current {
            if let Some((old_group, old)) = self.live.remove(&id) {
                let reset = old_group != group || old.iter().zip(&counts).any(|(o, n)| n < o);
                if reset {
                    retire.push((old_group, old));
                } else {
                    self.live.insert(id, (group, counts));
                    continue;
                }
            }
            self.live.insert(id, (group, counts));
        }
        for (group, counts) in retire {
            // A group that will never get a series of its own is kept as
            // part of the `_other` sum: the retired map stays within the cap.
            let key = if self.kept.contains(&group) || self.kept.len() < room {
                group
            } else {
                OTHER.to_owned()
            };
            add(self.retired.entry(key).or_default(), &counts);
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
    #[error(transparent)]
    Channelz(#[from] channelz_client::Error),
    #[error("Channelz: {0}")]
    Timeout(RpcError),
    #[error("resolve: {0}")]
    Resolve(String),
}

impl ScrapeError {
    fn connection_lost(&self) -> bool {
        matches!(self, ScrapeError::Channelz(e) if e.is_connection_loss())
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

    /// Scrapes one target within `deadline`: Channelz, and with
    /// `channelz.xds` CSDS too, read at the same time on the same kept
    /// connection (a target may serve either without the other).
    pub async fn scrape(
        &self,
        module_name: &str,
        target: &str,
        module: &GrpcModule,
        deadline: tokio::time::Instant,
        allow: &AllowList,
    ) -> Result<Families, Refused> {
        let mut csds = None;
        let mut families = self
            .scrape_channelz(module_name, target, module, deadline, allow, &mut csds)
            .await?;
        if module.channelz.xds {
            let (outcome, took) = csds.unwrap_or((
                xds::Outcome::Failed {
                    kind: "connect",
                    code: "unknown".to_owned(),
                },
                Duration::ZERO,
            ));
            xds::render(
                &mut families,
                &outcome,
                module.channelz.xds_max_series,
                took,
            );
        }
        Ok(families)
    }

    /// The Channelz part of [`Pool::scrape`]; `csds` gets the CSDS read
    /// when the module asks for it, or the failure that kept it from
    /// happening.
    async fn scrape_channelz(
        &self,
        module_name: &str,
        target: &str,
        module: &GrpcModule,
        deadline: tokio::time::Instant,
        allow: &AllowList,
        csds: &mut Option<(xds::Outcome, Duration)>,
    ) -> Result<Families, Refused> {
        let started = Instant::now();
        // A failure before CSDS was read is its failure too.
        let fail = |err: &ScrapeError, csds: &mut Option<(xds::Outcome, Duration)>| {
            if csds.is_none() {
                let (kind, code) = failure(err);
                *csds = Some((xds::Outcome::Failed { kind, code }, started.elapsed()));
            }
            failed(started, err)
        };
        let options = options(target, module, deadline, allow).await;
        let options = match options {
            Ok(o) => o,
            Err(Ok(refused)) => return Err(refused),
            Err(Err(err)) => return Ok(fail(&err, csds)),
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
                        Err(e) => return Ok(fail(&ScrapeError::Connect(e), csds)),
                    }
                }
            };
            let read_csds = async {
                if !module.channelz.xds {
                    return None;
                }
                let at = Instant::now();
                let outcome = xds::fetch(&connection, rpc_deadline(deadline)).await;
                Some((outcome, at.elapsed()))
            };
            let (fetched, read) = tokio::join!(
                tokio::time::timeout_at(deadline, fetch(&connection, &module.channelz, deadline)),
                read_csds,
            );
            if read.is_some() {
                *csds = read;
            }
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
                    return Ok(fail(&e, csds));
                }
                Err(_) => {
                    return Ok(fail(
                        &ScrapeError::Timeout(RpcError::Timeout(started.elapsed())),
                        csds,
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
        incomplete(&mut families, &data.incomplete);
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

/// `grpc_channelz_scrape_complete`, and `grpc_channelz_incomplete` by
/// method and reason: what a bound cut or the server withheld, so partial
/// data says it is partial and why. Both labels come from fixed sets.
fn incomplete(families: &mut Families, cut: &[Incomplete]) {
    families.add(
        Family::gauge(
            "grpc_channelz_scrape_complete",
            "Whether the Channelz scrape read everything (0: see grpc_channelz_incomplete)",
        )
        .sample(&[], if cut.is_empty() { 1.0 } else { 0.0 }),
    );
    let mut by: BTreeMap<(&'static str, CutReason), usize> = BTreeMap::new();
    for c in cut {
        *by.entry((c.method(), c.reason)).or_default() += 1;
    }
    let mut family = Family::gauge(
        "grpc_channelz_incomplete",
        "Places where the Channelz scrape is not the whole truth, by method and reason",
    );
    for ((method, reason), n) in by {
        family.push(&[("method", method), ("reason", reason.name())], n as f64);
    }
    families.add(family);
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
    let (kind, code) = failure(err);
    families.add(
        Family::gauge(
            "grpc_channelz_failure_info",
            "Why the Channelz scrape failed",
        )
        .sample(&[("kind", kind), ("code", &code)], 1.0),
    );
    families
}

/// What kind of failure `err` is (`connect`, `rpc`, `resolve`) and its
/// stable code, for the `_failure_info` series.
fn failure(err: &ScrapeError) -> (&'static str, String) {
    match err {
        ScrapeError::Connect(e) => ("connect", e.code().to_owned()),
        ScrapeError::Channelz(channelz_client::Error::NoChannelz) => (
            "rpc",
            conn::code_name(tonic::Code::Unimplemented).to_owned(),
        ),
        ScrapeError::Channelz(channelz_client::Error::Rpc { source, .. })
        | ScrapeError::Timeout(source) => ("rpc", conn::code_name(source.code()).to_owned()),
        ScrapeError::Resolve(_) => ("resolve", "DNS".to_owned()),
    }
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

/// Everything one scrape read, and what it left out.
#[derive(Debug, Default)]
struct Data {
    channels: Vec<pb::Channel>,
    servers: Vec<pb::Server>,
    /// (channel target, subchannel) at detail level.
    subchannels: Vec<(String, pb::Subchannel)>,
    /// (group, socket): channel target or server listen label.
    client_sockets: Vec<(String, pb::Socket)>,
    server_sockets: Vec<(String, pb::Socket)>,
    /// What a bound cut or the server withheld.
    incomplete: Vec<Incomplete>,
}

/// Which group an entity found by the detail walk is counted in: the
/// target of the top channel above it, or the listen label of its server.
#[derive(Debug, Clone)]
enum Group {
    Client(String),
    Server(String),
}

/// Where the detail walk's entities go: each into the group of the first
/// parent that listed it (the walk fetches each entity once).
#[derive(Debug, Default)]
struct Grouping {
    group_of: HashMap<EntityId, Group>,
    subchannels: Vec<(String, pb::Subchannel)>,
    client_sockets: Vec<(String, pb::Socket)>,
    server_sockets: Vec<(String, pb::Socket)>,
}

impl Grouping {
    fn adopt(&mut self, children: Vec<EntityId>, group: &Group) {
        for id in children {
            self.group_of.entry(id).or_insert_with(|| group.clone());
        }
    }

    fn group(&self, id: EntityId) -> Group {
        self.group_of
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Group::Client(UNKNOWN.to_owned()))
    }
}

impl Sink for Grouping {
    fn reserve(&mut self, ids: &[EntityId]) {
        let (_, subchannels, sockets) = count_kinds(ids);
        self.subchannels.reserve(subchannels);
        self.client_sockets.reserve(sockets);
    }

    fn channel(&mut self, channel: pb::Channel) {
        let Some(id) = channel.r#ref.as_ref().map(|r| r.channel_id) else {
            return;
        };
        let group = self.group(EntityId::Channel(id));
        let kids = children(
            &channel.channel_ref,
            &channel.subchannel_ref,
            &channel.socket_ref,
            usize::MAX,
        );
        self.adopt(kids, &group);
    }

    fn subchannel(&mut self, subchannel: pb::Subchannel) {
        let id = subchannel.r#ref.as_ref().map_or(0, |r| r.subchannel_id);
        let group = self.group(EntityId::Subchannel(id));
        let kids = children(
            &subchannel.channel_ref,
            &subchannel.subchannel_ref,
            &subchannel.socket_ref,
            usize::MAX,
        );
        self.adopt(kids, &group);
        let (Group::Client(target) | Group::Server(target)) = group;
        self.subchannels.push((target, subchannel));
    }

    fn socket(&mut self, socket: pb::Socket) {
        let id = socket.r#ref.as_ref().map_or(0, |r| r.socket_id);
        match self.group(EntityId::Socket(id)) {
            Group::Client(target) => self.client_sockets.push((target, socket)),
            Group::Server(listen) => self.server_sockets.push((listen, socket)),
        }
    }
}

/// How deep the detail walk goes below a top channel: channel, nested
/// channels, subchannels, sockets; deeper is reported as cut.
const DETAIL_DEPTH: usize = 8;

/// What is left of `deadline` for the Channelz RPCs: a little less than
/// all of it, so that a walk cut by the deadline still leaves time to
/// answer with what it read.
fn rpc_deadline(deadline: tokio::time::Instant) -> tokio::time::Instant {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    deadline - (left / 10).min(Duration::from_millis(200))
}

async fn fetch(
    connection: &Connection,
    options: &ChannelzOptions,
    deadline: tokio::time::Instant,
) -> Result<Data, ScrapeError> {
    let limits = Limits {
        max_pages: options.max_pages,
        max_entities: options.max_entities,
    };
    let deadline = rpc_deadline(deadline);
    let client = Client::new(
        connection.clone(),
        deadline.saturating_duration_since(tokio::time::Instant::now()),
    )
    .with_limits(limits)
    .with_deadline(deadline);
    let budget = Budget::new(limits);
    let (mut channels_cut, mut servers_cut) = (Vec::new(), Vec::new());
    let (channels, servers) = tokio::try_join!(
        client.top_channels(&budget, &mut channels_cut),
        client.servers(&budget, &mut servers_cut),
    )?;
    let mut data = Data {
        channels,
        servers,
        incomplete: channels_cut,
        ..Data::default()
    };
    data.incomplete.append(&mut servers_cut);
    if !options.detail {
        return Ok(data);
    }
    let mut grouping = Grouping::default();
    let mut seeds = Vec::new();
    for channel in &data.channels {
        let kids = children(
            &channel.channel_ref,
            &channel.subchannel_ref,
            &channel.socket_ref,
            usize::MAX,
        );
        grouping.adopt(kids.clone(), &Group::Client(channel_target(channel)));
        seeds.extend(kids);
    }
    let ids: Vec<i64> = data
        .servers
        .iter()
        .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id))
        .collect();
    let listen: HashMap<i64, String> = data
        .servers
        .iter()
        .filter_map(|s| Some((s.r#ref.as_ref()?.server_id, listen_label(s))))
        .collect();
    for mut listed in client.server_socket_ids(ids, &budget).await? {
        let group = Group::Server(
            listen
                .get(&listed.server)
                .cloned()
                .unwrap_or_else(|| UNKNOWN.to_owned()),
        );
        let sockets: Vec<EntityId> = listed
            .sockets
            .iter()
            .copied()
            .map(EntityId::Socket)
            .collect();
        grouping.adopt(sockets.clone(), &group);
        seeds.extend(sockets);
        data.incomplete.append(&mut listed.incomplete);
    }
    let mut cut = client
        .walk_below_top(seeds, &data.channels, DETAIL_DEPTH, &budget, &mut grouping)
        .await?;
    data.incomplete.append(&mut cut);
    data.subchannels = grouping.subchannels;
    data.client_sockets = grouping.client_sockets;
    data.server_sockets = grouping.server_sockets;
    Ok(data)
}

/// A channel's target as a label value: escaped (controls, bidi and
/// line breaks become visible escapes; the encoder escapes quotes and
/// backslashes) and cut to [`MAX_LABEL_CHARS`].
fn channel_target(channel: &pb::Channel) -> String {
    channel
        .data
        .as_ref()
        .map(|d| d.target.as_str())
        .filter(|t| !t.is_empty())
        .map_or_else(|| UNKNOWN.to_owned(), label_value)
}

/// Text from the server made a bounded, printable label value.
fn label_value(text: &str) -> String {
    conn::escape::escape_cut(text, MAX_LABEL_CHARS)
}

/// A server's listen label: its listen sockets' names, sorted and joined,
/// as a label value like [`channel_target`]'s.
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
        UNKNOWN.to_owned()
    } else {
        label_value(&names.join(","))
    }
}

/// A counter from the server as a sample value: a negative count (which
/// no honest server sends) counts as zero.
fn counter_value(n: i64) -> f64 {
    n.max(0) as f64
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
            counter_value(d.calls_started),
            counter_value(d.calls_succeeded),
            counter_value(d.calls_failed),
        ]
    })
}

fn socket_counts(s: &pb::Socket) -> Counts {
    s.data.as_ref().map_or(vec![0.0; 6], |d| {
        vec![
            counter_value(d.streams_started),
            counter_value(d.streams_succeeded),
            counter_value(d.streams_failed),
            counter_value(d.messages_sent),
            counter_value(d.messages_received),
            counter_value(d.keep_alives_sent),
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
    let complete = data.incomplete.is_empty();
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
    let (totals, folded) = state.channels.update(current, cap, complete);
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
                    counter_value(d.calls_started),
                    counter_value(d.calls_succeeded),
                    counter_value(d.calls_failed),
                ]
            });
            (
                s.r#ref.as_ref().map_or(0, |r| r.server_id),
                listen_label(s),
                counts,
            )
        })
        .collect();
    let (totals, folded) = state.servers.update(current, cap, complete);
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
        let (totals, folded) = state.subchannels.update(current, cap, complete);
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
        let (totals, folded) = mono.update(current, cap, complete);
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
            true,
        );
        assert_eq!(t["a"], vec![8.0]);
        // Channel 2 closes; channel 3 opens.
        let (t, _) = m.update(
            vec![(1, "a".into(), vec![6.0]), (3, "a".into(), vec![1.0])],
            10,
            true,
        );
        assert_eq!(t["a"], vec![10.0]);
        let (t, _) = m.update(vec![], 10, true);
        assert_eq!(t["a"], vec![10.0]);
    }

    #[test]
    fn cap_folds_later_groups_stably() {
        let mut m = Monotonic::default();
        let current = (0..5).map(|i| (i, format!("g{i}"), vec![1.0])).collect();
        let (t, folded) = m.update(current, 3, true);
        assert_eq!(folded, 3);
        assert_eq!(t.len(), 3);
        assert_eq!(t[OTHER], vec![3.0]);
        // A new group sorting first does not displace a kept one.
        let current = (0..5)
            .map(|i| (i, format!("g{i}"), vec![1.0]))
            .chain([(9, "a".to_owned(), vec![1.0])])
            .collect();
        let (t, _) = m.update(current, 3, true);
        assert!(t.contains_key("g0") && t.contains_key("g1"), "{t:?}");
        assert_eq!(t[OTHER], vec![4.0]);
    }

    #[test]
    fn counters_that_go_down_or_change_group_never_lower_a_total() {
        let mut m = Monotonic::default();
        let (t, _) = m.update(vec![(1, "a".into(), vec![100.0])], 10, true);
        assert_eq!(t["a"], vec![100.0]);
        // The server restarted and reused id 1: a new entity.
        let (t, _) = m.update(vec![(1, "a".into(), vec![40.0])], 10, true);
        assert_eq!(t["a"], vec![140.0]);
        // Id 1 now belongs to another target: "a" keeps what it had.
        let (t, _) = m.update(vec![(1, "b".into(), vec![5.0])], 10, true);
        assert_eq!((t["a"].clone(), t["b"].clone()), (vec![140.0], vec![5.0]));
    }

    #[test]
    fn an_entity_a_cut_scrape_did_not_list_is_not_counted_twice() {
        let mut m = Monotonic::default();
        m.update(
            vec![(1, "a".into(), vec![5.0]), (2, "a".into(), vec![3.0])],
            10,
            true,
        );
        // A scrape cut by a bound lists only channel 1.
        let (t, _) = m.update(vec![(1, "a".into(), vec![6.0])], 10, false);
        assert_eq!(t["a"], vec![9.0]);
        // Listed again: 6 + 4, not 6 + 3 retired + 4 live.
        let (t, _) = m.update(
            vec![(1, "a".into(), vec![6.0]), (2, "a".into(), vec![4.0])],
            10,
            true,
        );
        assert_eq!(t["a"], vec![10.0]);
    }

    #[test]
    fn retired_groups_stay_within_the_cap() {
        let mut m = Monotonic::default();
        // A server that shows 1,000 new targets, each once.
        for i in 0..1_000 {
            m.update(vec![(i, format!("t{i}"), vec![1.0])], 3, true);
        }
        assert!(m.retired.len() <= 3, "{}", m.retired.len());
        let (t, _) = m.update(vec![], 3, true);
        let total: f64 = t.values().map(|c| c[0]).sum();
        assert_eq!(total, 1_000.0);
    }
}
