// Command grpc-channelz-client-go reads a Channelz service with grpc-go's
// own generated Channelz stubs and prints what it saw as one JSON document,
// for the toolkit's Rust tests to assert on. It is the Go counterpart of
// ../../python/channelz_client.py and prints the same document.
//
// It walks every paged RPC to its end (GetTopChannels, GetServers,
// GetServerSockets), fetches every entity found with the single-entity RPCs
// (GetChannel, GetSubchannel, GetServer, GetSocket with and without
// summary), and, with --unknown-id, records the status code each
// single-entity RPC returns for an id that does not exist.
//
// Messages are rendered with jsonpb (proto3 JSON with the proto field
// names: int64 as strings, zero values left out), the mapping any grpc-go
// user gets.
//
// It builds offline in GOPATH mode against Debian's golang-google-grpc-dev,
// like the Go peer; see ../../setup.sh.
//
// Usage: grpc-channelz-client-go [--page-size N] [--walk-only]
// [--unknown-id ID] HOST:PORT
//
// Exit codes: 0 ok, 1 bad arguments, 2 an RPC failed unexpectedly or the
// paging was inconsistent (one line on stderr).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strconv"
	"time"

	"github.com/golang/protobuf/jsonpb"
	"github.com/golang/protobuf/proto"
	"google.golang.org/grpc"
	pb "google.golang.org/grpc/channelz/grpc_channelz_v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const timeout = 10 * time.Second

// maxPages stops a server that never says end=true.
const maxPages = 100000

func fail(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}

func rpcFailed(rpc string, err error) {
	s := status.Convert(err)
	fail(2, "channelz rpc failed: %s: %s: %s", rpc, codeName(s.Code()), s.Message())
}

// codeName gives the canonical upper-case name (NOT_FOUND) that the Python
// and Node readers print; grpc-go's String() says NotFound.
func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
		codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
		codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
		codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if name, ok := names[c]; ok {
		return name
	}
	return "CODE_" + strconv.Itoa(int(c))
}

var marshaler = jsonpb.Marshaler{OrigName: true}

func toJSON(m proto.Message) json.RawMessage {
	text, err := marshaler.MarshalToString(m)
	if err != nil {
		fail(2, "cannot render a %T as JSON: %v", m, err)
	}
	return json.RawMessage(text)
}

func call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), timeout)
}

// page is one response of a paged RPC: the ids it listed and its end flag.
type page struct {
	IDs []int64 `json:"ids"`
	End bool    `json:"end"`
}

// walk pages through one paged RPC; fetch returns the ids of the page that
// starts at start, and whether it is the last one.
func walk(rpc string, fetch func(start int64) ([]int64, bool, error)) []page {
	pages := []page{}
	start := int64(0)
	for {
		ids, end, err := fetch(start)
		if err != nil {
			rpcFailed(rpc, err)
		}
		if ids == nil {
			ids = []int64{}
		}
		pages = append(pages, page{IDs: ids, End: end})
		if end {
			return pages
		}
		if len(ids) == 0 {
			// A page that is empty yet not the end would loop forever.
			fail(2, "channelz paging is inconsistent: %s: empty page without end=true at start id %d", rpc, start)
		}
		start = ids[len(ids)-1] + 1
		if len(pages) > maxPages {
			fail(2, "channelz paging is inconsistent: %s: more than %d pages", rpc, maxPages)
		}
	}
}

