//! `--json` for a fleet: one document per interval,
//! `{"time": …, "members": [ … ]}`, each member being the one-target
//! document ([`Snapshot::write_json`]) with `"member"` (the address) and
//! `"name"` (the ADDR it came from) in front, or
//! `{"member", "name", "error"}`.
//!
//! Each member's snapshot is streamed as the one-target document is (one
//! entity's JSON tree in memory at a time); what is held is the snapshots
//! themselves, until the document of their interval is written. Rates
//! come from the same member's previous snapshot.
//!
//! With `--watch` a document is written every interval whoever has
//! answered by then: a member still busy (a hung server, a slow one with a
//! long `--rpc-timeout`) is written as an error for this interval and its
//! answer, when it comes, goes into the next document. Without `--watch`
//! the one document waits for every member (each bounded by the connect
//! timeout and the RPC deadlines).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

use super::FleetConfig;
use super::poll::{MemberId, Members, Outcome, Polling, Probe, Report};
use super::resolve::{Member, Resolver, merge, resolve_all};
use crate::exit::ExitStatus;
use crate::snapshot::{Counters, Snapshot};

/// One member's result of an interval, as a recorder wants it:
/// `(member address, name, snapshot or error)`.
pub type MemberResult<'a> = (&'a str, &'a str, Result<&'a Snapshot, &'a str>);

/// What the fleet JSON loop calls once per interval, after writing the
/// document, with every member's result: the hook a recorder uses.
pub type OnInterval<'a> = dyn FnMut(SystemTime, &[MemberResult<'_>]) + 'a;

/// Runs `--json` (one document) or `--json --watch` (one per interval) for
/// a fleet. Exit: 0 if any member answered, 3 if some connected but none
/// answered, 2 if none connected.
pub async fn run(
    fleet: &FleetConfig,
    resolver: Resolver,
    watch: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
    on_interval: &mut OnInterval<'_>,
) -> ExitStatus {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let probe: Probe<Snapshot> =
        Arc::new(|api| Box::pin(async move { crate::json::take(&api).await }));
    let mut members = Members::new(
        Polling {
            probe,
            rpc_timeout: fleet.rpc_timeout,
            limits: fleet.limits,
            permits: Arc::new(Semaphore::new(fleet.concurrency)),
            hold: fleet.interval,
        },
        tx,
    );
    let mut listed: Vec<Member> = Vec::new();
    let mut previous: HashMap<MemberId, Counters> = HashMap::new();
    // Answers not yet written: late ones wait here for the next document.
    let mut latest: BTreeMap<MemberId, Report<Snapshot>> = BTreeMap::new();
    let (mut answered, mut connected) = (false, false);
    let mut terminated = std::pin::pin!(crate::signals::termination());
    let resolve_timeout = fleet.interval.max(fleet.rpc_timeout);
    let mut round: u64 = 0;
    loop {
        round += 1;
        let started = Instant::now();
        let resolutions = tokio::select! {
            r = resolve_all(&fleet.names, fleet.resolve, &resolver, resolve_timeout) => r,
            () = &mut terminated => break,
        };
        let (now_listed, problems) = merge(resolutions, &listed);
        listed = now_listed;
        members.reconcile(&listed);
        // Command-line order, then address order within a name.
        let ids: Vec<MemberId> = listed.iter().map(MemberId::of).collect();
        let known: std::collections::HashSet<&MemberId> = ids.iter().collect();
        latest.retain(|id, _| known.contains(id));
        let mut waiting: std::collections::HashSet<MemberId> =
            members.kick(round).into_iter().collect();
        let deadline = tokio::time::Instant::from_std(started + fleet.interval);
        while !waiting.is_empty() {
            tokio::select! {
                report = rx.recv() => {
                    let Some(report) = report else { break };
                    if report.round == round {
                        waiting.remove(&report.id);
                    }
                    latest.insert(report.id.clone(), report);
                }
                () = tokio::time::sleep_until(deadline), if watch => break,
                () = &mut terminated => return finish(answered, connected, watch),
            }
        }
        while let Ok(report) = rx.try_recv() {
            latest.insert(report.id.clone(), report);
        }
        let reports: Vec<(MemberId, Option<Report<Snapshot>>)> = ids
            .into_iter()
            .map(|id| {
                let report = latest.remove(&id);
                (id, report)
            })
            .collect();
        for (_, report) in &reports {
            match report.as_ref().map(|r| &r.outcome) {
                Some(Outcome::Answer(_)) => (answered, connected) = (true, true),
                Some(Outcome::Failed(_)) => connected = true,
                _ => {}
            }
        }
        let time = SystemTime::now();
        let written = write_document(time, &reports, &problems, &listed, &mut previous, out);
        let results: Vec<MemberResult<'_>> = result_list(&reports, &problems, &listed);
        on_interval(time, &results);
        if written.is_err() {
            // A closed pipe (`| head -1`) ends the program quietly.
            break;
        }
        if !watch {
            let status = finish(answered, connected, false);
            if status != ExitStatus::Ok {
                let _ = writeln!(
                    err,
                    "channelz-tui: no member of {} answered",
                    grpc_toolkit_conn::escape::escape_cut(&fleet.title, 400)
                );
            }
            return status;
        }
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = &mut terminated => break,
        }
    }
    finish(answered, connected, watch)
}

