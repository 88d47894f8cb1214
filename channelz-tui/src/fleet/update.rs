//! `update(&mut FleetModel, FleetMsg)`: the only place the fleet model
//! changes. Pure, like the single-server `update`; what needs I/O (start or
//! stop polling the member opened with Enter, poll now) comes back as a
//! [`FleetCommand`] for the terminal loop to do.
//!
//! While a member is open, keys and that member's poller messages go to its
//! own [`Model`] through the usual `update`, so its screens behave exactly
//! as they do for one target; only `Esc` on its overview (with no filter,
//! help or deeper screen to leave first) comes back to the fleet.

use std::time::SystemTime;

use grpc_toolkit_conn::escape::escape_cut;

use super::model::{FleetModel, Row, Status, Summary, sample};
use super::poll::{MemberId, Outcome, Report};
use crate::model::{Link, Model};
use crate::msg::{Action, Msg, PanelHeights};
use crate::update::{Command, update as update_member};

/// How long an error from the network may be on a row.
const ERROR_CHARS: usize = 300;

/// Everything that can happen to the fleet screen.
#[derive(Debug, Clone, PartialEq)]
pub enum FleetMsg {
    /// Time passed.
    Tick(SystemTime),
    /// The names were (re)resolved: every member now listed, and the names
    /// that had a problem (unescaped).
    Resolved {
        /// When.
        at: SystemTime,
        /// Every member listed now.
        members: Vec<MemberId>,
        /// `(name, problem)` for each name that failed or was cut.
        problems: Vec<(String, String)>,
    },
    /// A round ended: fold the members' rates into the fleet-wide history.
    RoundEnd,
    /// A member's result.
    Report(Report<Summary>),
    /// A message of the opened member's poller.
    Member(Box<Msg>),
    /// A key.
    Action(Action),
    /// The terminal's size changed.
    Resize(PanelHeights),
}

/// What the terminal loop must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetCommand {
    /// Nothing.
    None,
    /// Start polling this member for its usual screens.
    Open(MemberId),
    /// Stop polling the opened member.
    Close,
    /// Poll the fleet (or the opened member) now.
    Refresh,
}

/// Applies `msg` to `model`.
pub fn update(model: &mut FleetModel, msg: FleetMsg) -> FleetCommand {
    match msg {
        FleetMsg::Tick(now) => {
            model.now = now;
            if let Some((_, member)) = &mut model.open {
                update_member(member, Msg::Tick(now));
            }
        }
        FleetMsg::Resolved {
            at,
            members,
            problems,
        } => return resolved(model, at, members, problems),
        FleetMsg::RoundEnd => model.push_fleet_rates(),
        FleetMsg::Report(report) => reported(model, report),
        FleetMsg::Member(msg) => {
            if let Some((_, member)) = &mut model.open {
                update_member(member, *msg);
            }
        }
        FleetMsg::Resize(heights) => {
            model.page = heights.list.max(1);
            if let Some((_, member)) = &mut model.open {
                update_member(member, Msg::Resize(heights));
            }
        }
        FleetMsg::Action(action) => return act(model, action),
    }
    FleetCommand::None
}

