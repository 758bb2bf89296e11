package s3report

import (
	"context"
	"strings"
	"testing"
	"time"

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
	f, err := New(Options{Client: s3c, Bucket: "lake", Reports: table, Leader: true, Interval: 5 * time.Minute,
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
