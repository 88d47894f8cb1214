"""A plain grpcio health server for the benchmark and the static-binary check.

Usage: python health_server.py [--tls CERT KEY]
Prints the port it listens on (127.0.0.1, port chosen by the OS) on the first
line of stdout, then serves until killed. Services: "" and "bench" SERVING,
"down" NOT_SERVING, and "hang", whose Check never answers (it returns only
once the client has given up), for measuring how far past -rpc-timeout a
probe runs.
"""

import sys
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class Servicer(health.HealthServicer):
    """The stock servicer, but "hang" holds its Check until the RPC ends."""

    def Check(self, request, context):
        if request.service == "hang":
            while context.is_active():
                time.sleep(0.005)
            return health_pb2.HealthCheckResponse()
        return super().Check(request, context)


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = Servicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("bench", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("down", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        with open(sys.argv[2], "rb") as c, open(sys.argv[3], "rb") as k:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
