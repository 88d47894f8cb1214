//! `channelz-tui` as a library: model, update, view, poller and the demo.
//!
//! The dashboard is Elm-shaped: [`model::Model`] is plain data,
//! [`update::update`] is the only place it changes, [`view::view`] draws it,
//! and [`poll`] is the I/O task that turns Channelz responses into
//! [`msg::Msg`]s. Rendering never waits on the network.
//!
//! [`run_cli`] is the whole binary in-process (argv in, output to the given
//! writers, [`ExitStatus`] back).

pub mod app;
pub mod cli;
mod decode;
pub mod demo;
mod exit;
pub mod fleet;
mod input;
pub mod json;
pub mod model;
pub mod monitor;
pub mod msg;
mod outage;
pub mod poll;
pub mod record;
mod signals;
pub mod snapshot;
mod terminal;
pub mod update;
pub mod view;
pub mod xds;

#[cfg(test)]
mod fixtures;

pub use app::{run_cli, run_cli_with};
pub use exit::ExitStatus;
