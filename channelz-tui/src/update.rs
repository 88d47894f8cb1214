//! `update(&mut Model, Msg)`: the only place the model changes. Pure: no
//! I/O, no clock (time arrives in the messages), so every behaviour of the
//! dashboard is a unit test away.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use grpc_toolkit_proto::channelz::v1::{Channel, Server};

use crate::model::{EntityId, Link, Model, Pane, Sample, Screen, XdsKey, XdsRow, XdsState};
use crate::msg::{Action, Details, Msg};
use crate::xds::XdsPoll;

use grpc_toolkit_conn::escape::escape;

/// What the runtime must do after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Nothing.
    None,
    /// Poll now instead of at the next interval.
    Refresh,
}

/// Applies `msg` to `model`.
pub fn update(model: &mut Model, msg: Msg) -> Command {
    match msg {
        Msg::Tick(now) => model.now = now,
        Msg::Connecting => {
            // Each retry starts with Connecting; keeping the Disconnected
            // state (and its error and countdown) until it succeeds stops
            // the title from flickering between the two.
            if model.link == Link::NoChannelz {
                model.link = Link::Connecting;
            }
        }
        Msg::Connected => {
            // After an outage the server may have restarted with ids that
            // start over: whatever we cached may now name something else.
            if matches!(model.link, Link::Disconnected { .. } | Link::NoChannelz) {
                forget_entities(model);
            }
            model.link = Link::Connected;
        }
        Msg::Disconnected { error, retry_at } => {
            model.link = Link::Disconnected { error, retry_at };
        }
        Msg::NoChannelz => model.link = Link::NoChannelz,
        Msg::Overview {
            at,
            channels,
            servers,
            server_socket_counts,
            incomplete,
        } => {
            if !model.paused {
                let mut channels = channels;
                let mut servers = servers;
                channels.iter_mut().for_each(screen_safe::channel);
                servers.iter_mut().for_each(screen_safe::server);
                keeping_tree_selection(model, |model| {
                    apply_overview(model, at, channels, servers);
                });
                model.overview_incomplete = incomplete;
                model.server_socket_counts = server_socket_counts.into_iter().collect();
                clamp_trace(model, model.screen());
            }
        }
        Msg::Details(mut details) => {
            if !model.paused {
                details.channels.iter_mut().for_each(screen_safe::channel);
                details
                    .subchannels
                    .iter_mut()
                    .for_each(screen_safe::subchannel);
                details.sockets.iter_mut().for_each(screen_safe::socket);
                keeping_tree_selection(model, |model| apply_details(model, details));
                clamp_trace(model, model.screen());
            }
        }
        Msg::Health(mut report) => {
            if !model.paused {
                if let Err(e) = &mut report.overall {
                    *e = escape(e).into_owned();
                }
                for s in report.services.iter_mut().flatten() {
                    s.name = escape(&s.name).into_owned();
                }
                model.health = Some(report);
            }
        }
        Msg::Xds { at, poll } => {
            if !model.paused {
                apply_xds(model, at, poll);
            }
        }
        Msg::PollFailed(error) => model.last_error = Some(escape(&error).into_owned()),
        Msg::Resize(heights) => {
            model.page = heights.list.max(1);
            model.trace_page = heights.trace.max(1);
            model.tree_page = heights.tree.max(1);
            clamp_trace(model, model.screen());
        }
        Msg::Action(action) => return act(model, action),
    }
    Command::None
}

fn forget_entities(model: &mut Model) {
    model.set_top_channels(Vec::new());
    model.servers.clear();
    model.channels.clear();
    model.subchannels.clear();
    model.sockets.clear();
    model.server_sockets.clear();
    model.server_page_start.clear();
    model.server_page_history.clear();
    model.server_socket_counts.clear();
    model.history.clear();
    model.states.clear();
    model.state_changed.clear();
    model.overview_at = None;
    model.xds = XdsState::default();
    model.stack.truncate(1);
    model.cursors.retain(|s, _| *s == Screen::Overview);
    for c in model.cursors.values_mut() {
        c.row = 0;
    }
}

