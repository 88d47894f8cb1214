//! `channelz-tui --replay FILE`: the dashboard's screens over a recording,
//! with a timeline. The screens are the live ones: each poll is fed through
//! [`update`] as the messages a live poll would have produced
//! (`replay::messages`), timestamps from the recording, so rates and
//! sparklines are computed as they were live. A jump rebuilds the model
//! from up to [`WARMUP`] polls before the target, keeping the screen,
//! selection, filter and sort.
//!
//! The timeline itself is Elm-shaped too: [`Timeline`] is data,
//! [`Timeline::act`] its update (which returns the poll to show), and
//! [`status_line`] its view, drawn in the row below the screens.
//!
//! One terminal loop ([`run`]) drives any [`Replay`]: this module's
//! [`Player`] for one target, or the fleet screen's player
//! ([`super::fleet::FleetPlayer`]) for a recording of several members.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt;
use grpc_toolkit_conn::escape::escape;
use grpc_toolkit_conn::{format_go_duration, parse_go_duration};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use super::reader::{Poll, ReadError, Recording};
use super::replay::{self, At, health_report, parse_at};
use crate::decode;
use crate::exit::ExitStatus;
use crate::input;
use crate::model::Model;
use crate::msg::{Action, Msg};
use crate::terminal;
use crate::update::update;
use crate::view;

/// Polls fed before the one jumped to, so that rates and sparklines have
/// their history: the overview's (top channels and servers) for all of
/// them, the details' for the last [`DETAIL_WARMUP`] (live, too, details
/// have history only since their screen was opened).
pub const WARMUP: usize = 60;

/// Of the [`WARMUP`] polls, how many are fed whole (details too).
pub const DETAIL_WARMUP: usize = 10;

/// Playback speeds.
pub const SPEEDS: &[f64] = &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The longest wait between two polls while playing, whatever the gap in
/// the recording (a paused dashboard, an outage).
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// The timeline's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// The poll shown.
    pub index: usize,
    /// Polls in the recording.
    pub len: usize,
    /// The time of the first poll.
    pub start: SystemTime,
    /// The time of the poll shown.
    pub time: SystemTime,
    /// Playing or paused.
    pub playing: bool,
    /// Index into [`SPEEDS`].
    pub speed: usize,
    /// The jump prompt's text while it is open.
    pub prompt: Option<String>,
    /// A note for the status line (a cut-off file, a bad jump).
    pub note: Option<String>,
    /// Whether the help overlay is open.
    pub help: bool,
    /// Which member the screens show, and how many there are.
    pub member: (usize, usize),
}

/// What a key does to the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineAction {
    /// Play or pause.
    PlayPause,
    /// This many polls forward (negative: back).
    Step(i64),
    /// Faster.
    Faster,
    /// Slower.
    Slower,
    /// To the first poll.
    Start,
    /// To the last poll.
    End,
    /// Open the jump prompt.
    Prompt,
    /// A character typed into the prompt.
    PromptChar(char),
    /// Delete the prompt's last character.
    PromptBackspace,
    /// Jump to the prompt's time.
    PromptDone,
    /// Close the prompt.
    PromptCancel,
    /// Show or hide help.
    Help,
    /// The next member (a recording of several targets).
    NextMember,
    /// Playing: the next poll is due.
    Due,
}

