//! The dashboard's state as plain data: the last Channelz snapshot, the
//! detail caches, the rate history and everything the user has chosen
//! (screen stack, selection, filter, sort, pause).
//!
//! Nothing here does I/O or reads a clock: time arrives in messages, so
//! `update` and `view` are deterministic and testable.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use grpc_toolkit_proto::channelz::v1::{
    Channel, ChannelTrace, Server, Socket, SocketRef, Subchannel,
};

use crate::outage::Outage;
use crate::xds::XdsPoll;
use grpc_toolkit_channelz_client::csds::{Resource, Scope};
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;

// The entity ids and the account of what a snapshot left out belong to the
// Channelz client that produces them; the model keeps them as they come.
pub use grpc_toolkit_channelz_client::{CutReason, EntityId, Incomplete, ServerSocketsPage};

/// How many samples of history each entity keeps: five minutes at the
/// default one-second interval, enough for a sparkline of "the last minutes".
pub const HISTORY_LEN: usize = 300;

/// How long a state change stays highlighted.
pub const STATE_CHANGE_HIGHLIGHT: Duration = Duration::from_secs(10);

/// How many socket refs one server-detail page asks `GetServerSockets` for.
pub const SERVER_SOCKETS_PAGE: i64 = 100;

/// What the poller should fetch besides the overview: the entity on screen
/// and its direct children, so detail RPCs follow the user's eyes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Focus {
    /// Only the overview.
    Overview,
    /// A channel and its children.
    Channel(i64),
    /// A subchannel and its children.
    Subchannel(i64),
    /// One socket.
    Socket(i64),
    /// A server and one page of its sockets.
    Server {
        /// The server id.
        id: i64,
        /// The `start_socket_id` of the page on screen.
        start: i64,
    },
    /// The whole hierarchy under these top channels.
    Tree(Vec<i64>),
}

/// A place in the dashboard; the screen stack is the breadcrumb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Screen {
    /// Top channels and servers.
    Overview,
    /// One channel with its children.
    Channel(i64),
    /// One subchannel with its children.
    Subchannel(i64),
    /// One socket.
    Socket(i64),
    /// One server with its (paged) sockets.
    Server(i64),
    /// The channel → subchannel → socket hierarchy.
    Tree,
    /// The xDS client status (CSDS): scopes and their resources.
    Xds,
    /// One xDS resource (the one [`Model::xds_resource`] finds), with its decoded config.
    XdsResource,
}

/// One xDS resource across polls: (client scope, type URL, name), as the
/// model keeps them (escaped).
pub type XdsKey = (String, String, String);

/// A row of the xDS screen, as indices into the last [`XdsPoll::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdsRow {
    /// A client scope's heading (scope, node id, its Channelz channel).
    Scope(usize),
    /// A resource of a scope.
    Resource {
        /// Index of the scope.
        scope: usize,
        /// Index of the resource in the scope.
        resource: usize,
    },
}

/// What the dashboard keeps of CSDS: the last read (escaped) and the rows
/// in display order, computed once per read so that a frame of ten
/// thousand resources only draws the rows on screen.
#[derive(Debug, Clone, Default)]
pub struct XdsState {
    /// The last read; `None` before the first.
    pub poll: Option<XdsPoll>,
    /// When it arrived.
    pub at: Option<SystemTime>,
    /// The rows of the xDS screen (scope headings and resources), in
    /// display order ([`crate::xds::display_order`] within each scope).
    pub rows: Vec<XdsRow>,
    /// Status and version of every resource in the last read, to mark the
    /// next read's changes.
    pub seen: HashMap<XdsKey, (ClientResourceStatus, String)>,
    /// When each resource's status or version last changed (while we
    /// watched).
    pub changed: HashMap<XdsKey, SystemTime>,
    /// The resource the resource screen shows.
    pub open: Option<XdsKey>,
}

/// The state of the link to the server, as the poller reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// The first connection attempt is in flight.
    Connecting,
    /// Polls succeed (or fail only for single RPCs).
    Connected,
    /// The connection failed; the poller retries by itself.
    Disconnected {
        /// Why.
        error: Outage,
        /// When the next attempt starts.
        retry_at: SystemTime,
    },
    /// The server answers but has no Channelz service (UNIMPLEMENTED): no
    /// amount of retrying will help, so the dashboard says so plainly.
    NoChannelz,
    /// A fleet member, opened from the fleet screen, that its name no longer
    /// resolves to (a pod that went away): polling stopped, the last data
    /// stays on screen.
    LeftFleet {
        /// When the resolution without it came.
        at: SystemTime,
    },
}

