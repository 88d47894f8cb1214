//! The fleet screen's state as plain data: one row per member (its last
//! answer boiled down to a [`Summary`], its status, its counter history),
//! the fleet-wide rate history, what came and went, and what the user chose
//! (sort, filter, selection, the member opened with Enter).
//!
//! Like the single-server model it reads no clock and does no I/O; the
//! member opened with Enter is an ordinary [`Model`], so its screens are
//! the usual ones.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use grpc_toolkit_proto::channelz::v1::{Channel, Server};

use super::poll::MemberId;
use crate::model::{HISTORY_LEN, HealthReport, History, Model, Rates, Sample, SortKey};
use crate::snapshot::Snapshot;
use crate::xds::{XdsCounts, XdsPoll};

/// How many "came / went" notes the screen keeps.
pub const NOTES_LEN: usize = 100;

/// A member's overview poll, boiled down to what its row shows. Kept small
/// on purpose: a fleet of a hundred members with ten thousand channels each
/// holds a hundred of these, not a million channels.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Top channels by connectivity state number (UNKNOWN 0 … SHUTDOWN 5).
    pub states: [usize; 6],
    /// Calls started, cumulative: the member's servers' (the calls it
    /// served), or its top channels' when it has no server (a client).
    pub calls_started: i64,
    /// Calls failed, counted the same way.
    pub calls_failed: i64,
    /// How many servers it lists.
    pub servers: usize,
    /// Open sockets of all its servers.
    pub open_sockets: usize,
    /// `Check("")`'s status number, when it answered one.
    pub health: Option<i32>,
    /// How many places of the poll were cut or missing.
    pub incomplete: usize,
    /// Its CSDS resources NACKED and missing (`XdsCounts`); `None` when
    /// it serves no CSDS, its read failed, or it was not asked.
    pub xds: Option<XdsCounts>,
}

impl Summary {
    /// The summary of one overview poll and health answer.
    pub fn of(
        channels: &[Channel],
        servers: &[Server],
        server_socket_counts: &[(i64, usize)],
        incomplete: usize,
        health: &HealthReport,
    ) -> Self {
        let mut states = [0usize; 6];
        for c in channels {
            let state = crate::model::channel_state(c);
            if let Some(n) = usize::try_from(state).ok().and_then(|s| states.get_mut(s)) {
                *n += 1;
            }
        }
        let counted = |started: i64, failed: i64, (s, f): (i64, i64)| {
            (s.saturating_add(started), f.saturating_add(failed))
        };
        let (calls_started, calls_failed) = if servers.is_empty() {
            channels
                .iter()
                .filter_map(|c| c.data.as_ref())
                .fold((0, 0), |acc, d| {
                    counted(d.calls_started, d.calls_failed, acc)
                })
        } else {
            servers
                .iter()
                .filter_map(|s| s.data.as_ref())
                .fold((0, 0), |acc, d| {
                    counted(d.calls_started, d.calls_failed, acc)
                })
        };
        Summary {
            states,
            calls_started,
            calls_failed,
            servers: servers.len(),
            open_sockets: server_socket_counts.iter().map(|(_, n)| n).sum(),
            health: health.overall.as_ref().ok().copied(),
            incomplete,
            xds: None,
        }
    }

    /// The summary of a full snapshot and health answer: the same figures
    /// as [`Summary::of`] gives for an overview poll, so a recorded (or
    /// replayed) fleet shows the rows a live one does.
    pub fn of_snapshot(snap: &Snapshot, health: &HealthReport) -> Self {
        let counts: Vec<(i64, usize)> = snap
            .server_sockets
            .iter()
            .map(|(id, s)| (*id, s.len()))
            .collect();
        Summary {
            xds: snap.xds.as_ref().and_then(XdsPoll::counts),
            ..Summary::of(
                &snap.channels,
                &snap.servers,
                &counts,
                snap.incomplete.len(),
                health,
            )
        }
    }

    /// Top channels in all states.
    pub fn channels(&self) -> usize {
        self.states.iter().sum()
    }
}

/// Where a member stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Listed, not polled yet.
    Waiting,
    /// The last round answered.
    Answering,
    /// Connected, but the last poll failed (escaped text).
    Failed(String),
    /// No connection (escaped text); the member retries by itself.
    Unreachable {
        /// Why.
        error: String,
        /// When the next attempt is due.
        retry_at: SystemTime,
    },
}

impl Status {
    /// True while the member answers.
    pub fn is_answering(&self) -> bool {
        *self == Status::Answering
    }

    /// The text of the status column.
    pub fn text(&self) -> &str {
        match self {
            Status::Waiting => "waiting",
            Status::Answering => "reachable",
            Status::Failed(e) | Status::Unreachable { error: e, .. } => e,
        }
    }
}

/// One member's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Which member.
    pub id: MemberId,
    /// Where it stands.
    pub status: Status,
    /// Its last answer (kept while it fails, so the row shows the last
    /// known figures beside the error).
    pub last: Option<Summary>,
    /// Its call counters over time.
    pub history: History,
    /// When it was first listed.
    pub since: SystemTime,
    /// When its status, health or channel states last changed.
    pub changed: SystemTime,
}

impl Row {
    /// A new row, first seen at `now`.
    pub fn new(id: MemberId, now: SystemTime) -> Self {
        Row {
            id,
            status: Status::Waiting,
            last: None,
            history: History::default(),
            since: now,
            changed: now,
        }
    }

    /// Calls/s and failures/s over the last interval, while answering.
    pub fn rates(&self) -> Option<Rates> {
        if self.status.is_answering() {
            self.history.rates()
        } else {
            None
        }
    }

