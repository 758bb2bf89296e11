package s3report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdcflow/cdcflow/processors/analytics"
	"github.com/cdcflow/cdcflow/sinks/s3put"
	anviews "github.com/cdcflow/cdcflow/views/analytics"
)

// fakeS3 records puts; fail decides whether an attempt fails.
type fakeS3 struct {
	mu       sync.Mutex
	objects  map[string]string
	puts     []string // keys of the successful puts, in order
	attempts map[string]int
	fail     func(key string, attempt int) bool
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string]string{}, attempts: map[string]int{}} }

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	key := aws.ToString(in.Key)
	f.attempts[key]++
	if f.fail != nil && f.fail(key, f.attempts[key]) {
		return nil, errors.New("503 SlowDown")
	}
	if aws.ToString(in.Bucket) != "lake" || aws.ToString(in.ContentType) != "application/json" {
		return nil, fmt.Errorf("bucket %q content type %q", aws.ToString(in.Bucket), aws.ToString(in.ContentType))
	}
	f.objects[key] = string(body)
	f.puts = append(f.puts, key)
	return &s3.PutObjectOutput{}, nil
}

// takePuts returns and forgets the keys put so far, sorted.
func (f *fakeS3) takePuts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.puts
	f.puts = nil
	sort.Strings(p)
	return p
}

func (f *fakeS3) setFail(fail func(key string, attempt int) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

// figures is a reports source over figures the test sets.
type figures struct {
	mu sync.Mutex
	f  *analytics.Figures
}

// setWindow sets a window's figures.
func (t *figures) setWindow(start int64, w analytics.WindowSales) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.f.Windows[start] = w
}

// Snapshot implements anviews.Source.
func (t *figures) Snapshot() (*anviews.Snapshot, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return anviews.SnapshotOf(t.f), nil
}

var (
	w1005 = time.Date(2025, 1, 15, 10, 5, 0, 0, time.UTC).Unix()
	w1010 = time.Date(2025, 1, 15, 10, 10, 0, 0, time.UTC).Unix()
)

func shopTable() *figures {
	f := analytics.NewFigures()
	f.Days["2025-01-15"] = analytics.Sales{Orders: 2, Cents: 1999}
	f.Products[3] = analytics.ProductTotals{Quantity: 1, RevenueCents: 1999, Lines: 1}
	f.Customers[7] = analytics.Sales{Orders: 2, Cents: 1999}
	f.Statuses["pending"] = 2
	f.Windows[w1005] = analytics.WindowSales{Orders: 1, Cents: 999, Items: 1}
	f.Windows[w1010] = analytics.WindowSales{Orders: 1, Cents: 1000}
	return &figures{f: f}
}

// clock is a schedule the test drives: every After call is handed to the
// test, which fires it.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan wait
}

type wait struct {
	d    time.Duration
	fire chan time.Time
}

