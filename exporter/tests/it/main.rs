//! grpc-exporter's integration tests, one binary with a module per topic.

mod blackbox;
mod channelz;
mod config;
mod docs;
mod edges;
mod http;
mod probe;
mod prometheus;
mod rules;
mod support;
mod xds;
mod xds_grpc_js;
mod xds_hostile;
