//! Pure rendering: `view(&Model, &mut Frame)` draws the whole screen from
//! the model and nothing else (no clock, no network), so every state is a
//! snapshot test.
//!
//! Layout: a title bar (target, link, sort, pause), the breadcrumb, the
//! body of the current screen, and a footer (key hints, filter, errors).

mod detail;
mod overview;
mod tree;
mod xds;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table, Wrap};

use grpc_toolkit_conn::escape::escape;

use crate::decode;
use crate::model::{Link, Model, Pane, Rates, Screen, window_start};
use crate::msg::PanelHeights;

/// Below this the layout cannot show a table row with its columns.
pub const MIN_WIDTH: u16 = 60;
/// Below this the layout cannot show title, breadcrumb, a few rows and footer.
pub const MIN_HEIGHT: u16 = 12;

/// Draws the dashboard.
pub fn view(model: &Model, frame: &mut Frame<'_>) {
    view_in(model, frame, frame.area());
}

/// Draws the dashboard in `area` (replay keeps a row below it for its
/// timeline).
pub fn view_in(model: &Model, frame: &mut Frame<'_>, area: Rect) {
    if too_small(frame, area) {
        return;
    }
    let [title, crumbs, body, footer] = frame_layout(area);
    frame.render_widget(title_bar(model), title);
    frame.render_widget(breadcrumb(model), crumbs);
    let xds_screen = matches!(model.screen(), Screen::Xds | Screen::XdsResource);
    if model.overview_at.is_none() && !(xds_screen && model.xds.poll.is_some()) {
        frame.render_widget(link_notice(model), body);
    } else {
        match model.screen() {
            Screen::Overview => overview::render(model, frame, body),
            Screen::Channel(id) => detail::channel(model, frame, body, id),
            Screen::Subchannel(id) => detail::subchannel(model, frame, body, id),
            Screen::Socket(id) => detail::socket(model, frame, body, id),
            Screen::Server(id) => detail::server(model, frame, body, id),
            Screen::Tree => tree::render(model, frame, body),
            Screen::Xds => xds::render(model, frame, body),
            Screen::XdsResource => xds::resource(model, frame, body),
        }
    }
    frame.render_widget(footer_bar(model), footer);
    if model.help {
        help(frame, body);
    }
}

/// Title bar, breadcrumb, body, footer.
fn frame_layout(area: Rect) -> [Rect; 4] {
    Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area)
}

/// The body of a terminal `height` rows tall.
fn body_area(height: u16) -> Rect {
    frame_layout(Rect::new(0, 0, MIN_WIDTH, height.max(MIN_HEIGHT)))[2]
}

/// The heights of the scrolling panels on a terminal `height` rows tall,
/// for [`crate::msg::Msg::Resize`]: `update` keeps them in the model to page
/// lists, clamp trace scrolling to what is drawn, and fetch the tree's
/// details for exactly the rows on screen.
pub fn panel_heights(height: u16) -> PanelHeights {
    let [_, _, trace] = detail::entity_layout(body_area(height));
    PanelHeights {
        list: usize::from(height.saturating_sub(8)),
        trace: usize::from(trace.height.saturating_sub(2)),
        tree: usize::from(body_area(height).height.saturating_sub(2)),
    }
}

fn title_bar(model: &Model) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            " channelz-tui ",
            Style::new()
                .add_modifier(Modifier::BOLD)
                .bg(Color::Blue)
                .fg(Color::White),
        ),
        Span::raw(format!(" {} ", model.target)),
    ];
    let (text, color) = match &model.link {
        Link::Connecting => ("connecting".to_string(), Color::Yellow),
        Link::Connected => ("connected".to_string(), Color::Green),
        Link::Disconnected { retry_at, .. } => {
            let wait = retry_at.duration_since(model.now).unwrap_or_default();
            (
                format!("disconnected, retry in {}", decode::short_duration(wait)),
                Color::Red,
            )
        }
        Link::NoChannelz => ("no channelz service".to_string(), Color::Red),
        Link::LeftFleet { at } => (
            format!(
                "left the fleet {} ago, not polled",
                decode::short_duration(model.now.duration_since(*at).unwrap_or_default(),)
            ),
            Color::Red,
        ),
    };
    spans.push(Span::styled(format!("● {text}"), Style::new().fg(color)));
    spans.push(Span::raw(format!(
        "  every {}  sort: {}",
        decode::short_duration(model.interval),
        model.sort.label()
    )));
    if model.paused {
        spans.push(Span::styled(
            "  PAUSED",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

fn screen_label(model: &Model, screen: Screen) -> String {
    match screen {
        Screen::Overview => "overview".into(),
        Screen::Channel(id) => format!("channel {id}"),
        Screen::Subchannel(id) => format!("subchannel {id}"),
        Screen::Socket(id) => {
            let name = model
                .sockets
                .get(&id)
                .and_then(|s| s.r#ref.as_ref())
                .map(|r| r.name.as_str())
                .unwrap_or("");
            if name.is_empty() {
                format!("socket {id}")
            } else {
                format!("socket {id} ({name})")
            }
        }
        Screen::Server(id) => format!("server {id}"),
        Screen::Tree => "tree".into(),
        Screen::Xds => "xds".into(),
        Screen::XdsResource => match &model.xds.open {
            Some((_, type_url, name)) => {
                format!("{} {name}", crate::xds::type_name(type_url))
            }
            None => "xds resource".into(),
        },
    }
}

fn breadcrumb(model: &Model) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, screen) in model.stack.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" › ", Style::new().fg(Color::DarkGray)));
        }
        let style = if i + 1 == model.stack.len() {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Gray)
        };
        spans.push(Span::styled(screen_label(model, *screen), style));
    }
    if !model.filter.is_empty() && !model.filter_editing {
        spans.push(Span::styled(
            format!("   filter: {}", model.filter),
            Style::new().fg(Color::Cyan),
        ));
    }
    Line::from(spans)
}

