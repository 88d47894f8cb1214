//! Recording round trips, keyframes, and damaged or foreign files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::delta::MemberState;
use super::format::{HEAD_LEN, KEYFRAME_EVERY, PREAMBLE_LEN};
use super::reader::{ReadError, Recording};
use super::synthetic::Synthetic;
use super::writer::Recorder;
use crate::snapshot::Snapshot;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("channelz-tui-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn synthetic(channels: i64, busy: i64) -> Synthetic {
    Synthetic {
        channels,
        busy,
        start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        interval: Duration::from_secs(1),
    }
}

/// The snapshot of poll `n` of a small server whose entities come and go,
/// with a failed poll now and then.
fn varied(n: u64) -> Result<Snapshot, String> {
    if n % 23 == 7 {
        return Err(format!("GetTopChannels: unavailable (poll {n})"));
    }
    let mut s = synthetic(6 + (n % 5) as i64, 3).snapshot(n);
    if n.is_multiple_of(3) {
        s.sockets.retain(|id, _| id % 2 == 0);
        s.incomplete.push(crate::model::Incomplete::new(
            "socket 9",
            crate::model::CutReason::NotFound,
            "gone",
        ));
    }
    // The CSDS read changes every other poll, through every kind: not
    // asked (a change back to none), unsupported, a status, a failure.
    s.xds = match (n / 2) % 4 {
        0 => None,
        1 => Some(crate::xds::XdsPoll::Unsupported),
        2 => Some(xds_with_nacks(usize::try_from(n % 3).expect("small"))),
        _ => Some(crate::xds::XdsPoll::Failed(format!("deadline {n}"))),
    };
    Ok(s)
}

fn write(path: &Path, polls: u64, snap: impl Fn(u64) -> Result<Snapshot, String>) -> Vec<u64> {
    let mut rec = Recorder::create(path, &["a:1".into()], Duration::from_secs(1)).expect("create");
    let mut ends = Vec::new();
    for n in 0..polls {
        let s = snap(n);
        let result = s.as_ref().map_err(String::as_str);
        rec.write_poll(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + n),
            &[("a:1", "a:1", result)],
        )
        .expect("write");
        ends.push(std::fs::metadata(path).expect("size").len());
    }
    ends
}

fn json(s: &Snapshot) -> String {
    s.to_json("a:1", None).to_string()
}

#[test]
fn every_poll_replays_as_recorded_and_a_seek_applies_fewer_than_60_deltas() {
    let path = temp("round-trip.rec");
    let polls = 150;
    write(&path, polls, varied);
    let mut rec = Recording::open(&path).expect("open");
    assert_eq!(rec.len(), polls as usize);
    assert_eq!(rec.truncated_at, None);
    assert_eq!(rec.header.targets, ["a:1"]);
    let check = |i: u64, poll: &super::reader::Poll| match (varied(i), &poll.members[0].state) {
        (Ok(want), Ok(state)) => {
            assert_eq!(*state, MemberState::of(&want), "poll {i}");
            if i.is_multiple_of(13) {
                let got = state.snapshot().expect("decodes");
                assert_eq!(json(&got), json(&want), "poll {i}");
            }
        }
        (Err(want), Err(got)) => assert_eq!(&want, got),
        (want, got) => panic!("poll {i}: {want:?} vs {got:?}"),
    };
    // Stepping forward, one delta at a time.
    let mut poll = rec.poll(0).expect("poll 0");
    check(0, &poll);
    for i in 1..polls {
        poll = rec.advance(poll).expect("advance");
        check(i, &poll);
    }
    // Seeking: from the keyframe, fewer than 60 deltas.
    let mut most = 0;
    for i in (0..polls).rev().step_by(5).chain([59, 60, 119, 120]) {
        let poll = rec.poll(i as usize).expect("poll");
        most = most.max(rec.last_deltas);
        assert!(
            rec.last_deltas < KEYFRAME_EVERY,
            "poll {i}: {}",
            rec.last_deltas
        );
        check(i, &poll);
    }
    assert_eq!(most, KEYFRAME_EVERY - 1);
    assert_eq!(
        rec.at_or_before(rec.time(10) + Duration::from_millis(500)),
        Some(10)
    );
    assert_eq!(rec.at_or_before(rec.time(0) - Duration::from_secs(1)), None);
}

