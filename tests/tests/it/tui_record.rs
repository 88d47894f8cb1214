//! `channelz-tui --record` and `--replay`: recordings of the real Python,
//! Node and Go peers replay, in `--json --watch` and `--json --at`, exactly
//! what the live run printed at the same poll, rates included; damaged,
//! cut-off, foreign and newer files end in one clear line; and the replay
//! screens (recorded by the dashboard itself) step, play, pause and jump
//! in a real terminal.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use channelz_tui::record::Recording;
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};

use super::tui_tmux::{Tmux, have_tmux};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("channelz-tui-it-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// Runs `channelz-tui ARGS` in-process.
async fn run(args: &[&str]) -> testkit::bin::CliRun {
    let argv: Vec<String> = std::iter::once("channelz-tui")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    testkit::bin::in_process(move |out, err| channelz_tui::run_cli(argv, out, err).code()).await
}

/// Stdout of a live `--json --watch`: each line goes to the test; once the
/// test stops listening, writes fail like a closed pipe and the run ends.
struct LineSink {
    partial: Vec<u8>,
    lines: mpsc::Sender<String>,
}

impl std::io::Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            self.lines
                .send(line)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A live `ADDR --json --watch --record FILE` for `polls` lines: the lines
/// it printed. The recording holds at least those polls when it returns.
async fn record_live(addr: &str, file: &Path, polls: usize) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let argv = [
        "channelz-tui",
        addr,
        "--json",
        "--watch",
        "--interval",
        "200ms",
        "--record",
        &file.display().to_string(),
    ]
    .map(String::from);
    let live = std::thread::spawn(move || {
        let mut out = LineSink {
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
    let live = record_live(&peer.addr(), &file, polls).await;
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
    let live = record_live(&demo.local_addr().to_string(), &file, 3).await;
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

/// The dashboard records (`ADDR --record FILE`), and `--replay FILE` opens
/// the same screens with a timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_screens_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = testkit::bin::path("channelz-tui");
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("demo starts");
    let addr = demo.local_addr().to_string();
    let file = temp("dashboard.rec");
    let script = format!(
        "{} {addr} --interval 200ms --record {}; echo \"exit=$?\"; sleep 120",
        bin.display(),
        file.display()
    );
    let tmux = Tmux::start("record", &script);
    tmux.wait_for("the overview", |s| {
        s.contains("● connected") && s.contains("READY")
    });
    // Open a channel while recording: the screen keeps working.
    tmux.keys(&["Enter"]);
    tmux.wait_for("channel detail", |s| s.contains("overview › channel"));
    tmux.keys(&["Escape"]);
    let polls = || Recording::open(&file).map(|r| r.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while polls() < 8 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dashboard records"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tmux.keys(&["q"]);
    tmux.wait_for("exit", |s| s.contains("exit=0"));
    drop(tmux);
    demo.shutdown().await;
    let n = polls();

    let script = format!(
        "{} --replay {}; echo \"exit=$?\"; sleep 120",
        bin.display(),
        file.display()
    );
    let tmux = Tmux::start("replay", &script);
    let first = format!("poll 1/{n} ");
    let screen = tmux.wait_for("the first poll", |s| {
        s.contains(&first) && s.contains("READY")
    });
    assert!(screen.contains("⏸ paused"), "{screen}");
    assert!(screen.contains(&addr), "the target: {screen}");
    // Step forward and back.
    tmux.keys(&["."]);
    tmux.wait_for("poll 2", |s| s.contains(&format!("poll 2/{n} ")));
    tmux.keys(&[","]);
    tmux.wait_for("poll 1 again", |s| s.contains(&first));
    // Jump to the end and the start.
    tmux.keys(&["]"]);
    tmux.wait_for("the last poll", |s| s.contains(&format!("poll {n}/{n} ")));
    tmux.keys(&["["]);
    tmux.wait_for("the first poll again", |s| s.contains(&first));
    // Rates from the recording once there are two polls.
    tmux.keys(&[">"]);
    tmux.wait_for("rates", |s| s.contains("/s"));
    // Faster, play to the end, where it pauses.
    tmux.keys(&["+", "+", " "]);
    tmux.wait_for("playing", |s| s.contains("▶ playing 4×"));
    tmux.wait_for("paused at the end", |s| {
        s.contains(&format!("poll {n}/{n} ")) && s.contains("⏸ paused")
    });
    // Jump to a time: two polls after the start at most.
    tmux.keys(&[":"]);
    tmux.wait_for("the prompt", |s| s.contains("jump to:"));
    tmux.keys(&["+", "0", "s", "Enter"]);
    tmux.wait_for("the jump", |s| s.contains(&first));
    // The screens work as live: into a channel and back, on any poll.
    tmux.keys(&["Enter"]);
    tmux.wait_for("channel detail", |s| {
        s.contains("overview › channel") && s.contains("children (")
    });
    tmux.keys(&["."]);
    tmux.wait_for("the detail on poll 2", |s| {
        s.contains(&format!("poll 2/{n} ")) && s.contains("overview › channel")
    });
    tmux.keys(&["Escape"]);
    // Help lists the timeline's keys.
    tmux.keys(&["?"]);
    tmux.wait_for("help", |s| s.contains("replay: play or pause"));
    tmux.keys(&["Escape", "q"]);
    tmux.wait_for("exit", |s| s.contains("exit=0"));
}

/// Failed polls are recorded as the `{"error"}` lines the live run printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_polls_replay_as_their_error_lines() {
    let dead = testkit::faults::refused_addr();
    let file = temp("dead.rec");
    let live = record_live(&dead, &file, 3).await;
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
