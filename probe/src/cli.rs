//! The command line: raw flags ([`ProbeArgs`], clap derive) and the checked,
//! ready-to-run [`Config`] they are validated into.
//!
//! argv first goes through [`goflags::normalize`] so every Go spelling that
//! `grpc_health_probe` accepts works here too. Validation follows the
//! reference tool's rules and wording (`-addr not specified`, `specified
//! -tls-ca-cert without specifying -tls`, ...); every violation is a
//! [`UsageError`], exit 1, before anything touches the network.

use std::ffi::OsString;
use std::time::Duration;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::output::OutputFormat;
use grpc_toolkit_conn::goflags;
use grpc_toolkit_conn::{
    ConnArgs, ConnectOptions, UsageError, format_go_duration, parse_go_duration,
};

/// The user agent the reference tool sends, so server-side filters and
/// dashboards keyed on it keep matching.
pub const DEFAULT_USER_AGENT: &str = "grpc_health_probe";

/// The raw command line, as clap reads it (after Go-flag normalisation).
#[derive(Debug, Parser)]
#[command(
    name = "grpc-probe",
    about = "Checks a gRPC server's health (grpc.health.v1) and answers with an exit code.",
    after_help = "Flags may be written Go-style (-addr=host:port, -tls) as with grpc_health_probe.\n\
                  Exit codes: 0 serving, 1 bad arguments, 2 connection failure, 3 RPC failure, \
                  4 not serving, 20 SPIFFE unsupported.",
    disable_version_flag = true
)]
pub struct ProbeArgs {
    /// Connection flags shared with channelz-tui.
    #[command(flatten)]
    pub conn: ConnArgs,

    /// Service to check (repeatable: checked concurrently on one
    /// connection); "" is the whole server.
    #[arg(long = "service", value_name = "NAME", action = ArgAction::Append)]
    pub service: Vec<String>,

    /// Timeout of each health RPC (Go duration).
    #[arg(long = "rpc-timeout", value_name = "DURATION", default_value = "1s")]
    pub rpc_timeout: String,

    /// Verbose logs on stderr (never header values).
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,

    /// Print the version and exit.
    #[arg(long = "version")]
    pub version: bool,

    /// Use SPIFFE for mTLS (not supported: exits 20 as the reference tool
    /// does when SPIFFE fails).
    #[arg(long = "spiffe")]
    pub spiffe: bool,

    /// Use ALTS (refused: ALTS works only on Google Cloud).
    #[arg(long = "alts")]
    pub alts: bool,

    /// `text` (stderr lines) or `json` (one object on stdout as well).
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    pub output: Option<String>,

    /// Same as `--output json`.
    #[arg(long = "json")]
    pub json: bool,

    /// Follow the Watch stream of each service: one line per status change,
    /// until a signal or `--timeout`.
    #[arg(long = "watch")]
    pub watch: bool,

    /// List every service the server knows (the List RPC).
    #[arg(long = "list")]
    pub list: bool,

    /// Any answer to the Check counts as alive (exit 0)
    #[arg(long = "liveness")]
    pub liveness: bool,

    /// Retry with backoff until serving or this much time has passed.
    #[arg(long = "wait", value_name = "DURATION")]
    pub wait: Option<String>,

    /// One deadline over the whole run; each phase gets
    /// min(its own timeout, time left).
    #[arg(long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,
}

/// What to do with the health service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One Check per service (the reference behaviour).
    Check,
    /// Follow the Watch stream.
    Watch,
    /// The List RPC.
    List,
}