/// The timeline action of a key, if it is one of the timeline's; other
/// keys go to the screens.
pub fn action(key: KeyEvent, prompt_open: bool, filter_editing: bool) -> Option<TimelineAction> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return None;
    }
    if prompt_open {
        return Some(match key.code {
            KeyCode::Enter => TimelineAction::PromptDone,
            KeyCode::Esc => TimelineAction::PromptCancel,
            KeyCode::Backspace => TimelineAction::PromptBackspace,
            KeyCode::Char(c) => TimelineAction::PromptChar(c),
            _ => return None,
        });
    }
    if filter_editing {
        return None;
    }
    Some(match key.code {
        KeyCode::Char(' ') | KeyCode::Char('p') => TimelineAction::PlayPause,
        KeyCode::Char('.') => TimelineAction::Step(1),
        KeyCode::Char(',') => TimelineAction::Step(-1),
        KeyCode::Char('>') => TimelineAction::Step(10),
        KeyCode::Char('<') => TimelineAction::Step(-10),
        KeyCode::Char('+') | KeyCode::Char('=') => TimelineAction::Faster,
        KeyCode::Char('-') => TimelineAction::Slower,
        KeyCode::Char('[') => TimelineAction::Start,
        KeyCode::Char(']') => TimelineAction::End,
        KeyCode::Char(':') => TimelineAction::Prompt,
        KeyCode::Char('?') => TimelineAction::Help,
        KeyCode::Char('m') => TimelineAction::NextMember,
        _ => return None,
    })
}

/// The timeline's keys, as help lists them.
pub const HELP: &[(&str, &str)] = &[
    ("space  p", "replay: play or pause"),
    (".  ,", "replay: next / previous poll"),
    (">  <", "replay: 10 polls forward / back"),
    ("+  -", "replay: faster / slower (¼× to 64×)"),
    ("[  ]", "replay: first / last poll"),
    (":", "replay: jump to a time (RFC 3339 or +DURATION)"),
    ("m", "replay: next member (several targets)"),
];

impl Timeline {
    /// A timeline at the first of `len` polls.
    pub fn new(len: usize, start: SystemTime, members: usize) -> Self {
        Timeline {
            index: 0,
            len,
            start,
            time: start,
            playing: false,
            speed: 2,
            prompt: None,
            note: None,
            help: false,
            member: (0, members.max(1)),
        }
    }

    /// The speed factor.
    pub fn speed(&self) -> f64 {
        SPEEDS.get(self.speed).copied().unwrap_or(1.0)
    }

    /// How long to wait, at the current speed, for a gap of `gap` in the
    /// recording.
    pub fn wait(&self, gap: Duration) -> Duration {
        gap.div_f64(self.speed()).min(MAX_WAIT)
    }

    /// Applies `action`; returns the poll to show when it changes. `find`
    /// gives the last poll at or before a time.
    pub fn act(
        &mut self,
        action: TimelineAction,
        find: impl Fn(SystemTime) -> Option<usize>,
    ) -> Option<usize> {
        let last = self.len.saturating_sub(1);
        let target = match action {
            TimelineAction::PlayPause => {
                self.playing = !self.playing;
                if self.playing && self.index == last {
                    // Play from the start again, as players do.
                    Some(0)
                } else {
                    None
                }
            }
            TimelineAction::Step(n) => {
                self.playing = false;
                let i = i64::try_from(self.index)
                    .unwrap_or(i64::MAX)
                    .saturating_add(n);
                Some(usize::try_from(i.max(0)).unwrap_or(0).min(last))
            }
            TimelineAction::Due => {
                if self.index >= last {
                    self.playing = false;
                    None
                } else {
                    Some(self.index + 1)
                }
            }
            TimelineAction::Faster => {
                self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
                None
            }
            TimelineAction::Slower => {
                self.speed = self.speed.saturating_sub(1);
                None
            }
            TimelineAction::Start => Some(0),
            TimelineAction::End => Some(last),
            TimelineAction::Prompt => {
                self.prompt = Some(String::new());
                None
            }
            TimelineAction::PromptChar(c) => {
                if let Some(p) = &mut self.prompt
                    && p.len() < 64
                {
                    p.push(c);
                }
                None
            }
            TimelineAction::PromptBackspace => {
                if let Some(p) = &mut self.prompt {
                    p.pop();
                }
                None
            }
            TimelineAction::PromptCancel => {
                self.prompt = None;
                None
            }
            TimelineAction::PromptDone => {
                let text = self.prompt.take().unwrap_or_default();
                let t = match parse_at(text.trim()) {
                    Ok(At::Time(t)) => Some(t),
                    Ok(At::Offset(d)) => Some(self.start.checked_add(d).unwrap_or(far_future())),
                    Err(e) => {
                        self.note = Some(e);
                        None
                    }
                };
                match t.map(|t| (t, find(t))) {
                    Some((_, Some(i))) => Some(i),
                    Some((t, None)) => {
                        self.note = Some(format!(
                            "no poll at or before {}; the recording starts at {}",
                            decode::rfc3339(t),
                            decode::rfc3339(self.start)
                        ));
                        None
                    }
                    None => None,
                }
            }
            TimelineAction::Help => {
                self.help = !self.help;
                None
            }
            TimelineAction::NextMember => {
                self.member.0 = (self.member.0 + 1) % self.member.1;
                Some(self.index)
            }
        };
        target.filter(|&t| t != self.index || action == TimelineAction::NextMember)
    }
}

