//! The xDS screen (CSDS): per client scope, its Channelz channel and its
//! resources (NACKED first, then by type), and one resource's screen with
//! its decoded config and the full reason of its last rejected update.
//!
//! Text reaches here escaped (`update` escapes every CSDS string before it
//! enters the model). The list builds only the rows on screen, so ten
//! thousand resources cost a frame what sixty do (`benches/xds.rs`).

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Row, Wrap};

use grpc_toolkit_channelz_client::csds::{Resource, Scope, Summary};
use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;

use super::{list_table, pane_block, row_style, state_style, window_start};
use crate::decode;
use crate::model::{Model, Screen, XdsKey, XdsRow, channel_state};
use crate::xds::{XdsPoll, is_problem, status_name, type_name};

/// What the screen says for a server without CSDS.
pub const UNSUPPORTED: &str = "this server serves no CSDS (grpc.admin / envoy.service.status.v3)";

/// The colour of a resource status: NACKED red, the other problems yellow,
/// ACKED green, REQUESTED blue.
pub(crate) fn status_style(status: ClientResourceStatus) -> Style {
    match status {
        ClientResourceStatus::Nacked => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        s if is_problem(s) => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ClientResourceStatus::Acked => Style::new().fg(Color::Green),
        ClientResourceStatus::Requested => Style::new().fg(Color::Blue),
        _ => Style::new(),
    }
}

/// A one-line notice in the screen's frame.
fn notice(frame: &mut Frame<'_>, area: Rect, line: Line<'static>) {
    frame.render_widget(
        Paragraph::new(line)
            .block(Block::bordered().title(" xds "))
            .wrap(Wrap { trim: true }),
        area,
    );
}

/// The rows of the xDS screen within `area`.
pub(super) fn list_height(area: Rect) -> usize {
    // The summary line, the table's borders and its header.
    usize::from(area.height.saturating_sub(4))
}

/// The xDS screen.
pub(super) fn render(model: &Model, frame: &mut Frame<'_>, area: Rect) {
    let status = match &model.xds.poll {
        None => {
            return notice(
                frame,
                area,
                Line::from("waiting for the first CSDS answer…"),
            );
        }
        Some(XdsPoll::Unsupported) => {
            return notice(frame, area, Line::from(UNSUPPORTED));
        }
        Some(XdsPoll::Failed(error)) => {
            return notice(
                frame,
                area,
                Line::styled(
                    format!("CSDS read failed: {error}"),
                    Style::new().fg(Color::Red),
                ),
            );
        }
        Some(XdsPoll::Status(status)) => status,
    };
    if status.scopes.is_empty() {
        return notice(
            frame,
            area,
            Line::from("the server serves CSDS but has no xDS clients"),
        );
    }
    let [summary, list] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(summary_line(model, status), summary);

    let selected = model.cursors.get(&Screen::Xds).map_or(0, |c| c.row);
    let height = list_height(area);
    let start = window_start(selected, height);
    let body: Vec<Row<'static>> = model
        .xds
        .rows
        .iter()
        .enumerate()
        .skip(start)
        .take(height)
        .filter_map(|(i, row)| {
            let row = match (*row, model.xds_row(*row)?) {
                (XdsRow::Scope(_), (scope, _)) => scope_row(model, scope),
                (_, (scope, Some(r))) => resource_row(model, scope, r),
                (_, (_, None)) => return None,
            };
            Some(if i == selected {
                row.style(row_style(true))
            } else {
                row
            })
        })
        .collect();
    let table = list_table(
        body,
        [
            Constraint::Length(21),
            Constraint::Fill(1),
            Constraint::Length(15),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Fill(3),
        ],
        ["type", "name", "status", "version", "updated", "detail"],
        pane_block(
            format!(
                " xds resources ({}) ",
                model.xds.rows.len() - status.scopes.len()
            ),
            true,
        ),
    );
    frame.render_widget(table, list);
}

