package dlq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/testkit/gokatest"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/deadletter"
	"github.com/cdcflow/cdcflow/sinks/s3put"
)

const (
	testBucket  = "dlq-archive"
	testService = "inventory-service"
	testDLQ     = "inventory-service-dlq"
)

func newTestArchiver(t *testing.T, s3 s3put.API, reg prometheus.Registerer, mod func(*Options)) *Archiver {
	t.Helper()
	opts := Options{
		Client: s3, Bucket: testBucket, Service: testService,
		Group: "inventory-service-group-dlq-s3", Topic: testDLQ,
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond, BreakerCooldown: 50 * time.Millisecond,
		Registerer: reg, Log: discardLog(),
	}
	if mod != nil {
		mod(&opts)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// runArchiver runs a's writers until the test ends and checks they stop
// cleanly.
func runArchiver(t *testing.T, a *Archiver) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// runTesterProcessor runs a's graph on Goka's tester until the test ends.
func runTesterProcessor(t *testing.T, a *Archiver) *tester.Tester {
	t.Helper()
	tt := tester.New(t)
	proc := gokatest.NewProcessor(t, tt, a.Graph())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- proc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor: %v", err)
		}
	})
	return tt
}

func dlqHeaders(errMsg, topic, partition, offset string) goka.Headers {
	return goka.Headers{
		deadletter.HeaderError: []byte(errMsg), deadletter.HeaderSourceTopic: []byte(topic),
		deadletter.HeaderSourcePartition: []byte(partition), deadletter.HeaderSourceOffset: []byte(offset),
		deadletter.HeaderService: []byte(testService),
	}
}

func decodeDoc(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("object is not a JSON object: %v: %s", err, b)
	}
	return m
}

// TestArchivesThroughGoka feeds dead letters with headers to the archiver's
// group graph on Goka's tester. The tester's Consume returns only once the
// record is committed, and the archiver commits only after the put, so the
// objects must be there when Consume returns.
func TestArchivesThroughGoka(t *testing.T) {
	fs := newFakeS3()
	reg := prometheus.NewRegistry()
	a := newTestArchiver(t, fs, reg, nil)
	runArchiver(t, a)
	tt := runTesterProcessor(t, a)

	tt.Consume(testDLQ, `{"id":7}`, []byte(`{"after":{"id":7,"price":"x"}}`),
		tester.WithHeaders(dlqHeaders("decode: price: not a number", "dbserver1.public.products", "1", "42")))
	tt.Consume(testDLQ, "k", []byte{0xff, 0xfe, 'x'},
		tester.WithHeaders(dlqHeaders("decode: not JSON", "dbserver1.public.order_items", "0", "9")))

	// The tester gives records no timestamp: the stamp is of the zero time.
	k1 := testBucket + "/dlq/inventory-service/dbserver1.public.products/00010101_000000_p1_o42.json"
	k2 := testBucket + "/dlq/inventory-service/dbserver1.public.order_items/00010101_000000_p0_o9.json"
	if got := fs.keys(); len(got) != 2 || got[0] != k2 || got[1] != k1 {
		t.Fatalf("objects %q, want %q and %q", got, k1, k2)
	}
	b, _ := fs.object(k1)
	d := decodeDoc(t, b)
	want := map[string]any{
		"topic": "dbserver1.public.products", "message": `{"after":{"id":7,"price":"x"}}`,
		"error": "decode: price: not a number", "timestamp": "0001-01-01T00:00:00.000Z",
		"service": testService, "key": `{"id":7}`, "source_partition": 1.0, "source_offset": 42.0,
		"dlq_topic": testDLQ, "dlq_partition": 0.0, "dlq_offset": 0.0,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s: %q = %#v, want %#v", k1, k, d[k], v)
		}
	}
	if _, ok := d["message_encoding"]; ok {
		t.Errorf("%s: message_encoding set for a UTF-8 message", k1)
	}

	b, _ = fs.object(k2)
	d = decodeDoc(t, b)
	if d["message_encoding"] != "base64" || d["message"] != base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe, 'x'}) {
		t.Errorf("%s: binary message stored as %#v (encoding %#v), want base64", k2, d["message"], d["message_encoding"])
	}
	if d["error"] != "decode: not JSON" || d["topic"] != "dbserver1.public.order_items" {
		t.Errorf("%s: error %#v, topic %#v", k2, d["error"], d["topic"])
	}

	if v := metricValue(t, reg, "dlq_s3_archived_total"); v != 2 {
		t.Errorf("dlq_s3_archived_total = %v, want 2", v)
	}
	if v := metricValue(t, reg, "dlq_s3_pending"); v != 0 {
		t.Errorf("dlq_s3_pending = %v, want 0", v)
	}
	if ok, detail := a.Health(); !ok {
		t.Errorf("Health() = false, %q after successful puts", detail)
	}
}

