//! The program: parse, pick the mode, run it, map the outcome to an exit
//! code in one place. The dashboard loop is one `tokio::select!` over keys,
//! poller messages, a clock tick and SIGTERM, drawing after each event;
//! the poller runs in its own task, so drawing never waits on the network.

use std::ffi::OsString;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use grpc_toolkit_conn::escape::escape;
use grpc_toolkit_conn::{self as conn, ConnectOptions, Target, UsageError};
use tokio::sync::{Notify, mpsc, watch};

use crate::cli::{Args, Config, Mode, Source, normalize};
use crate::demo::DemoServer;
use crate::exit::ExitStatus;
use crate::fleet::{self, Resolver};
use crate::model::{Focus, Model};
use crate::msg::Msg;
use crate::poll::{self, Api, Dialer, Limits, Wanted};
use crate::record::{self, Recorder};
use crate::terminal;
use crate::update::{Command, update};
use crate::view::{self, view};
use crate::{input, monitor};

/// The binary's whole life in-process: parse `argv` (program name first),
/// run with SIGINT/SIGTERM handling, print to the given streams (the
/// dashboard itself draws on the terminal), and return the exit status.
pub fn run_cli<I, A>(argv: I, stdout: &mut dyn Write, stderr: &mut dyn Write) -> ExitStatus
where
    I: IntoIterator<Item = A>,
    A: Into<OsString>,
{
    run_cli_with(argv, stdout, stderr, Resolver::system())
}

/// [`run_cli`], resolving `--fleet` names with `resolver` (tests make a
/// name answer with several loopback addresses).
pub fn run_cli_with<I, A>(
    argv: I,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    resolver: Resolver,
) -> ExitStatus
where
    I: IntoIterator<Item = A>,
    A: Into<OsString>,
{
    let config = match parse(argv.into_iter().map(Into::into).collect()) {
        Ok(c) => c,
        Err(exit) => {
            // A closed pipe (`--help | head -1`) is no reason to fail.
            let _ = if exit.to_stderr {
                stderr.write_all(exit.text.as_bytes())
            } else {
                stdout
                    .write_all(exit.text.as_bytes())
                    .and_then(|()| stdout.flush())
            };
            return exit.status;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(stderr, "channelz-tui: cannot start the runtime: {e}");
            return ExitStatus::Usage;
        }
    };
    let status = runtime.block_on(run_with(config, resolver, stdout, stderr));
    // The poller may be blocked in a connect; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    status
}

/// A command line that ends the program before anything runs: `--help`,
/// `--version`, or a usage error. Returned rather than printed, so tests
/// see exactly what the program would print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyExit {
    /// What to print, ending in a newline.
    pub text: String,
    /// Whether it goes to stderr (errors) rather than stdout (help, version).
    pub to_stderr: bool,
    /// How the program ends.
    pub status: ExitStatus,
}

/// Parses and validates `argv` (program name first) into a [`Config`], the
/// way [`run_cli`] does.
pub fn parse(argv: Vec<OsString>) -> Result<Config, EarlyExit> {
    let argv = normalize(argv).map_err(|e| usage(&e))?;
    let args = Args::try_parse_from(argv).map_err(|e| EarlyExit {
        text: e.render().to_string(),
        to_stderr: e.use_stderr(),
        status: if e.exit_code() == 0 {
            ExitStatus::Ok
        } else {
            ExitStatus::Usage
        },
    })?;
    args.validate().map_err(|e| usage(&e))
}

fn usage(message: &UsageError) -> EarlyExit {
    EarlyExit {
        text: format!(
            "channelz-tui: {}\nusage: channelz-tui [flags] ADDR   (channelz-tui --help for the flags)\n",
            escape(&message.to_string())
        ),
        to_stderr: true,
        status: ExitStatus::Usage,
    }
}

/// Runs a validated configuration, printing to `out` and `err`; returns
/// how it ended.
pub async fn run(config: Config, out: &mut dyn Write, err: &mut dyn Write) -> ExitStatus {
    run_with(config, Resolver::system(), out, err).await
}

