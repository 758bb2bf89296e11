package dlq

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestBreakerBoundsPutsWhileS3Fails: with S3 failing, the four writers
// together send BreakerThreshold rounds of puts and then one probe per
// cooldown, instead of each retrying every few milliseconds; the breaker
// shows in the metrics and the health; once S3 is back the next probe
// closes it and every dead letter is archived and committed.
func TestBreakerBoundsPutsWhileS3Fails(t *testing.T) {
	const threshold, cooldown, outage, records = 3, 200 * time.Millisecond, time.Second, 8
	fs := newFakeS3()
	fs.setFailing(true)
	reg := prometheus.NewRegistry()
	a := newTestArchiver(t, fs, reg, func(o *Options) {
		o.BreakerThreshold, o.BreakerCooldown = threshold, cooldown
	})
	runArchiver(t, a)
	ctxs := make([]*fakeCtx, records)
	for i := range ctxs {
		ctxs[i] = newFakeCtx(context.Background(), int64(i))
		a.consume(ctxs[i], []byte("poison"))
	}
	time.Sleep(outage)
	// Hold the fake still so that attempts and metrics are read at one
	// moment: a put that arrives now waits before it is recorded, and one
	// recorded before has counted its failure once the metric catches up.
	release := fs.hold()
	attempts := len(fs.failures)
	failures := metricValue(t, reg, "dlq_s3_put_failures_total")
	for deadline := time.Now().Add(5 * time.Second); int(failures) < attempts && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		failures = metricValue(t, reg, "dlq_s3_put_failures_total")
	}
	retries := metricValue(t, reg, "dlq_s3_retries_total")
	release()
	// Each counted failure needs a request sent after the previous one was
	// counted, so at most Workers requests per counted failure before the
	// breaker opens, then one probe per cooldown. Without the breaker: four
	// writers retrying every ≤5 ms, hundreds.
	maxAttempts := a.opts.Workers*threshold + int(outage/cooldown) + 1
	if attempts < threshold || attempts > maxAttempts {
		t.Fatalf("%d PutObject attempts during a %v outage, want %d..%d (threshold %d, a probe per %v)",
			attempts, outage, threshold, maxAttempts, threshold, cooldown)
	}
	// Every attempt but each record's first is a retry; not every record
	// has had its first attempt (writers wait on the breaker), and a retry
	// is counted just before it is sent, so up to Workers retries held at
	// the fake are counted but not yet recorded.
	w := float64(a.opts.Workers)
	if int(failures) != attempts || retries < float64(attempts)-w || retries > float64(attempts)+w {
		t.Errorf("dlq_s3_put_failures_total = %v, dlq_s3_retries_total = %v after %d failed attempts", failures, retries, attempts)
	}
	if v := metricValue(t, reg, "dlq_s3_breaker_state"); v != 2 {
		t.Errorf("dlq_s3_breaker_state = %v during the outage, want 2 (open)", v)
	}
	if ok, detail := a.Health(); ok || !strings.Contains(detail, "circuit breaker") {
		t.Errorf("Health() = %v, %q during the outage; want false naming the breaker", ok, detail)
	}
	t.Logf("%d attempts for %d dead letters during a %v outage (threshold %d, cooldown %v)", attempts, records, outage, threshold, cooldown)

	fs.setFailing(false)
	for i, c := range ctxs {
		if err := c.waitCommit(t); err != nil {
			t.Fatalf("record %d: commit with %v after S3 recovered", i, err)
		}
	}
	if got := len(fs.keys()); got != records {
		t.Errorf("%d objects after recovery, want %d", got, records)
	}
	if v := metricValue(t, reg, "dlq_s3_breaker_state"); v != 0 {
		t.Errorf("dlq_s3_breaker_state = %v after recovery, want 0 (closed)", v)
	}
	if ok, detail := a.Health(); !ok {
		t.Errorf("Health() after recovery: %s", detail)
	}
}
