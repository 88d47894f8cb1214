//! `grpc-probe` as a library: the health checking logic behind the
//! `grpc-probe` binary, on the toolkit's connection layer
//! (`grpc_toolkit_conn`).
//!
//! [`run_cli`] is the whole binary in-process (argv in, lines out, exit
//! status back); [`run::execute`] runs an already validated
//! [`cli::Config`].

pub mod arena;
pub mod cli;
pub mod exit;
pub mod output;
pub mod run;

use std::ffi::OsString;
use std::io::Write;

use cli::Invocation;
use exit::Status;

/// The message the reference tool prints when SPIFFE credentials fail;
/// this build has no SPIFFE support, so `-spiffe` always ends here.
pub const SPIFFE_MESSAGE: &str =
    "failed to initialize tls credentials with spiffe. error=not supported";

/// The binary's whole life in-process: parse `argv` (program name first),
/// run with SIGINT/SIGTERM handling, print to the given streams, and return
/// the exit status.
pub fn run_cli<I, A>(argv: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Status
where
    I: IntoIterator<Item = A>,
    A: Into<OsString>,
{
    let config = match cli::parse(argv) {
        Ok(Invocation::Run(config)) => config,
        Ok(Invocation::Version) => {
            let _ = writeln!(stdout, "{}", env!("CARGO_PKG_VERSION"));
            return Status::Serving;
        }
        Ok(Invocation::Help(text)) => {
            let _ = write!(stdout, "{text}");
            return Status::Serving;
        }
        Ok(Invocation::Spiffe) => {
            let _ = writeln!(stderr, "{SPIFFE_MESSAGE}");
            return Status::Spiffe;
        }
        Err(err) => {
            // Usage errors quote the user's arguments.
            let line = grpc_toolkit_conn::escape::escape_cut(&err.go_line(), 1024);
            let _ = writeln!(stderr, "{line}");
            return Status::Usage;
        }
    };
    // One thread: a probe does one thing at a time and start-up time is
    // most of its cost.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = writeln!(stderr, "error: cannot start the async runtime: {err}");
            return Status::ConnectFailure;
        }
    };
    let mut sinks = run::Sinks { stdout, stderr };
    runtime.block_on(async {
        let cancel = signals();
        run::execute(&config, cancel, &mut sinks).await
    })
}

/// SIGINT or SIGTERM, named as Go names them (`interrupt`, `terminated`),
/// since the reference tool's `cancellation received (signal: …)` line
/// prints Go's names.
#[cfg(unix)]
fn signals() -> run::Cancel<'static> {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut interrupt), Ok(mut terminate)) => Box::pin(async move {
            tokio::select! {
                _ = interrupt.recv() => "interrupt",
                _ = terminate.recv() => "terminated",
            }
        }),
        // Without handlers the default action (exit by signal) applies.
        _ => run::never_cancel(),
    }
}

#[cfg(not(unix))]
fn signals() -> run::Cancel<'static> {
    Box::pin(async {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    })
}