fn summary_line(
    model: &Model,
    status: &grpc_toolkit_channelz_client::csds::XdsStatus,
) -> Line<'static> {
    let mut nacked = 0;
    let mut problems = 0;
    let mut total = 0;
    for r in status.scopes.iter().flat_map(|s| &s.resources) {
        total += 1;
        if r.status == ClientResourceStatus::Nacked {
            nacked += 1;
        } else if is_problem(r.status) {
            problems += 1;
        }
    }
    let mut spans = vec![Span::raw(format!(
        " {} scope{} · {total} resources · ",
        status.scopes.len(),
        if status.scopes.len() == 1 { "" } else { "s" }
    ))];
    spans.push(Span::styled(
        format!("{nacked} NACKED"),
        if nacked > 0 {
            status_style(ClientResourceStatus::Nacked)
        } else {
            Style::new()
        },
    ));
    spans.push(Span::raw(" · "));
    spans.push(Span::styled(
        format!("{problems} missing or failed"),
        if problems > 0 {
            status_style(ClientResourceStatus::DoesNotExist)
        } else {
            Style::new()
        },
    ));
    if status.dropped > 0 {
        spans.push(Span::styled(
            format!(" · {} more not shown (bound)", status.dropped),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(at) = model.xds.at {
        spans.push(Span::styled(
            format!(" · read {}", decode::relative(at, model.now)),
            Style::new().fg(Color::DarkGray),
        ));
    }
    Line::from(spans)
}

fn scope_row(model: &Model, scope: &Scope) -> Row<'static> {
    let name = if scope.client_scope.is_empty() {
        "(no scope)".to_owned()
    } else {
        scope.client_scope.clone()
    };
    // The channel leads the detail column, the widest: in the 15-wide
    // status column `ch 12 TRANSIENT_FAILURE` was cut.
    let mut detail = match model.xds_channel(scope) {
        Some(c) => {
            let id = c.r#ref.as_ref().map_or(0, |r| r.channel_id);
            let state = channel_state(c);
            vec![
                Span::raw(format!("ch {id} ")),
                Span::styled(decode::state_name(state), state_style(state)),
            ]
        }
        None => vec![Span::styled("no channel", Style::new().fg(Color::DarkGray))],
    };
    let nacked = scope
        .resources
        .iter()
        .filter(|r| r.status == ClientResourceStatus::Nacked)
        .count();
    let mut text = format!(
        " · node {} · {} resources",
        scope.node_id,
        scope.resources.len()
    );
    if nacked > 0 {
        text.push_str(&format!(" · {nacked} NACKED"));
    }
    detail.push(Span::raw(text));
    Row::new(vec![
        Line::from("scope"),
        Line::from(name),
        Line::from(""),
        Line::from(""),
        Line::from(""),
        Line::from(detail),
    ])
    .style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD))
}

fn key(scope: &Scope, r: &Resource) -> XdsKey {
    (
        scope.client_scope.clone(),
        r.type_url.clone(),
        r.name.clone(),
    )
}

/// "5s ago" of a CSDS time (seconds since the epoch), "–" without one.
fn age(seconds: Option<i64>, now: SystemTime) -> String {
    match seconds.and_then(|s| u64::try_from(s).ok()) {
        Some(s) => decode::relative(SystemTime::UNIX_EPOCH + Duration::from_secs(s), now),
        None => "–".to_owned(),
    }
}

fn resource_row(model: &Model, scope: &Scope, r: &Resource) -> Row<'static> {
    let mut status = Span::styled(status_name(r.status), status_style(r.status));
    if model.xds_recently_changed(&key(scope, r)) {
        status = status.patch_style(Style::new().add_modifier(Modifier::REVERSED));
    }
    let detail = match &r.failure {
        Some(f) if r.status == ClientResourceStatus::Nacked || r.summary == Summary::None => {
            format!("rejected {}: {}", or_dash(&f.version), f.details)
        }
        _ => summary_text(&r.summary),
    };
    let row = Row::new(vec![
        Line::from(type_name(&r.type_url).to_owned()),
        Line::from(r.name.clone()),
        Line::from(status),
        Line::from(or_dash(&r.version).to_owned()),
        Line::from(age(r.last_updated, model.now)),
        Line::from(detail),
    ]);
    if r.status == ClientResourceStatus::Nacked {
        row.style(Style::new().fg(Color::Red))
    } else {
        row
    }
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "–" } else { text }
}

