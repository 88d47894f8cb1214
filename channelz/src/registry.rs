//! The registry: every channel, subchannel, server and socket Channelz can
//! report, with the counters the call path updates.
//!
//! Ids come from one counter shared by all kinds, start at 1, only grow and
//! are never reused, as the Channelz spec asks. The maps are touched only
//! when an entity is created or removed; the call path only bumps atomics on
//! an entity it already holds, so leaving the registry on in production costs
//! no lock per call. Entities are owned by handles (`ChannelHandle`,
//! `ServerHandle`, ...): when the last clone of a handle is dropped, the
//! entity leaves the registry, so a closed connection disappears from
//! `GetServerSockets` by itself.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many trace events each channel, subchannel and server keeps; older
/// events are dropped but still counted in `num_events_logged`.
pub const DEFAULT_TRACE_CAPACITY: usize = 64;

/// Nanoseconds since the Unix epoch; 0 stands for "never" in the timestamp
/// atomics, which is safe because no real event happens at the epoch.
pub(crate) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Locks are only held for map edits and short copies, and no code path
/// panics while holding one, so a poisoned lock still holds consistent data.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn lock<T>(lock: &Mutex<T>) -> MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

/// Connectivity state of a channel or subchannel, as Channelz reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnectivityState {
    /// Not connected and not trying: tonic connects lazily on the next call.
    Idle = 1,
    /// A connection attempt (resolution or TCP connect) is in progress.
    Connecting = 2,
    /// A connection is established and carries calls.
    Ready = 3,
    /// The last attempt failed; the next call will try again.
    TransientFailure = 4,
    /// The channel was closed by the application.
    Shutdown = 5,
}

impl ConnectivityState {
    fn from_u8(v: u8) -> Self {
        match v {
            2 => Self::Connecting,
            3 => Self::Ready,
            4 => Self::TransientFailure,
            5 => Self::Shutdown,
            _ => Self::Idle,
        }
    }

    /// The name the Channelz proto uses, for trace event descriptions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "IDLE",
            Self::Connecting => "CONNECTING",
            Self::Ready => "READY",
            Self::TransientFailure => "TRANSIENT_FAILURE",
            Self::Shutdown => "SHUTDOWN",
        }
    }
}

/// Severity of a trace event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Normal life-cycle news (created, READY, resolved).
    Info,
    /// Something degraded but recoverable (a connect attempt failed).
    Warning,
    /// Something failed outright (resolution failed, no address worked).
    Error,
}

/// Which child a trace event is about, so a dashboard can link to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildRef {
    /// A child channel.
    Channel(i64),
    /// A subchannel.
    Subchannel(i64),
}

/// One trace event.
#[derive(Debug, Clone)]
pub struct TraceEvent {
    /// Human-readable description.
    pub description: String,
    /// How bad it is.
    pub severity: Severity,
    /// When it happened, nanoseconds since the Unix epoch.
    pub timestamp_nanos: i64,
    /// The child entity the event is about, if any.
    pub child: Option<ChildRef>,
}

/// A bounded ring of trace events; `logged` counts every event ever added
/// so readers can tell how many were dropped.
#[derive(Debug)]
pub struct Trace {
    created_nanos: i64,
    capacity: usize,
    inner: Mutex<TraceRing>,
}

#[derive(Debug, Default)]
struct TraceRing {
    events: VecDeque<TraceEvent>,
    logged: i64,
}

impl Trace {
    fn new(capacity: usize) -> Self {
        Self {
            created_nanos: now_nanos(),
            capacity,
            inner: Mutex::new(TraceRing::default()),
        }
    }

    /// Adds an event, dropping the oldest when the ring is full.
    pub fn add(&self, severity: Severity, description: impl Into<String>, child: Option<ChildRef>) {
        let event = TraceEvent {
            description: description.into(),
            severity,
            timestamp_nanos: now_nanos(),
            child,
        };
        let mut ring = lock(&self.inner);
        ring.logged += 1;
        if self.capacity == 0 {
            return;
        }
        if ring.events.len() == self.capacity {
            ring.events.pop_front();
        }
        ring.events.push_back(event);
    }

