//! `grpc-probe` as a library: the shared connection layer ([`conn`]) that
//! both binaries use, and the health checking logic behind the binary.

pub mod conn;
