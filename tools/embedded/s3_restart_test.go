package embedded

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestS3StopRestart: Stop refuses connections on the endpoint's port, and
// Restart serves the same objects again on the same port, in memory and
// with a directory backend; the client made before works throughout.
func TestS3StopRestart(t *testing.T) {
	for name, dir := range map[string]string{"memory": "", "dir": filepath.Join(t.TempDir(), "s3")} {
		t.Run(name, func(t *testing.T) {
			srv, cl := startS3(t, S3Options{Dir: dir})
			ctx := context.Background()
			if err := srv.CreateBucket(ctx, "lake"); err != nil {
				t.Fatal(err)
			}
			putObject(t, cl, "lake", "a.json", `{"a":1}`)
			endpoint := srv.Endpoint()

			if err := srv.Stop(); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if err := srv.Stop(); err != nil {
				t.Fatalf("second stop: %v", err)
			}
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(endpoint, "http://"), time.Second)
			if err == nil {
				conn.Close()
				t.Fatal("the port accepts connections while stopped")
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("dial while stopped: %v, want connection refused", err)
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = cl.PutObject(pctx, &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("b.json"),
				Body: strings.NewReader("{}")}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
			cancel()
			if err == nil {
				t.Fatal("PutObject succeeded while stopped")
			}

			if err := srv.Restart(); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if err := srv.Restart(); err != nil {
				t.Fatalf("second restart: %v", err)
			}
			if srv.Endpoint() != endpoint {
				t.Fatalf("endpoint %s after restart, was %s", srv.Endpoint(), endpoint)
			}
			if got := getObject(t, cl, "lake", "a.json"); got != `{"a":1}` {
				t.Fatalf("object after restart: %q", got)
			}
			putObject(t, cl, "lake", "b.json", `{"b":2}`)
			if got := getObject(t, cl, "lake", "b.json"); got != `{"b":2}` {
				t.Fatalf("object written after restart: %q", got)
			}

			// Close works after Stop, and nothing restarts after Close.
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			srv.Close()
			srv.Close()
			if err := srv.Restart(); err == nil {
				t.Fatal("Restart after Close succeeded")
			}
		})
	}
}
