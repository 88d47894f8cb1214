//! Replaying without a terminal, and what replay and recording share with
//! the screens: `--replay FILE --json` (the last poll, or the one `--at`
//! names) and `--json --watch` (every poll, NDJSON), each document exactly
//! what the live `--json --watch` printed at that poll, rates included
//! (computed from the member's previous successful poll, as live); and the
//! messages a live poll would have given `update`, derived from a full
//! snapshot ([`messages`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grpc_toolkit_conn::escape::escape;
use grpc_toolkit_conn::parse_go_duration;
use grpc_toolkit_proto::channelz::v1::SocketRef;

use super::format::{HealthRecord, ServiceRecord};
use super::reader::{Poll, ReadError, Recording};
use crate::decode;
use crate::exit::ExitStatus;
use crate::model::{Focus, HealthReport, SERVER_SOCKETS_PAGE, ServerSocketsPage, ServiceHealth};
use crate::msg::{Details, Msg};
use crate::snapshot::{Counters, Snapshot};

/// A point of a recording, as `--at` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// An instant (RFC 3339).
    Time(SystemTime),
    /// A time after the first poll (`+DURATION`).
    Offset(Duration),
}

/// Parses `--at`: RFC 3339 (`2026-11-29T21:00:00Z`, `…+01:00`, with or
/// without a fraction) or `+DURATION` from the first poll (`+90s`, `+1h5m`).
pub fn parse_at(s: &str) -> Result<At, String> {
    if let Some(d) = s.strip_prefix('+') {
        return parse_go_duration(d)
            .map(At::Offset)
            .map_err(|e| format!("--at \"{s}\": {e}"));
    }
    parse_rfc3339(s).map(At::Time).ok_or_else(|| {
        format!(
            "--at \"{s}\": expected an RFC 3339 time (2026-11-29T21:00:00Z) or +DURATION (+90s)"
        )
    })
}

/// An RFC 3339 date-time as a time.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = s.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        for (k, c) in digits.bytes().take(9).enumerate() {
            nanos += i64::from(c - b'0') * 10i64.pow(8 - k as u32);
        }
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz.as_bytes()[3] == b':' =>
        {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            let sign = if tz.as_bytes()[0] == b'-' { -1 } else { 1 };
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let d = Duration::new(u64::try_from(secs).ok()?, u32::try_from(nanos).ok()?);
    UNIX_EPOCH.checked_add(d)
}

/// The record of a health report.
pub fn health_record(h: &HealthReport) -> HealthRecord {
    HealthRecord {
        status: h.overall.as_ref().ok().copied(),
        error: h.overall.as_ref().err().cloned(),
        listed: h.services.is_some(),
        services: h
            .services
            .iter()
            .flatten()
            .map(|s| ServiceRecord {
                name: s.name.clone(),
                status: s.status,
            })
            .collect(),
    }
}

/// The health report a record stores.
pub fn health_report(h: &HealthRecord) -> HealthReport {
    HealthReport {
        overall: match (h.status, &h.error) {
            (Some(s), _) => Ok(s),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err("not recorded".into()),
        },
        services: h.listed.then(|| {
            h.services
                .iter()
                .map(|s| ServiceHealth {
                    name: s.name.clone(),
                    status: s.status,
                })
                .collect()
        }),
    }
}

/// The messages a live poll focused on `focus` would have given `update`,
/// derived from a full snapshot: the overview, and every entity below it
/// as details (the screens find whatever they open already fetched), and
/// the poll's CSDS read for the xDS screen.
pub fn messages(snap: &Snapshot, focus: &Focus, time: SystemTime) -> Vec<Msg> {
    let at = snap.at.unwrap_or(time);
    let mut counts: Vec<(i64, usize)> = snap
        .server_sockets
        .iter()
        .map(|(id, s)| (*id, s.len()))
        .collect();
    counts.sort_unstable();
    let mut msgs = vec![
        Msg::Overview {
            at,
            channels: snap.channels.clone(),
            servers: snap.servers.clone(),
            server_socket_counts: counts,
            incomplete: snap.incomplete.clone(),
        },
        Msg::Details(details(snap, focus, at)),
    ];
    // The xDS screen reads the same poll's CSDS (absent in recordings made
    // before CSDS was recorded, and in overview-only replays).
    if let Some(poll) = &snap.xds {
        msgs.push(Msg::Xds {
            at,
            poll: poll.clone(),
        });
    }
    msgs
}

