//! The wire types this crate speaks, under its own name (as `tonic-health`
//! does with its `pb`), so a user of [`ChannelzService`](crate::ChannelzService)
//! or the [`service`](crate::service) conversions needs no direct dependency
//! on the generated-code crate, and cannot end up with a second, mismatched
//! copy of it.
//!
//! The root holds `grpc.channelz.v1`: the messages, `channelz_server` and
//! `channelz_client`; [`health`] holds `grpc.health.v1`.

pub use grpc_toolkit_proto::channelz::v1::*;

/// `grpc.health.v1`: the messages, `health_server` and `health_client`.
pub mod health {
    pub use grpc_toolkit_proto::health::v1::*;
}
