//! Detail screens: channel, subchannel, socket and server, plus the rate
//! panel (calls/s and failures/s sparklines) they share with the overview.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Wrap};

use grpc_toolkit_proto::channelz::v1::{
    ChannelData, ChannelTraceEvent, Socket, channel_trace_event, security,
};

use super::{list_table, pane_block, rate, row_style, state_style, window_start};
use crate::decode;
use crate::model::{EntityId, Model, Pane, Screen};

fn kind_label(id: EntityId) -> (&'static str, i64) {
    match id {
        EntityId::Channel(i) => ("channel", i),
        EntityId::Subchannel(i) => ("subchannel", i),
        EntityId::Socket(i) => ("socket", i),
        EntityId::Server(i) => ("server", i),
    }
}

/// Sparklines of calls/s and failures/s of `selected`.
pub(super) fn rate_panel(
    model: &Model,
    frame: &mut Frame<'_>,
    area: Rect,
    selected: Option<EntityId>,
) {
    let Some(id) = selected else {
        frame.render_widget(
            Paragraph::new("nothing selected").block(Block::bordered().title(" rates ")),
            area,
        );
        return;
    };
    let (kind, n) = kind_label(id);
    let series = model
        .history
        .get(&id)
        .map(|h| h.series())
        .unwrap_or_default();
    let width = area.width.saturating_sub(24) as usize;
    let lines = super::rate_lines(model.rates(id), &series, width);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" {kind} {n} rates "))),
        area,
    );
}

fn data_lines(model: &Model, d: &ChannelData) -> Vec<Line<'static>> {
    let state = d.state.as_ref().map_or(0, |s| s.state);
    let created = d.trace.as_ref().map_or("never".to_string(), |t| {
        decode::ago(t.creation_timestamp.as_ref(), model.now)
    });
    let mut lines = vec![
        Line::from(vec![
            Span::raw("state  "),
            Span::styled(decode::state_name(state), state_style(state)),
            Span::raw(format!("    target  {}", d.target)),
        ]),
        Line::from(format!(
            "calls  started {}  succeeded {}  failed {}",
            d.calls_started, d.calls_succeeded, d.calls_failed
        )),
        Line::from(format!(
            "last call {}    created {}",
            decode::ago(d.last_call_started_timestamp.as_ref(), model.now),
            created
        )),
    ];
    if d.max_connections_per_subchannel > 0 {
        lines.push(Line::from(format!(
            "max connections per subchannel {}",
            d.max_connections_per_subchannel
        )));
    }
    lines
}

fn children_table(model: &Model, frame: &mut Frame<'_>, area: Rect, screen: Screen) {
    let rows = model.rows(screen);
    let cursor = model.cursors.get(&screen).copied().unwrap_or_default();
    let selected = cursor.row;
    let height = area.height.saturating_sub(3) as usize;
    let start = window_start(selected, height);
    let body: Vec<Row<'static>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, id)| {
            let (kind, n) = kind_label(*id);
            let (name, status, detail) = child_summary(model, *id);
            let row = Row::new(vec![
                Line::from(kind),
                Line::from(n.to_string()),
                Line::from(name),
                status,
                Line::from(detail),
            ]);
            row.style(row_style(i == selected))
        })
        .collect();
    let table = list_table(
        body,
        [
            Constraint::Length(10),
            Constraint::Length(7),
            Constraint::Fill(1),
            Constraint::Length(17),
            Constraint::Fill(1),
        ],
        ["kind", "id", "name / target", "state", "calls or streams"],
        pane_block(
            format!(" children ({}) ", rows.len()),
            cursor.pane == Pane::Main,
        ),
    );
    frame.render_widget(table, area);
}

