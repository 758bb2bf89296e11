package s3put

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdcflow/cdcflow/sinks/breaker"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func testMetrics() Metrics {
	return Metrics{
		PutFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "put_failures"}),
		Retries:     prometheus.NewCounter(prometheus.CounterOpts{Name: "retries"}),
		Breaker:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "breaker"}),
	}
}

func newPutter(t *testing.T, opts Options) *Putter {
	t.Helper()
	if opts.Bucket == "" {
		opts.Bucket = "lake"
	}
	if opts.Log == nil {
		opts.Log = quiet()
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type putFunc func(ctx context.Context, in *s3.PutObjectInput) error

func (p putFunc) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := p(ctx, in); err != nil {
		return nil, err
	}
	return &s3.PutObjectOutput{}, nil
}

type putFuncOpts func([]func(*s3.Options))

func (p putFuncOpts) PutObject(_ context.Context, _ *s3.PutObjectInput, fns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	p(fns)
	return &s3.PutObjectOutput{}, nil
}

// httpStatusError is an error carrying an HTTP status, as the SDK's
// response errors do.
type httpStatusError struct{ status int }

func (e *httpStatusError) Error() string       { return "status " + http.StatusText(e.status) }
func (e *httpStatusError) HTTPStatusCode() int { return e.status }

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{Bucket: "lake"}); err == nil {
		t.Error("New without a client succeeded")
	}
	if _, err := New(Options{Client: putFunc(nil)}); err == nil {
		t.Error("New without a bucket succeeded")
	}
	p := newPutter(t, Options{Client: putFunc(nil)})
	if p.opts.Bucket != "lake" || p.opts.RetryBase != DefaultRetryBase || p.opts.RetryMax != DefaultRetryMax ||
		p.opts.BreakerThreshold != DefaultBreakerThreshold || p.opts.BreakerCooldown != DefaultBreakerCooldown ||
		p.opts.ContentType != DefaultContentType || p.opts.Name != DefaultName || p.opts.AttemptTimeout != 0 {
		t.Errorf("defaults not applied: %+v", p.opts)
	}
}

// TestPutWritesTheObject: one attempt with the bucket, key, body and
// content type; the status is healthy after it.
func TestPutWritesTheObject(t *testing.T) {
	var got *s3.PutObjectInput
	var body []byte
	m := testMetrics()
	p := newPutter(t, Options{Client: putFunc(func(_ context.Context, in *s3.PutObjectInput) error {
		got = in
		body, _ = io.ReadAll(in.Body)
		return nil
	}), Metrics: m})
	if err := p.Put(context.Background(), "a/b.json", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Bucket) != "lake" || aws.ToString(got.Key) != "a/b.json" || string(body) != `{"x":1}` ||
		aws.ToString(got.ContentType) != "application/json" {
		t.Errorf("put bucket %q key %q body %q content type %q", aws.ToString(got.Bucket), aws.ToString(got.Key), body, aws.ToString(got.ContentType))
	}
	if st := p.Status(); st.Breaker != breaker.Closed || st.LastErr != nil || !st.FailingSince.IsZero() {
		t.Errorf("status %+v after a successful put", st)
	}
	if counterValue(t, m.Retries) != 0 || counterValue(t, m.PutFailures) != 0 {
		t.Error("a first successful attempt counted as a retry or failure")
	}
}

// TestRetriesUntilSuccess: failed attempts are counted and retried; the
// status names the error while it lasts and clears on success.
func TestRetriesUntilSuccess(t *testing.T) {
	var calls atomic.Int64
	m := testMetrics()
	var p *Putter
	var during Status
	p = newPutter(t, Options{Client: putFunc(func(context.Context, *s3.PutObjectInput) error {
		switch calls.Add(1) {
		case 1, 2:
			return errors.New("503 SlowDown")
		case 3:
			during = p.Status()
		}
		return nil
	}), RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, Metrics: m})
	if err := p.Put(context.Background(), "k", nil); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
	if during.LastErr == nil || !strings.Contains(during.LastErr.Error(), "SlowDown") || during.FailingSince.IsZero() {
		t.Errorf("status %+v during the failures", during)
	}
	if got := counterValue(t, m.Retries); got != 2 {
		t.Errorf("retries %v, want 2", got)
	}
	if got := counterValue(t, m.PutFailures); got != 2 {
		t.Errorf("put failures %v, want 2", got)
	}
	if st := p.Status(); st.LastErr != nil || !st.FailingSince.IsZero() {
		t.Errorf("status %+v after the success", st)
	}
}