    /// When the entity was created, nanoseconds since the Unix epoch.
    pub fn created_nanos(&self) -> i64 {
        self.created_nanos
    }

    /// A copy of the kept events (oldest first) and the total ever logged.
    pub fn snapshot(&self) -> (Vec<TraceEvent>, i64) {
        let ring = lock(&self.inner);
        (ring.events.iter().cloned().collect(), ring.logged)
    }
}

/// Call counters of a channel, subchannel or server: plain atomics so the
/// call path never takes a lock.
#[derive(Debug, Default)]
pub struct CallMetrics {
    started: AtomicI64,
    succeeded: AtomicI64,
    failed: AtomicI64,
    last_started_nanos: AtomicI64,
}

/// A copy of [`CallMetrics`] at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Calls started.
    pub started: i64,
    /// Calls that ended with grpc-status OK.
    pub succeeded: i64,
    /// Calls that ended with any other status, or with no status at all.
    pub failed: i64,
    /// When the last call started, nanoseconds since the Unix epoch; 0 if never.
    pub last_started_nanos: i64,
}

impl CallMetrics {
    /// Records a call start at `now` (nanoseconds since the epoch).
    pub fn start(&self, now: i64) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.last_started_nanos.fetch_max(now, Ordering::Relaxed);
    }

    /// Records the end of a call.
    pub fn finish(&self, ok: bool) {
        if ok {
            self.succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> CallCounts {
        CallCounts {
            started: self.started.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            last_started_nanos: self.last_started_nanos.load(Ordering::Relaxed),
        }
    }
}

/// TLS details of a socket, when we did the handshake ourselves: our
/// accept wrapper on the server side, our connector on the client side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// The IANA name of the negotiated cipher suite, e.g. `TLS_AES_128_GCM_SHA256`.
    pub standard_name: Option<String>,
    /// A non-standard cipher suite name, when the suite has no IANA name.
    pub other_name: Option<String>,
    /// DER of the certificate this side presented (empty if none).
    pub local_certificate: Vec<u8>,
    /// DER of the certificate the peer presented (empty if none).
    pub remote_certificate: Vec<u8>,
}

impl TlsInfo {
    /// What a finished handshake negotiated. rustls keeps the peer's
    /// certificates but not our own, so the caller passes the DER of the
    /// leaf it presented (empty if none).
    pub(crate) fn from_handshake(conn: &rustls::CommonState, local_certificate: Vec<u8>) -> Self {
        let (standard_name, other_name) = match conn.negotiated_cipher_suite() {
            Some(suite) => cipher_suite_names(suite.suite()),
            None => (None, None),
        };
        TlsInfo {
            standard_name,
            other_name,
            local_certificate,
            remote_certificate: conn
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|c| c.as_ref().to_vec())
                .unwrap_or_default(),
        }
    }
}

/// rustls names TLS 1.3 suites `TLS13_*`; the IANA registry (which Channelz
/// asks for in `standard_name`) names them `TLS_*`. TLS 1.2 names already
/// match.
fn cipher_suite_names(suite: rustls::CipherSuite) -> (Option<String>, Option<String>) {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => (Some(format!("TLS_{rest}")), None),
            None => (Some(name.to_string()), None),
        },
        None => (None, Some(format!("{suite:?}"))),
    }
}

/// What a socket is, which decides where it is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// A server's listening socket.
    Listen,
    /// A connection a server accepted.
    Server,
    /// A connection a subchannel opened.
    Client,
}