fn child_summary(model: &Model, id: EntityId) -> (String, Line<'static>, String) {
    let pending = || Line::styled("…", Style::new().fg(Color::DarkGray));
    match id {
        EntityId::Channel(n) => match model.channel(n).and_then(|c| c.data.as_ref()) {
            Some(d) => channel_summary(model, id, d),
            None => (String::new(), pending(), String::new()),
        },
        EntityId::Subchannel(n) => match model.subchannels.get(&n).and_then(|c| c.data.as_ref()) {
            Some(d) => channel_summary(model, id, d),
            None => (String::new(), pending(), String::new()),
        },
        EntityId::Socket(n) => match model.sockets.get(&n) {
            Some(s) => {
                let d = s.data.clone().unwrap_or_default();
                let name = socket_name(s);
                (
                    name,
                    Line::from(if s.remote.is_some() {
                        "connection"
                    } else {
                        "listener"
                    }),
                    format!(
                        "streams {}/{}/{}  msgs {}↑ {}↓",
                        d.streams_started,
                        d.streams_succeeded,
                        d.streams_failed,
                        d.messages_sent,
                        d.messages_received
                    ),
                )
            }
            None => (String::new(), pending(), String::new()),
        },
        EntityId::Server(_) => (String::new(), pending(), String::new()),
    }
}

fn channel_summary(
    model: &Model,
    id: EntityId,
    d: &ChannelData,
) -> (String, Line<'static>, String) {
    let state = d.state.as_ref().map_or(0, |s| s.state);
    let mut span = Span::styled(decode::state_name(state), state_style(state));
    if model.recently_changed(id) {
        span = span.patch_style(Style::new().add_modifier(Modifier::REVERSED));
    }
    (
        d.target.clone(),
        Line::from(span),
        format!(
            "{}/{}/{}  {}/s",
            d.calls_started,
            d.calls_succeeded,
            d.calls_failed,
            rate(model.rates(id).map(|r| r.calls_per_sec))
        ),
    )
}

fn socket_name(s: &Socket) -> String {
    let local = decode::address(s.local.as_ref());
    let remote = decode::address(s.remote.as_ref());
    if remote.is_empty() {
        local
    } else {
        format!("{local} → {remote}")
    }
}

fn trace_panel(model: &Model, frame: &mut Frame<'_>, area: Rect, screen: Screen) {
    let cursor = model.cursors.get(&screen).copied().unwrap_or_default();
    let focused = cursor.pane == Pane::Trace;
    let Some(trace) = model.trace(screen) else {
        frame.render_widget(
            Paragraph::new("this server sends no trace for this entity")
                .block(pane_block(" trace ".into(), focused)),
            area,
        );
        return;
    };
    let height = area.height.saturating_sub(2) as usize;
    let total = trace.events.len();
    // `update` clamps the scroll to the height it was told; clamping again
    // here keeps the last page full whatever the terminal did since.
    let skip = cursor.trace.min(total.saturating_sub(height));
    // Newest first: the event that explains the current state is the last one.
    let lines: Vec<Line<'static>> = trace
        .events
        .iter()
        .rev()
        .skip(skip)
        .take(height)
        .map(|e| trace_line(model, e))
        .collect();
    let shown = if lines.is_empty() {
        "no events".to_string()
    } else {
        format!("events {}-{} of {total}", skip + 1, skip + lines.len())
    };
    // Which way there is more to read.
    let more = match (skip > 0, skip + lines.len() < total) {
        (true, true) => " ↑↓ more",
        (true, false) => " ↑ newer",
        (false, true) => " ↓ older",
        (false, false) => "",
    };
    let title = format!(
        " trace, newest first: {shown} ({} logged){more} ",
        trace.num_events_logged
    );
    frame.render_widget(
        Paragraph::new(lines).block(pane_block(title, focused)),
        area,
    );
}

fn trace_line(model: &Model, e: &ChannelTraceEvent) -> Line<'static> {
    let sev = decode::effective_severity(e.severity, &e.description);
    let (label, color) = match sev {
        channel_trace_event::Severity::CtError => ("ERROR", Color::Red),
        channel_trace_event::Severity::CtWarning => ("WARN ", Color::Yellow),
        channel_trace_event::Severity::CtInfo => ("INFO ", Color::Green),
        channel_trace_event::Severity::CtUnknown => ("     ", Color::Gray),
    };
    let child = match &e.child_ref {
        Some(channel_trace_event::ChildRef::ChannelRef(r)) => {
            format!(" [channel {}]", r.channel_id)
        }
        Some(channel_trace_event::ChildRef::SubchannelRef(r)) => {
            format!(" [subchannel {}]", r.subchannel_id)
        }
        None => String::new(),
    };
    Line::from(vec![
        Span::styled(
            format!("{:>9} ", decode::ago(e.timestamp.as_ref(), model.now)),
            Style::new().fg(Color::DarkGray),
        ),
        Span::styled(label, Style::new().fg(color)),
        Span::styled(format!(" {}{child}", e.description), Style::new().fg(color)),
    ])
}

