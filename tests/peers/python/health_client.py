"""A grpcio health client (the stubs of grpcio-health-checking), driven from
stdin, for the Rust tests of the shipped health service.

Protocol (shared by the Python, Node and Go health clients):
  * argument: the server's HOST:PORT;
  * first stdout line: ``READY``;
  * stdin commands, one per line (``""`` names the empty service):
      ``check SERVICE`` -> ``check SERVICE STATUS`` or ``check SERVICE error CODE``;
      ``list`` -> ``list ok N NAME=STATUS...`` (sorted) or ``list error CODE``;
      ``watch SERVICE`` -> starts a Watch; each message prints
        ``watch SERVICE STATUS``, its end ``watch SERVICE end CODE``;
      anything else -> ``error: ...``;
  * CODE is the gRPC code name (NOT_FOUND, RESOURCE_EXHAUSTED, OK, ...);
  * the client exits as soon as stdin closes.
"""

import sys
import threading

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT = 10
LOCK = threading.Lock()


def say(line):
    # Watch threads print too: one lock keeps lines whole.
    with LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def status_name(value):
    return health_pb2.HealthCheckResponse.ServingStatus.Name(value)


def shown(name):
    return name if name else '""'


def check(stub, service):
    try:
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        say("check %s %s" % (shown(service), status_name(response.status)))
    except grpc.RpcError as error:
        say("check %s error %s" % (shown(service), error.code().name))


def list_services(stub):
    try:
        response = stub.List(health_pb2.HealthListRequest(), timeout=TIMEOUT)
    except grpc.RpcError as error:
        say("list error %s" % error.code().name)
        return
    pairs = sorted((name, status_name(r.status)) for name, r in response.statuses.items())
    words = ["%s=%s" % (shown(name), status) for name, status in pairs]
    say(" ".join(["list", "ok", str(len(pairs))] + words))


def watch(stub, service):
    code = "OK"
    try:
        for response in stub.Watch(health_pb2.HealthCheckRequest(service=service)):
            say("watch %s %s" % (shown(service), status_name(response.status)))
    except grpc.RpcError as error:
        code = error.code().name
    say("watch %s end %s" % (shown(service), code))


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: health_client.py HOST:PORT\n")
        return 1
    channel = grpc.insecure_channel(sys.argv[1])
    stub = health_pb2_grpc.HealthStub(channel)
    say("READY")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        service = None
        if len(words) == 2:
            service = "" if words[1] == '""' else words[1]
        if words[0] == "check" and service is not None:
            check(stub, service)
        elif words[0] == "list" and len(words) == 1:
            list_services(stub)
        elif words[0] == "watch" and service is not None:
            threading.Thread(target=watch, args=(stub, service), daemon=True).start()
        else:
            say("error: unknown command %r" % line.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
