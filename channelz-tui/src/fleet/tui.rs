//! The fleet's terminal loop, shaped like the one-target loop in `app`:
//! one `tokio::select!` over keys, fleet messages, the opened member's
//! poller, a clock tick and SIGTERM, drawing after each event.
//!
//! A coordinator task re-resolves the names and starts a round every
//! interval; member tasks report straight into the loop's channel, so a
//! member that hangs delays nothing but its own row. `Enter` starts the
//! usual one-target poller on that member (reusing the member's
//! connection), `Esc` on its overview stops it.
//!
//! With `--record`, each member's task takes the full snapshot (what a
//! recording holds) instead of the overview, the row's summary derived
//! from it, and the coordinator writes every member's latest result once
//! per round, where the round ends.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use grpc_toolkit_conn::ConnectOptions;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::FleetConfig;
use super::model::{FleetModel, Summary};
use super::poll::{ApiSlot, MemberId, Members, Outcome, Polling, Probe, Report};
use super::resolve::{Member, Resolver, merge, resolve_all};
use super::update::{FleetCommand, FleetMsg, update};
use super::view::view;
use crate::exit::ExitStatus;
use crate::model::HealthReport;
use crate::msg::Msg;
use crate::poll::{Api, Dialer, Limits, Wanted};
use crate::snapshot::Snapshot;
use crate::{input, terminal};

/// What the loop needs to open a member: how to dial it and its live
/// connection, kept current by the coordinator.
type Directory = Arc<Mutex<BTreeMap<MemberId, (ConnectOptions, Option<ApiSlot>)>>>;

/// A member's answer of one round: its row's summary and, when the fleet
/// records, the full snapshot and health answer it was derived from.
#[derive(Debug, Clone)]
pub struct Probed {
    /// What the row shows.
    pub summary: Summary,
    /// What the recording stores (recording only: a full snapshot per
    /// member is too much to take every round for the screen alone).
    pub taken: Option<Arc<(Snapshot, HealthReport)>>,
}

/// The overview a fleet row needs: one overview poll, `Check("")` and one
/// CSDS read (its NACKED and missing counts), at once.
fn overview_probe() -> Probe<Probed> {
    Arc::new(|api: Api| {
        Box::pin(async move {
            let (overview, health, xds) =
                tokio::join!(crate::poll::overview(&api), api.health(), api.xds());
            let mut summary = match overview? {
                Msg::Overview {
                    channels,
                    servers,
                    server_socket_counts,
                    incomplete,
                    ..
                } => Summary::of(
                    &channels,
                    &servers,
                    &server_socket_counts,
                    incomplete.len(),
                    &health,
                ),
                // `overview` answers only with Msg::Overview.
                _ => Summary::default(),
            };
            summary.xds = xds.counts();
            Ok(Probed {
                summary,
                taken: None,
            })
        })
    })
}

/// What a recording fleet asks: the full snapshot a recording holds and
/// `Check("")`, the row's summary derived from them.
fn recording_probe() -> Probe<Probed> {
    Arc::new(|api: Api| {
        Box::pin(async move {
            let (snapshot, health) = tokio::join!(crate::json::take(&api), api.health());
            let snapshot = snapshot?;
            Ok(Probed {
                summary: Summary::of_snapshot(&snapshot, &health),
                taken: Some(Arc::new((snapshot, health))),
            })
        })
    })
}

/// The report the screen gets of a member's report.
fn summary_report(report: &Report<Probed>) -> Report<Summary> {
    Report {
        id: report.id.clone(),
        round: report.round,
        at: report.at,
        outcome: match &report.outcome {
            Outcome::Answer(p) => Outcome::Answer(p.summary),
            Outcome::Failed(e) => Outcome::Failed(e.clone()),
            Outcome::Unreachable { error, retry_at } => Outcome::Unreachable {
                error: error.clone(),
                retry_at: *retry_at,
            },
        },
    }
}

/// Each member's latest report, kept for the recording.
type Latest = Arc<Mutex<BTreeMap<MemberId, Report<Probed>>>>;

