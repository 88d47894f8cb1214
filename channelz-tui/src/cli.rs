//! The command line: raw clap flags ([`Args`], flattening the connection
//! flags `grpc-probe` has too) validated into a ready-to-run [`Config`].
//! Flags may be spelled the Go way (`-addr`, `-tls`) like the probe's, and
//! may come before or after ADDR.

use std::ffi::OsString;
use std::time::Duration;

use std::sync::OnceLock;

use clap::{CommandFactory, Parser};
use grpc_toolkit_conn::goflags;
use grpc_toolkit_conn::{ConnArgs, ConnectOptions, UsageError, parse_go_duration};

use crate::fleet::{self, FleetConfig};
use crate::poll::{self, Limits};

/// Raw flags, as clap parses them.
#[derive(Debug, Parser)]
#[command(
    name = "channelz-tui",
    version,
    about = "A live terminal dashboard for any gRPC Channelz service",
    args_override_self = true,
    after_help = "Exit codes: 0 ok, 1 bad usage, no terminal, or a recording that cannot be read, 2 cannot connect, 3 RPC failed (--json)."
)]
pub struct Args {
    /// Server address (same forms as --addr); several make a fleet
    #[arg(value_name = "ADDR")]
    pub targets: Vec<String>,
    /// Connection flags shared with grpc-probe.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// How often to poll, e.g. 500ms, 2s
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_go_duration)]
    pub interval: Duration,
    /// Deadline of each Channelz RPC
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_go_duration)]
    pub rpc_timeout: Duration,
    /// Print one complete snapshot as JSON and exit
    #[arg(long)]
    pub json: bool,
    /// Output format; `-o json` is --json
    #[arg(long, short = 'o', value_name = "FORMAT")]
    pub output: Option<String>,
    /// With --json: print one snapshot per interval (NDJSON), forever
    #[arg(long)]
    pub watch: bool,
    /// Start a built-in demo server with traffic and open the dashboard on it
    #[arg(long)]
    pub demo: bool,
    /// Run only the demo server on ADDR (e.g. 127.0.0.1:0); prints `listening on HOST:PORT`
    #[arg(long, value_name = "ADDR")]
    pub demo_server: Option<String>,
    /// Most list pages (GetTopChannels, GetServers, GetServerSockets) one snapshot requests
    #[arg(long, value_name = "N", default_value_t = poll::DEFAULT_MAX_PAGES)]
    pub max_pages: usize,
    /// Most entities one snapshot holds; what is cut is listed as incomplete
    #[arg(long, value_name = "N", default_value_t = poll::DEFAULT_MAX_ENTITIES)]
    pub max_entities: usize,
    /// Watch every address each ADDR resolves to (re-resolved every interval), e.g. a headless Service
    #[arg(long)]
    pub fleet: bool,
    /// With several members: how many are polled at once
    #[arg(long, value_name = "N", default_value_t = fleet::DEFAULT_CONCURRENCY)]
    pub fleet_concurrency: usize,
    /// While watching (the dashboard or --json --watch): write every poll to FILE
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
    /// Open a recording instead of a server (with --json: print its last poll)
    #[arg(long, value_name = "FILE")]
    pub replay: Option<std::path::PathBuf>,
    /// With --replay --json: the last poll at or before TIME (RFC 3339, or +DURATION from the start)
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

/// What to run.
#[derive(Debug, Clone)]
pub enum Mode {
    /// The dashboard.
    Tui,
    /// JSON snapshot(s) on stdout.
    Json {
        /// One per interval, forever.
        watch: bool,
    },
    /// Only the demo server.
    DemoServer(String),
    /// A recording instead of a server (`--replay FILE`).
    Replay {
        /// The recording.
        path: std::path::PathBuf,
        /// JSON rather than the screens.
        json: bool,
        /// With `json`: every poll.
        watch: bool,
        /// With `json`: the poll to print.
        at: Option<crate::record::replay::At>,
    },
}