/// The health service's answers.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// `Check("")`: the server's overall `ServingStatus` number, or why
    /// there is none.
    pub overall: Result<i32, String>,
    /// `List`: every service and its status, sorted by name; `None` when
    /// the server has no List method (most servers today).
    pub services: Option<Vec<ServiceHealth>>,
}

/// One service of the health service's `List`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceHealth {
    /// The service name, as the server sent it.
    pub name: String,
    /// Its `ServingStatus` number.
    pub status: i32,
}

/// Cumulative call counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// When the poll that saw these counters completed.
    pub at: SystemTime,
    /// Calls (or streams) started.
    pub started: i64,
    /// Calls succeeded.
    pub succeeded: i64,
    /// Calls failed.
    pub failed: i64,
}

/// Rates derived from the last two samples.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    /// Calls started per second.
    pub calls_per_sec: f64,
    /// Calls failed per second.
    pub failures_per_sec: f64,
}

/// A ring of samples of one entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Oldest first; at most [`HISTORY_LEN`].
    pub samples: VecDeque<Sample>,
}

impl History {
    /// Adds a sample. Counters that go down mean the entity was replaced
    /// (a restart that kept the id), so the history starts over rather than
    /// showing a negative rate.
    /// Samples closer than `min_gap` to the last one are dropped.
    pub fn push(&mut self, sample: Sample, min_gap: Duration) {
        if let Some(last) = self.samples.back() {
            if sample.at <= last.at
                || sample.at.duration_since(last.at).unwrap_or_default() < min_gap
            {
                return;
            }
            if sample.started < last.started || sample.failed < last.failed {
                self.samples.clear();
            }
        }
        if self.samples.len() == HISTORY_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Rates between the last two samples; `None` before the second poll.
    pub fn rates(&self) -> Option<Rates> {
        let n = self.samples.len();
        if n < 2 {
            return None;
        }
        Some(rates_between(&self.samples[n - 2], &self.samples[n - 1]))
    }

    /// Calls/s and failures/s for each pair of consecutive samples, oldest first.
    pub fn series(&self) -> Vec<Rates> {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .map(|(a, b)| rates_between(a, b))
            .collect()
    }
}

fn rates_between(a: &Sample, b: &Sample) -> Rates {
    let dt = b.at.duration_since(a.at).unwrap_or_default().as_secs_f64();
    if dt <= 0.0 {
        return Rates::default();
    }
    Rates {
        calls_per_sec: (b.started - a.started).max(0) as f64 / dt,
        failures_per_sec: (b.failed - a.failed).max(0) as f64 / dt,
    }
}

/// Which pane of a screen has the keys. The overview has two tables, the
/// channel, subchannel and server screens a list and their trace; the
/// socket screen and the tree have only their main pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    /// The screen's main list: the top channels on the overview, the
    /// children on a detail screen, the rows of the tree.
    #[default]
    Main,
    /// The overview's servers table.
    Servers,
    /// A detail screen's trace.
    Trace,
}

/// How the overview's tables are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By id: the order Channelz pages in, and stable.
    #[default]
    Id,
    /// Busiest first (calls/s).
    CallRate,
    /// Most failed calls first.
    Failures,
    /// Worst connectivity state first (TRANSIENT_FAILURE, then CONNECTING, …).
    State,
}

impl SortKey {
    /// The next key in the `s` cycle.
    pub fn next(self) -> Self {
        match self {
            SortKey::Id => SortKey::CallRate,
            SortKey::CallRate => SortKey::Failures,
            SortKey::Failures => SortKey::State,
            SortKey::State => SortKey::Id,
        }
    }

    /// The label shown in the status bar.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::CallRate => "calls/s",
            SortKey::Failures => "failures",
            SortKey::State => "state",
        }
    }
}

/// The selection of one screen: which pane and which row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// The pane with the focus.
    pub pane: Pane,
    /// The selected row within the list pane.
    pub row: usize,
    /// How many of the newest trace events are scrolled past. The trace is
    /// drawn newest first, so 0 shows the latest events (and new ones as
    /// they arrive) and larger values reach back in time.
    pub trace: usize,
}