#[test]
fn several_members_each_keep_their_own_deltas() {
    let path = temp("members.rec");
    let mut rec = Recorder::create(&path, &["svc".into()], Duration::from_secs(1)).expect("create");
    let a = synthetic(4, 2);
    let b = synthetic(3, 1);
    for n in 0..70u64 {
        let sa = a.snapshot(n);
        let sb = b.snapshot(n * 2);
        let mut members = vec![("10.0.0.1:50051", "svc", Ok(&sa))];
        if n % 4 != 1 {
            members.push(("10.0.0.2:50051", "svc", Ok(&sb)));
        } else {
            members.push(("10.0.0.2:50051", "svc", Err("connection refused")));
        }
        rec.write_poll(SystemTime::now(), &members).expect("write");
    }
    drop(rec);
    let mut rec = Recording::open(&path).expect("open");
    let poll = rec.poll(66).expect("poll");
    assert_eq!(poll.members.len(), 2);
    assert_eq!(
        poll.members[0].state.as_ref().ok(),
        Some(&MemberState::of(&a.snapshot(66)))
    );
    assert_eq!(
        poll.members[1].state.as_ref().ok(),
        Some(&MemberState::of(&b.snapshot(132)))
    );
    let poll = rec.poll(65).expect("poll");
    assert_eq!(
        poll.members[1].state.as_ref().err().map(String::as_str),
        Some("connection refused")
    );
}

#[test]
fn a_file_cut_anywhere_in_its_last_poll_replays_the_polls_before() {
    let path = temp("cut.rec");
    let ends = write(&path, 5, varied);
    let bytes = std::fs::read(&path).expect("read");
    let cut_path = temp("cut-short.rec");
    for len in ends[3]..ends[4] {
        std::fs::write(&cut_path, &bytes[..len as usize]).expect("write");
        let rec = Recording::open(&cut_path).expect("a cut file opens");
        assert_eq!(rec.len(), 4, "cut at {len}");
        let want = (len > ends[3]).then_some(ends[3]);
        assert_eq!(rec.truncated_at, want, "cut at {len}");
    }
    // Cut inside the first poll: nothing to replay, and it says why.
    std::fs::write(&cut_path, &bytes[..ends[0] as usize - 1]).expect("write");
    let e = Recording::open(&cut_path).expect_err("no poll");
    assert!(e.to_string().contains("no complete poll"), "{e}");
}

#[test]
fn any_flipped_byte_is_an_error_naming_where() {
    let path = temp("flip.rec");
    write(&path, 3, |n| Ok(synthetic(2, 1).snapshot(n)));
    let bytes = std::fs::read(&path).expect("read");
    let flipped = temp("flipped.rec");
    for at in 0..bytes.len() {
        {
            let bit = 1u8 << (at % 8);
            let mut damaged = bytes.clone();
            damaged[at] ^= bit;
            std::fs::write(&flipped, &damaged).expect("write");
            let e = Recording::open(&flipped).expect_err("damage is found");
            let text = e.to_string();
            match e {
                ReadError::Corrupt { offset, .. } => {
                    assert!(offset <= at as u64, "byte {at}: {text}");
                    assert!(text.contains(&format!("byte {offset}")), "{text}");
                }
                ReadError::Foreign { .. } => assert!(at < 8, "byte {at}: {text}"),
                ReadError::Newer { .. } => assert!((8..10).contains(&at), "byte {at}: {text}"),
                other => panic!("byte {at}: {other}"),
            }
        }
    }
}

