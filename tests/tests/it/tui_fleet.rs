//! `channelz-tui` with many targets: several ADDRs, or `--fleet` names
//! resolved (through an injected resolver) to several loopback addresses
//! whose answer changes between intervals; real Python, Node and Go peers
//! stopped and started during the run (pods rolling); a member that hangs;
//! the exit codes. (The fleet screen in a real terminal is tested with the
//! binary, in `channelz-tui/tests/process.rs`.)
//!
//! The JSON runs go through the in-process entry point
//! ([`channelz_tui::run_cli_with`]) with a line sink for stdout: each
//! document reaches the test as it is written, and dropping the receiver
//! ends the run as a closed pipe does.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use channelz_tui::demo::DemoServer;
use channelz_tui::fleet::Resolver;
use serde_json::Value;
use testkit::peers::{PeerKind, PeerOptions, start_or_skip};

use crate::tui_json::run;

/// A `--json --watch` run on its own thread: its documents, one by one.
struct Watch {
    docs: Option<std::sync::mpsc::Receiver<String>>,
    thread: Option<std::thread::JoinHandle<channelz_tui::ExitStatus>>,
}

impl Watch {
    fn start(args: &[&str], resolver: Resolver) -> Watch {
        let argv: Vec<String> = std::iter::once("channelz-tui")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut out = testkit::bin::LineSink {
                partial: Vec::new(),
                lines: tx,
            };
            channelz_tui::run_cli_with(argv, &mut out, &mut std::io::sink(), resolver)
        });
        Watch {
            docs: Some(rx),
            thread: Some(thread),
        }
    }

    /// The next document (panics after 10 s without one).
    fn next(&self) -> Value {
        let line = self
            .docs
            .as_ref()
            .expect("listening")
            .recv_timeout(Duration::from_secs(10))
            .expect("a document in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Reads documents until one passes `check` (panics after 30 s).
    fn until(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let doc = self.next();
            if check(&doc) {
                return doc;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; last: {doc}"
            );
        }
    }

    /// Stops listening; the run ends at its next write.
    async fn stop(mut self) -> channelz_tui::ExitStatus {
        drop(self.docs.take());
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .expect("joins")
            .expect("no panic")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // A failed test must not leave the run writing into a live channel.
        drop(self.docs.take());
    }
}

/// The member entries of a document, by address.
fn members(doc: &Value) -> Vec<(String, Value)> {
    doc["members"]
        .as_array()
        .unwrap_or_else(|| panic!("members array: {doc}"))
        .iter()
        .map(|m| {
            (
                m["member"].as_str().unwrap_or_default().to_owned(),
                m.clone(),
            )
        })
        .collect()
}

fn answering(m: &Value) -> bool {
    m.get("error").is_none() && m["channels"].is_array()
}

/// Whether the document lists exactly `addrs`, all answering.
fn all_answer(doc: &Value, addrs: &[String]) -> bool {
    let got = members(doc);
    got.len() == addrs.len()
        && addrs
            .iter()
            .all(|a| got.iter().any(|(m, v)| m == a && answering(v)))
}