/// [`run`], resolving `--fleet` names with `resolver`.
pub async fn run_with(
    config: Config,
    resolver: Resolver,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitStatus {
    if let Some(fleet) = &config.fleet {
        return fleet_with_recording(&config, fleet, resolver, out, err).await;
    }
    if let Mode::DemoServer(addr) = &config.mode {
        return demo_server(addr, out, err).await;
    }
    if let Mode::Replay {
        path,
        json,
        watch,
        at,
    } = &config.mode
    {
        return if *json {
            record::replay::json(path, *at, *watch, out, err)
        } else {
            record::replay_screens(path, err).await
        };
    }
    let recorder = match create_recorder(&config, std::slice::from_ref(&config.target), err) {
        Ok(r) => r,
        Err(status) => return status,
    };
    // Keeps the demo running for as long as the dashboard needs it.
    let mut _demo = None;
    let options = match &config.source {
        Source::Remote(options) => (**options).clone(),
        Source::Demo => match DemoServer::start("127.0.0.1:0").await {
            Ok(demo) => {
                let addr = demo.local_addr();
                _demo = Some(demo);
                ConnectOptions::plaintext(
                    Target::Tcp {
                        host: addr.ip().to_string(),
                        port: addr.port(),
                    },
                    concat!("channelz-tui/", env!("CARGO_PKG_VERSION")),
                )
            }
            Err(e) => {
                let _ = writeln!(err, "channelz-tui: cannot start the demo server: {e}");
                return ExitStatus::Usage;
            }
        },
    };
    let dial = dialer(options, config.rpc_timeout, config.limits);
    match config.mode {
        Mode::Json { watch } => monitor::run(&config, dial, watch, recorder, out, err).await,
        _ => tui(&config, dial, recorder, err).await,
    }
}

/// The recording `--record` asks for, its header naming `targets`; the
/// exit status when it cannot be created.
fn create_recorder(
    config: &Config,
    targets: &[String],
    err: &mut dyn Write,
) -> Result<Option<Recorder>, ExitStatus> {
    let Some(path) = &config.record else {
        return Ok(None);
    };
    Recorder::create(path, targets, config.interval)
        .map(Some)
        .map_err(|e| {
            let _ = writeln!(
                err,
                "channelz-tui: cannot create the recording {}: {e}",
                escape(&path.display().to_string())
            );
            ExitStatus::Usage
        })
}

/// A fleet, recording every interval's members with `--record`: the fleet
/// screen records each round, `--json --watch` each document.
async fn fleet_with_recording(
    config: &Config,
    fleet: &fleet::FleetConfig,
    resolver: Resolver,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitStatus {
    let names: Vec<String> = fleet.names.iter().map(|n| n.name.clone()).collect();
    let mut recorder = match create_recorder(config, &names, err) {
        Ok(r) => r,
        Err(status) => return status,
    };
    let Some(watch) = fleet.json else {
        let recorder = recorder.map(|r| Box::new(r) as Box<dyn fleet::tui::RoundRecorder>);
        return fleet::tui::run(fleet, resolver, recorder, err).await;
    };
    let mut failure = None;
    let status = fleet::json::run(fleet, resolver, watch, out, err, &mut |time, members| {
        if let Some(r) = &mut recorder
            && let Err(e) = r.write_poll(time, members)
        {
            // Stop recording, keep watching; said once the run ends.
            failure = Some(e);
            recorder = None;
        }
    })
    .await;
    if let Some(e) = failure {
        let _ = writeln!(err, "channelz-tui: cannot write the recording: {e}");
        return ExitStatus::Usage;
    }
    status
}

/// A dialer for `options`; its clients bound each snapshot by `limits`.
pub fn dialer(options: ConnectOptions, rpc_timeout: Duration, limits: Limits) -> Dialer {
    let options = Arc::new(options);
    Arc::new(move || {
        let options = Arc::clone(&options);
        Box::pin(async move {
            conn::connect(&options)
                .await
                .map(|c| Api::new(c, rpc_timeout).with_limits(limits))
        })
    })
}

async fn demo_server(addr: &str, out: &mut dyn Write, err: &mut dyn Write) -> ExitStatus {
    let demo = match DemoServer::start(addr).await {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(
                err,
                "channelz-tui: cannot start the demo server on {addr}: {e}"
            );
            return ExitStatus::Usage;
        }
    };
    let _ = writeln!(out, "listening on {}", demo.local_addr()).and_then(|()| out.flush());
    crate::signals::termination().await;
    demo.shutdown().await;
    ExitStatus::Ok
}

async fn tui(
    config: &Config,
    dial: Dialer,
    recorder: Option<Recorder>,
    err: &mut dyn Write,
) -> ExitStatus {
    let (guard, mut term) = match terminal::setup() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "channelz-tui: {e}");
            return ExitStatus::Usage;
        }
    };
    let (tx, mut rx) = mpsc::channel(64);
    let (want_tx, want_rx) = watch::channel(Wanted {
        focus: Focus::Overview,
        paused: false,
    });
    let refresh = Arc::new(Notify::new());
    let poller = match recorder {
        None => tokio::spawn(poll::run(
            dial,
            config.interval,
            tx,
            want_rx,
            Arc::clone(&refresh),
        )),
        Some(recorder) => tokio::spawn(record::live::run(
            dial,
            config.interval,
            tx,
            want_rx,
            Arc::clone(&refresh),
            record::live::Sink {
                recorder,
                member: config.target.clone(),
            },
        )),
    };
    let mut model = Model::new(config.target.clone(), config.interval, SystemTime::now());
    if let Ok(size) = term.size() {
        update(&mut model, Msg::Resize(view::panel_heights(size.height)));
    }
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    let mut terminated = std::pin::pin!(crate::signals::termination());
    let result = loop {
        if let Err(e) = term.draw(|f| view(&model, f)) {
            break Err(format!("cannot draw: {e}"));
        }
        let msg = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => input::action(key, model.filter_editing).map(Msg::Action),
                Some(Ok(Event::Resize(_, height))) => Some(Msg::Resize(view::panel_heights(height))),
                Some(Ok(_)) => None,
                Some(Err(e)) => break Err(format!("cannot read the terminal: {e}")),
                None => break Ok(()),
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = ticker.tick() => Some(Msg::Tick(SystemTime::now())),
            () = &mut terminated => break Ok(()),
        };
        if let Some(msg) = msg
            && update(&mut model, msg) == Command::Refresh
        {
            refresh.notify_one();
        }
        Wanted {
            focus: model.focus(),
            paused: model.paused,
        }
        .send(&want_tx);
        if model.quit {
            break Ok(());
        }
    };
    poller.abort();
    drop(term);
    drop(guard);
    crate::terminal::ended(result, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<OsString> {
        std::iter::once("channelz-tui")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// The flags as users see them: a changed, added or removed flag shows
    /// in review as a change of this snapshot.
    #[test]
    fn help_text() {
        let exit = parse(argv(&["--help"])).expect_err("--help does not run");
        assert_eq!(
            (exit.status, exit.to_stderr),
            (ExitStatus::Ok, false),
            "{exit:?}"
        );
        insta::assert_snapshot!(exit.text);
    }

    #[test]
    fn go_style_help_is_the_same_text() {
        let go = parse(argv(&["-help"])).expect_err("-help does not run");
        let gnu = parse(argv(&["--help"])).expect_err("--help does not run");
        assert_eq!(go, gnu);
    }

    #[test]
    fn usage_errors_go_to_stderr_with_code_1() {
        let exit = parse(argv(&["a:1", "--watch"])).expect_err("rejected");
        assert_eq!((exit.status, exit.to_stderr), (ExitStatus::Usage, true));
        assert!(
            exit.text
                .starts_with("channelz-tui: --watch needs --json\nusage: channelz-tui"),
            "{}",
            exit.text
        );
        let exit = parse(argv(&["--bogus"])).expect_err("rejected");
        assert_eq!((exit.status, exit.to_stderr), (ExitStatus::Usage, true));
        assert!(exit.text.contains("-bogus"), "{}", exit.text);
    }
}
