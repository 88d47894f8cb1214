//! `channelz-tui --record` and `--replay`: recordings of the real Python,
//! Node and Go peers replay, in `--json --watch` and `--json --at`, exactly
//! what the live run printed at the same poll, rates included; damaged,
//! cut-off, foreign and newer files end in one clear line. (The replay
//! screens, recorded by the dashboard itself, are driven in a real
//! terminal with the binary, in `channelz-tui/tests/process.rs`.)

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use channelz_tui::record::Recording;
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};

use crate::tui_json::run;

pub(crate) fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("channelz-tui-it-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// A live `ADDR --json --watch --record FILE` for `polls` lines: the lines
/// it printed. The recording holds at least those polls when it returns.
pub(crate) async fn record_live(addrs: &[&str], file: &Path, polls: usize) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let file = file.display().to_string();
    let argv: Vec<String> = std::iter::once("channelz-tui")
        .chain(addrs.iter().copied())
        .chain([
            "--json",
            "--watch",
            "--interval",
            "200ms",
            "--record",
            &file,
        ])
        .map(String::from)
        .collect();
    let live = std::thread::spawn(move || {
        let mut out = testkit::bin::LineSink {
            partial: Vec::new(),
            lines: tx,
        };
        channelz_tui::run_cli(argv, &mut out, &mut std::io::sink())
    });
    let lines = tokio::task::spawn_blocking(move || {
        (0..polls)
            .map(|_| {
                rx.recv_timeout(Duration::from_secs(20))
                    .expect("a line in time")
            })
            .collect::<Vec<String>>()
    })
    .await
    .expect("lines");
    let status = tokio::task::spawn_blocking(move || live.join())
        .await
        .expect("joins")
        .expect("no panic");
    assert_eq!(status, channelz_tui::ExitStatus::Ok);
    lines
}

