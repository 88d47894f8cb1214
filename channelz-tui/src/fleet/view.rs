//! Drawing the fleet: one row per member, the fleet-wide rate sparklines
//! and what came and went. Pure, like the single-server view; a member
//! opened with Enter is drawn by that view, unchanged.
//!
//! Every text on a row that came from the network (errors, and the
//! addresses a resolver answered) was escaped by `update` on the way in.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row as TableRow};

use super::model::{FleetModel, Row, Status};
use crate::decode;
use crate::model::window_start;
use crate::view::{list_table, pane_block, rate, row_style};

/// Draws the fleet screen, or the opened member's usual screens.
pub fn view(model: &FleetModel, frame: &mut Frame<'_>) {
    view_in(model, frame, frame.area());
}

/// [`view`] in `area` of the frame (a replay keeps the last row for its
/// timeline).
pub fn view_in(model: &FleetModel, frame: &mut Frame<'_>, area: Rect) {
    if let Some((_, member)) = &model.open {
        crate::view::view_in(member, frame, area);
        return;
    }
    if crate::view::too_small(frame, area) {
        return;
    }
    let [title, status, body, bottom, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(title_bar(model), title);
    frame.render_widget(status_line(model), status);
    members_table(model, frame, body);
    let [spark, notes] =
        Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(bottom);
    fleet_rates(model, frame, spark);
    notes_panel(model, frame, notes);
    frame.render_widget(footer_bar(model), footer);
    if model.help {
        help(frame, body);
    }
}

fn title_bar(model: &FleetModel) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            " channelz-tui ",
            Style::new()
                .add_modifier(Modifier::BOLD)
                .bg(Color::Blue)
                .fg(Color::White),
        ),
        Span::raw(format!(" fleet {} ", model.title)),
        Span::raw(format!(
            "  every {}  sort: {}",
            decode::short_duration(model.interval),
            sort_label(model)
        )),
    ])
}

fn sort_label(model: &FleetModel) -> &'static str {
    match model.sort {
        crate::model::SortKey::Id => "address",
        crate::model::SortKey::CallRate => "calls/s",
        crate::model::SortKey::Failures => "failure %",
        crate::model::SortKey::State => "worst first",
    }
}

