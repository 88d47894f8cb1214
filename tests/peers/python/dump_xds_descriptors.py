"""Prints the FileDescriptorProtos that xds-protos ships for the envoy files
our trimmed xDS protos are cut from, one per line as ``<file name> <hex
bytes>``, for tests/tests/it/proto_compat.rs to check that every field we
keep has the upstream number and type."""

import binascii
import importlib

from google.protobuf import descriptor_pb2

MODULES = [
    "envoy.service.status.v3.csds_pb2",
    "envoy.admin.v3.config_dump_shared_pb2",
    "envoy.config.core.v3.base_pb2",
    "envoy.config.core.v3.address_pb2",
    "envoy.config.core.v3.health_check_pb2",
    "envoy.config.listener.v3.listener_pb2",
    "envoy.config.listener.v3.api_listener_pb2",
    "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
    "envoy.config.route.v3.route_pb2",
    "envoy.config.route.v3.route_components_pb2",
    "envoy.type.matcher.v3.regex_pb2",
    "envoy.config.cluster.v3.cluster_pb2",
    "envoy.config.endpoint.v3.endpoint_pb2",
    "envoy.config.endpoint.v3.endpoint_components_pb2",
]

for name in MODULES:
    module = importlib.import_module(name)
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    print(proto.name, binascii.hexlify(proto.SerializeToString()).decode("ascii"))