    /// Failed calls as a share of calls over the last interval, in percent.
    pub fn failure_pct(&self) -> Option<f64> {
        self.rates().and_then(|r| {
            (r.calls_per_sec > 0.0).then(|| 100.0 * r.failures_per_sec / r.calls_per_sec)
        })
    }

    /// Rank for the state sort: the rows an operator must look at first
    /// come first (no connection, failing polls, not serving, channels in
    /// TRANSIENT_FAILURE or NACKED xDS resources).
    pub fn badness(&self) -> (u8, std::cmp::Reverse<usize>) {
        let tf = self.last.map_or(0, |s| s.states[4]);
        let nacked = self.last.and_then(|s| s.xds).is_some_and(|x| x.nacked > 0);
        let rank = match &self.status {
            Status::Unreachable { .. } => 0,
            Status::Failed(_) => 1,
            Status::Waiting => 4,
            Status::Answering => match self.last.and_then(|s| s.health) {
                Some(1) | None if tf == 0 && !nacked => 3,
                Some(1) | None => 2,
                Some(_) => 2,
            },
        };
        (rank, std::cmp::Reverse(tf))
    }

    fn matches(&self, needle: &str) -> bool {
        self.id.address.to_lowercase().contains(needle)
            || self.id.name.to_lowercase().contains(needle)
            || self.status.text().to_lowercase().contains(needle)
    }
}

/// Everything the fleet screen shows and remembers.
#[derive(Debug, Clone)]
pub struct FleetModel {
    /// The names watched, for the title.
    pub title: String,
    /// The poll interval.
    pub interval: Duration,
    /// "Now" as of the last message.
    pub now: SystemTime,
    /// One row per member, by id.
    pub rows: BTreeMap<MemberId, Row>,
    /// Fleet-wide calls/s and failures/s, one entry per round, oldest first.
    pub fleet_rates: VecDeque<Rates>,
    /// What came and went, newest last (escaped text).
    pub notes: VecDeque<(SystemTime, String)>,
    /// The current resolution problems, by name (escaped text).
    pub problems: BTreeMap<String, String>,
    /// Whether the first resolution has arrived.
    pub resolved: bool,
    /// Row filter (substring of address, name or error).
    pub filter: String,
    /// Whether keys edit the filter.
    pub filter_editing: bool,
    /// Row order (`id` is the member's address).
    pub sort: SortKey,
    /// The selected row of the visible rows.
    pub selected: usize,
    /// Rows PageUp/PageDown move.
    pub page: usize,
    /// Whether the help overlay is shown.
    pub help: bool,
    /// The member opened with Enter and its usual dashboard model; `None`
    /// on the fleet screen.
    pub open: Option<(MemberId, Box<Model>)>,
    /// Set when the user asked to quit.
    pub quit: bool,
}

impl FleetModel {
    /// A fresh fleet model.
    pub fn new(title: impl Into<String>, interval: Duration, now: SystemTime) -> Self {
        FleetModel {
            title: title.into(),
            interval,
            now,
            rows: BTreeMap::new(),
            fleet_rates: VecDeque::new(),
            notes: VecDeque::new(),
            problems: BTreeMap::new(),
            resolved: false,
            filter: String::new(),
            filter_editing: false,
            sort: SortKey::Id,
            selected: 0,
            page: 10,
            help: false,
            open: None,
            quit: false,
        }
    }

    /// Rows after filter and sort, as the screen shows them.
    pub fn visible(&self) -> Vec<&Row> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&Row> = self
            .rows
            .values()
            .filter(|r| needle.is_empty() || r.matches(&needle))
            .collect();
        let rate = |r: &Row| r.rates().map_or(-1.0, |r| r.calls_per_sec);
        let fail = |r: &Row| r.failure_pct().unwrap_or(-1.0);
        match self.sort {
            // BTreeMap order is id order already.
            SortKey::Id => {}
            SortKey::CallRate => rows.sort_by(|a, b| rate(b).total_cmp(&rate(a))),
            SortKey::Failures => rows.sort_by(|a, b| fail(b).total_cmp(&fail(a))),
            SortKey::State => rows.sort_by_key(|r| r.badness()),
        }
        rows
    }

    /// The member of the selected row.
    pub fn selected_id(&self) -> Option<MemberId> {
        self.visible().get(self.selected).map(|r| r.id.clone())
    }

    /// How many members answered their last round.
    pub fn answering(&self) -> usize {
        self.rows
            .values()
            .filter(|r| r.status.is_answering())
            .count()
    }

    /// Adds a note, dropping the oldest beyond [`NOTES_LEN`].
    pub fn note(&mut self, at: SystemTime, text: String) {
        if self.notes.len() == NOTES_LEN {
            self.notes.pop_front();
        }
        self.notes.push_back((at, text));
    }

    /// Adds one round's fleet-wide rates: the sum of every answering
    /// member's rates.
    pub fn push_fleet_rates(&mut self) {
        let total = self
            .rows
            .values()
            .filter_map(Row::rates)
            .fold(Rates::default(), |a, r| Rates {
                calls_per_sec: a.calls_per_sec + r.calls_per_sec,
                failures_per_sec: a.failures_per_sec + r.failures_per_sec,
            });
        if self.fleet_rates.len() == HISTORY_LEN {
            self.fleet_rates.pop_front();
        }
        self.fleet_rates.push_back(total);
    }
}

/// The history sample of an answer.
pub fn sample(at: SystemTime, s: &Summary) -> Sample {
    Sample {
        at,
        started: s.calls_started,
        succeeded: s.calls_started.saturating_sub(s.calls_failed),
        failed: s.calls_failed,
    }
}
