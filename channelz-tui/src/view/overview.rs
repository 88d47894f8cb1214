//! The overview: top channels, servers, the selected entity's rate history
//! and the health panel.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row};

use super::{list_table, pane_block, rate, row_style, state_style, window_start};
use crate::decode;
use crate::model::{EntityId, Model, Pane, Screen, channel_state};

pub(super) fn render(model: &Model, frame: &mut Frame<'_>, area: Rect) {
    let servers_height = (model.servers.len() as u16 + 3).clamp(4, area.height / 3);
    let [channels, servers, bottom] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(servers_height),
        Constraint::Length(4),
    ])
    .areas(area);
    let cursor = model
        .cursors
        .get(&Screen::Overview)
        .copied()
        .unwrap_or_default();
    channel_table(
        model,
        frame,
        channels,
        (cursor.pane != Pane::Servers).then_some(cursor.row),
    );
    server_table(
        model,
        frame,
        servers,
        (cursor.pane == Pane::Servers).then_some(cursor.row),
    );
    let [spark, health] =
        Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(bottom);
    let selected = model.rows(Screen::Overview).get(cursor.row).copied();
    super::detail::rate_panel(model, frame, spark, selected);
    health_panel(model, frame, health);
}

fn channel_table(model: &Model, frame: &mut Frame<'_>, area: Rect, selected: Option<usize>) {
    let rows = model.visible_channels();
    let height = area.height.saturating_sub(3) as usize;
    let start = window_start(selected.unwrap_or(0), height);
    let title = format!(
        " channels ({}{}) ",
        rows.len(),
        if model.filter.is_empty() {
            String::new()
        } else {
            format!(" of {}", model.top_channels.len())
        }
    );
    let body: Vec<Row<'static>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, c)| {
            let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id);
            let d = c.data.clone().unwrap_or_default();
            let state = channel_state(c);
            let rates = model.rates(EntityId::Channel(id));
            let fail_pct = if d.calls_started > 0 {
                format!(
                    "{:.1}%",
                    100.0 * d.calls_failed as f64 / d.calls_started as f64
                )
            } else {
                "–".into()
            };
            let mut state_cell = Span::styled(decode::state_name(state), state_style(state));
            if model.recently_changed(EntityId::Channel(id)) {
                state_cell = state_cell.patch_style(Style::new().add_modifier(Modifier::REVERSED));
            }
            let target = if d.target.is_empty() {
                c.r#ref.as_ref().map_or(String::new(), |r| r.name.clone())
            } else {
                d.target
            };
            let row = Row::new(vec![
                Line::from(id.to_string()),
                Line::from(target),
                Line::from(state_cell),
                Line::from(d.calls_started.to_string()),
                Line::from(d.calls_succeeded.to_string()),
                Line::from(d.calls_failed.to_string()),
                Line::from(rate(rates.map(|r| r.calls_per_sec))),
                Line::from(fail_pct),
                Line::from(decode::ago(
                    d.last_call_started_timestamp.as_ref(),
                    model.now,
                )),
            ]);
            row.style(row_style(Some(i) == selected))
        })
        .collect();
    let table = list_table(
        body,
        [
            Constraint::Length(6),
            Constraint::Fill(1),
            Constraint::Length(17),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(9),
        ],
        [
            "id",
            "target",
            "state",
            "started",
            "ok",
            "failed",
            "calls/s",
            "fail%",
            "last call",
        ],
        pane_block(title, selected.is_some()),
    );
    frame.render_widget(table, area);
}

fn server_table(model: &Model, frame: &mut Frame<'_>, area: Rect, selected: Option<usize>) {
    let rows = model.visible_servers();
    let height = area.height.saturating_sub(3) as usize;
    let start = window_start(selected.unwrap_or(0), height);
    let title = format!(" servers ({}) ", rows.len());
    let body: Vec<Row<'static>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, s)| {
            let id = s.r#ref.as_ref().map_or(0, |r| r.server_id);
            let d = s.data.clone().unwrap_or_default();
            let mut listen: Vec<&str> = s
                .listen_socket
                .iter()
                .map(|r| r.name.as_str())
                .filter(|n| !n.is_empty())
                .collect();
            listen.sort_unstable();
            let listen = if listen.is_empty() {
                format!("{} listen sockets", s.listen_socket.len())
            } else {
                listen.join(", ")
            };
            let open = model
                .server_socket_counts
                .get(&id)
                .map_or("–".to_string(), |n| n.to_string());
            let row = Row::new(vec![
                id.to_string(),
                listen,
                d.calls_started.to_string(),
                d.calls_succeeded.to_string(),
                d.calls_failed.to_string(),
                rate(model.rates(EntityId::Server(id)).map(|r| r.calls_per_sec)),
                open,
                decode::ago(d.last_call_started_timestamp.as_ref(), model.now),
            ]);
            row.style(row_style(Some(i) == selected))
        })
        .collect();
    let table = list_table(
        body,
        [
            Constraint::Length(6),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(9),
        ],
        [
            "id",
            "listen",
            "started",
            "ok",
            "failed",
            "calls/s",
            "sockets",
            "last call",
        ],
        pane_block(title, selected.is_some()),
    );
    frame.render_widget(table, area);
}

fn health_panel(model: &Model, frame: &mut Frame<'_>, area: Rect) {
    let mut lines = Vec::new();
    match &model.health {
        None => lines.push(Line::from("not polled yet")),
        Some(h) => {
            match &h.overall {
                Ok(status) => lines.push(Line::from(vec![
                    Span::raw("server: "),
                    Span::styled(health_label(*status), health_style(*status)),
                ])),
                Err(e) => lines.push(Line::styled(
                    format!("server: {e}"),
                    Style::new().fg(Color::DarkGray),
                )),
            }
            match &h.services {
                None => lines.push(Line::styled(
                    "List: not offered by this server",
                    Style::new().fg(Color::DarkGray),
                )),
                Some(services) => {
                    let mut spans = Vec::new();
                    for s in services.iter().filter(|s| !s.name.is_empty()) {
                        spans.push(Span::raw(format!("{} ", s.name)));
                        spans.push(Span::styled(
                            format!("{}  ", health_label(s.status)),
                            health_style(s.status),
                        ));
                    }
                    if spans.is_empty() {
                        spans.push(Span::raw("List: no named services"));
                    }
                    lines.push(Line::from(spans));
                }
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" health ")),
        area,
    );
}

/// The status as grpc-go names it (`SERVING`), or `status 7` for a number
/// this proto does not know, which a bare `7` would not make clear.
fn health_label(status: i32) -> String {
    let name = grpc_toolkit_conn::serving_status_name(status);
    if name.parse::<i32>().is_ok() {
        format!("status {name}")
    } else {
        name
    }
}

fn health_style(status: i32) -> Style {
    use grpc_toolkit_proto::health::v1::health_check_response::ServingStatus;
    match ServingStatus::try_from(status) {
        Ok(ServingStatus::Serving) => Style::new().fg(Color::Green),
        Ok(ServingStatus::NotServing | ServingStatus::ServiceUnknown) => {
            Style::new().fg(Color::Red)
        }
        _ => Style::new().fg(Color::Yellow),
    }
}