/// How the run ends: the one-shot's codes; `--watch` ends on a signal or a
/// closed pipe, which is a normal end.
fn finish(answered: bool, connected: bool, watch: bool) -> ExitStatus {
    if watch || answered {
        ExitStatus::Ok
    } else if connected {
        ExitStatus::RpcFailure
    } else {
        ExitStatus::ConnectFailure
    }
}

/// The error text of a member without an answer this interval.
fn error_of(report: Option<&Report<Snapshot>>) -> Option<String> {
    match report.map(|r| &r.outcome) {
        Some(Outcome::Answer(_)) => None,
        Some(Outcome::Failed(e)) => Some(e.clone()),
        Some(Outcome::Unreachable { error, .. }) => Some(error.clone()),
        None => Some("no answer within the interval (its poll is still running)".into()),
    }
}

/// Names without any member (their lookup failed or found nothing).
fn memberless<'a>(
    problems: &'a [(String, String)],
    listed: &[Member],
) -> impl Iterator<Item = &'a (String, String)> {
    let names: std::collections::HashSet<String> = listed.iter().map(|m| m.name.clone()).collect();
    problems
        .iter()
        .filter(move |(name, _)| !names.contains(name))
}

fn result_list<'a>(
    reports: &'a [(MemberId, Option<Report<Snapshot>>)],
    problems: &'a [(String, String)],
    listed: &[Member],
) -> Vec<MemberResult<'a>> {
    let mut out: Vec<MemberResult<'a>> = reports
        .iter()
        .map(|(id, report)| {
            let result = match report.as_ref().map(|r| &r.outcome) {
                Some(Outcome::Answer(s)) => Ok(s),
                Some(Outcome::Failed(e)) => Err(e.as_str()),
                Some(Outcome::Unreachable { error, .. }) => Err(error.as_str()),
                None => Err("no answer within the interval (its poll is still running)"),
            };
            (id.address.as_str(), id.name.as_str(), result)
        })
        .collect();
    for (name, problem) in memberless(problems, listed) {
        out.push((name.as_str(), name.as_str(), Err(problem.as_str())));
    }
    out
}

