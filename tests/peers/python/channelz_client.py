"""Reads a Channelz service with the official grpcio Channelz stubs and
prints what it saw as one JSON document, for the Rust tests to assert on.

It walks every paged RPC to its end (GetTopChannels, GetServers,
GetServerSockets), fetches every entity found with the single-entity RPCs
(GetChannel, GetSubchannel, GetServer, GetSocket with and without
summary), and, with --unknown-id, records the status code each
single-entity RPC returns for an id that does not exist.

Messages are rendered with protobuf's own JSON mapping (int64 fields
become strings), so what the test sees is what any grpcio user would.

Exit codes: 0 ok, 2 an RPC failed unexpectedly (one line on stderr).
"""

import argparse
import json
import sys

import grpc
from google.protobuf import json_format
from grpc_channelz.v1 import channelz_pb2, channelz_pb2_grpc

TIMEOUT = 10


def to_dict(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def walk(fetch, items_of, id_of, start_field, page_size):
    """Pages through one paged RPC; returns the pages as id lists + end flags."""
    pages = []
    start = 0
    while True:
        response = fetch(**{start_field: start, "max_results": page_size})
        items = items_of(response)
        ids = [id_of(item) for item in items]
        pages.append({"ids": ids, "end": response.end})
        if response.end:
            return pages
        if not ids:
            # A page that is empty yet not the end would loop forever.
            raise RuntimeError("empty page without end=true at start id %d" % start)
        start = ids[-1] + 1
        if len(pages) > 100000:
            raise RuntimeError("more than 100000 pages")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="HOST:PORT of the Channelz service")
    parser.add_argument("--page-size", type=int, default=0, help="max_results per page (0: server default)")
    parser.add_argument("--walk-only", action="store_true", help="only page through channels and servers")
    parser.add_argument("--unknown-id", type=int, help="probe every single-entity RPC with this id")
    parser.add_argument("--ca", help="PEM file of the CA to trust: connect with TLS")
    parser.add_argument("--cert", help="PEM client certificate (mTLS)")
    parser.add_argument("--key", help="PEM client key (mTLS)")
    args = parser.parse_args()

    if args.ca:
        def read(path):
            with open(path, "rb") as f:
                return f.read()

        creds = grpc.ssl_channel_credentials(
            root_certificates=read(args.ca),
            private_key=read(args.key) if args.key else None,
            certificate_chain=read(args.cert) if args.cert else None,
        )
        channel = grpc.secure_channel(args.target, creds)
    else:
        channel = grpc.insecure_channel(args.target)
    stub = channelz_pb2_grpc.ChannelzStub(channel)
    out = {}

    def top_channels(**kw):
        return stub.GetTopChannels(channelz_pb2.GetTopChannelsRequest(**kw), timeout=TIMEOUT)

    def servers(**kw):
        return stub.GetServers(channelz_pb2.GetServersRequest(**kw), timeout=TIMEOUT)

    pages = walk(top_channels, lambda r: r.channel, lambda c: c.ref.channel_id, "start_channel_id", args.page_size)
    out["top_channel_pages"] = pages
    pages = walk(servers, lambda r: r.server, lambda s: s.ref.server_id, "start_server_id", args.page_size)
    out["server_pages"] = pages

    if not args.walk_only:
        channel_ids = [i for p in out["top_channel_pages"] for i in p["ids"]]
        server_ids = [i for p in out["server_pages"] for i in p["ids"]]
        out["channels"] = []
        out["subchannels"] = []
        out["servers"] = []
        out["server_sockets"] = {}
        out["sockets"] = {}
        out["socket_summaries"] = {}
        socket_ids = []
        for cid in channel_ids:
            ch = stub.GetChannel(channelz_pb2.GetChannelRequest(channel_id=cid), timeout=TIMEOUT).channel
            out["channels"].append(to_dict(ch))
            for sref in ch.subchannel_ref:
                sub = stub.GetSubchannel(
                    channelz_pb2.GetSubchannelRequest(subchannel_id=sref.subchannel_id), timeout=TIMEOUT
                ).subchannel
                out["subchannels"].append(to_dict(sub))
                socket_ids += [s.socket_id for s in sub.socket_ref]
        for sid in server_ids:
            srv = stub.GetServer(channelz_pb2.GetServerRequest(server_id=sid), timeout=TIMEOUT).server
            out["servers"].append(to_dict(srv))
            socket_ids += [s.socket_id for s in srv.listen_socket]

            def server_sockets(**kw):
                return stub.GetServerSockets(
                    channelz_pb2.GetServerSocketsRequest(server_id=sid, **kw), timeout=TIMEOUT
                )

            pages = walk(server_sockets, lambda r: r.socket_ref, lambda s: s.socket_id, "start_socket_id", args.page_size)
            out["server_sockets"][str(sid)] = pages
            socket_ids += [i for p in pages for i in p["ids"]]
        for sock_id in socket_ids:
            try:
                full = stub.GetSocket(channelz_pb2.GetSocketRequest(socket_id=sock_id), timeout=TIMEOUT).socket
                summary = stub.GetSocket(
                    channelz_pb2.GetSocketRequest(socket_id=sock_id, summary=True), timeout=TIMEOUT
                ).socket
            except grpc.RpcError as e:
                # A connection may close between listing and fetching it.
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    continue
                raise
            out["sockets"][str(sock_id)] = to_dict(full)
            out["socket_summaries"][str(sock_id)] = to_dict(summary)

    if args.unknown_id is not None:
        uid = args.unknown_id
        probes = {
            "GetChannel": lambda: stub.GetChannel(channelz_pb2.GetChannelRequest(channel_id=uid), timeout=TIMEOUT),
            "GetSubchannel": lambda: stub.GetSubchannel(
                channelz_pb2.GetSubchannelRequest(subchannel_id=uid), timeout=TIMEOUT
            ),
            "GetServer": lambda: stub.GetServer(channelz_pb2.GetServerRequest(server_id=uid), timeout=TIMEOUT),
            "GetServerSockets": lambda: stub.GetServerSockets(
                channelz_pb2.GetServerSocketsRequest(server_id=uid), timeout=TIMEOUT
            ),
            "GetSocket": lambda: stub.GetSocket(channelz_pb2.GetSocketRequest(socket_id=uid), timeout=TIMEOUT),
        }
        out["unknown_id"] = {}
        for name, probe in probes.items():
            try:
                probe()
                out["unknown_id"][name] = "OK"
            except grpc.RpcError as e:
                out["unknown_id"][name] = e.code().name

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as e:
        print("channelz rpc failed: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
        sys.exit(2)
    except RuntimeError as e:
        print("channelz paging is inconsistent: %s" % e, file=sys.stderr)
        sys.exit(2)