/// Ids are never reused and grow: an id we have not seen that is lower
/// than the highest we saw can only mean the process restarted.
fn restarted(model: &Model, channels: &[Channel], servers: &[Server]) -> bool {
    let known: HashSet<i64> = model
        .top_channels
        .iter()
        .filter_map(|c| c.r#ref.as_ref().map(|r| r.channel_id))
        .chain(
            model
                .servers
                .iter()
                .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id)),
        )
        .collect();
    let Some(max_known) = known.iter().copied().max() else {
        return false;
    };
    channels
        .iter()
        .filter_map(|c| c.r#ref.as_ref().map(|r| r.channel_id))
        .chain(
            servers
                .iter()
                .filter_map(|s| s.r#ref.as_ref().map(|r| r.server_id)),
        )
        .any(|id| id < max_known && !known.contains(&id))
}

fn apply_overview(model: &mut Model, at: SystemTime, channels: Vec<Channel>, servers: Vec<Server>) {
    if restarted(model, &channels, &servers) {
        forget_entities(model);
    }
    model.now = model.now.max(at);
    for c in &channels {
        let Some(id) = c.r#ref.as_ref().map(|r| r.channel_id) else {
            continue;
        };
        record_channel(model, EntityId::Channel(id), c.data.as_ref(), at);
    }
    for s in &servers {
        let Some(id) = s.r#ref.as_ref().map(|r| r.server_id) else {
            continue;
        };
        if let Some(d) = &s.data {
            push_sample(
                model,
                EntityId::Server(id),
                at,
                d.calls_started,
                d.calls_succeeded,
                d.calls_failed,
            );
        }
    }
    // A top channel that is gone must not linger in the detail cache, where
    // `Model::channel` would still find it.
    let live: HashSet<i64> = channels
        .iter()
        .filter_map(|c| c.r#ref.as_ref().map(|r| r.channel_id))
        .collect();
    let old_top: Vec<i64> = model
        .top_channels
        .iter()
        .filter_map(|c| c.r#ref.as_ref().map(|r| r.channel_id))
        .filter(|id| !live.contains(id))
        .collect();
    for id in old_top {
        model.channels.remove(&id);
    }
    model.set_top_channels(channels);
    model.servers = servers;
    model.overview_at = Some(at);
    model.last_error = None;
    clamp_cursor(model, Screen::Overview);
}

fn record_channel(
    model: &mut Model,
    id: EntityId,
    data: Option<&grpc_toolkit_proto::channelz::v1::ChannelData>,
    at: SystemTime,
) {
    let Some(d) = data else { return };
    push_sample(
        model,
        id,
        at,
        d.calls_started,
        d.calls_succeeded,
        d.calls_failed,
    );
    let state = d.state.as_ref().map_or(0, |s| s.state);
    if let Some(prev) = model.states.insert(id, state)
        && prev != state
    {
        model.state_changed.insert(id, at);
    }
}

fn push_sample(
    model: &mut Model,
    id: EntityId,
    at: SystemTime,
    started: i64,
    succeeded: i64,
    failed: i64,
) {
    // A refresh right after a poll (Enter, `r`) would give a sample a few
    // milliseconds after the last one and show a false dip to zero.
    let min_gap = model.interval / 2;
    model.history.entry(id).or_default().push(
        Sample {
            at,
            started,
            succeeded,
            failed,
        },
        min_gap,
    );
}

fn apply_details(model: &mut Model, details: Details) {
    let at = details.at.unwrap_or(model.now);
    for c in details.channels {
        if let Some(id) = c.r#ref.as_ref().map(|r| r.channel_id) {
            // Top channels get their samples from the overview; sampling
            // them twice per poll would halve the interval and skew rates.
            if model.top_channel(id).is_none() {
                record_channel(model, EntityId::Channel(id), c.data.as_ref(), at);
            }
            model.channels.insert(id, c);
        }
    }
    for s in details.subchannels {
        if let Some(id) = s.r#ref.as_ref().map(|r| r.subchannel_id) {
            record_channel(model, EntityId::Subchannel(id), s.data.as_ref(), at);
            model.subchannels.insert(id, s);
        }
    }
    for s in details.sockets {
        if let Some(id) = s.r#ref.as_ref().map(|r| r.socket_id) {
            if let Some(d) = &s.data {
                push_sample(
                    model,
                    EntityId::Socket(id),
                    at,
                    d.streams_started,
                    d.streams_succeeded,
                    d.streams_failed,
                );
            }
            model.sockets.insert(id, s);
        }
    }
    for (server, page) in details.server_sockets {
        model.server_sockets.insert(server, page);
    }
    model.details_incomplete = details.incomplete;
    let screen = model.screen();
    clamp_cursor(model, screen);
}

/// Runs `change` and then selects the same tree row as before it, when it
/// is still there: details arriving add rows above the selection (a
/// subchannel's sockets), which must not move it to another entity.
fn keeping_tree_selection(model: &mut Model, change: impl FnOnce(&mut Model)) {
    if model.screen() != Screen::Tree {
        return change(model);
    }
    let row = model.cursor().row;
    let before = model.tree_rows().get(row).copied();
    change(model);
    if model.screen() != Screen::Tree {
        return;
    }
    let rows = model.tree_rows();
    let after = match before {
        // Where it was is the likeliest place: look there first.
        Some(entry) if rows.get(row) == Some(&entry) => Some(row),
        Some(entry) => rows.iter().position(|r| *r == entry),
        None => None,
    };
    let cursor = model.cursors.entry(Screen::Tree).or_default();
    match after {
        Some(row) => cursor.row = row,
        None => cursor.row = cursor.row.min(rows.len().saturating_sub(1)),
    }
}

/// Whether `screen` has a trace panel that keys can scroll.
fn has_trace_pane(screen: Screen) -> bool {
    matches!(
        screen,
        Screen::Channel(_) | Screen::Subchannel(_) | Screen::Server(_)
    )
}

/// The most the trace of `screen` can scroll: to where its oldest event
/// is on the panel's last line.
fn max_trace_scroll(model: &Model, screen: Screen) -> usize {
    model
        .trace(screen)
        .map_or(0, |t| t.events.len().saturating_sub(model.trace_page))
}

fn clamp_trace(model: &mut Model, screen: Screen) {
    if !has_trace_pane(screen) {
        return;
    }
    let max = max_trace_scroll(model, screen);
    if let Some(cursor) = model.cursors.get_mut(&screen) {
        cursor.trace = cursor.trace.min(max);
    }
}

/// Moves the selection, or scrolls the trace when it has the focus, by
/// `delta(page)` rows, where `page` is the focused panel's height.
fn move_focused(model: &mut Model, delta: impl FnOnce(isize) -> isize) {
    if has_trace_pane(model.screen()) && model.cursor().pane == Pane::Trace {
        let page = model.trace_page as isize;
        scroll_trace(model, delta(page));
    } else {
        let page = model.page as isize;
        move_cursor(model, delta(page));
    }
}

