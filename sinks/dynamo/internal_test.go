package dynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func testWriter(t *testing.T, opts Options) *Writer {
	t.Helper()
	if opts.Table == "" {
		opts.Table = "t"
	}
	w, err := newWriter(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func it(key string, rev uint64, id int, del bool, tag string) Item {
	k := map[string]types.AttributeValue{"id": &types.AttributeValueMemberN{Value: strconv.Itoa(id)}}
	i := Item{Key: key, Rev: rev, Delete: del, KeyAttrs: k}
	if !del {
		i.Attrs = map[string]types.AttributeValue{"id": k["id"], "tag": &types.AttributeValueMemberS{Value: tag}}
	}
	return i
}

func describe(es []entry) []string {
	var out []string
	for _, e := range es {
		if e.wr.DeleteRequest != nil {
			out = append(out, e.key+":delete")
		} else {
			out = append(out, e.key+":"+e.wr.PutRequest.Item["tag"].(*types.AttributeValueMemberS).Value)
		}
	}
	return out
}

func TestPrepareCoalesces(t *testing.T) {
	w := testWriter(t, Options{})
	in := []Item{
		it("a", 2, 1, false, "a2"),
		it("b", 1, 2, false, "b1"),
		it("a", 3, 1, false, "a3"),
		it("a", 1, 1, false, "a1"), // older: loses
		it("b", 1, 2, true, ""),    // equal rev, later: wins
		it("c", 5, 3, false, "c5"),
		it("c", 5, 3, false, "c5b"), // equal rev, later: wins
		it("d", 1, 4, false, "d1"),
		it("e", 2, 4, false, "e2"), // another Key, same DynamoDB key as d: higher rev wins
		it("f", 2, 5, false, "f2"),
		it("g", 1, 5, false, "g1"), // same DynamoDB key as f, lower rev: loses
	}
	got, errs := w.prepare(in)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := []string{"a:a3", "b:delete", "c:c5b", "e:e2", "f:f2"}
	if fmt.Sprint(describe(got)) != fmt.Sprint(want) {
		t.Errorf("prepared %v, want %v", describe(got), want)
	}
}

func TestPrepareDerivesKeysOfPutsWithoutKeyAttrs(t *testing.T) {
	w := testWriter(t, Options{})
	noKeyAttrs := it("x", 9, 1, false, "x9")
	noKeyAttrs.KeyAttrs = nil
	got, _ := w.prepare([]Item{it("a", 1, 1, false, "a1"), noKeyAttrs})
	if fmt.Sprint(describe(got)) != "[x:x9]" {
		t.Errorf("prepared %v, want [x:x9]", describe(got))
	}
}

func TestPrepareLeavesOneRequestPerKey(t *testing.T) {
	w := testWriter(t, Options{MaxBatch: 7})
	var in []Item
	for i := range 500 {
		id := i % 60
		in = append(in, it(strconv.Itoa(id), uint64(i), id, i%3 == 0, "t"))
	}
	es, _ := w.prepare(in)
	if len(es) != 60 {
		t.Fatalf("%d entries, want 60", len(es))
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.key] {
			t.Fatalf("key %s twice", e.key)
		}
		seen[e.key] = true
	}
}

func TestBackoffFullJitter(t *testing.T) {
	w := testWriter(t, Options{BaseBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond})
	for n, limit := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 4: 80 * time.Millisecond, 5: 80 * time.Millisecond, 100: 80 * time.Millisecond} {
		var hi time.Duration
		for range 2000 {
			d := w.backoff(n)
			if d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %v, outside [0, %v]", n, d, limit)
			}
			hi = max(hi, d)
		}
		// Full jitter spreads over the whole range (2000 draws: the chance
		// that none lands in the top half is 2^-2000).
		if hi <= limit/2 {
			t.Errorf("backoff(%d): max of 2000 draws %v, want above %v", n, hi, limit/2)
		}
	}
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestBreakerStates(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	var changes []string
	b := newBreaker(3, time.Minute, clk.Now, func(from, to breakerState) { changes = append(changes, from.String()+">"+to.String()) })
	ctx := context.Background()
	fail := func() {
		tk, err := b.allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.record(tk, outcomeFailure)
	}
	fail()
	fail()
	tk, _ := b.allow(ctx)
	b.record(tk, outcomeSuccess) // resets the count
	fail()
	fail()
	if b.current() != stateClosed {
		t.Fatalf("open after 2 consecutive failures")
	}
	fail()
	if b.current() != stateOpen {
		t.Fatalf("state %s after 3 consecutive failures", b.current())
	}
	if _, err := b.allow(ctx); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("allow while open: %v", err)
	}
	clk.Add(59 * time.Second)
	if b.current() != stateOpen {
		t.Fatal("half-open before the cooldown")
	}
	clk.Add(time.Second)
	if b.current() != stateHalfOpen {
		t.Fatalf("state %s after the cooldown", b.current())
	}
	// One probe; the others wait for its outcome.
	probe, err := b.allow(ctx)
	if err != nil || !probe.probe {
		t.Fatalf("probe: %v %v", probe, err)
	}
	waiting := make(chan error, 2)
	for range 2 {
		go func() {
			tk, err := b.allow(ctx)
			if err == nil && tk.probe {
				err = errors.New("a second probe")
			}
			waiting <- err
		}()
	}
	select {
	case err := <-waiting:
		t.Fatalf("a request passed while the probe was in flight: %v", err)
	case <-time.After(50 * time.Millisecond): // (no false pass: a failure would show here)
	}
	b.record(probe, outcomeFailure)
	for range 2 {
		if err := <-waiting; !errors.Is(err, ErrBreakerOpen) {
			t.Fatalf("after a failed probe: %v, want ErrBreakerOpen", err)
		}
	}
	if b.current() != stateOpen {
		t.Fatalf("state %s after a failed probe", b.current())
	}
	// A probe without a verdict (its caller gave up) lets another probe go.
	clk.Add(time.Minute)
	probe, _ = b.allow(ctx)
	b.record(probe, outcomeNone)
	if b.current() != stateHalfOpen {
		t.Fatalf("state %s after an abandoned probe", b.current())
	}
	probe, err = b.allow(ctx)
	if err != nil || !probe.probe {
		t.Fatalf("second probe: %v %v", probe, err)
	}
	// A waiter whose context ends gives up.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.allow(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("allow with a canceled context: %v", err)
	}
	b.record(probe, outcomeSuccess)
	if b.current() != stateClosed {
		t.Fatalf("state %s after a successful probe", b.current())
	}
	// The failure count starts afresh.
	fail()
	fail()
	if b.current() != stateClosed {
		t.Fatal("the failure count survived closing")
	}
	// Requests in flight together that fail together count once.
	tk, _ = b.allow(ctx)
	b.record(tk, outcomeSuccess)
	var inFlight []ticket
	for range 10 {
		tk, err := b.allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inFlight = append(inFlight, tk)
	}
	for _, tk := range inFlight {
		b.record(tk, outcomeFailure)
	}
	if b.current() != stateClosed {
		t.Fatal("10 requests failing together opened the breaker")
	}
	fail() // sent after the counted failure: counts (2)
	if b.current() != stateClosed {
		t.Fatal("open after 2 counted failures")
	}
	fail() // 3
	if b.current() != stateOpen {
		t.Fatalf("state %s after 3 counted failures", b.current())
	}
	want := "[closed>open open>half-open half-open>open open>half-open half-open>closed closed>open]"
	if fmt.Sprint(changes) != want {
		t.Errorf("transitions %v, want %s", changes, want)
	}
}