/// Applies a resolution: rows that came and went, and the names' problems.
/// An opened member that went is no longer polled (a pod that is gone only
/// gives connection errors): its screen keeps the last data and says so.
fn resolved(
    model: &mut FleetModel,
    at: SystemTime,
    members: Vec<MemberId>,
    problems: Vec<(String, String)>,
) -> FleetCommand {
    // The first answer fills the screen; only later changes are news.
    let first = !model.resolved;
    model.resolved = true;
    let listed: std::collections::BTreeSet<&MemberId> = members.iter().collect();
    let gone: Vec<MemberId> = model
        .rows
        .keys()
        .filter(|id| !listed.contains(id))
        .cloned()
        .collect();
    let open_left = model
        .open
        .as_ref()
        .is_some_and(|(id, _)| !listed.contains(id));
    for id in gone {
        model.rows.remove(&id);
        model.note(
            at,
            format!(
                "{} left {}",
                escape_cut(&id.address, 200),
                escape_cut(&id.name, 200)
            ),
        );
    }
    for id in members {
        if !model.rows.contains_key(&id) {
            if !first {
                model.note(
                    at,
                    format!(
                        "{} joined {}",
                        escape_cut(&id.address, 200),
                        escape_cut(&id.name, 200)
                    ),
                );
            }
            model.rows.insert(id.clone(), Row::new(id, at));
        }
    }
    let problems: std::collections::BTreeMap<String, String> = problems
        .into_iter()
        .map(|(name, p)| (escape_cut(&name, 200), escape_cut(&p, ERROR_CHARS)))
        .collect();
    for (name, problem) in &problems {
        if model.problems.get(name) != Some(problem) {
            model.note(at, format!("{name}: {problem}"));
        }
    }
    model.problems = problems;
    let visible = model.visible().len();
    model.selected = model.selected.min(visible.saturating_sub(1));
    match &mut model.open {
        Some((_, member)) if open_left && !matches!(member.link, Link::LeftFleet { .. }) => {
            member.link = Link::LeftFleet { at };
            FleetCommand::Close
        }
        _ => FleetCommand::None,
    }
}

fn reported(model: &mut FleetModel, report: Report<Summary>) {
    let interval = model.interval;
    let Some(row) = model.rows.get_mut(&report.id) else {
        // A member that left while its poll was in flight.
        return;
    };
    let (status, summary) = match report.outcome {
        Outcome::Answer(summary) => (Status::Answering, Some(summary)),
        Outcome::Failed(e) => (Status::Failed(escape_cut(&e, ERROR_CHARS)), None),
        Outcome::Unreachable { error, retry_at } => (
            Status::Unreachable {
                error: escape_cut(&error, ERROR_CHARS),
                retry_at,
            },
            None,
        ),
    };
    // The retry time moves every round; only the kind of status and its
    // text are a change worth the "last change" column.
    let same_status = match (&row.status, &status) {
        (Status::Unreachable { error: a, .. }, Status::Unreachable { error: b, .. }) => a == b,
        (a, b) => a == b,
    };
    let same_figures = match (&summary, &row.last) {
        (Some(new), Some(old)) => {
            new.states == old.states && new.health == old.health && new.xds == old.xds
        }
        _ => true,
    };
    if !same_status || !same_figures {
        row.changed = report.at;
    }
    row.status = status;
    if let Some(summary) = summary {
        // Half an interval: rounds may complete a little early or late.
        row.history.push(sample(report.at, &summary), interval / 2);
        row.last = Some(summary);
    }
}

/// Whether `Esc` on an opened member goes back to the fleet: on its
/// overview, with no filter, help or deeper screen to leave first.
pub fn at_root(member: &Model) -> bool {
    member.stack.len() == 1 && !member.filter_editing && !member.help && member.filter.is_empty()
}

