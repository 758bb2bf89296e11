package dlq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/deadletter"
)

// fakeS3 is an in-memory s3put.API. While failing is set every put fails;
// each failure is also sent (without blocking) to failures.
type fakeS3 struct {
	mu       sync.Mutex
	objects  map[string][]byte // bucket/key → body
	puts     map[string]int    // bucket/key → successful puts
	failing  bool
	failures chan error
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string][]byte{}, puts: map[string]int{}, failures: make(chan error, 1000)}
}

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, fmt.Errorf("fake s3: read body: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		err := errors.New("fake s3: service unavailable")
		select {
		case f.failures <- err:
		default:
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	f.objects[k] = body
	f.puts[k]++
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) setFailing(v bool) {
	f.mu.Lock()
	f.failing = v
	f.mu.Unlock()
}

// hold stops the fake from taking puts (each waits before it is seen)
// until the returned release is called.
func (f *fakeS3) hold() (release func()) {
	f.mu.Lock()
	return f.mu.Unlock
}

// keys returns the stored object names, sorted.
func (f *fakeS3) keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.objects))
	for k := range f.objects {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (f *fakeS3) object(k string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[k]
	return b, ok
}

// waitFailures waits for n failed puts.
func (f *fakeS3) waitFailures(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for range n {
		select {
		case <-f.failures:
		case <-timeout:
			t.Fatalf("fewer than %d failed puts within 30s", n)
		}
	}
}

// gokaContext lets fakeCtx embed goka.Context under a name that does not
// collide with its Context method.
type gokaContext = goka.Context

// fakeCtx is the part of goka.Context the archiver's callback uses.
type fakeCtx struct {
	gokaContext // nil: other methods panic
	pctx        context.Context
	topic       string
	partition   int32
	offset      int64
	ts          time.Time
	key         string
	headers     goka.Headers
	commits     chan error // receives the argument of the deferred commit
}

func (c *fakeCtx) Topic() goka.Stream       { return goka.Stream(c.topic) }
func (c *fakeCtx) Partition() int32         { return c.partition }
func (c *fakeCtx) Offset() int64            { return c.offset }
func (c *fakeCtx) Timestamp() time.Time     { return c.ts }
func (c *fakeCtx) Key() string              { return c.key }
func (c *fakeCtx) Headers() goka.Headers    { return c.headers }
func (c *fakeCtx) Context() context.Context { return c.pctx }
func (c *fakeCtx) Fail(err error)           { panic(err) }
func (c *fakeCtx) DeferCommit() func(error) {
	var once sync.Once
	return func(err error) { once.Do(func() { c.commits <- err }) }
}

func newFakeCtx(ctx context.Context, offset int64) *fakeCtx {
	return &fakeCtx{
		pctx: ctx, topic: "inventory-service-dlq", partition: 0, offset: offset,
		ts: time.Date(2025, 1, 15, 12, 30, 45, 0, time.UTC), key: `{"id":1}`,
		headers: goka.Headers{
			deadletter.HeaderError: []byte("decode: bad"), deadletter.HeaderSourceTopic: []byte("dbserver1.public.products"),
			deadletter.HeaderSourcePartition: []byte("2"), deadletter.HeaderSourceOffset: []byte(fmt.Sprint(100 + offset)),
			deadletter.HeaderService: []byte("inventory-service"),
		},
		commits: make(chan error, 1),
	}
}

// waitCommit returns what the record's deferred commit was called with.
func (c *fakeCtx) waitCommit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.commits:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("record at offset %d: deferred commit not called within 30s", c.offset)
		return nil
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// metricValue returns the value of the counter or gauge name in reg.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		if len(mf.GetMetric()) != 1 {
			t.Fatalf("%s has %d series, want 1", name, len(mf.GetMetric()))
		}
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