/// Everything the dashboard shows and remembers.
#[derive(Debug, Clone)]
pub struct Model {
    /// What the user pointed us at, for the title bar.
    pub target: String,
    /// The poll interval, for the status bar.
    pub interval: Duration,
    /// The link state.
    pub link: Link,
    /// "Now" as of the last message; drives relative times.
    pub now: SystemTime,
    /// Top channels in id order, from the last overview poll. Set with
    /// [`Model::set_top_channels`], which keeps the index in step.
    pub top_channels: Vec<Channel>,
    /// Where each top channel sits in `top_channels`, so that a lookup by
    /// id does not scan ten thousand channels for every row drawn.
    top_index: HashMap<i64, usize>,
    /// Servers in id order, from the last overview poll.
    pub servers: Vec<Server>,
    /// When the last overview arrived; `None` before the first one.
    pub overview_at: Option<SystemTime>,
    /// Channels fetched with `GetChannel` (nested ones, or fresher copies).
    pub channels: HashMap<i64, Channel>,
    /// Subchannels fetched with `GetSubchannel`.
    pub subchannels: HashMap<i64, Subchannel>,
    /// Sockets fetched with `GetSocket`.
    pub sockets: HashMap<i64, Socket>,
    /// How many sockets each server has, from the overview poll.
    pub server_socket_counts: HashMap<i64, usize>,
    /// The page of each server's sockets last fetched.
    pub server_sockets: HashMap<i64, ServerSocketsPage>,
    /// The `start_socket_id` the user paged to, per server.
    pub server_page_start: HashMap<i64, i64>,
    /// The start ids of the pages before the current one, per server, so
    /// paging back needs no reverse paging (which Channelz lacks).
    pub server_page_history: HashMap<i64, Vec<i64>>,
    /// Rows that PageUp/PageDown move; follows the terminal height.
    pub page: usize,
    /// Trace events a detail screen shows at once; follows the terminal
    /// height, so that scrolling stops where the drawing runs out of events.
    pub trace_page: usize,
    /// Rows the tree view shows at once; follows the terminal height, so
    /// that the tree fetches details for exactly what is on screen.
    pub tree_page: usize,
    /// Counter history for rates and sparklines.
    pub history: HashMap<EntityId, History>,
    /// The last known connectivity state of each channel and subchannel.
    pub states: HashMap<EntityId, i32>,
    /// When each entity's state last changed (while we watched).
    pub state_changed: HashMap<EntityId, SystemTime>,
    /// The health service's answers; `None` before the first poll.
    pub health: Option<HealthReport>,
    /// The screen stack; never empty, `stack[0]` is the overview.
    pub stack: Vec<Screen>,
    /// The selection on each screen.
    pub cursors: HashMap<Screen, Cursor>,
    /// The overview filter (substring of id, target or address).
    pub filter: String,
    /// Whether keys currently edit the filter.
    pub filter_editing: bool,
    /// Overview ordering.
    pub sort: SortKey,
    /// Whether updates from the poller are held back.
    pub paused: bool,
    /// Whether the help overlay is shown.
    pub help: bool,
    /// The last failed RPC, shown until the next successful poll.
    pub last_error: Option<String>,
    /// What the last overview poll could not get.
    pub overview_incomplete: Vec<Incomplete>,
    /// What the last detail fetches could not get.
    pub details_incomplete: Vec<Incomplete>,
    /// Set when the user asked to quit.
    pub quit: bool,
    /// CSDS, for the xDS screen.
    pub xds: XdsState,
}

impl Model {
    /// A fresh model for `target`, at time `now`.
    pub fn new(target: impl Into<String>, interval: Duration, now: SystemTime) -> Self {
        Model {
            target: target.into(),
            interval,
            link: Link::Connecting,
            now,
            top_channels: Vec::new(),
            top_index: HashMap::new(),
            servers: Vec::new(),
            overview_at: None,
            channels: HashMap::new(),
            subchannels: HashMap::new(),
            sockets: HashMap::new(),
            server_sockets: HashMap::new(),
            server_socket_counts: HashMap::new(),
            server_page_start: HashMap::new(),
            server_page_history: HashMap::new(),
            page: 10,
            trace_page: 8,
            tree_page: 20,
            history: HashMap::new(),
            states: HashMap::new(),
            state_changed: HashMap::new(),
            health: None,
            stack: vec![Screen::Overview],
            cursors: HashMap::new(),
            filter: String::new(),
            filter_editing: false,
            sort: SortKey::Id,
            paused: false,
            help: false,
            last_error: None,
            overview_incomplete: Vec::new(),
            details_incomplete: Vec::new(),
            quit: false,
            xds: XdsState::default(),
        }
    }