/// A validated run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `-addr` exactly as given, for messages.
    pub addr: String,
    /// How to connect.
    pub connect: ConnectOptions,
    /// The services to check, in order; never empty (`[""]` by default).
    pub services: Vec<String>,
    /// Timeout of each health RPC.
    pub rpc_timeout: Duration,
    /// `-v`.
    pub verbose: bool,
    /// Text or JSON.
    pub format: OutputFormat,
    /// Check, Watch or List.
    pub mode: Mode,
    /// `--wait`: keep retrying until serving for this long.
    pub wait: Option<Duration>,
    /// `--timeout`: the deadline over the whole run.
    pub timeout: Option<Duration>,
    /// `--liveness`: any answer to the Check counts.
    pub liveness: bool,
    /// Arguments after the end of the flags, which (as in the reference
    /// tool) are not read; the run warns about them. Ready to print:
    /// quoted, escaped, and with every header value hidden.
    pub ignored: Vec<String>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Invocation {
    /// Check health.
    Run(Box<Config>),
    /// `-version`: print the version, exit 0.
    Version,
    /// `-help`: print this text on stdout, exit 0.
    Help(String),
    /// `-spiffe` with otherwise valid flags: exit 20.
    Spiffe,
}

/// Reads a whole argv (program name first) into an [`Invocation`].
pub fn parse<I, A>(argv: I) -> Result<Invocation, UsageError>
where
    I: IntoIterator<Item = A>,
    A: Into<OsString>,
{
    let mut command = ProbeArgs::command();
    let given: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut argv = goflags::spec_of(&command)
        .normalize(given.iter().cloned())
        .map_err(|e| UsageError::flag_syntax(e.to_string()))?;
    // Go's flag package stops at the first argument that is not a flag,
    // and grpc_health_probe never looks at what follows: a pod spec with a
    // stray word must keep working, so it is ignored here too (and named
    // in a warning, since flags after it are ignored with it).
    let ignored = match argv.iter().position(|a| a == "--") {
        Some(end) => {
            let count = argv.drain(end..).skip(1).count();
            shown_ignored(given.get(1..).unwrap_or_default(), count)
        }
        None => Vec::new(),
    };
    let matches = match command.try_get_matches_from_mut(argv) {
        Ok(matches) => matches,
        Err(err) if err.kind() == clap::error::ErrorKind::DisplayHelp => {
            return Ok(Invocation::Help(command.render_help().to_string()));
        }
        Err(err) => return Err(UsageError::flag_syntax(clap_one_line(&err))),
    };
    let args = ProbeArgs::from_arg_matches(&matches)
        .map_err(|e| UsageError::flag_syntax(clap_one_line(&e)))?;
    if args.version {
        return Ok(Invocation::Version);
    }
    let spiffe = args.spiffe;
    let mut config = Config::try_from(args)?;
    config.ignored = ignored;
    if spiffe {
        return Ok(Invocation::Spiffe);
    }
    Ok(Invocation::Run(Box::new(config)))
}

/// The flag whose values are never printed: they carry credentials.
const SECRET_FLAG: &str = "rpc-header";

/// Stands for a header value in a message.
pub const HIDDEN: &str = "<hidden>";

/// The last `count` arguments of `args` (argv without the program name),
/// ready for the ignored-arguments warning: quoted, escaped and cut, with
/// every `-rpc-header` value replaced by [`HIDDEN`]. Bare words that follow
/// a header value are hidden too, since a shell splits an unquoted
/// `authorization: Bearer TOKEN` into words and the token is one of them.
fn shown_ignored(args: &[OsString], count: usize) -> Vec<String> {
    let first_ignored = args.len().saturating_sub(count);
    let quoted = |text: &str| format!("\"{}\"", grpc_toolkit_conn::escape::escape_cut(text, 64));
    let mut shown = Vec::new();
    // After a header value, until the next flag.
    let mut in_header_value = false;
    let mut next_is_header_value = false;
    for (index, arg) in args.iter().enumerate() {
        let text = arg.to_string_lossy();
        let ignored = index >= first_ignored;
        let flag = text.len() > 1 && text.starts_with('-') && !next_is_header_value;
        let display = if next_is_header_value {
            next_is_header_value = false;
            in_header_value = true;
            quoted(HIDDEN)
        } else if flag {
            let body = text.trim_start_matches('-');
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let dashes = &text[..text.len() - body.len()];
            in_header_value = false;
            if name == SECRET_FLAG {
                match value {
                    Some(_) => {
                        in_header_value = true;
                        quoted(&format!("{dashes}{name}={HIDDEN}"))
                    }
                    None => {
                        next_is_header_value = true;
                        quoted(&text)
                    }
                }
            } else {
                quoted(&text)
            }
        } else if in_header_value {
            quoted(HIDDEN)
        } else {
            quoted(&text)
        };
        // A literal `--` that ends the flags is not itself ignored.
        if ignored {
            shown.push(display);
        }
    }
    shown
}

