//! `channelz-tui --replay FILE` of a recording of several members: the
//! fleet screen over the recording, under the same timeline as one
//! target's replay.
//!
//! Each poll is fed to the fleet's `update` as the messages a live round
//! would have produced ([`messages`]: the members listed, each member's
//! report from its recorded snapshot and health or error, the round's
//! end), with the recording's timestamps, so rows, rates and sparklines
//! are computed as they were live. `Enter` on a member opens that
//! member's usual replay (a [`Player`]) at the poll on screen; `Esc` on
//! its overview comes back to the fleet at the poll the member was on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::{KeyEvent, KeyEventKind};
use grpc_toolkit_conn::escape::escape_cut;
use grpc_toolkit_conn::parse_go_duration;
use ratatui::Frame;

use super::reader::{Poll, ReadError, Recording};
use super::replay::{health_report, snapshots};
use super::timeline::{DETAIL_WARMUP, Player, Replay, Timeline, TimelineAction, action, draw_with};
use crate::fleet::model::{FleetModel, Summary};
use crate::fleet::poll::{MemberId, Outcome, Report};
use crate::fleet::update::{FleetCommand, FleetMsg, at_root, update};
use crate::input;
use crate::model::HealthReport;
use crate::msg::Action;

/// Polls fed before the one jumped to, so that the rows' rates and the
/// fleet's sparkline have their history (the fleet keeps no details, so
/// fewer than a member's replay needs).
pub const WARMUP: usize = DETAIL_WARMUP * 6;

/// Whether the recording at `path` is a fleet's: several targets in its
/// header, or several members in its first poll (one `--fleet` name).
pub fn is_fleet(path: &Path) -> Result<bool, ReadError> {
    let mut rec = Recording::open(path)?;
    if rec.header.targets.len() > 1 {
        return Ok(true);
    }
    Ok(rec.poll(0)?.members.len() > 1)
}

/// The messages a live round would have given the fleet's `update` for
/// `poll`: the members listed, each member's report, the round's end.
pub fn messages(poll: &Poll, rec: &Recording) -> Result<Vec<FleetMsg>, ReadError> {
    let snaps = snapshots(poll, rec)?;
    let mut msgs = vec![
        FleetMsg::Tick(poll.time),
        FleetMsg::Resolved {
            at: poll.time,
            members: poll.members.iter().map(member_id).collect(),
            problems: Vec::new(),
        },
    ];
    for (m, snap) in poll.members.iter().zip(snaps) {
        let outcome = match (snap, &m.state) {
            (Some(snap), _) => {
                let health = match &m.health {
                    Some(h) => health_report(h),
                    // `--json --watch` records no health: no figure, as live.
                    None => HealthReport {
                        overall: Err("not recorded".into()),
                        services: None,
                    },
                };
                Outcome::Answer(Summary::of_snapshot(&snap, &health))
            }
            (None, Err(e)) => Outcome::Failed(e.clone()),
            (None, Ok(_)) => Outcome::Failed(String::new()),
        };
        msgs.push(FleetMsg::Report(Report {
            id: member_id(m),
            round: u64::try_from(poll.index).unwrap_or(u64::MAX),
            at: poll.time,
            outcome,
        }));
    }
    msgs.push(FleetMsg::RoundEnd);
    Ok(msgs)
}

/// The id a recorded member shows as: escaped, since the fleet screen
/// draws ids as they are (live, they come from the command line and the
/// resolver; here, from a file).
fn member_id(m: &super::reader::PolledMember) -> MemberId {
    MemberId {
        name: escape_cut(&m.name, 200),
        address: escape_cut(&m.member, 200),
    }
}

/// The fleet screen over a recording, and the member opened with Enter.
pub struct FleetPlayer {
    path: PathBuf,
    rec: Recording,
    /// The poll on screen.
    pub poll: Poll,
    /// The fleet screen's model.
    pub model: FleetModel,
    /// The timeline.
    pub timeline: Timeline,
    /// The member opened with Enter: its usual replay.
    pub member: Option<Player>,
    interval: Duration,
    /// The terminal's height, for the member opened next.
    rows: u16,
}

impl FleetPlayer {
    /// Opens `path` at its first poll.
    pub fn open(path: &Path) -> Result<FleetPlayer, ReadError> {
        let mut rec = Recording::open(path)?;
        let poll = rec.poll(0)?;
        let interval = parse_go_duration(&rec.header.interval).unwrap_or(Duration::from_secs(1));
        let title = escape_cut(&rec.header.targets.join(" "), 400);
        let mut timeline = Timeline::new(rec.len(), rec.time(0), 1);
        if let Some(at) = rec.truncated_at {
            timeline.note = Some(format!(
                "the file is cut off at byte {at}: replaying its {} complete polls",
                rec.len()
            ));
        }
        let model = FleetModel::new(title, interval, rec.time(0));
        let mut player = FleetPlayer {
            path: path.to_path_buf(),
            rec,
            poll,
            model,
            timeline,
            member: None,
            interval,
            rows: 24,
        };
        player.feed()?;
        Ok(player)
    }

