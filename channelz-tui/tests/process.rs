//! The real `channelz-tui` binary: the one place the TUI runs as a
//! process, for what only a process shows. In a real terminal (tmux) it
//! starts, shows the server's channels, navigates, survives the server
//! going away and coming back on the same address, quits on `q` and on
//! SIGTERM, and leaves the terminal in cooked mode with the alternate
//! screen gone; with several ADDRs it shows the fleet screen, opens a
//! member and comes back, and its `nack/miss` column counts the real xDS
//! peer's NACKED and missing resources; it records with `--record`, and `--replay`
//! steps, plays, pauses and jumps through the recording. Without a terminal it ends with its documented
//! exit statuses (1 bad usage, 2 cannot connect) and ends on a signal. The
//! docs' `cargo run -p channelz-tui -- --demo` line runs here as written.
//!
//! It lives in the `channelz-tui` package because cargo builds a
//! package's binaries for that package's integration tests: started from
//! `tests/`, a `cargo build -p channelz-tui` of its own recompiled ~40 s
//! of dependencies with the package's own feature set.
//!
//! The terminal tests need tmux (CI installs it); without it they print a
//! notice and skip, except with CI=true where they fail.
//!
//! The xDS screen (`x`) is shown against the real grpcio xDS client
//! (`tests/peers/python/xds_peer.py`) in every status it produces; without
//! the peer that test skips, except with CI=true where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

/// The binary under test, built by `cargo test` for this test (with the
/// same features as the rest of the workspace's test build, so nothing is
/// compiled twice).
const BIN: &str = env!("CARGO_BIN_EXE_channelz-tui");

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of its own running `script` in a 120x36 session.
    fn start(name: &str, script: &str) -> Tmux {
        Tmux::start_sized(name, script, 120, 36)
    }

    /// A tmux server of its own running `script` in a `width`x`height`
    /// session.
    fn start_sized(name: &str, script: &str, width: u16, height: u16) -> Tmux {
        let (width, height) = (width.to_string(), height.to_string());
        let tmux = Tmux {
            socket: format!("channelz-tui-test-{name}-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            &width,
            "-y",
            &height,
            "sh",
            "-c",
            script,
        ]);
        tmux
    }

    /// The pid of the program the session's shell runs.
    fn program_pid(&self) -> u32 {
        let shell = self.run(&["display-message", "-p", "-t", "tui", "#{pane_pid}"]);
        let shell = shell.trim();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .expect("the shell's children");
        children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the shell runs the program")
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"])
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "tui", k]);
            // One key per read: an Esc followed at once by another key
            // would be read as Alt+key, as in any terminal.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

/// The shell line of a session: the dashboard on `addr`, then its exit
/// status and whether the terminal is back in cooked mode (`icanon`).
fn script(bin: &Path, addr: &str) -> String {
    format!(
        "{} {addr} --interval 300ms; echo \"exit=$?\"; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 120",
        bin.display()
    )
}

/// The script has printed the exit status and then stty's verdict (the
/// two arrive apart, so waiting for the first alone races the second).
fn exited_and_reported_mode(screen: &str) -> bool {
    screen.contains("exit=")
        && screen
            .lines()
            .any(|l| matches!(l.trim(), "icanon" | "-icanon"))
}

fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(!testkit::peers::in_ci(), "tmux is required in CI");
        testkit::peers::record_skip("tmux is not installed");
        return false;
    }
    true
}

