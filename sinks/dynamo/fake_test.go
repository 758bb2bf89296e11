package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/dynamo"
)

// fake is a DynamoDB endpoint answering BatchWriteItem by a script. It
// rejects, as DynamoDB does, a batch naming one item twice.
type fake struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	calls  int
	sizes  []int                      // items per call
	stored map[string]json.RawMessage // product_id -> the last write request applied
	// answer decides the response to call n (1-based) carrying reqs; ok
	// means apply the requests not listed in unprocessed.
	answer func(n int, reqs []json.RawMessage) (status int, body string, unprocessed []json.RawMessage)
}

const fakeTable = "fake"

func newFake(t testing.TB, answer func(n int, reqs []json.RawMessage) (int, string, []json.RawMessage)) *fake {
	f := &fake{t: t, stored: map[string]json.RawMessage{}, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

type writeRequest struct {
	PutRequest *struct {
		Item map[string]map[string]string `json:"Item"`
	} `json:"PutRequest"`
	DeleteRequest *struct {
		Key map[string]map[string]string `json:"Key"`
	} `json:"DeleteRequest"`
}

func (wr writeRequest) id() string {
	if wr.PutRequest != nil {
		return wr.PutRequest.Item["product_id"]["N"]
	}
	return wr.DeleteRequest.Key["product_id"]["N"]
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	if got := r.Header.Get("X-Amz-Target"); got != "DynamoDB_20120810.BatchWriteItem" {
		http.Error(w, "unexpected target "+got, http.StatusBadRequest)
		return
	}
	var in struct {
		RequestItems map[string][]json.RawMessage `json:"RequestItems"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reqs := in.RequestItems[fakeTable]
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.sizes = append(f.sizes, len(reqs))
	f.mu.Unlock()
	if len(in.RequestItems) != 1 || len(reqs) == 0 || len(reqs) > 25 {
		apiError(w, 400, "ValidationException", fmt.Sprintf("bad batch: %d tables, %d requests", len(in.RequestItems), len(reqs)))
		return
	}
	seen := map[string]bool{}
	for _, raw := range reqs {
		var wr writeRequest
		if err := json.Unmarshal(raw, &wr); err != nil {
			apiError(w, 400, "SerializationException", err.Error())
			return
		}
		if seen[wr.id()] {
			apiError(w, 400, "ValidationException", "Provided list of item keys contains duplicates")
			return
		}
		seen[wr.id()] = true
	}
	status, body, unprocessed := 200, "", []json.RawMessage(nil)
	if f.answer != nil {
		status, body, unprocessed = f.answer(n, reqs)
	}
	if status != 200 {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(status)
		io.WriteString(w, body)
		return
	}
	skip := map[string]bool{}
	for _, u := range unprocessed {
		skip[string(u)] = true
	}
	f.mu.Lock()
	for _, raw := range reqs {
		if !skip[string(raw)] {
			var wr writeRequest
			_ = json.Unmarshal(raw, &wr)
			f.stored[wr.id()] = raw
		}
	}
	f.mu.Unlock()
	out := map[string]any{"UnprocessedItems": map[string]any{}}
	if len(unprocessed) > 0 {
		out["UnprocessedItems"] = map[string]any{fakeTable: unprocessed}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	json.NewEncoder(w).Encode(out)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, code, msg)
}

func errorBody(code string) string {
	return fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":"injected"}`, code)
}

func (f *fake) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func endpointClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
		BaseEndpoint: aws.String(endpoint),
	})
}

// fastOpts are options with short backoffs, so retry tests run quickly.
func fastOpts(reg prometheus.Registerer) dynamo.Options {
	return dynamo.Options{Table: fakeTable, BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Registerer: reg}
}

func items(ids ...int) []dynamo.Item {
	var out []dynamo.Item
	for _, id := range ids {
		out = append(out, productItem(id, 1, false))
	}
	return out
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func (f *fake) checkStored(t *testing.T, ids []int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.stored) != len(ids) {
		t.Errorf("fake holds %d items, want %d", len(f.stored), len(ids))
	}
	for _, id := range ids {
		if _, ok := f.stored[fmt.Sprint(id)]; !ok {
			t.Errorf("item %d not written", id)
		}
	}
}