/// Writes one document and a newline, streaming each snapshot; updates
/// `previous` with each answering member's counters.
fn write_document(
    time: SystemTime,
    reports: &[(MemberId, Option<Report<Snapshot>>)],
    problems: &[(String, String)],
    listed: &[Member],
    previous: &mut HashMap<MemberId, Counters>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(out);
    crate::json::write_fleet_head(&mut w, time)?;
    let mut first = true;
    let mut comma = |w: &mut dyn Write| -> std::io::Result<()> {
        if !std::mem::take(&mut first) {
            w.write_all(b",")?;
        }
        Ok(())
    };
    for (id, report) in reports {
        comma(&mut w)?;
        match report.as_ref().map(|r| &r.outcome) {
            Some(Outcome::Answer(snapshot)) => {
                crate::json::write_member(
                    &mut w,
                    &id.address,
                    &id.name,
                    Ok((snapshot, previous.get(id))),
                )?;
                previous.insert(id.clone(), snapshot.counters());
            }
            other => {
                let error = error_of(report.as_ref()).unwrap_or_default();
                if matches!(other, Some(Outcome::Unreachable { .. })) {
                    // A reconnect may land on a restarted process: its
                    // counters start over, so no rate spans the outage.
                    previous.remove(id);
                }
                crate::json::write_member(&mut w, &id.address, &id.name, Err(&error))?;
            }
        }
    }
    for (name, problem) in memberless(problems, listed) {
        comma(&mut w)?;
        // Keys in the order of every other entry: member, name, error.
        let name = Value::String(name.clone());
        write!(
            w,
            "{{\"member\":{name},\"name\":{name},\"error\":{}}}",
            Value::String(problem.clone())
        )?;
    }
    w.write_all(b"]")?;
    // Problems of names that do have members (cut at the member bound, a
    // failed lookup that kept the last members) would be lost otherwise.
    let notes: Vec<Value> = problems
        .iter()
        .filter(|(name, _)| listed.iter().any(|m| &m.name == name))
        .map(|(name, note)| serde_json::json!({ "name": name, "note": note }))
        .collect();
    if !notes.is_empty() {
        w.write_all(b",\"notes\":")?;
        serde_json::to_writer(&mut w, &notes)?;
    }
    w.write_all(b"}\n")?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_holds_answers_errors_and_memberless_names() {
        let id = |a: &str| MemberId {
            name: "n".into(),
            address: a.into(),
        };
        let at = SystemTime::UNIX_EPOCH;
        let reports = vec![
            (
                id("a:1"),
                Some(Report {
                    id: id("a:1"),
                    round: 1,
                    at,
                    outcome: Outcome::Answer(Snapshot::default()),
                }),
            ),
            (
                id("b:1"),
                Some(Report {
                    id: id("b:1"),
                    round: 1,
                    at,
                    outcome: Outcome::Unreachable {
                        error: "cannot connect: refused".into(),
                        retry_at: at,
                    },
                }),
            ),
            (id("c:1"), None),
        ];
        let problems = vec![(
            "gone:1".to_string(),
            "gone resolves to no addresses".to_string(),
        )];
        let mut out = Vec::new();
        let mut previous = HashMap::new();
        write_document(at, &reports, &problems, &[], &mut previous, &mut out).expect("written");
        let doc: Value = serde_json::from_slice(&out).expect("one JSON document");
        let members = doc["members"].as_array().expect("members");
        assert_eq!(members.len(), 4);
        assert_eq!(members[0]["member"], "a:1");
        assert_eq!(members[0]["name"], "n");
        assert_eq!(members[0]["target"], "a:1");
        assert!(members[0]["channels"].is_array());
        assert_eq!(members[1]["error"], "cannot connect: refused");
        assert!(
            members[2]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("still running")
        );
        assert_eq!(members[3]["member"], "gone:1");
        assert_eq!(doc["time"], "1970-01-01T00:00:00.000Z");
        assert!(previous.contains_key(&id("a:1")));
        assert!(
            doc.get("notes").is_none(),
            "no notes without problems of listed names"
        );

        // A listed name's problem (here: cut at the member bound) is a note.
        let listed = vec![Member {
            address: "a:1".into(),
            name: "n".into(),
            options: grpc_toolkit_conn::ConnectOptions::plaintext(
                grpc_toolkit_conn::Target::parse("a:1").expect("addr"),
                "test",
            ),
        }];
        let noted = vec![("n".to_string(), "n resolves to more than 1000".to_string())];
        let mut out = Vec::new();
        write_document(at, &reports, &noted, &listed, &mut previous, &mut out).expect("written");
        let doc: Value = serde_json::from_slice(&out).expect("one JSON document");
        assert_eq!(doc["members"].as_array().map(Vec::len), Some(3));
        assert_eq!(doc["notes"][0]["name"], "n");
        assert_eq!(previous.len(), 1, "the unreachable member has no counters");
        let results = result_list(&reports, &problems, &[]);
        assert!(results[0].2.is_ok());
        assert_eq!(results[3].0, "gone:1");
    }
}
