//! The I/O side: Channelz and health RPCs, paging, lazy detail fetches with
//! bounded concurrency, and the poller task that owns the connection
//! (`Connected` / `Disconnected(backoff)`) and turns every answer into an
//! [`msg::Msg`](crate::msg::Msg). Nothing here renders, and nothing
//! that renders waits on anything here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::stream::{self, StreamExt};
use grpc_toolkit_conn::{ConnectError, Connection, RpcError, call};
use grpc_toolkit_proto::channelz::v1::{
    Channel, GetChannelRequest, GetServerRequest, GetServerSocketsRequest, GetServersRequest,
    GetSocketRequest, GetSubchannelRequest, GetTopChannelsRequest, Server, Socket, Subchannel,
    channelz_client::ChannelzClient,
};
use grpc_toolkit_proto::health::v1::{
    HealthCheckRequest, HealthListRequest, health_client::HealthClient,
};
use tokio::sync::{Notify, mpsc, watch};
use tonic::transport::Channel as Transport;

use crate::model::{
    CutReason, EntityId, Focus, HealthReport, Incomplete, SERVER_SOCKETS_PAGE, ServerSocketsPage,
    ServiceHealth, TREE_DEPTH,
};
use crate::msg::{Details, Msg};
use crate::outage::Outage;
pub use crate::outage::PollError;
use crate::outage::is_connection_loss;

/// How many detail RPCs run at once. Enough to fill a loopback link, few
/// enough that a production server never sees a burst from a dashboard.
pub const DETAIL_CONCURRENCY: usize = 32;

/// How many children of one entity a detail screen fetches. A channel with
/// more (rare: pick-first over thousands of addresses) still lists them all
/// by id; only their details wait until the user opens them.
pub const CHILD_FETCH_LIMIT: usize = 256;

fn rpc_error(what: impl Into<String>, source: RpcError) -> PollError {
    PollError::Rpc {
        what: what.into(),
        source,
    }
}

/// The default of `--max-pages`: list pages (`GetTopChannels`,
/// `GetServers`, `GetServerSockets`) one snapshot may request. A
/// 10,000-channel server pages in 20 to 100 pages per list.
pub const DEFAULT_MAX_PAGES: usize = 2_000;

/// The default of `--max-entities`: entities one snapshot may hold. A
/// 10,000-channel server with a subchannel and a socket per channel has
/// 30,000; a channel with 100,000 subchannels fits too.
pub const DEFAULT_MAX_ENTITIES: usize = 250_000;

/// How much one snapshot may fetch, so that a server whose pages never end
/// cannot make it run (and grow) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// List pages per snapshot.
    pub max_pages: usize,
    /// Entities per snapshot.
    pub max_entities: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pages: DEFAULT_MAX_PAGES,
            max_entities: DEFAULT_MAX_ENTITIES,
        }
    }
}

/// What is left of the [`Limits`] during one snapshot; shared by the
/// fetches that run at once.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    pages: AtomicUsize,
    entities: AtomicUsize,
}

impl Budget {
    /// A full budget.
    pub fn new(limits: Limits) -> Self {
        Budget {
            limits,
            pages: AtomicUsize::new(0),
            entities: AtomicUsize::new(0),
        }
    }

    fn take_page(&self) -> bool {
        self.pages.fetch_add(1, Ordering::Relaxed) < self.limits.max_pages
    }

    /// How many of `n` more entities fit.
    fn take_entities(&self, n: usize) -> usize {
        let before = self.entities.fetch_add(n, Ordering::Relaxed);
        self.limits.max_entities.saturating_sub(before).min(n)
    }
}

/// Channelz and health clients on one connection.
#[derive(Debug, Clone)]
pub struct Api {
    conn: Connection,
    channelz: ChannelzClient<Transport>,
    health: HealthClient<Transport>,
    timeout: Duration,
    /// `max_results` for list RPCs. Servers may ignore it (grpc-java and
    /// C-core send larger pages); paging is correct either way.
    pub page_size: i64,
    /// The bounds of each snapshot.
    pub limits: Limits,
}

/// One page of a list RPC: its items and whether the server said it is the
/// last.
type Page<T> = (Vec<T>, bool);