fn link_notice(model: &Model) -> Paragraph<'static> {
    let lines: Vec<Line<'static>> = match &model.link {
        Link::Connecting => vec![Line::from(format!("connecting to {}…", model.target))],
        Link::Connected => vec![Line::from("waiting for the first Channelz answer…")],
        Link::Disconnected { error, retry_at } => vec![
            Line::styled(
                format!("cannot reach {}", model.target),
                Style::new().fg(Color::Red),
            ),
            Line::from(escape(&error.to_string()).into_owned()),
            Line::from(format!(
                "retrying in {}",
                decode::short_duration(retry_at.duration_since(model.now).unwrap_or_default())
            )),
        ],
        Link::NoChannelz => vec![
            Line::styled(
                "this server has no Channelz service",
                Style::new().fg(Color::Red),
            ),
            Line::from("(grpc.channelz.v1.Channelz answered UNIMPLEMENTED)"),
            Line::from(
                "register it in the server (e.g. tonic-channelz, grpc-go's channelz service) and retry",
            ),
        ],
        Link::LeftFleet { .. } => vec![
            Line::styled(
                format!("{} left the fleet", model.target),
                Style::new().fg(Color::Red),
            ),
            Line::from("its name no longer resolves to this address: polling stopped"),
            Line::from("Esc returns to the fleet"),
        ],
    };
    Paragraph::new(lines)
        .block(Block::bordered().title(" status "))
        .wrap(Wrap { trim: true })
}

fn footer_bar(model: &Model) -> Line<'static> {
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
    if let Some(err) = &model.last_error {
        return Line::styled(format!("error: {err}"), Style::new().fg(Color::Red));
    }
    if let (Link::Disconnected { error, .. }, Some(_)) = (&model.link, model.overview_at) {
        return Line::styled(
            format!(
                "disconnected (showing last data): {}",
                escape(&error.to_string())
            ),
            Style::new().fg(Color::Red),
        );
    }
    let mut incomplete = model
        .overview_incomplete
        .iter()
        .chain(&model.details_incomplete);
    if let Some(first) = incomplete.next() {
        let more = incomplete.count();
        let more = if more > 0 {
            format!(" (+{more} more)")
        } else {
            String::new()
        };
        return Line::styled(
            format!(
                "incomplete: {} {}: {}{more}",
                first.entity,
                first.reason.name(),
                escape(&first.detail)
            ),
            Style::new().fg(Color::Yellow),
        );
    }
    let trace_focused = model.cursor().pane == Pane::Trace;
    let hints = match model.screen() {
        Screen::Overview => {
            "↑↓/jk move · Enter open · Tab pane · / filter · s sort · t tree · x xds · p pause · r refresh · ? help · q quit"
        }
        Screen::Xds => {
            "↑↓ move · Enter open (on a scope: its channel) · Esc back · p pause · r refresh · ? help · q quit"
        }
        Screen::XdsResource => "Esc back · x xds · p pause · r refresh · ? help · q quit",
        Screen::Channel(_) | Screen::Subchannel(_) | Screen::Server(_) if trace_focused => {
            "↑↓ PgUp PgDn scroll trace · g newest · G oldest · Tab children · Esc back · p pause · ? help · q quit"
        }
        Screen::Server(_) => {
            "↑↓ move · Enter open · Tab trace · n/N next/prev page · Esc back · p pause · ? help · q quit"
        }
        Screen::Channel(_) | Screen::Subchannel(_) => {
            "↑↓ move · Enter open · Tab trace · Esc back · p pause · r refresh · ? help · q quit"
        }
        _ => "↑↓ move · Enter open · Esc back · p pause · r refresh · ? help · q quit",
    };
    Line::styled(hints, Style::new().fg(Color::DarkGray))
}

