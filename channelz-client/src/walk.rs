//! Fetching below the lists: from seed entities, level by level, every
//! child channel, subchannel and socket, each once however many parents
//! list it (so a cycle ends), a bounded number at a time, within the
//! [`Budget`]; and every socket of every server. What could not be fetched
//! is an [`Incomplete`] entry; only a lost connection fails a walk.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};
use grpc_toolkit_conn::RpcError;
use grpc_toolkit_proto::channelz::v1::{
    Channel, ChannelRef, Server, Socket, SocketRef, Subchannel, SubchannelRef,
};

use crate::budget::Budget;
use crate::client::{Client, Error, is_connection_loss, rpc_error};
use crate::cut::{CutReason, EntityId, Incomplete};

/// How many RPCs of a walk run at once. Enough to fill a loopback link, few
/// enough that a production server never sees a burst from a dashboard.
pub const DETAIL_CONCURRENCY: usize = 32;

/// What the levels below a walk's depth are to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beyond {
    /// Fetched later, on demand (a dashboard's detail screen fetches one
    /// level and the next when the user opens it): not fetching them now
    /// leaves nothing out, so it is not reported.
    Later,
    /// A bound on the snapshot: what lies deeper is reported as
    /// [`CutReason::Depth`].
    Cut,
}

/// How far a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    /// Children fetched per entity and kind; the rest stay listed by id in
    /// their parent.
    pub child_limit: usize,
    /// Levels fetched below the seeds (0: the seeds only).
    pub depth: usize,
    /// What the levels below `depth` are.
    pub beyond: Beyond,
}

/// Where [`Client::walk_into`] puts what it fetched.
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

// Boxed: the variants differ a lot in size, and thousands of these sit in
// one stream during a walk.
enum Fetched {
    Channel(Box<Channel>),
    Subchannel(Box<Subchannel>),
    Socket(Box<Socket>),
    /// The server answered without the entity.
    Gone,
    /// Not asked: the method answered UNIMPLEMENTED before.
    Unimplemented,
}