/// One line from a clap error. A bad value is worded as Go's flag package
/// words it (`invalid value "5" for flag -connect-timeout: <reason>`);
/// anything else is named by its kind.
fn clap_one_line(err: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() == ErrorKind::ValueValidation {
        let arg = match err.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => arg.split_whitespace().next().map(str::to_owned),
            _ => None,
        };
        let value = match err.get(ContextKind::InvalidValue) {
            Some(ContextValue::String(value)) => Some(value.clone()),
            _ => None,
        };
        if let (Some(arg), Some(value)) = (arg, value) {
            let reason = std::error::Error::source(err)
                .map(|e| e.to_string())
                .unwrap_or_else(|| "parse error".to_owned());
            return format!(
                "invalid value \"{value}\" for flag -{}: {reason}",
                arg.trim_start_matches('-')
            );
        }
    }
    // Go's flag syntax was checked before clap saw argv, so little is left
    // to reach here (a value that is not UTF-8). The kind says it: clap's
    // full error rendering is not worth its size in the binary.
    format!("invalid arguments: {}", err.kind())
}

fn go_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
    parse_go_duration(text).map_err(|reason| {
        UsageError::flag_syntax(format!(
            "invalid value \"{text}\" for flag -{flag}: {reason}"
        ))
    })
}

/// A `--wait` or `--timeout`: a Go duration above zero.
fn positive_duration(flag: &str, text: &str) -> Result<Duration, UsageError> {
    let d = go_duration(flag, text)?;
    if d.is_zero() {
        return Err(UsageError::new(format!(
            "--{flag} must be greater than zero (specified: {})",
            format_go_duration(d)
        )));
    }
    Ok(d)
}

impl TryFrom<ProbeArgs> for Config {
    type Error = UsageError;