/// Sends `signal` (e.g. `-TERM`) to `pid` with kill(1).
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// A demo server on `addr` (port 0: one the kernel picks) and the address
/// it announced. A free port picked here and bound by the child later can be
/// taken in between (the demo's own clients dial from ephemeral ports), which
/// a loaded CI machine did.
async fn demo_server(bin: &Path, addr: &str) -> (String, tokio::process::Child) {
    let mut child = tokio::process::Command::new(bin)
        .args(["--demo-server", addr])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("demo server spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("demo server announces itself")
        .expect("read")
        .expect("a line");
    let Some(listening) = first.strip_prefix("listening on ") else {
        panic!("the demo server announces its address: {first}");
    };
    (listening.to_owned(), child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = PathBuf::from(BIN);
    // The demo server is restarted on the same address later in the test.
    let (addr, mut server) = demo_server(&bin, "127.0.0.1:0").await;

    let tmux = Tmux::start("keys", &script(&bin, &addr));

    // Starts and shows the demo's channels and servers.
    let screen = tmux.wait_for("the overview", |s| {
        s.contains("● connected") && s.contains("READY") && s.contains("servers (")
    });
    assert!(screen.contains(&format!("http://{addr}")), "{screen}");

    // Navigates: down, into a channel, into its subchannel, back out.
    tmux.keys(&["j", "k", "Enter"]);
    tmux.wait_for("channel detail", |s| {
        s.contains("overview › channel") && s.contains("children (")
    });
    tmux.keys(&["Enter"]);
    tmux.wait_for("subchannel detail", |s| s.contains("› subchannel"));
    tmux.keys(&["Escape", "Escape"]);
    tmux.wait_for("back at the overview", |s| {
        s.lines().nth(1).is_some_and(|l| l.trim() == "overview")
    });
    tmux.keys(&["?"]);
    tmux.wait_for("help", |s| s.contains("help (Esc closes)"));
    tmux.keys(&["Escape"]);

    // The server goes away: the dashboard says so and keeps the last data.
    let _ = server.kill().await;
    tmux.wait_for("disconnected", |s| s.contains("disconnected"));
    // And comes back on the same address: reconnected, fresh ids.
    let _server = demo_server(&bin, &addr).await;
    tmux.wait_for("reconnected", |s| {
        s.contains("● connected") && s.contains("READY")
    });

    // Quits, and the shell gets a restored terminal.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit and the terminal mode", exited_and_reported_mode);
    assert!(screen.contains("exit=0"), "{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "cooked mode restored:\n{screen}"
    );
    assert!(
        !screen.contains("channels ("),
        "alternate screen left:\n{screen}"
    );
}

/// The resource row of the screen that shows `needle` (the summary line
/// above the table and the scope headings name statuses too).
fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.starts_with('│') && !l.starts_with("│scope") && l.contains(needle))
}