/// Every nested channel, subchannel and socket of `snap`, and the page of
/// server sockets `focus` asks for.
pub fn details(snap: &Snapshot, focus: &Focus, at: SystemTime) -> Details {
    fn sorted<T: Clone>(map: &HashMap<i64, T>) -> Vec<T> {
        let mut ids: Vec<&i64> = map.keys().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| map.get(id).cloned())
            .collect()
    }
    let mut server_sockets = Vec::new();
    if let Focus::Server { id, start } = focus {
        let all = snap.server_sockets.get(id).cloned().unwrap_or_default();
        let from: Vec<i64> = all.into_iter().filter(|s| s >= start).collect();
        let page = usize::try_from(SERVER_SOCKETS_PAGE).unwrap_or(100);
        server_sockets.push((
            *id,
            ServerSocketsPage {
                start: *start,
                end: from.len() <= page,
                refs: from
                    .iter()
                    .take(page)
                    .map(|&socket_id| SocketRef {
                        socket_id,
                        name: snap
                            .sockets
                            .get(&socket_id)
                            .and_then(|s| s.r#ref.as_ref())
                            .map(|r| r.name.clone())
                            .unwrap_or_default(),
                    })
                    .collect(),
            },
        ));
    }
    Details {
        at: Some(at),
        channels: sorted(&snap.nested),
        subchannels: sorted(&snap.subchannels),
        sockets: sorted(&snap.sockets),
        server_sockets,
        incomplete: Vec::new(),
    }
}

/// A poll's document: one member's as live `--json` prints it (its
/// `"error"` line when it failed), or several members' as the fleet
/// document `{"time", "members": [...]}`, each member's document with
/// `"member"` and `"name"` added (or `{"member", "name", "error"}`).
pub fn write_document(
    poll: &Poll,
    snapshots: &[Option<Snapshot>],
    previous: &HashMap<String, Counters>,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    if let ([m], [snap]) = (poll.members.as_slice(), snapshots) {
        return match (snap, &m.state) {
            (Some(s), _) => s.write_json(&m.name, previous.get(&m.member), w),
            (None, Err(e)) => serde_json::to_writer(w, &serde_json::json!({ "error": e }))
                .map_err(std::io::Error::other),
            (None, Ok(_)) => Ok(()),
        };
    }
    crate::json::write_fleet_head(w, poll.time)?;
    for (i, (m, snap)) in poll.members.iter().zip(snapshots).enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        let answer = match (snap, &m.state) {
            (Some(s), _) => Ok((s, previous.get(&m.member))),
            (None, Err(e)) => Err(e.as_str()),
            (None, Ok(_)) => Err(""),
        };
        crate::json::write_member(w, &m.member, &m.name, answer)?;
    }
    w.write_all(b"]}")
}

/// Each member's snapshot of `poll` (`None` for a failed member).
pub fn snapshots(poll: &Poll, rec: &Recording) -> Result<Vec<Option<Snapshot>>, ReadError> {
    poll.members
        .iter()
        .map(|m| match &m.state {
            Ok(state) => state.snapshot().map(Some).map_err(|e| ReadError::Corrupt {
                path: rec.path().to_string(),
                offset: rec.polls[poll.index].offset,
                detail: format!("member {:?}: {e}", m.member),
            }),
            Err(_) => Ok(None),
        })
        .collect()
}

/// The counters of each member's last successful poll before poll `i`,
/// for the rates of poll `i`. Reads back one keyframe group at a time
/// until every member is found or the recording's start.
pub fn counters_before(
    rec: &mut Recording,
    i: usize,
    members: &[String],
) -> Result<HashMap<String, Counters>, ReadError> {
    let mut found: HashMap<String, Counters> = HashMap::new();
    let mut end = i;
    while end > 0 && members.iter().any(|m| !found.contains_key(m)) {
        let start = rec.keyframe_of(end - 1);
        let mut group: HashMap<String, Counters> = HashMap::new();
        let mut poll = rec.poll(start)?;
        loop {
            let snaps = snapshots(&poll, rec)?;
            for (m, snap) in poll.members.iter().zip(snaps) {
                if let Some(s) = snap
                    && members.contains(&m.member)
                {
                    group.insert(m.member.clone(), s.counters());
                }
            }
            if poll.index + 1 >= end {
                break;
            }
            poll = rec.advance(poll)?;
        }
        for (m, c) in group {
            found.entry(m).or_insert(c);
        }
        end = start;
    }
    Ok(found)
}

