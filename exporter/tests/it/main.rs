//! grpc-exporter's integration tests, one binary with a module per topic.

mod blackbox;
mod channelz;
mod config;
mod http;
mod prometheus;
mod probe;
mod rules;
mod support;
