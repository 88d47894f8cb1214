//! The fleet's I/O: one task per member, each owning its connection and
//! its backoff, woken once per interval by a "round" number.
//!
//! Why a task per member rather than one loop over members: a member that
//! hangs (accepts TCP, never answers) holds its own task until its RPC
//! deadline, while every other member's answer reaches the screen (or the
//! next JSON document) as soon as it arrives. A semaphore bounds how many
//! members dial or poll at once, so a hundred pods do not see a hundred
//! polls in the same instant. A member still busy when the next round
//! starts skips that round (its kick finds the mailbox full) instead of
//! queueing polls behind the one that hangs. A member holds its permit for
//! at most one interval ([`Polling::hold`]): past that it counts as hung and
//! its slot goes to the next member, so that more hung members than permits
//! still cannot stall the others.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use grpc_toolkit_conn::connect;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::resolve::Member;
use crate::outage::PollError;
use crate::poll::{Api, Limits, backoff};

/// Which member: the address and the ADDR it came from. Ordered by name,
/// then address, which is the fleet screen's "id" order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    /// The ADDR it came from.
    pub name: String,
    /// Its address.
    pub address: String,
}

impl MemberId {
    /// The id of `member`.
    pub fn of(member: &Member) -> Self {
        MemberId {
            name: member.name.clone(),
            address: member.address.clone(),
        }
    }
}

/// What one round gave for one member.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The member answered.
    Answer(T),
    /// Connected, but the poll failed (an RPC error, no Channelz service).
    Failed(String),
    /// No connection; the member's task retries by itself.
    Unreachable {
        /// Why (unescaped: whoever prints it escapes it).
        error: String,
        /// When the next attempt is due.
        retry_at: SystemTime,
    },
}

/// One member's result of one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<T> {
    /// Whose.
    pub id: MemberId,
    /// The round that asked for it.
    pub round: u64,
    /// When it completed.
    pub at: SystemTime,
    /// What it gave.
    pub outcome: Outcome<T>,
}

/// What a member's task asks of its server each round (an overview for
/// the screen, a full snapshot for JSON).
pub type Probe<T> =
    Arc<dyn Fn(Api) -> Pin<Box<dyn Future<Output = Result<T, PollError>> + Send>> + Send + Sync>;

/// How the member tasks poll.
pub struct Polling<T> {
    /// What to ask each round.
    pub probe: Probe<T>,
    /// Deadline of each RPC.
    pub rpc_timeout: Duration,
    /// The bounds of each snapshot.
    pub limits: Limits,
    /// Shared by every member: at most this many dial or poll at once.
    pub permits: Arc<Semaphore>,
    /// How long one poll may keep its permit (the interval).
    pub hold: Duration,
}

/// A member's live connection, shared so that opening the member's usual
/// screens reuses it (one connection per member) rather than dialing again.
pub type ApiSlot = Arc<Mutex<Option<Api>>>;

// By hand: a derive would ask for `T: Clone`, which the answers need not be.
impl<T> Clone for Polling<T> {
    fn clone(&self) -> Self {
        Polling {
            probe: Arc::clone(&self.probe),
            rpc_timeout: self.rpc_timeout,
            limits: self.limits,
            permits: Arc::clone(&self.permits),
            hold: self.hold,
        }
    }
}

/// A running member task and its mailbox.
struct Running {
    kick: mpsc::Sender<u64>,
    task: JoinHandle<()>,
    slot: ApiSlot,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The member tasks of a fleet, kept in step with what names resolve to.
pub struct Members<T> {
    polling: Polling<T>,
    reports: mpsc::UnboundedSender<Report<T>>,
    running: BTreeMap<MemberId, Running>,
}

impl<T: Send + 'static> Members<T> {
    /// No members yet; each reports into `reports`.
    pub fn new(polling: Polling<T>, reports: mpsc::UnboundedSender<Report<T>>) -> Self {
        Members {
            polling,
            reports,
            running: BTreeMap::new(),
        }
    }

