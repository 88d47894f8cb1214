//! `grpc-exporter`: gRPC health and Channelz for Prometheus.
//!
//! A long-running HTTP server in the multi-target pattern: Prometheus asks
//! `/probe?target=…&module=…` (compatible with blackbox_exporter's `grpc`
//! prober, extended in new series only) and `/channelz?target=…&module=…`
//! (a server's Channelz as metrics), and scrapes `/metrics` for the
//! exporter itself. The config is blackbox_exporter's `blackbox.yml`.
//!
//! [`run_cli`] is the whole binary; [`start`] runs the server in-process
//! for tests and embedding.

pub mod allow;
pub mod app;
pub mod certs;
pub mod channelz;
pub mod cli;
pub mod config;
pub mod expose;
pub mod history;
pub mod log;
pub mod probe;
pub mod selfmetrics;
pub mod server;
pub mod timeout;
pub mod webconfig;
mod xds;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use tokio::sync::watch;

use crate::app::App;
use crate::cli::{Args, Settings};
use crate::log::Level;

/// Why the exporter could not start (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config file is bad.
    #[error("error loading config: {0}")]
    Config(#[from] config::ConfigError),
    /// The web config file is bad.
    #[error("error loading web config: {0}")]
    WebConfig(String),
    /// A listener could not be bound.
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
}

/// A running exporter; dropping it stops the listeners.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (port 0 resolved).
    pub addrs: Vec<SocketAddr>,
    /// The shared state (reload, metrics).
    pub app: Arc<App>,
    stop: watch::Sender<bool>,
}

impl Running {
    /// `http://addr` of the first listener.
    pub fn url(&self) -> String {
        format!("http://{}", self.addrs[0])
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Loads the config and web config, binds, and serves in the background
/// of the current tokio runtime.
pub async fn start(settings: Settings) -> Result<Running, StartError> {
    // The first call wins: the binary has set these already.
    log::init(settings.log_level, settings.log_format);
    let loaded = config::load(&settings.config_file)?;
    for warning in &loaded.warnings {
        log::log(Level::Warn, warning, &[]);
    }
    let web =
        server::WebSource::new(settings.web_config_file.clone()).map_err(StartError::WebConfig)?;
    let listeners = server::bind(&settings).await.map_err(StartError::Listen)?;
    let addrs = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let app = Arc::new(App::new(settings, loaded.config));
    let web = Arc::new(web);
    let (stop, stopped) = watch::channel(false);
    for listener in listeners {
        tokio::spawn(server::serve(
            listener,
            app.clone(),
            web.clone(),
            stopped.clone(),
        ));
    }
    Ok(Running { addrs, app, stop })
}

/// The binary: parse flags, check or run, map the result to an exit code.
pub fn run_cli() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => return clap_refused(&e),
    };
    let settings = match Settings::try_from(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("grpc-exporter: error: {e}");
            return ExitCode::from(1);
        }
    };
    log::init(settings.log_level, settings.log_format);
    if settings.config_check {
        return match config::load(&settings.config_file) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    log::log(Level::Warn, warning, &[]);
                }
                log::log(Level::Info, "Config file is ok exiting...", &[]);
                ExitCode::SUCCESS
            }
            Err(e) => {
                log::log(
                    Level::Error,
                    "Error loading config",
                    &[("err", &e.to_string())],
                );
                ExitCode::from(1)
            }
        };
    }
    // One thread for everything: a probe is a few short steps on sockets,
    // and on a multi-thread runtime each of them woke the other worker
    // (eventfd, futex) to hand over the connection tasks hyper and tonic
    // spawn: 15 % of a probe's CPU (exporter/bench/ab.sh). One core runs
    // ~3,000 plaintext probes a second, far above a Prometheus fleet's
    // rate. Work that takes long on the CPU (bcrypt) runs on the blocking
    // pool (see `server::bcrypt_off_thread`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grpc-exporter: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let running = match start(settings).await {
            Ok(r) => r,
            Err(e) => {
                log::log(Level::Error, &e.to_string(), &[]);
                return ExitCode::from(1);
            }
        };
        for addr in &running.addrs {
            log::log(
                Level::Info,
                "Listening on",
                &[("address", &addr.to_string())],
            );
        }
        wait_for_signals(&running).await;
        ExitCode::SUCCESS
    })
}

/// `--help` and `--version` print and exit 0; any other error clap finds
/// (an unknown flag, a value that does not parse, a missing value) is one
/// line and exit 1, like every rule of ours (clap alone prints a usage
/// block and a tip, and exits 2).
fn clap_refused(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!(
        "grpc-exporter: error: {}",
        grpc_toolkit_conn::escape::escape(first)
    );
    ExitCode::from(1)
}

/// SIGHUP reloads; SIGINT and SIGTERM stop.
async fn wait_for_signals(running: &Running) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::log(Level::Error, "cannot install signal handlers", &[]);
        std::future::pending::<()>().await;
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => { let _ = running.app.reload(); }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    log::log(Level::Info, "Stopping", &[]);
}