/// Per-socket counters, all atomics.
#[derive(Debug, Default)]
pub struct SocketMetrics {
    pub(crate) streams_started: AtomicI64,
    pub(crate) streams_succeeded: AtomicI64,
    pub(crate) streams_failed: AtomicI64,
    pub(crate) messages_sent: AtomicI64,
    pub(crate) messages_received: AtomicI64,
    pub(crate) last_local_stream_nanos: AtomicI64,
    pub(crate) last_remote_stream_nanos: AtomicI64,
    pub(crate) last_message_sent_nanos: AtomicI64,
    pub(crate) last_message_received_nanos: AtomicI64,
}

/// A copy of a socket's counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketCounts {
    /// Streams (calls) started on this connection.
    pub streams_started: i64,
    /// Streams that ended with end-of-stream sent (server) or received (client).
    pub streams_succeeded: i64,
    /// Streams that ended any other way (reset, cancelled, connection lost).
    pub streams_failed: i64,
    /// gRPC messages sent, counted from the length-prefixed framing.
    pub messages_sent: i64,
    /// gRPC messages received, counted from the length-prefixed framing.
    pub messages_received: i64,
    /// Last stream this side created (client sockets), 0 if never.
    pub last_local_stream_nanos: i64,
    /// Last stream the peer created (server sockets), 0 if never.
    pub last_remote_stream_nanos: i64,
    /// Last message sent, 0 if never.
    pub last_message_sent_nanos: i64,
    /// Last message received, 0 if never.
    pub last_message_received_nanos: i64,
}