    /// Starts a task for each new member and stops those of members no
    /// longer listed (dropping their connections). Returns who came and
    /// who went.
    pub fn reconcile(&mut self, members: &[Member]) -> (Vec<MemberId>, Vec<MemberId>) {
        let wanted: BTreeMap<MemberId, &Member> =
            members.iter().map(|m| (MemberId::of(m), m)).collect();
        let gone: Vec<MemberId> = self
            .running
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in &gone {
            self.running.remove(id);
        }
        let mut came = Vec::new();
        for (id, member) in wanted {
            if self.running.contains_key(&id) {
                continue;
            }
            // One pending round at most: a busy member skips rounds.
            let (kick, kicks) = mpsc::channel(1);
            let slot = ApiSlot::default();
            let task = tokio::spawn(member_task(
                (*member).clone(),
                self.polling.clone(),
                kicks,
                self.reports.clone(),
                Arc::clone(&slot),
            ));
            self.running
                .insert(id.clone(), Running { kick, task, slot });
            came.push(id);
        }
        (came, gone)
    }

    /// Asks every member for round `round`; returns those that will answer
    /// it (the others are still busy with an earlier round).
    pub fn kick(&self, round: u64) -> Vec<MemberId> {
        self.running
            .iter()
            .filter(|(_, r)| r.kick.try_send(round).is_ok())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The connection slot of member `id`.
    pub fn slot(&self, id: &MemberId) -> Option<ApiSlot> {
        self.running.get(id).map(|r| Arc::clone(&r.slot))
    }

    /// The members being watched, in id order.
    pub fn ids(&self) -> impl Iterator<Item = &MemberId> {
        self.running.keys()
    }

    /// How many members are being watched.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

/// One member's life: wait for a round, (re)connect unless backing off,
/// poll, report. Ends when its mailbox or the report channel is gone.
async fn member_task<T: Send + 'static>(
    member: Member,
    polling: Polling<T>,
    mut kicks: mpsc::Receiver<u64>,
    reports: mpsc::UnboundedSender<Report<T>>,
    slot: ApiSlot,
) {
    let id = MemberId::of(&member);
    let mut api: Option<Api> = None;
    let mut attempt: u32 = 0;
    // Until when the member backs off, and why.
    let mut backing_off: Option<(Instant, SystemTime, String)> = None;
    while let Some(round) = kicks.recv().await {
        let outcome =
            poll_member(&member, &polling, &mut api, &mut attempt, &mut backing_off).await;
        if let Ok(mut shared) = slot.lock() {
            shared.clone_from(&api);
        }
        let report = Report {
            id: id.clone(),
            round,
            at: SystemTime::now(),
            outcome,
        };
        if reports.send(report).is_err() {
            return;
        }
    }
}

async fn poll_member<T>(
    member: &Member,
    polling: &Polling<T>,
    api: &mut Option<Api>,
    attempt: &mut u32,
    backing_off: &mut Option<(Instant, SystemTime, String)>,
) -> Outcome<T> {
    if api.is_none()
        && let Some((until, retry_at, error)) = backing_off
        && Instant::now() < *until
    {
        return Outcome::Unreachable {
            error: error.clone(),
            retry_at: *retry_at,
        };
    }
    // Closed only if the semaphore is dropped, which it is not while a
    // task runs; then polling without a permit is the right fallback.
    let permit = Arc::clone(&polling.permits).acquire_owned().await.ok();
    holding_at_most(
        polling.hold,
        permit,
        dial_and_probe(member, polling, api, attempt, backing_off),
    )
    .await
}

/// Runs `work` holding `permit` for at most `hold`, then lets the permit go
/// and waits for `work` without it.
async fn holding_at_most<F: Future>(
    hold: Duration,
    permit: Option<OwnedSemaphorePermit>,
    work: F,
) -> F::Output {
    let mut work = std::pin::pin!(work);
    tokio::select! {
        out = &mut work => out,
        () = tokio::time::sleep(hold) => {
            drop(permit);
            work.await
        }
    }
}

async fn dial_and_probe<T>(
    member: &Member,
    polling: &Polling<T>,
    api: &mut Option<Api>,
    attempt: &mut u32,
    backing_off: &mut Option<(Instant, SystemTime, String)>,
) -> Outcome<T> {
    let connected = match api {
        Some(a) => a.clone(),
        None => match connect(&member.options).await {
            Ok(conn) => {
                *attempt = 0;
                *backing_off = None;
                let a = Api::new(conn, polling.rpc_timeout).with_limits(polling.limits);
                *api = Some(a.clone());
                a
            }
            Err(e) => {
                let wait = backoff(*attempt);
                *attempt = attempt.saturating_add(1);
                return back_off(backing_off, wait, format!("cannot connect: {e}"));
            }
        },
    };
    match (polling.probe)(connected).await {
        Ok(answer) => Outcome::Answer(answer),
        Err(e) if e.is_connection_loss() => {
            *api = None;
            back_off(backing_off, backoff(0), format!("connection lost: {e}"))
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// Backs the member off for `wait`: its row shows `error` until then.
fn back_off<T>(
    backing_off: &mut Option<(Instant, SystemTime, String)>,
    wait: Duration,
    error: String,
) -> Outcome<T> {
    let retry_at = SystemTime::now() + wait;
    *backing_off = Some((Instant::now() + wait, retry_at, error.clone()));
    Outcome::Unreachable { error, retry_at }
}

#[cfg(test)]
mod tests {
    use grpc_toolkit_conn::{ConnectOptions, Target};

    use super::*;
    use crate::demo::DemoServer;

    fn member(address: &str) -> Member {
        let target = Target::parse(address).expect("address");
        Member {
            address: address.into(),
            name: "test".into(),
            options: ConnectOptions::plaintext(target, "test"),
        }
    }

    fn polling() -> Polling<usize> {
        Polling {
            probe: Arc::new(|api: Api| {
                Box::pin(async move {
                    let budget = crate::poll::Budget::new(api.limits);
                    Ok(api.top_channels(&budget, &mut Vec::new()).await?.len())
                })
            }),
            rpc_timeout: Duration::from_secs(5),
            limits: Limits::default(),
            permits: Arc::new(Semaphore::new(2)),
            hold: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn members_come_go_answer_and_back_off_on_their_own() {
        let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
        let up = demo.local_addr().to_string();
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut members = Members::new(polling(), tx);
        let (came, gone) = members.reconcile(&[member(&up), member(&down)]);
        assert_eq!((came.len(), gone.len()), (2, 0));
        assert_eq!(members.kick(1).len(), 2);
        let mut outcomes = BTreeMap::new();
        for _ in 0..2 {
            let r = rx.recv().await.expect("a report");
            assert_eq!(r.round, 1);
            outcomes.insert(r.id.address.clone(), r.outcome);
        }
        assert!(
            matches!(outcomes[&up], Outcome::Answer(n) if n > 0),
            "{outcomes:?}"
        );
        let Outcome::Unreachable { error, .. } = &outcomes[&down] else {
            panic!("{outcomes:?}");
        };
        assert!(error.starts_with("cannot connect"), "{error}");
        // Within its backoff the dead member answers at once, without dialing.
        members.kick(2);
        let mut reports = Vec::new();
        for _ in 0..2 {
            reports.push(rx.recv().await.expect("a report"));
        }
        assert!(reports.iter().all(|r| r.round == 2));
        // A member that is no longer listed stops.
        let (came, gone) = members.reconcile(&[member(&up)]);
        assert_eq!((came.len(), gone.len()), (0, 1));
        assert_eq!(members.len(), 1);
        assert!(
            members
                .slot(&MemberId::of(&member(&up)))
                .is_some_and(|s| { s.lock().is_ok_and(|api| api.is_some()) })
        );
        demo.shutdown().await;
    }
}
