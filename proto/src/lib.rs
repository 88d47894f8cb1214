//! Generated protobuf messages, tonic clients and tonic servers for the
//! gRPC services this toolkit speaks: `grpc.health.v1` and `grpc.channelz.v1`,
//! and, behind the `xds` feature, CSDS (`envoy.service.status.v3`) with the
//! trimmed envoy messages its payloads carry.
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

/// The envoy protos of CSDS and the xDS resources the toolkit decodes
/// (Listener, RouteConfiguration, Cluster, ClusterLoadAssignment), trimmed
/// to the fields it reads. Behind the `xds` feature, which the probe never
/// turns on: only the dashboard and the exporter read xDS state.
#[cfg(feature = "xds")]
#[allow(missing_docs, clippy::all)]
pub mod envoy {
    /// Services.
    pub mod service {
        /// CSDS.
        pub mod status {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.service.status.v3.rs");
            }
        }
    }
    /// The config dump messages shared with Envoy's admin interface.
    pub mod admin {
        /// Version 3.
        pub mod v3 {
            include!("generated/envoy.admin.v3.rs");
        }
    }
    /// Resource types.
    pub mod config {
        /// Node, locality, addresses, health status.
        pub mod core {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.config.core.v3.rs");
            }
        }
        /// LDS.
        pub mod listener {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.config.listener.v3.rs");
            }
        }
        /// RDS.
        pub mod route {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.config.route.v3.rs");
            }
        }
        /// CDS.
        pub mod cluster {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.config.cluster.v3.rs");
            }
        }
        /// EDS.
        pub mod endpoint {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.config.endpoint.v3.rs");
            }
        }
    }
    /// Extensions.
    pub mod extensions {
        /// Filters.
        pub mod filters {
            /// Network filters.
            pub mod network {
                /// The HTTP connection manager inside a listener.
                pub mod http_connection_manager {
                    /// Version 3.
                    pub mod v3 {
                        include!(
                            "generated/envoy.extensions.filters.network.http_connection_manager.v3.rs"
                        );
                    }
                }
            }
        }
    }
    /// Matchers.
    pub mod r#type {
        /// Matchers.
        pub mod matcher {
            /// Version 3.
            pub mod v3 {
                include!("generated/envoy.r#type.matcher.v3.rs");
            }
        }
    }
}

/// The encoded `FileDescriptorSet` of the `xds` protos and the well-known
/// types they import.
#[cfg(feature = "xds")]
pub const XDS_FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/xds_file_descriptor_set.bin");

#[cfg(all(test, feature = "codegen"))]
mod generated_is_current;
