// Command grpc-health-client-go is a grpc-go health client driven from
// stdin, for the toolkit's Rust tests of the shipped health service. It is
// the Go counterpart of ../../python/health_client.py, with the same
// protocol:
//
//   - argument: the server's HOST:PORT; first stdout line: READY;
//   - stdin commands, one per line ("" names the empty service):
//     "check SERVICE" -> "check SERVICE STATUS" or "check SERVICE error CODE";
//     "list" -> "list ok N NAME=STATUS..." (sorted) or "list error CODE";
//     "watch SERVICE" -> starts a Watch; each message prints
//     "watch SERVICE STATUS", its end "watch SERVICE end CODE";
//   - CODE is the gRPC code name (NOT_FOUND, RESOURCE_EXHAUSTED, OK, ...);
//   - the client exits as soon as stdin closes.
//
// Check and Watch use grpc-go's generated health stubs. Debian's grpc-go
// 1.33 predates List (gRFC A90), so List goes through conn.Invoke with a
// codec that passes raw bytes, and the response is decoded from the wire
// format by hand: the request is empty, and the response is only
// map<string, HealthCheckResponse> statuses = 1.
//
// It builds offline in GOPATH mode against Debian's golang-google-grpc-dev,
// like the Go peer; see ../../setup.sh.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const timeout = 10 * time.Second

var out sync.Mutex

// say prints one line; Watch goroutines print too, so lines stay whole.
func say(format string, args ...interface{}) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf(format+"\n", args...)
}

func shown(name string) string {
	if name == "" {
		return `""`
	}
	return name
}

// codeName is the canonical upper-case name ("NOT_FOUND"); grpc-go's
// String() gives "NotFound".
func codeName(err error) string {
	names := map[codes.Code]string{
		codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN",
		codes.InvalidArgument: "INVALID_ARGUMENT", codes.DeadlineExceeded: "DEADLINE_EXCEEDED",
		codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED",
		codes.OutOfRange: "OUT_OF_RANGE", codes.Unimplemented: "UNIMPLEMENTED",
		codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE", codes.DataLoss: "DATA_LOSS",
		codes.Unauthenticated: "UNAUTHENTICATED",
	}
	code := status.Code(err)
	if name, ok := names[code]; ok {
		return name
	}
	return fmt.Sprintf("CODE_%d", code)
}

func statusName(value int32) string {
	if name, ok := healthpb.HealthCheckResponse_ServingStatus_name[value]; ok {
		return name
	}
	return fmt.Sprintf("STATUS_%d", value)
}

// rawCodec sends and receives message bytes as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, errors.New("rawCodec marshals only *[]byte")
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return errors.New("rawCodec unmarshals only into *[]byte")
	}
	*b = append((*b)[:0], data...)
	return nil
}

// varint reads a base-128 varint; n is 0 when the bytes end too early.
func varint(b []byte) (value uint64, n int) {
	for i := 0; i < len(b) && i < 10; i++ {
		value |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return value, i + 1
		}
	}
	return 0, 0
}

// field is one decoded field: its number and, for length-delimited
// fields, its bytes, else its varint value.
type field struct {
	number uint64
	bytes  []byte
	value  uint64
}

// fields splits a message into its fields (varint and length-delimited
// only: the health messages have no others).
func fields(b []byte) ([]field, error) {
	var result []field
	for len(b) > 0 {
		key, n := varint(b)
		if n == 0 {
			return nil, errors.New("truncated key")
		}
		b = b[n:]
		f := field{number: key >> 3}
		switch key & 7 {
		case 0:
			f.value, n = varint(b)
			if n == 0 {
				return nil, errors.New("truncated varint")
			}
			b = b[n:]
		case 2:
			length, n := varint(b)
			if n == 0 || uint64(len(b)-n) < length {
				return nil, errors.New("truncated bytes")
			}
			f.bytes = b[n : n+int(length)]
			b = b[n+int(length):]
		default:
			return nil, fmt.Errorf("unexpected wire type %d", key&7)
		}
		result = append(result, f)
	}
	return result, nil
}

// decodeList decodes a HealthListResponse into name -> status.
func decodeList(b []byte) (map[string]int32, error) {
	top, err := fields(b)
	if err != nil {
		return nil, err
	}
	statuses := map[string]int32{}
	for _, entry := range top {
		if entry.number != 1 {
			continue
		}
		parts, err := fields(entry.bytes)
		if err != nil {
			return nil, err
		}
		var name string
		var value int32
		for _, part := range parts {
			switch part.number {
			case 1:
				name = string(part.bytes)
			case 2:
				inner, err := fields(part.bytes)
				if err != nil {
					return nil, err
				}
				for _, f := range inner {
					if f.number == 1 {
						value = int32(f.value)
					}
				}
			}
		}
		statuses[name] = value
	}
	return statuses, nil
}

func check(client healthpb.HealthClient, service string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	response, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		say("check %s error %s", shown(service), codeName(err))
		return
	}
	say("check %s %s", shown(service), statusName(int32(response.Status)))
}

func list(conn *grpc.ClientConn) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	request := []byte{}
	var response []byte
	err := conn.Invoke(ctx, "/grpc.health.v1.Health/List", &request, &response, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		say("list error %s", codeName(err))
		return
	}
	statuses, err := decodeList(response)
	if err != nil {
		say("list error DECODE %v", err)
		return
	}
	names := make([]string, 0, len(statuses))
	for name := range statuses {
		names = append(names, name)
	}
	sort.Strings(names)
	words := []string{"list", "ok", fmt.Sprint(len(names))}
	for _, name := range names {
		words = append(words, shown(name)+"="+statusName(statuses[name]))
	}
	say("%s", strings.Join(words, " "))
}

func watch(client healthpb.HealthClient, service string) {
	stream, err := client.Watch(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		say("watch %s end %s", shown(service), codeName(err))
		return
	}
	for {
		response, err := stream.Recv()
		if err == io.EOF {
			say("watch %s end OK", shown(service))
			return
		}
		if err != nil {
			say("watch %s end %s", shown(service), codeName(err))
			return
		}
		say("watch %s %s", shown(service), statusName(int32(response.Status)))
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: grpc-health-client-go HOST:PORT")
		os.Exit(1)
	}
	conn, err := grpc.Dial(os.Args[1], grpc.WithInsecure())
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot dial %s: %v\n", os.Args[1], err)
		os.Exit(2)
	}
	client := healthpb.NewHealthClient(conn)
	say("READY")
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		words := strings.Fields(lines.Text())
		if len(words) == 0 {
			continue
		}
		service, hasService := "", len(words) == 2
		if hasService && words[1] != `""` {
			service = words[1]
		}
		switch {
		case words[0] == "check" && hasService:
			check(client, service)
		case words[0] == "list" && len(words) == 1:
			list(conn)
		case words[0] == "watch" && hasService:
			go watch(client, service)
		default:
			say("error: unknown command %q", lines.Text())
		}
	}
	// Exit at once: stdin closed means the test is gone.
	os.Exit(0)
}