#[test]
fn foreign_and_newer_files_are_refused_in_one_line() {
    let path = temp("foreign.rec");
    for (content, words) in [
        (
            &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
            "\\x89PNG\\x0d\\x0a\\x1a\\x0a",
        ),
        (b"hello, this is text\n", "hello, t"),
        (b"", "found \"\""),
    ] {
        std::fs::write(&path, content).expect("write");
        let e = Recording::open(&path).expect_err("foreign");
        let text = e.to_string();
        assert!(
            text.contains("is not a channelz-tui recording (byte 0"),
            "{text}"
        );
        assert!(text.contains(words), "{text}");
        assert!(!text.contains('\n'));
    }
    let mut newer = b"CZTUIREC".to_vec();
    newer.extend_from_slice(&7u16.to_le_bytes());
    newer.extend_from_slice(&[0; 40]);
    std::fs::write(&path, &newer).expect("write");
    let e = Recording::open(&path).expect_err("newer");
    assert!(e.to_string().contains("format version 7"), "{e}");
    assert!(e.to_string().contains("reads up to version 1"), "{e}");
    assert_eq!(PREAMBLE_LEN as usize + HEAD_LEN, 31);
}

#[test]
fn a_huge_frame_length_is_refused_before_anything_is_allocated() {
    use super::format::{Head, MAGIC, VERSION};
    let path = temp("huge.rec");
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    let head = Head {
        len: u32::MAX,
        kind: 0,
        time: 0,
        crc: 0,
    };
    bytes.extend_from_slice(&head.encode());
    std::fs::write(&path, &bytes).expect("write");
    let e = Recording::open(&path).expect_err("refused");
    assert!(e.to_string().contains("damaged at byte 10"), "{e}");
}

#[test]
fn a_busy_server_records_small_deltas() {
    let path = temp("busy.rec");
    let s = synthetic(200, 20);
    let ends = write(&path, 61, |n| Ok(s.snapshot(n)));
    let keyframe = ends[0];
    let delta = (ends[59] - ends[0]) / 59;
    // A delta holds the busy entities' changed bytes only.
    assert!(delta * 4 < keyframe, "keyframe {keyframe}, delta {delta}");
}