func TestClassify(t *testing.T) {
	resp := func(status int, err error) error {
		return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "BatchWriteItem",
			Err: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
	}
	api := func(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }
	for _, tc := range []struct {
		err       error
		class     string
		retryable bool
	}{
		{resp(400, &types.ProvisionedThroughputExceededException{}), classThrottle, true},
		{resp(400, api("ThrottlingException")), classThrottle, true},
		{resp(400, api("RequestLimitExceeded")), classThrottle, true},
		{resp(500, &types.InternalServerError{}), classServer, true},
		{resp(503, api("ServiceUnavailable")), classServer, true},
		{resp(502, errors.New("bad gateway")), classServer, true},
		{resp(429, errors.New("slow down")), classThrottle, true},
		{resp(400, api("ValidationException")), classValidation, false},
		{resp(400, &types.ResourceNotFoundException{}), classClient, false},
		{resp(403, api("AccessDeniedException")), classClient, false},
		{&smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}}, classConnection, true},
		{fmt.Errorf("op: %w", context.DeadlineExceeded), classTimeout, true},
		{errors.New("something odd"), classUnknown, true},
	} {
		class, retry := classify(tc.err)
		if class != tc.class || retry != tc.retryable {
			t.Errorf("classify(%v) = %s %v, want %s %v", tc.err, class, retry, tc.class, tc.retryable)
		}
	}
}