impl Api {
    /// Clients on `conn`; every RPC gets `rpc_timeout` as its deadline.
    pub fn new(conn: Connection, rpc_timeout: Duration) -> Self {
        Api {
            channelz: conn.channelz_client(),
            health: conn.health_client(),
            conn,
            timeout: rpc_timeout,
            page_size: 500,
            limits: Limits::default(),
        }
    }

    /// The same clients, bounding each snapshot by `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        self.conn.request(message, Some(self.timeout))
    }

    /// Every page of a list RPC (`rpc` names it), in id order, within the
    /// budget. Paging stops, with an [`Incomplete`] entry saying why, at
    /// the budget's end, at a page that does not move forward, and at a page
    /// that ends at the largest id without saying `end` (the next start
    /// would overflow).
    async fn list<T, F, Fut>(
        &self,
        rpc: &str,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
        mut fetch: F,
        id_of: impl Fn(&T) -> i64,
    ) -> Result<Vec<T>, RpcError>
    where
        F: FnMut(i64) -> Fut,
        Fut: Future<Output = Result<Page<T>, RpcError>>,
    {
        let mut out: Vec<T> = Vec::new();
        let mut start = 0;
        loop {
            if !budget.take_page() {
                cut.push(Incomplete::new(
                    rpc,
                    CutReason::Limit,
                    format!(
                        "stopped after {} pages (--max-pages)",
                        budget.limits.max_pages
                    ),
                ));
                break;
            }
            let (mut items, end) = fetch(start).await?;
            let last = items.iter().map(&id_of).max();
            let fit = budget.take_entities(items.len());
            if fit < items.len() {
                items.sort_by_key(&id_of);
                items.truncate(fit);
                out.extend(items);
                cut.push(Incomplete::new(
                    rpc,
                    CutReason::Limit,
                    format!(
                        "stopped at {} entities (--max-entities)",
                        budget.limits.max_entities
                    ),
                ));
                break;
            }
            out.extend(items);
            if end {
                break;
            }
            // The next page starts right after the highest id seen.
            match last {
                Some(i64::MAX) => {
                    cut.push(Incomplete::new(
                        rpc,
                        CutReason::Error,
                        "a page ends at the largest id (2^63-1) without end=true; stopped paging",
                    ));
                    break;
                }
                Some(last) if last >= start => start = last + 1,
                _ => {
                    cut.push(Incomplete::new(
                        rpc,
                        CutReason::Error,
                        "the server's pages do not advance; stopped paging",
                    ));
                    break;
                }
            }
        }
        Ok(dedup_sorted(out, id_of))
    }

    /// Every top channel, all pages, in id order. UNIMPLEMENTED here means
    /// the server has no Channelz service at all.
    pub async fn top_channels(
        &self,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
    ) -> Result<Vec<Channel>, PollError> {
        let fetch = |start| {
            let mut client = self.channelz.clone();
            let req = self.request(GetTopChannelsRequest {
                start_channel_id: start,
                max_results: self.page_size,
            });
            async move {
                let r = call(Some(self.timeout), client.get_top_channels(req)).await?;
                let r = r.into_inner();
                Ok((r.channel, r.end))
            }
        };
        self.list("GetTopChannels", budget, cut, fetch, |c: &Channel| {
            c.r#ref.as_ref().map_or(0, |r| r.channel_id)
        })
        .await
        .map_err(|e| match e.code() {
            tonic::Code::Unimplemented => PollError::NoChannelz,
            _ => rpc_error("GetTopChannels", e),
        })
    }

    /// Every server, all pages, in id order; none (and a note) when the
    /// server does not implement `GetServers`.
    pub async fn servers(
        &self,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
    ) -> Result<Vec<Server>, PollError> {
        let fetch = |start| {
            let mut client = self.channelz.clone();
            let req = self.request(GetServersRequest {
                start_server_id: start,
                max_results: self.page_size,
            });
            async move {
                let r = call(Some(self.timeout), client.get_servers(req)).await?;
                let r = r.into_inner();
                Ok((r.server, r.end))
            }
        };
        let servers = self
            .list("GetServers", budget, cut, fetch, |s: &Server| {
                s.r#ref.as_ref().map_or(0, |r| r.server_id)
            })
            .await;
        match servers {
            Ok(servers) => Ok(servers),
            Err(e) if e.code() == tonic::Code::Unimplemented => {
                cut.push(Incomplete::new(
                    "GetServers",
                    CutReason::Unimplemented,
                    "the server does not list its servers",
                ));
                Ok(Vec::new())
            }
            Err(e) => Err(rpc_error("GetServers", e)),
        }
    }

    /// One page of a server's sockets. grpc-go answers an unknown server id
    /// with an empty last page rather than NOT_FOUND; both end up empty.
    pub async fn server_sockets_page(
        &self,
        server: i64,
        start: i64,
        max: i64,
    ) -> Result<ServerSocketsPage, RpcError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetServerSocketsRequest {
            server_id: server,
            start_socket_id: start,
            max_results: max,
        });
        match call(Some(self.timeout), client.get_server_sockets(req)).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let mut refs = resp.socket_ref;
                refs.sort_by_key(|r| r.socket_id);
                refs.dedup_by_key(|r| r.socket_id);
                Ok(ServerSocketsPage {
                    start,
                    refs,
                    end: resp.end,
                })
            }
            Err(e) if e.code() == tonic::Code::NotFound => Ok(ServerSocketsPage {
                start,
                refs: Vec::new(),
                end: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// Every socket ref of a server, all pages, within the budget; none
    /// (and a note) when the server does not implement `GetServerSockets`.
    pub async fn all_server_sockets(
        &self,
        server: i64,
        budget: &Budget,
        cut: &mut Vec<Incomplete>,
    ) -> Result<Vec<i64>, PollError> {
        let rpc = format!("GetServerSockets(server={server})");
        let fetch = |start| async move {
            let page = self
                .server_sockets_page(server, start, self.page_size)
                .await?;
            let ids: Vec<i64> = page.refs.iter().map(|r| r.socket_id).collect();
            Ok((ids, page.end))
        };
        match self.list(&rpc, budget, cut, fetch, |id| *id).await {
            Ok(ids) => Ok(ids),
            Err(e) if e.code() == tonic::Code::Unimplemented => {
                cut.push(Incomplete::new(
                    EntityId::Server(server).label(),
                    CutReason::Unimplemented,
                    "GetServerSockets: its sockets are not listed",
                ));
                Ok(Vec::new())
            }
            Err(e) => Err(rpc_error(rpc, e)),
        }
    }

    /// `GetServer`; `None` when the server is gone.
    pub async fn server(&self, id: i64) -> Result<Option<Server>, RpcError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetServerRequest { server_id: id });
        call(Some(self.timeout), client.get_server(req))
            .await
            .map(|r| r.into_inner().server)
    }

    /// `GetChannel`.
    pub async fn channel(&self, id: i64) -> Result<Option<Channel>, RpcError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetChannelRequest { channel_id: id });
        call(Some(self.timeout), client.get_channel(req))
            .await
            .map(|r| r.into_inner().channel)
    }

    /// `GetSubchannel`.
    pub async fn subchannel(&self, id: i64) -> Result<Option<Subchannel>, RpcError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetSubchannelRequest { subchannel_id: id });
        call(Some(self.timeout), client.get_subchannel(req))
            .await
            .map(|r| r.into_inner().subchannel)
    }

    /// `GetSocket` (full, not summary).
    pub async fn socket(&self, id: i64) -> Result<Option<Socket>, RpcError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetSocketRequest {
            socket_id: id,
            summary: false,
        });
        call(Some(self.timeout), client.get_socket(req))
            .await
            .map(|r| r.into_inner().socket)
    }

    /// The health panel: `Check("")`, then `List` when the server has it.
    pub async fn health(&self) -> HealthReport {
        let mut client = self.health.clone();
        let overall = match call(
            Some(self.timeout),
            client.check(self.request(HealthCheckRequest {
                service: String::new(),
            })),
        )
        .await
        {
            Ok(r) => Ok(r.into_inner().status),
            Err(e) if e.code() == tonic::Code::Unimplemented => {
                Err("no health service".to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        let mut client = self.health.clone();
        let services = match call(
            Some(self.timeout),
            client.list(self.request(HealthListRequest {})),
        )
        .await
        {
            Ok(r) => {
                let mut v: Vec<ServiceHealth> = r
                    .into_inner()
                    .statuses
                    .into_iter()
                    .map(|(name, v)| ServiceHealth {
                        name,
                        status: v.status,
                    })
                    .collect();
                v.sort();
                Some(v)
            }
            Err(_) => None,
        };
        HealthReport { overall, services }
    }

    /// Fetches `seeds` and, level by level, everything below them (child
    /// channels, subchannels, sockets) down to `depth` levels, each entity
    /// once however many parents list it, at most [`DETAIL_CONCURRENCY`]
    /// RPCs at a time. `limit` bounds the children fetched per entity and
    /// `budget` the whole walk. What could not be fetched (NOT_FOUND, a
    /// method the server lacks, an RPC error, a bound) is listed in the
    /// result's `incomplete`; only a lost connection fails the walk.
    pub async fn walk(
        &self,
        seeds: Vec<EntityId>,
        limit: usize,
        depth: usize,
        budget: &Budget,
    ) -> Result<Details, PollError> {
        let mut details = Details::default();
        let mut incomplete = self
            .walk_into(seeds, limit, depth, budget, &mut details)
            .await?;
        details.incomplete.append(&mut incomplete);
        Ok(details)
    }

    /// [`Api::walk`], handing each entity to `sink` as it arrives; returns
    /// what could not be fetched. A complete snapshot stores 100,000
    /// subchannels straight into its maps this way, never in a list first.
    pub async fn walk_into(
        &self,
        seeds: Vec<EntityId>,
        limit: usize,
        depth: usize,
        budget: &Budget,
        sink: &mut (dyn Sink + Send),
    ) -> Result<Vec<Incomplete>, PollError> {
        let mut details = Walked::default();
        let mut seen: HashSet<EntityId> = HashSet::new();
        let mut frontier: Vec<EntityId> = seeds.into_iter().filter(|id| seen.insert(*id)).collect();
        let missing = MissingMethods::default();
        let mut unimplemented: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut level = 0;
        while !frontier.is_empty() {
            if level > depth {
                details.incomplete.push(Incomplete::new(
                    frontier[0].label(),
                    CutReason::Depth,
                    format!(
                        "{} entities deeper than {depth} levels not fetched",
                        frontier.len()
                    ),
                ));
                break;
            }
            let fit = budget.take_entities(frontier.len());
            if fit < frontier.len() {
                let left = frontier.split_off(fit);
                details.incomplete.push(Incomplete::new(
                    left[0].label(),
                    CutReason::Limit,
                    format!(
                        "{} entities not fetched (--max-entities {})",
                        left.len(),
                        budget.limits.max_entities
                    ),
                ));
            }
            sink.reserve(&frontier);
            // Each answer is taken as it arrives rather than collected
            // first: a level of 100,000 subchannels is then held once, in
            // the sink, not twice.
            let mut results = std::pin::pin!(
                stream::iter(std::mem::take(&mut frontier))
                    .map(|id| {
                        let missing = &missing;
                        async move { (id, self.fetch(id, missing).await) }
                    })
                    .buffer_unordered(DETAIL_CONCURRENCY)
            );
            let mut next = Vec::new();
            while let Some((id, result)) = results.next().await {
                match result {
                    Ok(Fetched::Channel(c)) => {
                        next.extend(children(
                            &c.channel_ref,
                            &c.subchannel_ref,
                            &c.socket_ref,
                            limit,
                        ));
                        sink.channel(*c);
                    }
                    Ok(Fetched::Subchannel(s)) => {
                        next.extend(children(
                            &s.channel_ref,
                            &s.subchannel_ref,
                            &s.socket_ref,
                            limit,
                        ));
                        sink.subchannel(*s);
                    }
                    Ok(Fetched::Socket(s)) => sink.socket(*s),
                    Ok(Fetched::Gone) => details.incomplete.push(Incomplete::new(
                        id.label(),
                        CutReason::NotFound,
                        "listed by its parent, then not found",
                    )),
                    Ok(Fetched::Unimplemented) => {
                        *unimplemented.entry(method_of(id)).or_default() += 1;
                    }
                    Err(e) if e.code() == tonic::Code::NotFound => {
                        details.incomplete.push(Incomplete::new(
                            id.label(),
                            CutReason::NotFound,
                            "listed by its parent, then NOT_FOUND",
                        ));
                    }
                    Err(e) if e.code() == tonic::Code::Unimplemented => {
                        missing.set(id);
                        *unimplemented.entry(method_of(id)).or_default() += 1;
                    }
                    Err(e) if is_connection_loss(&e) => {
                        return Err(rpc_error(format!("{}({})", method_of(id), id.label()), e));
                    }
                    Err(e) => details.incomplete.push(Incomplete::new(
                        id.label(),
                        CutReason::Error,
                        format!("{}: {e}", method_of(id)),
                    )),
                }
            }
            frontier = next.into_iter().filter(|id| seen.insert(*id)).collect();
            level += 1;
        }
        for (method, n) in unimplemented {
            details.incomplete.push(Incomplete::new(
                method,
                CutReason::Unimplemented,
                format!("the server does not answer {method}: {n} not fetched"),
            ));
        }
        Ok(details.incomplete)
    }

    async fn fetch(&self, id: EntityId, missing: &MissingMethods) -> Result<Fetched, RpcError> {
        if missing.has(id) {
            return Ok(Fetched::Unimplemented);
        }
        Ok(match id {
            EntityId::Channel(n) => self
                .channel(n)
                .await?
                .map_or(Fetched::Gone, |c| Fetched::Channel(Box::new(c))),
            EntityId::Subchannel(n) => self
                .subchannel(n)
                .await?
                .map_or(Fetched::Gone, |s| Fetched::Subchannel(Box::new(s))),
            EntityId::Socket(n) => self
                .socket(n)
                .await?
                .map_or(Fetched::Gone, |s| Fetched::Socket(Box::new(s))),
            EntityId::Server(_) => Fetched::Gone,
        })
    }

    /// The detail fetches for what the user looks at.
    pub async fn focus(&self, focus: &Focus) -> Result<Details, PollError> {
        let budget = Budget::new(self.limits);
        let mut details = match focus {
            Focus::Overview => Details::default(),
            Focus::Channel(id) => {
                self.walk(vec![EntityId::Channel(*id)], CHILD_FETCH_LIMIT, 1, &budget)
                    .await?
            }
            Focus::Subchannel(id) => {
                self.walk(
                    vec![EntityId::Subchannel(*id)],
                    CHILD_FETCH_LIMIT,
                    1,
                    &budget,
                )
                .await?
            }
            Focus::Socket(id) => {
                self.walk(vec![EntityId::Socket(*id)], 0, 0, &budget)
                    .await?
            }
            Focus::Server { id, start } => {
                let mut cut = Vec::new();
                let page = match self
                    .server_sockets_page(*id, *start, SERVER_SOCKETS_PAGE)
                    .await
                {
                    Ok(page) => page,
                    Err(e) if e.code() == tonic::Code::Unimplemented => {
                        cut.push(Incomplete::new(
                            EntityId::Server(*id).label(),
                            CutReason::Unimplemented,
                            "GetServerSockets: its sockets are not listed",
                        ));
                        ServerSocketsPage {
                            start: *start,
                            refs: Vec::new(),
                            end: true,
                        }
                    }
                    Err(e) => {
                        return Err(rpc_error(
                            format!("GetServerSockets(server={id}, start={start})"),
                            e,
                        ));
                    }
                };
                let mut seeds: Vec<EntityId> = page
                    .refs
                    .iter()
                    .map(|r| EntityId::Socket(r.socket_id))
                    .collect();
                match self.server(*id).await {
                    Ok(Some(server)) => seeds.extend(
                        server
                            .listen_socket
                            .iter()
                            .map(|r| EntityId::Socket(r.socket_id)),
                    ),
                    Ok(None) => {}
                    Err(e)
                        if matches!(
                            e.code(),
                            tonic::Code::NotFound | tonic::Code::Unimplemented
                        ) => {}
                    Err(e) => return Err(rpc_error(format!("GetServer({id})"), e)),
                }
                let mut d = self.walk(seeds, 0, 0, &budget).await?;
                d.server_sockets.push((*id, page));
                d.incomplete.extend(cut);
                d
            }
            Focus::Tree(roots) => {
                self.walk(
                    roots.iter().copied().map(EntityId::Channel).collect(),
                    CHILD_FETCH_LIMIT,
                    TREE_DEPTH,
                    &budget,
                )
                .await?
            }
        };
        details.at = Some(SystemTime::now());
        Ok(details)
    }
}

/// The `Get*` methods the server answered UNIMPLEMENTED for during one
/// walk: not asked again, so a server without `GetSubchannel` costs one RPC,
/// not one per subchannel.
#[derive(Debug, Default)]
struct MissingMethods {
    channel: AtomicBool,
    subchannel: AtomicBool,
    socket: AtomicBool,
}

impl MissingMethods {
    fn flag(&self, id: EntityId) -> Option<&AtomicBool> {
        match id {
            EntityId::Channel(_) => Some(&self.channel),
            EntityId::Subchannel(_) => Some(&self.subchannel),
            EntityId::Socket(_) => Some(&self.socket),
            EntityId::Server(_) => None,
        }
    }

    fn set(&self, id: EntityId) {
        if let Some(flag) = self.flag(id) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    fn has(&self, id: EntityId) -> bool {
        self.flag(id).is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

/// The RPC that fetches `id`.
fn method_of(id: EntityId) -> &'static str {
    match id {
        EntityId::Channel(_) => "GetChannel",
        EntityId::Subchannel(_) => "GetSubchannel",
        EntityId::Socket(_) => "GetSocket",
        EntityId::Server(_) => "GetServer",
    }
}

// Boxed: the variants differ a lot in size, and thousands of these sit in
// one Vec during a snapshot.
/// Where [`Api::walk_into`] puts what it fetched.
pub trait Sink {
    /// Room for the entities of the next level, `ids`: called before they
    /// are fetched, so that a sink sized by it never grows by doubling.
    fn reserve(&mut self, ids: &[EntityId]);
    /// A fetched channel.
    fn channel(&mut self, channel: Channel);
    /// A fetched subchannel.
    fn subchannel(&mut self, subchannel: Subchannel);
    /// A fetched socket.
    fn socket(&mut self, socket: Socket);
}

/// How many of `ids` are channels, subchannels and sockets.
pub fn count_kinds(ids: &[EntityId]) -> (usize, usize, usize) {
    ids.iter().fold((0, 0, 0), |(c, s, k), id| match id {
        EntityId::Channel(_) => (c + 1, s, k),
        EntityId::Subchannel(_) => (c, s + 1, k),
        EntityId::Socket(_) => (c, s, k + 1),
        EntityId::Server(_) => (c, s, k),
    })
}

impl Sink for Details {
    fn reserve(&mut self, ids: &[EntityId]) {
        let (c, s, k) = count_kinds(ids);
        self.channels.reserve(c);
        self.subchannels.reserve(s);
        self.sockets.reserve(k);
    }
    fn channel(&mut self, channel: Channel) {
        self.channels.push(channel);
    }
    fn subchannel(&mut self, subchannel: Subchannel) {
        self.subchannels.push(subchannel);
    }
    fn socket(&mut self, socket: Socket) {
        self.sockets.push(socket);
    }
}

/// What a walk keeps for itself: what it could not fetch.
#[derive(Default)]
struct Walked {
    incomplete: Vec<Incomplete>,
}

enum Fetched {
    Channel(Box<Channel>),
    Subchannel(Box<Subchannel>),
    Socket(Box<Socket>),
    /// The server answered without the entity.
    Gone,
    /// Not asked: the method answered UNIMPLEMENTED before.
    Unimplemented,
}

fn children(
    channels: &[grpc_toolkit_proto::channelz::v1::ChannelRef],
    subchannels: &[grpc_toolkit_proto::channelz::v1::SubchannelRef],
    sockets: &[grpc_toolkit_proto::channelz::v1::SocketRef],
    limit: usize,
) -> Vec<EntityId> {
    let mut c: Vec<i64> = channels.iter().map(|r| r.channel_id).collect();
    let mut s: Vec<i64> = subchannels.iter().map(|r| r.subchannel_id).collect();
    let mut k: Vec<i64> = sockets.iter().map(|r| r.socket_id).collect();
    c.sort_unstable();
    s.sort_unstable();
    k.sort_unstable();
    c.into_iter()
        .take(limit)
        .map(EntityId::Channel)
        .chain(s.into_iter().take(limit).map(EntityId::Subchannel))
        .chain(k.into_iter().take(limit).map(EntityId::Socket))
        .collect()
}

fn dedup_sorted<T>(mut items: Vec<T>, key: impl Fn(&T) -> i64) -> Vec<T> {
    items.sort_by_key(&key);
    items.dedup_by(|a, b| key(a) == key(b));
    items
}

/// Every socket id of one server, and what listing them could not get.
struct ServerSocketIds {
    server: i64,
    sockets: Vec<i64>,
    incomplete: Vec<Incomplete>,
}

/// The socket ids of each of `servers`, [`DETAIL_CONCURRENCY`] at a time.
async fn server_socket_ids(
    api: &Api,
    servers: Vec<i64>,
    budget: &Budget,
) -> Result<Vec<ServerSocketIds>, PollError> {
    stream::iter(servers)
        .map(|server| async move {
            let mut incomplete = Vec::new();
            let sockets = api
                .all_server_sockets(server, budget, &mut incomplete)
                .await?;
            Ok(ServerSocketIds {
                server,
                sockets,
                incomplete,
            })
        })
        .buffer_unordered(DETAIL_CONCURRENCY)
        .collect::<Vec<Result<ServerSocketIds, PollError>>>()
        .await
        .into_iter()
        .collect()
}

/// One complete overview poll.
pub async fn overview(api: &Api) -> Result<Msg, PollError> {
    let budget = Budget::new(api.limits);
    let (mut channels_cut, mut servers_cut) = (Vec::new(), Vec::new());
    let (channels, servers) = tokio::try_join!(
        api.top_channels(&budget, &mut channels_cut),
        api.servers(&budget, &mut servers_cut)
    )?;
    let ids: Vec<i64> = servers
        .iter()
        .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id))
        .collect();
    let mut incomplete = channels_cut;
    incomplete.append(&mut servers_cut);
    let mut server_socket_counts = Vec::new();
    for mut listed in server_socket_ids(api, ids, &budget).await? {
        server_socket_counts.push((listed.server, listed.sockets.len()));
        incomplete.append(&mut listed.incomplete);
    }
    Ok(Msg::Overview {
        at: SystemTime::now(),
        channels,
        servers,
        server_socket_counts,
        incomplete,
    })
}

/// What the UI tells the poller: what to fetch in detail, and whether to
/// poll at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The detail focus.
    pub focus: Focus,
    /// Paused: no polls until resumed (the user is reading).
    pub paused: bool,
}

impl Wanted {
    /// Tells the poller, waking it only when something changed: the loop
    /// calls this after every event, and a poll per keystroke would be
    /// wasted.
    pub fn send(self, tx: &watch::Sender<Wanted>) {
        tx.send_if_modified(|w| {
            if *w == self {
                false
            } else {
                *w = self;
                true
            }
        });
    }
}

/// A way to open a connection: the real one dials with the user's flags,
/// tests can dial anything.
pub type Dialer =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Api, ConnectError>> + Send>> + Send + Sync>;

/// Backoff between connection attempts: 0.5s doubling to 16s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1u64 << attempt.min(5)))
}