// TestRetriesWhileS3Fails: a dead letter is neither committed nor dropped
// while S3 refuses it, and is archived and committed once S3 accepts it.
func TestRetriesWhileS3Fails(t *testing.T) {
	fs := newFakeS3()
	fs.setFailing(true)
	reg := prometheus.NewRegistry()
	a := newTestArchiver(t, fs, reg, nil)
	runArchiver(t, a)
	tt := runTesterProcessor(t, a)

	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		tt.Consume(testDLQ, "k", []byte("v"), tester.WithHeaders(dlqHeaders("boom", "dbserver1.public.orders", "0", "5")))
	}()
	fs.waitFailures(t, 3)

	select {
	case <-consumed:
		t.Fatal("the record was committed although S3 refused every put")
	default:
	}
	if got := fs.keys(); len(got) != 0 {
		t.Fatalf("objects %q while S3 fails", got)
	}
	if ok, detail := a.Health(); ok || !strings.Contains(detail, "service unavailable") {
		t.Errorf("Health() = %v, %q while S3 fails; want false naming the error", ok, detail)
	}
	if v := metricValue(t, reg, "dlq_s3_pending"); v != 1 {
		t.Errorf("dlq_s3_pending = %v while S3 fails, want 1", v)
	}

	fs.setFailing(false)
	select {
	case <-consumed:
	case <-time.After(30 * time.Second):
		t.Fatal("the record was not committed within 30s after S3 recovered")
	}
	if got := fs.keys(); len(got) != 1 || got[0] != testBucket+"/dlq/inventory-service/dbserver1.public.orders/00010101_000000_p0_o5.json" {
		t.Fatalf("objects %q after recovery", got)
	}
	if v := metricValue(t, reg, "dlq_s3_put_failures_total"); v < 3 {
		t.Errorf("dlq_s3_put_failures_total = %v, want at least 3", v)
	}
	if ok, detail := a.Health(); !ok {
		t.Errorf("Health() = false, %q after S3 recovered", detail)
	}
}