fn status_line(model: &FleetModel) -> Line<'static> {
    let total = model.rows.len();
    let up = model.answering();
    let color = if total > 0 && up == total {
        Color::Green
    } else if up > 0 {
        Color::Yellow
    } else {
        Color::Red
    };
    let mut spans = vec![Span::styled(
        format!("● {up} of {total} members answering"),
        Style::new().fg(color),
    )];
    if !model.resolved {
        spans.push(Span::raw("  resolving…"));
    }
    if let Some((name, problem)) = model.problems.iter().next() {
        spans.push(Span::styled(
            format!("  {name}: {problem}"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if !model.filter.is_empty() && !model.filter_editing {
        spans.push(Span::styled(
            format!("   filter: {}", model.filter),
            Style::new().fg(Color::Cyan),
        ));
    }
    Line::from(spans)
}

/// `ready/total`, then the states worth a look.
fn channels_cell(row: &Row) -> Line<'static> {
    let Some(s) = row.last else {
        return Line::from("–");
    };
    let mut spans = vec![Span::raw(format!("{}/{}", s.states[3], s.channels()))];
    if s.states[4] > 0 {
        spans.push(Span::styled(
            format!(" {} TF", s.states[4]),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    if s.states[2] > 0 {
        spans.push(Span::styled(
            format!(" {} conn", s.states[2]),
            Style::new().fg(Color::Yellow),
        ));
    }
    if s.states[1] > 0 {
        spans.push(Span::styled(
            format!(" {} idle", s.states[1]),
            Style::new().fg(Color::Blue),
        ));
    }
    Line::from(spans)
}

fn status_cell(row: &Row) -> Span<'static> {
    match &row.status {
        Status::Waiting => Span::styled("waiting", Style::new().fg(Color::DarkGray)),
        Status::Answering => Span::styled("reachable", Style::new().fg(Color::Green)),
        Status::Failed(e) | Status::Unreachable { error: e, .. } => {
            Span::styled(e.clone(), Style::new().fg(Color::Red))
        }
    }
}

fn health_cell(row: &Row) -> Span<'static> {
    match row.last.and_then(|s| s.health) {
        None if row.last.is_some() => Span::styled("–", Style::new().fg(Color::DarkGray)),
        None => Span::raw(""),
        Some(status) => {
            let name = grpc_toolkit_conn::serving_status_name(status);
            let style = if status == 1 {
                Style::new().fg(Color::Green)
            } else {
                Style::new().fg(Color::Red)
            };
            Span::styled(name, style)
        }
    }
}

/// NACKED/missing xDS resources: red while any is NACKED, yellow while
/// any is missing, "–" for a member without CSDS.
fn xds_cell(row: &Row) -> Span<'static> {
    match row.last.map(|s| s.xds) {
        None => Span::raw(""),
        Some(None) => Span::styled("–", Style::new().fg(Color::DarkGray)),
        Some(Some(x)) => {
            let style = if x.nacked > 0 {
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else if x.missing > 0 {
                Style::new().fg(Color::Yellow)
            } else {
                Style::new().fg(Color::Green)
            };
            Span::styled(format!("{}/{}", x.nacked, x.missing), style)
        }
    }
}

fn members_table(model: &FleetModel, frame: &mut Frame<'_>, area: Rect) {
    let rows = model.visible();
    let height = area.height.saturating_sub(3) as usize;
    let start = window_start(model.selected, height);
    let title = format!(
        " members ({}{}) ",
        rows.len(),
        if model.filter.is_empty() {
            String::new()
        } else {
            format!(" of {}", model.rows.len())
        }
    );
    let body: Vec<TableRow<'static>> = rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, row)| {
            let stale = !row.status.is_answering();
            let figure = |v: Option<usize>| v.map_or("–".to_string(), |v| v.to_string());
            let changed =
                decode::short_duration(model.now.duration_since(row.changed).unwrap_or_default());
            let cells = vec![
                Line::from(row.id.address.clone()),
                Line::from(status_cell(row)),
                channels_cell(row),
                Line::from(rate(row.rates().map(|r| r.calls_per_sec))),
                Line::from(row.failure_pct().map_or("–".into(), |p| format!("{p:.1}%"))),
                Line::from(figure(row.last.map(|s| s.servers))),
                Line::from(figure(row.last.map(|s| s.open_sockets))),
                Line::from(health_cell(row)),
                Line::from(xds_cell(row)),
                Line::from(format!("{changed} ago")),
            ];
            let mut style = row_style(i == model.selected);
            if stale {
                style = style.add_modifier(Modifier::DIM);
            }
            TableRow::new(cells).style(style)
        })
        .collect();
    let table = list_table(
        body,
        [
            Constraint::Length(22),
            Constraint::Fill(1),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(11),
            Constraint::Length(10),
            Constraint::Length(9),
        ],
        [
            "member",
            "status",
            "channels",
            "calls/s",
            "fail%",
            "servers",
            "sockets",
            "health",
            "nack/miss",
            "changed",
        ],
        pane_block(title, true),
    );
    frame.render_widget(table, area);
}

fn fleet_rates(model: &FleetModel, frame: &mut Frame<'_>, area: Rect) {
    let width = area.width.saturating_sub(24) as usize;
    let series: Vec<_> = model.fleet_rates.iter().copied().collect();
    let lines = crate::view::rate_lines(model.fleet_rates.back().copied(), &series, width);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" fleet rates ")),
        area,
    );
}

fn notes_panel(model: &FleetModel, frame: &mut Frame<'_>, area: Rect) {
    let shown = usize::from(area.height.saturating_sub(2));
    let lines: Vec<Line<'static>> = model
        .notes
        .iter()
        .rev()
        .take(shown)
        .map(|(at, text)| {
            let ago = decode::short_duration(model.now.duration_since(*at).unwrap_or_default());
            Line::from(format!("{ago} ago  {text}"))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" came and went ")),
        area,
    );
}

