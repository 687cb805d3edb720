"""Server reflection in both protocols: `grpc.reflection.v1` and its older name `v1alpha`.

grpcio-reflection ships only v1alpha, but clients (grpcurl, Postman, grpc-js tools)
now ask v1 first. The two protocols differ by their package name alone: the same
messages with the same field numbers, so the same bytes on the wire (gRPC's C++
server answers both with one implementation). So v1's descriptor is derived from
the shipped v1alpha one and added to the descriptor pool (reflection can then
describe itself in both), and v1's method is served by the same servicer.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import descriptor, descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1_FILE_NAME = "grpc/reflection/v1/reflection.proto"  # its path in the gRPC repository


def v1_file_descriptor() -> descriptor.FileDescriptor:
    """The v1 reflection file in the default pool, added from v1alpha's on first use."""
    pool = descriptor_pool.Default()
    try:
        # Already there: added by an earlier call, or by a grpcio-reflection that ships v1.
        return pool.FindServiceByName(V1_SERVICE_NAME).file
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old, new = f".{proto.package}.", f".{V1_PACKAGE}."
    proto.name, proto.package = V1_FILE_NAME, V1_PACKAGE
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # set only on message fields
                field.type_name = field.type_name.replace(old, new)
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, new)
            method.output_type = method.output_type.replace(old, new)
    pool.AddSerializedFile(proto.SerializeToString())
    return pool.FindFileByName(V1_FILE_NAME)


def enable_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serves reflection on `server` for `service_names` (and itself) in v1 and v1alpha."""
    v1_file_descriptor()
    servicer = reflection.ReflectionServicer(
        [*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]
    )
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        # v1alpha's classes parse and write v1's bytes: the messages are identical.
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    v1 = grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {"ServerReflectionInfo": v1_method})
    server.add_generic_rpc_handlers((v1,))