/// The decoded config in one line.
fn summary_text(summary: &Summary) -> String {
    match summary {
        Summary::None => String::new(),
        Summary::Listener {
            route_config_name,
            inline_routes,
        } => {
            if *inline_routes {
                "routes inline".to_owned()
            } else if route_config_name.is_empty() {
                "no route configuration".to_owned()
            } else {
                format!("rds {route_config_name}")
            }
        }
        Summary::Route {
            virtual_hosts,
            clusters,
        } => format!(
            "{virtual_hosts} virtual host{} → {}",
            if *virtual_hosts == 1 { "" } else { "s" },
            if clusters.is_empty() {
                "no cluster".to_owned()
            } else {
                clusters.join(", ")
            }
        ),
        Summary::Cluster {
            kind,
            eds_service_name,
        } => {
            if eds_service_name.is_empty() {
                kind.clone()
            } else {
                format!("{kind} {eds_service_name}")
            }
        }
        Summary::Endpoints { total, healthy } => format!("{healthy}/{total} endpoints healthy"),
        Summary::Other { type_url, size } => format!("{type_url}, {size} bytes"),
    }
}

/// One resource: where it is, its status and versions, its decoded
/// config, and the last rejected update with its reason, wrapped.
pub(super) fn resource(model: &Model, frame: &mut Frame<'_>, area: Rect) {
    let found = model.xds.open.as_ref().and_then(|k| model.xds_resource(k));
    let Some((scope, r)) = found else {
        let name = model.xds.open.as_ref().map_or("", |k| k.2.as_str());
        return notice(
            frame,
            area,
            Line::styled(
                format!("{name}: not in the client's last CSDS answer"),
                Style::new().fg(Color::Yellow),
            ),
        );
    };
    let label = |text: &str| Span::styled(format!("{text:<LABEL$}"), Style::new().fg(Color::Gray));
    let mut status = Span::styled(status_name(r.status), status_style(r.status));
    if model.xds_recently_changed(&key(scope, r)) {
        status = status.patch_style(Style::new().add_modifier(Modifier::REVERSED));
    }
    let block = Block::bordered().title(" xds resource ");
    let inner = block.inner(area);
    let width = usize::from(inner.width);
    // Every line but the reason's is one terminal line, cut with `…`: a
    // server's 1,024-character scope or name (four times that escaped)
    // must not push the status and the reason off the screen.
    let mut lines: Vec<Line<'static>> = vec![
        Line::from(vec![
            label("scope"),
            Span::raw(format!("{} (node {})", scope.client_scope, scope.node_id)),
        ]),
        Line::from(vec![
            label("type"),
            Span::raw(format!("{} ({})", type_name(&r.type_url), r.type_url)),
        ]),
        Line::from(vec![label("name"), Span::raw(r.name.clone())]),
        Line::from(vec![label("status"), status]),
        Line::from(vec![
            label("version"),
            Span::raw(format!(
                "{} (accepted), updated {}",
                or_dash(&r.version),
                age(r.last_updated, model.now)
            )),
        ]),
        Line::from(""),
        Line::styled("config", Style::new().add_modifier(Modifier::BOLD)),
    ];
    lines.extend(config_lines(&r.summary));
    let mut lines: Vec<Line<'static>> = lines.into_iter().map(|l| fit(l, width)).collect();
    if let Some(f) = &r.failure {
        lines.push(Line::from(""));
        lines.push(Line::styled(
            "last rejected update",
            status_style(ClientResourceStatus::Nacked),
        ));
        lines.push(fit(
            Line::from(vec![
                label("version"),
                Span::raw(format!("{}, {}", or_dash(&f.version), age(f.at, model.now))),
            ]),
            width,
        ));
        // The reason is what the screen is for: whole, wrapped under its
        // label (`hard_wrap`: at spaces when it can, else by character).
        for (i, chunk) in hard_wrap(&f.details, width.saturating_sub(LABEL))
            .into_iter()
            .enumerate()
        {
            lines.push(Line::from(vec![
                label(if i == 0 { "reason" } else { "" }),
                Span::raw(chunk),
            ]));
        }
    }
    let height = usize::from(inner.height);
    if lines.len() > height && height > 0 {
        let more = lines.len() - (height - 1);
        lines.truncate(height - 1);
        lines.push(fit(
            Line::styled(
                format!("… {more} more lines: --json shows this resource whole"),
                Style::new().fg(Color::Yellow),
            ),
            width,
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The label column of the resource screen.
const LABEL: usize = 10;

/// `line` cut to `width` columns, its last one `…` when it was longer.
fn fit(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let room = width.saturating_sub(1);
    let mut used = 0;
    let mut spans = Vec::new();
    for span in line.spans {
        let mut text = String::new();
        for c in span.content.chars() {
            let w = char_width(c);
            if used + w > room {
                break;
            }
            used += w;
            text.push(c);
        }
        let full = text.len() == span.content.len();
        spans.push(Span::styled(text, span.style));
        if !full {
            break;
        }
    }
    if width > 0 {
        spans.push(Span::raw("…"));
    }
    Line::from(spans).style(line.style)
}

/// `text` in pieces of at most `width` columns: after the last space of a
/// piece when there is one in its second half, else by character (an
/// escaped reason may have no space at all). At least one character a
/// piece, so a zero width still ends.
fn hard_wrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = char_width(c);
        if used + w > width && used > 0 {
            let cut = line
                .rfind(' ')
                .filter(|&at| line[..at].chars().map(char_width).sum::<usize>() >= width / 2);
            let rest = match cut {
                Some(at) => line.split_off(at + 1),
                None => String::new(),
            };
            out.push(std::mem::replace(&mut line, rest));
            used = line.chars().map(char_width).sum();
        }
        used += w;
        line.push(c);
    }
    out.push(line);
    out
}

/// The columns `c` takes, as ratatui counts them.
fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

fn config_lines(summary: &Summary) -> Vec<Line<'static>> {
    let pair = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("  {k:<14}"), Style::new().fg(Color::Gray)),
            Span::raw(v),
        ])
    };
    match summary {
        Summary::None => vec![Line::from("  (no contents: nothing accepted yet)")],
        Summary::Listener {
            route_config_name,
            inline_routes,
        } => vec![pair(
            "route config",
            if *inline_routes {
                "inline".to_owned()
            } else {
                or_dash(route_config_name).to_owned()
            },
        )],
        Summary::Route {
            virtual_hosts,
            clusters,
        } => vec![
            pair("virtual hosts", virtual_hosts.to_string()),
            pair(
                "clusters",
                if clusters.is_empty() {
                    "–".to_owned()
                } else {
                    clusters.join(", ")
                },
            ),
        ],
        Summary::Cluster {
            kind,
            eds_service_name,
        } => vec![
            pair("kind", kind.clone()),
            pair("eds service", or_dash(eds_service_name).to_owned()),
        ],
        Summary::Endpoints { total, healthy } => vec![
            pair("endpoints", total.to_string()),
            pair("healthy", healthy.to_string()),
        ],
        Summary::Other { type_url, size } => vec![
            pair("type URL", type_url.clone()),
            pair("size", format!("{size} bytes (not decoded)")),
        ],
    }
}

#[cfg(test)]
mod tests;
