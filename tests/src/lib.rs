//! The test kit every integration test in `tests/tests/` uses: in-process
//! tonic servers, faults on demand, TLS material made at run time, and the
//! real gRPC peers (Python grpcio, Node grpc-js, Go grpc-go).

pub mod bin;
pub mod channelz;
pub mod docs;
pub mod faults;
pub mod health;
pub mod hostile;
pub mod hostile_csds;
pub mod json_schema;
pub mod peers;
pub mod servers;
pub mod tls;
