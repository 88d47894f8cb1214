"""The baseline: the plainest grpcio health check anyone can rerun.

Usage: python python_client.py HOST:PORT [SERVICE]
Exit 0 when SERVING, 4 otherwise, 2 when it cannot connect within 1s.
"""

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def main() -> int:
    target = sys.argv[1]
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    with grpc.insecure_channel(target) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=1)
        except grpc.FutureTimeoutError:
            return 2
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
        return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 4


if __name__ == "__main__":
    sys.exit(main())
