//! The I/O side: Channelz and health RPCs, paging, lazy detail fetches with
//! bounded concurrency, and the poller task that owns the connection
//! (`Connected` / `Disconnected(backoff)`) and turns every answer into an
//! [`msg::Msg`](crate::msg::Msg). Nothing here renders, and nothing
//! that renders waits on anything here.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
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
    EntityId, Focus, HealthReport, SERVER_SOCKETS_PAGE, ServerSocketsPage, ServiceHealth,
};
use crate::msg::{Details, Msg, Outage};

/// How many detail RPCs run at once. Enough to fill a loopback link, few
/// enough that a production server never sees a burst from a dashboard.
pub const DETAIL_CONCURRENCY: usize = 32;

/// How many children of one entity a detail screen fetches. A channel with
/// more (rare: pick-first over thousands of addresses) still lists them all
/// by id; only their details wait until the user opens them.
pub const CHILD_FETCH_LIMIT: usize = 256;

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The server does not implement `grpc.channelz.v1.Channelz`.
    #[error("this server has no Channelz service (UNIMPLEMENTED)")]
    NoChannelz,
    /// An RPC failed.
    #[error("{what}: {source}")]
    Rpc {
        /// Which RPC, with its arguments.
        what: String,
        /// The failure.
        source: RpcError,
    },
    /// The server answered pages that never end (its `start_id` handling is
    /// broken); stopping beats looping forever.
    #[error("{0}: the server's pages do not advance; stopped paging")]
    Paging(&'static str),
}

impl PollError {
    /// True when the connection itself is gone, so the poller must redial.
    pub fn is_connection_loss(&self) -> bool {
        match self {
            PollError::Rpc { source, .. } => matches!(
                source.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ),
            _ => false,
        }
    }
}

