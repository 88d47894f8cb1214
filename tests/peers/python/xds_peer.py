"""A real grpcio xDS client with CSDS, fed by a small ADS management server,
for the toolkit's CSDS tests.

One process holds three things, all on loopback:
  * a management server: envoy's Aggregated Discovery Service, v3,
    state-of-the-world, with one listener, route, cluster and endpoint set
    per name it serves, steerable from stdin;
  * a backend (grpc.health.v1) that the endpoints point at;
  * xDS client channels (``xds:///NAME``) with ``GRPC_XDS_BOOTSTRAP``
    pointing at the management server, and an admin server (Channelz and
    CSDS, grpcio-admin) for the tools to read.

It starts with ``xds:///svc`` and ``xds:///gone`` fully served (every
resource ACKED) and a call through ``xds:///svc`` made.

Protocol (like peer.py):
  * first stdout line: ``PORT <n>``, the admin (CSDS + Channelz) port;
  * stdin commands, one per line, each answered by one stdout line
    (``ok ...`` or ``error: ...``); each new resource set bumps
    its type's version by one:
      ``nack``    -> sends cluster ``cluster-svc`` again, now invalid (an
                     unsupported LB policy): the client keeps the accepted
                     version and reports the rejected one with the reason;
      ``delete``  -> removes listener ``gone`` (sent before): the client
                     marks it DOES_NOT_EXIST;
      ``pending`` -> opens ``xds:///pending``, a name the server never
                     answers: REQUESTED, and DOES_NOT_EXIST after 15 s;
      ``restore`` -> sends a valid cluster ``cluster-svc`` again, the same
                     contents as the accepted one (a rollback);
      ``change``  -> sends a valid ``cluster-svc`` with other contents (a
                     circuit breaker, ``max_requests`` 1000);
  * the peer exits as soon as stdin closes.

With ``--management`` it is only the management server and the backend,
for another xDS client to be fed by the same resources (the Node peer,
``../node/xds_peer.js``, runs it so): first stdout line ``ADS <n>``, the
ADS port; the commands ``nack``, ``restore``, ``change`` and ``delete`` as above
(``pending`` is the client's to do, so it is refused here).
"""

import json
import os
import queue
import sys
import tempfile
import threading
from concurrent import futures

import grpc
import grpc_admin
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import api_listener_pb2, listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINTS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
TYPES = (LISTENER, ROUTE, CLUSTER, ENDPOINTS)
CHANNELZ_ON = [("grpc.enable_channelz", 1)]


def listener(name, route_name):
    router = hcm_pb2.HttpFilter(name="router")
    router.typed_config.Pack(router_pb2.Router())
    manager = hcm_pb2.HttpConnectionManager(
        rds=hcm_pb2.Rds(
            route_config_name=route_name,
            config_source=config_source_pb2.ConfigSource(
                ads=config_source_pb2.AggregatedConfigSource()
            ),
        ),
        http_filters=[router],
    )
    resource = listener_pb2.Listener(name=name)
    resource.api_listener.api_listener.Pack(manager)
    return resource


def route(name, cluster):
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=[
            route_components_pb2.VirtualHost(
                name="all",
                domains=["*"],
                routes=[
                    route_components_pb2.Route(
                        match=route_components_pb2.RouteMatch(prefix=""),
                        route=route_components_pb2.RouteAction(cluster=cluster),
                    )
                ],
            )
        ],
    )


def cluster(name, service, valid=True, max_requests=None):
    resource = cluster_pb2.Cluster(
        name=name,
        type=cluster_pb2.Cluster.EDS,
        lb_policy=cluster_pb2.Cluster.ROUND_ROBIN if valid else cluster_pb2.Cluster.MAGLEV,
    )
    if max_requests is not None:
        resource.circuit_breakers.thresholds.add().max_requests.value = max_requests
    resource.eds_cluster_config.service_name = service
    resource.eds_cluster_config.eds_config.ads.SetInParent()
    return resource


def endpoints(service, port):
    return endpoint_pb2.ClusterLoadAssignment(
        cluster_name=service,
        endpoints=[
            endpoint_components_pb2.LocalityLbEndpoints(
                locality=base_pb2.Locality(region="test", zone="a"),
                load_balancing_weight={"value": 1},
                lb_endpoints=[
                    endpoint_components_pb2.LbEndpoint(
                        endpoint=endpoint_components_pb2.Endpoint(
                            address=address_pb2.Address(
                                socket_address=address_pb2.SocketAddress(
                                    address="127.0.0.1", port_value=port
                                )
                            )
                        ),
                        health_status=health_check_pb2.HEALTHY,
                    )
                ],
            )
        ],
    )


class Store:
    """The resources the management server serves, by type and name, with
    one version per type, and the streams to tell when they change."""

    def __init__(self):
        self.lock = threading.Lock()
        self.resources = {t: {} for t in TYPES}
        self.versions = {t: 0 for t in TYPES}
        self.streams = []

    def put(self, type_url, name, message):
        self.change(type_url, lambda r: r.__setitem__(name, message))

    def delete(self, type_url, name):
        self.change(type_url, lambda r: r.pop(name, None))

    def change(self, type_url, edit):
        with self.lock:
            edit(self.resources[type_url])
            self.versions[type_url] += 1
            streams = list(self.streams)
        for stream in streams:
            stream.put(("push", type_url))

    def snapshot(self, type_url, names):
        with self.lock:
            wanted = self.resources[type_url]
            chosen = [m for n, m in sorted(wanted.items()) if not names or n in names]
            return str(self.versions[type_url]), chosen


