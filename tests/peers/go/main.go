// Command grpc-peer-go is a real grpc-go server for the toolkit's
// integration tests.
//
// It serves grpc.health.v1 (statuses per service, changeable while running)
// and grpc.channelz.v1, and keeps a little traffic going through client
// channels to itself so that Channelz shows channels, subchannels and
// sockets with non-zero call counts.
//
// It builds offline in GOPATH mode against Debian's golang-google-grpc-dev
// (GO111MODULE=off GOPATH=/usr/share/gocode); see ../setup.sh.
//
// Protocol (shared by the Python, Node and Go peers):
//   - first stdout line: "PORT <n>" (or "UNIX <path>" with --unix);
//   - stdin commands, one per line, each answered by one stdout line:
//     "set SERVICE STATUS" -> "ok" ("" names the empty service; STATUS is
//     UNKNOWN, SERVING, NOT_SERVING or SERVICE_UNKNOWN), anything else ->
//     "error: ...";
//   - the peer exits as soon as stdin closes, so it can never outlive the test.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/channelz/service"
	"google.golang.org/grpc/credentials"
	// Registers the gzip codec: without it a grpc-go server refuses
	// compressed requests (the tools' --gzip).
	_ "google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

// call makes one health Check; failures are the point for unknown services.
func call(conn *grpc.ClientConn, service string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
}

func main() {
	channels := flag.Int("channels", 0, "extra client channels to create (for paging tests)")
	tlsCert := flag.String("tls-cert", "", "PEM server certificate (turns TLS on)")
	tlsKey := flag.String("tls-key", "", "PEM private key of --tls-cert")
	unixPath := flag.String("unix", "", "listen on this unix socket path instead of TCP")
	flag.Parse()
	if *channels < 0 {
		fail("--channels wants a non-negative integer, got %d", *channels)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fail("--tls-cert and --tls-key go together")
	}

	var serverOpts []grpc.ServerOption
	dialOpts := []grpc.DialOption{grpc.WithInsecure()}
	if *tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			fail("cannot load --tls-cert/--tls-key: %v", err)
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewServerTLSFromCert(&pair)))
		pem, err := ioutil.ReadFile(*tlsCert)
		if err != nil {
			fail("cannot read --tls-cert: %v", err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		dialOpts = []grpc.DialOption{grpc.WithTransportCredentials(
			credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "localhost"}))}
	}

	network, address := "tcp", "127.0.0.1:0"
	if *unixPath != "" {
		network, address = "unix", *unixPath
	}
	listener, err := net.Listen(network, address)
	if err != nil {
		fail("cannot listen on %s: %v", address, err)
	}

	server := grpc.NewServer(serverOpts...)
	healthServer := health.NewServer()
	healthServer.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(server, healthServer)
	// Importing channelz/service turns channelz on for the whole process.
	service.RegisterChannelzServiceToServer(server)
	go func() { _ = server.Serve(listener) }()

	target := listener.Addr().String()
	if *unixPath != "" {
		target = "unix:" + *unixPath
	}
	conns := make([]*grpc.ClientConn, 0, 1+*channels)
	for i := 0; i <= *channels; i++ {
		conn, err := grpc.Dial(target, dialOpts...)
		if err != nil {
			fail("cannot create client channel: %v", err)
		}
		conns = append(conns, conn)
		call(conn, "")
	}
	call(conns[0], "")
	call(conns[0], "")
	call(conns[0], "no.such.Service")
	go func() {
		// Periodic calls keep last_call_started_timestamp moving and the
		// sockets alive for the dashboard tests.
		for range time.Tick(time.Second) {
			call(conns[0], "")
		}
	}()

	if *unixPath != "" {
		fmt.Printf("UNIX %s\n", *unixPath)
	} else {
		fmt.Printf("PORT %d\n", listener.Addr().(*net.TCPAddr).Port)
	}

	statuses := healthpb.HealthCheckResponse_ServingStatus_value
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		status, known := int32(0), false
		if len(words) == 3 {
			status, known = statuses[words[2]]
		}
		if len(words) != 3 || words[0] != "set" || !known {
			fmt.Printf("error: expected `set SERVICE STATUS`, got %q\n", line)
			continue
		}
		name := words[1]
		if name == `""` {
			name = ""
		}
		healthServer.SetServingStatus(name, healthpb.HealthCheckResponse_ServingStatus(status))
		fmt.Println("ok")
	}
	// Exit at once: stdin closed means the test is gone.
	os.Exit(0)
}