func main() {
	pageSize := flag.Int64("page-size", 0, "max_results per page (0: server default)")
	walkOnly := flag.Bool("walk-only", false, "only page through channels and servers")
	unknownID := flag.String("unknown-id", "", "probe every single-entity RPC with this id")
	// One line and exit 1 for a bad flag, like every other bad argument,
	// instead of the flag package's usage dump and exit 2.
	flag.CommandLine.Init(os.Args[0], flag.ContinueOnError)
	flag.CommandLine.SetOutput(ioutil.Discard)
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		fail(1, "bad arguments: %v", err)
	}
	if flag.NArg() != 1 {
		fail(1, "expected one HOST:PORT of the Channelz service, got %d arguments", flag.NArg())
	}
	if *pageSize < 0 {
		fail(1, "--page-size wants a non-negative integer, got %d", *pageSize)
	}
	var uid int64
	if *unknownID != "" {
		var err error
		if uid, err = strconv.ParseInt(*unknownID, 10, 64); err != nil {
			fail(1, "--unknown-id wants an integer id, got %q", *unknownID)
		}
	}

	conn, err := grpc.Dial(flag.Arg(0), grpc.WithInsecure())
	if err != nil {
		fail(2, "cannot create a channel to %s: %v", flag.Arg(0), err)
	}
	defer conn.Close()
	stub := pb.NewChannelzClient(conn)
	// Ordered keys are not needed: the reader parses the document.
	out := map[string]interface{}{}

	channelPages := walk("GetTopChannels", func(start int64) ([]int64, bool, error) {
		ctx, cancel := call()
		defer cancel()
		r, err := stub.GetTopChannels(ctx, &pb.GetTopChannelsRequest{StartChannelId: start, MaxResults: *pageSize})
		if err != nil {
			return nil, false, err
		}
		var ids []int64
		for _, c := range r.GetChannel() {
			ids = append(ids, c.GetRef().GetChannelId())
		}
		return ids, r.GetEnd(), nil
	})
	out["top_channel_pages"] = channelPages
	serverPages := walk("GetServers", func(start int64) ([]int64, bool, error) {
		ctx, cancel := call()
		defer cancel()
		r, err := stub.GetServers(ctx, &pb.GetServersRequest{StartServerId: start, MaxResults: *pageSize})
		if err != nil {
			return nil, false, err
		}
		var ids []int64
		for _, s := range r.GetServer() {
			ids = append(ids, s.GetRef().GetServerId())
		}
		return ids, r.GetEnd(), nil
	})
	out["server_pages"] = serverPages

	if !*walkOnly {
		channels := []json.RawMessage{}
		subchannels := []json.RawMessage{}
		servers := []json.RawMessage{}
		serverSockets := map[string][]page{}
		sockets := map[string]json.RawMessage{}
		summaries := map[string]json.RawMessage{}
		var socketIDs []int64
		for _, p := range channelPages {
			for _, cid := range p.IDs {
				ctx, cancel := call()
				r, err := stub.GetChannel(ctx, &pb.GetChannelRequest{ChannelId: cid})
				cancel()
				if err != nil {
					rpcFailed("GetChannel", err)
				}
				channels = append(channels, toJSON(r.GetChannel()))
				for _, sref := range r.GetChannel().GetSubchannelRef() {
					ctx, cancel := call()
					s, err := stub.GetSubchannel(ctx, &pb.GetSubchannelRequest{SubchannelId: sref.GetSubchannelId()})
					cancel()
					if err != nil {
						rpcFailed("GetSubchannel", err)
					}
					subchannels = append(subchannels, toJSON(s.GetSubchannel()))
					for _, so := range s.GetSubchannel().GetSocketRef() {
						socketIDs = append(socketIDs, so.GetSocketId())
					}
				}
			}
		}
		for _, p := range serverPages {
			for _, sid := range p.IDs {
				ctx, cancel := call()
				r, err := stub.GetServer(ctx, &pb.GetServerRequest{ServerId: sid})
				cancel()
				if err != nil {
					rpcFailed("GetServer", err)
				}
				servers = append(servers, toJSON(r.GetServer()))
				for _, l := range r.GetServer().GetListenSocket() {
					socketIDs = append(socketIDs, l.GetSocketId())
				}
				sid := sid
				pages := walk("GetServerSockets", func(start int64) ([]int64, bool, error) {
					ctx, cancel := call()
					defer cancel()
					r, err := stub.GetServerSockets(ctx, &pb.GetServerSocketsRequest{
						ServerId: sid, StartSocketId: start, MaxResults: *pageSize})
					if err != nil {
						return nil, false, err
					}
					var ids []int64
					for _, s := range r.GetSocketRef() {
						ids = append(ids, s.GetSocketId())
					}
					return ids, r.GetEnd(), nil
				})
				serverSockets[strconv.FormatInt(sid, 10)] = pages
				for _, p := range pages {
					socketIDs = append(socketIDs, p.IDs...)
				}
			}
		}
		for _, id := range socketIDs {
			key := strconv.FormatInt(id, 10)
			ctx, cancel := call()
			full, err := stub.GetSocket(ctx, &pb.GetSocketRequest{SocketId: id})
			cancel()
			if err == nil {
				ctx, cancel = call()
				var summary *pb.GetSocketResponse
				summary, err = stub.GetSocket(ctx, &pb.GetSocketRequest{SocketId: id, Summary: true})
				cancel()
				if err == nil {
					sockets[key] = toJSON(full.GetSocket())
					summaries[key] = toJSON(summary.GetSocket())
					continue
				}
			}
			// A connection may close between listing and fetching it.
			if status.Code(err) != codes.NotFound {
				rpcFailed("GetSocket", err)
			}
		}
		out["channels"] = channels
		out["subchannels"] = subchannels
		out["servers"] = servers
		out["server_sockets"] = serverSockets
		out["sockets"] = sockets
		out["socket_summaries"] = summaries
	}

	if *unknownID != "" {
		probes := []struct {
			name string
			rpc  func(ctx context.Context) error
		}{
			{"GetChannel", func(ctx context.Context) error {
				_, err := stub.GetChannel(ctx, &pb.GetChannelRequest{ChannelId: uid})
				return err
			}},
			{"GetSubchannel", func(ctx context.Context) error {
				_, err := stub.GetSubchannel(ctx, &pb.GetSubchannelRequest{SubchannelId: uid})
				return err
			}},
			{"GetServer", func(ctx context.Context) error {
				_, err := stub.GetServer(ctx, &pb.GetServerRequest{ServerId: uid})
				return err
			}},
			{"GetServerSockets", func(ctx context.Context) error {
				_, err := stub.GetServerSockets(ctx, &pb.GetServerSocketsRequest{ServerId: uid})
				return err
			}},
			{"GetSocket", func(ctx context.Context) error {
				_, err := stub.GetSocket(ctx, &pb.GetSocketRequest{SocketId: uid})
				return err
			}},
		}
		results := map[string]string{}
		for _, probe := range probes {
			ctx, cancel := call()
			results[probe.name] = codeName(status.Code(probe.rpc(ctx)))
			cancel()
		}
		out["unknown_id"] = results
	}

	text, err := json.Marshal(out)
	if err != nil {
		fail(2, "cannot render the summary as JSON: %v", err)
	}
	fmt.Println(string(text))
}