/// The poller task: connects (retrying with backoff), polls the overview,
/// the focused details and health every `interval`, and reports it all as
/// messages. Ends when the receiving side is gone.
pub async fn run(
    dial: Dialer,
    interval: Duration,
    tx: mpsc::Sender<Msg>,
    mut wanted: watch::Receiver<Wanted>,
    refresh: Arc<Notify>,
) {
    loop {
        let Some(api) = connect(&dial, &tx, &refresh, |_| None).await else {
            return;
        };
        loop {
            let want = wanted.borrow_and_update().clone();
            if !want.paused {
                match poll_once(&api, &want.focus).await {
                    Ok(msgs) => {
                        for msg in msgs {
                            if tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => match report_failure(&tx, e).await {
                        AfterFailure::KeepPolling => {}
                        AfterFailure::Reconnect => break,
                        AfterFailure::Stop => return,
                    },
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = refresh.notified() => {}
                changed = wanted.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Connects through `dial` for a poller, telling the screen each step:
/// `Connecting`, then `Connected`, or `Disconnected` with the wait before the
/// next attempt ([`backoff`], cut short by a refresh). `failed` sees each
/// connect error first (the recording poller records it) and may return a
/// message for the screen. `None` when the screen is gone.
pub async fn connect(
    dial: &Dialer,
    tx: &mpsc::Sender<Msg>,
    refresh: &Notify,
    mut failed: impl FnMut(&ConnectError) -> Option<Msg>,
) -> Option<Api> {
    let mut attempt: u32 = 0;
    loop {
        tx.send(Msg::Connecting).await.ok()?;
        let error = match dial().await {
            Ok(api) => {
                tx.send(Msg::Connected).await.ok()?;
                return Some(api);
            }
            Err(error) => error,
        };
        if let Some(msg) = failed(&error) {
            tx.send(msg).await.ok()?;
        }
        let wait = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let retry_at = SystemTime::now() + wait;
        let error = Outage::from(error);
        tx.send(Msg::Disconnected { error, retry_at }).await.ok()?;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = refresh.notified() => {}
        }
    }
}

/// What a poller does after a failed poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Poll again at the next interval, on the same connection.
    KeepPolling,
    /// The connection is gone: [`connect`] again.
    Reconnect,
    /// The screen is gone.
    Stop,
}

/// Tells the screen about a failed poll: no Channelz service, one failed
/// RPC, or a lost connection, after which the poller waits [`backoff`]`(0)`
/// and reconnects.
pub async fn report_failure(tx: &mpsc::Sender<Msg>, e: PollError) -> AfterFailure {
    let (msg, after) = match e {
        PollError::NoChannelz => (Msg::NoChannelz, AfterFailure::KeepPolling),
        e if e.is_connection_loss() => {
            let wait = backoff(0);
            let retry_at = SystemTime::now() + wait;
            let error = Outage::from(e);
            if tx
                .send(Msg::Disconnected { error, retry_at })
                .await
                .is_err()
            {
                return AfterFailure::Stop;
            }
            tokio::time::sleep(wait).await;
            return AfterFailure::Reconnect;
        }
        e => (Msg::PollFailed(e.to_string()), AfterFailure::KeepPolling),
    };
    match tx.send(msg).await {
        Ok(()) => after,
        Err(_) => AfterFailure::Stop,
    }
}

/// One poll: the overview, the focused details and health, as messages.
pub async fn poll_once(api: &Api, focus: &Focus) -> Result<Vec<Msg>, PollError> {
    let overview = overview(api).await?;
    let details = api.focus(focus).await?;
    let health = api.health().await;
    Ok(vec![overview, Msg::Details(details), Msg::Health(health)])
}

/// Everything below the top channels and servers, for a complete snapshot:
/// all descendants of every top channel, and every socket of every server,
/// within `budget`.
pub async fn everything(
    api: &Api,
    channels: &[Channel],
    servers: &[Server],
    budget: &Budget,
    sink: &mut (dyn Sink + Send),
) -> Result<(Vec<Incomplete>, HashMap<i64, Vec<i64>>), PollError> {
    let mut seeds: Vec<EntityId> = Vec::new();
    for c in channels {
        seeds.extend(children(
            &c.channel_ref,
            &c.subchannel_ref,
            &c.socket_ref,
            usize::MAX,
        ));
    }
    let mut server_sockets = HashMap::new();
    let ids = servers
        .iter()
        .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id))
        .collect();
    let mut incomplete = Vec::new();
    for mut listed in server_socket_ids(api, ids, budget).await? {
        seeds.extend(listed.sockets.iter().copied().map(EntityId::Socket));
        server_sockets.insert(listed.server, listed.sockets);
        incomplete.append(&mut listed.incomplete);
    }
    for s in servers {
        seeds.extend(
            s.listen_socket
                .iter()
                .map(|r| EntityId::Socket(r.socket_id)),
        );
    }
    // Top channels are in hand already: their refs from other channels
    // need no second fetch.
    let top: HashSet<EntityId> = channels
        .iter()
        .filter_map(|c| c.r#ref.as_ref().map(|r| EntityId::Channel(r.channel_id)))
        .collect();
    seeds.retain(|id| !top.contains(id));
    let mut walked = api
        .walk_into(seeds, usize::MAX, TREE_DEPTH, budget, sink)
        .await?;
    walked.append(&mut incomplete);
    Ok((walked, server_sockets))
}
