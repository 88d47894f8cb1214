//! The I/O side: Channelz and health RPCs, paging, lazy detail fetches with
//! bounded concurrency, and the poller task that owns the connection
//! (`Connected` / `Disconnected(backoff)`) and turns every answer into an
//! [`msg::Msg`](crate::msg::Msg). Nothing here renders, and nothing
//! that renders waits on anything here.

use std::collections::HashMap;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use grpc_toolkit_channelz_client::{Beyond, Client, Walk};
use grpc_toolkit_conn::GrpcChannel as Transport;
use grpc_toolkit_conn::{ConnectError, Connection, call};
use grpc_toolkit_proto::channelz::v1::{Channel, Server, Socket, Subchannel};
use grpc_toolkit_proto::health::v1::{
    HealthCheckRequest, HealthListRequest, health_client::HealthClient,
};
use tokio::sync::{Notify, mpsc, watch};

use crate::model::{
    CutReason, EntityId, Focus, HealthReport, Incomplete, SERVER_SOCKETS_PAGE, ServerSocketsPage,
    ServiceHealth, TREE_DEPTH,
};
use crate::msg::{Details, Msg};
use crate::outage::Outage;
pub use crate::outage::PollError;
use crate::xds::XdsPoll;

// Listing, paging, fetching and their bounds are the Channelz client's;
// the names stay here too, where the dashboard's code and tests find them.
pub use grpc_toolkit_channelz_client::{
    Budget, DEFAULT_MAX_ENTITIES, DEFAULT_MAX_PAGES, DETAIL_CONCURRENCY, Limits, Sink, count_kinds,
};

/// How many children of one entity a detail screen fetches. A channel with
/// more (rare: pick-first over thousands of addresses) still lists them all
/// by id; only their details wait until the user opens them.
pub const CHILD_FETCH_LIMIT: usize = 256;

/// A channel's or subchannel's detail screen: the entity and its children.
/// What lies below them (a subchannel's sockets) is fetched when the user
/// opens that child, so not fetching it now leaves nothing out.
const DETAIL_SCREEN: Walk = Walk {
    child_limit: CHILD_FETCH_LIMIT,
    depth: 1,
    beyond: Beyond::Later,
};

/// The seeds alone (sockets, which have no children).
const SEEDS_ONLY: Walk = Walk {
    child_limit: 0,
    depth: 0,
    beyond: Beyond::Later,
};

/// The dashboard's clients on one connection: Channelz (the shared
/// [`Client`], with its bounds, reached through `Deref` so the poller,
/// the JSON mode and the fleet call its listing and fetching directly) and
/// health, for the health panel.
#[derive(Debug, Clone)]
pub struct Api {
    channelz: Client,
    conn: Connection,
    health: HealthClient<Transport>,
    timeout: Duration,
}

impl Deref for Api {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.channelz
    }
}

impl DerefMut for Api {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.channelz
    }
}

impl Api {
    /// Clients on `conn`; every RPC gets `rpc_timeout` as its deadline.
    pub fn new(conn: Connection, rpc_timeout: Duration) -> Self {
        Api {
            channelz: Client::new(conn.clone(), rpc_timeout),
            health: conn.health(),
            conn,
            timeout: rpc_timeout,
        }
    }

