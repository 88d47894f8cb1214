//! grpc-probe library: connection layer and health checking.