/// The xDS screen against the real grpcio xDS client
/// (`tests/peers/python/xds_peer.py`), steered to each status: ACKED at
/// start, NACKED (the accepted and the rejected version and the reason on
/// the cluster's row), REQUESTED (a listener nobody answers), and
/// DOES_NOT_EXIST (a listener deleted after it was sent); each scope
/// shows its Channelz channel. With CI=true a missing peer fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xds_screen_against_the_grpcio_xds_peer() {
    use grpc_toolkit_channelz_client::csds;
    use testkit::peers::{Peer, or_skip};
    if !have_tmux() {
        return;
    }
    let Some(mut peer) = or_skip(Peer::start_xds().await) else {
        return;
    };
    let addr = peer.addr();
    let bin = PathBuf::from(BIN);
    let tmux = Tmux::start_sized("xds", &script(&bin, &addr), 220, 50);
    tmux.wait_for("the overview", |s| {
        s.contains("● connected") && s.contains("xds:///svc")
    });
    tmux.keys(&["x"]);
    let screen = tmux.wait_for("the xDS screen, all ACKED", |s| {
        s.contains("overview › xds") && s.contains("cluster-svc") && s.contains("ACKED")
    });
    assert!(line_with(&screen, "NACKED").is_none(), "{screen}");
    assert!(screen.contains(" 0 NACKED "), "{screen}");
    let scope = screen
        .lines()
        .find(|l| l.starts_with("│scope") && l.contains(" xds:/svc "))
        .expect("the scope xds:/svc");
    assert!(scope.contains("ch ") && scope.contains("READY"), "{scope}");
    assert!(scope.contains("node toolkit-xds-peer"), "{scope}");

    // NACKED: the accepted version stays, the rejected one and the reason
    // show on the row, and the row comes first in its scope.
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    let screen = tmux.wait_for("NACKED", |s| {
        line_with(s, "NACKED").is_some_and(|l| l.contains("LB policy is not supported"))
    });
    let options = grpc_toolkit_conn::ConnArgs {
        addr: Some(addr.clone()),
        connect_timeout: Duration::from_secs(10),
        ..Default::default()
    }
    .to_options("channelz-tui-test")
    .expect("flags");
    let conn = grpc_toolkit_conn::connect(&options).await.expect("connect");
    let status = csds::fetch(&conn, Duration::from_secs(5))
        .await
        .expect("CSDS")
        .expect("the peer serves CSDS");
    let cluster = status
        .scopes
        .iter()
        .filter(|s| s.client_scope == "xds:/svc")
        .flat_map(|s| &s.resources)
        .find(|r| r.name == "cluster-svc")
        .expect("cluster-svc");
    let rejected = &cluster.failure.as_ref().expect("the NACK").version;
    let row = line_with(&screen, "NACKED").expect("the NACKED row");
    assert!(row.contains("cluster-svc"), "{row}");
    assert!(
        row.contains(&format!(" {} ", cluster.version)),
        "the accepted version {:?} on {row}",
        cluster.version
    );
    assert!(
        row.contains(&format!("rejected {rejected}: ")),
        "the rejected version {rejected:?} on {row}"
    );
    let lines: Vec<&str> = screen.lines().collect();
    let scope_at = lines
        .iter()
        .position(|l| l.contains(" xds:/svc "))
        .expect("scope");
    let nack_at = lines
        .iter()
        .position(|l| line_with(l, "NACKED").is_some())
        .expect("row");
    assert_eq!(
        nack_at,
        scope_at + 1,
        "NACKED first in its scope:\n{screen}"
    );

    // Enter on it: the decoded config and the whole reason.
    let first_row = 1 + lines
        .iter()
        .position(|l| l.starts_with("│type"))
        .expect("the table header");
    for _ in first_row..nack_at {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the NACKED cluster's screen", |s| {
        s.contains("› Cluster cluster-svc") && s.contains("last rejected update")
    });
    assert!(screen.contains("eds-svc"), "{screen}");
    assert!(screen.contains("LB policy is not supported"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the xDS screen again", |s| {
        s.lines()
            .nth(1)
            .is_some_and(|l| l.trim() == "overview › xds")
    });

    // REQUESTED: a listener the management server never answers.
    assert_eq!(peer.command("pending").await.expect("pending"), "ok");
    let screen = tmux.wait_for("REQUESTED", |s| {
        s.contains("xds:/pending") && line_with(s, "REQUESTED").is_some()
    });
    let row = line_with(&screen, "REQUESTED").expect("the REQUESTED row");
    assert!(row.contains("pending"), "{row}");

    // DOES_NOT_EXIST: a listener sent before, left out of the next answer.
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    let screen = tmux.wait_for("DOES_NOT_EXIST", |s| {
        line_with(s, "DOES_NOT_EXIST").is_some()
    });
    let row = line_with(&screen, "DOES_NOT_EXIST").expect("the DOES_NOT_EXIST row");
    assert!(row.contains("gone"), "{row}");

    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit", exited_and_reported_mode);
    assert!(screen.contains("exit=0"), "{screen}");
}

/// A demo server of its own (the binary's `--demo-server`) on a free
/// port: its address, and the process, killed on drop.
async fn own_demo(bin: &Path) -> (String, tokio::process::Child) {
    demo_server(bin, "127.0.0.1:0").await
}

