//! The examples run, not only build: `examples/server` serves on a free
//! port and `examples/client` calls it and prints what Channelz sees on
//! both ends. `cargo test` builds the examples next to this test binary
//! (`target/<profile>/examples/`); a narrow `cargo test --test examples`
//! does not, hence the message asking for `cargo build --examples`. The
//! server and client are started as channelz/README.md's example lines say.

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

/// The `cargo run -p tonic-channelz --example NAME -- ARG` lines of
/// channelz/README.md, as (NAME, ARG, file:line).
fn readme_lines() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("channelz/README.md");
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let rest = line
                .trim()
                .strip_prefix("cargo run -p tonic-channelz --example ")?;
            let (name, arg) = rest.split_once(" -- ")?;
            let at = format!("channelz/README.md:{}", index + 1);
            Some((name.to_string(), arg.trim().to_string(), at))
        })
        .collect()
}

/// channelz/README.md's two example lines, run as written, except the
/// server's port: 0 (a free one) instead of the documented 50051, which
/// may be taken; the client gets the server's real address in the
/// documented form, so the two lines must name the same address.
#[test]
fn the_readme_example_lines_run() {
    let lines = readme_lines();
    let [
        (server_name, server_arg, server_at),
        (client_name, client_arg, client_at),
    ] = &lines[..]
    else {
        panic!("channelz/README.md: two example lines expected, found {lines:?}");
    };
    assert_eq!(server_name, "server", "{server_at}");
    assert_eq!(client_name, "client", "{client_at}");
    assert_eq!(
        client_arg,
        &format!("http://{server_arg}"),
        "{client_at}: the client does not dial the server of {server_at}"
    );
    let (host, _) = server_arg
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("{server_at}: {server_arg} is not HOST:PORT"));
    let mut server = Killed(
        Command::new(example("server"))
            .arg(format!("{host}:0"))
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
        .arg(client_arg.replace(server_arg.as_str(), addr))
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
