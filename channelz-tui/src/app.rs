//! The program: parse, pick the mode, run it, map the outcome to an exit
//! code in one place. The dashboard loop is one `tokio::select!` over keys,
//! poller messages, a clock tick and SIGTERM, drawing after each event;
//! the poller runs in its own task, so drawing never waits on the network.

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use clap::Parser;
use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use grpc_toolkit_conn::{self as conn, ConnectOptions, Target};
use tokio::sync::{Notify, mpsc, watch};

use crate::cli::{Args, Config, Mode, Source, normalize};
use crate::demo::DemoServer;
use crate::model::{Focus, Model};
use crate::poll::{self, Api, Dialer, Wanted};
use crate::terminal;
use crate::update::{Command, Msg, update};
use crate::view::view;
use crate::{input, json};

/// Exit code: bad usage, or no terminal.
pub const EXIT_USAGE: u8 = 1;
/// Exit code: cannot connect.
pub const EXIT_CONNECT: u8 = 2;
/// Exit code: an RPC failed (including no Channelz service).
pub const EXIT_RPC: u8 = 3;

/// Runs the program with `argv` and returns its exit code.
pub fn main_with(argv: Vec<OsString>) -> ExitCode {
    let config = match parse(argv) {
        Ok(c) => c,
        Err(exit) => {
            // A closed pipe (`--help | head -1`) is no reason to fail.
            let _ = if exit.to_stderr {
                std::io::stderr().lock().write_all(exit.text.as_bytes())
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(exit.text.as_bytes())
                    .and_then(|()| out.flush())
            };
            return ExitCode::from(exit.code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("channelz-tui: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let code = runtime.block_on(run(config));
    // The poller may be blocked in a connect; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code)
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
    /// The exit code.
    pub code: u8,
}

/// Parses and validates `argv` (program name first) into a [`Config`], the
/// way [`main_with`] does.
pub fn parse(argv: Vec<OsString>) -> Result<Config, EarlyExit> {
    let argv = normalize(argv).map_err(|e| usage(&e.0))?;
    let args = Args::try_parse_from(argv).map_err(|e| {
        let code = u8::try_from(e.exit_code()).unwrap_or(EXIT_USAGE);
        EarlyExit {
            text: e.render().to_string(),
            to_stderr: e.use_stderr(),
            code: if code == 0 { 0 } else { EXIT_USAGE },
        }
    })?;
    args.validate().map_err(|e| usage(&e.0))
}

fn usage(message: &str) -> EarlyExit {
    EarlyExit {
        text: format!(
            "channelz-tui: {message}\nusage: channelz-tui [flags] ADDR   (channelz-tui --help for the flags)\n"
        ),
        to_stderr: true,
        code: EXIT_USAGE,
    }
}

/// Runs a validated configuration; returns the exit code.
pub async fn run(config: Config) -> u8 {
    if let Mode::DemoServer(addr) = &config.mode {
        return demo_server(addr).await;
    }
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
                eprintln!("channelz-tui: cannot start the demo server: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let dial = dialer(options, config.rpc_timeout);
    match config.mode {
        Mode::Json { watch } => json_mode(&config, dial, watch).await,
        _ => tui(&config, dial).await,
    }
}

/// A dialer for `options`.
pub fn dialer(options: ConnectOptions, rpc_timeout: Duration) -> Dialer {
    let options = Arc::new(options);
    Arc::new(move || {
        let options = Arc::clone(&options);
        Box::pin(async move {
            conn::connect(&options)
                .await
                .map(|c| Api::new(c, rpc_timeout))
                .map_err(|e| e.to_string())
        })
    })
}

async fn demo_server(addr: &str) -> u8 {
    let demo = match DemoServer::start(addr).await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("channelz-tui: cannot start the demo server on {addr}: {e}");
            return EXIT_USAGE;
        }
    };
    println!("listening on {}", demo.local_addr());
    let _ = std::io::stdout().flush();
    wait_for_termination().await;
    demo.shutdown().await;
    0
}

async fn wait_for_termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn print_line(value: &serde_json::Value) -> bool {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head -1`) ends the program quietly.
    serde_json::to_writer(&mut out, value).is_ok()
        && out.write_all(b"\n").is_ok()
        && out.flush().is_ok()
}

async fn json_mode(config: &Config, dial: Dialer, watch: bool) -> u8 {
    let mut api: Option<Api> = None;
    let mut previous = None;
    loop {
        if api.is_none() {
            match dial().await {
                Ok(a) => api = Some(a),
                Err(e) if !watch => {
                    eprintln!("channelz-tui: cannot connect to {}: {e}", config.target);
                    return EXIT_CONNECT;
                }
                Err(e) => {
                    if !print_line(
                        &serde_json::json!({ "error": format!("cannot connect to {}: {e}", config.target) }),
                    ) {
                        return 0;
                    }
                }
            }
        }
        if let Some(a) = &api {
            match json::take(a).await {
                Ok(snapshot) => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    let written = snapshot
                        .write_json(&config.target, previous.as_ref(), &mut out)
                        .and_then(|()| out.write_all(b"\n"))
                        .and_then(|()| out.flush());
                    // A closed pipe (`| head -1`) ends the program quietly.
                    if written.is_err() {
                        return 0;
                    }
                    previous = Some(snapshot.counters());
                }
                Err(e) if !watch => {
                    eprintln!("channelz-tui: {e}");
                    return EXIT_RPC;
                }
                Err(e) => {
                    if e.is_connection_loss() {
                        api = None;
                    }
                    if !print_line(&serde_json::json!({ "error": e.to_string() })) {
                        return 0;
                    }
                }
            }
        }
        if !watch {
            return 0;
        }
        tokio::select! {
            _ = tokio::time::sleep(config.interval) => {}
            _ = wait_for_termination() => return 0,
        }
    }
}

async fn tui(config: &Config, dial: Dialer) -> u8 {
    let (guard, mut term) = match terminal::setup() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("channelz-tui: {e}");
            return EXIT_USAGE;
        }
    };
    let (tx, mut rx) = mpsc::channel(64);
    let (want_tx, want_rx) = watch::channel(Wanted {
        focus: Focus::Overview,
        paused: false,
    });
    let refresh = Arc::new(Notify::new());
    let poller = tokio::spawn(poll::run(
        dial,
        config.interval,
        tx,
        want_rx,
        Arc::clone(&refresh),
    ));
    let mut model = Model::new(config.target.clone(), config.interval, SystemTime::now());
    if let Ok(size) = term.size() {
        update(
            &mut model,
            Msg::Resize {
                height: size.height,
            },
        );
    }
    let mut events = EventStream::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        if let Err(e) = term.draw(|f| view(&model, f)) {
            break Err(format!("cannot draw: {e}"));
        }
        let msg = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) => input::action(key, model.filter_editing).map(Msg::Action),
                Some(Ok(Event::Resize(_, height))) => Some(Msg::Resize { height }),
                Some(Ok(_)) => None,
                Some(Err(e)) => break Err(format!("cannot read the terminal: {e}")),
                None => break Ok(()),
            },
            Some(msg) = rx.recv() => Some(msg),
            _ = ticker.tick() => Some(Msg::Tick(SystemTime::now())),
            _ = wait_for_termination() => break Ok(()),
        };
        if let Some(msg) = msg
            && update(&mut model, msg) == Command::Refresh
        {
            refresh.notify_one();
        }
        let wanted = Wanted {
            focus: model.focus(),
            paused: model.paused,
        };
        want_tx.send_if_modified(|w| {
            if *w == wanted {
                false
            } else {
                *w = wanted;
                true
            }
        });
        if model.quit {
            break Ok(());
        }
    };
    poller.abort();
    drop(term);
    drop(guard);
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("channelz-tui: {e}");
            EXIT_USAGE
        }
    }
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
        assert_eq!((exit.code, exit.to_stderr), (0, false), "{exit:?}");
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
        assert_eq!((exit.code, exit.to_stderr), (EXIT_USAGE, true));
        assert!(
            exit.text
                .starts_with("channelz-tui: --watch needs --json\nusage: channelz-tui"),
            "{}",
            exit.text
        );
        let exit = parse(argv(&["--bogus"])).expect_err("rejected");
        assert_eq!((exit.code, exit.to_stderr), (EXIT_USAGE, true));
        assert!(exit.text.contains("-bogus"), "{}", exit.text);
    }
}