    /// The screen on top of the stack.
    pub fn screen(&self) -> Screen {
        self.stack.last().copied().unwrap_or(Screen::Overview)
    }

    /// The selection on the current screen.
    pub fn cursor(&self) -> Cursor {
        self.cursors
            .get(&self.screen())
            .copied()
            .unwrap_or_default()
    }

    /// The freshest copy of channel `id`. A top channel's comes from the
    /// overview, which every poll refreshes; a detail fetch of it is only
    /// refreshed while it is on screen, so it may be older. Other channels
    /// come from detail fetches.
    pub fn channel(&self, id: i64) -> Option<&Channel> {
        self.top_channel(id).or_else(|| self.channels.get(&id))
    }

    /// Top channel `id` from the overview.
    pub fn top_channel(&self, id: i64) -> Option<&Channel> {
        self.top_index
            .get(&id)
            .and_then(|i| self.top_channels.get(*i))
    }

    /// Replaces the top channels (in id order) and their index.
    pub fn set_top_channels(&mut self, channels: Vec<Channel>) {
        self.top_index = channels
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.r#ref.as_ref().map(|r| (r.channel_id, i)))
            .collect();
        self.top_channels = channels;
    }

    /// The trace a screen shows, when its entity is known and sends one.
    pub fn trace(&self, screen: Screen) -> Option<&ChannelTrace> {
        match screen {
            Screen::Channel(id) => self.channel(id)?.data.as_ref()?.trace.as_ref(),
            Screen::Subchannel(id) => self.subchannels.get(&id)?.data.as_ref()?.trace.as_ref(),
            Screen::Server(id) => self.server(id)?.data.as_ref()?.trace.as_ref(),
            _ => None,
        }
    }

    /// Server `id` from the overview.
    pub fn server(&self, id: i64) -> Option<&Server> {
        self.servers
            .iter()
            .find(|s| s.r#ref.as_ref().map(|r| r.server_id) == Some(id))
    }

    /// Rates of one entity, when two samples exist.
    pub fn rates(&self, id: EntityId) -> Option<Rates> {
        self.history.get(&id).and_then(History::rates)
    }

    /// Whether the entity's state changed recently enough to highlight.
    pub fn recently_changed(&self, id: EntityId) -> bool {
        self.state_changed.get(&id).is_some_and(|at| {
            self.now
                .duration_since(*at)
                .map(|d| d <= STATE_CHANGE_HIGHLIGHT)
                .unwrap_or(true)
        })
    }

    /// Top channels after filter and sort, as the overview shows them.
    pub fn visible_channels(&self) -> Vec<&Channel> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Channel> = self
            .top_channels
            .iter()
            .filter(|c| needle.is_empty() || channel_matches(c, &needle))
            .collect();
        let key = |c: &Channel| c.r#ref.as_ref().map_or(0, |r| r.channel_id);
        match self.sort {
            SortKey::Id => rows.sort_by_key(|c| key(c)),
            SortKey::CallRate => rows.sort_by(|a, b| {
                let ra = self.rate_of(EntityId::Channel(key(a)));
                let rb = self.rate_of(EntityId::Channel(key(b)));
                rb.total_cmp(&ra).then(key(a).cmp(&key(b)))
            }),
            SortKey::Failures => rows.sort_by(|a, b| {
                let fa = a.data.as_ref().map_or(0, |d| d.calls_failed);
                let fb = b.data.as_ref().map_or(0, |d| d.calls_failed);
                fb.cmp(&fa).then(key(a).cmp(&key(b)))
            }),
            SortKey::State => rows.sort_by(|a, b| {
                state_rank(channel_state(a))
                    .cmp(&state_rank(channel_state(b)))
                    .then(key(a).cmp(&key(b)))
            }),
        }
        rows
    }