impl SocketMetrics {
    pub(crate) fn stream_started(&self, local: bool, now: i64) {
        self.streams_started.fetch_add(1, Ordering::Relaxed);
        let ts = if local {
            &self.last_local_stream_nanos
        } else {
            &self.last_remote_stream_nanos
        };
        ts.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn stream_finished(&self, ok: bool) {
        if ok {
            self.streams_succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.streams_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn messages(&self, sent: bool, n: i64) {
        let now = now_nanos();
        if sent {
            self.messages_sent.fetch_add(n, Ordering::Relaxed);
            self.last_message_sent_nanos
                .fetch_max(now, Ordering::Relaxed);
        } else {
            self.messages_received.fetch_add(n, Ordering::Relaxed);
            self.last_message_received_nanos
                .fetch_max(now, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> SocketCounts {
        let l = |a: &AtomicI64| a.load(Ordering::Relaxed);
        SocketCounts {
            streams_started: l(&self.streams_started),
            streams_succeeded: l(&self.streams_succeeded),
            streams_failed: l(&self.streams_failed),
            messages_sent: l(&self.messages_sent),
            messages_received: l(&self.messages_received),
            last_local_stream_nanos: l(&self.last_local_stream_nanos),
            last_remote_stream_nanos: l(&self.last_remote_stream_nanos),
            last_message_sent_nanos: l(&self.last_message_sent_nanos),
            last_message_received_nanos: l(&self.last_message_received_nanos),
        }
    }
}

/// A channel: what the application created to talk to one target.
#[derive(Debug)]
pub struct ChannelNode {
    /// Channelz id.
    pub id: i64,
    /// The target as the application gave it, e.g. `http://localhost:50051`.
    pub target: String,
    state: AtomicU8,
    /// Calls made on this channel.
    pub calls: CallMetrics,
    /// Trace events: state changes, resolution results, subchannel changes.
    pub trace: Trace,
    subchannels: RwLock<BTreeMap<i64, Arc<SubchannelNode>>>,
}

/// A subchannel: one resolved address of a channel.
#[derive(Debug)]
pub struct SubchannelNode {
    /// Channelz id.
    pub id: i64,
    /// The address this subchannel connects to, e.g. `127.0.0.1:50051`.
    pub target: String,
    state: AtomicU8,
    /// Calls carried by this subchannel's connections.
    pub calls: CallMetrics,
    /// Trace events: state changes and connect failures.
    pub trace: Trace,
    sockets: RwLock<BTreeMap<i64, Arc<SocketNode>>>,
}

/// A server: one tonic `Server` the application runs.
#[derive(Debug)]
pub struct ServerNode {
    /// Channelz id.
    pub id: i64,
    /// A name for dashboards, e.g. `api`.
    pub name: String,
    /// Calls the server handled.
    pub calls: CallMetrics,
    /// Trace events: listen sockets, TLS handshake failures.
    pub trace: Trace,
    listen_sockets: RwLock<BTreeMap<i64, Arc<SocketNode>>>,
    sockets: RwLock<BTreeMap<i64, Arc<SocketNode>>>,
}

/// A socket: a listener or one TCP connection.
#[derive(Debug)]
pub struct SocketNode {
    /// Channelz id.
    pub id: i64,
    /// A name for dashboards, e.g. `127.0.0.1:50051 -> 127.0.0.1:43210`.
    pub name: String,
    /// Listener, accepted connection or client connection.
    pub kind: SocketKind,
    /// This end's address.
    pub local: Option<SocketAddr>,
    /// The peer's address (absent for listeners).
    pub remote: Option<SocketAddr>,
    /// The name the client dialled (client sockets), else empty.
    pub remote_name: String,
    tls: OnceLock<TlsInfo>,
    /// Streams and messages.
    pub metrics: SocketMetrics,
}

impl SocketNode {
    /// TLS details, if we did this socket's TLS handshake ourselves (our
    /// accept wrapper or our client connector).
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.get()
    }

    pub(crate) fn set_tls(&self, info: TlsInfo) {
        let _ = self.tls.set(info);
    }
}

fn load_state(s: &AtomicU8) -> ConnectivityState {
    ConnectivityState::from_u8(s.load(Ordering::Relaxed))
}

/// Stores `new` and, only when the state changed, logs it to `trace`: one
/// trace event per change rather than one per attempt, a warning for
/// TRANSIENT_FAILURE.
fn set_state_traced(s: &AtomicU8, trace: &Trace, new: ConnectivityState) {
    if s.swap(new as u8, Ordering::Relaxed) != new as u8 {
        let severity = if new == ConnectivityState::TransientFailure {
            Severity::Warning
        } else {
            Severity::Info
        };
        trace.add(severity, format!("state changed to {}", new.as_str()), None);
    }
}

impl ChannelNode {
    /// The current connectivity state.
    pub fn state(&self) -> ConnectivityState {
        load_state(&self.state)
    }

    /// Sets the state and logs a trace event when it changed.
    pub fn set_state(&self, state: ConnectivityState) {
        set_state_traced(&self.state, &self.trace, state);
    }

    /// The subchannels, ascending by id.
    pub fn subchannels(&self) -> Vec<Arc<SubchannelNode>> {
        read(&self.subchannels).values().cloned().collect()
    }
}

impl SubchannelNode {
    /// The current connectivity state.
    pub fn state(&self) -> ConnectivityState {
        load_state(&self.state)
    }

    /// Sets the state and logs a trace event when it changed.
    pub fn set_state(&self, state: ConnectivityState) {
        set_state_traced(&self.state, &self.trace, state);
    }

    /// The sockets (connections), ascending by id.
    pub fn sockets(&self) -> Vec<Arc<SocketNode>> {
        read(&self.sockets).values().cloned().collect()
    }
}

impl ServerNode {
    /// The listening sockets, ascending by id.
    pub fn listen_sockets(&self) -> Vec<Arc<SocketNode>> {
        read(&self.listen_sockets).values().cloned().collect()
    }

    /// One page of accepted connections, ascending by id from `start`, and
    /// whether nothing follows it.
    pub fn sockets_page(&self, start: i64, limit: usize) -> (Vec<Arc<SocketNode>>, bool) {
        page(&read(&self.sockets), start, limit)
    }
}

/// One page of a map from `start` (inclusive), and `true` when nothing
/// follows it. Only `Arc`s are cloned under the lock.
fn page<T>(map: &BTreeMap<i64, Arc<T>>, start: i64, limit: usize) -> (Vec<Arc<T>>, bool) {
    let mut iter = map.range(start.max(0)..);
    let items: Vec<_> = iter.by_ref().take(limit).map(|(_, v)| v.clone()).collect();
    let end = iter.next().is_none();
    (items, end)
}

#[derive(Debug)]
struct Inner {
    next_id: AtomicI64,
    trace_capacity: usize,
    channels: RwLock<BTreeMap<i64, Arc<ChannelNode>>>,
    subchannels: RwLock<BTreeMap<i64, Arc<SubchannelNode>>>,
    servers: RwLock<BTreeMap<i64, Arc<ServerNode>>>,
    sockets: RwLock<BTreeMap<i64, Arc<SocketNode>>>,
}

/// The set of entities one Channelz service reports. Cheap to clone (an
/// `Arc`); use [`Registry::global`] for one per process, or separate
/// registries to keep tests apart.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// An empty registry keeping [`DEFAULT_TRACE_CAPACITY`] events per entity.
    pub fn new() -> Self {
        Self::with_trace_capacity(DEFAULT_TRACE_CAPACITY)
    }

    /// An empty registry keeping at most `capacity` trace events per entity.
    pub fn with_trace_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                next_id: AtomicI64::new(1),
                trace_capacity: capacity,
                channels: RwLock::default(),
                subchannels: RwLock::default(),
                servers: RwLock::default(),
                sockets: RwLock::default(),
            }),
        }
    }