fn act(model: &mut FleetModel, action: Action) -> FleetCommand {
    if let Some((_, member)) = &mut model.open {
        if action == Action::Back && at_root(member) {
            model.open = None;
            return FleetCommand::Close;
        }
        if action == Action::Quit {
            model.quit = true;
            return FleetCommand::None;
        }
        return match update_member(member, Msg::Action(action)) {
            Command::Refresh => FleetCommand::Refresh,
            Command::None => FleetCommand::None,
        };
    }
    if model.filter_editing {
        match action {
            Action::FilterChar(c) => {
                // The same bound as a terminal line: a pasted novel is not a filter.
                if model.filter.chars().count() < 200 && !c.is_control() {
                    model.filter.push(c);
                }
            }
            Action::FilterBackspace => {
                model.filter.pop();
            }
            Action::FilterDone => model.filter_editing = false,
            Action::Back => {
                model.filter.clear();
                model.filter_editing = false;
            }
            Action::Quit => model.quit = true,
            _ => return FleetCommand::None,
        }
        model.selected = 0;
        return FleetCommand::None;
    }
    if model.help {
        match action {
            Action::Quit => model.quit = true,
            Action::Help | Action::Back | Action::FilterDone => model.help = false,
            _ => {}
        }
        return FleetCommand::None;
    }
    let rows = model.visible().len();
    let last = rows.saturating_sub(1);
    match action {
        Action::Up => model.selected = model.selected.saturating_sub(1),
        Action::Down => model.selected = (model.selected + 1).min(last),
        Action::PageUp => model.selected = model.selected.saturating_sub(model.page),
        Action::PageDown => model.selected = (model.selected + model.page).min(last),
        Action::Top => model.selected = 0,
        Action::Bottom => model.selected = last,
        Action::Enter | Action::FilterDone => {
            if let Some(id) = model.selected_id() {
                let title = if id.address == id.name {
                    id.address.clone()
                } else {
                    format!("{} ({})", id.address, id.name)
                };
                let member = Model::new(escape_cut(&title, 400), model.interval, model.now);
                model.open = Some((id.clone(), Box::new(member)));
                return FleetCommand::Open(id);
            }
        }
        Action::Back => model.filter.clear(),
        Action::StartFilter => model.filter_editing = true,
        Action::Sort => {
            model.sort = model.sort.next();
            model.selected = 0;
        }
        Action::Refresh => return FleetCommand::Refresh,
        Action::Help => model.help = true,
        Action::Quit => model.quit = true,
        Action::NextPane
        | Action::FilterChar(_)
        | Action::FilterBackspace
        | Action::Pause
        | Action::Tree
        | Action::Xds
        | Action::NextPage
        | Action::PrevPage => {}
    }
    FleetCommand::None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::SortKey;

    fn id(a: &str) -> MemberId {
        MemberId {
            name: "dns:///app:1".into(),
            address: a.into(),
        }
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + s)
    }

    fn answer(model: &mut FleetModel, a: &str, t: u64, started: i64, failed: i64) {
        let summary = Summary {
            states: [0, 0, 0, 2, 0, 0],
            calls_started: started,
            calls_failed: failed,
            servers: 1,
            open_sockets: 3,
            health: Some(1),
            incomplete: 0,
            xds: None,
        };
        update(
            model,
            FleetMsg::Report(Report {
                id: id(a),
                round: t,
                at: at(t),
                outcome: Outcome::Answer(summary),
            }),
        );
    }

    fn resolve(model: &mut FleetModel, t: u64, addrs: &[&str]) {
        update(
            model,
            FleetMsg::Resolved {
                at: at(t),
                members: addrs.iter().map(|a| id(a)).collect(),
                problems: Vec::new(),
            },
        );
    }

    fn fleet() -> FleetModel {
        FleetModel::new("app", Duration::from_secs(1), at(0))
    }

    #[test]
    fn members_come_and_go_with_a_note_after_the_first_answer() {
        let mut m = fleet();
        resolve(&mut m, 0, &["10.0.0.1:1", "10.0.0.2:1"]);
        assert_eq!(m.rows.len(), 2);
        assert!(m.notes.is_empty(), "{:?}", m.notes);
        resolve(&mut m, 1, &["10.0.0.2:1", "10.0.0.3:1"]);
        let notes: Vec<&str> = m.notes.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(
            notes,
            [
                "10.0.0.1:1 left dns:///app:1",
                "10.0.0.3:1 joined dns:///app:1"
            ]
        );
        assert_eq!(
            m.rows
                .keys()
                .map(|k| k.address.as_str())
                .collect::<Vec<_>>(),
            ["10.0.0.2:1", "10.0.0.3:1"]
        );
    }

    #[test]
    fn rates_failures_and_sorts() {
        let mut m = fleet();
        resolve(&mut m, 0, &["a:1", "b:1", "c:1"]);
        answer(&mut m, "a:1", 1, 0, 0);
        answer(&mut m, "b:1", 1, 0, 0);
        answer(&mut m, "a:1", 2, 10, 0);
        answer(&mut m, "b:1", 2, 100, 50);
        update(
            &mut m,
            FleetMsg::Report(Report {
                id: id("c:1"),
                round: 2,
                at: at(2),
                outcome: Outcome::Unreachable {
                    error: "cannot connect: refused\x1b[31m".into(),
                    retry_at: at(3),
                },
            }),
        );
        update(&mut m, FleetMsg::RoundEnd);
        assert_eq!(m.fleet_rates.back().map(|r| r.calls_per_sec), Some(110.0));
        assert_eq!(m.rows[&id("b:1")].failure_pct(), Some(50.0));
        assert!(
            m.rows[&id("c:1")].status.text().contains("\\x1b"),
            "escaped"
        );
        let order = |m: &FleetModel| {
            m.visible()
                .iter()
                .map(|r| r.id.address.clone())
                .collect::<Vec<_>>()
        };
        m.sort = SortKey::CallRate;
        assert_eq!(order(&m), ["b:1", "a:1", "c:1"]);
        m.sort = SortKey::State;
        assert_eq!(order(&m)[0], "c:1");
        m.sort = SortKey::Id;
        update(&mut m, FleetMsg::Action(Action::StartFilter));
        for c in "refused".chars() {
            update(&mut m, FleetMsg::Action(Action::FilterChar(c)));
        }
        update(&mut m, FleetMsg::Action(Action::FilterDone));
        assert_eq!(order(&m), ["c:1"]);
    }

    #[test]
    fn enter_opens_a_member_and_esc_comes_back() {
        let mut m = fleet();
        resolve(&mut m, 0, &["a:1", "b:1"]);
        update(&mut m, FleetMsg::Action(Action::Down));
        let cmd = update(&mut m, FleetMsg::Action(Action::Enter));
        assert_eq!(cmd, FleetCommand::Open(id("b:1")));
        let (_, member) = m.open.as_ref().expect("open");
        assert!(member.target.starts_with("b:1"));
        // Help is left first, then the member.
        update(&mut m, FleetMsg::Action(Action::Help));
        assert_eq!(
            update(&mut m, FleetMsg::Action(Action::Back)),
            FleetCommand::None
        );
        assert!(m.open.is_some());
        assert_eq!(
            update(&mut m, FleetMsg::Action(Action::Back)),
            FleetCommand::Close
        );
        assert!(m.open.is_none());
        assert_eq!(m.selected, 1, "the selection is kept");
    }

    #[test]
    fn an_opened_member_that_leaves_the_fleet_stops_being_polled() {
        let mut m = fleet();
        resolve(&mut m, 0, &["a:1", "b:1"]);
        update(&mut m, FleetMsg::Action(Action::Enter));
        let still_there = FleetMsg::Resolved {
            at: at(1),
            members: vec![id("a:1"), id("b:1")],
            problems: Vec::new(),
        };
        assert_eq!(update(&mut m, still_there), FleetCommand::None);
        let gone = FleetMsg::Resolved {
            at: at(2),
            members: vec![id("b:1")],
            problems: Vec::new(),
        };
        assert_eq!(update(&mut m, gone), FleetCommand::Close);
        let (_, member) = m.open.as_ref().expect("still on screen");
        assert_eq!(member.link, Link::LeftFleet { at: at(2) });
        // Said once: a later resolution changes nothing.
        let later = FleetMsg::Resolved {
            at: at(3),
            members: vec![id("b:1")],
            problems: Vec::new(),
        };
        assert_eq!(update(&mut m, later), FleetCommand::None);
        assert_eq!(
            m.open.as_ref().map(|(_, member)| member.link.clone()),
            Some(Link::LeftFleet { at: at(2) })
        );
        assert_eq!(
            update(&mut m, FleetMsg::Action(Action::Back)),
            FleetCommand::Close
        );
        assert!(m.open.is_none());
    }

    #[test]
    fn a_failed_member_keeps_its_last_figures_and_its_change_time() {
        let mut m = fleet();
        resolve(&mut m, 0, &["a:1"]);
        answer(&mut m, "a:1", 1, 5, 0);
        update(
            &mut m,
            FleetMsg::Report(Report {
                id: id("a:1"),
                round: 2,
                at: at(2),
                outcome: Outcome::Failed("GetTopChannels: deadline".into()),
            }),
        );
        let row = &m.rows[&id("a:1")];
        assert_eq!(row.changed, at(2));
        assert_eq!(row.last.map(|s| s.calls_started), Some(5));
        assert!(row.rates().is_none());
        // A report for a member that left is dropped.
        answer(&mut m, "zz:1", 3, 1, 0);
        assert_eq!(m.rows.len(), 1);
    }
}
