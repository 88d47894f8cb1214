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
pub mod decode;
pub mod demo;
pub mod exit;
pub mod fleet;
pub mod input;
pub mod json;
pub mod model;
pub mod msg;
pub mod outage;
pub mod poll;
pub mod record;
pub mod signals;
pub mod terminal;
pub mod update;
pub mod view;

#[cfg(test)]
mod fixtures;

pub use app::{run_cli, run_cli_with};
pub use exit::ExitStatus;
