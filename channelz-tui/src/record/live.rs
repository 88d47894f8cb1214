//! The dashboard's poller when it records (`channelz-tui ADDR --record
//! FILE`). It owns the connection like [`poll::run`](crate::poll::run)
//! (`Connected` / `Disconnected(backoff)`), but each interval it takes a
//! full snapshot ([`json::take`]): every entity goes to the recording, and
//! the screens get the messages a live poll would have sent, derived from
//! it ([`replay::messages`]). A change of screen needs no new poll: the
//! snapshot has what the new screen shows.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::replay;
use super::writer::Recorder;
use crate::json;
use crate::msg::Msg;
use crate::poll::{self, AfterFailure, Dialer, Wanted};
use crate::snapshot::Snapshot;

/// Where the dashboard records to, and what it calls the member.
#[derive(Debug)]
pub struct Sink {
    /// The open recording.
    pub recorder: Recorder,
    /// The member's address and name (the ADDR).
    pub member: String,
}

impl Sink {
    /// Writes one poll; on failure stops recording and returns the message
    /// that tells the screen.
    fn record(
        slot: &mut Option<Sink>,
        result: Result<&Snapshot, &str>,
        health: Option<&crate::model::HealthReport>,
    ) -> Option<Msg> {
        let rec = slot.as_mut()?;
        let member = rec.member.clone();
        let written = rec.recorder.write_poll_with_health(
            SystemTime::now(),
            &[(member.as_str(), member.as_str(), result, health)],
        );
        let e = written.err()?;
        *slot = None;
        Some(Msg::PollFailed(format!(
            "cannot write the recording (recording stopped): {e}"
        )))
    }

    /// [`Sink::record`], telling the screen when the recording stopped.
    async fn write(
        slot: &mut Option<Sink>,
        tx: &mpsc::Sender<Msg>,
        result: Result<&Snapshot, &str>,
        health: Option<&crate::model::HealthReport>,
    ) {
        if let Some(msg) = Sink::record(slot, result, health) {
            let _ = tx.send(msg).await;
        }
    }
}

/// The recording poller: like [`poll::run`](crate::poll::run), with a full
/// snapshot per interval written to `recording`. Ends when the receiving
/// side is gone.
pub async fn run(
    dial: Dialer,
    interval: std::time::Duration,
    tx: mpsc::Sender<Msg>,
    mut wanted: watch::Receiver<Wanted>,
    refresh: Arc<Notify>,
    recording: Sink,
) {
    let mut slot = Some(recording);
    let name = slot.as_ref().map(|r| r.member.clone()).unwrap_or_default();
    loop {
        let record_failure = |error: &grpc_toolkit_conn::ConnectError| {
            let text = format!("cannot connect to {name}: {error}");
            Sink::record(&mut slot, Err(&text), None)
        };
        let Some(api) = poll::connect(&dial, &tx, &refresh, record_failure).await else {
            return;
        };
        let mut last: Option<Snapshot> = None;
        loop {
            let want = wanted.borrow_and_update().clone();
            if !want.paused {
                match json::take(&api).await {
                    Ok(snap) => {
                        let health = api.health().await;
                        Sink::write(&mut slot, &tx, Ok(&snap), Some(&health)).await;
                        let mut msgs = replay::messages(&snap, &want.focus, SystemTime::now());
                        msgs.push(Msg::Health(health));
                        for msg in msgs {
                            if tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                        last = Some(snap);
                    }
                    Err(e) => {
                        let text = e.to_string();
                        Sink::write(&mut slot, &tx, Err(&text), None).await;
                        match poll::report_failure(&tx, e).await {
                            AfterFailure::KeepPolling => {}
                            AfterFailure::Reconnect => break,
                            AfterFailure::Stop => return,
                        }
                    }
                }
            }
            let next = Instant::now() + interval;
            let mut paused = want.paused;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => break,
                    _ = refresh.notified() => break,
                    changed = wanted.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = wanted.borrow_and_update().clone();
                        if paused && !now.paused {
                            // Resumed: poll now, as the live poller does.
                            break;
                        }
                        paused = now.paused;
                        let want = now;
                        if let (Some(snap), false) = (&last, want.paused) {
                            let at = snap.at.unwrap_or_else(SystemTime::now);
                            let details = replay::details(snap, &want.focus, at);
                            if tx.send(Msg::Details(details)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}
