//! `--json` and `--json --watch` for one target: dial, take a snapshot,
//! print it as one line of JSON (rates from the previous one), record it
//! with `--record`, and, watching, again every interval. A lost connection
//! is an `{"error"}` line and a redial, not the end of a watch.
//!
//! The fleet's JSON loop is `fleet::json`; the documents both print are
//! written by `json`.

use std::io::Write;
use std::time::SystemTime;

use grpc_toolkit_conn::escape::escape;

use crate::cli::Config;
use crate::exit::ExitStatus;
use crate::json;
use crate::poll::{Api, Dialer};
use crate::record::Recorder;
use crate::snapshot::Snapshot;

/// Prints `value` as one line; false when the output is gone.
fn print_line(out: &mut dyn Write, value: &serde_json::Value) -> bool {
    // A closed pipe (`| head -1`) ends the program quietly.
    serde_json::to_writer(&mut *out, value).is_ok()
        && out.write_all(b"\n").is_ok()
        && out.flush().is_ok()
}

/// Runs `--json` (one snapshot) or `--json --watch` (one per
/// `config.interval`) against `config.target`, dialing with `dial`.
pub async fn run(
    config: &Config,
    dial: Dialer,
    watch: bool,
    mut recorder: Option<Recorder>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitStatus {
    // Each poll goes to the recording as the line it printed: the
    // snapshot, or the error text of its `{"error"}` line.
    let mut record = |result: Result<&Snapshot, &str>, err: &mut dyn Write| -> bool {
        let Some(r) = &mut recorder else { return true };
        let target = config.target.as_str();
        match r.write_poll(SystemTime::now(), &[(target, target, result)]) {
            Ok(()) => true,
            Err(e) => {
                let _ = writeln!(err, "channelz-tui: cannot write the recording: {e}");
                false
            }
        }
    };
    let mut api: Option<Api> = None;
    let mut previous = None;
    // One listener for the whole run: a signal that arrives while a
    // snapshot is being taken must end the run too, not be lost between
    // two listeners.
    let mut terminated = std::pin::pin!(crate::signals::termination());
    loop {
        if api.is_none() {
            let dialed = tokio::select! {
                dialed = dial() => dialed,
                () = &mut terminated => return ExitStatus::Ok,
            };
            match dialed {
                Ok(a) => api = Some(a),
                Err(e) if !watch => {
                    let _ = writeln!(
                        err,
                        "channelz-tui: cannot connect to {}: {}",
                        escape(&config.target),
                        escape(&e.to_string())
                    );
                    return ExitStatus::ConnectFailure;
                }
                Err(e) => {
                    let text = format!("cannot connect to {}: {e}", config.target);
                    if !record(Err(&text), err) {
                        return ExitStatus::Usage;
                    }
                    let line = serde_json::json!({ "error": text });
                    if !print_line(out, &line) {
                        return ExitStatus::Ok;
                    }
                }
            }
        }
        if let Some(a) = &api {
            let taken = tokio::select! {
                taken = json::take(a) => taken,
                () = &mut terminated => return ExitStatus::Ok,
            };
            match taken {
                Ok(snapshot) => {
                    let mut buffered = std::io::BufWriter::new(&mut *out);
                    let written = snapshot
                        .write_json(&config.target, previous.as_ref(), &mut buffered)
                        .and_then(|()| buffered.write_all(b"\n"))
                        .and_then(|()| buffered.flush());
                    // A closed pipe (`| head -1`) ends the program quietly.
                    if written.is_err() {
                        return ExitStatus::Ok;
                    }
                    if !record(Ok(&snapshot), err) {
                        return ExitStatus::Usage;
                    }
                    previous = Some(snapshot.counters());
                }
                Err(e) if !watch => {
                    // The server chose the words of its status message.
                    let _ = writeln!(err, "channelz-tui: {}", escape(&e.to_string()));
                    return ExitStatus::RpcFailure;
                }
                Err(e) => {
                    if e.is_connection_loss() {
                        api = None;
                    }
                    if !record(Err(&e.to_string()), err) {
                        return ExitStatus::Usage;
                    }
                    if !print_line(out, &serde_json::json!({ "error": e.to_string() })) {
                        return ExitStatus::Ok;
                    }
                }
            }
        }
        if !watch {
            return ExitStatus::Ok;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            () = &mut terminated => return ExitStatus::Ok,
        }
    }
}