/// Several ADDRs: the fleet screen, Enter into a member, Esc back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_screen_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = PathBuf::from(BIN);
    let ((a, _a), (b, _b)) = (own_demo(&bin).await, own_demo(&bin).await);
    let script = format!(
        "{} {a} {b} --interval 300ms; echo \"exit=$?\"; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 120",
        bin.display()
    );
    let tmux = Tmux::start("fleet", &script);
    let screen = tmux.wait_for("the fleet rows", |s| {
        s.contains("2 of 2 members answering") && s.contains("SERVING")
    });
    assert!(screen.contains(&a) && screen.contains(&b), "{screen}");
    assert!(screen.contains("fleet rates"), "{screen}");

    // Enter opens the second member's usual overview.
    tmux.keys(&["j", "Enter"]);
    let screen = tmux.wait_for("the member's overview", |s| {
        s.contains("● connected") && s.contains("servers (")
    });
    // Rows are in address order: `j` selected the second of them.
    let second = std::cmp::max(&a, &b);
    assert!(
        screen
            .lines()
            .next()
            .unwrap_or("")
            .contains(second.as_str()),
        "{screen}"
    );
    // Esc comes back to the fleet.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the fleet again", |s| s.contains("members (2)"));
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit", exited_and_reported_mode);
    assert!(screen.contains("exit=0"), "{screen}");
}

/// The fleet screen's `nack/miss` column in a real terminal: the real
/// grpcio xDS peer goes from `0/0` to `1/1` with a NACKED cluster and a
/// DOES_NOT_EXIST listener; the demo's own CSDS (one NACKED, one missing)
/// is `1/1` throughout; a server without CSDS is `–`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_screen_shows_xds_nacked_and_missing() {
    if !have_tmux() {
        return;
    }
    let Some(mut peer) = testkit::peers::or_skip(testkit::peers::Peer::start_xds().await) else {
        return;
    };
    let bin = PathBuf::from(BIN);
    let (demo, _demo) = own_demo(&bin).await;
    let plain_server = testkit::channelz::start_without_csds().await;
    let plain = plain_server.addr().to_owned();
    let xds = peer.addr();
    let script = format!(
        "{} {xds} {demo} {plain} --interval 300ms; echo \"exit=$?\"; sleep 120",
        bin.display()
    );
    let tmux = Tmux::start("fleet-xds", &script);
    // The member's row, not the title (which names every ADDR).
    let row = |screen: &str, addr: &str| -> String {
        screen
            .lines()
            .find(|l| l.starts_with(&format!("│{addr} ")))
            .unwrap_or_default()
            .to_owned()
    };
    let screen = tmux.wait_for("all rows, the peer all ACKED", |s| {
        s.contains("3 of 3 members answering") && row(s, &xds).contains(" 0/0 ")
    });
    assert!(screen.contains("nack/miss"), "{screen}");
    assert!(row(&screen, &demo).contains(" 1/1 "), "{screen}");
    assert!(row(&screen, &plain).contains(" – "), "{screen}");
    assert_eq!(peer.command("nack").await.expect("nack"), "ok");
    assert_eq!(peer.command("delete").await.expect("delete"), "ok");
    let screen = tmux.wait_for("one NACKED, one missing", |s| {
        row(s, &xds).contains(" 1/1 ")
    });
    assert!(row(&screen, &demo).contains(" 1/1 "), "{screen}");
    assert!(row(&screen, &plain).contains(" – "), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit", |s| s.contains("exit="));
    assert!(screen.contains("exit=0"), "{screen}");
}

