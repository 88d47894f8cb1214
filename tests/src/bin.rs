//! Workspace binaries for tests of another package: cargo builds only the
//! binaries of the package under test, so a test here that runs, say,
//! `channelz-tui` builds it itself, once per test process, and runs it
//! under a time bound so that a hang fails the test rather than the suite.
//! A binary whose library exposes its whole life as a function (such as
//! `grpc_probe::run_cli`) runs in-process instead, with [`in_process`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Paths already built by this process, by binary name.
static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// The path of the binary `name` of the workspace package `name`, built
/// with `$CARGO build -q -p NAME --bin NAME` into the target directory this
/// test runs from, the first time a test of this process asks for it.
///
/// Panics when the build fails, failing the test that asked for it.
pub fn path(name: &str) -> PathBuf {
    // Held across the build: a second caller waits for the first build
    // rather than starting its own.
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    // The test executable is `target/<profile>/deps/<test>-<hash>`; the
    // binaries are in `target/<profile>`.
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "-q", "-p", name, "--bin", name])
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {name}");
    let path = dir.join(name);
    built.insert(name.to_owned(), path.clone());
    path
}

/// Runs `bin ARGS` to completion, killed and failing the test if it has not
/// finished within `limit`; returns its output.
pub async fn output(bin: &Path, args: &[&str], limit: Duration) -> Output {
    tokio::time::timeout(
        limit,
        tokio::process::Command::new(bin)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{} {args:?} did not finish in {limit:?}", bin.display()))
    .unwrap_or_else(|e| panic!("{} runs: {e}", bin.display()))
}

/// What an in-process run of a binary's entry point printed and returned.
#[derive(Debug)]
pub struct CliRun {
    /// The exit code it would have exited with.
    pub code: u8,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// How long the whole run took.
    pub elapsed: Duration,
}

impl CliRun {
    /// The lines of stderr.
    pub fn lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Stdout parsed as one JSON document (panics, naming stdout, if it is
    /// not one).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {:?}", self.stdout))
    }
}

/// Runs `main` (a binary's whole life, handed its stdout and stderr and
/// returning its exit code) on a thread of its own: such an entry point
/// builds its own runtime, which cannot nest inside the test's, and the
/// test's runtime keeps serving meanwhile.
///
/// ```no_run
/// # async fn example() {
/// let run = testkit::bin::in_process(|out, err| {
///     grpc_probe::run_cli(["grpc-probe", "-addr=localhost:50051"], out, err).code()
/// })
/// .await;
/// assert_eq!(run.code, 0, "{run:?}");
/// # }
/// ```
pub async fn in_process(
    main: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> u8 + Send + 'static,
) -> CliRun {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let started = Instant::now();
        let code = main(&mut out, &mut err);
        let _ = tx.send(CliRun {
            code,
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            elapsed: started.elapsed(),
        });
    });
    rx.await.expect("the in-process run panicked")
}