fn scroll_trace(model: &mut Model, delta: isize) {
    let screen = model.screen();
    let max = max_trace_scroll(model, screen) as isize;
    let cursor = model.cursors.entry(screen).or_default();
    cursor.trace = (cursor.trace as isize).saturating_add(delta).clamp(0, max) as usize;
}

fn clamp_cursor(model: &mut Model, screen: Screen) {
    let len = model.row_count(screen);
    let cursor = model.cursors.entry(screen).or_default();
    if len == 0 {
        cursor.row = 0;
    } else if cursor.row >= len {
        cursor.row = len - 1;
    }
}

fn move_cursor(model: &mut Model, delta: isize) {
    let screen = model.screen();
    let len = model.row_count(screen);
    let cursor = model.cursors.entry(screen).or_default();
    if len == 0 {
        cursor.row = 0;
        return;
    }
    let row = cursor.row as isize + delta;
    cursor.row = row.clamp(0, len as isize - 1) as usize;
}

fn act(model: &mut Model, action: Action) -> Command {
    if model.filter_editing {
        match action {
            Action::FilterChar(c) => model.filter.push(c),
            Action::FilterBackspace => {
                model.filter.pop();
            }
            Action::FilterDone => model.filter_editing = false,
            Action::Back => {
                model.filter.clear();
                model.filter_editing = false;
            }
            Action::Quit => model.quit = true,
            _ => return Command::None,
        }
        model.cursors.entry(Screen::Overview).or_default().row = 0;
        return Command::None;
    }
    if model.help {
        match action {
            Action::Quit => model.quit = true,
            Action::Help | Action::Back | Action::FilterDone => model.help = false,
            _ => {}
        }
        return Command::None;
    }
    match action {
        Action::Up => move_focused(model, |_| -1),
        Action::Down => move_focused(model, |_| 1),
        Action::PageUp => move_focused(model, |page| -page),
        Action::PageDown => move_focused(model, |page| page),
        Action::Top => move_focused(model, |_| isize::MIN / 2),
        Action::Bottom => move_focused(model, |_| isize::MAX / 2),
        Action::Enter | Action::FilterDone if model.screen() == Screen::Xds => {
            return open_xds_row(model);
        }
        Action::Enter | Action::FilterDone => {
            let screen = model.screen();
            let rows = model.rows(screen);
            if let Some(target) = rows.get(model.cursor().row) {
                let next = match *target {
                    EntityId::Channel(id) => Screen::Channel(id),
                    EntityId::Subchannel(id) => Screen::Subchannel(id),
                    EntityId::Socket(id) => Screen::Socket(id),
                    EntityId::Server(id) => Screen::Server(id),
                };
                model.stack.push(next);
                return Command::Refresh;
            }
        }
        Action::Back => {
            if model.stack.len() > 1 {
                model.stack.pop();
            } else if !model.filter.is_empty() {
                model.filter.clear();
            }
        }
        Action::NextPane => {
            let screen = model.screen();
            if screen == Screen::Overview {
                let cursor = model.cursors.entry(Screen::Overview).or_default();
                cursor.pane = match cursor.pane {
                    Pane::Servers => Pane::Main,
                    _ => Pane::Servers,
                };
                cursor.row = 0;
            } else if has_trace_pane(screen) {
                // The children keep their selection, so a second Tab finds
                // it where the first one left it.
                let cursor = model.cursors.entry(screen).or_default();
                cursor.pane = match cursor.pane {
                    Pane::Trace => Pane::Main,
                    _ => Pane::Trace,
                };
            }
        }
        Action::StartFilter => {
            model.stack.truncate(1);
            model.filter_editing = true;
        }
        Action::FilterChar(_) | Action::FilterBackspace => {}
        Action::Sort => {
            model.sort = model.sort.next();
            clamp_cursor(model, Screen::Overview);
        }
        Action::Pause => model.paused = !model.paused,
        Action::Refresh => return Command::Refresh,
        Action::Help => model.help = true,
        Action::Tree => {
            if model.screen() != Screen::Tree {
                // The tree opens on the channel selected in the overview.
                let from = match model.cursors.get(&Screen::Overview) {
                    Some(c) if c.pane == Pane::Main => c.row,
                    _ => 0,
                };
                let selected = model.rows(Screen::Overview).get(from).copied();
                model.stack.push(Screen::Tree);
                let row = match selected {
                    Some(EntityId::Channel(id)) => model.tree_row_of(id).unwrap_or(0),
                    _ => 0,
                };
                model.cursors.entry(Screen::Tree).or_default().row = row;
                return Command::Refresh;
            }
        }
        Action::Xds => {
            // Back to the xDS screen when it is already in the breadcrumb
            // (x, Enter on a scope, x, ...), so the stack stays bounded.
            match model.stack.iter().position(|s| *s == Screen::Xds) {
                Some(at) => model.stack.truncate(at + 1),
                None => {
                    model.stack.push(Screen::Xds);
                    return Command::Refresh;
                }
            }
        }
        Action::NextPage | Action::PrevPage => {
            if let Screen::Server(id) = model.screen() {
                return page_server(model, id, action == Action::NextPage);
            }
        }
        Action::Quit => model.quit = true,
    }
    Command::None
}

