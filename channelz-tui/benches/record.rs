//! Recording benchmark: bytes per hour, and how fast a one-hour recording
//! opens and seeks.
//!
//! Run: `cargo bench -p channelz-tui --features bench --bench record`
//!
//! - The demo (`--demo`'s server, in-process): 60 real snapshots taken at
//!   a 250 ms interval and recorded; bytes per poll times 3,600 is the
//!   hour at the default 1 s interval.
//! - A synthetic 1,000-channel server (a subchannel and a socket with
//!   `TCP_INFO` each, 100 channels busy, with a server-side socket each):
//!   3,600 polls at 1 s, one simulated hour, recorded to a file; then the
//!   file is opened (index built) and 200 random polls are sought and
//!   rebuilt (keyframe plus deltas) and turned into snapshots; and the
//!   dashboard's replay opens it, steps one poll, and jumps.
//! - CSDS (`xds`): a server answering 100,000 resources (the CSDS
//!   client's bound; `testkit::hostile_csds`, ACKED listeners without
//!   contents): one `--json` snapshot taken and written (time, bytes of
//!   the `xds` section), and recorded twice (a keyframe, then an unchanged
//!   poll: time and bytes of each).

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime};

use channelz_tui::demo::DemoServer;
use channelz_tui::json;
use channelz_tui::poll::Api;
use channelz_tui::record::synthetic::Synthetic;
use channelz_tui::record::timeline::Player;
use channelz_tui::record::{Recorder, Recording};
use grpc_toolkit_conn::{ConnectOptions, Target, connect};

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn demo() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let demo = DemoServer::start("127.0.0.1:0").await.unwrap();
        let addr = demo.local_addr();
        let target = Target::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        };
        let conn = connect(&ConnectOptions::plaintext(target, "bench"))
            .await
            .unwrap();
        let api = Api::new(conn, Duration::from_secs(5));
        let path = std::env::temp_dir().join("channelz-tui-bench-demo.rec");
        let mut rec = Recorder::create(&path, &["demo".into()], Duration::from_secs(1)).unwrap();
        let start = rec.bytes();
        let polls = 60;
        for _ in 0..polls {
            let snap = json::take(&api).await.unwrap();
            rec.write_poll(SystemTime::now(), &[("demo", "demo", Ok(&snap))])
                .unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let per_poll = (rec.bytes() - start) / polls;
        println!(
            "demo: {polls} polls, {} bytes per poll on average (keyframes included): {:.2} MB per hour at 1s",
            per_poll,
            mb(per_poll * 3600)
        );
        let _ = std::fs::remove_file(&path);
        demo.shutdown().await;
    });
}

fn synthetic() {
    let s = Synthetic {
        channels: 1000,
        busy: 100,
        start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        interval: Duration::from_secs(1),
    };
    let path = std::env::temp_dir().join("channelz-tui-bench-1000.rec");
    let polls = 3600u64;
    let mut rec = Recorder::create(&path, &["synthetic:50051".into()], s.interval).unwrap();
    let mut write = Duration::ZERO;
    for n in 0..polls {
        let snap = s.snapshot(n);
        let t = Instant::now();
        rec.write_poll(
            s.start + s.interval * n as u32,
            &[("synthetic:50051", "synthetic:50051", Ok(&snap))],
        )
        .unwrap();
        write += t.elapsed();
    }
    let bytes = rec.bytes();
    drop(rec);
    println!(
        "1,000 channels, 100 busy, 1s interval: {:.2} MB per hour ({polls} polls); recording one poll takes {:.2} ms",
        mb(bytes),
        write.as_secs_f64() * 1000.0 / polls as f64
    );
    let t = Instant::now();
    let mut recording = Recording::open(&path).unwrap();
    println!(
        "open (index of {} polls): {:.1} ms",
        recording.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut worst_snapshot = Duration::ZERO;
    let seeks = 200;
    for k in 0..seeks {
        let i = (k * 7919 + 59) % recording.len();
        let t = Instant::now();
        let poll = recording.poll(i).unwrap();
        let took = t.elapsed();
        let t = Instant::now();
        let snap = poll.members[0].state.as_ref().unwrap().snapshot().unwrap();
        assert_eq!(snap.channels.len(), 1000);
        worst_snapshot = worst_snapshot.max(t.elapsed());
        worst = worst.max(took);
        total += took;
    }
    println!(
        "seek (keyframe + up to 59 deltas): {:.1} ms on average, {:.1} ms at worst; the rebuilt poll to a snapshot: {:.1} ms at worst",
        total.as_secs_f64() * 1000.0 / seeks as f64,
        worst.as_secs_f64() * 1000.0,
        worst_snapshot.as_secs_f64() * 1000.0
    );
    // The dashboard over the same recording: a step feeds one poll
    // through `update`; a jump rebuilds the model from the WARMUP polls
    // before the target.
    let t = Instant::now();
    let mut player = Player::open(&path).unwrap();
    let opened = t.elapsed();
    let t = Instant::now();
    player.go(1800).unwrap();
    let jump = t.elapsed();
    let t = Instant::now();
    player.go(1801).unwrap();
    let step = t.elapsed();
    println!(
        "dashboard: opens on poll 1 in {:.0} ms; a step takes {:.1} ms; a jump (rebuilding {} polls of history) {:.0} ms",
        opened.as_secs_f64() * 1000.0,
        step.as_secs_f64() * 1000.0,
        channelz_tui::record::timeline::WARMUP,
        jump.as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_file(&path);
}

fn xds() {
    use testkit::hostile_csds::{HostileCsds, Mode};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let n = grpc_toolkit_channelz_client::csds::MAX_RESOURCES;
        let server = HostileCsds::new(Mode::ManyResources(n)).start().await;
        let target = Target::parse(server.addr()).unwrap();
        let conn = connect(&ConnectOptions::plaintext(target, "bench"))
            .await
            .unwrap();
        let api = Api::new(conn, Duration::from_secs(30));
        let started = Instant::now();
        let snap = json::take(&api).await.unwrap();
        let take = started.elapsed();
        let mut out = Vec::new();
        let started = Instant::now();
        snap.write_json("bench", None, &mut out).unwrap();
        let write = started.elapsed();
        let mut bare = snap.clone();
        bare.xds = None;
        let mut without = Vec::new();
        bare.write_json("bench", None, &mut without).unwrap();
        println!(
            "xds: {n} CSDS resources: snapshot taken in {:.0} ms; --json written in {:.0} ms, the xds section {:.1} MB",
            take.as_secs_f64() * 1000.0,
            write.as_secs_f64() * 1000.0,
            mb((out.len() - without.len()) as u64)
        );
        let mut recorder =
            Recorder::new(Box::new(std::io::sink()), &["bench".into()], Duration::from_secs(1))
                .unwrap();
        for poll in ["keyframe", "unchanged poll"] {
            let before = recorder.bytes();
            let started = Instant::now();
            recorder
                .write_poll(SystemTime::now(), &[("bench", "bench", Ok(&snap))])
                .unwrap();
            println!(
                "xds: recording the {poll}: {:.0} ms, {} bytes",
                started.elapsed().as_secs_f64() * 1000.0,
                recorder.bytes() - before
            );
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that names neither
    // part runs both.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wants("synthetic") {
        synthetic();
    }
    if wants("demo") {
        demo();
    }
    if wants("xds") {
        xds();
    }
}