/// The children an entity lists, in id order, at most `limit` of each kind.
pub fn children(
    channels: &[ChannelRef],
    subchannels: &[SubchannelRef],
    sockets: &[SocketRef],
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

/// Every socket id of one server, and what listing them could not get.
#[derive(Debug)]
pub struct ServerSocketIds {
    /// The server.
    pub server: i64,
    /// Its sockets' ids, in id order.
    pub sockets: Vec<i64>,
    /// What listing them left out.
    pub incomplete: Vec<Incomplete>,
}

impl Client {
    /// A whole walk below the top level: fetches `seeds` except the
    /// `top` channels (in hand already: a ref to one from another channel
    /// needs no second fetch) and everything below them to `depth`, every
    /// child followed, a level past `depth` reported as cut.
    pub async fn walk_below_top(
        &self,
        mut seeds: Vec<EntityId>,
        top: &[Channel],
        depth: usize,
        budget: &Budget,
        sink: &mut (dyn Sink + Send),
    ) -> Result<Vec<Incomplete>, Error> {
        let top: HashSet<EntityId> = top
            .iter()
            .filter_map(|c| c.r#ref.as_ref().map(|r| EntityId::Channel(r.channel_id)))
            .collect();
        seeds.retain(|id| !top.contains(id));
        let walk = Walk {
            child_limit: usize::MAX,
            depth,
            beyond: Beyond::Cut,
        };
        self.walk_into(seeds, walk, budget, sink).await
    }

    /// Fetches `seeds` and, level by level, everything below them (child
    /// channels, subchannels, sockets) as `walk` says, handing each entity
    /// to `sink` as it arrives, at most [`DETAIL_CONCURRENCY`] RPCs at a
    /// time, within `budget`. Returns what could not be fetched (NOT_FOUND,
    /// a method the server lacks, an RPC error, a bound); only a lost
    /// connection fails the walk. A complete snapshot stores 100,000
    /// subchannels straight into its maps this way, never in a list first.
    pub async fn walk_into(
        &self,
        seeds: Vec<EntityId>,
        walk: Walk,
        budget: &Budget,
        sink: &mut (dyn Sink + Send),
    ) -> Result<Vec<Incomplete>, Error> {
        let mut incomplete = Vec::new();
        let mut seen: HashSet<EntityId> = HashSet::new();
        let mut frontier: Vec<EntityId> = seeds.into_iter().filter(|id| seen.insert(*id)).collect();
        let missing = MissingMethods::default();
        let mut unimplemented: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut level = 0;
        while !frontier.is_empty() {
            if level > walk.depth {
                if walk.beyond == Beyond::Cut {
                    incomplete.push(Incomplete::new(
                        frontier[0].label(),
                        CutReason::Depth,
                        format!(
                            "{} entities deeper than {} levels not fetched",
                            frontier.len(),
                            walk.depth
                        ),
                    ));
                }
                break;
            }
            let fit = budget.take_entities(frontier.len());
            if fit < frontier.len() {
                let left = frontier.split_off(fit);
                incomplete.push(Incomplete::new(
                    left[0].label(),
                    CutReason::Limit,
                    format!(
                        "{} entities not fetched (max entities {})",
                        left.len(),
                        budget.limits().max_entities
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
                            walk.child_limit,
                        ));
                        sink.channel(*c);
                    }
                    Ok(Fetched::Subchannel(s)) => {
                        next.extend(children(
                            &s.channel_ref,
                            &s.subchannel_ref,
                            &s.socket_ref,
                            walk.child_limit,
                        ));
                        sink.subchannel(*s);
                    }
                    Ok(Fetched::Socket(s)) => sink.socket(*s),
                    Ok(Fetched::Gone) => incomplete.push(Incomplete::new(
                        id.label(),
                        CutReason::NotFound,
                        "listed by its parent, then not found",
                    )),
                    Ok(Fetched::Unimplemented) => {
                        *unimplemented.entry(id.method()).or_default() += 1;
                    }
                    Err(e) if e.code() == tonic::Code::NotFound => {
                        incomplete.push(Incomplete::new(
                            id.label(),
                            CutReason::NotFound,
                            "listed by its parent, then NOT_FOUND",
                        ));
                    }
                    Err(e) if e.code() == tonic::Code::Unimplemented => {
                        missing.set(id);
                        *unimplemented.entry(id.method()).or_default() += 1;
                    }
                    Err(e) if is_connection_loss(&e) => {
                        return Err(rpc_error(format!("{}({})", id.method(), id.label()), e));
                    }
                    Err(e) => incomplete.push(Incomplete::new(
                        id.label(),
                        CutReason::Error,
                        format!("{}: {e}", id.method()),
                    )),
                }
            }
            frontier = next.into_iter().filter(|id| seen.insert(*id)).collect();
            level += 1;
        }
        for (method, n) in unimplemented {
            incomplete.push(Incomplete::new(
                method,
                CutReason::Unimplemented,
                format!("the server does not answer {method}: {n} not fetched"),
            ));
        }
        Ok(incomplete)
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

    /// The socket ids of each of `servers`, [`DETAIL_CONCURRENCY`] at a
    /// time, within `budget`.
    pub async fn server_socket_ids(
        &self,
        servers: Vec<i64>,
        budget: &Budget,
    ) -> Result<Vec<ServerSocketIds>, Error> {
        stream::iter(servers)
            .map(|server| async move {
                let mut incomplete = Vec::new();
                let sockets = self
                    .all_server_sockets(server, budget, &mut incomplete)
                    .await?;
                Ok(ServerSocketIds {
                    server,
                    sockets,
                    incomplete,
                })
            })
            .buffer_unordered(DETAIL_CONCURRENCY)
            .collect::<Vec<Result<ServerSocketIds, Error>>>()
            .await
            .into_iter()
            .collect()
    }

    /// Everything below the top channels and servers, for a complete
    /// snapshot: all descendants of every top channel down to `depth`
    /// levels (deeper is a [`CutReason::Depth`] cut), and every socket of
    /// every server (listen sockets included), within `budget`, into
    /// `sink`. Returns what was left out and each server's socket ids.
    pub async fn everything(
        &self,
        channels: &[Channel],
        servers: &[Server],
        depth: usize,
        budget: &Budget,
        sink: &mut (dyn Sink + Send),
    ) -> Result<(Vec<Incomplete>, HashMap<i64, Vec<i64>>), Error> {
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
        for mut listed in self.server_socket_ids(ids, budget).await? {
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
        let mut walked = self
            .walk_below_top(seeds, channels, depth, budget, sink)
            .await?;
        walked.append(&mut incomplete);
        Ok((walked, server_sockets))
    }
}