fn rpc_error(what: impl Into<String>, source: RpcError) -> PollError {
    if source.code() == tonic::Code::Unimplemented {
        return PollError::NoChannelz;
    }
    PollError::Rpc {
        what: what.into(),
        source,
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
}

impl Api {
    /// Clients on `conn`; every RPC gets `rpc_timeout` as its deadline.
    pub fn new(conn: Connection, rpc_timeout: Duration) -> Self {
        Api {
            channelz: conn.channelz_client(),
            health: conn.health_client(),
            conn,
            timeout: rpc_timeout,
            page_size: 500,
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        self.conn.request(message, Some(self.timeout))
    }

    /// Every top channel, all pages, in id order.
    pub async fn top_channels(&self) -> Result<Vec<Channel>, PollError> {
        let mut out: Vec<Channel> = Vec::new();
        let mut start = 0;
        loop {
            let mut client = self.channelz.clone();
            let req = self.request(GetTopChannelsRequest {
                start_channel_id: start,
                max_results: self.page_size,
            });
            let resp = call(Some(self.timeout), client.get_top_channels(req))
                .await
                .map_err(|e| rpc_error(format!("GetTopChannels(start={start})"), e))?
                .into_inner();
            let last = resp
                .channel
                .iter()
                .filter_map(|c| c.r#ref.as_ref())
                .map(|r| r.channel_id)
                .max();
            out.extend(resp.channel);
            if resp.end {
                break;
            }
            // The next page starts right after the highest id seen; a page
            // that does not move forward would loop forever.
            match last {
                Some(last) if last >= start => start = last + 1,
                _ => return Err(PollError::Paging("GetTopChannels")),
            }
        }
        Ok(dedup_sorted(out, |c| {
            c.r#ref.as_ref().map_or(0, |r| r.channel_id)
        }))
    }

    /// Every server, all pages, in id order.
    pub async fn servers(&self) -> Result<Vec<Server>, PollError> {
        let mut out: Vec<Server> = Vec::new();
        let mut start = 0;
        loop {
            let mut client = self.channelz.clone();
            let req = self.request(GetServersRequest {
                start_server_id: start,
                max_results: self.page_size,
            });
            let resp = call(Some(self.timeout), client.get_servers(req))
                .await
                .map_err(|e| rpc_error(format!("GetServers(start={start})"), e))?
                .into_inner();
            let last = resp
                .server
                .iter()
                .filter_map(|s| s.r#ref.as_ref())
                .map(|r| r.server_id)
                .max();
            out.extend(resp.server);
            if resp.end {
                break;
            }
            match last {
                Some(last) if last >= start => start = last + 1,
                _ => return Err(PollError::Paging("GetServers")),
            }
        }
        Ok(dedup_sorted(out, |s| {
            s.r#ref.as_ref().map_or(0, |r| r.server_id)
        }))
    }

    /// One page of a server's sockets. grpc-go answers an unknown server id
    /// with an empty last page rather than NOT_FOUND; both end up empty.
    pub async fn server_sockets_page(
        &self,
        server: i64,
        start: i64,
        max: i64,
    ) -> Result<ServerSocketsPage, PollError> {
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
            Err(e) => Err(rpc_error(
                format!("GetServerSockets(server={server}, start={start})"),
                e,
            )),
        }
    }

    /// Every socket ref of a server, all pages.
    pub async fn all_server_sockets(&self, server: i64) -> Result<Vec<i64>, PollError> {
        let mut ids = Vec::new();
        let mut start = 0;
        loop {
            let page = self
                .server_sockets_page(server, start, self.page_size)
                .await?;
            let last = page.refs.iter().map(|r| r.socket_id).max();
            ids.extend(page.refs.iter().map(|r| r.socket_id));
            if page.end {
                break;
            }
            match last {
                Some(last) if last >= start => start = last + 1,
                _ => return Err(PollError::Paging("GetServerSockets")),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// `GetServer`; `None` when the server is gone.
    pub async fn server(&self, id: i64) -> Result<Option<Server>, PollError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetServerRequest { server_id: id });
        match call(Some(self.timeout), client.get_server(req)).await {
            Ok(r) => Ok(r.into_inner().server),
            Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(rpc_error(format!("GetServer({id})"), e)),
        }
    }

    /// `GetChannel`; `None` when the channel is gone.
    pub async fn channel(&self, id: i64) -> Result<Option<Channel>, PollError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetChannelRequest { channel_id: id });
        match call(Some(self.timeout), client.get_channel(req)).await {
            Ok(r) => Ok(r.into_inner().channel),
            Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(rpc_error(format!("GetChannel({id})"), e)),
        }
    }

    /// `GetSubchannel`; `None` when it is gone.
    pub async fn subchannel(&self, id: i64) -> Result<Option<Subchannel>, PollError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetSubchannelRequest { subchannel_id: id });
        match call(Some(self.timeout), client.get_subchannel(req)).await {
            Ok(r) => Ok(r.into_inner().subchannel),
            Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(rpc_error(format!("GetSubchannel({id})"), e)),
        }
    }

    /// `GetSocket` (full, not summary); `None` when it is gone.
    pub async fn socket(&self, id: i64) -> Result<Option<Socket>, PollError> {
        let mut client = self.channelz.clone();
        let req = self.request(GetSocketRequest {
            socket_id: id,
            summary: false,
        });
        match call(Some(self.timeout), client.get_socket(req)).await {
            Ok(r) => Ok(r.into_inner().socket),
            Err(e) if e.code() == tonic::Code::NotFound => Ok(None),
            Err(e) => Err(rpc_error(format!("GetSocket({id})"), e)),
        }
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
    /// channels, subchannels, sockets), at most [`DETAIL_CONCURRENCY`] RPCs
    /// at a time. `limit` bounds the children fetched per entity.
    pub async fn walk(
        &self,
        seeds: Vec<EntityId>,
        limit: usize,
        depth: usize,
    ) -> Result<Details, PollError> {
        let mut details = Details::default();
        let mut seen: HashSet<EntityId> = HashSet::new();
        let mut frontier: Vec<EntityId> = seeds.into_iter().filter(|id| seen.insert(*id)).collect();
        for _ in 0..=depth {
            if frontier.is_empty() {
                break;
            }
            let results: Vec<Result<Fetched, PollError>> = stream::iter(frontier.drain(..))
                .map(|id| self.fetch(id))
                .buffer_unordered(DETAIL_CONCURRENCY)
                .collect()
                .await;
            let mut next = Vec::new();
            for result in results {
                match result? {
                    Fetched::Channel(c) => {
                        next.extend(children(
                            &c.channel_ref,
                            &c.subchannel_ref,
                            &c.socket_ref,
                            limit,
                        ));
                        details.channels.push(*c);
                    }
                    Fetched::Subchannel(s) => {
                        next.extend(children(
                            &s.channel_ref,
                            &s.subchannel_ref,
                            &s.socket_ref,
                            limit,
                        ));
                        details.subchannels.push(*s);
                    }
                    Fetched::Socket(s) => details.sockets.push(*s),
                    Fetched::Gone => {}
                }
            }
            frontier = next.into_iter().filter(|id| seen.insert(*id)).collect();
        }
        Ok(details)
    }

    async fn fetch(&self, id: EntityId) -> Result<Fetched, PollError> {
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
        let mut details = match focus {
            Focus::Overview => Details::default(),
            Focus::Channel(id) => {
                self.walk(vec![EntityId::Channel(*id)], CHILD_FETCH_LIMIT, 1)
                    .await?
            }
            Focus::Subchannel(id) => {
                self.walk(vec![EntityId::Subchannel(*id)], CHILD_FETCH_LIMIT, 1)
                    .await?
            }
            Focus::Socket(id) => self.walk(vec![EntityId::Socket(*id)], 0, 0).await?,
            Focus::Server { id, start } => {
                let page = self
                    .server_sockets_page(*id, *start, SERVER_SOCKETS_PAGE)
                    .await?;
                let mut seeds: Vec<EntityId> = page
                    .refs
                    .iter()
                    .map(|r| EntityId::Socket(r.socket_id))
                    .collect();
                if let Some(server) = self.server(*id).await? {
                    seeds.extend(
                        server
                            .listen_socket
                            .iter()
                            .map(|r| EntityId::Socket(r.socket_id)),
                    );
                }
                let mut d = self.walk(seeds, 0, 0).await?;
                d.server_sockets.push((*id, page));
                d
            }
            Focus::Tree(roots) => {
                self.walk(
                    roots.iter().copied().map(EntityId::Channel).collect(),
                    CHILD_FETCH_LIMIT,
                    8,
                )
                .await?
            }
        };
        details.at = Some(SystemTime::now());
        Ok(details)
    }
}

// Boxed: the variants differ a lot in size, and thousands of these sit in
// one Vec during a snapshot.
enum Fetched {
    Channel(Box<Channel>),
    Subchannel(Box<Subchannel>),
    Socket(Box<Socket>),
    Gone,
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

/// One complete overview poll.
pub async fn overview(api: &Api) -> Result<Msg, PollError> {
    let (channels, servers) = tokio::try_join!(api.top_channels(), api.servers())?;
    let ids: Vec<i64> = servers
        .iter()
        .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id))
        .collect();
    let counts: Vec<Result<(i64, usize), PollError>> = stream::iter(ids)
        .map(|id| count_server_sockets(api, id))
        .buffer_unordered(DETAIL_CONCURRENCY)
        .collect()
        .await;
    let server_socket_counts = counts.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Msg::Overview {
        at: SystemTime::now(),
        channels,
        servers,
        server_socket_counts,
    })
}

