"""Prints the FileDescriptorProtos that grpcio-health-checking and
grpcio-channelz ship, one per line as ``<file name> <hex bytes>``, for
tests/tests/proto_compat.rs to compare field by field with ours."""

import binascii

from google.protobuf import descriptor_pb2
from grpc_channelz.v1 import channelz_pb2
from grpc_health.v1 import health_pb2

for module in (health_pb2, channelz_pb2):
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    print(proto.name, binascii.hexlify(proto.SerializeToString()).decode("ascii"))