/// One member of a recorded round: its address, its name (the ADDR it
/// came from), its snapshot or the error that stood for it, and its
/// health answers.
pub type RoundMember<'a> = (
    &'a str,
    &'a str,
    Result<&'a crate::snapshot::Snapshot, &'a str>,
    Option<&'a crate::model::HealthReport>,
);

/// Where `--record` writes the fleet screen's rounds. The recording
/// format (`crate::record`, which implements this) is not the fleet's
/// business: `record` replays fleets, so `fleet` naming it back would be
/// a module cycle.
pub trait RoundRecorder: Send {
    /// Appends one round.
    fn record_round(
        &mut self,
        time: SystemTime,
        members: &[RoundMember<'_>],
    ) -> std::io::Result<()>;
}

/// The recording of a fleet screen and why it stopped, if it did.
pub struct FleetRecorder {
    recorder: Option<Box<dyn RoundRecorder>>,
    /// The write error that stopped the recording (said once the run ends).
    pub failure: Option<std::io::Error>,
}

impl FleetRecorder {
    /// Records into `recorder`.
    pub fn new(recorder: Box<dyn RoundRecorder>) -> Self {
        FleetRecorder {
            recorder: Some(recorder),
            failure: None,
        }
    }

    /// Writes one round: each listed member's latest result (a member
    /// that has not answered yet is recorded as such, so that a replay
    /// lists it too).
    fn write_round(&mut self, time: SystemTime, listed: &[MemberId], latest: &Latest) {
        let Some(recorder) = &mut self.recorder else {
            return;
        };
        let Ok(mut latest) = latest.lock() else {
            return;
        };
        latest.retain(|id, _| listed.contains(id));
        let members: Vec<RoundMember<'_>> = listed
            .iter()
            .map(|id| {
                let (result, health) = match latest.get(id).map(|r| &r.outcome) {
                    Some(Outcome::Answer(Probed {
                        taken: Some(taken), ..
                    })) => (Ok(&taken.0), Some(&taken.1)),
                    Some(Outcome::Failed(e) | Outcome::Unreachable { error: e, .. }) => {
                        (Err(e.as_str()), None)
                    }
                    _ => (Err(NO_ANSWER_YET), None),
                };
                (id.address.as_str(), id.name.as_str(), result, health)
            })
            .collect();
        if let Err(e) = recorder.record_round(time, &members) {
            // Stop recording, keep watching.
            self.failure = Some(e);
            self.recorder = None;
        }
    }
}

/// The error recorded for a listed member with no answer yet.
pub const NO_ANSWER_YET: &str = "no answer yet";

/// Everything the coordinator needs.
pub struct Coordinator {
    /// The names, the concurrency, the interval and the deadlines.
    pub fleet: FleetConfig,
    /// How names resolve.
    pub resolver: Resolver,
    /// `--record`: every round goes to the recording.
    pub recorder: Option<Arc<Mutex<FleetRecorder>>>,
}

impl Coordinator {
    /// Resolves and starts a round every interval (or at once on
    /// `refresh`), reporting everything into `tx`; ends when `tx` closes.
    pub async fn run(self, tx: mpsc::Sender<FleetMsg>, refresh: Arc<Notify>, directory: Directory) {
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        let mut members = Members::new(
            Polling {
                probe: if self.recorder.is_some() {
                    recording_probe()
                } else {
                    overview_probe()
                },
                rpc_timeout: self.fleet.rpc_timeout,
                limits: self.fleet.limits,
                permits: Arc::new(Semaphore::new(self.fleet.concurrency)),
                hold: self.fleet.interval,
            },
            reports_tx,
        );
        // Reports go to the screen as they come, not at the round's end.
        let forward_tx = tx.clone();
        let latest = Latest::default();
        let keep = self.recorder.is_some().then(|| Arc::clone(&latest));
        let forwarder = tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let summary = summary_report(&report);
                if let Some(Ok(mut latest)) = keep.as_ref().map(|l| l.lock()) {
                    latest.insert(report.id.clone(), report);
                }
                if forward_tx.send(FleetMsg::Report(summary)).await.is_err() {
                    return;
                }
            }
        });
        let resolve_timeout = self.fleet.interval.max(self.fleet.rpc_timeout);
        let mut listed: Vec<Member> = Vec::new();
        let mut round = 0;
        loop {
            round += 1;
            let started = Instant::now();
            let resolutions = resolve_all(
                &self.fleet.names,
                self.fleet.resolve,
                &self.resolver,
                resolve_timeout,
            )
            .await;
            let (now_listed, problems) = merge(resolutions, &listed);
            listed = now_listed;
            members.reconcile(&listed);
            if let Ok(mut dir) = directory.lock() {
                *dir = listed
                    .iter()
                    .map(|m| {
                        let id = MemberId::of(m);
                        let slot = members.slot(&id);
                        (id, (m.options.clone(), slot))
                    })
                    .collect();
            }
            let resolved = FleetMsg::Resolved {
                at: SystemTime::now(),
                members: members.ids().cloned().collect(),
                problems,
            };
            if tx.send(resolved).await.is_err() {
                break;
            }
            members.kick(round);
            tokio::select! {
                () = tokio::time::sleep_until((started + self.fleet.interval).into()) => {}
                () = refresh.notified() => {}
            }
            if let Some(Ok(mut r)) = self.recorder.as_ref().map(|r| r.lock()) {
                let listed: Vec<MemberId> = members.ids().cloned().collect();
                r.write_round(SystemTime::now(), &listed, &latest);
            }
            if tx.send(FleetMsg::RoundEnd).await.is_err() {
                break;
            }
        }
        forwarder.abort();
    }
}