fn missing(frame: &mut Frame<'_>, area: Rect, what: String) {
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(format!("{what}: loading…")),
            Line::styled(
                "(it may have gone away; Esc goes back)",
                Style::new().fg(Color::DarkGray),
            ),
        ])
        .block(Block::bordered()),
        area,
    );
}

/// Info and rates, children, trace: the layout of the channel, subchannel
/// and server screens (and of [`super::trace_height`]).
pub(super) fn entity_layout(area: Rect) -> [Rect; 3] {
    Layout::vertical([
        Constraint::Length(6),
        Constraint::Fill(3),
        Constraint::Fill(2),
    ])
    .areas(area)
}

/// A channel with its children and trace.
pub(super) fn channel(model: &Model, frame: &mut Frame<'_>, area: Rect, id: i64) {
    let Some(c) = model.channel(id) else {
        return missing(frame, area, format!("channel {id}"));
    };
    let d = c.data.clone().unwrap_or_default();
    let [top, children, trace] = entity_layout(area);
    let [info, spark] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    let name = c.r#ref.as_ref().map_or("", |r| r.name.as_str());
    frame.render_widget(
        Paragraph::new(data_lines(model, &d))
            .block(Block::bordered().title(format!(" channel {id} {name}")))
            .wrap(Wrap { trim: true }),
        info,
    );
    rate_panel(model, frame, spark, Some(EntityId::Channel(id)));
    children_table(model, frame, children, Screen::Channel(id));
    trace_panel(model, frame, trace, Screen::Channel(id));
}

/// A subchannel with its children and trace.
pub(super) fn subchannel(model: &Model, frame: &mut Frame<'_>, area: Rect, id: i64) {
    let Some(c) = model.subchannels.get(&id) else {
        return missing(frame, area, format!("subchannel {id}"));
    };
    let d = c.data.clone().unwrap_or_default();
    let [top, children, trace] = entity_layout(area);
    let [info, spark] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    frame.render_widget(
        Paragraph::new(data_lines(model, &d))
            .block(Block::bordered().title(format!(" subchannel {id} ")))
            .wrap(Wrap { trim: true }),
        info,
    );
    rate_panel(model, frame, spark, Some(EntityId::Subchannel(id)));
    children_table(model, frame, children, Screen::Subchannel(id));
    trace_panel(model, frame, trace, Screen::Subchannel(id));
}

/// A server with its listen sockets, a page of its sockets, and its trace.
pub(super) fn server(model: &Model, frame: &mut Frame<'_>, area: Rect, id: i64) {
    let Some(s) = model.server(id) else {
        return missing(frame, area, format!("server {id}"));
    };
    let d = s.data.clone().unwrap_or_default();
    let [top, children, trace] = entity_layout(area);
    let [info, spark] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    let page = model.server_sockets.get(&id);
    let page_line = match page {
        None => "server sockets: loading…".to_string(),
        Some(p) => format!(
            "server sockets: {} on this page (from id {}){}",
            p.refs.len(),
            p.start,
            if p.end { ", last page" } else { ", more: n" }
        ),
    };
    let lines = vec![
        Line::from(format!(
            "calls  started {}  succeeded {}  failed {}",
            d.calls_started, d.calls_succeeded, d.calls_failed
        )),
        Line::from(format!(
            "last call {}    listen sockets {}",
            decode::ago(d.last_call_started_timestamp.as_ref(), model.now),
            s.listen_socket.len()
        )),
        Line::from(page_line),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(format!(" server {id} "))),
        info,
    );
    rate_panel(model, frame, spark, Some(EntityId::Server(id)));
    children_table(model, frame, children, Screen::Server(id));
    trace_panel(model, frame, trace, Screen::Server(id));
}