class Ads(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    """State of the world: each response carries every subscribed resource
    of its type, so a listener left out of one is deleted."""

    def __init__(self, store):
        self.store = store

    def StreamAggregatedResources(self, request_iterator, context):
        events = queue.Queue()
        with self.store.lock:
            self.store.streams.append(events)

        def read():
            try:
                for request in request_iterator:
                    events.put(("request", request))
            except grpc.RpcError:
                pass
            events.put(("end", None))

        threading.Thread(target=read, daemon=True).start()
        subscribed = {}
        nonce = 0
        try:
            while True:
                kind, item = events.get()
                if kind == "end":
                    return
                if kind == "request":
                    type_url = item.type_url
                    names = set(item.resource_names)
                    # An ACK or NACK repeats the names it had: nothing to send.
                    if subscribed.get(type_url) == names:
                        continue
                    subscribed[type_url] = names
                else:
                    type_url = item
                    if type_url not in subscribed:
                        continue
                version, chosen = self.store.snapshot(type_url, subscribed[type_url])
                nonce += 1
                response = discovery_pb2.DiscoveryResponse(
                    version_info=version, type_url=type_url, nonce=str(nonce)
                )
                for message in chosen:
                    response.resources.add().Pack(message)
                yield response
        finally:
            with self.store.lock:
                self.store.streams.remove(events)


def serve(store, target):
    """Adds listener, route, cluster and endpoints for `xds:///target`."""
    store.put(ROUTE, "route-" + target, route("route-" + target, "cluster-" + target))
    store.put(CLUSTER, "cluster-" + target, cluster("cluster-" + target, "eds-" + target))
    store.put(ENDPOINTS, "eds-" + target, endpoints("eds-" + target, BACKEND_PORT[0]))
    store.put(LISTENER, target, listener(target, "route-" + target))


BACKEND_PORT = [0]


def start_management():
    """Starts the backend and the ADS server with ``svc`` and ``gone``
    served; returns the store, the ADS port and the servers (kept alive)."""
    # The backend the endpoints point at.
    backend = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, backend)
    BACKEND_PORT[0] = backend.add_insecure_port("127.0.0.1:0")
    backend.start()

    store = Store()
    management = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(Ads(store), management)
    ads_port = management.add_insecure_port("127.0.0.1:0")
    management.start()
    for target in ("svc", "gone"):
        serve(store, target)
    return store, ads_port, (backend, management)


def steer(store, words):
    """Applies one management command; False when `words` is not one."""
    if words == ["nack"]:
        store.put(CLUSTER, "cluster-svc", cluster("cluster-svc", "eds-svc", valid=False))
    elif words == ["restore"]:
        store.put(CLUSTER, "cluster-svc", cluster("cluster-svc", "eds-svc"))
    elif words == ["delete"]:
        store.delete(LISTENER, "gone")
    elif words == ["change"]:
        store.put(CLUSTER, "cluster-svc", cluster("cluster-svc", "eds-svc", max_requests=1000))
    else:
        return False
    return True


def management_only():
    """``--management``: the ADS server alone, steered from stdin."""
    store, ads_port, _servers = start_management()
    print("ADS %d" % ads_port, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if steer(store, words):
            print("ok", flush=True)
        else:
            print("error: expected nack, restore, change or delete, got %r" % line.strip()[:80],
                  flush=True)
    os._exit(0)


def main():
    if sys.argv[1:] == ["--management"]:
        management_only()
    elif sys.argv[1:]:
        sys.exit("error: the only argument is --management, got %r" % sys.argv[1:])
    store, ads_port, _servers = start_management()

    bootstrap = {
        "xds_servers": [
            {
                "server_uri": "127.0.0.1:%d" % ads_port,
                "channel_creds": [{"type": "insecure"}],
                "server_features": ["xds_v3"],
            }
        ],
        "node": {"id": "toolkit-xds-peer", "cluster": "toolkit-tests"},
    }
    handle, path = tempfile.mkstemp(prefix="xds-bootstrap-", suffix=".json")
    with os.fdopen(handle, "w") as f:
        json.dump(bootstrap, f)
    # C-core reads the bootstrap when the first xds: channel is made.
    os.environ["GRPC_XDS_BOOTSTRAP"] = path

    admin = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=CHANNELZ_ON)
    grpc_admin.add_admin_servicers(admin)
    admin_port = admin.add_insecure_port("127.0.0.1:0")
    admin.start()

    channels = {}

    def open_channel(target):
        channels[target] = grpc.insecure_channel("xds:///" + target, options=CHANNELZ_ON)
        return channels[target]

    try:
        stub = health_pb2_grpc.HealthStub(open_channel("svc"))
        stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=30, wait_for_ready=True)
        gone = health_pb2_grpc.HealthStub(open_channel("gone"))
        gone.Check(health_pb2.HealthCheckRequest(service=""), timeout=30, wait_for_ready=True)
    except grpc.RpcError as e:
        os.unlink(path)
        sys.exit("error: no call through xds:///svc or xds:///gone: %s" % e)

    print("PORT %d" % admin_port, flush=True)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if steer(store, words):
            print("ok", flush=True)
        elif words == ["pending"]:
            # Connecting makes the resolver subscribe to the listener.
            open_channel("pending").subscribe(lambda _: None, try_to_connect=True)
            print("ok", flush=True)
        else:
            print("error: expected nack, restore, change, delete or pending, got %r" % line.strip(),
                  flush=True)

    # Kept until now: each new xds: target makes an xDS client of its own.
    os.unlink(path)
    os._exit(0)


if __name__ == "__main__":
    main()