fn truncation_note(rec: &Recording, err: &mut dyn Write) {
    if let Some(at) = rec.truncated_at {
        let _ = writeln!(
            err,
            "channelz-tui: note: {} ends in a poll cut off at byte {at} (the recorder stopped while writing it); replayed {} complete polls",
            escape(rec.path()),
            rec.len()
        );
    }
}

/// `--replay FILE --json [--watch] [--at T]`.
pub fn json(
    path: &Path,
    at: Option<At>,
    watch: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitStatus {
    match json_inner(path, at, watch, out, err) {
        Ok(status) => status,
        Err(e) => {
            let _ = writeln!(err, "channelz-tui: {}", escape(&e.to_string()));
            ExitStatus::Usage
        }
    }
}

fn print(
    poll: &Poll,
    snaps: &[Option<Snapshot>],
    previous: &HashMap<String, Counters>,
    out: &mut dyn Write,
) -> bool {
    let mut buf = std::io::BufWriter::new(&mut *out);
    write_document(poll, snaps, previous, &mut buf)
        .and_then(|()| buf.write_all(b"\n"))
        .and_then(|()| buf.flush())
        .is_ok()
}

fn json_inner(
    path: &Path,
    at: Option<At>,
    watch: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitStatus, ReadError> {
    let mut rec = Recording::open(path)?;
    truncation_note(&rec, err);
    if watch {
        let mut previous: HashMap<String, Counters> = HashMap::new();
        let mut poll = rec.poll(0)?;
        loop {
            let snaps = snapshots(&poll, &rec)?;
            // A closed pipe (`| head -1`) ends the replay quietly.
            if !print(&poll, &snaps, &previous, out) {
                return Ok(ExitStatus::Ok);
            }
            for (m, snap) in poll.members.iter().zip(&snaps) {
                if let Some(s) = snap {
                    previous.insert(m.member.clone(), s.counters());
                }
            }
            if poll.index + 1 >= rec.len() {
                return Ok(ExitStatus::Ok);
            }
            poll = rec.advance(poll)?;
        }
    }
    let i = match at {
        None => rec.len() - 1,
        Some(at) => {
            let t = match at {
                At::Time(t) => t,
                // Past the end of time is past the last poll.
                At::Offset(d) => rec
                    .time(0)
                    .checked_add(d)
                    .unwrap_or(UNIX_EPOCH + Duration::from_nanos(i64::MAX as u64)),
            };
            match rec.at_or_before(t) {
                Some(i) => i,
                None => {
                    let _ = writeln!(
                        err,
                        "channelz-tui: no poll at or before {} in {}: it starts at {}",
                        decode::rfc3339(t),
                        escape(rec.path()),
                        decode::rfc3339(rec.time(0))
                    );
                    return Ok(ExitStatus::Usage);
                }
            }
        }
    };
    let poll = rec.poll(i)?;
    let members: Vec<String> = poll.members.iter().map(|m| m.member.clone()).collect();
    let snaps = snapshots(&poll, &rec)?;
    let previous = counters_before(&mut rec, i, &members)?;
    print(&poll, &snaps, &previous, out);
    Ok(ExitStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_takes_rfc3339_and_offsets() {
        let t = |s: &str| match parse_at(s) {
            Ok(At::Time(t)) => t.duration_since(UNIX_EPOCH).expect("after 1970"),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            t("2023-11-14T22:13:20Z"),
            Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            t("2023-11-14T23:13:20.5+01:00"),
            Duration::from_millis(1_700_000_000_500)
        );
        assert_eq!(t("1970-01-01T00:00:00Z"), Duration::ZERO);
        assert_eq!(
            t("2024-02-29T12:34:56.789Z"),
            Duration::from_millis(1_709_210_096_789)
        );
        assert_eq!(parse_at("+90s"), Ok(At::Offset(Duration::from_secs(90))));
        for bad in [
            "yesterday",
            "2023-13-01T00:00:00Z",
            "+5x",
            "2023-11-14T22:13:20",
            "",
        ] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }
}
