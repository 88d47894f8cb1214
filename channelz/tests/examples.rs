//! The examples run, not only build: `examples/server` serves on a free
//! port and `examples/client` calls it and prints what Channelz sees on
//! both ends. `cargo test` builds the examples next to this test binary
//! (`target/<profile>/examples/`); a narrow `cargo test --test examples`
//! does not, hence the message asking for `cargo build --examples`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A generous bound for a cold debug binary on a busy 2-core machine.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Kills the child when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/examples-<hash> -> target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let path = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p tonic-channelz --examples` (plain `cargo test` builds it)",
        path.display()
    );
    path
}

/// Runs `child` (stdout and stderr piped) to its end within [`TIMEOUT`]:
/// whether it succeeded, its stdout and its stderr.
fn finish(child: Child) -> (bool, String, String) {
    let mut child = Killed(child);
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.0.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.0.stderr.take().expect("piped stderr")));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the example did not finish in {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = stdout.join().expect("stdout reader");
    let err = stderr.join().expect("stderr reader");
    (status.success(), out, err)
}

#[test]
fn the_client_example_sees_its_calls_and_the_server_examples_channelz() {
    let mut server = Killed(
        Command::new(example("server"))
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start examples/server"),
    );
    let stdout = server.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(TIMEOUT)
        .expect("the server printed its address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("`listening on <addr>`");

    let client = Command::new(example("client"))
        .arg(format!("http://{addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start examples/client");
    let (ok, out, err) = finish(client);
    assert!(ok, "the client failed:\n{out}{err}");
    assert_eq!(out.matches("health: Serving").count(), 3, "{out}");
    // Its own channel: three calls, all OK, on one READY subchannel whose
    // socket carried three streams.
    assert!(
        out.contains(&format!(
            "\"http://{addr}\": READY, calls started 3 succeeded 3 failed 0"
        )),
        "{out}"
    );
    assert!(
        out.contains("streams started 3 succeeded 3, messages sent 3 received 3"),
        "{out}"
    );
    // The server's Channelz, read over the wire: at least the three health
    // calls (the GetServers call itself may be counted by then).
    let peer = out
        .lines()
        .find(|l| l.starts_with("peer server "))
        .expect("a peer server line");
    assert!(peer.contains("\"example\""), "{out}");
    let started: i64 = peer
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!((3..=4).contains(&started), "{out}");
}

#[test]
fn the_examples_reject_a_bad_address_with_one_line() {
    let server = Command::new(example("server"))
        .arg("nonsense")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start examples/server");
    let (ok, _, err) = finish(server);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: \"nonsense\" is not an address"),
        "{err}"
    );
}
