//! Many targets at once: a fleet of members, each one server process.
//!
//! `channelz-tui ADDR ADDR…` makes each ADDR a member; `--fleet` makes each
//! ADDR one member per address it resolves to, re-resolved every interval
//! (a Kubernetes headless Service lists one address per ready pod), so pods
//! that come and go appear and disappear. A member dials its resolved IP but
//! keeps the ADDR's host for TLS verification, SNI and `:authority`.
//!
//! The same Elm split as the single-server dashboard, in modules of its own
//! so that the one-target screens stay as they are: [`model`] (plain data),
//! [`update`] (the only place it changes), [`view`] (drawing), [`poll`] (one
//! task per member, each with its own connection and backoff, polling at
//! most `--fleet-concurrency` at once), [`resolve`] (names to members,
//! through an injectable [`Resolver`]), [`json`] (one document per interval)
//! and [`tui`] (the terminal loop).

pub mod json;
pub mod model;
pub mod poll;
pub mod resolve;
pub mod tui;
pub mod update;
pub mod view;

use std::io::Write;

use grpc_toolkit_conn::{ConnectOptions, UsageError};

use crate::cli::{Args, Config, Mode};
use crate::exit::ExitStatus;
use crate::poll::Limits;
pub use resolve::Resolver;

/// The default of `--fleet-concurrency`: members polled at once. Enough
/// that twenty members poll within one interval, few enough that a
/// hundred-pod fleet does not open a hundred polls in the same instant.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Most members one ADDR may resolve to; more are cut, and the screen and
/// the JSON say so. A name that answers with a million addresses must not
/// make a million connections.
pub const MAX_MEMBERS_PER_NAME: usize = 1_000;

/// Most ADDRs one command line may give, for the same reason.
pub const MAX_NAMES: usize = 1_000;

/// One ADDR of the command line, with the connection options it gives.
#[derive(Debug, Clone)]
pub struct FleetName {
    /// The ADDR as the user wrote it.
    pub name: String,
    /// Its connection options: target, TLS, `:authority`, headers. A member
    /// resolved from it swaps only the target for its IP.
    pub options: ConnectOptions,
}

/// The fleet part of a validated [`Config`].
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Every ADDR, in the order given.
    pub names: Vec<FleetName>,
    /// `--fleet`: resolve each name to its addresses every interval.
    pub resolve: bool,
    /// `--fleet-concurrency`.
    pub concurrency: usize,
}

/// Validates the fleet flags of `args` into a [`Config`] with `fleet` set.
pub(crate) fn config(args: &mut Args, mode: Mode, limits: Limits) -> Result<Config, UsageError> {
    if args.fleet_concurrency == 0 {
        return Err(UsageError::new(
            "--fleet-concurrency must be greater than zero",
        ));
    }
    let mut names = std::mem::take(&mut args.targets);
    if let Some(addr) = args.conn.addr.take() {
        if !names.is_empty() && !names.contains(&addr) {
            return Err(UsageError::new(format!(
                "--addr \"{addr}\" and ADDR arguments given; give every address as ADDR"
            )));
        }
        if names.is_empty() {
            names.push(addr);
        }
    }
    if names.is_empty() {
        return Err(UsageError::new(
            "--fleet needs at least one ADDR (e.g. dns:///app.ns.svc.cluster.local:50051)",
        ));
    }
    if names.len() > MAX_NAMES {
        return Err(UsageError::new(format!(
            "{} addresses given; at most {MAX_NAMES}",
            names.len()
        )));
    }
    // The same ADDR twice would be the same members twice.
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    let mut fleet_names = Vec::with_capacity(names.len());
    for name in names {
        let mut conn = args.conn.clone();
        conn.addr = Some(name.clone());
        let options = conn.to_options(concat!("channelz-tui/", env!("CARGO_PKG_VERSION")))?;
        fleet_names.push(FleetName { name, options });
    }
    let target = fleet_names
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Config {
        mode,
        source: crate::cli::Source::Remote(Box::new(fleet_names[0].options.clone())),
        interval: args.interval,
        rpc_timeout: args.rpc_timeout,
        target,
        limits,
        fleet: Some(FleetConfig {
            names: fleet_names,
            resolve: args.fleet,
            concurrency: args.fleet_concurrency,
        }),
    })
}

/// Runs a fleet configuration: the fleet screen, or its JSON documents.
pub async fn run(
    config: &Config,
    fleet: &FleetConfig,
    resolver: Resolver,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitStatus {
    match config.mode {
        Mode::Json { watch } => {
            json::run(config, fleet, resolver, watch, out, err, &mut |_, _| {}).await
        }
        _ => tui::run(config, fleet, resolver, err).await,
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use crate::app::parse;

    fn parse_args(args: &[&str]) -> Result<crate::cli::Config, String> {
        let argv: Vec<OsString> = std::iter::once("channelz-tui")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        parse(argv).map_err(|e| e.text)
    }

    #[test]
    fn one_addr_is_today_several_or_fleet_make_a_fleet() {
        let one = parse_args(&["a:1", "--json"]).expect("valid");
        assert!(one.fleet.is_none());
        let two = parse_args(&["a:1", "--json", "b:2", "a:1"]).expect("valid");
        let fleet = two.fleet.expect("a fleet");
        let names: Vec<&str> = fleet.names.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a:1", "b:2"], "in order, once each");
        assert!(!fleet.resolve);
        assert_eq!(fleet.concurrency, super::DEFAULT_CONCURRENCY);
        let f = parse_args(&["--fleet", "dns:///app.ns:50051", "--fleet-concurrency", "3"])
            .expect("valid")
            .fleet
            .expect("a fleet");
        assert!(f.resolve);
        assert_eq!(f.concurrency, 3);
        assert_eq!(f.names[0].options.authority, "app.ns:50051");
        let f = parse_args(&["--fleet", "--addr", "x:1"]).expect("valid");
        assert_eq!(f.fleet.expect("fleet").names[0].name, "x:1");
    }

    #[test]
    fn bad_fleet_usage_names_what_is_wrong() {
        let e = parse_args(&["--fleet"]).expect_err("no addr");
        assert!(e.contains("--fleet needs at least one ADDR"), "{e}");
        let e = parse_args(&["a:1", "b:1", "--fleet-concurrency", "0"]).expect_err("zero");
        assert!(e.contains("--fleet-concurrency"), "{e}");
        let e = parse_args(&["a:1", "b:bad"]).expect_err("bad addr");
        assert!(e.contains("b:bad"), "{e}");
        let e = parse_args(&["a:1", "b:1", "--addr", "c:1"]).expect_err("both");
        assert!(e.contains("--addr"), "{e}");
        let e = parse_args(&["--demo", "--fleet"]).expect_err("demo");
        assert!(e.contains("--demo"), "{e}");
    }
}