// TestClientErrorsDoNotOpenTheBreaker: S3 answering (here with 403) is up:
// the put fails and is retried, but the breaker stays closed.
func TestClientErrorsDoNotOpenTheBreaker(t *testing.T) {
	var calls atomic.Int64
	cl := putFunc(func(context.Context, *s3.PutObjectInput) error {
		calls.Add(1)
		return &httpStatusError{403}
	})
	p := newPutter(t, Options{Client: cl, RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, BreakerThreshold: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := p.Put(ctx, "k", []byte("{}"))
	if err == nil {
		t.Fatal("put succeeded")
	}
	if n := calls.Load(); n < 10 {
		t.Fatalf("%d attempts in 200ms with 2ms backoffs: the breaker held them back", n)
	}
	if st := p.Status().Breaker.String(); st != "closed" {
		t.Fatalf("breaker %s after 403 answers", st)
	}
	// The error names the object and wraps both the deadline and the
	// latest attempt's error.
	var he *httpStatusError
	if !strings.Contains(err.Error(), "s3://lake/k") || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &he) {
		t.Errorf("error %v: want it to name s3://lake/k and wrap the deadline and the 403", err)
	}
}

// TestBreakerOpensAndHoldsPuts: server errors open the breaker after the
// threshold; while open, puts wait and send nothing, the gauge says open,
// and a put whose context ends meanwhile names the breaker.
func TestBreakerOpensAndHoldsPuts(t *testing.T) {
	var calls atomic.Int64
	m := testMetrics()
	p := newPutter(t, Options{Client: putFunc(func(context.Context, *s3.PutObjectInput) error {
		calls.Add(1)
		return &httpStatusError{503}
	}), RetryBase: time.Millisecond, RetryMax: time.Millisecond, BreakerThreshold: 2, BreakerCooldown: time.Hour, Metrics: m})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.Put(ctx, "k", nil)
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d attempts, want 2 (the threshold), then none while open", n)
	}
	if p.Status().Breaker != breaker.Open || gaugeValue(t, m.Breaker) != 2 {
		t.Fatalf("breaker %s, gauge %v; want open, 2", p.Status().Breaker, gaugeValue(t, m.Breaker))
	}
	if err == nil || !strings.Contains(err.Error(), "circuit breaker open") || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Errorf("error %v: want it to name the open breaker and 2 attempts", err)
	}
	if st := p.Status(); st.Breaker != breaker.Open || st.LastErr == nil {
		t.Errorf("status %+v while open", st)
	}
}

// TestEndedContextSendsNothing: a put whose context has ended makes no
// attempt.
func TestEndedContextSendsNothing(t *testing.T) {
	var calls atomic.Int64
	p := newPutter(t, Options{Client: putFunc(func(context.Context, *s3.PutObjectInput) error {
		calls.Add(1)
		return nil
	})})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Put(ctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with an ended context: %v, want context.Canceled", err)
	}
	if calls.Load() != 0 {
		t.Fatal("a put with an ended context was sent")
	}
}

// TestAttemptTimeout: AttemptTimeout bounds each attempt, which is then
// retried.
func TestAttemptTimeout(t *testing.T) {
	var mu sync.Mutex
	var deadlines []time.Duration
	var calls atomic.Int64
	p := newPutter(t, Options{Client: putFunc(func(ctx context.Context, _ *s3.PutObjectInput) error {
		d, ok := ctx.Deadline()
		mu.Lock()
		if ok {
			deadlines = append(deadlines, time.Until(d))
		}
		mu.Unlock()
		if calls.Add(1) == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}), AttemptTimeout: 20 * time.Millisecond, RetryBase: time.Millisecond, RetryMax: time.Millisecond})
	if err := p.Put(context.Background(), "k", nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls.Load() != 2 || len(deadlines) != 2 || deadlines[0] > 20*time.Millisecond || deadlines[1] > 20*time.Millisecond {
		t.Fatalf("%d attempts with deadlines %v; want 2, each within 20ms", calls.Load(), deadlines)
	}
}

// TestSDKRetriesAreOff: each put is one attempt of the SDK, so that the
// Putter's breaker and metrics see every failure.
func TestSDKRetriesAreOff(t *testing.T) {
	var opts s3.Options
	opts.Retryer = nil
	opts.RetryMaxAttempts = 5
	cl := putFuncOpts(func(fns []func(*s3.Options)) {
		for _, fn := range fns {
			fn(&opts)
		}
	})
	p := newPutter(t, Options{Client: cl})
	if err := p.Put(context.Background(), "k", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, ok := opts.Retryer.(aws.NopRetryer); !ok || opts.RetryMaxAttempts != 0 {
		t.Fatalf("the put's options have retryer %T and RetryMaxAttempts %d, want aws.NopRetryer and 0", opts.Retryer, opts.RetryMaxAttempts)
	}
}

// TestConsumerMetrics: the Python services' consumer_s3_* series count
// written objects, failed attempts by class and every attempt's duration,
// and add the failures to consumer_errors_total{error_type="s3"}; two
// Putters of one service and bucket share them.
func TestConsumerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	var calls atomic.Int64
	cl := putFunc(func(context.Context, *s3.PutObjectInput) error {
		if calls.Add(1) == 1 {
			return errors.New("connection refused")
		}
		return nil
	})
	opts := Options{Client: cl, RetryBase: time.Millisecond, RetryMax: time.Millisecond, Service: "svc", Registerer: reg}
	a, b := newPutter(t, opts), newPutter(t, opts)
	for _, p := range []*Putter{a, b} {
		if err := p.Put(context.Background(), "k", nil); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range mfs {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	for key, want := range map[string]float64{
		"consumer_s3_writes_total,bucket=lake,service=svc":                     2,
		"consumer_s3_errors_total,bucket=lake,error_type=unknown,service=svc":  1,
		"consumer_s3_errors_total,bucket=lake,error_type=throttle,service=svc": 0,
		"consumer_s3_write_duration_seconds,bucket=lake,service=svc":           3,
		"consumer_errors_total,error_type=s3,service=svc":                      1,
	} {
		if v, ok := got[key]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
		}
	}
}