/// The keys of the screens, as help lists them (replay adds its own).
pub const HELP: &[(&str, &str)] = &[
    ("↑ ↓  j k", "move the selection, or scroll the trace"),
    ("PgUp PgDn g G", "page, first, last (trace: newest, oldest)"),
    (
        "Enter",
        "open the selected channel, subchannel, socket, server",
    ),
    (
        "Esc  Backspace",
        "go back (the breadcrumb shows where you are)",
    ),
    ("Tab", "switch pane: channels/servers, children/trace"),
    ("/", "filter by id, target or address (Esc clears)"),
    ("s", "sort: id, calls/s, failures, state"),
    ("t", "tree of channels, subchannels and sockets"),
    ("x", "xDS status (CSDS): resources, NACKs, reasons"),
    ("n  N", "next / previous page of server sockets"),
    ("p", "pause or resume updates"),
    ("r", "refresh now"),
    ("?", "this help"),
    ("q  Ctrl-C", "quit"),
];

fn help(frame: &mut Frame<'_>, body: Rect) {
    help_popup(frame, body, HELP, 72, " help (Esc closes) ");
}

/// A help box of `keys` (key, what it does) centred on `body`, at most
/// `max_width` wide: every screen's `?` draws its keys with it.
pub fn help_popup(
    frame: &mut Frame<'_>,
    body: Rect,
    keys: &[(&str, &str)],
    max_width: u16,
    title: &'static str,
) {
    let width = body.width.min(max_width);
    let height = body.height.min(
        u16::try_from(keys.len())
            .unwrap_or(u16::MAX)
            .saturating_add(2),
    );
    let area = Rect {
        x: body.x + (body.width - width) / 2,
        y: body.y + (body.height - height) / 2,
        width,
        height,
    };
    let lines: Vec<Line<'static>> = keys
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!(" {k:<15}"), Style::new().fg(Color::Cyan)),
                Span::raw(v.to_string()),
            ])
        })
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}

/// The colour of a connectivity state.
pub(crate) fn state_style(state: i32) -> Style {
    match state {
        3 => Style::new().fg(Color::Green),
        2 => Style::new().fg(Color::Yellow),
        4 => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        1 => Style::new().fg(Color::Blue),
        5 => Style::new().fg(Color::DarkGray),
        _ => Style::new(),
    }
}

/// Says so in `area` and returns true when `area` is smaller than every
/// screen needs ([`MIN_WIDTH`] x [`MIN_HEIGHT`]).
pub(crate) fn too_small(frame: &mut Frame<'_>, area: Rect) -> bool {
    if area.width >= MIN_WIDTH && area.height >= MIN_HEIGHT {
        return false;
    }
    let text = format!(
        "terminal too small: {}x{}, need at least {MIN_WIDTH}x{MIN_HEIGHT}",
        area.width, area.height
    );
    frame.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .style(Style::new().fg(Color::Yellow)),
        area,
    );
    true
}

/// The two lines of a rates panel: calls/s and failures/s now, each with
/// the sparkline of `series` in `width` cells.
pub(crate) fn rate_lines(now: Option<Rates>, series: &[Rates], width: usize) -> Vec<Line<'static>> {
    let calls: Vec<f64> = series.iter().map(|r| r.calls_per_sec).collect();
    let fails: Vec<f64> = series.iter().map(|r| r.failures_per_sec).collect();
    vec![
        Line::from(vec![
            Span::raw(format!(
                "calls/s {:>8} ",
                rate(now.map(|r| r.calls_per_sec))
            )),
            Span::styled(sparkline(&calls, width), Style::new().fg(Color::Green)),
        ]),
        Line::from(vec![
            Span::raw(format!(
                "fail/s  {:>8} ",
                rate(now.map(|r| r.failures_per_sec))
            )),
            Span::styled(sparkline(&fails, width), Style::new().fg(Color::Red)),
        ]),
    ]
}

/// Unicode block sparkline of `values`, scaled to their maximum, right
/// aligned in `width` cells.
pub(crate) fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail.iter().copied().fold(0.0_f64, f64::max);
    let mut out: String = " ".repeat(width - tail.len());
    for v in tail {
        let idx = if max <= 0.0 {
            0
        } else {
            ((v / max) * 7.0).round() as usize
        };
        out.push(BARS[idx.min(7)]);
    }
    out
}

/// A rate with a sensible number of digits.
pub(crate) fn rate(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
    }
}

/// A bordered panel, its border cyan when it has the focus.
pub(crate) fn pane_block(title: String, focused: bool) -> Block<'static> {
    let block = Block::bordered().title(title);
    if focused {
        block.border_style(Style::new().fg(Color::Cyan))
    } else {
        block
    }
}

/// The style of a line of a list: reversed on the selected one, plain
/// (the default style) elsewhere.
pub(crate) fn row_style(selected: bool) -> Style {
    if selected {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    }
}

/// A list pane: `body` laid out in `widths` under the bold column names
/// `header` (one per width), inside `block`.
pub(crate) fn list_table<'a, const N: usize>(
    body: Vec<Row<'a>>,
    widths: [Constraint; N],
    header: [&'a str; N],
    block: Block<'a>,
) -> Table<'a> {
    Table::new(body, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(block)
}

#[cfg(test)]
mod tests;
