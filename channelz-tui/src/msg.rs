//! The messages that drive the dashboard: what the poller learned
//! ([`Msg::Overview`], [`Msg::Details`], ...), what the user pressed
//! ([`Action`]) and what the terminal did ([`Msg::Resize`]). They are the
//! one interface between the I/O side (`poll`, the terminal loop in `app`)
//! and `update`; each carries everything `update` needs, so `update` knows
//! nothing about drawing or the network.

use std::time::SystemTime;

use grpc_toolkit_proto::channelz::v1::{Channel, Server, Socket, Subchannel};

use crate::model::{HealthReport, Incomplete, ServerSocketsPage};
use crate::outage::Outage;
use crate::xds::XdsPoll;

/// Detail responses of one poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    /// When the poll completed.
    pub at: Option<SystemTime>,
    /// Channels from `GetChannel`.
    pub channels: Vec<Channel>,
    /// Subchannels from `GetSubchannel`.
    pub subchannels: Vec<Subchannel>,
    /// Sockets from `GetSocket`.
    pub sockets: Vec<Socket>,
    /// Pages of `GetServerSockets`, by server id.
    pub server_sockets: Vec<(i64, ServerSocketsPage)>,
    /// What these fetches could not get.
    pub incomplete: Vec<Incomplete>,
}

/// What the user asked for, decoded from a key by `input`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Selection up one row (or the trace, when it has the focus, one
    /// event toward the newest).
    Up,
    /// Selection down one row (or the trace one event toward the oldest).
    Down,
    /// Selection (or trace) up a page.
    PageUp,
    /// Selection (or trace) down a page.
    PageDown,
    /// First row (or the newest trace events).
    Top,
    /// Last row (or the oldest trace events).
    Bottom,
    /// Drill into the selected row.
    Enter,
    /// Leave the current screen (or the filter, or help).
    Back,
    /// Switch the pane with the focus: channels and servers on the
    /// overview, children and trace on a detail screen.
    NextPane,
    /// Start editing the filter.
    StartFilter,
    /// A character typed into the filter.
    FilterChar(char),
    /// Delete the filter's last character.
    FilterBackspace,
    /// Stop editing, keep the filter.
    FilterDone,
    /// Cycle the sort key.
    Sort,
    /// Pause or resume updates.
    Pause,
    /// Poll now.
    Refresh,
    /// Show or hide help.
    Help,
    /// Open the xDS (CSDS) screen.
    Xds,
    /// Open the tree view.
    Tree,
    /// Next page of server sockets.
    NextPage,
    /// Previous page of server sockets.
    PrevPage,
    /// Leave the program.
    Quit,
}

/// Everything that can happen to the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// Time passed (drives relative times and the retry countdown).
    Tick(SystemTime),
    /// The poller is (re)connecting.
    Connecting,
    /// The poller connected.
    Connected,
    /// The poller lost (or never got) the connection.
    Disconnected {
        /// Why.
        error: Outage,
        /// When it retries.
        retry_at: SystemTime,
    },
    /// The server has no Channelz service.
    NoChannelz,
    /// A complete overview: every page of top channels and servers.
    Overview {
        /// When the poll completed.
        at: SystemTime,
        /// Top channels.
        channels: Vec<Channel>,
        /// Servers.
        servers: Vec<Server>,
        /// How many sockets each server has open (all `GetServerSockets` pages).
        server_socket_counts: Vec<(i64, usize)>,
        /// What the overview could not get (a method the server lacks,
        /// pages cut by the limits).
        incomplete: Vec<Incomplete>,
    },
    /// Detail fetches for the focused screen.
    Details(Details),
    /// Health service answers.
    Health(HealthReport),
    /// What CSDS said in a poll (sent only when CSDS was asked: a server
    /// that answered UNIMPLEMENTED is asked again only now and then).
    Xds {
        /// When the read completed (changes are marked from then).
        at: SystemTime,
        /// The read.
        poll: XdsPoll,
    },
    /// An RPC of a poll failed while the connection stayed up.
    PollFailed(String),
    /// A key the user pressed.
    Action(Action),
    /// The terminal's size changed: the heights of the panels that scroll,
    /// as the view lays them out, so that paging and the tree's fetches
    /// match what is drawn.
    Resize(PanelHeights),
}

/// How many rows each scrolling panel shows on the current terminal; the
/// view computes it (`view::panel_heights`), `update` keeps it in the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanelHeights {
    /// Rows a list moves on PageUp/PageDown.
    pub list: usize,
    /// Trace events a detail screen shows at once.
    pub trace: usize,
    /// Rows of the tree view.
    pub tree: usize,
}