/// `--demo` as a new user runs it: `x` opens the demo's xDS screen, which
/// joins the CSDS scope to its Channelz channel, puts the NACKED cluster
/// first with its reason, and Enter on it shows the rejected version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_its_xds_client_status() {
    if !have_tmux() {
        return;
    }
    let script = format!("{} --demo; echo \"exit=$?\"; sleep 120", BIN);
    // Wide enough for whole names and the start of the reason.
    let tmux = Tmux::start_sized("demo-xds", &script, 160, 40);
    tmux.wait_for("the overview", |s| {
        s.contains("● connected") && s.contains("xds:///demo-backend")
    });
    tmux.keys(&["x"]);
    let screen = tmux.wait_for("the xDS screen", |s| s.contains("xds resources (6)"));
    assert!(
        screen.contains("1 scope · 6 resources · 1 NACKED · 1 missing or failed"),
        "{screen}"
    );
    let lines: Vec<&str> = screen.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} on\n{screen}"))
    };
    let scope = at("xds:/demo-backend");
    assert!(
        lines[scope].contains("READY"),
        "joined to its channel: {screen}"
    );
    let nacked = at("│Cluster               demo-backend-v2");
    assert_eq!(nacked, scope + 1, "the NACKED resource first: {screen}");
    assert!(lines[nacked].contains(" NACKED "), "{screen}");
    assert!(
        lines[nacked].contains("rejected 4: errors validating Cluster"),
        "{screen}"
    );
    assert!(screen.contains("2/3 endpoints healthy"), "{screen}");
    assert!(screen.contains("DOES_NOT_EXIST"), "{screen}");
    tmux.keys(&["j", "Enter"]);
    let screen = tmux.wait_for("the resource", |s| s.contains("last rejected update"));
    assert!(
        screen.contains(channelz_tui::demo::xds::NACK_REASON),
        "{screen}"
    );
    assert!(screen.contains("3 (accepted)"), "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit", |s| s.contains("exit="));
    assert!(screen.contains("exit=0"), "{screen}");
}

/// The xDS screen of a hostile CSDS server in a real terminal: names,
/// versions, node ids and NACK reasons full of terminal controls (clear
/// screen, a title change, C1 and bidi controls, longer than any bound)
/// reach the terminal escaped. The screen's frame stays whole, the pane's
/// title is not changed, and the program quits normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xds_screen_of_a_hostile_csds_server() {
    use testkit::hostile_csds::{HostileCsds, Mode};
    if !have_tmux() {
        return;
    }
    let server = HostileCsds::new(Mode::ControlBytes).start().await;
    let tmux = Tmux::start_sized(
        "xds-hostile",
        &script(Path::new(BIN), server.addr()),
        160,
        40,
    );
    let title = || tmux.run(&["display-message", "-p", "-t", "tui", "#{pane_title}"]);
    let before = title();
    tmux.wait_for("the overview", |s| s.contains("● connected"));
    tmux.keys(&["x"]);
    let screen = tmux.wait_for("the xDS screen", |s| s.contains("xds resources ("));
    // The frame is intact: the header, the box's corners, the key help.
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines[0].contains("channelz-tui"), "{screen}");
    assert!(screen.contains("┌ xds resources ("), "{screen}");
    assert!(screen.contains("NACKED"), "{screen}");
    // The controls arrive as text: `\x1b`, `\r`, `\n`, `\u{202e}`...
    assert!(screen.contains("\\x1b[2J"), "ESC shown escaped: {screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{202e}'),
        "{screen:?}"
    );
    assert_eq!(title(), before, "a title change reached the terminal");
    // The scope has no channel (Enter on it stays); the NACKED resource
    // below it opens, its whole reason wrapped, escaped.
    tmux.keys(&["j", "Enter"]);
    let screen = tmux.wait_for("the NACKED resource", |s| {
        s.contains("last rejected update")
    });
    assert!(screen.contains("overview › xds › Listener"), "{screen}");
    assert!(screen.contains("\\x07\\r\\n\\x00"), "{screen}");
    assert!(
        !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
        "{screen:?}"
    );
    assert!(screen.lines().count() <= 40, "{screen}");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit", exited_and_reported_mode);
    assert!(screen.contains("exit=0"), "{screen}");
    assert_eq!(title(), before, "a title change reached the terminal");
}