#[test]
fn the_replay_screens_step_and_jump_with_the_timeline_below() {
    use super::timeline::{Player, TimelineAction};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    let path = temp("screens.rec");
    write(&path, 130, |n| Ok(synthetic(5, 2).snapshot(n)));
    let mut player = Player::open(&path).expect("opens");
    let mut term = Terminal::new(TestBackend::new(120, 30)).expect("terminal");
    let mut screen = |player: &Player| {
        term.draw(|f| super::timeline::draw(&player.model, &player.timeline, f))
            .expect("draws");
        let buf = term.backend().buffer().clone();
        (0..buf.area.height)
            .map(|y| {
                (0..buf.area.width)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let s = screen(&player);
    assert!(s.contains("poll 1/130 ") && s.contains("⏸ paused"), "{s}");
    assert!(
        s.lines().last().is_some_and(|l| l.contains("replay")),
        "{s}"
    );
    let key = |c: char| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    player.key(key('.')).expect("step");
    assert!(screen(&player).contains("poll 2/130 "));
    // Rates from two recorded polls: 50 calls a second on the busy ones.
    let rate = player
        .model
        .history
        .get(&crate::model::EntityId::Channel(1))
        .and_then(|h| h.rates())
        .map(|r| r.calls_per_sec);
    assert!(rate.is_some_and(|r| (40.0..70.0).contains(&r)), "{rate:?}");
    // A jump far ahead rebuilds the history from the polls before it.
    player.act(TimelineAction::End).expect("end");
    let s = screen(&player);
    assert!(s.contains("poll 130/130 "), "{s}");
    let samples = player.model.history[&crate::model::EntityId::Channel(1)]
        .samples
        .len();
    assert_eq!(samples, super::timeline::WARMUP + 1);
    // The screens keep their keys: into a channel, and it stays open
    // across polls.
    player
        .key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
        .expect("enter");
    player.key(key(',')).expect("back one");
    let s = screen(&player);
    assert!(
        s.contains("overview › channel 1") && s.contains("poll 129/130 "),
        "{s}"
    );
    // Jump by time, and a bad time is a note, not a failure.
    for c in ":+3s\r".chars() {
        let k = if c == '\r' {
            KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)
        } else {
            key(c)
        };
        player.key(k).expect("jump");
    }
    assert!(screen(&player).contains("poll 4/130 "));
    for c in ":later".chars() {
        player.key(key(c)).expect("typing");
    }
    assert!(screen(&player).contains("jump to: later"));
    player
        .key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
        .expect("bad jump");
    assert!(screen(&player).contains("\"later\""));
    player.key(key('?')).expect("help");
    assert!(screen(&player).contains("replay: play or pause"));
}

#[test]
fn inflating_stops_at_the_limit() {
    use flate2::Compression;
    use flate2::write::DeflateEncoder;
    use std::io::Write;
    let mut bomb = DeflateEncoder::new(Vec::new(), Compression::best());
    bomb.write_all(&vec![0u8; 4 << 20]).expect("compress");
    let bomb = bomb.finish().expect("compress");
    assert!(bomb.len() < 8192, "{}", bomb.len());
    let e = super::reader::inflate(&bomb, 1 << 20).expect_err("refused");
    assert!(e.contains("more than 1048576 bytes"), "{e}");
    assert_eq!(
        super::reader::inflate(&bomb, 4 << 20).map(|v| v.len()),
        Ok(4 << 20)
    );
    assert!(super::reader::inflate(b"not deflate at all", 1 << 20).is_err());
}

#[test]
fn text_from_a_recording_is_escaped_before_the_terminal() {
    let path = temp("hostile.rec");
    let evil = "\x1b]0;pwned\x07\x1b[2J";
    let mut rec = Recorder::create(&path, &[evil.into()], Duration::from_secs(1)).expect("create");
    let snap = synthetic(2, 1).snapshot(0);
    rec.write_poll(SystemTime::now(), &[(evil, evil, Ok(&snap))])
        .expect("write");
    rec.write_poll(SystemTime::now(), &[(evil, evil, Err(evil))])
        .expect("write");
    drop(rec);
    let mut player = super::timeline::Player::open(&path).expect("opens");
    assert!(
        !player.model.target.contains('\x1b'),
        "{:?}",
        player.model.target
    );
    player
        .act(super::timeline::TimelineAction::Step(1))
        .expect("step");
    let error = player.model.last_error.clone().unwrap_or_default();
    assert!(!error.is_empty() && !error.contains('\x1b'), "{error:?}");
}

#[test]
fn several_members_replay_as_the_fleet_document() {
    let path = temp("fleet.rec");
    let mut rec =
        Recorder::create(&path, &["svc:50051".into()], Duration::from_secs(1)).expect("create");
    let s = synthetic(2, 1);
    for n in 0..3u64 {
        let (a, b) = (s.snapshot(n), s.snapshot(n + 10));
        rec.write_poll(
            s.start + Duration::from_secs(n),
            &[
                ("10.0.0.1:50051", "svc:50051", Ok(&a)),
                ("10.0.0.2:50051", "svc:50051", Ok(&b)),
                ("10.0.0.3:50051", "svc:50051", Err("connection refused")),
            ],
        )
        .expect("write");
    }
    drop(rec);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = super::replay::json(&path, None, true, &mut out, &mut err);
    assert_eq!(status, crate::ExitStatus::Ok);
    assert!(err.is_empty());
    let docs: Vec<serde_json::Value> = String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(docs.len(), 3);
    let last = &docs[2];
    assert_eq!(
        last["time"], "2023-11-14T22:13:22.000Z",
        "milliseconds, as live"
    );
    let members = last["members"].as_array().expect("members");
    assert_eq!(members.len(), 3);
    assert_eq!(members[0]["member"], "10.0.0.1:50051");
    assert_eq!(members[0]["name"], "svc:50051");
    assert_eq!(members[0]["target"], "10.0.0.1:50051");
    assert!(members[1]["channels"][0]["rates"]["callsPerSecond"].is_number());
    assert_eq!(members[2]["error"], "connection refused");
    assert_eq!(members[2]["name"], "svc:50051");
}

/// A fleet recording replays into the rows the live fleet screen showed
/// for the same polls: step by step, and after a jump.
#[test]
fn a_fleet_recording_replays_into_the_live_fleet_rows() {
    use super::fleet::FleetPlayer;
    use super::timeline::{Replay, TimelineAction};
    use crate::fleet::model::{FleetModel, Summary};
    use crate::fleet::poll::{MemberId, Outcome, Report};
    use crate::fleet::update::{FleetMsg, update};
    use crate::model::HealthReport;

    let path = temp("fleet-screen.rec");
    let members = [("10.0.0.1:1", "a:1", 4, 2), ("10.0.0.2:1", "b:1", 7, 5)];
    let interval = Duration::from_secs(1);
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let health = HealthReport {
        overall: Ok(1),
        services: None,
    };
    let names: Vec<String> = members.iter().map(|m| m.1.to_string()).collect();
    let mut recorder = Recorder::create(&path, &names, interval).expect("create");
    let mut live = FleetModel::new(names.join(" "), interval, start);
    let polls = 6u64;
    let mut shown = Vec::new();
    for n in 0..polls {
        let at = start + interval * u32::try_from(n).expect("small");
        let results: Vec<Result<Snapshot, String>> = members
            .iter()
            .enumerate()
            .map(|(k, &(_, _, channels, busy))| {
                // The second member fails one poll and keeps its figures.
                if k == 1 && n == 3 {
                    Err("GetTopChannels: unavailable".to_string())
                } else {
                    let mut snapshot = synthetic(channels, busy).snapshot(n);
                    // CSDS too: the first member's NACKs come and go, the
                    // second serves none.
                    snapshot.xds = Some(if k == 0 {
                        xds_with_nacks(usize::try_from(n % 3).expect("small"))
                    } else {
                        crate::xds::XdsPoll::Unsupported
                    });
                    Ok(snapshot)
                }
            })
            .collect();
        let polled: Vec<_> = members
            .iter()
            .zip(&results)
            .map(|(m, r)| {
                (
                    m.0,
                    m.1,
                    r.as_ref().map_err(String::as_str),
                    r.is_ok().then_some(&health),
                )
            })
            .collect();
        recorder.write_poll_with_health(at, &polled).expect("write");
        let ids: Vec<MemberId> = members
            .iter()
            .map(|m| MemberId {
                name: m.1.into(),
                address: m.0.into(),
            })
            .collect();
        update(&mut live, FleetMsg::Tick(at));
        update(
            &mut live,
            FleetMsg::Resolved {
                at,
                members: ids.clone(),
                problems: Vec::new(),
            },
        );
        for (id, r) in ids.into_iter().zip(&results) {
            let outcome = match r {
                Ok(s) => Outcome::Answer(Summary::of_snapshot(s, &health)),
                Err(e) => Outcome::Failed(e.clone()),
            };
            update(
                &mut live,
                FleetMsg::Report(Report {
                    id,
                    round: n,
                    at,
                    outcome,
                }),
            );
        }
        update(&mut live, FleetMsg::RoundEnd);
        shown.push((live.rows.clone(), live.fleet_rates.clone()));
    }
    drop(recorder);

    let mut player = FleetPlayer::open(&path).expect("opens");
    for (n, (rows, rates)) in shown.iter().enumerate() {
        if n > 0 {
            player.act(TimelineAction::Step(1)).expect("steps");
        }
        assert_eq!(player.timeline.index, n);
        assert_eq!(&player.model.rows, rows, "poll {n}");
        assert_eq!(&player.model.fleet_rates, rates, "poll {n}");
    }
    // A jump rebuilds the same rows.
    player.act(TimelineAction::Start).expect("jumps");
    player.act(TimelineAction::End).expect("jumps");
    let (rows, rates) = shown.last().expect("polls");
    assert_eq!(&player.model.rows, rows);
    assert_eq!(&player.model.fleet_rates, rates);
    assert_eq!(player.model.rows.len(), 2);
    assert!(player.model.rows.values().all(|r| r.last.is_some()));
    let xds: Vec<_> = player
        .model
        .rows
        .values()
        .map(|r| r.last.and_then(|s| s.xds).map(|x| x.nacked))
        .collect();
    // Poll 5: 5 % 3 = 2 NACKs on the first member; none read on the second.
    assert!(xds.contains(&Some(2)) && xds.contains(&None), "{xds:?}");
}

/// A CSDS read with `nacked` NACKED clusters and one ACKED listener.
fn xds_with_nacks(nacked: usize) -> crate::xds::XdsPoll {
    use grpc_toolkit_channelz_client::csds::{Failure, Resource, Scope, Summary, XdsStatus};
    use grpc_toolkit_proto::envoy::admin::v3::ClientResourceStatus;
    let resource = |name: String, status| Resource {
        type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
        name,
        status,
        version: "1".into(),
        last_updated: Some(1_700_000_000),
        failure: (status == ClientResourceStatus::Nacked).then(|| Failure {
            version: "2".into(),
            details: "bad".into(),
            at: Some(1_700_000_001),
        }),
        summary: Summary::None,
    };
    let mut resources: Vec<_> = (0..nacked)
        .map(|i| resource(format!("c{i}"), ClientResourceStatus::Nacked))
        .collect();
    resources.push(resource("l".into(), ClientResourceStatus::Acked));
    crate::xds::XdsPoll::Status(XdsStatus {
        scopes: vec![Scope {
            client_scope: "xds:/svc".into(),
            node_id: "n".into(),
            resources,
        }],
        dropped: 0,
    })
}

/// Member names from a recording reach the fleet screen escaped, and
/// Enter still finds the member they stand for.
#[test]
fn a_fleet_recording_s_member_names_are_escaped() {
    use super::fleet::FleetPlayer;
    use super::timeline::Replay;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    let path = temp("fleet-escaped.rec");
    let evil = "10.0.0.1:1\x1b[2J";
    let names = vec!["a:1".to_string(), "b:1".to_string()];
    let mut recorder = Recorder::create(&path, &names, Duration::from_secs(1)).expect("create");
    let snap = synthetic(2, 1).snapshot(0);
    recorder
        .write_poll(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            &[
                (evil, "a:1", Ok(&snap)),
                ("10.0.0.2:1", "b:1", Err("down\x07")),
            ],
        )
        .expect("write");
    drop(recorder);
    let mut player = FleetPlayer::open(&path).expect("opens");
    assert!(
        player
            .model
            .rows
            .values()
            .all(|r| !r.id.address.contains('\x1b') && !r.status.text().contains('\x07')),
        "{:?}",
        player.model.rows
    );
    player
        .key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
        .expect("opens the member");
    let member = player.member.as_ref().expect("a member's replay");
    assert_eq!(member.timeline.member.0, 0);
    assert!(
        !member.model.target.contains('\x1b'),
        "{}",
        member.model.target
    );
    player
        .key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE))
        .expect("back");
    assert!(player.member.is_none());
}

