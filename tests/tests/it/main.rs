//! The workspace's integration tests, as one test binary with a module per
//! topic (the way ripgrep keeps `tests/tests.rs`): one link instead of a
//! dozen, and every test of every topic runs in one parallel pool, so the
//! real peers' start-up and the servers' waits overlap.
//!
//! Run one topic with its module path, e.g.
//! `cargo test -p grpc-toolkit-tests --test it peers::go::`.
//!
//! Tests that need a real process live beside the binary they run, where
//! cargo builds it for them (`CARGO_BIN_EXE_…`): `probe/tests/process.rs`,
//! `channelz-tui/tests/process.rs` (tmux) and `exporter/tests/it`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod architecture;
mod channelz_service;
mod conn;
mod doc_examples;
mod health_service;
mod peers;
mod probe;
mod probe_help;
mod probe_hostile;
mod proto_compat;
mod release;
mod tls_errors;
mod tui_fleet;
mod tui_hostile;
mod tui_json;
mod tui_peers;
mod tui_record;
mod tui_transports;
mod tui_xds;
mod xds_grpc_js;
mod xds_peer;