async fn count_server_sockets(api: &Api, id: i64) -> Result<(i64, usize), PollError> {
    api.all_server_sockets(id).await.map(|ids| (id, ids.len()))
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
    let mut attempt: u32 = 0;
    loop {
        if tx.send(Msg::Connecting).await.is_err() {
            return;
        }
        let api = match dial().await {
            Ok(api) => api,
            Err(error) => {
                let wait = backoff(attempt);
                attempt = attempt.saturating_add(1);
                if tx
                    .send(Msg::Disconnected {
                        error: Outage::from(error),
                        retry_at: SystemTime::now() + wait,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = refresh.notified() => {}
                }
                continue;
            }
        };
        attempt = 0;
        if tx.send(Msg::Connected).await.is_err() {
            return;
        }
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
                    Err(PollError::NoChannelz) => {
                        if tx.send(Msg::NoChannelz).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_connection_loss() => {
                        let wait = backoff(0);
                        if tx
                            .send(Msg::Disconnected {
                                error: Outage::from(e),
                                retry_at: SystemTime::now() + wait,
                            })
                            .await
                            .is_err()
                        {
                            return;
                        }
                        tokio::time::sleep(wait).await;
                        break;
                    }
                    Err(e) => {
                        if tx.send(Msg::PollFailed(e.to_string())).await.is_err() {
                            return;
                        }
                    }
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

/// One poll: the overview, the focused details and health, as messages.
pub async fn poll_once(api: &Api, focus: &Focus) -> Result<Vec<Msg>, PollError> {
    let overview = overview(api).await?;
    let details = api.focus(focus).await?;
    let health = api.health().await;
    Ok(vec![overview, Msg::Details(details), Msg::Health(health)])
}

/// Everything below the top channels and servers, for a complete snapshot:
/// all descendants of every top channel, and every socket of every server.
pub async fn everything(
    api: &Api,
    channels: &[Channel],
    servers: &[Server],
) -> Result<(Details, HashMap<i64, Vec<i64>>), PollError> {
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
    let pages: Vec<Result<(i64, Vec<i64>), PollError>> = stream::iter(
        servers
            .iter()
            .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id)),
    )
    .map(|id| async move { api.all_server_sockets(id).await.map(|ids| (id, ids)) })
    .buffer_unordered(DETAIL_CONCURRENCY)
    .collect()
    .await;
    for page in pages {
        let (id, ids) = page?;
        seeds.extend(ids.iter().copied().map(EntityId::Socket));
        server_sockets.insert(id, ids);
    }
    for s in servers {
        seeds.extend(
            s.listen_socket
                .iter()
                .map(|r| EntityId::Socket(r.socket_id)),
        );
    }
    let details = api.walk(seeds, usize::MAX, 16).await?;
    Ok((details, server_sockets))
}
