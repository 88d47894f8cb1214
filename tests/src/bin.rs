//! Workspace binaries for tests of another package: cargo builds only the
//! binaries of the package under test, so a test here that runs, say,
//! `channelz-tui` builds it itself, once per test process, and runs it
//! under a time bound so that a hang fails the test rather than the suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

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