async fn record_and_replay(kind: PeerKind) {
    let Some(peer) = start_or_skip(kind, PeerOptions::default()).await else {
        return;
    };
    let file = temp(&format!("{kind}.rec"));
    let polls = 6;
    let live = record_live(&[&peer.addr()], &file, polls).await;
    for line in &live {
        assert!(!line.contains("\"error\""), "{kind}: {line}");
    }
    let rates = |line: &str| {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
        v["servers"][0]["rates"]["callsPerSecond"].clone()
    };
    assert!(
        rates(&live[0]).is_null(),
        "{kind}: no rates on the first poll"
    );
    assert!(
        rates(&live[polls - 1]).is_number(),
        "{kind}: rates after the first poll"
    );
    let path = file.display().to_string();

    // Every poll, as NDJSON: what the live run printed, byte for byte.
    let out = run(&["--replay", &path, "--json", "--watch"]).await;
    assert_eq!(out.code, 0, "{kind}: {}", out.stderr);
    assert_eq!(out.stderr, "", "{kind}");
    let replayed: Vec<&str> = out.stdout.lines().collect();
    assert!(replayed.len() >= polls, "{kind}: {} polls", replayed.len());
    for (i, (live, replayed)) in live.iter().zip(&replayed).enumerate() {
        assert_eq!(live, replayed, "{kind}: poll {i}");
    }

    // One poll with --at, by offset and by RFC 3339 time: the live line.
    let rec = Recording::open(&file).expect("opens");
    for k in [0, 3, polls - 1] {
        let offset = rec.time(k).duration_since(rec.time(0)).expect("in order");
        let at = format!("+{}ns", offset.as_nanos());
        let out = run(&["--replay", &path, "--json", "--at", &at]).await;
        assert_eq!(out.code, 0, "{kind}: {}", out.stderr);
        assert_eq!(out.stdout.trim_end(), live[k], "{kind}: --at {at}");
        // A millisecond after the poll, written to the millisecond: at or
        // after the poll, before the next one.
        let since = (rec.time(k) + Duration::from_millis(1))
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970");
        let at = grpc_toolkit_conn::rfc3339_utc(since, true);
        let out = run(&["--replay", &path, "--json", "--at", &at]).await;
        assert_eq!(out.stdout.trim_end(), live[k], "{kind}: --at {at}");
    }
    // The last poll without --at.
    let out = run(&["--replay", &path, "--json"]).await;
    assert_eq!(
        out.stdout.trim_end(),
        replayed[replayed.len() - 1],
        "{kind}"
    );
    // Before the first poll: a clear line, exit 1.
    let out = run(&["--replay", &path, "--json", "--at", "2001-01-01T00:00:00Z"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("no poll at or before 2001-01-01T00:00:00Z"),
        "{}",
        out.stderr
    );
}

/// The real Python, Node and Go peers as one fleet: the recording of
/// `--json --watch` replays as the fleet documents the live run printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_real_peers_replays_as_it_was_live() {
    let mut peers = Vec::new();
    for kind in [PeerKind::Python, PeerKind::Node, PeerKind::Go] {
        let Some(peer) = start_or_skip(kind, PeerOptions::default()).await else {
            return;
        };
        peers.push(peer);
    }
    let addrs: Vec<String> = peers.iter().map(|p| p.addr()).collect();
    let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    let file = temp("fleet.rec");
    let polls = 4;
    let live = record_live(&addrs, &file, polls).await;
    let last: serde_json::Value = serde_json::from_str(&live[polls - 1]).expect("JSON");
    let members = last["members"].as_array().expect("a fleet document");
    assert_eq!(members.len(), 3, "{last}");
    let out = run(&["--replay", &file.display().to_string(), "--json", "--watch"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let replayed: Vec<&str> = out.stdout.lines().collect();
    assert!(replayed.len() >= polls, "{} polls", replayed.len());
    for (i, (live, replayed)) in live.iter().zip(&replayed).enumerate() {
        assert_eq!(live, replayed, "poll {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_recording_replays_as_it_was_live() {
    record_and_replay(PeerKind::Python).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_recording_replays_as_it_was_live() {
    record_and_replay(PeerKind::Node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_recording_replays_as_it_was_live() {
    record_and_replay(PeerKind::Go).await;
}

/// The byte offsets where each poll's frame ends.
fn frame_ends(file: &Path) -> Vec<u64> {
    let rec = Recording::open(file).expect("opens");
    let size = std::fs::metadata(file).expect("size").len();
    let mut ends: Vec<u64> = rec.polls.iter().skip(1).map(|p| p.offset).collect();
    ends.push(size);
    ends
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_foreign_and_newer_recordings() {
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("demo starts");
    let file = temp("demo.rec");
    let live = record_live(&[&demo.local_addr().to_string()], &file, 3).await;
    demo.shutdown().await;
    let bytes = std::fs::read(&file).expect("read");
    let ends = frame_ends(&file);
    let n = ends.len();
    let path = temp("damaged.rec");
    let path_s = path.display().to_string();

    // Cut at every byte of the last poll: the polls before, and a note.
    let last_start = ends[n - 2];
    for len in last_start + 1..ends[n - 1] {
        std::fs::write(&path, &bytes[..len as usize]).expect("write");
        let out = run(&["--replay", &path_s, "--json", "--watch"]).await;
        assert_eq!(out.code, 0, "cut at {len}: {}", out.stderr);
        assert_eq!(
            out.stdout.lines().collect::<Vec<_>>(),
            live[..n - 1].iter().map(String::as_str).collect::<Vec<_>>()
        );
        assert!(
            out.stderr
                .contains(&format!("cut off at byte {last_start}"))
                && out.stderr.lines().count() == 1,
            "cut at {len}: {}",
            out.stderr
        );
    }

    // A flipped byte anywhere: exit 1 and one line naming the byte (or the
    // preamble's fault).
    for at in (0..bytes.len()).step_by(13) {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        std::fs::write(&path, &damaged).expect("write");
        let out = run(&["--replay", &path_s, "--json"]).await;
        assert_eq!(out.code, 1, "flip at {at}: {}", out.stdout);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(
            out.stderr.contains("is damaged at byte")
                || out.stderr.contains("is not a channelz-tui recording")
                || out.stderr.contains("format version"),
            "flip at {at}: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
    }

    // Foreign files and a newer version.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
    let mut newer = bytes.clone();
    newer[8] = 2;
    for (content, words) in [
        (
            &png[..],
            "is not a channelz-tui recording (byte 0: found \"\\x89PNG",
        ),
        (
            b"{\"target\":\"x\"}\n",
            "is not a channelz-tui recording (byte 0",
        ),
        (
            &newer[..],
            "is recording format version 2; this channelz-tui reads up to version 1",
        ),
    ] {
        std::fs::write(&path, content).expect("write");
        for args in [
            &["--replay", &path_s, "--json"][..],
            &["--replay", &path_s, "--json", "--watch"],
        ] {
            let out = run(args).await;
            assert_eq!(out.code, 1);
            assert!(out.stderr.contains(words), "{}", out.stderr);
            assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        }
    }
    let out = run(&[
        "--replay",
        &temp("missing.rec").display().to_string(),
        "--json",
    ])
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
}

/// Failed polls are recorded as the `{"error"}` lines the live run printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_polls_replay_as_their_error_lines() {
    let dead = testkit::faults::refused_addr();
    let file = temp("dead.rec");
    let live = record_live(&[&dead], &file, 3).await;
    assert!(
        live.iter().all(|l| l.contains("cannot connect")),
        "{live:?}"
    );
    let path = file.display().to_string();
    let out = run(&["--replay", &path, "--json", "--watch"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let replayed: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        replayed[..3],
        live.iter().map(String::as_str).collect::<Vec<_>>()[..]
    );
}

/// A recording that cannot be created ends the run at once with one line
/// naming the file, its control bytes escaped, and exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_that_cannot_be_created_is_one_clear_line() {
    let dead = testkit::faults::refused_addr();
    let path = "/nonexistent-\u{1b}[31mdir/x.rec";
    let out = run(&[&dead, "--json", "--watch", "--record", path]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot create the recording"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains('\u{1b}'), "escaped: {:?}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}