/// Enter on the xDS screen: a scope opens its Channelz channel, a
/// resource its own screen.
fn open_xds_row(model: &mut Model) -> Command {
    let Some(row) = model.xds.rows.get(model.cursor().row).copied() else {
        return Command::None;
    };
    match model.xds_row(row) {
        Some((scope, None)) => {
            let id = model
                .xds_channel(scope)
                .and_then(|c| c.r#ref.as_ref())
                .map(|r| r.channel_id);
            if let Some(id) = id {
                model.stack.push(Screen::Channel(id));
                return Command::Refresh;
            }
        }
        Some((scope, Some(r))) => {
            model.xds.open = Some(xds_key(&scope.client_scope, r));
            model.stack.push(Screen::XdsResource);
        }
        None => {}
    }
    Command::None
}

fn xds_key(scope: &str, r: &grpc_toolkit_channelz_client::csds::Resource) -> XdsKey {
    (scope.to_owned(), r.type_url.clone(), r.name.clone())
}

/// What the selected xDS row is, to find it again after the next read
/// reorders the rows.
#[derive(PartialEq)]
enum Selected {
    Scope(String),
    Resource(XdsKey),
}

fn selected_xds(model: &Model) -> Option<Selected> {
    let row = model.cursors.get(&Screen::Xds)?.row;
    match model.xds_row(*model.xds.rows.get(row)?)? {
        (scope, None) => Some(Selected::Scope(scope.client_scope.clone())),
        (scope, Some(r)) => Some(Selected::Resource(xds_key(&scope.client_scope, r))),
    }
}

/// A CSDS read: escaped, its changes marked against the last read, its
/// rows put in display order, the selection kept on the same row.
fn apply_xds(model: &mut Model, at: SystemTime, mut poll: XdsPoll) {
    model.now = model.now.max(at);
    let before = selected_xds(model);
    screen_safe::xds(&mut poll);
    let mut rows = Vec::new();
    if let XdsPoll::Status(status) = &poll {
        let total = status
            .scopes
            .iter()
            .map(|s| s.resources.len())
            .sum::<usize>();
        let mut seen = HashMap::with_capacity(total);
        rows.reserve(total + status.scopes.len());
        for (i, scope) in status.scopes.iter().enumerate() {
            rows.push(XdsRow::Scope(i));
            for r in &scope.resources {
                let key = xds_key(&scope.client_scope, r);
                if let Some((status, version)) = model.xds.seen.get(&key)
                    && (*status != r.status || *version != r.version)
                {
                    model.xds.changed.insert(key.clone(), at);
                }
                seen.insert(key, (r.status, r.version.clone()));
            }
            rows.extend(
                crate::xds::display_order(&scope.resources)
                    .into_iter()
                    .map(|resource| XdsRow::Resource { scope: i, resource }),
            );
        }
        // Only what this read has can be marked; the rest would grow the
        // maps with every resource that ever came and went.
        model.xds.changed.retain(|k, _| seen.contains_key(k));
        model.xds.seen = seen;
    }
    model.xds.poll = Some(poll);
    model.xds.at = Some(at);
    model.xds.rows = rows;
    if let Some(before) = before {
        let found = (0..model.xds.rows.len()).find(|&i| {
            let row = model.xds.rows[i];
            match (model.xds_row(row), &before) {
                (Some((s, None)), Selected::Scope(name)) => s.client_scope == *name,
                (Some((s, Some(r))), Selected::Resource(key)) => {
                    s.client_scope == key.0 && r.type_url == key.1 && r.name == key.2
                }
                _ => false,
            }
        });
        if let Some(row) = found {
            model.cursors.entry(Screen::Xds).or_default().row = row;
        }
    }
    clamp_cursor(model, Screen::Xds);
}

fn page_server(model: &mut Model, id: i64, forward: bool) -> Command {
    let Some(page) = model.server_sockets.get(&id) else {
        return Command::None;
    };
    let start = model.server_page_start.entry(id).or_insert(0);
    if forward {
        if page.end {
            return Command::None;
        }
        // Channelz paging: the next page starts right after the last id seen.
        let Some(last) = page.refs.iter().map(|r| r.socket_id).max() else {
            return Command::None;
        };
        model
            .server_page_history
            .entry(id)
            .or_default()
            .push(*start);
        *start = last + 1;
    } else {
        let Some(prev) = model.server_page_history.get_mut(&id).and_then(Vec::pop) else {
            return Command::None;
        };
        *start = prev;
    }
    model.server_sockets.remove(&id);
    model.cursors.entry(Screen::Server(id)).or_default().row = 0;
    Command::Refresh
}

/// Server text made safe for the screen before it enters the model:
/// every name, target, address, trace description and option a server
/// sends, with controls and bidi characters escaped
/// ([`grpc_toolkit_conn::escape`]). Ids and numbers are untouched.
mod screen_safe {
    use grpc_toolkit_conn::escape::escape;
    use grpc_toolkit_proto::channelz::v1::{
        Address, Channel, ChannelData, ChannelRef, ChannelTrace, Server, Socket, SocketRef,
        Subchannel, SubchannelRef, address, security,
    };

    fn text(s: &mut String) {
        if let std::borrow::Cow::Owned(safe) = escape(s) {
            *s = safe;
        }
    }

    fn refs(c: &mut [ChannelRef], s: &mut [SubchannelRef], k: &mut [SocketRef]) {
        c.iter_mut().for_each(|r| text(&mut r.name));
        s.iter_mut().for_each(|r| text(&mut r.name));
        k.iter_mut().for_each(|r| text(&mut r.name));
    }

    fn trace(t: Option<&mut ChannelTrace>) {
        for e in t.into_iter().flat_map(|t| t.events.iter_mut()) {
            text(&mut e.description);
        }
    }

    fn data(d: Option<&mut ChannelData>) {
        if let Some(d) = d {
            text(&mut d.target);
            trace(d.trace.as_mut());
        }
    }

    fn addr(a: Option<&mut Address>) {
        match a.and_then(|a| a.address.as_mut()) {
            Some(address::Address::UdsAddress(u)) => text(&mut u.filename),
            Some(address::Address::OtherAddress(o)) => text(&mut o.name),
            _ => {}
        }
    }

    pub(super) fn channel(c: &mut Channel) {
        if let Some(r) = c.r#ref.as_mut() {
            text(&mut r.name);
        }
        data(c.data.as_mut());
        refs(&mut c.channel_ref, &mut c.subchannel_ref, &mut c.socket_ref);
    }

    pub(super) fn subchannel(s: &mut Subchannel) {
        if let Some(r) = s.r#ref.as_mut() {
            text(&mut r.name);
        }
        data(s.data.as_mut());
        refs(&mut s.channel_ref, &mut s.subchannel_ref, &mut s.socket_ref);
    }

    pub(super) fn server(s: &mut Server) {
        if let Some(r) = s.r#ref.as_mut() {
            text(&mut r.name);
        }
        if let Some(d) = s.data.as_mut() {
            trace(d.trace.as_mut());
        }
        s.listen_socket.iter_mut().for_each(|r| text(&mut r.name));
    }

    /// A CSDS read: every name, version, reason and decoded string.
    pub(super) fn xds(poll: &mut crate::xds::XdsPoll) {
        use grpc_toolkit_channelz_client::csds::Summary;
        let status = match poll {
            crate::xds::XdsPoll::Status(status) => status,
            crate::xds::XdsPoll::Failed(error) => return text(error),
            crate::xds::XdsPoll::Unsupported => return,
        };
        for scope in &mut status.scopes {
            text(&mut scope.client_scope);
            text(&mut scope.node_id);
            for r in &mut scope.resources {
                text(&mut r.type_url);
                text(&mut r.name);
                text(&mut r.version);
                if let Some(f) = r.failure.as_mut() {
                    text(&mut f.version);
                    text(&mut f.details);
                }
                match &mut r.summary {
                    Summary::Listener {
                        route_config_name, ..
                    } => text(route_config_name),
                    Summary::Route { clusters, .. } => clusters.iter_mut().for_each(text),
                    Summary::Cluster {
                        kind,
                        eds_service_name,
                    } => {
                        text(kind);
                        text(eds_service_name);
                    }
                    Summary::Other { type_url, .. } => text(type_url),
                    Summary::None | Summary::Endpoints { .. } => {}
                }
            }
        }
    }

    pub(super) fn socket(s: &mut Socket) {
        if let Some(r) = s.r#ref.as_mut() {
            text(&mut r.name);
        }
        text(&mut s.remote_name);
        addr(s.local.as_mut());
        addr(s.remote.as_mut());
        for o in s.data.iter_mut().flat_map(|d| d.option.iter_mut()) {
            text(&mut o.name);
            text(&mut o.value);
        }
        match s.security.as_mut().and_then(|sec| sec.model.as_mut()) {
            Some(security::Model::Tls(t)) => match t.cipher_suite.as_mut() {
                Some(security::tls::CipherSuite::StandardName(n))
                | Some(security::tls::CipherSuite::OtherName(n)) => text(n),
                None => {}
            },
            Some(security::Model::Other(o)) => text(&mut o.name),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fixtures::{self, ago, channel, now, server};
    use crate::model::{Focus, ServerSocketsPage, SortKey};

    fn press(m: &mut Model, action: Action) -> Command {
        update(m, Msg::Action(action))
    }

    fn overview(m: &mut Model, at: SystemTime, channels: Vec<Channel>) {
        update(
            m,
            Msg::Overview {
                at,
                channels,
                servers: vec![],
                server_socket_counts: vec![],
                incomplete: vec![],
            },
        );
    }

    #[test]
    fn rates_come_from_the_delta_between_polls() {
        let m = fixtures::populated();
        let r = m.rates(EntityId::Channel(1)).expect("two samples");
        assert!((r.calls_per_sec - 10.0).abs() < 1e-9, "{r:?}");
        assert!((r.failures_per_sec - 1.0).abs() < 1e-9, "{r:?}");
        let s = m.rates(EntityId::Server(8)).expect("two samples");
        assert!((s.calls_per_sec - 20.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn a_refresh_right_after_a_poll_does_not_fake_a_dip() {
        let mut m = fixtures::populated();
        overview(
            &mut m,
            ago(1) + Duration::from_millis(50),
            vec![channel(1, "t", 3, (120, 110, 6), &[])],
        );
        let r = m.rates(EntityId::Channel(1)).expect("rates");
        assert!((r.calls_per_sec - 10.0).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn counters_going_down_restart_the_history() {
        let mut m = fixtures::populated();
        overview(
            &mut m,
            now(),
            vec![
                channel(1, "t", 3, (3, 3, 0), &[]),
                channel(2, "t", 3, (54, 21, 33), &[]),
                channel(7, "t", 1, (0, 0, 0), &[]),
            ],
        );
        assert_eq!(
            m.rates(EntityId::Channel(1)),
            None,
            "no negative rate after a reset"
        );
    }

    #[test]
    fn state_changes_are_highlighted_for_a_while() {
        let mut m = fixtures::populated();
        assert!(m.recently_changed(EntityId::Channel(2)));
        assert!(!m.recently_changed(EntityId::Channel(1)));
        update(&mut m, Msg::Tick(now() + Duration::from_secs(60)));
        assert!(!m.recently_changed(EntityId::Channel(2)));
    }

    #[test]
    fn child_rows_are_stable_whatever_order_the_server_sends() {
        let m = fixtures::with_details();
        assert_eq!(
            m.rows(Screen::Channel(1)),
            vec![EntityId::Subchannel(3), EntityId::Subchannel(4)]
        );
        let mut shuffled = fixtures::with_details();
        let mut c = channel(1, "dns:///backend.example:443", 3, (120, 113, 7), &[3, 4]);
        c.subchannel_ref.reverse();
        overview(&mut shuffled, now(), vec![c]);
        assert_eq!(
            shuffled.rows(Screen::Channel(1)),
            vec![EntityId::Subchannel(3), EntityId::Subchannel(4)]
        );
    }

    #[test]
    fn enter_drills_down_and_esc_goes_back() {
        let mut m = fixtures::with_details();
        assert_eq!(press(&mut m, Action::Enter), Command::Refresh);
        assert_eq!(m.stack, vec![Screen::Overview, Screen::Channel(1)]);
        assert_eq!(m.focus(), Focus::Channel(1));
        press(&mut m, Action::Down);
        press(&mut m, Action::Enter);
        assert_eq!(m.screen(), Screen::Subchannel(4));
        press(&mut m, Action::Back);
        press(&mut m, Action::Back);
        assert_eq!(m.stack, vec![Screen::Overview]);
        press(&mut m, Action::Back);
        assert_eq!(
            m.stack,
            vec![Screen::Overview],
            "the overview is never popped"
        );
    }

    #[test]
    fn tab_switches_to_servers_and_enter_opens_one() {
        let mut m = fixtures::populated();
        press(&mut m, Action::NextPane);
        press(&mut m, Action::Enter);
        assert_eq!(m.screen(), Screen::Server(8));
        assert_eq!(m.focus(), Focus::Server { id: 8, start: 0 });
    }

    #[test]
    fn selection_stays_within_the_rows() {
        let mut m = fixtures::populated();
        for _ in 0..10 {
            press(&mut m, Action::Down);
        }
        assert_eq!(m.cursor().row, 2);
        press(&mut m, Action::Top);
        assert_eq!(m.cursor().row, 0);
        press(&mut m, Action::Bottom);
        assert_eq!(m.cursor().row, 2);
        overview(&mut m, now(), vec![channel(1, "t", 3, (120, 113, 7), &[])]);
        assert_eq!(m.cursor().row, 0, "clamped when rows go away");
    }

    #[test]
    fn filter_narrows_the_overview_and_esc_clears_it() {
        let mut m = fixtures::populated();
        press(&mut m, Action::StartFilter);
        for c in "flaky".chars() {
            press(&mut m, Action::FilterChar(c));
        }
        assert_eq!(m.visible_channels().len(), 1);
        press(&mut m, Action::FilterDone);
        assert!(!m.filter_editing);
        assert_eq!(m.rows(Screen::Overview), vec![EntityId::Channel(2)]);
        press(&mut m, Action::Back);
        assert!(m.filter.is_empty());
        assert_eq!(m.visible_channels().len(), 3);
    }

    #[test]
    fn q_while_filtering_is_text_but_ctrl_c_quits() {
        let mut m = fixtures::populated();
        press(&mut m, Action::StartFilter);
        press(&mut m, Action::FilterChar('q'));
        assert!(!m.quit);
        assert_eq!(m.filter, "q");
        press(&mut m, Action::Quit);
        assert!(m.quit);
    }

    #[test]
    fn sort_cycles_and_orders_rows() {
        let mut m = fixtures::populated();
        press(&mut m, Action::Sort);
        assert_eq!(m.sort, SortKey::CallRate);
        press(&mut m, Action::Sort);
        assert_eq!(m.sort, SortKey::Failures);
        assert_eq!(
            m.rows(Screen::Overview)[0],
            EntityId::Channel(2),
            "33 failures first"
        );
        press(&mut m, Action::Sort);
        assert_eq!(m.sort, SortKey::State);
        assert_eq!(
            m.rows(Screen::Overview)[0],
            EntityId::Channel(2),
            "TRANSIENT_FAILURE first"
        );
    }

    #[test]
    fn paused_models_ignore_polls() {
        let mut m = fixtures::populated();
        press(&mut m, Action::Pause);
        overview(&mut m, now(), vec![]);
        assert_eq!(m.top_channels.len(), 3);
        press(&mut m, Action::Pause);
        overview(&mut m, now(), vec![]);
        assert!(m.top_channels.is_empty());
    }

    #[test]
    fn ids_that_start_over_mean_a_restart() {
        let mut m = fixtures::with_details();
        press(&mut m, Action::Enter);
        // Same process would never hand out id 3 again for a new top channel.
        overview(
            &mut m,
            now(),
            vec![channel(3, "dns:///new.example", 3, (1, 1, 0), &[])],
        );
        assert_eq!(m.stack, vec![Screen::Overview]);
        assert!(m.subchannels.is_empty());
        assert!(m.history.keys().all(|k| *k == EntityId::Channel(3)));
    }

    #[test]
    fn new_higher_ids_are_not_a_restart() {
        let mut m = fixtures::with_details();
        let mut channels = m.top_channels.clone();
        channels.push(channel(99, "dns:///new.example", 3, (1, 1, 0), &[]));
        overview(&mut m, now(), channels);
        assert!(!m.subchannels.is_empty());
    }

    #[test]
    fn reconnecting_after_an_outage_forgets_old_ids() {
        let mut m = fixtures::with_details();
        press(&mut m, Action::Enter);
        update(
            &mut m,
            Msg::Disconnected {
                error: fixtures::outage("gone"),
                retry_at: now(),
            },
        );
        assert!(
            !m.top_channels.is_empty(),
            "last data stays visible while disconnected"
        );
        update(&mut m, Msg::Connected);
        assert!(m.top_channels.is_empty());
        assert_eq!(m.stack, vec![Screen::Overview]);
        assert_eq!(m.link, Link::Connected);
    }

    #[test]
    fn retries_keep_the_disconnected_error_visible() {
        let mut m = fixtures::disconnected();
        update(&mut m, Msg::Connecting);
        assert!(matches!(m.link, Link::Disconnected { .. }), "{:?}", m.link);
    }

    #[test]
    fn no_channelz_is_its_own_state() {
        let mut m = Model::new("x:1", Duration::from_secs(1), now());
        update(&mut m, Msg::NoChannelz);
        assert_eq!(m.link, Link::NoChannelz);
    }

    #[test]
    fn server_sockets_page_forward_from_last_id_plus_one_and_back() {
        let mut m = fixtures::populated();
        m.servers = vec![server(8, &[], (0, 0, 0))];
        m.stack.push(Screen::Server(8));
        let page = |start, ids: &[i64], end| ServerSocketsPage {
            start,
            refs: ids
                .iter()
                .map(|i| grpc_toolkit_proto::channelz::v1::SocketRef {
                    socket_id: *i,
                    name: String::new(),
                })
                .collect(),
            end,
        };
        update(
            &mut m,
            Msg::Details(Details {
                server_sockets: vec![(8, page(0, &[20, 31, 25], false))],
                ..Default::default()
            }),
        );
        assert_eq!(press(&mut m, Action::NextPage), Command::Refresh);
        assert_eq!(m.focus(), Focus::Server { id: 8, start: 32 });
        update(
            &mut m,
            Msg::Details(Details {
                server_sockets: vec![(8, page(32, &[40], true))],
                ..Default::default()
            }),
        );
        assert_eq!(
            press(&mut m, Action::NextPage),
            Command::None,
            "no page after the end"
        );
        press(&mut m, Action::PrevPage);
        assert_eq!(m.focus(), Focus::Server { id: 8, start: 0 });
    }

    #[test]
    fn help_swallows_keys_until_closed() {
        let mut m = fixtures::populated();
        press(&mut m, Action::Help);
        press(&mut m, Action::Down);
        assert_eq!(m.cursor().row, 0);
        press(&mut m, Action::Back);
        assert!(!m.help);
    }

    #[test]
    fn tree_rows_follow_the_hierarchy() {
        let mut m = fixtures::with_details();
        press(&mut m, Action::Tree);
        assert_eq!(m.screen(), Screen::Tree);
        let rows = m.tree_rows();
        assert_eq!(
            rows[..4],
            [
                (0, EntityId::Channel(1)),
                (1, EntityId::Subchannel(3)),
                (2, EntityId::Socket(10)),
                (1, EntityId::Subchannel(4))
            ]
        );
        assert_eq!(m.focus(), Focus::Tree(vec![1, 2, 7]));
    }

    fn trace_scroll(m: &Model) -> usize {
        m.cursor().trace
    }

    #[test]
    fn tab_gives_the_trace_the_keys_and_gives_them_back() {
        let mut m = fixtures::with_long_trace(30);
        update(&mut m, fixtures::resize(34));
        assert_eq!(m.trace_page, 8, "the trace panel's rows at 34 lines");
        press(&mut m, Action::Enter);
        press(&mut m, Action::Down);
        assert_eq!(m.cursor().row, 1, "children first");
        press(&mut m, Action::NextPane);
        press(&mut m, Action::Down);
        press(&mut m, Action::Down);
        assert_eq!(trace_scroll(&m), 2);
        assert_eq!(m.cursor().row, 1, "the children keep their selection");
        press(&mut m, Action::PageDown);
        assert_eq!(trace_scroll(&m), 10, "a page is the panel's height");
        press(&mut m, Action::Bottom);
        assert_eq!(trace_scroll(&m), 22, "the oldest event on the last line");
        press(&mut m, Action::Down);
        press(&mut m, Action::PageDown);
        assert_eq!(trace_scroll(&m), 22, "no scrolling past the oldest");
        press(&mut m, Action::PageUp);
        assert_eq!(trace_scroll(&m), 14);
        press(&mut m, Action::Top);
        press(&mut m, Action::Up);
        assert_eq!(trace_scroll(&m), 0, "no scrolling past the newest");
        press(&mut m, Action::NextPane);
        press(&mut m, Action::Up);
        assert_eq!(m.cursor().row, 0, "Tab again: keys move the children");
        assert_eq!(trace_scroll(&m), 0);
    }

    #[test]
    fn a_trace_that_fits_does_not_scroll() {
        let mut m = fixtures::with_details();
        update(&mut m, fixtures::resize(34));
        press(&mut m, Action::Enter);
        press(&mut m, Action::NextPane);
        press(&mut m, Action::Down);
        press(&mut m, Action::Bottom);
        assert_eq!(trace_scroll(&m), 0, "4 events on 8 lines");
    }

    #[test]
    fn trace_scroll_is_clamped_when_the_trace_or_the_terminal_changes() {
        let mut m = fixtures::with_long_trace(30);
        update(&mut m, fixtures::resize(34));
        press(&mut m, Action::Enter);
        press(&mut m, Action::NextPane);
        press(&mut m, Action::Bottom);
        assert_eq!(trace_scroll(&m), 22);
        // A taller terminal shows more events: less to scroll.
        update(&mut m, fixtures::resize(44));
        assert_eq!(m.trace_page, 12);
        assert_eq!(trace_scroll(&m), 18);
        // The next poll brings a shorter trace.
        let mut c = m.top_channels[0].clone();
        if let Some(t) = c.data.as_mut().and_then(|d| d.trace.as_mut()) {
            t.events.truncate(20);
        }
        let mut channels = m.top_channels.clone();
        channels[0] = c;
        overview(&mut m, now(), channels);
        assert_eq!(trace_scroll(&m), 8);
    }

    #[test]
    fn tab_does_nothing_where_there_is_one_pane() {
        let mut m = fixtures::with_details();
        m.stack.push(Screen::Socket(10));
        press(&mut m, Action::NextPane);
        assert_eq!(m.cursor().pane, Pane::Main);
        press(&mut m, Action::Back);
        press(&mut m, Action::Tree);
        press(&mut m, Action::NextPane);
        press(&mut m, Action::Down);
        assert_eq!(
            m.cursor(),
            crate::model::Cursor {
                pane: Pane::Main,
                row: 1,
                trace: 0
            }
        );
    }

    #[test]
    fn the_tree_lists_every_top_channel_and_fetches_only_what_is_on_screen() {
        let mut m = fixtures::many_channels(100);
        update(&mut m, fixtures::resize(20));
        assert_eq!(m.tree_page, 15, "the tree panel's rows at 20 lines");
        press(&mut m, Action::Tree);
        let rows = m.tree_rows();
        assert_eq!(rows.len(), 200, "100 channels, each with its subchannel");
        assert_eq!(rows[199], (1, EntityId::Subchannel(1100)));
        // Rows 1-15 on screen: channels 1 to 8.
        assert_eq!(m.focus(), Focus::Tree((1..=8).collect()));
        press(&mut m, Action::Bottom);
        assert_eq!(m.cursor().row, 199);
        // Rows 186-200 on screen; the first is channel 93's subchannel.
        assert_eq!(m.focus(), Focus::Tree((93..=100).collect()));
        press(&mut m, Action::Enter);
        assert_eq!(m.screen(), Screen::Subchannel(1100));
    }

    #[test]
    fn the_tree_fetches_at_most_tree_roots_channels() {
        let mut m = fixtures::many_channels(100);
        update(&mut m, fixtures::resize(200));
        press(&mut m, Action::Tree);
        let Focus::Tree(roots) = m.focus() else {
            panic!("tree focus");
        };
        assert_eq!(
            roots,
            (1..=crate::model::TREE_ROOTS as i64).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_tree_opens_on_the_channel_selected_in_the_overview() {
        let mut m = fixtures::many_channels(100);
        update(&mut m, fixtures::resize(20));
        for _ in 0..49 {
            press(&mut m, Action::Down);
        }
        press(&mut m, Action::Tree);
        assert_eq!(m.tree_rows()[m.cursor().row], (0, EntityId::Channel(50)));
        assert!(
            matches!(m.focus(), Focus::Tree(roots) if roots.contains(&50)),
            "{:?}",
            m.focus()
        );
    }

    #[test]
    fn tree_selection_stays_on_its_entity_when_rows_appear_above_it() {
        let mut m = fixtures::with_details();
        press(&mut m, Action::Tree);
        for _ in 0..4 {
            press(&mut m, Action::Down);
        }
        assert_eq!(m.tree_rows()[m.cursor().row], (0, EntityId::Channel(2)));
        // Subchannel 4's socket arrives: one row more above the selection.
        update(
            &mut m,
            Msg::Details(Details {
                subchannels: vec![fixtures::subchannel(
                    4,
                    "10.0.0.2:443",
                    2,
                    (50, 46, 4),
                    &[12],
                )],
                ..Default::default()
            }),
        );
        assert_eq!(m.cursor().row, 5);
        assert_eq!(m.tree_rows()[m.cursor().row], (0, EntityId::Channel(2)));
    }

    /// Issue 11, item 7: four channels that all list each other gave
    /// 160,000 rows; each entity is now expanded once.
    #[test]
    fn a_cycle_of_refs_gives_a_bounded_tree() {
        let mut m = Model::new("x:1", Duration::from_secs(1), now());
        let mut top = vec![
            channel(1, "a", 3, (1, 1, 0), &[]),
            channel(2, "b", 3, (1, 1, 0), &[]),
            channel(4, "c", 3, (1, 1, 0), &[]),
        ];
        for c in &mut top {
            c.channel_ref = [1, 2, 4]
                .iter()
                .map(|id| grpc_toolkit_proto::channelz::v1::ChannelRef {
                    channel_id: *id,
                    name: String::new(),
                })
                .collect();
        }
        overview(&mut m, now(), top);
        press(&mut m, Action::Tree);
        let rows = m.tree_rows();
        assert!(rows.len() <= 12, "{} rows: {rows:?}", rows.len());
        press(&mut m, Action::Quit);
        assert!(m.quit);
    }

    /// Issue 11, item 12: server text is escaped before it reaches the
    /// model (and so the screen).
    #[test]
    fn server_text_is_escaped_for_the_screen() {
        let mut m = Model::new("x:1", Duration::from_secs(1), now());
        overview(
            &mut m,
            now(),
            vec![channel(
                1,
                "evil\u{1b}[2J\u{202e}gnp.exe",
                3,
                (1, 1, 0),
                &[],
            )],
        );
        let target = &m.top_channels[0].data.as_ref().expect("data").target;
        assert_eq!(target, "evil\\x1b[2J\\u{202e}gnp.exe");
    }
}
