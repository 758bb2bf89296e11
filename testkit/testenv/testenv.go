// Package testenv gives tests of any package in-process infrastructure: a
// Kafka-protocol broker and an S3 endpoint from package embedded, started
// for one test and closed when it ends. It is meant for _test.go files only.
package testenv

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cdcflow/cdcflow/tools/embedded"
)

// Region is the AWS region the S3 client returned by S3 is configured with.
const Region = "us-east-1"

// logger returns the logger the embedded servers use in tests: warnings and
// errors to stderr. (t.Log is not used because the servers' goroutines may
// still log after the test has finished, which t.Log does not allow.)
func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Kafka starts an in-process Kafka-protocol broker on a free port of
// 127.0.0.1 with the given topics (embedded.DefaultPartitions partitions
// each), closes it when the test ends and fails the test if it cannot start.
// Clients use k.Brokers(); Sarama and Goka must set their protocol version to
// embedded.SaramaVersion().
func Kafka(t testing.TB, topics ...string) *embedded.Kafka {
	t.Helper()
	k, err := embedded.StartKafka(embedded.KafkaOptions{Topics: topics, Logger: logger()})
	if err != nil {
		t.Fatalf("testenv: start embedded kafka with topics %v: %v", topics, err)
	}
	t.Cleanup(k.Close)
	return k
}

// S3 starts an in-memory S3 endpoint on a free port of 127.0.0.1, creates
// the given buckets, and returns it with a client for it (region Region,
// dummy credentials, path-style). The endpoint is closed when the test ends;
// the test fails if anything cannot be set up.
func S3(t testing.TB, buckets ...string) (*embedded.S3, *s3.Client) {
	t.Helper()
	srv, err := embedded.StartS3(embedded.S3Options{Logger: logger()})
	if err != nil {
		t.Fatalf("testenv: start embedded s3: %v", err)
	}
	t.Cleanup(srv.Close)
	ctx := context.Background()
	for _, b := range buckets {
		if err := srv.CreateBucket(ctx, b); err != nil {
			t.Fatalf("testenv: create bucket %q on %s: %v", b, srv.Endpoint(), err)
		}
	}
	cl, err := embedded.NewS3Client(ctx, srv.Endpoint(), Region)
	if err != nil {
		t.Fatalf("testenv: s3 client for %s: %v", srv.Endpoint(), err)
	}
	return srv, cl
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; prefer port 0 where the
// server allows it.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("testenv: release port %d: %v", port, err)
	}
	return port
}