/// A time after any recording's last poll.
fn far_future() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(i64::MAX as u64 / 1_000_000_000)
}

/// The timeline's row: play state, speed, poll i/N, time and offset, and
/// the prompt or a note.
pub fn status_line(t: &Timeline) -> Line<'static> {
    if let Some(p) = &t.prompt {
        return Line::from(vec![
            Span::styled("jump to: ", Style::new().fg(Color::Cyan)),
            Span::raw(escape(p).into_owned()),
            Span::styled("█", Style::new().fg(Color::Cyan)),
            Span::styled(
                "   RFC 3339 or +DURATION · Enter jump · Esc cancel",
                Style::new().fg(Color::DarkGray),
            ),
        ]);
    }
    let offset = t.time.duration_since(t.start).unwrap_or_default();
    let offset = format_go_duration(Duration::from_secs(offset.as_secs()));
    let state = if t.playing {
        "▶ playing"
    } else {
        "⏸ paused"
    };
    let speed = t.speed();
    let speed = if speed < 1.0 {
        format!("{speed}×")
    } else {
        format!("{speed:.0}×")
    };
    let mut spans = vec![
        Span::styled(
            format!(" replay {state} {speed} "),
            Style::new().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(format!(
            " poll {}/{} · {} (+{offset})",
            t.index + 1,
            t.len,
            decode::rfc3339(t.time)
        )),
    ];
    if t.member.1 > 1 {
        spans.push(Span::raw(format!(
            " · member {}/{}",
            t.member.0 + 1,
            t.member.1
        )));
    }
    match &t.note {
        Some(note) => spans.push(Span::styled(
            format!(" · {}", escape(note)),
            Style::new().fg(Color::Yellow),
        )),
        None => spans.push(Span::styled(
            " · space play · , . step · [ ] ends · : jump · ? help",
            Style::new().fg(Color::DarkGray),
        )),
    }
    Line::from(spans)
}

/// Draws the screens and the timeline below them.
pub fn draw(model: &Model, timeline: &Timeline, frame: &mut Frame<'_>) {
    draw_with(timeline, frame, view::HELP, |frame, screens| {
        view::view_in(model, frame, screens);
    });
}