/// Where to connect.
#[derive(Debug, Clone)]
pub enum Source {
    /// A real server, with the user's connection options.
    Remote(Box<ConnectOptions>),
    /// The built-in demo, started in-process.
    Demo,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to run.
    pub mode: Mode,
    /// Where to connect (unused for [`Mode::DemoServer`]).
    pub source: Source,
    /// Poll interval.
    pub interval: Duration,
    /// Deadline of each RPC.
    pub rpc_timeout: Duration,
    /// What the user pointed us at, for titles and JSON.
    pub target: String,
    /// The bounds of each snapshot.
    pub limits: Limits,
    /// Several members (several ADDRs, or `--fleet`): the fleet screens
    /// and documents instead of one server's.
    pub fleet: Option<FleetConfig>,
    /// Where to record every poll (`--record`).
    pub record: Option<std::path::PathBuf>,
}

/// The Go flag spec, read from the clap definition of [`Args`] (which
/// flattens [`ConnArgs`]), so a flag added there is accepted Go-style here
/// without a list kept by hand.
fn spec() -> &'static goflags::OwnedFlagSpec {
    static SPEC: OnceLock<goflags::OwnedFlagSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut command = Args::command();
        // `--version` is clap's own until the command is built.
        command.build();
        goflags::spec_of(&command)
    })
}

/// Rewrites argv so that Go-style flags (`-addr x`, `-tls`) work and flags
/// may follow ADDR: Go's flag package stops at the first positional, so we
/// normalise each run of flags between positionals separately.
pub fn normalize(argv: Vec<OsString>) -> Result<Vec<OsString>, UsageError> {
    let mut iter = argv.into_iter();
    let program = iter
        .next()
        .unwrap_or_else(|| OsString::from("channelz-tui"));
    let mut rest: Vec<OsString> = iter.collect();
    let mut flags = Vec::new();
    let mut positionals = Vec::new();
    loop {
        let out = spec()
            .normalize(std::iter::once(program.clone()).chain(rest.drain(..)))
            .map_err(|e| UsageError::new(e.to_string()))?;
        let mut out = out.into_iter().skip(1);
        for arg in out.by_ref() {
            if arg == "--" {
                break;
            }
            flags.push(arg);
        }
        let mut after: Vec<OsString> = out.collect();
        if after.is_empty() {
            break;
        }
        positionals.push(after.remove(0));
        rest = after;
    }
    let mut result = vec![program];
    result.extend(flags);
    if !positionals.is_empty() {
        result.push(OsString::from("--"));
        result.extend(positionals);
    }
    Ok(result)
}

impl Args {
    /// Validates the flags into a [`Config`].
    pub fn validate(mut self) -> Result<Config, UsageError> {
        if self.interval.is_zero() {
            return Err(UsageError::new("--interval must be greater than zero"));
        }
        if self.rpc_timeout.is_zero() {
            return Err(UsageError::new("--rpc-timeout must be greater than zero"));
        }
        if self.max_pages == 0 || self.max_entities == 0 {
            return Err(UsageError::new(
                "--max-pages and --max-entities must be greater than zero",
            ));
        }
        let limits = Limits {
            max_pages: self.max_pages,
            max_entities: self.max_entities,
        };
        match self.output.as_deref() {
            None => {}
            Some("json") => self.json = true,
            Some(other) => {
                return Err(UsageError::new(format!(
                    "unknown output format \"{other}\" (expected: json)"
                )));
            }
        }
        if self.watch && !self.json {
            return Err(UsageError::new("--watch needs --json"));
        }
        if let Some(replay) = self.replay.take() {
            return self.replay_config(replay, limits);
        }
        if self.at.is_some() {
            return Err(UsageError::new("--at needs --replay FILE --json"));
        }
        if self.record.is_some() && (self.demo_server.is_some() || (self.json && !self.watch)) {
            return Err(UsageError::new(
                "--record needs a watch: the dashboard, or --json --watch",
            ));
        }
        let record = self.record.take();
        if let Some(addr) = self.demo_server {
            if self.json || self.demo || !self.targets.is_empty() || self.conn.addr.is_some() {
                return Err(UsageError::new(
                    "--demo-server runs only the demo server; give no ADDR, --demo or --json with it",
                ));
            }
            return Ok(Config {
                mode: Mode::DemoServer(addr.clone()),
                source: Source::Demo,
                interval: self.interval,
                rpc_timeout: self.rpc_timeout,
                target: addr,
                limits,
                fleet: None,
                record,
            });
        }
        let mode = if self.json {
            Mode::Json { watch: self.watch }
        } else {
            Mode::Tui
        };
        if self.targets.len() > 1 || self.fleet {
            return self.fleet_config(mode, limits, record);
        }
        match (self.targets.pop(), self.conn.addr.take()) {
            (Some(a), Some(b)) if a != b => {
                return Err(UsageError::new(format!(
                    "two addresses given: \"{a}\" and --addr \"{b}\"; give one"
                )));
            }
            (Some(a), _) | (None, Some(a)) => self.conn.addr = Some(a),
            (None, None) => {}
        }
        if self.demo {
            if self.conn.addr.is_some() {
                return Err(UsageError::new(
                    "--demo starts its own server; give no ADDR with it",
                ));
            }
            return Ok(Config {
                mode,
                source: Source::Demo,
                interval: self.interval,
                rpc_timeout: self.rpc_timeout,
                target: "demo".into(),
                limits,
                fleet: None,
                record,
            });
        }
        if self.conn.addr.is_none() {
            return Err(UsageError::new(
                "no server address: give ADDR (or --addr ADDR), or --demo",
            ));
        }
        let target = self.conn.addr.clone().unwrap_or_default();
        let options = self
            .conn
            .to_options(concat!("channelz-tui/", env!("CARGO_PKG_VERSION")))?;
        Ok(Config {
            mode,
            source: Source::Remote(Box::new(options)),
            interval: self.interval,
            rpc_timeout: self.rpc_timeout,
            target,
            limits,
            fleet: None,
            record,
        })
    }
}