fn footer_bar(model: &FleetModel) -> Line<'static> {
    if model.filter_editing {
        return Line::from(vec![
            Span::styled("/", Style::new().fg(Color::Cyan)),
            Span::raw(model.filter.clone()),
            Span::styled("█", Style::new().fg(Color::Cyan)),
            Span::styled(
                "   Enter keep · Esc clear",
                Style::new().fg(Color::DarkGray),
            ),
        ]);
    }
    // The status column cuts long errors; the selected member's is whole here.
    if let Some(row) = model.visible().get(model.selected)
        && let Status::Failed(e) | Status::Unreachable { error: e, .. } = &row.status
    {
        return Line::styled(
            format!("{}: {e}", row.id.address),
            Style::new().fg(Color::Red),
        );
    }
    Line::styled(
        "↑↓/jk move · Enter open member (Esc on it comes back) · / filter · s sort · r refresh · ? help · q quit",
        Style::new().fg(Color::DarkGray),
    )
}

/// The fleet screen's keys, for its help popup.
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn g G", "page, first, last"),
    ("Enter", "open the member's usual overview"),
    ("Esc", "on a member's overview: back to the fleet"),
    ("/", "filter by address, name or error (Esc clears)"),
    ("s", "sort: address, calls/s, failure %, worst first"),
    ("r", "poll now"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

fn help(frame: &mut Frame<'_>, body: Rect) {
    crate::view::help_popup(frame, body, HELP, 72, " help (Esc closes) ");
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::fleet::model::Summary;
    use crate::fleet::poll::{MemberId, Outcome, Report};
    use crate::fleet::update::{FleetMsg, update};

    fn screen(model: &FleetModel) -> String {
        let mut term = Terminal::new(TestBackend::new(120, 20)).expect("terminal");
        term.draw(|f| view(model, f)).expect("draw");
        let buf = term.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn rows_show_figures_errors_and_health() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let mut m = FleetModel::new("dns:///app:1", Duration::from_secs(1), t0);
        let id = |a: &str| MemberId {
            name: "dns:///app:1".into(),
            address: a.into(),
        };
        update(
            &mut m,
            FleetMsg::Resolved {
                at: t0,
                members: vec![id("10.0.0.1:1"), id("10.0.0.2:1")],
                problems: Vec::new(),
            },
        );
        for (s, started) in [(1, 0), (2, 40)] {
            update(
                &mut m,
                FleetMsg::Report(Report {
                    id: id("10.0.0.1:1"),
                    round: s,
                    at: t0 + Duration::from_secs(s),
                    outcome: Outcome::Answer(Summary {
                        states: [0, 0, 0, 7, 2, 0],
                        calls_started: started,
                        calls_failed: 0,
                        servers: 1,
                        open_sockets: 5,
                        health: Some(1),
                        incomplete: 0,
                        xds: Some(crate::xds::XdsCounts {
                            nacked: 3,
                            missing: 1,
                            total: 9,
                        }),
                    }),
                }),
            );
        }
        update(
            &mut m,
            FleetMsg::Report(Report {
                id: id("10.0.0.2:1"),
                round: 2,
                at: t0 + Duration::from_secs(2),
                outcome: Outcome::Unreachable {
                    error: "cannot connect: connection refused\x1b]0;pwned\x07".into(),
                    retry_at: t0 + Duration::from_secs(3),
                },
            }),
        );
        update(&mut m, FleetMsg::RoundEnd);
        update(&mut m, FleetMsg::Tick(t0 + Duration::from_secs(3)));
        let text = screen(&m);
        assert!(text.contains("1 of 2 members answering"), "{text}");
        assert!(text.contains("10.0.0.1:1"), "{text}");
        assert!(text.contains("7/9 2 TF"), "{text}");
        assert!(text.contains("40.0"), "{text}");
        assert!(text.contains("SERVING"), "{text}");
        assert!(text.contains("nack/miss") && text.contains("3/1"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
        update(&mut m, FleetMsg::Action(crate::msg::Action::Down));
        let text = screen(&m);
        assert!(
            text.contains("connection refused\\x1b]0;pwned\\x07"),
            "{text}"
        );
        update(&mut m, FleetMsg::Action(crate::msg::Action::Up));
        update(&mut m, FleetMsg::Action(crate::msg::Action::Enter));
        let text = screen(&m);
        assert!(text.contains("10.0.0.1:1 (dns:///app:1)"), "{text}");
    }
}