/// A resolver whose answer the test changes at will.
fn switchable(ips: &[&str]) -> (Resolver, Arc<Mutex<Vec<IpAddr>>>) {
    let answer: Arc<Mutex<Vec<IpAddr>>> = Arc::new(Mutex::new(
        ips.iter().map(|ip| ip.parse().expect("ip")).collect(),
    ));
    let shared = Arc::clone(&answer);
    let resolver = Resolver::new(move |host, _| {
        assert_eq!(host, "pods.test", "only the test's name is looked up");
        let ips = shared.lock().expect("lock").clone();
        Box::pin(async move { Ok(ips) })
    });
    (resolver, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_several_loopback_addresses_follows_the_answer() {
    // The same port on three loopback addresses, as pods of one Service.
    let first = DemoServer::start("127.0.0.1:0").await.expect("demo");
    let port = first.local_addr().port();
    let Ok(second) = DemoServer::start(&format!("127.0.0.2:{port}")).await else {
        testkit::peers::record_skip(&format!("cannot bind 127.0.0.2:{port}"));
        return;
    };
    let third = DemoServer::start(&format!("127.0.0.3:{port}"))
        .await
        .expect("127.0.0.3");
    let (resolver, answer) = switchable(&["127.0.0.1", "127.0.0.2"]);
    let name = format!("dns:///pods.test:{port}");
    let watch = Watch::start(
        &[&name, "--fleet", "--json", "--watch", "--interval", "300ms"],
        resolver,
    );
    let a = |ip: &str| format!("{ip}:{port}");
    let doc = watch.until("both first members answering", |d| {
        all_answer(d, &[a("127.0.0.1"), a("127.0.0.2")])
    });
    for (_, m) in members(&doc) {
        assert_eq!(m["name"], name.as_str(), "{m}");
        assert_eq!(m["target"], m["member"], "today's document, per member");
        assert!(m["servers"].is_array() && m["incomplete"].is_array());
    }
    assert!(doc["time"].is_string());
    // Rates come from each member's previous snapshot.
    let doc = watch.next();
    let rated = members(&doc).iter().any(|(_, m)| {
        m["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["rates"]["callsPerSecond"].is_number())
    });
    assert!(rated, "rates on the second document: {doc}");

    // One pod goes, another comes.
    *answer.lock().expect("lock") =
        vec!["127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap()];
    watch.until("the new member set", |d| {
        all_answer(d, &[a("127.0.0.2"), a("127.0.0.3")])
    });
    // All gone: the name is listed with what is wrong.
    answer.lock().expect("lock").clear();
    let doc = watch.until("no members", |d| {
        members(d).len() == 1 && members(d)[0].1.get("error").is_some()
    });
    assert!(
        doc["members"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no addresses"),
        "{doc}"
    );
    assert_eq!(watch.stop().await, channelz_tui::ExitStatus::Ok);
    for demo in [first, second, third] {
        demo.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_member_does_not_delay_the_others() {
    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
    let good = demo.local_addr().to_string();
    // Accepts TCP and never says a word.
    let silent = testkit::faults::Fault::AcceptSilent.start().await;
    let watch = Watch::start(
        &[
            &good,
            silent.addr(),
            "--json",
            "--watch",
            "--interval",
            "300ms",
            "--rpc-timeout",
            "60s",
            "--connect-timeout",
            "60s",
        ],
        Resolver::system(),
    );
    watch.until("the good member answering", |d| {
        members(d).iter().any(|(m, v)| *m == good && answering(v))
    });
    // Document after document, the good member answers while the silent
    // one is reported as still running.
    let mut times = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let doc = watch.next();
        let all = members(&doc);
        let (_, g) = all.iter().find(|(m, _)| *m == good).expect("good listed");
        assert!(answering(g), "{doc}");
        let (_, s) = all
            .iter()
            .find(|(m, _)| m == silent.addr())
            .expect("silent listed");
        assert!(
            s["error"]
                .as_str()
                .unwrap_or_default()
                .contains("still running"),
            "{doc}"
        );
        times.insert(doc["time"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(times.len(), 4, "four documents, four times");
    assert_eq!(watch.stop().await, channelz_tui::ExitStatus::Ok);
    demo.shutdown().await;
}

/// More hung members than polling permits: each holds its permit for one
/// interval at most, so the good member still gets one and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_hung_members_than_permits_do_not_starve_the_others() {
    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
    let good = demo.local_addr().to_string();
    let silent = [
        testkit::faults::Fault::AcceptSilent.start().await,
        testkit::faults::Fault::AcceptSilent.start().await,
    ];
    let watch = Watch::start(
        &[
            silent[0].addr(),
            silent[1].addr(),
            &good,
            "--json",
            "--watch",
            "--interval",
            "300ms",
            "--rpc-timeout",
            "60s",
            "--connect-timeout",
            "60s",
            "--fleet-concurrency",
            "1",
        ],
        Resolver::system(),
    );
    // Without the bound the silent members would keep the one permit for
    // 60 s, and the good member would never answer within the test.
    watch.until("the good member answering", |d| {
        members(d).iter().any(|(m, v)| *m == good && answering(v))
    });
    let answered = (0..6)
        .filter(|_| {
            members(&watch.next())
                .iter()
                .any(|(m, v)| *m == good && answering(v))
        })
        .count();
    assert!(answered >= 2, "the good member answered in {answered} of 6");
    assert_eq!(watch.stop().await, channelz_tui::ExitStatus::Ok);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_of_a_fleet() {
    let dead = testkit::faults::refused_addr();
    let dead2 = testkit::faults::refused_addr();
    let out = run(&[&dead, &dead2, "--json"]).await;
    assert_eq!(out.code, 2, "none connected: {out:?}");
    assert_eq!(out.lines().len(), 1, "one line: {}", out.stderr);
    let doc = out.json();
    assert_eq!(members(&doc).len(), 2);
    assert!(
        members(&doc).iter().all(|(_, m)| m["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot connect")),
        "{doc}"
    );

    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
    let good = demo.local_addr().to_string();
    let out = run(&[&good, &dead, "-o", "json"]).await;
    assert_eq!(out.code, 0, "one of two answered: {out:?}");
    let doc = out.json();
    let all = members(&doc);
    assert!(
        answering(&all[0].1) && all[1].1.get("error").is_some(),
        "{doc}"
    );
    assert!(all[0].1["rates"].is_null(), "rates live on entities only");

    // One ADDR is today's document, unchanged: no "members".
    let out = run(&[&good, "--json"]).await;
    assert_eq!(out.code, 0);
    assert!(out.json().get("members").is_none());
    assert_eq!(out.json()["target"], good.as_str());

    // Bad fleet usage is one line and exit 1.
    let out = run(&["--fleet", "--json"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("--fleet needs at least one ADDR"),
        "{}",
        out.stderr
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_peers_roll_in_and_out_of_one_fleet() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |kind: PeerKind| dir.path().join(format!("{kind}.sock"));
    let start = |kind: PeerKind| {
        let unix = Some(path(kind));
        async move {
            start_or_skip(
                kind,
                PeerOptions {
                    unix,
                    ..Default::default()
                },
            )
            .await
        }
    };
    let mut peers = Vec::new();
    for kind in PeerKind::ALL {
        let Some(peer) = start(kind).await else {
            return;
        };
        peers.push(peer);
    }
    let addrs: Vec<String> = peers.iter().map(|p| p.addr()).collect();
    let mut args: Vec<&str> = addrs.iter().map(String::as_str).collect();
    args.extend(["--json", "--watch", "--interval", "300ms"]);
    let watch = Watch::start(&args, Resolver::system());
    watch.until("every peer answering", |d| all_answer(d, &addrs));

    // The Go pod goes away: its member turns into an error, the others stay.
    let go = peers.pop().expect("go peer");
    assert_eq!(go.kind(), PeerKind::Go);
    let go_addr = go.addr();
    drop(go);
    watch.until("the Go member failing", |d| {
        members(d)
            .iter()
            .any(|(m, v)| *m == go_addr && v.get("error").is_some())
            && members(d).iter().filter(|(_, v)| answering(v)).count() == 2
    });
    // A new Go pod on the same address: answering again.
    let _ = std::fs::remove_file(path(PeerKind::Go));
    let Some(_go) = start(PeerKind::Go).await else {
        return;
    };
    watch.until("the Go member back", |d| all_answer(d, &addrs));
    assert_eq!(watch.stop().await, channelz_tui::ExitStatus::Ok);
}

/// The screen's side of a hung member: the coordinator behind the fleet
/// screen keeps delivering the other member's rows every round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_member_does_not_delay_the_other_rows() {
    use channelz_tui::fleet::poll::Outcome;
    use channelz_tui::fleet::tui::Coordinator;
    use channelz_tui::fleet::update::FleetMsg;
    use channelz_tui::fleet::{FleetConfig, FleetName};
    use grpc_toolkit_conn::{ConnectOptions, Target};

    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
    let silent = testkit::faults::Fault::AcceptSilent.start().await;
    let name = |addr: &str| {
        let mut options =
            ConnectOptions::plaintext(Target::parse(addr).expect("addr"), "tui-fleet-test");
        options.connect_timeout = Duration::from_secs(60);
        FleetName {
            name: addr.to_owned(),
            options,
        }
    };
    let good = demo.local_addr().to_string();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let coordinator = tokio::spawn(
        Coordinator {
            fleet: FleetConfig {
                names: vec![name(silent.addr()), name(&good)],
                resolve: false,
                concurrency: 2,
                title: "test".into(),
                interval: Duration::from_millis(300),
                rpc_timeout: Duration::from_secs(60),
                limits: Default::default(),
                json: None,
            },
            resolver: Resolver::system(),
            recorder: None,
        }
        .run(tx, Default::default(), Default::default()),
    );
    let mut rounds = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rounds.len() < 4 {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("rows keep coming")
            .expect("coordinator running");
        if let FleetMsg::Report(report) = msg {
            assert_eq!(report.id.address, good, "the silent member never reports");
            assert!(matches!(report.outcome, Outcome::Answer(_)), "{report:?}");
            rounds.insert(report.round);
        }
    }
    coordinator.abort();
    demo.shutdown().await;
}

/// The fleet screen's coordinator with `--record`: once per round every
/// member goes to the recording, the answering one with its full snapshot
/// and health answer, the unreachable one with its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tui_fleet_screen_records_every_member_once_per_round() {
    use channelz_tui::fleet::tui::{Coordinator, FleetRecorder};
    use channelz_tui::fleet::update::FleetMsg;
    use channelz_tui::fleet::{FleetConfig, FleetName};
    use channelz_tui::record::{Recorder, Recording};
    use grpc_toolkit_conn::{ConnectOptions, Target};

    let demo = DemoServer::start("127.0.0.1:0").await.expect("demo");
    let good = demo.local_addr().to_string();
    let dead = testkit::faults::refused_addr();
    let name = |addr: &str| FleetName {
        name: addr.to_owned(),
        options: ConnectOptions::plaintext(Target::parse(addr).expect("addr"), "tui-fleet-test"),
    };
    let interval = Duration::from_millis(200);
    let file = std::env::temp_dir().join(format!("tui-fleet-record-{}.rec", std::process::id()));
    let recorder = Recorder::create(&file, &[good.clone(), dead.clone()], interval).expect("file");
    let recorder = Arc::new(Mutex::new(FleetRecorder::new(Box::new(recorder))));
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let coordinator = tokio::spawn(
        Coordinator {
            fleet: FleetConfig {
                names: vec![name(&good), name(&dead)],
                resolve: false,
                concurrency: 2,
                title: "test".into(),
                interval,
                rpc_timeout: Duration::from_secs(5),
                limits: Default::default(),
                json: None,
            },
            resolver: Resolver::system(),
            recorder: Some(Arc::clone(&recorder)),
        }
        .run(tx, Default::default(), Default::default()),
    );
    let mut rounds = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rounds < 4 {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("rounds keep ending")
            .expect("coordinator running");
        if msg == FleetMsg::RoundEnd {
            rounds += 1;
        }
    }
    coordinator.abort();
    demo.shutdown().await;
    assert!(recorder.lock().expect("lock").failure.is_none());
    let mut rec = Recording::open(&file).expect("a recording");
    assert!(rec.len() >= 4, "one poll per round: {}", rec.len());
    let last = rec.poll(rec.len() - 1).expect("the last poll");
    let member = |addr: &str| {
        last.members
            .iter()
            .find(|m| m.member == addr)
            .unwrap_or_else(|| panic!("{addr} recorded: {:?}", last.members))
    };
    let answered = member(&good);
    let snapshot = answered
        .state
        .as_ref()
        .expect("a snapshot")
        .snapshot()
        .expect("whole");
    assert!(!snapshot.servers.is_empty() && !snapshot.sockets.is_empty());
    assert_eq!(
        answered.health.as_ref().and_then(|h| h.status),
        Some(1),
        "SERVING"
    );
    assert!(
        member(&dead).state.is_err(),
        "the unreachable member's error"
    );
    let _ = std::fs::remove_file(&file);
}

// The command line of a fleet, validated in-process.

fn parse_args(args: &[&str]) -> Result<channelz_tui::cli::Config, String> {
    use std::ffi::OsString;
    let argv: Vec<OsString> = std::iter::once("channelz-tui")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    channelz_tui::app::parse(argv).map_err(|e| e.text)
}

#[test]
fn one_addr_is_today_several_or_fleet_make_a_fleet() {
    let one = parse_args(&["a:1", "--json"]).expect("valid");
    assert!(one.fleet.is_none());
    let two = parse_args(&["a:1", "--json", "b:2", "a:1"]).expect("valid");
    let fleet = two.fleet.expect("a fleet");
    let names: Vec<&str> = fleet.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a:1", "b:2"], "in order, once each");
    assert!(!fleet.resolve);
    assert_eq!(fleet.concurrency, channelz_tui::fleet::DEFAULT_CONCURRENCY);
    let f = parse_args(&["--fleet", "dns:///app.ns:50051", "--fleet-concurrency", "3"])
        .expect("valid")
        .fleet
        .expect("a fleet");
    assert!(f.resolve);
    assert_eq!(f.concurrency, 3);
    assert_eq!(f.names[0].options.authority, "app.ns:50051");
    let f = parse_args(&["--fleet", "--addr", "x:1"]).expect("valid");
    assert_eq!(f.fleet.expect("fleet").names[0].name, "x:1");
}

#[test]
fn bad_fleet_usage_names_what_is_wrong() {
    let e = parse_args(&["--fleet"]).expect_err("no addr");
    assert!(e.contains("--fleet needs at least one ADDR"), "{e}");
    let e = parse_args(&["a:1", "b:1", "--fleet-concurrency", "0"]).expect_err("zero");
    assert!(e.contains("--fleet-concurrency"), "{e}");
    let e = parse_args(&["a:1", "b:bad"]).expect_err("bad addr");
    assert!(e.contains("b:bad"), "{e}");
    let e = parse_args(&["a:1", "b:1", "--addr", "c:1"]).expect_err("both");
    assert!(e.contains("--addr"), "{e}");
    let e = parse_args(&["--demo", "--fleet"]).expect_err("demo");
    assert!(e.contains("--demo"), "{e}");
}

/// A resolved member dials its IP but keeps the name for TLS (verification,
/// SNI) and `:authority`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_member_keeps_the_name_for_tls_and_authority() {
    let pki = testkit::tls::TestPki::generate();
    // A TLS server without Channelz: the member connects (TLS verified for
    // `localhost`), then reports that it has no Channelz service.
    let server = testkit::servers::TestServer::builder()
        .tls(&pki)
        .start()
        .await;
    let name = format!("localhost:{}", server.port());
    let resolver = Resolver::new(|host, _| {
        assert_eq!(host, "localhost");
        Box::pin(async { Ok(vec!["127.0.0.1".parse().expect("ip")]) })
    });
    let args = pki.tls_args(&["channelz-tui", "--fleet", &name, "--json"]);
    let argv: Vec<String> = args.into_iter().map(String::from).collect();
    let run = testkit::bin::in_process(move |out, err| {
        channelz_tui::run_cli_with(argv, out, err, resolver).code()
    })
    .await;
    assert_eq!(run.code, 3, "connected, no Channelz: {run:?}");
    let doc = run.json();
    let all = members(&doc);
    assert_eq!(all.len(), 1, "{doc}");
    assert_eq!(all[0].0, format!("127.0.0.1:{}", server.port()));
    assert_eq!(all[0].1["name"], name.as_str());
    assert!(
        all[0].1["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no Channelz service"),
        "{doc}"
    );
    let request = server.last_request().expect("the member's RPC arrived");
    assert_eq!(request.authority.as_deref(), Some(name.as_str()));
}
