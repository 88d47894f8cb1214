//! Generated protobuf messages, tonic clients and tonic servers for the two
//! gRPC services this toolkit speaks: `grpc.health.v1` and `grpc.channelz.v1`.
//!
//! The code under `src/generated/` is produced ahead of time from the
//! `.proto` files in `proto/` by a pure-Rust compiler (protox and
//! tonic-prost-build), so building the workspace never needs `protoc`. The
//! test `generated_code_is_current` regenerates it and fails when the
//! checked-in copy is stale: `cargo test -p grpc-toolkit-proto --features
//! codegen` (CI runs it in its own step); with `UPDATE_GENERATED=1` it
//! refreshes the copy instead.

/// `grpc.health.v1`: Check, Watch and List.
pub mod health {
    /// Version 1 of the health protocol.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!("generated/grpc.health.v1.rs");
    }
}

/// `grpc.channelz.v1`: live debug data about channels, subchannels,
/// servers and sockets.
pub mod channelz {
    /// Version 1 of Channelz.
    #[allow(missing_docs, clippy::all)]
    pub mod v1 {
        include!("generated/grpc.channelz.v1.rs");
    }
}

/// The encoded `FileDescriptorSet` of both protocols and the well-known
/// types they import, for reflection and for the exact proto3 JSON mapping.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/file_descriptor_set.bin");

#[cfg(all(test, feature = "codegen"))]
mod generated_is_current;