func newClock(now time.Time) *clock { return &clock{now: now, waits: make(chan wait)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	w := wait{d, make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFlusher(t *testing.T, cl s3put.API, table *figures, leader bool, reg prometheus.Registerer, clk *clock) *Flusher {
	t.Helper()
	opts := Options{Client: cl, Bucket: "lake", Reports: table, Leader: leader, Interval: 5 * time.Minute,
		RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond, BreakerCooldown: 50 * time.Millisecond,
		Registerer: reg, Log: quiet()}
	if clk != nil {
		opts.Now, opts.After = clk.Now, clk.After
	}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func reportKeys(stamp string) []string {
	var keys []string
	for _, n := range []string{"customer_metrics", "daily_sales", "order_status", "product_sales", "summary"} {
		keys = append(keys, "analytics/"+n+"/"+stamp+".json")
	}
	return keys
}

const (
	win1005 = "analytics/windows/date=2025-01-15/1005.json"
	win1010 = "analytics/windows/date=2025-01-15/1010.json"
)

func TestRunStampsIntervalBoundariesAndFlushesOnShutdown(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	clk := newClock(time.Date(2025, 1, 15, 12, 3, 17, 0, time.UTC))
	f := newFlusher(t, s3c, table, true, nil, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	w := <-clk.waits
	if w.d != time.Minute+43*time.Second {
		t.Fatalf("first wait %s, want until 12:05:00", w.d)
	}
	// The timer fires a little late: the stamp is still the boundary.
	clk.set(time.Date(2025, 1, 15, 12, 5, 1, 0, time.UTC))
	w.fire <- clk.Now()
	w = <-clk.waits // the flush is done when Run waits again
	want := append(reportKeys("20250115_120500"), win1005, win1010)
	sort.Strings(want)
	if got := s3c.takePuts(); !slices.Equal(got, want) {
		t.Fatalf("first flush wrote\n%v\nwant\n%v", got, want)
	}
	if w.d != 4*time.Minute+59*time.Second {
		t.Fatalf("second wait %s, want until 12:10:00", w.d)
	}

	var rep struct {
		ReportType  string `json:"report_type"`
		GeneratedAt string `json:"generated_at"`
		Data        map[string]struct {
			TotalAmount json.Number `json:"total_amount"`
			OrderCount  int64       `json:"order_count"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(s3c.objects["analytics/daily_sales/20250115_120500.json"]), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ReportType != "daily_sales" || rep.GeneratedAt != "2025-01-15T12:05:01.000Z" ||
		rep.Data["2025-01-15"].TotalAmount != "19.99" || rep.Data["2025-01-15"].OrderCount != 2 {
		t.Fatalf("daily_sales report %+v", rep)
	}
	if got := s3c.objects[win1005]; got != `{"window_start":"2025-01-15T10:05:00Z","window_end":"2025-01-15T10:10:00Z","orders":1,"revenue":9.99,"items_sold":1}` {
		t.Fatalf("window object %s", got)
	}

	// Shutdown: one more flush, stamped with the time of shutdown; the
	// windows did not change.
	clk.set(time.Date(2025, 1, 15, 12, 7, 42, 0, time.UTC))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := s3c.takePuts(), reportKeys("20250115_120742"); !slices.Equal(got, want) {
		t.Fatalf("shutdown flush wrote\n%v\nwant\n%v", got, want)
	}
}

func TestOnlyTheLeaderWrites(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	reg := prometheus.NewRegistry()
	clk := newClock(time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC))
	f := newFlusher(t, s3c, table, false, reg, clk)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// tick fires the pending wait and returns once the flush it triggers is
	// done, i.e. when Run waits again.
	w := <-clk.waits
	tick := func(at time.Time) {
		clk.set(at)
		w.fire <- at
		w = <-clk.waits
	}
	tick(time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC))
	// Partition 0 goes to another instance: still not the leader.
	f.RebalanceCallback()(goka.Assignment{1: -1, 2: -1})
	tick(time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC))
	// Now this instance owns partition 0.
	f.RebalanceCallback()(goka.Assignment{0: -1, 1: -1})
	if !f.IsLeader() {
		t.Fatal("owner of partition 0 is not the leader")
	}
	tick(time.Date(2025, 1, 15, 12, 15, 0, 0, time.UTC))
	// It loses partition 0 again before shutdown.
	f.SetLeader(false)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := append(reportKeys("20250115_121500"), win1005, win1010)
	sort.Strings(want)
	if got := s3c.takePuts(); !slices.Equal(got, want) {
		t.Fatalf("wrote\n%v\nwant only the 12:15 flush\n%v", got, want)
	}
	if n := counterValue(t, f.metrics.Flushes.WithLabelValues("skipped")); n != 3 {
		t.Fatalf("skipped flushes %v, want 3", n)
	}
	if n := counterValue(t, f.metrics.Objects.WithLabelValues("report")); n != 5 {
		t.Fatalf("reports written %v, want 5", n)
	}
}

func TestWindowsRewrittenOnlyWhenChanged(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	f := newFlusher(t, s3c, table, true, nil, nil)
	ctx := context.Background()
	at := time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC)
	flush := func(f *Flusher) []string {
		t.Helper()
		if err := f.Flush(ctx, at); err != nil {
			t.Fatal(err)
		}
		var windows []string
		for _, k := range s3c.takePuts() {
			if strings.HasPrefix(k, "analytics/windows/") {
				windows = append(windows, k)
			}
		}
		return windows
	}
	if got := flush(f); !slices.Equal(got, []string{win1005, win1010}) {
		t.Fatalf("first flush wrote windows %v, want all", got)
	}
	if got := flush(f); len(got) != 0 {
		t.Fatalf("unchanged windows rewritten: %v", got)
	}
	// A late change alters 10:10; its orders are later all deleted.
	table.setWindow(w1010, analytics.WindowSales{Orders: 1, Cents: 1000, Items: 4})
	if got := flush(f); !slices.Equal(got, []string{win1010}) {
		t.Fatalf("after a change wrote %v, want only 10:10", got)
	}
	table.setWindow(w1010, analytics.WindowSales{})
	if got := flush(f); !slices.Equal(got, []string{win1010}) {
		t.Fatalf("after deletes wrote %v, want 10:10 overwritten", got)
	}
	if got := s3c.objects[win1010]; !strings.Contains(got, `"orders":0,"revenue":0.00,"items_sold":0`) {
		t.Fatalf("emptied window holds %s", got)
	}
	// Regaining leadership: another leader may have written meanwhile.
	f.SetLeader(false)
	f.SetLeader(true)
	if got := flush(f); !slices.Equal(got, []string{win1005, win1010}) {
		t.Fatalf("after regaining leadership wrote %v, want all", got)
	}
	// A restarted instance writes all once.
	if got := flush(newFlusher(t, s3c, table, true, nil, nil)); !slices.Equal(got, []string{win1005, win1010}) {
		t.Fatalf("after a restart wrote %v, want all", got)
	}
}

func TestFailedPutsAreRetried(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	reg := prometheus.NewRegistry()
	f := newFlusher(t, s3c, table, true, reg, nil)
	// Every object fails twice before it is accepted.
	s3c.setFail(func(_ string, attempt int) bool { return attempt <= 2 })
	if err := f.Flush(context.Background(), time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC)); err != nil {
		t.Fatalf("flush with transient failures: %v", err)
	}
	if got := len(s3c.takePuts()); got != 7 {
		t.Fatalf("%d objects written, want 7", got)
	}
	if n := counterValue(t, f.metrics.PutFailures); n != 14 {
		t.Fatalf("put failures %v, want 14", n)
	}
	if ok, detail := f.Health(); !ok {
		t.Fatalf("health after success: %s", detail)
	}
}

func TestOutageGivesUpAtDeadlineAndNextFlushCatchesUp(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	f := newFlusher(t, s3c, table, true, nil, nil)
	// S3 is down for the window objects: the flush keeps retrying until its
	// context ends (Run gives it until the next flush is due).
	s3c.setFail(func(key string, _ int) bool { return strings.Contains(key, "/windows/") })
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the outage has been retried a few times.
		for {
			s3c.mu.Lock()
			n := s3c.attempts[win1005]
			s3c.mu.Unlock()
			if n >= 3 {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := f.Flush(ctx, time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error(), win1005) {
		t.Fatalf("flush during an outage: %v, want an error naming %s", err, win1005)
	}
	if ok, _ := f.Health(); ok {
		t.Fatal("health should report the failed flush")
	}
	if got := s3c.takePuts(); len(got) != 5 {
		t.Fatalf("wrote %v, want the 5 reports", got)
	}
	// S3 is back: the windows that were not written are written now.
	s3c.setFail(nil)
	if err := f.Flush(context.Background(), time.Date(2025, 1, 15, 12, 10, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	want := append(reportKeys("20250115_121000"), win1005, win1010)
	sort.Strings(want)
	if got := s3c.takePuts(); !slices.Equal(got, want) {
		t.Fatalf("after the outage wrote\n%v\nwant\n%v", got, want)
	}
	if ok, detail := f.Health(); !ok {
		t.Fatalf("health after recovery: %s", detail)
	}
}

func TestNotReadyViewIsNotFlushed(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	ready := false
	f, err := New(Options{Client: s3c, Bucket: "lake", Reports: table, Leader: true, Interval: 5 * time.Minute, Ready: func() bool { return ready }, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC)
	if err := f.flushIfLeader(context.Background(), at, "test"); err != nil || len(s3c.takePuts()) != 0 {
		t.Fatalf("flushed a view still recovering: %v", err)
	}
	ready = true
	if err := f.flushIfLeader(context.Background(), at, "test"); err != nil || len(s3c.takePuts()) != 7 {
		t.Fatalf("did not flush a recovered view: %v", err)
	}
}

func TestNewChecksOptions(t *testing.T) {
	for _, o := range []Options{
		{Bucket: "lake", Reports: shopTable()},
		{Client: newFakeS3(), Reports: shopTable()},
		{Client: newFakeS3(), Bucket: "lake"},
		{Client: newFakeS3(), Bucket: "lake", Reports: shopTable(), Interval: -time.Second},
		{Client: newFakeS3(), Bucket: "lake", Reports: shopTable()}, // no interval: FLUSH_INTERVAL's default is internal/config's
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) should fail", o)
		}
	}
}

// Status names what the last successful flush wrote: the five reports and
// the windows that changed, and nothing of an earlier flush.
func TestStatusListsTheLastFlushsObjects(t *testing.T) {
	s3c, table := newFakeS3(), shopTable()
	f := newFlusher(t, s3c, table, true, nil, nil)
	if st := f.Status(); st.LastOK != "" || len(st.Objects) != 0 || !st.Leader {
		t.Fatalf("before any flush: %+v", st)
	}
	at := time.Date(2025, 1, 15, 12, 5, 0, 0, time.UTC)
	for i, wantWindows := range []int{2, 0} {
		if err := f.Flush(context.Background(), at); err != nil {
			t.Fatal(err)
		}
		written := s3c.takePuts()
		st := f.Status()
		if !slices.Equal(slices.Sorted(slices.Values(st.Objects)), written) || len(st.Objects) != 5+wantWindows || st.LastOK == "" || st.Error != "" {
			t.Fatalf("flush %d wrote %v; Status %+v", i+1, written, st)
		}
	}
}