/// Draws the timeline in the last row and, with `screens`, whatever a
/// replay shows above it (the one-target screens, or the fleet's), whose
/// keys `screen_keys` the help lists after the timeline's.
pub fn draw_with(
    timeline: &Timeline,
    frame: &mut Frame<'_>,
    screen_keys: &[(&str, &str)],
    screens: impl FnOnce(&mut Frame<'_>, Rect),
) {
    let area = frame.area();
    if area.height < 2 {
        return;
    }
    let rows = Rect {
        height: area.height - 1,
        ..area
    };
    screens(frame, rows);
    let screens = rows;
    let row = Rect {
        y: area.y + area.height - 1,
        height: 1,
        ..area
    };
    frame.render_widget(status_line(timeline), row);
    if timeline.help {
        help(frame, screens, screen_keys);
    }
}

fn help(frame: &mut Frame<'_>, body: Rect, screen_keys: &[(&str, &str)]) {
    let all: Vec<(&str, &str)> = HELP.iter().chain(screen_keys).copied().collect();
    view::help_popup(frame, body, &all, 76, " help (Esc or ? closes) ");
}

/// The recording, the poll on screen and the model fed from it.
pub struct Player {
    /// The recording.
    pub rec: Recording,
    /// The poll on screen.
    pub poll: Poll,
    /// The screens' model.
    pub model: Model,
    /// The timeline.
    pub timeline: Timeline,
    interval: Duration,
}

impl Player {
    /// Opens `path` at its first poll.
    pub fn open(path: &Path) -> Result<Player, ReadError> {
        let mut rec = Recording::open(path)?;
        let poll = rec.poll(0)?;
        let interval = parse_go_duration(&rec.header.interval).unwrap_or(Duration::from_secs(1));
        let target = poll
            .members
            .first()
            .map(|m| escape(&m.name).into_owned())
            .unwrap_or_default();
        let mut timeline = Timeline::new(rec.len(), rec.time(0), poll.members.len());
        if let Some(at) = rec.truncated_at {
            timeline.note = Some(format!(
                "the file is cut off at byte {at}: replaying its {} complete polls",
                rec.len()
            ));
        }
        let model = Model::new(target, interval, rec.time(0));
        let mut player = Player {
            rec,
            poll,
            model,
            timeline,
            interval,
        };
        player.feed()?;
        Ok(player)
    }

    /// Opens `path` at poll `at`, showing the member whose address is
    /// `member` (a fleet replay's Enter). `rows` is the terminal's height.
    pub fn open_member(
        path: &Path,
        member: &str,
        title: String,
        at: usize,
        rows: u16,
    ) -> Result<Player, ReadError> {
        let mut player = Player::open(path)?;
        let poll = player
            .rec
            .poll(at.min(player.rec.len().saturating_sub(1)))?;
        if let Some(k) = poll.members.iter().position(|m| m.member == member) {
            player.timeline.member.0 = k;
        }
        player.resize(rows);
        // Rebuilt as a jump is, so its rates have their history.
        player.poll = poll;
        player.go(at)?;
        player.model.target = title;
        Ok(player)
    }

    /// Feeds the poll on screen to the model: all its messages, or (for
    /// history before a jump) only the overview's.
    fn feed(&mut self) -> Result<(), ReadError> {
        self.feed_some(true)
    }

    fn feed_some(&mut self, whole: bool) -> Result<(), ReadError> {
        self.timeline.index = self.poll.index;
        self.timeline.time = self.poll.time;
        let Some(member) = self.poll.members.get(self.timeline.member.0) else {
            return Ok(());
        };
        update(&mut self.model, Msg::Tick(self.poll.time));
        match &member.state {
            Ok(state) => {
                let snap = if whole {
                    state.snapshot()
                } else {
                    state.overview()
                };
                let snap = snap.map_err(|e| ReadError::Corrupt {
                    path: self.rec.path().to_string(),
                    offset: self.rec.polls[self.poll.index].offset,
                    detail: e,
                })?;
                update(&mut self.model, Msg::Connected);
                let focus = self.model.focus();
                for msg in replay::messages(&snap, &focus, self.poll.time) {
                    update(&mut self.model, msg);
                }
                if let Some(h) = &member.health {
                    update(&mut self.model, Msg::Health(health_report(h)));
                }
            }
            Err(e) => {
                update(&mut self.model, Msg::PollFailed(e.clone()));
            }
        }
        Ok(())
    }

    /// Shows poll `i`: one delta when it is the next, otherwise a model
    /// rebuilt from up to [`WARMUP`] polls before it.
    pub fn go(&mut self, i: usize) -> Result<(), ReadError> {
        if i == self.poll.index + 1 {
            self.rec.step(&mut self.poll)?;
            return self.feed();
        }
        let fresh = Model::new(self.model.target.clone(), self.interval, self.rec.time(0));
        let old = std::mem::replace(&mut self.model, fresh);
        let m = &mut self.model;
        m.stack = old.stack;
        m.cursors = old.cursors;
        m.filter = old.filter;
        m.sort = old.sort;
        m.page = old.page;
        m.trace_page = old.trace_page;
        m.tree_page = old.tree_page;
        m.server_page_start = old.server_page_start;
        m.server_page_history = old.server_page_history;
        if let Some(member) = self.poll.members.get(self.timeline.member.0) {
            m.target = escape(&member.name).into_owned();
        }
        self.poll = self.rec.poll(i.saturating_sub(WARMUP))?;
        let whole = |index: usize| index + DETAIL_WARMUP >= i;
        self.feed_some(whole(self.poll.index))?;
        while self.poll.index < i {
            self.rec.step(&mut self.poll)?;
            self.feed_some(whole(self.poll.index))?;
        }
        Ok(())
    }

    /// Applies a timeline action.
    pub fn act(&mut self, action: TimelineAction) -> Result<(), ReadError> {
        let rec = &self.rec;
        if let Some(i) = self.timeline.act(action, |t| rec.at_or_before(t)) {
            self.go(i)?;
        }
        Ok(())
    }

    /// The wait until the next poll is due while playing.
    pub fn due_in(&self) -> Option<Duration> {
        due_in(&self.rec, &self.poll, &self.timeline)
    }

    /// A key: the timeline's, or the screens'.
    pub fn key(&mut self, key: KeyEvent) -> Result<(), ReadError> {
        if self.timeline.help {
            if key.kind != KeyEventKind::Release
                && matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
                )
            {
                self.timeline.help = false;
            }
            return Ok(());
        }
        if let Some(a) = action(
            key,
            self.timeline.prompt.is_some(),
            self.model.filter_editing,
        ) {
            self.timeline.note = None;
            return self.act(a);
        }
        let Some(a) = input::action(key, self.model.filter_editing) else {
            return Ok(());
        };
        if matches!(a, Action::Refresh | Action::Pause) {
            return Ok(());
        }
        let focus = self.model.focus();
        update(&mut self.model, Msg::Action(a));
        if self.model.focus() != focus {
            // A new screen: its details come from the poll on screen.
            let member = self.poll.members.get(self.timeline.member.0);
            if let Some(Ok(state)) = member.map(|m| &m.state)
                && let Ok(snap) = state.snapshot()
            {
                let at = snap.at.unwrap_or(self.poll.time);
                let d = replay::details(&snap, &self.model.focus(), at);
                update(&mut self.model, Msg::Details(d));
            }
        }
        Ok(())
    }
}