// TestShutdownReleasesUncommitted: when Run stops while S3 fails, the record
// is released with an error wrapping ErrStopped (Goka then leaves it
// uncommitted), and records arriving later are released at once.
func TestShutdownReleasesUncommitted(t *testing.T) {
	fs := newFakeS3()
	fs.setFailing(true)
	reg := prometheus.NewRegistry()
	a := newTestArchiver(t, fs, reg, func(o *Options) { o.DrainTimeout = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	c := newFakeCtx(context.Background(), 0)
	a.consume(c, []byte("v"))
	fs.waitFailures(t, 1)
	cancel()
	if err := c.waitCommit(t); !errors.Is(err, ErrStopped) {
		t.Fatalf("commit called with %v, want an error wrapping ErrStopped", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	late := newFakeCtx(context.Background(), 1)
	a.consume(late, []byte("v"))
	if err := late.waitCommit(t); !errors.Is(err, ErrStopped) {
		t.Fatalf("record after stop: commit called with %v, want ErrStopped", err)
	}
	if got := fs.keys(); len(got) != 0 {
		t.Fatalf("objects %q although S3 refused every put", got)
	}
	if v := metricValue(t, reg, "dlq_s3_released_uncommitted_total"); v != 2 {
		t.Errorf("dlq_s3_released_uncommitted_total = %v, want 2", v)
	}
	if v := metricValue(t, reg, "dlq_s3_pending"); v != 0 {
		t.Errorf("dlq_s3_pending = %v, want 0", v)
	}
	if err := a.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

// TestPartitionStopDrainsHandedOver: records handed over before their
// partition stopped are still archived and committed within the drain
// window, even when the writers start only afterwards.
func TestPartitionStopDrainsHandedOver(t *testing.T) {
	fs := newFakeS3()
	a := newTestArchiver(t, fs, nil, func(o *Options) { o.DrainTimeout = time.Hour })
	pctx, stopPartition := context.WithCancel(context.Background())
	c1, c2 := newFakeCtx(pctx, 0), newFakeCtx(pctx, 1)
	a.consume(c1, []byte("a"))
	a.consume(c2, []byte("b"))
	stopPartition()
	runArchiver(t, a)
	for _, c := range []*fakeCtx{c1, c2} {
		if err := c.waitCommit(t); err != nil {
			t.Fatalf("offset %d: commit called with %v, want nil", c.offset, err)
		}
	}
	if got := fs.keys(); len(got) != 2 {
		t.Fatalf("objects %q, want 2", got)
	}
}

// TestPartitionStopReleasesWhileS3Fails: a partition that stops while S3
// fails gets its record back uncommitted after the drain window, although
// Run goes on.
func TestPartitionStopReleasesWhileS3Fails(t *testing.T) {
	fs := newFakeS3()
	fs.setFailing(true)
	a := newTestArchiver(t, fs, nil, func(o *Options) { o.DrainTimeout = 20 * time.Millisecond })
	runArchiver(t, a)
	pctx, stopPartition := context.WithCancel(context.Background())
	c := newFakeCtx(pctx, 0)
	a.consume(c, []byte("v"))
	fs.waitFailures(t, 1)
	stopPartition()
	if err := c.waitCommit(t); !errors.Is(err, ErrStopped) {
		t.Fatalf("commit called with %v, want ErrStopped", err)
	}
}

// TestBackPressure: with MaxPending records handed over and no writer, the
// next callback waits, and gives its record back uncommitted when its
// partition stops.
func TestBackPressure(t *testing.T) {
	fs := newFakeS3()
	reg := prometheus.NewRegistry()
	a := newTestArchiver(t, fs, reg, func(o *Options) { o.MaxPending = 1 })
	first := newFakeCtx(context.Background(), 0)
	a.consume(first, []byte("a")) // queued

	pctx, stopPartition := context.WithCancel(context.Background())
	second := newFakeCtx(pctx, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		a.consume(second, []byte("b"))
	}()
	select {
	case <-returned:
		t.Fatal("the callback returned although the queue was full")
	case err := <-second.commits:
		t.Fatalf("the second record was committed (%v) with no writer running", err)
	default:
	}
	stopPartition()
	<-returned
	if err := second.waitCommit(t); !errors.Is(err, ErrStopped) {
		t.Fatalf("second record: commit called with %v, want ErrStopped", err)
	}
	runArchiver(t, a)
	if err := first.waitCommit(t); err != nil {
		t.Fatalf("first record: commit called with %v, want nil", err)
	}
	if v := metricValue(t, reg, "dlq_s3_pending"); v != 0 {
		t.Errorf("dlq_s3_pending = %v, want 0", v)
	}
}

func TestNewValidates(t *testing.T) {
	fs := newFakeS3()
	base := Options{Client: fs, Bucket: "b", Service: "s", Group: "g", Topic: "t"}
	for name, mod := range map[string]func(*Options){
		"client":   func(o *Options) { o.Client = nil },
		"bucket":   func(o *Options) { o.Bucket = "" },
		"service":  func(o *Options) { o.Service = "" },
		"group":    func(o *Options) { o.Group = "" },
		"topic":    func(o *Options) { o.Topic = "" },
		"negative": func(o *Options) { o.DrainTimeout = -time.Second },
	} {
		o := base
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("New without a valid %s succeeded", name)
		}
	}
	reg := prometheus.NewRegistry()
	o := base
	o.Registerer = reg
	if _, err := New(o); err != nil {
		t.Fatal(err)
	}
	if _, err := New(o); err == nil {
		t.Error("a second archiver of the same service registered its metrics on the same registry")
	}
	o.Service = "other"
	if _, err := New(o); err != nil {
		t.Errorf("archivers of two services on one registry: %v", err)
	}
}