    /// The process-wide registry.
    pub fn global() -> &'static Registry {
        static GLOBAL: OnceLock<Registry> = OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    fn next_id(&self) -> i64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a top channel; it stays listed while the handle lives.
    pub fn register_channel(&self, target: impl Into<String>) -> ChannelHandle {
        let node = Arc::new(ChannelNode {
            id: self.next_id(),
            target: target.into(),
            state: AtomicU8::new(ConnectivityState::Idle as u8),
            calls: CallMetrics::default(),
            trace: Trace::new(self.inner.trace_capacity),
            subchannels: RwLock::default(),
        });
        node.trace.add(Severity::Info, "channel created", None);
        write(&self.inner.channels).insert(node.id, node.clone());
        ChannelHandle(Arc::new(Owned {
            node,
            registry: self.clone(),
        }))
    }

    /// Registers a subchannel under `channel` for one address.
    pub fn register_subchannel(
        &self,
        channel: &ChannelHandle,
        target: impl Into<String>,
    ) -> SubchannelHandle {
        let node = Arc::new(SubchannelNode {
            id: self.next_id(),
            target: target.into(),
            state: AtomicU8::new(ConnectivityState::Idle as u8),
            calls: CallMetrics::default(),
            trace: Trace::new(self.inner.trace_capacity),
            sockets: RwLock::default(),
        });
        node.trace.add(Severity::Info, "subchannel created", None);
        channel.node().trace.add(
            Severity::Info,
            format!("subchannel {} created for {}", node.id, node.target),
            Some(ChildRef::Subchannel(node.id)),
        );
        write(&self.inner.subchannels).insert(node.id, node.clone());
        write(&channel.node().subchannels).insert(node.id, node.clone());
        SubchannelHandle(Arc::new(OwnedSubchannel {
            node,
            registry: self.clone(),
            parent: Arc::downgrade(&channel.0.node),
        }))
    }

    /// Registers a server; it stays listed while the handle lives.
    pub fn register_server(&self, name: impl Into<String>) -> ServerHandle {
        let node = Arc::new(ServerNode {
            id: self.next_id(),
            name: name.into(),
            calls: CallMetrics::default(),
            trace: Trace::new(self.inner.trace_capacity),
            listen_sockets: RwLock::default(),
            sockets: RwLock::default(),
        });
        node.trace.add(Severity::Info, "server created", None);
        write(&self.inner.servers).insert(node.id, node.clone());
        ServerHandle(Arc::new(Owned {
            node,
            registry: self.clone(),
        }))
    }