    /// Servers after filter and sort.
    pub fn visible_servers(&self) -> Vec<&Server> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Server> = self
            .servers
            .iter()
            .filter(|s| needle.is_empty() || server_matches(s, &needle))
            .collect();
        let key = |s: &Server| s.r#ref.as_ref().map_or(0, |r| r.server_id);
        match self.sort {
            SortKey::CallRate => rows.sort_by(|a, b| {
                let ra = self.rate_of(EntityId::Server(key(a)));
                let rb = self.rate_of(EntityId::Server(key(b)));
                rb.total_cmp(&ra).then(key(a).cmp(&key(b)))
            }),
            SortKey::Failures => rows.sort_by(|a, b| {
                let fa = a.data.as_ref().map_or(0, |d| d.calls_failed);
                let fb = b.data.as_ref().map_or(0, |d| d.calls_failed);
                fb.cmp(&fa).then(key(a).cmp(&key(b)))
            }),
            SortKey::Id | SortKey::State => rows.sort_by_key(|s| key(s)),
        }
        rows
    }

    fn rate_of(&self, id: EntityId) -> f64 {
        self.rates(id).map_or(0.0, |r| r.calls_per_sec)
    }
}

/// The connectivity state number of a channel (0, UNKNOWN, when absent).
pub fn channel_state(c: &Channel) -> i32 {
    c.data
        .as_ref()
        .and_then(|d| d.state.as_ref())
        .map_or(0, |s| s.state)
}

/// Sort rank of a state: the ones an operator must look at first come first.
fn state_rank(state: i32) -> u8 {
    match state {
        4 => 0, // TRANSIENT_FAILURE
        2 => 1, // CONNECTING
        5 => 2, // SHUTDOWN
        0 => 3, // UNKNOWN
        1 => 4, // IDLE
        _ => 5, // READY
    }
}

fn channel_matches(c: &Channel, needle: &str) -> bool {
    let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id).to_string();
    let name = c.r#ref.as_ref().map_or("", |r| r.name.as_str());
    let target = c.data.as_ref().map_or("", |d| d.target.as_str());
    id == needle || name.to_lowercase().contains(needle) || target.to_lowercase().contains(needle)
}

fn server_matches(s: &Server, needle: &str) -> bool {
    let id = s.r#ref.as_ref().map_or(0, |r| r.server_id).to_string();
    let name = s.r#ref.as_ref().map_or("", |r| r.name.as_str());
    id == needle
        || name.to_lowercase().contains(needle)
        || s.listen_socket
            .iter()
            .any(|r| r.name.to_lowercase().contains(needle))
}

/// How many top channels the tree view fetches in detail at once: those
/// with rows on screen, up to this many. The tree lists every top channel,
/// but fetching every descendant of ten thousand of them each poll would
/// load the server for rows nobody looks at.
pub const TREE_ROOTS: usize = 32;

/// How deep the tree goes. Channelz is a tree, but a misbehaving server
/// could send a cycle; the bound keeps the walk finite.
pub const TREE_DEPTH: usize = 16;

/// The first row of the window that keeps `selected` visible in `height`
/// rows. The view draws lists with it and the tree's detail fetches follow
/// it, so both agree on what is on screen.
pub fn window_start(selected: usize, height: usize) -> usize {
    if height == 0 || selected < height {
        0
    } else {
        selected + 1 - height
    }
}