    /// The same clients, bounding each snapshot by `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.channelz = self.channelz.with_limits(limits);
        self
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        self.conn.request(message, Some(self.timeout))
    }

    /// CSDS, read once within the RPC timeout (see [`XdsPoll`]).
    pub async fn xds(&self) -> XdsPoll {
        match grpc_toolkit_channelz_client::csds::fetch(&self.conn, self.timeout).await {
            Ok(Some(status)) => XdsPoll::Status(status),
            Ok(None) => XdsPoll::Unsupported,
            Err(e) => XdsPoll::Failed(e.to_string()),
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

    /// Fetches `seeds` and what lies below them as `walk` says (see
    /// [`Client::walk_into`]), into a [`Details`] with what could not be
    /// fetched in its `incomplete`; only a lost connection fails the walk.
    pub async fn walk(
        &self,
        seeds: Vec<EntityId>,
        walk: Walk,
        budget: &Budget,
    ) -> Result<Details, PollError> {
        let mut details = Details::default();
        let mut incomplete = self
            .channelz
            .walk_into(seeds, walk, budget, &mut details)
            .await?;
        details.incomplete.append(&mut incomplete);
        Ok(details)
    }

    /// The detail fetches for what the user looks at.
    pub async fn focus(&self, focus: &Focus) -> Result<Details, PollError> {
        let budget = Budget::new(self.limits);
        let mut details = match focus {
            Focus::Overview => Details::default(),
            Focus::Channel(id) => {
                self.walk(vec![EntityId::Channel(*id)], DETAIL_SCREEN, &budget)
                    .await?
            }
            Focus::Subchannel(id) => {
                self.walk(vec![EntityId::Subchannel(*id)], DETAIL_SCREEN, &budget)
                    .await?
            }
            Focus::Socket(id) => {
                self.walk(vec![EntityId::Socket(*id)], SEEDS_ONLY, &budget)
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
                        return Err(PollError::Rpc {
                            what: format!("GetServerSockets(server={id}, start={start})"),
                            source: e,
                        });
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
                    Err(source) => {
                        return Err(PollError::Rpc {
                            what: format!("GetServer({id})"),
                            source,
                        });
                    }
                }
                let mut d = self.walk(seeds, SEEDS_ONLY, &budget).await?;
                d.server_sockets.push((*id, page));
                d.incomplete.extend(cut);
                d
            }
            Focus::Tree(roots) => {
                let walk = Walk {
                    child_limit: CHILD_FETCH_LIMIT,
                    depth: TREE_DEPTH,
                    beyond: Beyond::Cut,
                };
                self.walk(
                    roots.iter().copied().map(EntityId::Channel).collect(),
                    walk,
                    &budget,
                )
                .await?
            }
        };
        details.at = Some(SystemTime::now());
        Ok(details)
    }
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
    for mut listed in api.server_socket_ids(ids, &budget).await? {
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
        // A new connection may be a new server: ask CSDS again at once.
        let mut xds = XdsGate::default();
        loop {
            let want = wanted.borrow_and_update().clone();
            if !want.paused {
                match poll_once(&api, &want.focus, &mut xds).await {
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

/// How long the poller waits before asking CSDS again of a server that
/// answered UNIMPLEMENTED: it will not grow CSDS between two polls, and
/// asking every second would double the RPCs of every poll for nothing.
pub const XDS_UNSUPPORTED_RETRY: Duration = Duration::from_secs(30);

/// When the poller asks CSDS: on every poll, except within
/// [`XDS_UNSUPPORTED_RETRY`] of an UNIMPLEMENTED answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct XdsGate {
    unsupported_at: Option<Instant>,
}

impl XdsGate {
    /// Whether a poll at `now` asks CSDS.
    pub fn due(&self, now: Instant) -> bool {
        self.unsupported_at
            .is_none_or(|at| now.saturating_duration_since(at) >= XDS_UNSUPPORTED_RETRY)
    }

    /// Takes note of a read's answer, at `now`.
    pub fn saw(&mut self, poll: &XdsPoll, now: Instant) {
        self.unsupported_at = matches!(poll, XdsPoll::Unsupported).then_some(now);
    }
}

/// One poll: the overview, the focused details, health and (when `xds`
/// says so) CSDS, as messages. CSDS runs beside the overview, and its
/// failure is a message of its own ([`XdsPoll::Failed`]), never the poll's.
pub async fn poll_once(api: &Api, focus: &Focus, xds: &mut XdsGate) -> Result<Vec<Msg>, PollError> {
    let ask = xds.due(Instant::now());
    let read_xds = async {
        if ask {
            let poll = api.xds().await;
            Some((SystemTime::now(), poll))
        } else {
            None
        }
    };
    let (overview, read) = tokio::join!(overview(api), read_xds);
    let overview = overview?;
    let details = api.focus(focus).await?;
    let health = api.health().await;
    let mut msgs = vec![overview, Msg::Details(details), Msg::Health(health)];
    if let Some((at, poll)) = read {
        xds.saw(&poll, Instant::now());
        msgs.push(Msg::Xds { at, poll });
    }
    Ok(msgs)
}

/// Everything below the top channels and servers, for a complete snapshot:
/// all descendants of every top channel (down to [`TREE_DEPTH`] levels),
/// and every socket of every server, within `budget`.
pub async fn everything(
    api: &Api,
    channels: &[Channel],
    servers: &[Server],
    budget: &Budget,
    sink: &mut (dyn Sink + Send),
) -> Result<(Vec<Incomplete>, HashMap<i64, Vec<i64>>), PollError> {
    api.channelz
        .everything(channels, servers, TREE_DEPTH, budget, sink)
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use grpc_toolkit_conn::{ConnectOptions, Target, connect};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::demo::DemoServer;
    use crate::model::{Model, Screen};
    use crate::msg::Action;
    use crate::update::update;
    use crate::view::view;

    async fn demo_api(demo: &DemoServer) -> Api {
        api_of(demo.local_addr().port()).await
    }

    async fn api_of(port: u16) -> Api {
        let options = ConnectOptions::plaintext(
            Target::Tcp {
                host: "127.0.0.1".to_owned(),
                port,
            },
            "poll-test",
        );
        Api::new(
            connect(&options).await.expect("connects to the server"),
            Duration::from_secs(5),
        )
    }

    fn render(model: &Model) -> String {
        let mut terminal = Terminal::new(TestBackend::new(140, 30)).expect("test backend");
        terminal.draw(|f| view(model, f)).expect("draw");
        terminal.backend().to_string()
    }

    /// A server that said UNIMPLEMENTED to CSDS is asked again only after
    /// XDS_UNSUPPORTED_RETRY; one that serves it, or failed, every poll.
    #[test]
    fn csds_is_asked_rarely_of_a_server_without_it() {
        let t0 = Instant::now();
        let mut gate = XdsGate::default();
        assert!(gate.due(t0), "the first poll asks");
        gate.saw(&XdsPoll::Unsupported, t0);
        assert!(!gate.due(t0 + Duration::from_secs(1)));
        assert!(!gate.due(t0 + XDS_UNSUPPORTED_RETRY - Duration::from_millis(1)));
        assert!(gate.due(t0 + XDS_UNSUPPORTED_RETRY));
        gate.saw(&XdsPoll::Failed("deadline".into()), t0);
        assert!(
            gate.due(t0 + Duration::from_secs(1)),
            "a failure is retried"
        );
        gate.saw(
            &XdsPoll::Status(grpc_toolkit_channelz_client::csds::XdsStatus::default()),
            t0,
        );
        assert!(gate.due(t0 + Duration::from_secs(1)));
    }

    /// A live poll of a Channelz server without CSDS: the poll succeeds, says
    /// Unsupported once, and the next poll does not ask again. The demo,
    /// which serves CSDS, is asked on every poll.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_poll_of_a_server_without_csds_says_unsupported_once() {
        let server = testkit::channelz::start_without_csds().await;
        let api = api_of(server.port()).await;
        let mut gate = XdsGate::default();
        let xds = |msgs: &[Msg]| {
            msgs.iter()
                .filter_map(|m| match m {
                    Msg::Xds { poll, .. } => Some(poll.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let first = poll_once(&api, &Focus::Overview, &mut gate)
            .await
            .expect("the poll succeeds without CSDS");
        assert!(matches!(first[0], Msg::Overview { .. }));
        assert_eq!(xds(&first), vec![XdsPoll::Unsupported]);
        let second = poll_once(&api, &Focus::Overview, &mut gate)
            .await
            .expect("a second poll");
        assert_eq!(xds(&second), vec![], "not asked again within 30 s");

        let demo = DemoServer::start("127.0.0.1:0").await.expect("demo starts");
        let api = demo_api(&demo).await;
        let mut gate = XdsGate::default();
        for _ in 0..2 {
            let msgs = poll_once(&api, &Focus::Overview, &mut gate)
                .await
                .expect("a poll of the demo");
            let polls = xds(&msgs);
            assert!(
                matches!(polls.as_slice(), [XdsPoll::Status(s)] if s.scopes.len() == 1),
                "the demo's one xDS scope, every poll: {polls:?}"
            );
        }
        demo.shutdown().await;
    }

    /// Issue #18 item 5: a channel's detail screen fetches the channel and
    /// its children; a subchannel's sockets wait until the user opens the
    /// subchannel. That is not missing data, so a healthy server's channel
    /// detail must not say "incomplete" (it read `incomplete: socket 11
    /// depth: 1 entities deeper than 1 levels not fetched`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_healthy_channel_detail_is_not_incomplete() {
        let demo = DemoServer::start("127.0.0.1:0").await.expect("demo starts");
        let api = demo_api(&demo).await;
        let started = Instant::now();
        // The demo's channels connect within moments; wait until one of
        // them has a subchannel with a socket, the level the detail screen
        // leaves for later.
        let (overview, id, details) = loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no demo channel got a subchannel with a socket"
            );
            let overview = overview(&api).await.expect("an overview");
            let Msg::Overview { channels, .. } = &overview else {
                panic!("an overview message");
            };
            let mut found = None;
            for c in channels {
                let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id);
                let details = api.focus(&Focus::Channel(id)).await.expect("details");
                if details.subchannels.iter().any(|s| !s.socket_ref.is_empty()) {
                    found = Some((id, details));
                    break;
                }
            }
            if let Some((id, details)) = found {
                break (overview, id, details);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            details.incomplete.is_empty(),
            "a healthy server's channel detail left nothing out: {:?}",
            details.incomplete
        );

        let mut model = Model::new("demo", Duration::from_secs(1), SystemTime::now());
        update(&mut model, Msg::Connected);
        update(&mut model, overview);
        while model.screen() != Screen::Channel(id) {
            update(&mut model, Msg::Action(Action::Back));
            let row = model
                .rows(Screen::Overview)
                .iter()
                .position(|r| *r == EntityId::Channel(id))
                .expect("the channel is on the overview");
            for _ in 0..row {
                update(&mut model, Msg::Action(Action::Down));
            }
            update(&mut model, Msg::Action(Action::Enter));
        }
        update(&mut model, Msg::Details(details));
        let screen = render(&model);
        assert!(
            !screen.contains("incomplete"),
            "the channel detail of a healthy server says incomplete:\n{screen}"
        );
        demo.shutdown().await;
    }

    /// What a bound did cut is still reported: the tree's depth bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_depth_bound_is_still_incomplete() {
        let demo = DemoServer::start("127.0.0.1:0").await.expect("demo starts");
        let api = demo_api(&demo).await;
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no demo subchannel got a socket"
            );
            let overview = overview(&api).await.expect("an overview");
            let Msg::Overview { channels, .. } = &overview else {
                panic!("an overview message");
            };
            let seeds = channels
                .iter()
                .filter_map(|c| c.r#ref.as_ref().map(|r| EntityId::Channel(r.channel_id)))
                .collect();
            let shallow = Walk {
                child_limit: CHILD_FETCH_LIMIT,
                depth: 1,
                beyond: Beyond::Cut,
            };
            let details = api
                .walk(seeds, shallow, &Budget::new(api.limits))
                .await
                .expect("a walk");
            if details.subchannels.iter().any(|s| !s.socket_ref.is_empty()) {
                assert!(
                    details
                        .incomplete
                        .iter()
                        .any(|i| i.reason == CutReason::Depth),
                    "{:?}",
                    details.incomplete
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        demo.shutdown().await;
    }
}