impl Args {
    /// Several ADDRs or `--fleet`: the fleet's configuration.
    fn fleet_config(
        mut self,
        mode: Mode,
        limits: Limits,
        record: Option<std::path::PathBuf>,
    ) -> Result<Config, UsageError> {
        if self.demo {
            return Err(UsageError::new(
                "--demo starts its own server; give no ADDR or --fleet with it",
            ));
        }
        if self.fleet_concurrency == 0 {
            return Err(UsageError::new(
                "--fleet-concurrency must be greater than zero",
            ));
        }
        let names = fleet::names(
            std::mem::take(&mut self.targets),
            self.conn.addr.take(),
            &self.conn,
        )?;
        let target = names
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let first = names.first().map(|n| n.options.clone());
        let fleet = FleetConfig {
            names,
            resolve: self.fleet,
            concurrency: self.fleet_concurrency,
            title: target.clone(),
            interval: self.interval,
            rpc_timeout: self.rpc_timeout,
            limits,
            json: match mode {
                Mode::Json { watch } => Some(watch),
                _ => None,
            },
        };
        Ok(Config {
            mode,
            source: match first {
                Some(options) => Source::Remote(Box::new(options)),
                None => Source::Demo,
            },
            interval: self.interval,
            rpc_timeout: self.rpc_timeout,
            target,
            limits,
            fleet: Some(fleet),
            record,
        })
    }