impl Model {
    /// The selectable rows of `screen`, in display order (stable: refs are
    /// sorted by id because grpc-go returns them in a changing order).
    pub fn rows(&self, screen: Screen) -> Vec<EntityId> {
        let cursor = self.cursors.get(&screen).copied().unwrap_or_default();
        match screen {
            Screen::Overview => {
                if cursor.pane != Pane::Servers {
                    self.visible_channels()
                        .iter()
                        .map(|c| EntityId::Channel(c.r#ref.as_ref().map_or(0, |r| r.channel_id)))
                        .collect()
                } else {
                    self.visible_servers()
                        .iter()
                        .map(|s| EntityId::Server(s.r#ref.as_ref().map_or(0, |r| r.server_id)))
                        .collect()
                }
            }
            Screen::Channel(id) => match self.channel(id) {
                Some(c) => child_rows(&c.channel_ref, &c.subchannel_ref, &c.socket_ref),
                None => Vec::new(),
            },
            Screen::Subchannel(id) => match self.subchannels.get(&id) {
                Some(s) => child_rows(&s.channel_ref, &s.subchannel_ref, &s.socket_ref),
                None => Vec::new(),
            },
            Screen::Socket(_) => Vec::new(),
            Screen::Server(id) => {
                let mut rows: Vec<EntityId> = self
                    .server(id)
                    .map(|s| sorted_ids(s.listen_socket.iter().map(|r| r.socket_id)))
                    .unwrap_or_default()
                    .into_iter()
                    .map(EntityId::Socket)
                    .collect();
                if let Some(page) = self.server_sockets.get(&id) {
                    rows.extend(
                        sorted_ids(page.refs.iter().map(|r| r.socket_id))
                            .into_iter()
                            .map(EntityId::Socket),
                    );
                }
                rows
            }
            Screen::Tree => self.tree_rows().into_iter().map(|(_, id)| id).collect(),
            // Its rows are xDS resources, not entities: see `row_count`.
            Screen::Xds | Screen::XdsResource => Vec::new(),
        }
    }

    /// How many selectable rows `screen` has.
    pub fn row_count(&self, screen: Screen) -> usize {
        match screen {
            Screen::Xds => self.xds.rows.len(),
            _ => self.rows(screen).len(),
        }
    }

    /// The scopes of the last CSDS read, when it succeeded.
    pub fn xds_scopes(&self) -> &[Scope] {
        match &self.xds.poll {
            Some(XdsPoll::Status(status)) => &status.scopes,
            _ => &[],
        }
    }

    /// A row's scope and resource (`None` for a heading).
    pub fn xds_row(&self, row: XdsRow) -> Option<(&Scope, Option<&Resource>)> {
        let scopes = self.xds_scopes();
        match row {
            XdsRow::Scope(s) => scopes.get(s).map(|s| (s, None)),
            XdsRow::Resource { scope, resource } => {
                let s = scopes.get(scope)?;
                Some((s, Some(s.resources.get(resource)?)))
            }
        }
    }

    /// The resource named by `key` in the last read.
    pub fn xds_resource(&self, key: &XdsKey) -> Option<(&Scope, &Resource)> {
        let scope = self.xds_scopes().iter().find(|s| s.client_scope == key.0)?;
        let r = scope
            .resources
            .iter()
            .find(|r| r.type_url == key.1 && r.name == key.2)?;
        Some((scope, r))
    }

    /// The top channel a CSDS scope configures (`xds:/svc` is the channel
    /// with target `xds:///svc`), the first by id when several share it.
    pub fn xds_channel(&self, scope: &Scope) -> Option<&Channel> {
        self.top_channels.iter().find(|c| {
            c.data
                .as_ref()
                .is_some_and(|d| crate::xds::scope_joins_target(&scope.client_scope, &d.target))
        })
    }

    /// Whether a resource's status or version changed recently enough to
    /// highlight.
    pub fn xds_recently_changed(&self, key: &XdsKey) -> bool {
        self.xds.changed.get(key).is_some_and(|at| {
            self.now
                .duration_since(*at)
                .map(|d| d <= STATE_CHANGE_HIGHLIGHT)
                .unwrap_or(true)
        })
    }

    /// The tree view's rows with their depth: every top channel the
    /// overview shows (its filter and order), each followed by its child
    /// channels, subchannels and sockets, depth first, each kind by id.
    /// Linear in the rows: it runs for every frame of the tree.
    pub fn tree_rows(&self) -> Vec<(usize, EntityId)> {
        let roots = self.visible_channels();
        let mut out = Vec::with_capacity(roots.len() * 2);
        // Depth first with an explicit stack, which needs no allocation per
        // entity as recursion over sorted child lists would.
        let mut stack: Vec<(usize, EntityId)> = Vec::new();
        // Each entity is expanded once: a server whose refs form a cycle, or
        // that lists one child under many parents, gets a row per ref but
        // never a subtree twice, so the rows stay as many as the refs.
        let mut expanded: HashSet<EntityId> = HashSet::new();
        for root in roots {
            let id = root.r#ref.as_ref().map_or(0, |r| r.channel_id);
            stack.push((0, EntityId::Channel(id)));
            while let Some((depth, id)) = stack.pop() {
                out.push((depth, id));
                if depth >= TREE_DEPTH || !expanded.insert(id) {
                    continue;
                }
                let (channels, subchannels, sockets) = match id {
                    EntityId::Channel(c) => match self.channel(c) {
                        Some(c) => (&c.channel_ref, &c.subchannel_ref, &c.socket_ref),
                        None => continue,
                    },
                    EntityId::Subchannel(s) => match self.subchannels.get(&s) {
                        Some(s) => (&s.channel_ref, &s.subchannel_ref, &s.socket_ref),
                        None => continue,
                    },
                    _ => continue,
                };
                let base = stack.len();
                stack.extend(
                    channels
                        .iter()
                        .map(|r| EntityId::Channel(r.channel_id))
                        .chain(
                            subchannels
                                .iter()
                                .map(|r| EntityId::Subchannel(r.subchannel_id)),
                        )
                        .chain(sockets.iter().map(|r| EntityId::Socket(r.socket_id)))
                        .map(|child| (depth + 1, child)),
                );
                // EntityId orders channels, subchannels, sockets, then by id:
                // the display order, whatever order the server sent. The
                // stack pops the last first, so they go on it reversed, and
                // a ref the server repeated goes on once.
                stack[base..].sort_unstable_by_key(|&(_, child)| std::cmp::Reverse(child));
                let mut kept = base;
                for i in base..stack.len() {
                    if kept == base || stack[kept - 1].1 != stack[i].1 {
                        stack[kept] = stack[i];
                        kept += 1;
                    }
                }
                stack.truncate(kept);
            }
        }
        out
    }

    /// The top channels with rows in the tree's window (at most
    /// [`TREE_ROOTS`]): the ones the tree fetches in detail.
    pub fn tree_roots(&self) -> Vec<i64> {
        let rows = self.tree_rows();
        let selected = self.cursors.get(&Screen::Tree).map_or(0, |c| c.row);
        let start = window_start(selected, self.tree_page).min(rows.len());
        let end = (start + self.tree_page.max(1)).min(rows.len());
        // The first row on screen may be deep inside a top channel that
        // starts above the window.
        let first = rows[..start]
            .iter()
            .rev()
            .find(|(depth, _)| *depth == 0)
            .filter(|_| rows.get(start).is_some_and(|(depth, _)| *depth > 0));
        first
            .into_iter()
            .chain(rows[start..end].iter().filter(|(depth, _)| *depth == 0))
            .filter_map(|(_, id)| match id {
                EntityId::Channel(c) => Some(*c),
                _ => None,
            })
            .take(TREE_ROOTS)
            .collect()
    }

    /// Where top channel `id` starts in the tree, if the tree shows it.
    pub fn tree_row_of(&self, id: i64) -> Option<usize> {
        self.tree_rows()
            .iter()
            .position(|row| *row == (0, EntityId::Channel(id)))
    }

    /// What the poller should fetch in detail for the current screen.
    pub fn focus(&self) -> Focus {
        match self.screen() {
            Screen::Overview => Focus::Overview,
            Screen::Channel(id) => Focus::Channel(id),
            Screen::Subchannel(id) => Focus::Subchannel(id),
            Screen::Socket(id) => Focus::Socket(id),
            Screen::Server(id) => Focus::Server {
                id,
                start: self.server_page_start.get(&id).copied().unwrap_or(0),
            },
            Screen::Tree => Focus::Tree(self.tree_roots()),
            // CSDS is read on every poll whatever the screen.
            Screen::Xds | Screen::XdsResource => Focus::Overview,
        }
    }
}

fn sorted_ids(ids: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut v: Vec<i64> = ids.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn child_rows(
    channels: &[grpc_toolkit_proto::channelz::v1::ChannelRef],
    subchannels: &[grpc_toolkit_proto::channelz::v1::SubchannelRef],
    sockets: &[SocketRef],
) -> Vec<EntityId> {
    let mut rows: Vec<EntityId> = sorted_ids(channels.iter().map(|r| r.channel_id))
        .into_iter()
        .map(EntityId::Channel)
        .collect();
    rows.extend(
        sorted_ids(subchannels.iter().map(|r| r.subchannel_id))
            .into_iter()
            .map(EntityId::Subchannel),
    );
    rows.extend(
        sorted_ids(sockets.iter().map(|r| r.socket_id))
            .into_iter()
            .map(EntityId::Socket),
    );
    rows
}