/// Everything a socket reports.
pub(super) fn socket(model: &Model, frame: &mut Frame<'_>, area: Rect, id: i64) {
    let Some(s) = model.sockets.get(&id) else {
        return missing(frame, area, format!("socket {id}"));
    };
    let d = s.data.clone().unwrap_or_default();
    let opt = |v: Option<i64>| v.map_or("–".to_string(), |v| v.to_string());
    let mut left = vec![
        Line::from(format!("local   {}", decode::address(s.local.as_ref()))),
        Line::from(format!("remote  {}", decode::address(s.remote.as_ref()))),
    ];
    if !s.remote_name.is_empty() {
        left.push(Line::from(format!("remote name  {}", s.remote_name)));
    }
    left.extend([
        Line::from(format!(
            "streams  started {}  succeeded {}  failed {}",
            d.streams_started, d.streams_succeeded, d.streams_failed
        )),
        Line::from(format!(
            "messages  sent {}  received {}",
            d.messages_sent, d.messages_received
        )),
        Line::from(format!("keepalives sent {}", d.keep_alives_sent)),
        Line::from(format!(
            "last local stream   {}",
            decode::ago(d.last_local_stream_created_timestamp.as_ref(), model.now)
        )),
        Line::from(format!(
            "last remote stream  {}",
            decode::ago(d.last_remote_stream_created_timestamp.as_ref(), model.now)
        )),
        Line::from(format!(
            "last message sent   {}",
            decode::ago(d.last_message_sent_timestamp.as_ref(), model.now)
        )),
        Line::from(format!(
            "last message recv   {}",
            decode::ago(d.last_message_received_timestamp.as_ref(), model.now)
        )),
        Line::from(format!(
            "flow control window  local {}  remote {}",
            opt(d.local_flow_control_window),
            opt(d.remote_flow_control_window)
        )),
        Line::from(format!(
            "peer max concurrent streams {}    received GOAWAY {}",
            d.peer_max_concurrent_streams,
            d.received_goaway_error
                .map_or("–".to_string(), |e| format!("error code {e}"))
        )),
    ]);
    let mut right = security_lines(model, s);
    right.push(Line::styled(
        "socket options",
        Style::new().add_modifier(Modifier::BOLD),
    ));
    if d.option.is_empty() {
        right.push(Line::styled(
            "  none reported",
            Style::new().fg(Color::DarkGray),
        ));
    }
    for o in &d.option {
        right.push(Line::from(format!(
            "  {} {}",
            o.name,
            decode::option_value(o)
        )));
    }
    let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(left)
            .block(Block::bordered().title(format!(" socket {id} ")))
            .wrap(Wrap { trim: true }),
        l,
    );
    // No trim: the indentation groups certificate lines under their label.
    frame.render_widget(
        Paragraph::new(right)
            .block(Block::bordered().title(" security and options "))
            .wrap(Wrap { trim: false }),
        r,
    );
}

fn security_lines(model: &Model, s: &Socket) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        "security",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    match s.security.as_ref().and_then(|s| s.model.as_ref()) {
        None => lines.push(Line::from("  plaintext (or not reported)")),
        Some(security::Model::Other(o)) => {
            lines.push(Line::from(format!("  {}", o.name)));
            if let Some(any) = &o.value {
                lines.push(Line::from(format!("  ({})", any.type_url)));
            }
        }
        Some(security::Model::Tls(t)) => {
            let cipher = match &t.cipher_suite {
                Some(security::tls::CipherSuite::StandardName(n))
                | Some(security::tls::CipherSuite::OtherName(n)) => n.clone(),
                None => "unknown cipher".into(),
            };
            lines.push(Line::from(format!("  TLS {cipher}")));
            for (label, der) in [
                ("local", &t.local_certificate),
                ("remote", &t.remote_certificate),
            ] {
                if der.is_empty() {
                    lines.push(Line::from(format!("  {label} certificate: none")));
                    continue;
                }
                match decode::certificate(der) {
                    Err(e) => lines.push(Line::from(format!("  {label} certificate: {e}"))),
                    Ok(c) => {
                        let expired = c.not_after <= model.now;
                        lines.push(Line::from(format!("  {label} subject {}", c.subject)));
                        if !c.sans.is_empty() {
                            lines.push(Line::from(format!("    SANs {}", c.sans.join(", "))));
                        }
                        lines.push(Line::styled(
                            format!(
                                "    expires {} ({})",
                                decode::rfc3339(c.not_after),
                                if expired {
                                    "EXPIRED".to_string()
                                } else {
                                    decode::relative(c.not_after, model.now)
                                }
                            ),
                            if expired {
                                Style::new().fg(Color::Red)
                            } else {
                                Style::new()
                            },
                        ));
                    }
                }
            }
        }
    }
    lines
}