    /// `--replay FILE`: no server, and only the flags that read a recording.
    fn replay_config(self, path: std::path::PathBuf, limits: Limits) -> Result<Config, UsageError> {
        if !self.targets.is_empty() || self.conn.addr.is_some() || self.demo {
            return Err(UsageError::new(
                "--replay reads a recording; give no ADDR or --demo with it",
            ));
        }
        if self.record.is_some() || self.demo_server.is_some() {
            return Err(UsageError::new(
                "--replay reads a recording; --record and --demo-server do not go with it",
            ));
        }
        let at = match &self.at {
            None => None,
            Some(_) if !self.json || self.watch => {
                return Err(UsageError::new(
                    "--at goes with --replay FILE --json (without --watch)",
                ));
            }
            Some(at) => Some(crate::record::replay::parse_at(at).map_err(UsageError::new)?),
        };
        Ok(Config {
            mode: Mode::Replay {
                path: path.clone(),
                json: self.json,
                watch: self.watch,
                at,
            },
            source: Source::Demo,
            interval: self.interval,
            rpc_timeout: self.rpc_timeout,
            target: path.display().to_string(),
            limits,
            record: None,
            fleet: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let argv: Vec<OsString> = std::iter::once("channelz-tui")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let argv = normalize(argv).map_err(|e| e.to_string())?;
        Args::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flags_may_come_before_or_after_addr_in_either_spelling() {
        let c = parse(&["-interval", "2s", "localhost:1", "--json"]).expect("valid");
        assert!(matches!(c.mode, Mode::Json { watch: false }));
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(c.target, "localhost:1");
        let c = parse(&["-addr=localhost:2", "-o", "json", "-watch"]).expect("valid");
        assert!(matches!(c.mode, Mode::Json { watch: true }));
        assert_eq!(c.target, "localhost:2");
    }

    #[test]
    fn bad_usage_names_what_is_wrong() {
        assert!(
            parse(&[])
                .expect_err("must be rejected")
                .contains("no server address")
        );
        assert!(
            parse(&["a:1", "--watch"])
                .expect_err("must be rejected")
                .contains("--watch needs --json")
        );
        assert!(
            parse(&["a:1", "-o", "yaml"])
                .expect_err("must be rejected")
                .contains("\"yaml\"")
        );
        assert!(
            parse(&["a:1", "--addr", "b:2"])
                .expect_err("must be rejected")
                .contains("two addresses")
        );
        assert!(
            parse(&["a:1", "--interval", "0s"])
                .expect_err("must be rejected")
                .contains("--interval")
        );
        assert!(
            parse(&["a:1", "-bogus"])
                .expect_err("must be rejected")
                .contains("-bogus")
        );
        assert!(
            parse(&["--demo", "a:1"])
                .expect_err("must be rejected")
                .contains("--demo")
        );
    }

    /// The Go-style list comes from clap's definition: every long flag,
    /// the shared connection flags included, is known in its Go spelling.
    #[test]
    fn every_clap_flag_is_accepted_go_style() {
        let command = Args::command();
        let longs: Vec<String> = command
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_owned))
            .collect();
        assert!(longs.iter().any(|l| l == "tls-ca-cert"), "{longs:?}");
        for long in longs {
            let flag = format!("-{long}");
            let argv = vec![
                OsString::from("channelz-tui"),
                OsString::from(&flag),
                "x".into(),
            ];
            if let Err(e) = normalize(argv) {
                assert!(!e.to_string().contains("not defined"), "{flag}: {e}");
            }
        }
        let argv = ["channelz-tui", "-V"].map(OsString::from).to_vec();
        assert!(normalize(argv).is_ok(), "-V is --version");
    }

    #[test]
    fn record_and_replay_flags() {
        let c = parse(&["a:1", "--json", "--watch", "--record", "f.rec"]).expect("valid");
        assert_eq!(c.record.as_deref(), Some(std::path::Path::new("f.rec")));
        assert!(
            parse(&["a:1", "--record", "f.rec"]).is_ok(),
            "the dashboard records"
        );
        for (args, words) in [
            (
                &["a:1", "--json", "--record", "f"][..],
                "--record needs a watch",
            ),
            (&["--replay", "f", "a:1"][..], "give no ADDR"),
            (&["--replay", "f", "--record", "g"][..], "--record"),
            (&["--replay", "f", "--at", "+1s"][..], "--at goes with"),
            (&["--replay", "f", "--json", "--at", "soon"][..], "\"soon\""),
            (&["a:1", "--at", "+1s"][..], "--at needs --replay"),
        ] {
            let e = parse(args).expect_err("must be rejected");
            assert!(e.contains(words), "{args:?}: {e}");
        }
        let c = parse(&["--replay", "f", "--json", "--at", "+90s"]).expect("valid");
        assert!(matches!(
            c.mode,
            Mode::Replay {
                json: true,
                watch: false,
                at: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn demo_modes() {
        assert!(matches!(
            parse(&["--demo"]).expect("valid").source,
            Source::Demo
        ));
        assert!(matches!(
            parse(&["--demo-server", "127.0.0.1:0"])
                .expect("valid")
                .mode,
            Mode::DemoServer(_)
        ));
    }
}