/// A directory of this test process's own under the system's temp dir.
fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("channelz-tui-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits (10 s at most) until the recording at `file` holds `at_least`
/// polls, quits the program in `tmux` (exit 0) and returns how many polls
/// it recorded.
async fn quit_after_polls(tmux: Tmux, file: &Path, at_least: usize) -> usize {
    let polls = || {
        channelz_tui::record::Recording::open(file)
            .map(|r| r.len())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while polls() < at_least {
        assert!(std::time::Instant::now() < deadline, "the program records");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tmux.keys(&["q"]);
    tmux.wait_for("exit", |s| s.contains("exit=0"));
    drop(tmux);
    polls()
}

/// The shell script replaying `file`, then saying how it ended.
fn replay_script(bin: &Path, file: &Path) -> String {
    format!(
        "{} --replay {}; echo \"exit=$?\"; sleep 120",
        bin.display(),
        file.display()
    )
}

/// The dashboard records (`ADDR --record FILE`), and `--replay FILE` opens
/// the same screens with a timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_screens_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = PathBuf::from(BIN);
    let demo = channelz_tui::demo::DemoServer::start("127.0.0.1:0")
        .await
        .expect("demo starts");
    let addr = demo.local_addr().to_string();
    let dir = tempdir();
    let file = dir.join("dashboard.rec");
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
    let n = quit_after_polls(tmux, &file, 8).await;
    demo.shutdown().await;
    let tmux = Tmux::start("replay", &replay_script(&bin, &file));
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

/// The fleet screen records (`ADDR ADDR --record FILE`), and `--replay
/// FILE` opens the fleet screen with a timeline; Enter opens a member's
/// replay, Esc comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_replay_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = PathBuf::from(BIN);
    let ((a, _a), (b, _b)) = (own_demo(&bin).await, own_demo(&bin).await);
    let dir = tempdir();
    let file = dir.join("fleet.rec");
    let script = format!(
        "{} {a} {b} --interval 200ms --record {}; echo \"exit=$?\"; sleep 120",
        bin.display(),
        file.display()
    );
    let tmux = Tmux::start("fleetrec", &script);
    tmux.wait_for("the fleet rows", |s| {
        s.contains("2 of 2 members answering") && s.contains("SERVING")
    });
    let n = quit_after_polls(tmux, &file, 5).await;
    let tmux = Tmux::start("fleetreplay", &replay_script(&bin, &file));
    let screen = tmux.wait_for("the fleet at the first poll", |s| {
        s.contains(&format!("poll 1/{n} ")) && s.contains("members (2)")
    });
    assert!(screen.contains(&a) && screen.contains(&b), "{screen}");
    // Step: the rows answer, as they did live.
    tmux.keys(&["."]);
    tmux.wait_for("poll 2", |s| {
        s.contains(&format!("poll 2/{n} ")) && s.contains("2 of 2 members answering")
    });
    // Enter opens the second member's replay, at the same poll.
    tmux.keys(&["j", "Enter"]);
    let second = std::cmp::max(&a, &b).clone();
    let screen = tmux.wait_for("the member's replay", |s| {
        s.contains("servers (") && s.contains(&format!("poll 2/{n} "))
    });
    assert!(
        screen.lines().next().unwrap_or("").contains(&second),
        "{screen}"
    );
    // Its timeline works; Esc comes back to the fleet at its poll.
    tmux.keys(&["."]);
    tmux.wait_for("the member on poll 3", |s| {
        s.contains(&format!("poll 3/{n} ")) && s.contains("servers (")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("the fleet again", |s| {
        s.contains("members (2)") && s.contains(&format!("poll 3/{n} "))
    });
    tmux.keys(&["q"]);
    tmux.wait_for("exit", |s| s.contains("exit=0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_dashboard_and_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = PathBuf::from(BIN);
    let (addr, _server) = demo_server(&bin, "127.0.0.1:0").await;
    let tmux = Tmux::start("term", &script(&bin, &addr));
    tmux.wait_for("the overview", |s| {
        s.contains("● connected") && s.contains("READY")
    });
    kill("-TERM", tmux.program_pid());
    let screen = tmux.wait_for("exit and the terminal mode", exited_and_reported_mode);
    assert!(screen.contains("exit=0"), "{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "cooked mode restored:\n{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_statuses_of_the_process() {
    let bin = PathBuf::from(BIN);
    let limit = Duration::from_secs(30);

    let out = testkit::bin::output(&bin, &["--json", "--bogus"], limit).await;
    assert_eq!(out.status.code(), Some(1), "bad usage is exit 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("channelz-tui: "), "{stderr}");
    assert!(stderr.contains("-bogus"), "{stderr}");

    let out = testkit::bin::output(&bin, &["--help"], limit).await;
    assert_eq!(out.status.code(), Some(0), "--help is exit 0");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exit codes:"));

    let dead = testkit::faults::refused_addr();
    let out = testkit::bin::output(&bin, &[&dead, "--json"], limit).await;
    assert_eq!(out.status.code(), Some(2), "cannot connect is exit 2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    // No terminal (stdout is a pipe) and no --json: exit 1, saying why.
    let out = testkit::bin::output(&bin, &[&dead], limit).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a terminal"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_json_watch() {
    let bin = PathBuf::from(BIN);
    let dead = testkit::faults::refused_addr();
    let mut child = tokio::process::Command::new(&bin)
        .args([dead.as_str(), "--json", "--watch", "--interval", "100ms"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a line in time");
    assert!(first.expect("read").is_some(), "an error line first");
    kill("-TERM", child.id().expect("running"));
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("ends within 5s of SIGTERM")
        .expect("waits");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_json_watch_during_a_snapshot() {
    // The first snapshot answers; the second hangs in GetTopChannels for
    // longer than the test waits. SIGTERM then must end the run at once.
    let server = testkit::channelz::Hostile {
        paging: testkit::channelz::Paging::HangAfterFirst,
        ..Default::default()
    }
    .start()
    .await;
    let bin = PathBuf::from(BIN);
    let mut child = tokio::process::Command::new(&bin)
        .args([
            server.addr(),
            "--json",
            "--watch",
            "--interval",
            "100ms",
            "--rpc-timeout",
            "120s",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the first snapshot in time");
    assert!(first.expect("read").is_some(), "a snapshot line");
    // Well into the second snapshot.
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill("-TERM", child.id().expect("running"));
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("ends within 5s of SIGTERM, mid-snapshot")
        .expect("waits");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// The docs' `cargo run -p channelz-tui -- --demo` line (README.md's "Try
/// it"), run as written against the built binary in a real terminal: the
/// embedded demo comes up connected with READY channels, and `q` ends it
/// with status 0.
#[tokio::test]
async fn readme_demo_line_runs() {
    use testkit::docs::{all_sh_lines, cargo_run_args, checker, checkers_of_line};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lines: Vec<_> = all_sh_lines(&root)
        .into_iter()
        .filter(|l| checkers_of_line(l).contains(&checker::TUI_DEMO))
        .collect();
    assert!(
        !lines.is_empty(),
        "no `cargo run -p channelz-tui -- --demo` line in the docs"
    );
    if !have_tmux() {
        return;
    }
    for (n, line) in lines.iter().enumerate() {
        let args = cargo_run_args(line.args_from_program());
        let script = format!(
            "{} {}; echo \"exit=$?\"; sleep 120",
            Path::new(BIN).display(),
            args.join(" ")
        );
        let tmux = Tmux::start(&format!("readme{n}"), &script);
        tmux.wait_for(&format!("{}: the demo's overview", line.at), |s| {
            s.contains("● connected") && s.contains("READY")
        });
        tmux.keys(&["q"]);
        let screen = tmux.wait_for(&format!("{}: the exit status", line.at), |s| {
            s.contains("exit=")
        });
        assert!(
            screen.contains("exit=0"),
            "{}: {}:\n{screen}",
            line.at,
            line.text
        );
    }
}
