package s3report

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestBreakerBoundsPutsWhileS3Fails: while every put fails, the flusher
// sends BreakerThreshold puts and then one probe per cooldown, instead of
// retrying every few milliseconds; the breaker shows in the metrics and the
// health, and the first flush after S3 is back closes it and writes
// everything.
func TestBreakerBoundsPutsWhileS3Fails(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	const threshold, cooldown, outage = 3, 200 * time.Millisecond, time.Second
	f, err := New(Options{Client: s3c, Bucket: "lake", Table: table, Leader: true, Interval: 5 * time.Minute,
		RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond,
		BreakerThreshold: threshold, BreakerCooldown: cooldown, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	s3c.setFail(func(string, int) bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), outage)
	defer cancel()
	err = f.Flush(ctx, time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC))
	if err == nil {
		t.Fatal("a flush while S3 fails succeeded")
	}
	attempts := 0
	s3c.mu.Lock()
	for _, n := range s3c.attempts {
		attempts += n
	}
	s3c.mu.Unlock()
	// Without the breaker a 1 s outage with backoffs of at most 4 ms is
	// hundreds of attempts; with it, threshold + one per cooldown.
	maxAttempts := threshold + int(outage/cooldown) + 1
	if attempts < threshold+2 || attempts > maxAttempts {
		t.Fatalf("%d PutObject attempts during a %v outage, want %d..%d (threshold %d, a probe per %v)",
			attempts, outage, threshold+2, maxAttempts, threshold, cooldown)
	}
	// Every attempt was of the first report (the flush stops at its
	// deadline); all but the first were retries.
	if got := counterValue(t, f.metrics.Retries); got != float64(attempts-1) {
		t.Errorf("analytics_s3_retries_total = %v, want %d", got, attempts-1)
	}
	if got := counterValue(t, f.metrics.PutFailures); got != float64(attempts) {
		t.Errorf("analytics_s3_put_failures_total = %v, want %d", got, attempts)
	}
	if got := gaugeValue(t, f.metrics.Breaker); got != 2 {
		t.Errorf("analytics_s3_breaker_state = %v after the outage, want 2 (open)", got)
	}
	if ok, detail := f.Health(); ok || !strings.Contains(detail, "circuit breaker") || !strings.Contains(detail, "SlowDown") {
		t.Errorf("Health() = %v, %q; want false naming the breaker and the error", ok, detail)
	}
	t.Logf("%d attempts during a %v outage (threshold %d, cooldown %v): %v", attempts, outage, threshold, cooldown, err)

	// S3 is back: the next flush waits for the probe and writes all.
	s3c.setFail(nil)
	s3c.takePuts()
	start := time.Now()
	if err := f.Flush(context.Background(), time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC)); err != nil {
		t.Fatalf("flush after S3 recovered: %v", err)
	}
	if took := time.Since(start); took > cooldown+500*time.Millisecond {
		t.Errorf("the flush after recovery took %v, more than the cooldown of %v", took, cooldown)
	}
	if got := len(s3c.takePuts()); got != 7 {
		t.Errorf("%d objects written after recovery, want 7", got)
	}
	if got := gaugeValue(t, f.metrics.Breaker); got != 0 {
		t.Errorf("analytics_s3_breaker_state = %v after recovery, want 0 (closed)", got)
	}
	if ok, detail := f.Health(); !ok {
		t.Errorf("Health() after recovery: %s", detail)
	}
}

// TestClientErrorsDoNotOpenTheBreaker: S3 answering (here with 403) is up:
// the put fails and is retried, but the breaker stays closed.
func TestClientErrorsDoNotOpenTheBreaker(t *testing.T) {
	var calls atomic.Int64
	cl := putFunc(func(ctx context.Context) error {
		calls.Add(1)
		return &httpStatusError{403}
	})
	f, err := New(Options{Client: cl, Bucket: "lake", Table: shopTable(), Leader: true,
		RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, BreakerThreshold: 2, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := f.put(ctx, "k", []byte("{}"), "report"); err == nil {
		t.Fatal("put succeeded")
	}
	if n := calls.Load(); n < 10 {
		t.Fatalf("%d attempts in 200ms with 2ms backoffs: the breaker held them back", n)
	}
	if st := f.br.State().String(); st != "closed" {
		t.Fatalf("breaker %s after 403 answers", st)
	}
}

// TestSDKRetriesAreOff: each put is one attempt of the SDK, so that the
// flusher's breaker and metrics see every failure.
func TestSDKRetriesAreOff(t *testing.T) {
	var opts s3.Options
	opts.Retryer = nil
	opts.RetryMaxAttempts = 5
	cl := putFuncOpts(func(fns []func(*s3.Options)) {
		for _, fn := range fns {
			fn(&opts)
		}
	})
	f, err := New(Options{Client: cl, Bucket: "lake", Table: shopTable(), Leader: true, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.put(context.Background(), "k", []byte("{}"), "report"); err != nil {
		t.Fatal(err)
	}
	if _, ok := opts.Retryer.(aws.NopRetryer); !ok || opts.RetryMaxAttempts != 0 {
		t.Fatalf("the put's options have retryer %T and RetryMaxAttempts %d, want aws.NopRetryer and 0", opts.Retryer, opts.RetryMaxAttempts)
	}
}

// TestBackoffFullJitter: the n-th wait is uniform in [0, min(max, base·2^(n-1))].
func TestBackoffFullJitter(t *testing.T) {
	f := &Flusher{opts: Options{RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}}
	for n, ceil := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 4: 80 * time.Millisecond, 5: 100 * time.Millisecond, 40: 100 * time.Millisecond} {
		distinct := map[time.Duration]bool{}
		var top time.Duration
		for range 200 {
			d := f.backoff(n)
			if d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", n, d, ceil)
			}
			distinct[d] = true
			top = max(top, d)
		}
		if len(distinct) < 100 || top < ceil/2 {
			t.Fatalf("backoff(%d): %d distinct values up to %v in 200 draws: not jittered over [0, %v]", n, len(distinct), top, ceil)
		}
	}
}

type putFunc func(ctx context.Context) error

func (p putFunc) PutObject(ctx context.Context, _ *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := p(ctx); err != nil {
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