/// A dialer for the opened member: its live fleet connection when there
/// is one, a new one otherwise.
fn member_dialer(
    options: ConnectOptions,
    slot: Option<ApiSlot>,
    rpc_timeout: Duration,
    limits: Limits,
) -> Dialer {
    let options = Arc::new(options);
    Arc::new(move || {
        let live = slot
            .as_ref()
            .and_then(|s| s.lock().ok().and_then(|api| api.clone()));
        let options = Arc::clone(&options);
        Box::pin(async move {
            match live {
                Some(api) => Ok(api),
                None => grpc_toolkit_conn::connect(&options)
                    .await
                    .map(|c| Api::new(c, rpc_timeout).with_limits(limits)),
            }
        })
    })
}

/// The poller of the opened member and how to steer it.
struct Opened {
    task: JoinHandle<()>,
    wanted: watch::Sender<Wanted>,
    refresh: Arc<Notify>,
    msgs: mpsc::Receiver<Msg>,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the fleet dashboard until the user quits.
/// With `recorder`, every round is recorded; a write error stops the
/// recording and ends the run with exit 1 once the user quits.
pub async fn run(
    fleet: &FleetConfig,
    resolver: Resolver,
    recorder: Option<Box<dyn RoundRecorder>>,
    err: &mut dyn Write,
) -> ExitStatus {
    let recorder = recorder.map(|r| Arc::new(Mutex::new(FleetRecorder::new(r))));
    let (guard, mut term) = match terminal::setup() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "channelz-tui: {e}");
            return ExitStatus::Usage;
        }
    };
    let (tx, mut rx) = mpsc::channel(1024);
    let refresh = Arc::new(Notify::new());
    let directory = Directory::default();
    let coordinator = tokio::spawn(
        Coordinator {
            fleet: fleet.clone(),
            resolver,
            recorder: recorder.clone(),
        }
        .run(tx, Arc::clone(&refresh), Arc::clone(&directory)),
    );
    let mut model = FleetModel::new(fleet.title.clone(), fleet.interval, SystemTime::now());
    if let Ok(size) = term.size() {
        update(
            &mut model,
            FleetMsg::Resize(crate::view::panel_heights(size.height)),
        );
    }
    let mut opened: Option<Opened> = None;
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    let mut terminated = std::pin::pin!(crate::signals::termination());
    let result = loop {
        if let Err(e) = term.draw(|f| view(&model, f)) {
            break Err(format!("cannot draw: {e}"));
        }
        let editing = match &model.open {
            Some((_, member)) => member.filter_editing,
            None => model.filter_editing,
        };
        let member_msg = async {
            match opened.as_mut() {
                Some(o) => o.msgs.recv().await,
                None => std::future::pending().await,
            }
        };
        let msg = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => input::action(key, editing).map(FleetMsg::Action),
                Some(Ok(Event::Resize(_, height))) => Some(FleetMsg::Resize(crate::view::panel_heights(height))),
                Some(Ok(_)) => None,
                Some(Err(e)) => break Err(format!("cannot read the terminal: {e}")),
                None => break Ok(()),
            },
            Some(msg) = rx.recv() => Some(msg),
            Some(msg) = member_msg => Some(FleetMsg::Member(Box::new(msg))),
            _ = ticker.tick() => Some(FleetMsg::Tick(SystemTime::now())),
            () = &mut terminated => break Ok(()),
        };
        if let Some(msg) = msg {
            match update(&mut model, msg) {
                FleetCommand::None => {}
                FleetCommand::Open(id) => {
                    let entry = directory.lock().ok().and_then(|d| d.get(&id).cloned());
                    if let Some((options, slot)) = entry {
                        opened = Some(open(options, slot, fleet));
                    }
                }
                FleetCommand::Close => opened = None,
                FleetCommand::Refresh => match &opened {
                    Some(o) => o.refresh.notify_one(),
                    None => refresh.notify_one(),
                },
            }
        }
        if let (Some(o), Some((_, member))) = (&opened, &model.open) {
            Wanted {
                focus: member.focus(),
                paused: member.paused,
            }
            .send(&o.wanted);
        }
        if model.quit {
            break Ok(());
        }
    };
    drop(opened);
    coordinator.abort();
    drop(term);
    drop(guard);
    let failure = recorder.and_then(|r| r.lock().ok().and_then(|mut r| r.failure.take()));
    if let Some(e) = failure {
        let _ = writeln!(err, "channelz-tui: cannot write the recording: {e}");
        return ExitStatus::Usage;
    }
    crate::terminal::ended(result, err)
}