/// `?` on a fleet replay lists the timeline's keys and the fleet screen's,
/// not the one-target screens' (and not `r`: a replay polls nothing).
#[test]
fn fleet_replay_help_lists_the_fleet_keys() {
    use super::fleet::FleetPlayer;
    use super::timeline::Replay;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::{Terminal, backend::TestBackend};

    let path = temp("fleet-help.rec");
    let names = vec!["a:1".to_string()];
    let mut recorder = Recorder::create(&path, &names, Duration::from_secs(1)).expect("create");
    let snap = synthetic(2, 1).snapshot(0);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    recorder
        .write_poll(at, &[("10.0.0.1:1", "a:1", Ok(&snap))])
        .expect("write");
    drop(recorder);
    let mut player = FleetPlayer::open(&path).expect("opens");
    player
        .key(KeyEvent::new(KeyCode::Char('?'), KeyModifiers::NONE))
        .expect("help");
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    term.draw(|f| player.draw(f)).expect("draw");
    let screen: String = term
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(screen.contains("replay: play or pause"), "{screen}");
    assert!(
        screen.contains("open the member's usual overview"),
        "{screen}"
    );
    assert!(!screen.contains("open the selected channel"), "{screen}");
    assert!(!screen.contains("poll now"), "{screen}");
}
