"""A real grpcio (C-core) server for the toolkit's integration tests.

It serves grpc.health.v1 (statuses per service, changeable while running)
and grpc.channelz.v1, and keeps a little traffic going through client
channels to itself so that Channelz shows channels, subchannels and sockets
with non-zero call counts.

Protocol (shared by the Python, Node and Go peers):
  * first stdout line: ``PORT <n>`` (or ``UNIX <path>`` with --unix);
  * stdin commands, one per line, each answered by one stdout line:
      ``set SERVICE STATUS`` -> ``ok`` (``""`` names the empty service;
      STATUS is UNKNOWN, SERVING, NOT_SERVING or SERVICE_UNKNOWN),
      anything else -> ``error: ...``;
  * the peer exits as soon as stdin closes, so it can never outlive the test.
"""

import argparse
import os
import sys
import threading
from concurrent import futures

import grpc
from grpc_channelz.v1 import channelz
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

CHANNELZ_ON = [("grpc.enable_channelz", 1)]
STATUSES = {
    name: health_pb2.HealthCheckResponse.ServingStatus.Value(name)
    for name in ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=0,
                        help="extra client channels to create (for paging tests)")
    parser.add_argument("--tls-cert", help="PEM server certificate (turns TLS on)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--unix", help="listen on this unix socket path instead of TCP")
    return parser.parse_args()


def call(channel, service):
    """One health Check; failures are the point for unknown services."""
    stub = health_pb2_grpc.HealthStub(channel)
    try:
        stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
    except grpc.RpcError:
        pass


def client_channel(target, tls_cert):
    # A local subchannel pool keeps C-core from sharing one subchannel
    # between the channels, so every channel shows its own subchannel.
    options = CHANNELZ_ON + [("grpc.use_local_subchannel_pool", 1)]
    if tls_cert is None:
        return grpc.insecure_channel(target, options=options)
    credentials = grpc.ssl_channel_credentials(root_certificates=tls_cert)
    options.append(("grpc.ssl_target_name_override", "localhost"))
    return grpc.secure_channel(target, credentials, options=options)


def main():
    args = parse_args()
    if args.channels < 0:
        sys.exit("error: --channels wants a non-negative integer, got %d" % args.channels)
    if (args.tls_cert is None) != (args.tls_key is None):
        sys.exit("error: --tls-cert and --tls-key go together")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=CHANNELZ_ON)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    channelz.add_channelz_servicer(server)

    address = "unix:" + args.unix if args.unix else "127.0.0.1:0"
    cert = None
    if args.tls_cert:
        try:
            with open(args.tls_cert, "rb") as f:
                cert = f.read()
            with open(args.tls_key, "rb") as f:
                key = f.read()
        except OSError as e:
            sys.exit("error: cannot read --tls-cert/--tls-key: %s" % e)
    try:
        if cert is not None:
            port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as e:
        sys.exit("error: cannot listen on %s: %s" % (address, e))
    server.start()

    target = address if args.unix else "127.0.0.1:%d" % port
    channels = [client_channel(target, cert) for _ in range(1 + args.channels)]
    for channel in channels:
        call(channel, "")
    for _ in range(2):
        call(channels[0], "")
    call(channels[0], "no.such.Service")

    stop = threading.Event()

    def keep_traffic():
        # Periodic calls keep last_call_started_timestamp moving and the
        # sockets alive for the dashboard tests.
        while not stop.wait(1.0):
            call(channels[0], "")

    threading.Thread(target=keep_traffic, daemon=True).start()

    print(("UNIX %s" % args.unix) if args.unix else ("PORT %d" % port), flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if len(words) == 3 and words[0] == "set" and words[2] in STATUSES:
            service = "" if words[1] == '""' else words[1]
            health_servicer.set(service, STATUSES[words[2]])
            print("ok", flush=True)
        else:
            print("error: expected `set SERVICE STATUS`, got %r" % line.strip(), flush=True)

    stop.set()
    # Exit at once: stdin closed means the test is gone, and lingering
    # channel threads must not keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    main()
