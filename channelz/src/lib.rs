//! A grpc.channelz.v1 Channelz service for tonic: registry, server layer, instrumented channels.