fn open(options: ConnectOptions, slot: Option<ApiSlot>, config: &FleetConfig) -> Opened {
    let (tx, msgs) = mpsc::channel(64);
    let (wanted, want_rx) = watch::channel(Wanted {
        focus: crate::model::Focus::Overview,
        paused: false,
    });
    let refresh = Arc::new(Notify::new());
    let dial = member_dialer(options, slot, config.rpc_timeout, config.limits);
    let task = tokio::spawn(crate::poll::run(
        dial,
        config.interval,
        tx,
        want_rx,
        Arc::clone(&refresh),
    ));
    Opened {
        task,
        wanted,
        refresh,
        msgs,
    }
}

#[cfg(test)]
mod tests {
    use testkit::hostile_csds::{HostileCsds, Mode};

    use super::*;
    use crate::demo::DemoServer;

    async fn probe(addr: &str) -> Probed {
        let target = grpc_toolkit_conn::Target::parse(addr).expect("address");
        let options = ConnectOptions::plaintext(target, "fleet-test");
        let conn = grpc_toolkit_conn::connect(&options)
            .await
            .expect("connects");
        let api = Api::new(conn, Duration::from_secs(5));
        overview_probe()(api).await.expect("an overview")
    }

    /// The fleet screen's own poll (not the recording's snapshot) reads
    /// CSDS too: a member's NACKED and missing counts, `None` without CSDS.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_overview_probe_counts_nacked_and_missing() {
        let server = HostileCsds::new(Mode::ControlBytes).start().await;
        let xds = probe(server.addr()).await.summary.xds.expect("CSDS counts");
        // One NACKED; DOES_NOT_EXIST and TIMEOUT are missing; REQUESTED is not.
        assert_eq!((xds.nacked, xds.missing, xds.total), (1, 2, 8));
        // The demo's CSDS: one NACKED, one DOES_NOT_EXIST of six.
        let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
        let xds = probe(&demo.local_addr().to_string()).await.summary.xds;
        let xds = xds.expect("the demo's CSDS counts");
        assert_eq!((xds.nacked, xds.missing, xds.total), (1, 1, 6));
        demo.shutdown().await;
        let plain = testkit::channelz::start_without_csds().await;
        let summary = probe(plain.addr()).await.summary;
        assert_eq!(summary.xds, None);
        assert!(summary.channels() > 0);
    }
}
