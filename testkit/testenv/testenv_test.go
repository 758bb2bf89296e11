package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recordingTB is a testing.TB whose Fatalf records the message and stops the
// calling goroutine, and whose Cleanup collects functions, so a test can see
// a helper fail without failing itself.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	fatal    string
	cleanups []func()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}

// run calls fn with r on its own goroutine (Fatalf ends it), then runs the
// collected cleanups, last first, and returns the recorded fatal message.
func (r *recordingTB) run(fn func(testing.TB)) string {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return r.fatal
}

func TestKafkaHelper(t *testing.T) {
	k := Kafka(t, "dbserver1.public.products")
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(k.Brokers()...),
		kgo.DefaultProduceTopic("dbserver1.public.products"),
		kgo.ConsumeTopics("dbserver1.public.products"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("1"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce to a seeded topic: %v", err)
	}
	fetches := cl.PollRecords(ctx, 1)
	if errs := fetches.Errors(); len(errs) > 0 {
		t.Fatalf("fetch: %v", errs[0].Err)
	}
	if recs := fetches.Records(); len(recs) != 1 || string(recs[0].Value) != "v" {
		t.Fatalf("consumed %v, want one record v", recs)
	}
}

func TestKafkaHelperClosesOnCleanup(t *testing.T) {
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = Kafka(t).Brokers()[0]
	})
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatalf("broker %s still accepts connections after its test ended", addr)
	}
}

func TestS3Helper(t *testing.T) {
	srv, cl := S3(t, "analytics", "dlq-bucket")
	ctx := context.Background()
	out, err := cl.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets on %s: %v", srv.Endpoint(), err)
	}
	var names []string
	for _, b := range out.Buckets {
		names = append(names, aws.ToString(b.Name))
	}
	slices.Sort(names) // the listing order is not specified
	if strings.Join(names, ",") != "analytics,dlq-bucket" {
		t.Fatalf("buckets %v, want [analytics dlq-bucket]", names)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("analytics"), Key: aws.String("a/b.json"), Body: strings.NewReader("{}")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("analytics"), Key: aws.String("a/b.json")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer got.Body.Close()
	if b, _ := io.ReadAll(got.Body); string(b) != "{}" {
		t.Fatalf("GetObject = %q, want {}", b)
	}
}

func TestS3HelperFailsOnBadBucket(t *testing.T) {
	r := &recordingTB{TB: t}
	msg := r.run(func(tb testing.TB) { S3(tb, "x") })
	if !strings.Contains(msg, `create bucket "x"`) {
		t.Fatalf("S3 with an invalid bucket name: fatal message %q, want one naming the bucket", msg)
	}
	if len(r.cleanups) == 0 {
		t.Fatal("S3 registered no cleanup before failing: the endpoint would leak")
	}
}

func TestS3HelperClosesOnCleanup(t *testing.T) {
	var endpoint string
	t.Run("inner", func(t *testing.T) {
		srv, _ := S3(t)
		endpoint = srv.Endpoint()
	})
	if conn, err := net.Dial("tcp", strings.TrimPrefix(endpoint, "http://")); err == nil {
		conn.Close()
		t.Fatalf("s3 endpoint %s still accepts connections after its test ended", endpoint)
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d", port)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
	}
	ln.Close()
}