func TestRetriesUnprocessedItems(t *testing.T) {
	// The first two calls leave all but one item unprocessed.
	f := newFake(t, func(n int, reqs []json.RawMessage) (int, string, []json.RawMessage) {
		if n <= 2 {
			return 200, "", reqs[1:]
		}
		return 200, "", nil
	})
	reg := prometheus.NewRegistry()
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), fastOpts(reg))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), items(1, 2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if got := f.callCount(); got != 3 {
		t.Errorf("%d calls, want 3 (5 items, then 4 unprocessed, then 3)", got)
	}
	if got := fmt.Sprint(f.sizes); got != "[5 4 3]" {
		t.Errorf("batch sizes %s, want [5 4 3]", got)
	}
	f.checkStored(t, []int{1, 2, 3, 4, 5})
	if got := metricValue(t, reg, "dynamodb_writer_unprocessed_items_total"); got != 7 {
		t.Errorf("unprocessed items metric %v, want 7", got)
	}
	if got := metricValue(t, reg, "dynamodb_writer_items_written_total", "kind", "put"); got != 5 {
		t.Errorf("items written metric %v, want 5", got)
	}
}

func TestRetriesThrottlingAndServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		class  string
	}{
		{"throttling", 400, "ThrottlingException", "throttle"},
		{"provisioned-throughput", 400, "ProvisionedThroughputExceededException", "throttle"},
		{"internal-error", 500, "InternalServerError", "server"},
		{"unavailable", 503, "ServiceUnavailable", "server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const failing = 3 // fewer than the breaker's threshold of 5
			f := newFake(t, func(n int, _ []json.RawMessage) (int, string, []json.RawMessage) {
				if n <= failing {
					return tc.status, errorBody(tc.code), nil
				}
				return 200, "", nil
			})
			reg := prometheus.NewRegistry()
			opts := fastOpts(reg)
			opts.Concurrency = 1
			w, err := dynamo.NewWriter(endpointClient(f.srv.URL), opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(context.Background(), items(seq(30)...)); err != nil {
				t.Fatal(err)
			}
			// Two batches (25 + 5); the first is tried 4 times.
			if got := f.callCount(); got != failing+2 {
				t.Errorf("%d calls, want %d", got, failing+2)
			}
			f.checkStored(t, seq(30))
			if got := metricValue(t, reg, "dynamodb_writer_errors_total", "class", tc.class); got != failing {
				t.Errorf("errors{class=%s} = %v, want %d", tc.class, got, failing)
			}
			if got := metricValue(t, reg, "dynamodb_writer_retries_total"); got != failing {
				t.Errorf("retries = %v, want %d", got, failing)
			}
			if w.State() != "closed" {
				t.Errorf("breaker %s", w.State())
			}
		})
	}
}

func TestRetriesExhausted(t *testing.T) {
	f := newFake(t, func(int, []json.RawMessage) (int, string, []json.RawMessage) {
		return 400, errorBody("ThrottlingException"), nil
	})
	opts := fastOpts(nil)
	opts.MaxRetries, opts.BreakerThreshold = 2, 100
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(context.Background(), items(1))
	if !errors.Is(err, dynamo.ErrRetriesExhausted) {
		t.Fatalf("error %v, want ErrRetriesExhausted", err)
	}
	if !strings.Contains(err.Error(), fakeTable) || !strings.Contains(err.Error(), `"p-1"`) {
		t.Errorf("error %q does not name the table and key", err)
	}
	if got := f.callCount(); got != 3 {
		t.Errorf("%d calls, want 3 (1 + MaxRetries)", got)
	}
}

// TestValidationErrorNamesTheItem: DynamoDB rejects a whole batch for one
// bad item; the writer finds the item, reports it and writes the rest.
func TestValidationErrorNamesTheItem(t *testing.T) {
	f := newFake(t, func(_ int, reqs []json.RawMessage) (int, string, []json.RawMessage) {
		for _, r := range reqs {
			var wr writeRequest
			_ = json.Unmarshal(r, &wr)
			if wr.id() == "13" {
				return 400, errorBody("ValidationException"), nil
			}
		}
		return 200, "", nil
	})
	reg := prometheus.NewRegistry()
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), fastOpts(reg))
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(context.Background(), items(seq(40)...))
	if !errors.Is(err, dynamo.ErrInvalidItem) {
		t.Fatalf("error %v, want ErrInvalidItem", err)
	}
	if !strings.Contains(err.Error(), fakeTable) || !strings.Contains(err.Error(), `"p-13"`) || strings.Contains(err.Error(), `"p-12"`) {
		t.Errorf("error %q should name table %s and key p-13 only", err, fakeTable)
	}
	var rest []int
	for _, id := range seq(40) {
		if id != 13 {
			rest = append(rest, id)
		}
	}
	f.checkStored(t, rest)
	if got := metricValue(t, reg, "dynamodb_writer_retries_total"); got != 0 {
		t.Errorf("a validation error was retried %v times", got)
	}
	if w.State() != "closed" {
		t.Errorf("validation errors moved the breaker to %s", w.State())
	}
}