    /// Registers a socket under a server (listener or accepted connection).
    pub fn register_server_socket(&self, server: &ServerHandle, spec: SocketSpec) -> SocketHandle {
        let listen = spec.kind == SocketKind::Listen;
        let node = self.new_socket(spec);
        let map = if listen {
            &server.node().listen_sockets
        } else {
            &server.node().sockets
        };
        write(map).insert(node.id, node.clone());
        if listen {
            server
                .node()
                .trace
                .add(Severity::Info, format!("listening on {}", node.name), None);
        }
        SocketHandle(Arc::new(OwnedSocket {
            node,
            registry: self.clone(),
            parent: SocketParent::Server(Arc::downgrade(&server.0.node), listen),
        }))
    }

    /// Registers a client connection under a subchannel.
    pub fn register_subchannel_socket(
        &self,
        subchannel: &SubchannelHandle,
        spec: SocketSpec,
    ) -> SocketHandle {
        let node = self.new_socket(spec);
        write(&subchannel.node().sockets).insert(node.id, node.clone());
        SocketHandle(Arc::new(OwnedSocket {
            node,
            registry: self.clone(),
            parent: SocketParent::Subchannel(Arc::downgrade(&subchannel.0.node)),
        }))
    }

    fn new_socket(&self, spec: SocketSpec) -> Arc<SocketNode> {
        let name = match (spec.local, spec.remote) {
            (Some(l), Some(r)) => format!("{l} -> {r}"),
            (Some(l), None) => l.to_string(),
            (None, Some(r)) => format!("? -> {r}"),
            (None, None) => String::new(),
        };
        let node = Arc::new(SocketNode {
            id: self.next_id(),
            name,
            kind: spec.kind,
            local: spec.local,
            remote: spec.remote,
            remote_name: spec.remote_name,
            tls: OnceLock::new(),
            metrics: SocketMetrics::default(),
        });
        write(&self.inner.sockets).insert(node.id, node.clone());
        node
    }

    /// One page of top channels from `start` (inclusive) and whether it is the last.
    pub fn channels_page(&self, start: i64, limit: usize) -> (Vec<Arc<ChannelNode>>, bool) {
        page(&read(&self.inner.channels), start, limit)
    }

    /// One page of servers from `start` (inclusive) and whether it is the last.
    pub fn servers_page(&self, start: i64, limit: usize) -> (Vec<Arc<ServerNode>>, bool) {
        page(&read(&self.inner.servers), start, limit)
    }

    /// A channel by id.
    pub fn channel(&self, id: i64) -> Option<Arc<ChannelNode>> {
        read(&self.inner.channels).get(&id).cloned()
    }

    /// A subchannel by id.
    pub fn subchannel(&self, id: i64) -> Option<Arc<SubchannelNode>> {
        read(&self.inner.subchannels).get(&id).cloned()
    }

    /// A server by id.
    pub fn server(&self, id: i64) -> Option<Arc<ServerNode>> {
        read(&self.inner.servers).get(&id).cloned()
    }

    /// A socket by id.
    pub fn socket(&self, id: i64) -> Option<Arc<SocketNode>> {
        read(&self.inner.sockets).get(&id).cloned()
    }
}

/// What to record about a new socket.
#[derive(Debug, Clone)]
pub struct SocketSpec {
    /// Listener, accepted or client connection.
    pub kind: SocketKind,
    /// This end's address.
    pub local: Option<SocketAddr>,
    /// The peer's address.
    pub remote: Option<SocketAddr>,
    /// The name the client dialled (client sockets).
    pub remote_name: String,
}

/// How an owned entity leaves the registry when its last handle goes.
trait Unlist: std::fmt::Debug {
    fn unlist(&self, registry: &Registry);
}

