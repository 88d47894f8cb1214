//! `channelz-tui` as a library: model, update, view, poller and the demo.

pub mod demo;