func TestMalformedItemsRejectedBeforeSending(t *testing.T) {
	f := newFake(t, nil)
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), fastOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	noKey := productItem(2, 1, false)
	noKey.Key = ""
	delNoKey := productItem(3, 1, true)
	delNoKey.KeyAttrs = nil
	mismatch := productItem(4, 1, false)
	mismatch.KeyAttrs = map[string]types.AttributeValue{"product_id": num(5)}
	err = w.Write(context.Background(), []dynamo.Item{productItem(1, 1, false), noKey, delNoKey, mismatch})
	if !errors.Is(err, dynamo.ErrInvalidItem) {
		t.Fatalf("error %v, want ErrInvalidItem", err)
	}
	for _, want := range []string{`""`, `"p-3"`, `"p-4"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	f.checkStored(t, []int{1})
}

// dropping is an endpoint that accepts connections and closes them at once,
// counting them; when healthy it forwards to a fake instead.
type dropping struct {
	mu      sync.Mutex
	calls   int
	healthy bool
	inner   *fake
	srv     *httptest.Server
}

func newDropping(t *testing.T) *dropping {
	d := &dropping{inner: newFake(t, nil)}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.calls++
		healthy := d.healthy
		d.mu.Unlock()
		if healthy {
			d.inner.serve(w, r)
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(d.srv.Close)
	return d
}

func (d *dropping) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls
}

func (d *dropping) setHealthy(h bool) {
	d.mu.Lock()
	d.healthy = h
	d.mu.Unlock()
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestBreaker(t *testing.T) {
	d := newDropping(t)
	reg := prometheus.NewRegistry()
	opts := fastOpts(reg)
	opts.Concurrency, opts.BreakerThreshold, opts.BreakerCooldown, opts.MaxRetries = 1, 3, time.Minute, -1
	w, err := dynamo.NewWriter(endpointClient(d.srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	dynamo.SetClock(w, clk.Now)
	ctx := context.Background()

	// Three failed requests open the breaker.
	err = w.Write(ctx, items(1))
	if !errors.Is(err, dynamo.ErrBreakerOpen) {
		t.Fatalf("error %v, want ErrBreakerOpen", err)
	}
	if got := d.count(); got != 3 {
		t.Errorf("%d calls before the breaker opened, want 3", got)
	}
	if w.State() != "open" || w.Healthy() {
		t.Errorf("state %s healthy %v, want open and unhealthy", w.State(), w.Healthy())
	}
	if got := metricValue(t, reg, "dynamodb_writer_breaker_state"); got != 2 {
		t.Errorf("breaker gauge %v, want 2", got)
	}
	if got := metricValue(t, reg, "dynamodb_writer_errors_total", "class", "connection"); got != 3 {
		t.Errorf("connection errors %v, want 3", got)
	}

	// While open, Write sends nothing.
	clk.Add(59 * time.Second)
	err = w.Write(ctx, items(seq(100)...))
	if !errors.Is(err, dynamo.ErrBreakerOpen) {
		t.Fatalf("error %v, want ErrBreakerOpen", err)
	}
	if got := d.count(); got != 3 {
		t.Errorf("%d calls, want none while open", got)
	}

	// After the cooldown one probe goes out; it fails and reopens the breaker.
	clk.Add(time.Second)
	if w.State() != "half-open" || w.Healthy() {
		t.Errorf("state %s healthy %v after the cooldown, want half-open and unhealthy", w.State(), w.Healthy())
	}
	if got := metricValue(t, reg, "dynamodb_writer_breaker_state"); got != 1 {
		t.Errorf("breaker gauge %v, want 1", got)
	}
	err = w.Write(ctx, items(seq(100)...))
	if !errors.Is(err, dynamo.ErrBreakerOpen) {
		t.Fatalf("error %v, want ErrBreakerOpen", err)
	}
	if got := d.count() - 3; got != 1 {
		t.Errorf("%d calls while half-open, want exactly 1 probe", got)
	}
	if w.State() != "open" {
		t.Errorf("state %s after a failed probe, want open", w.State())
	}

	// DynamoDB recovers: the next probe closes the breaker and the Write
	// (several requests) completes.
	d.setHealthy(true)
	clk.Add(time.Minute)
	if err := w.Write(ctx, items(seq(100)...)); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	if w.State() != "closed" || !w.Healthy() {
		t.Errorf("state %s after a successful probe, want closed", w.State())
	}
	if got := metricValue(t, reg, "dynamodb_writer_breaker_state"); got != 0 {
		t.Errorf("breaker gauge %v, want 0", got)
	}
	d.inner.checkStored(t, seq(100))
}

// TestBreakerHalfOpenSendsOneProbe: with many requests ready in parallel,
// the half-open breaker lets one through and holds the others until it
// succeeds.
func TestBreakerHalfOpenSendsOneProbe(t *testing.T) {
	d := newDropping(t)
	var mu sync.Mutex
	inFlight, maxInFlight, calls := 0, 0, 0
	var armed, probeSeen bool
	gate := make(chan struct{})
	d.inner.answer = func(int, []json.RawMessage) (int, string, []json.RawMessage) { return 200, "", nil }
	opts := fastOpts(nil)
	opts.Concurrency, opts.BreakerThreshold, opts.BreakerCooldown, opts.MaxRetries = 8, 1, time.Minute, -1
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		first := armed && !probeSeen
		probeSeen = probeSeen || armed
		mu.Unlock()
		if first {
			<-gate // hold the probe until the others had every chance to pass
		}
		d.srv.Config.Handler.ServeHTTP(rw, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w, err := dynamo.NewWriter(endpointClient(srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	dynamo.SetClock(w, clk.Now)
	// Open the breaker: one failure is enough (threshold 1).
	if err := w.Write(context.Background(), items(1)); !errors.Is(err, dynamo.ErrBreakerOpen) {
		t.Fatalf("error %v, want ErrBreakerOpen", err)
	}
	mu.Lock()
	armed, calls, maxInFlight = true, 0, 0
	mu.Unlock()
	d.setHealthy(true)
	clk.Add(time.Minute)
	done := make(chan error, 1)
	go func() { done <- w.Write(context.Background(), items(seq(200)...)) }()
	// Wait until the probe has arrived, give the other workers time to
	// (wrongly) send, then release the probe.
	for {
		mu.Lock()
		seen := probeSeen
		mu.Unlock()
		if seen {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	early := calls
	mu.Unlock()
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if early != 1 {
		t.Errorf("%d requests sent while the probe was in flight, want only the probe", early)
	}
	if w.State() != "closed" {
		t.Errorf("state %s", w.State())
	}
	d.inner.checkStored(t, seq(200))
	t.Logf("%d requests, at most %d in flight", calls, maxInFlight)
}

// TestBreakerDeadEndpoint: nothing listens; the breaker opens after the
// threshold and Write fails fast with ErrBreakerOpen.
func TestBreakerDeadEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	opts := fastOpts(nil)
	opts.Concurrency, opts.MaxRetries, opts.BreakerCooldown = 8, -1, time.Hour
	w, err := dynamo.NewWriter(endpointClient("http://"+addr), opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err = w.Write(context.Background(), items(seq(500)...))
		if !errors.Is(err, dynamo.ErrBreakerOpen) {
			t.Fatalf("write %d: error %v, want ErrBreakerOpen", i, err)
		}
		if !strings.Contains(err.Error(), fakeTable) {
			t.Errorf("error %q does not name the table", err)
		}
	}
	if w.State() != "open" {
		t.Errorf("state %s, want open", w.State())
	}
}

func TestRequestTimeoutIsRetried(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, nil)
	var mu sync.Mutex
	n := 0
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first { // hang until the client gives up
			io.Copy(io.Discard, r.Body) // (the server notices a disconnect only once the body is read)
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		f.serve(w, r)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) }) // before slow.Close
	reg := prometheus.NewRegistry()
	opts := fastOpts(reg)
	opts.RequestTimeout = 100 * time.Millisecond
	w, err := dynamo.NewWriter(endpointClient(slow.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), items(1, 2)); err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, []int{1, 2})
	if got := metricValue(t, reg, "dynamodb_writer_errors_total", "class", "timeout"); got != 1 {
		t.Errorf("timeouts %v, want 1", got)
	}
}

func TestWriteStopsWhenContextEnds(t *testing.T) {
	f := newFake(t, func(int, []json.RawMessage) (int, string, []json.RawMessage) {
		return 400, errorBody("ThrottlingException"), nil
	})
	opts := fastOpts(nil)
	opts.MaxRetries, opts.BreakerThreshold = -1, 1<<30
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err = w.Write(ctx, items(seq(60)...))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	if w.State() != "closed" {
		t.Errorf("state %s", w.State())
	}
}

func TestNewWriterOptions(t *testing.T) {
	c := endpointClient("http://127.0.0.1:1")
	if _, err := dynamo.NewWriter(c, dynamo.Options{}); err == nil {
		t.Error("no table accepted")
	}
	if _, err := dynamo.NewWriter(c, dynamo.Options{Table: "t", MaxBatch: 26}); err == nil {
		t.Error("MaxBatch 26 accepted")
	}
	if _, err := dynamo.NewWriter(nil, dynamo.Options{Table: "t"}); err == nil {
		t.Error("nil client accepted")
	}
	reg := prometheus.NewRegistry()
	if _, err := dynamo.NewWriter(c, dynamo.Options{Table: "t", Name: "a", Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := dynamo.NewWriter(c, dynamo.Options{Table: "t", Name: "b", Registerer: reg}); err != nil {
		t.Errorf("second writer with another name: %v", err)
	}
	if _, err := dynamo.NewWriter(c, dynamo.Options{Table: "t", Name: "a", Registerer: reg}); err == nil {
		t.Error("two writers with one name registered on one registry")
	}
	// The failed registration left nothing behind: a writer named "c" works.
	if _, err := dynamo.NewWriter(c, dynamo.Options{Table: "t", Name: "c", Registerer: reg}); err != nil {
		t.Errorf("writer c: %v", err)
	}
}

// TestRejectedItemsAreSummarized: when DynamoDB rejects every item (a table
// with another key schema), the error names a few and counts the rest.
func TestRejectedItemsAreSummarized(t *testing.T) {
	f := newFake(t, func(int, []json.RawMessage) (int, string, []json.RawMessage) {
		return 400, errorBody("ValidationException"), nil
	})
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), fastOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(context.Background(), items(seq(100)...))
	if !errors.Is(err, dynamo.ErrInvalidItem) {
		t.Fatalf("error %v, want ErrInvalidItem", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 11 {
		t.Errorf("error has %d lines, want 10 items and a count:\n%v", n, err)
	}
	if !strings.Contains(err.Error(), "90 more items") {
		t.Errorf("error does not count the rest: %v", err)
	}
	// 4 batches of 25, each split down to single items: 49 requests each.
	if got := f.callCount(); got != 4*49 {
		t.Errorf("%d calls, want %d", got, 4*49)
	}
}

// TestConsumerMetrics: the Python services' consumer_dynamodb_* series
// count the items written, the failed requests by error_type and every
// request's duration, labelled service (the Writer's Name) and table, and
// add the failures to consumer_errors_total{error_type="dynamodb"}.
func TestConsumerMetrics(t *testing.T) {
	f := newFake(t, func(n int, reqs []json.RawMessage) (int, string, []json.RawMessage) {
		if n == 1 {
			return 500, "InternalServerError", nil
		}
		return 200, "", nil
	})
	reg := prometheus.NewRegistry()
	opts := fastOpts(reg)
	opts.Name = "svc"
	w, err := dynamo.NewWriter(endpointClient(f.srv.URL), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), items(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"consumer_dynamodb_writes_total", []string{"service", "svc", "table", fakeTable}, 3},
		{"consumer_dynamodb_errors_total", []string{"service", "svc", "table", fakeTable, "error_type", "server"}, 1},
		{"consumer_dynamodb_errors_total", []string{"service", "svc", "table", fakeTable, "error_type", "throttle"}, 0},
		{"consumer_errors_total", []string{"service", "svc", "error_type", "dynamodb"}, 1},
	} {
		if got := metricValue(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "consumer_dynamodb_write_duration_seconds" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 2 {
				t.Errorf("consumer_dynamodb_write_duration_seconds counted %d requests, want 2", n)
			}
			return
		}
	}
	t.Error("no consumer_dynamodb_write_duration_seconds")
}
