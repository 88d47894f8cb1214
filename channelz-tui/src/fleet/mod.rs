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
//! most `--fleet-concurrency` at once), `resolve` (names to members,
//! through an injectable [`Resolver`]), `json` (one document per interval)
//! and [`tui`] (the terminal loop).

pub(crate) mod json;
pub mod model;
pub mod poll;
mod resolve;
pub mod tui;
pub mod update;
pub mod view;

use std::time::Duration;

use grpc_toolkit_conn::{ConnArgs, ConnectOptions, UsageError};

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

/// Everything a fleet runs from, validated (`cli` builds it beside the
/// one-target `Config`; the fleet reads nothing else, so it depends on
/// neither `cli` nor `app`).
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// Every ADDR, in the order given.
    pub names: Vec<FleetName>,
    /// `--fleet`: resolve each name to its addresses every interval.
    pub resolve: bool,
    /// `--fleet-concurrency`.
    pub concurrency: usize,
    /// The names as the title shows them.
    pub title: String,
    /// Poll interval.
    pub interval: Duration,
    /// Deadline of each RPC.
    pub rpc_timeout: Duration,
    /// The bounds of each snapshot.
    pub limits: Limits,
    /// `--json`: `Some(watch)`; the fleet screen otherwise.
    pub json: Option<bool>,
}

/// The members' names from the ADDR arguments and `--addr`, each with its
/// connection options from the shared flags; every bad one is a usage
/// error naming it.
pub fn names(
    mut addrs: Vec<String>,
    addr_flag: Option<String>,
    conn: &ConnArgs,
) -> Result<Vec<FleetName>, UsageError> {
    if let Some(addr) = addr_flag {
        if !addrs.is_empty() && !addrs.contains(&addr) {
            return Err(UsageError::new(format!(
                "--addr \"{addr}\" and ADDR arguments given; give every address as ADDR"
            )));
        }
        if addrs.is_empty() {
            addrs.push(addr);
        }
    }
    if addrs.is_empty() {
        return Err(UsageError::new(
            "--fleet needs at least one ADDR (e.g. dns:///app.ns.svc.cluster.local:50051)",
        ));
    }
    if addrs.len() > MAX_NAMES {
        return Err(UsageError::new(format!(
            "{} addresses given; at most {MAX_NAMES}",
            addrs.len()
        )));
    }
    // The same ADDR twice would be the same members twice.
    let mut seen = std::collections::HashSet::new();
    addrs.retain(|n| seen.insert(n.clone()));
    addrs
        .into_iter()
        .map(|name| {
            let mut conn = conn.clone();
            conn.addr = Some(name.clone());
            let options = conn.to_options(concat!("channelz-tui/", env!("CARGO_PKG_VERSION")))?;
            Ok(FleetName { name, options })
        })
        .collect()
}
