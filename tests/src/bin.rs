//! Running the workspace's binaries from tests: a real process under a
//! time bound ([`output`]), so that a hang fails the test rather than the
//! suite, or, for a binary whose library exposes its whole life as a
//! function (such as `grpc_probe::run_cli`), in-process ([`in_process`]).
//!
//! A test that needs the real executable lives in that binary's package
//! and takes it from `CARGO_BIN_EXE_<name>`: cargo builds it there with
//! the workspace test build's features. (Building it from here with
//! `cargo build -p` recompiled ~40 s of dependencies with another feature
//! set.)

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

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

/// Stdout for an in-process `--json --watch`: each complete line goes to
/// the test as it is written, and once the test stops listening, writes
/// fail as a closed pipe does, which ends the run (`| head -3`).
pub struct LineSink {
    /// Bytes of a line not yet complete.
    pub partial: Vec<u8>,
    /// Where complete lines go, without their newline.
    pub lines: std::sync::mpsc::Sender<String>,
}

impl std::io::Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Only the new bytes can hold a newline: scanning the whole partial
        // line on every write was quadratic (an 18 MB document arrives in
        // 8 KiB writes).
        let had_newline = buf.contains(&b'\n');
        self.partial.extend_from_slice(buf);
        while had_newline && let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
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