#[derive(Debug)]
struct Owned<N: Unlist> {
    node: Arc<N>,
    registry: Registry,
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $node:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(Arc<Owned<$node>>);

        impl $name {
            /// The entity's Channelz id.
            pub fn id(&self) -> i64 {
                self.0.node.id
            }

            /// The entity, for reading or updating its counters.
            pub fn node(&self) -> &Arc<$node> {
                &self.0.node
            }

            /// The registry the entity is listed in.
            pub fn registry(&self) -> &Registry {
                &self.0.registry
            }
        }
    };
}

handle!(
    /// Owns a top channel's registration: the channel is listed while any
    /// clone lives.
    ChannelHandle,
    ChannelNode
);
handle!(
    /// Owns a server's registration.
    ServerHandle,
    ServerNode
);

impl<N: Unlist> Drop for Owned<N> {
    fn drop(&mut self) {
        self.node.unlist(&self.registry);
    }
}

impl Unlist for ChannelNode {
    fn unlist(&self, registry: &Registry) {
        self.set_state(ConnectivityState::Shutdown);
        write(&registry.inner.channels).remove(&self.id);
    }
}

impl Unlist for ServerNode {
    fn unlist(&self, registry: &Registry) {
        write(&registry.inner.servers).remove(&self.id);
    }
}

/// A subchannel's owner also unlists it from its channel; the channel is
/// held weakly so a subchannel never keeps its channel alive.
#[derive(Debug)]
struct OwnedSubchannel {
    node: Arc<SubchannelNode>,
    registry: Registry,
    parent: Weak<ChannelNode>,
}

impl Drop for OwnedSubchannel {
    fn drop(&mut self) {
        let id = self.node.id;
        write(&self.registry.inner.subchannels).remove(&id);
        if let Some(channel) = self.parent.upgrade() {
            write(&channel.subchannels).remove(&id);
            channel.trace.add(
                Severity::Info,
                format!("subchannel {id} removed"),
                Some(ChildRef::Subchannel(id)),
            );
        }
    }
}

/// Owns a subchannel's registration: listed (in the registry and under its
/// channel) while any clone lives.
#[derive(Debug, Clone)]
pub struct SubchannelHandle(Arc<OwnedSubchannel>);

impl SubchannelHandle {
    /// The subchannel's Channelz id.
    pub fn id(&self) -> i64 {
        self.0.node.id
    }

    /// The subchannel, for reading or updating its counters.
    pub fn node(&self) -> &Arc<SubchannelNode> {
        &self.0.node
    }
}

#[derive(Debug)]
enum SocketParent {
    Server(Weak<ServerNode>, bool),
    Subchannel(Weak<SubchannelNode>),
}

#[derive(Debug)]
struct OwnedSocket {
    node: Arc<SocketNode>,
    registry: Registry,
    parent: SocketParent,
}

impl Drop for OwnedSocket {
    fn drop(&mut self) {
        let id = self.node.id;
        write(&self.registry.inner.sockets).remove(&id);
        match &self.parent {
            SocketParent::Server(server, listen) => {
                if let Some(server) = server.upgrade() {
                    let map = if *listen {
                        &server.listen_sockets
                    } else {
                        &server.sockets
                    };
                    write(map).remove(&id);
                }
            }
            SocketParent::Subchannel(sub) => {
                if let Some(sub) = sub.upgrade() {
                    write(&sub.sockets).remove(&id);
                }
            }
        }
    }
}

/// Owns a socket's registration: the socket is listed while any clone lives.
#[derive(Debug, Clone)]
pub struct SocketHandle(Arc<OwnedSocket>);

impl SocketHandle {
    /// The socket's Channelz id.
    pub fn id(&self) -> i64 {
        self.0.node.id
    }

