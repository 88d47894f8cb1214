//! The tree view: top channels with their child channels, subchannels and
//! sockets, indented, with state and counters on each line.

use ratatui::Frame;
use ratatui::layout::Rect;
use std::collections::HashSet;

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::{row_style, state_style, window_start};
use crate::decode;
use crate::model::{EntityId, Model, Screen, TREE_DEPTH};

pub(super) fn render(model: &Model, frame: &mut Frame<'_>, area: Rect) {
    let rows = model.tree_rows();
    let selected = model.cursors.get(&Screen::Tree).map_or(0, |c| c.row);
    let height = area.height.saturating_sub(2) as usize;
    let start = window_start(selected, height);
    let shown = rows.len().saturating_sub(start).min(height);
    // A row whose entity has a row above is a reference: the tree expands
    // each entity once (cycles and shared children), and says so.
    let mut above: HashSet<EntityId> = rows[..start.min(rows.len())]
        .iter()
        .map(|(_, id)| *id)
        .collect();
    let lines: Vec<Line<'static>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, (depth, id))| {
            let mut spans = vec![Span::raw(format!(
                "{}{} ",
                "  ".repeat(*depth),
                if *depth == 0 { "●" } else { "└" }
            ))];
            if above.insert(*id) {
                spans.extend(describe(model, *id));
                if *depth >= TREE_DEPTH && has_children(model, *id) {
                    spans.push(Span::styled(
                        "  (deeper levels not shown)",
                        Style::new().fg(Color::Yellow),
                    ));
                }
            } else {
                spans.push(Span::styled(
                    format!("↺ {} (shown above)", id.label()),
                    Style::new().fg(Color::DarkGray),
                ));
            }
            let line = Line::from(spans);
            line.style(row_style(i == selected))
        })
        .collect();
    let roots = rows.iter().filter(|(depth, _)| *depth == 0).count();
    let position = if shown == 0 {
        "no rows".to_string()
    } else {
        format!("rows {}-{} of {}", start + 1, start + shown, rows.len())
    };
    let title = format!(" tree: {roots} top channels, {position} ");
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

fn describe(model: &Model, id: EntityId) -> Vec<Span<'static>> {
    let data = match id {
        EntityId::Channel(n) => model.channel(n).and_then(|c| c.data.as_ref()),
        EntityId::Subchannel(n) => model.subchannels.get(&n).and_then(|c| c.data.as_ref()),
        EntityId::Socket(n) => {
            let text = match model.sockets.get(&n) {
                Some(s) => {
                    let d = s.data.clone().unwrap_or_default();
                    format!(
                        "socket {n} {} → {}  streams {}/{}/{}",
                        decode::address(s.local.as_ref()),
                        decode::address(s.remote.as_ref()),
                        d.streams_started,
                        d.streams_succeeded,
                        d.streams_failed
                    )
                }
                None => format!("socket {n} …"),
            };
            return vec![Span::raw(text)];
        }
        EntityId::Server(n) => return vec![Span::raw(format!("server {n}"))],
    };
    let kind = if matches!(id, EntityId::Channel(_)) {
        "channel"
    } else {
        "subchannel"
    };
    let n = match id {
        EntityId::Channel(n)
        | EntityId::Subchannel(n)
        | EntityId::Socket(n)
        | EntityId::Server(n) => n,
    };
    match data {
        None => vec![Span::raw(format!("{kind} {n} …"))],
        Some(d) => {
            let state = d.state.as_ref().map_or(0, |s| s.state);
            vec![
                Span::raw(format!("{kind} {n} ")),
                Span::styled(decode::state_name(state), state_style(state)),
                Span::raw(format!(
                    "  {}  calls {}/{}/{}",
                    d.target, d.calls_started, d.calls_succeeded, d.calls_failed
                )),
            ]
        }
    }
}

fn has_children(model: &Model, id: EntityId) -> bool {
    match id {
        EntityId::Channel(n) => model.channel(n).is_some_and(|c| {
            !(c.channel_ref.is_empty() && c.subchannel_ref.is_empty() && c.socket_ref.is_empty())
        }),
        EntityId::Subchannel(n) => model.subchannels.get(&n).is_some_and(|s| {
            !(s.channel_ref.is_empty() && s.subchannel_ref.is_empty() && s.socket_ref.is_empty())
        }),
        _ => false,
    }
}