/// The wait, while `timeline` plays, until the poll after `poll` is due.
pub fn due_in(rec: &Recording, poll: &Poll, timeline: &Timeline) -> Option<Duration> {
    if !timeline.playing {
        return None;
    }
    if poll.index + 1 >= rec.len() {
        // At the end: due at once, and the timeline pauses.
        return Some(Duration::ZERO);
    }
    let gap = rec
        .time(poll.index + 1)
        .duration_since(poll.time)
        .unwrap_or_default();
    Some(timeline.wait(gap))
}

/// What the replay loop drives: the one-target [`Player`] or the fleet's.
pub trait Replay {
    /// Draws the screens and the timeline.
    fn draw(&self, frame: &mut Frame<'_>);
    /// The wait until the next poll is due while playing.
    fn due_in(&self) -> Option<Duration>;
    /// A key.
    fn key(&mut self, key: KeyEvent) -> Result<(), ReadError>;
    /// A timeline action.
    fn act(&mut self, action: TimelineAction) -> Result<(), ReadError>;
    /// The terminal's height changed (the screens get all rows but the
    /// timeline's).
    fn resize(&mut self, height: u16);
    /// Whether the user quit.
    fn quit(&self) -> bool;
}

impl Replay for Player {
    fn draw(&self, frame: &mut Frame<'_>) {
        draw(&self.model, &self.timeline, frame);
    }
    fn due_in(&self) -> Option<Duration> {
        Player::due_in(self)
    }
    fn key(&mut self, key: KeyEvent) -> Result<(), ReadError> {
        Player::key(self, key)
    }
    fn act(&mut self, action: TimelineAction) -> Result<(), ReadError> {
        Player::act(self, action)
    }
    fn resize(&mut self, height: u16) {
        let heights = view::panel_heights(height.saturating_sub(1));
        update(&mut self.model, Msg::Resize(heights));
    }
    fn quit(&self) -> bool {
        self.model.quit
    }
}

/// The replay loop: `player` (one target's or a fleet's, opened by
/// [`super::replay_screens`]) under the timeline, until the user quits.
pub async fn run(mut player: Box<dyn Replay>, err: &mut dyn Write) -> ExitStatus {
    let (guard, mut term) = match terminal::setup() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "channelz-tui: {e}");
            return ExitStatus::Usage;
        }
    };
    if let Ok(size) = term.size() {
        player.resize(size.height);
    }
    let mut events = EventStream::new();
    let result: Result<(), String> = loop {
        if let Err(e) = term.draw(|f| player.draw(f)) {
            break Err(format!("cannot draw: {e}"));
        }
        let due = player.due_in();
        let step = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => player.key(key),
                Some(Ok(Event::Resize(_, height))) => {
                    player.resize(height);
                    Ok(())
                }
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => break Err(format!("cannot read the terminal: {e}")),
                None => break Ok(()),
            },
            _ = tokio::time::sleep(due.unwrap_or(Duration::from_secs(3600))), if due.is_some() => {
                player.act(TimelineAction::Due)
            }
        };
        if let Err(e) = step {
            break Err(e.to_string());
        }
        if player.quit() {
            break Ok(());
        }
    };
    drop(term);
    drop(guard);
    crate::terminal::ended(result, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(_: SystemTime) -> Option<usize> {
        Some(3)
    }

    #[test]
    fn the_timeline_steps_plays_and_jumps_within_the_recording() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut t = Timeline::new(10, start, 1);
        assert_eq!(t.act(TimelineAction::Step(-1), find), None);
        assert_eq!(t.act(TimelineAction::Step(1), find), Some(1));
        t.index = 1;
        assert_eq!(t.act(TimelineAction::Step(100), find), Some(9));
        assert_eq!(t.act(TimelineAction::End, find), Some(9));
        assert_eq!(t.act(TimelineAction::Start, find), Some(0));
        t.index = 9;
        // Play at the end starts over.
        assert_eq!(t.act(TimelineAction::PlayPause, find), Some(0));
        assert!(t.playing);
        assert_eq!(t.act(TimelineAction::Due, find), None);
        assert!(!t.playing, "the end pauses");
        t.act(TimelineAction::Faster, find);
        assert_eq!(t.speed(), 2.0);
        assert_eq!(t.wait(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(t.wait(Duration::from_secs(600)), MAX_WAIT);
        t.act(TimelineAction::Prompt, find);
        for c in "+5s".chars() {
            t.act(TimelineAction::PromptChar(c), find);
        }
        assert_eq!(t.act(TimelineAction::PromptDone, find), Some(3));
        t.act(TimelineAction::Prompt, find);
        t.act(TimelineAction::PromptChar('x'), find);
        assert_eq!(t.act(TimelineAction::PromptDone, find), None);
        assert!(t.note.as_deref().is_some_and(|n| n.contains("\"x\"")));
    }
}