    /// The socket, for reading or updating its counters.
    pub fn node(&self) -> &Arc<SocketNode> {
        &self.0.node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls13_suites_get_their_iana_names() {
        let (std, other) = cipher_suite_names(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(std.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(other, None);
        let (std, _) =
            cipher_suite_names(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
        assert_eq!(
            std.as_deref(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
    }

    #[test]
    fn ids_are_shared_across_kinds_increasing_and_never_reused() {
        let r = Registry::new();
        let c = r.register_channel("a");
        let s = r.register_server("s");
        let sub = r.register_subchannel(&c, "127.0.0.1:1");
        let first = [c.id(), s.id(), sub.id()];
        assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
        drop(c);
        let again = r.register_channel("b");
        assert!(again.id() > first[2], "ids must never be reused");
    }

    #[test]
    fn pages_are_inclusive_ascending_and_end_only_at_the_tail() {
        let r = Registry::new();
        let handles: Vec<_> = (0..10)
            .map(|i| r.register_channel(format!("c{i}")))
            .collect();
        let ids: Vec<i64> = handles.iter().map(ChannelHandle::id).collect();

        let (page1, end1) = r.channels_page(0, 4);
        assert_eq!(page1.iter().map(|c| c.id).collect::<Vec<_>>(), ids[..4]);
        assert!(!end1);
        let (page2, _) = r.channels_page(ids[3], 4);
        assert_eq!(page2[0].id, ids[3], "start id is inclusive");
        let (tail, end) = r.channels_page(ids[8], 2);
        assert_eq!(tail.len(), 2);
        assert!(end, "nothing follows the last two");
        let (exact, end) = r.channels_page(ids[6], 4);
        assert_eq!(exact.len(), 4);
        assert!(end);
        let (none, end) = r.channels_page(ids[9] + 1, 4);
        assert!(none.is_empty() && end);
    }

    #[test]
    fn dropping_handles_unlists_entities_and_children() {
        let r = Registry::new();
        let server = r.register_server("s");
        let spec = SocketSpec {
            kind: SocketKind::Server,
            local: None,
            remote: None,
            remote_name: String::new(),
        };
        let sock = r.register_server_socket(&server, spec);
        let id = sock.id();
        assert_eq!(server.node().sockets_page(0, 10).0.len(), 1);
        assert!(r.socket(id).is_some());
        drop(sock);
        assert!(server.node().sockets_page(0, 10).0.is_empty());
        assert!(r.socket(id).is_none());

        let ch = r.register_channel("t");
        let sub = r.register_subchannel(&ch, "127.0.0.1:1");
        let sub_id = sub.id();
        assert_eq!(ch.node().subchannels().len(), 1);
        drop(sub);
        assert!(ch.node().subchannels().is_empty());
        assert!(r.subchannel(sub_id).is_none());
        let ch_id = ch.id();
        drop(ch);
        assert!(r.channel(ch_id).is_none());
    }

    #[test]
    fn trace_ring_is_bounded_but_counts_every_event() {
        let r = Registry::with_trace_capacity(3);
        let ch = r.register_channel("t");
        for i in 0..10 {
            ch.node().trace.add(Severity::Info, format!("e{i}"), None);
        }
        let (events, logged) = ch.node().trace.snapshot();
        assert_eq!(logged, 11, "10 events plus 'channel created'");
        let names: Vec<_> = events.iter().map(|e| e.description.as_str()).collect();
        assert_eq!(names, ["e7", "e8", "e9"]);
    }

    #[test]
    fn state_changes_are_traced_once_per_change() {
        let r = Registry::new();
        let ch = r.register_channel("t");
        ch.node().set_state(ConnectivityState::Connecting);
        ch.node().set_state(ConnectivityState::Connecting);
        ch.node().set_state(ConnectivityState::Ready);
        let (events, _) = ch.node().trace.snapshot();
        let changes = events
            .iter()
            .filter(|e| e.description.starts_with("state changed"))
            .count();
        assert_eq!(changes, 2);
        assert_eq!(ch.node().state(), ConnectivityState::Ready);
    }
}
