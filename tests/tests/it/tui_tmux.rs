//! The real `channelz-tui` binary: the one place the TUI runs as a
//! process, for what only a process shows. In a real terminal (tmux) it
//! starts, shows the server's channels, navigates, survives the server
//! going away and coming back on the same address, quits on `q` and on
//! SIGTERM, and leaves the terminal in cooked mode with the alternate
//! screen gone. Without a terminal it ends with its documented exit
//! statuses (1 bad usage, 2 cannot connect) and ends on a signal.
//!
//! The terminal tests need tmux (CI installs it); without it they print a
//! notice and skip, except with CI=true where they fail.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

/// A tmux server of our own (its own socket), killed on drop.
pub(super) struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of its own running `script` in a 120x36 session.
    pub(super) fn start(name: &str, script: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("channelz-tui-test-{name}-{}", std::process::id()),
        };
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "120",
            "-y",
            "36",
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

    pub(super) fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"])
    }

    pub(super) fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", "tui", k]);
            // One key per read: an Esc followed at once by another key
            // would be read as Alt+key, as in any terminal.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub(super) fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
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

pub(super) fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(!testkit::peers::in_ci(), "tmux is required in CI");
        eprintln!("!!!!! SKIPPED: tmux is not installed");
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

async fn demo_server(bin: &Path, addr: &str) -> tokio::process::Child {
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
    assert!(first.starts_with("listening on "), "{first}");
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_real_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = testkit::bin::path("channelz-tui");
    // A free port (bound and closed): the demo server is started on it, and
    // restarted on the same address later in the test.
    let addr = testkit::faults::refused_addr();
    let mut server = demo_server(&bin, &addr).await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_dashboard_and_restores_the_terminal() {
    if !have_tmux() {
        return;
    }
    let bin = testkit::bin::path("channelz-tui");
    let addr = testkit::faults::refused_addr();
    let _server = demo_server(&bin, &addr).await;
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
    let bin = testkit::bin::path("channelz-tui");
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
    let bin = testkit::bin::path("channelz-tui");
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
    let server = crate::tui_hostile::Hostile {
        paging: crate::tui_hostile::Paging::HangAfterFirst,
        ..Default::default()
    }
    .start()
    .await;
    let bin = testkit::bin::path("channelz-tui");
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