    fn feed(&mut self) -> Result<(), ReadError> {
        self.timeline.index = self.poll.index;
        self.timeline.time = self.poll.time;
        for msg in messages(&self.poll, &self.rec)? {
            update(&mut self.model, msg);
        }
        Ok(())
    }

    /// Shows poll `i`: one more round when it is the next, otherwise a
    /// model rebuilt from up to [`WARMUP`] polls before it, keeping what
    /// the user chose (sort, filter, selection).
    pub fn go(&mut self, i: usize) -> Result<(), ReadError> {
        if i == self.poll.index + 1 {
            self.rec.step(&mut self.poll)?;
            return self.feed();
        }
        let fresh = FleetModel::new(self.model.title.clone(), self.interval, self.rec.time(0));
        let old = std::mem::replace(&mut self.model, fresh);
        let m = &mut self.model;
        m.sort = old.sort;
        m.filter = old.filter;
        m.selected = old.selected;
        m.page = old.page;
        self.poll = self.rec.poll(i.saturating_sub(WARMUP))?;
        self.feed()?;
        while self.poll.index < i {
            self.rec.step(&mut self.poll)?;
            self.feed()?;
        }
        Ok(())
    }

    fn open_member(&mut self, id: &MemberId) -> Result<(), ReadError> {
        let title = if id.address == id.name {
            id.address.clone()
        } else {
            format!("{} ({})", id.address, id.name)
        };
        // The recording names the member unescaped.
        let Some(address) = self
            .poll
            .members
            .iter()
            .find(|m| member_id(m) == *id)
            .map(|m| m.member.clone())
        else {
            return Ok(());
        };
        let mut member =
            Player::open_member(&self.path, &address, title, self.poll.index, self.rows)?;
        member.timeline.speed = self.timeline.speed;
        self.member = Some(member);
        Ok(())
    }

    /// Back from the member to the fleet, at the poll the member was on.
    fn close_member(&mut self) -> Result<(), ReadError> {
        if let Some(member) = self.member.take() {
            self.timeline.speed = member.timeline.speed;
            self.timeline.playing = member.timeline.playing;
            if member.timeline.index != self.poll.index {
                self.go(member.timeline.index)?;
            }
        }
        Ok(())
    }
}

impl Replay for FleetPlayer {
    fn draw(&self, frame: &mut Frame<'_>) {
        match &self.member {
            Some(member) => member.draw(frame),
            None => {
                // The fleet screen's keys, less `r` (a replay polls nothing).
                let keys: Vec<(&str, &str)> = crate::fleet::view::HELP
                    .iter()
                    .filter(|(key, _)| *key != "r")
                    .copied()
                    .collect();
                draw_with(&self.timeline, frame, &keys, |frame, area| {
                    crate::fleet::view::view_in(&self.model, frame, area);
                });
            }
        }
    }

    fn due_in(&self) -> Option<Duration> {
        match &self.member {
            Some(member) => member.due_in(),
            None => super::timeline::due_in(&self.rec, &self.poll, &self.timeline),
        }
    }

    fn key(&mut self, key: KeyEvent) -> Result<(), ReadError> {
        if let Some(member) = &mut self.member {
            let back = !member.timeline.help
                && member.timeline.prompt.is_none()
                && at_root(&member.model)
                && input::action(key, member.model.filter_editing) == Some(Action::Back);
            if back {
                return self.close_member();
            }
            return member.key(key);
        }
        if self.timeline.help {
            // The timeline's help overlay closes as in one target's replay.
            if key.kind != KeyEventKind::Release
                && matches!(input::action(key, false), Some(Action::Back | Action::Help))
            {
                self.timeline.help = false;
            }
            return Ok(());
        }
        match action(
            key,
            self.timeline.prompt.is_some(),
            self.model.filter_editing,
        ) {
            // One screen for every member: nothing to cycle through.
            Some(TimelineAction::NextMember) => return Ok(()),
            Some(a) => {
                self.timeline.note = None;
                return self.act(a);
            }
            None => {}
        }
        let Some(a) = input::action(key, self.model.filter_editing) else {
            return Ok(());
        };
        if let FleetCommand::Open(id) = update(&mut self.model, FleetMsg::Action(a)) {
            // The live screen would start polling the member; a replay
            // opens the member's own replay instead.
            self.model.open = None;
            self.open_member(&id)?;
        }
        Ok(())
    }

    fn act(&mut self, action: TimelineAction) -> Result<(), ReadError> {
        if let Some(member) = &mut self.member {
            return member.act(action);
        }
        let rec = &self.rec;
        if let Some(i) = self.timeline.act(action, |t| rec.at_or_before(t)) {
            self.go(i)?;
        }
        Ok(())
    }

    fn resize(&mut self, height: u16) {
        self.rows = height;
        let heights = crate::view::panel_heights(height.saturating_sub(1));
        update(&mut self.model, FleetMsg::Resize(heights));
        if let Some(member) = &mut self.member {
            member.resize(height);
        }
    }

    fn quit(&self) -> bool {
        self.model.quit || self.member.as_ref().is_some_and(|m| m.model.quit)
    }
}