    fn try_from(args: ProbeArgs) -> Result<Config, UsageError> {
        let addr = args.conn.addr.clone().unwrap_or_default();
        if addr.is_empty() {
            return Err(UsageError::new("-addr not specified"));
        }
        let rpc_timeout = go_duration("rpc-timeout", &args.rpc_timeout)?;
        if rpc_timeout.is_zero() {
            return Err(UsageError::new(format!(
                "-rpc-timeout must be greater than zero (specified: {})",
                format_go_duration(rpc_timeout)
            )));
        }
        if args.alts {
            return Err(UsageError::new(
                "-alts is not supported (ALTS works only on Google Cloud; use -tls)",
            ));
        }
        if args.spiffe && args.conn.tls {
            return Err(UsageError::new(
                "-tls and -spiffe are mutually incompatible",
            ));
        }
        // Read first: it bounds how long the TLS files may take to read.
        let timeout = match &args.timeout {
            Some(text) => Some(positive_duration("timeout", text)?),
            None => None,
        };
        let connect = args
            .conn
            .to_options_within(DEFAULT_USER_AGENT, timeout.unwrap_or(Duration::MAX))?;

        let format = match (args.output.as_deref(), args.json) {
            (None | Some("text"), false) => OutputFormat::Text,
            (None | Some("json"), true) | (Some("json"), false) => OutputFormat::Json,
            (Some("text"), true) => {
                return Err(UsageError::new("--json contradicts --output text"));
            }
            (Some(other), _) => {
                return Err(UsageError::flag_syntax(format!(
                    "invalid value \"{other}\" for flag -output: expected text or json"
                )));
            }
        };

        let mode = match (args.watch, args.list) {
            (true, true) => return Err(UsageError::new("--watch and --list cannot be combined")),
            (true, false) => Mode::Watch,
            (false, true) => Mode::List,
            (false, false) => Mode::Check,
        };
        if mode == Mode::List && !args.service.is_empty() {
            return Err(UsageError::new(
                "--list reports every service; it cannot be combined with -service",
            ));
        }

        let wait = match &args.wait {
            Some(text) => Some(positive_duration("wait", text)?),
            None => None,
        };
        if wait.is_some() && mode == Mode::Watch {
            return Err(UsageError::new(
                "--wait and --watch cannot be combined (--watch already waits)",
            ));
        }

        if args.liveness && mode != Mode::Check {
            return Err(UsageError::new(
                "--liveness applies to the Check (it cannot be combined with --watch or --list)",
            ));
        }
        let mut services = args.service;
        if services.is_empty() {
            services.push(String::new());
        }
        Ok(Config {
            addr,
            connect,
            services,
            rpc_timeout,
            verbose: args.verbose,
            format,
            mode,
            wait,
            timeout,
            liveness: args.liveness,
            ignored: Vec::new(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config, UsageError> {
        match parse(std::iter::once("grpc-probe").chain(args.iter().copied()))? {
            Invocation::Run(config) => Ok(*config),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn the_go_flag_spec_comes_from_clap_including_the_shared_flags() {
        let spec = goflags::spec_of(&ProbeArgs::command());
        assert!(spec.bools.iter().any(|f| f == "tls"));
        assert!(spec.bools.iter().any(|f| f == "gzip"));
        assert!(spec.values.iter().any(|f| f == "connect-timeout"));
        assert!(spec.repeated.iter().any(|f| f == "rpc-header"));
        assert!(spec.repeated.iter().any(|f| f == "service"));
        assert!(
            spec.aliases
                .contains(&("o".to_owned(), "output".to_owned()))
        );
        assert!(
            spec.aliases
                .contains(&("v".to_owned(), "verbose".to_owned()))
        );
    }

    #[test]
    fn defaults_match_the_reference_tool() {
        let c = config(&["-addr=localhost:1"]).unwrap();
        assert_eq!(c.services, [""]);
        assert_eq!(c.rpc_timeout, Duration::from_secs(1));
        assert_eq!(c.connect.connect_timeout, Duration::from_secs(1));
        assert_eq!(c.connect.user_agent, DEFAULT_USER_AGENT);
        assert_eq!((c.mode, c.format), (Mode::Check, OutputFormat::Text));
        assert_eq!((c.wait, c.timeout), (None, None));
    }

    #[test]
    fn output_modes_and_durations_are_validated() {
        let c = config(&["-addr=h:1", "-o", "json", "--wait=1m30s", "--timeout=2s"]).unwrap();
        assert_eq!(c.format, OutputFormat::Json);
        assert_eq!(c.wait, Some(Duration::from_secs(90)));
        assert_eq!(c.timeout, Some(Duration::from_secs(2)));
        assert_eq!(
            config(&["-addr=h:1", "--json"]).unwrap().format,
            OutputFormat::Json
        );
        assert_eq!(config(&["-addr=h:1", "--list"]).unwrap().mode, Mode::List);
        for (args, message) in [
            (
                &["-addr=h:1", "--timeout=0s"][..],
                "error: --timeout must be greater than zero (specified: 0s)",
            ),
            (
                &["-addr=h:1", "--json", "-o=text"],
                "error: --json contradicts --output text",
            ),
            (
                &["-addr=h:1", "--list", "-service=a"],
                "error: --list reports every service; it cannot be combined with -service",
            ),
            (
                &["-addr=h:1", "--watch", "--wait=1s"],
                "error: --wait and --watch cannot be combined (--watch already waits)",
            ),
            (
                &["-addr=h:1", "-tls", "-spiffe"],
                "error: -tls and -spiffe are mutually incompatible",
            ),
        ] {
            assert_eq!(config(args).unwrap_err().go_line(), message, "{args:?}");
        }
    }
}
