package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
)

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

func TestStates(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	var changes []string
	b := New(Options{Threshold: 3, Cooldown: time.Minute, Now: clk.Now,
		OnChange: func(from, to State) { changes = append(changes, from.String()+">"+to.String()) }})
	ctx := context.Background()
	fail := func() {
		t.Helper()
		tk, err := b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b.Record(tk, Failure)
	}
	fail()
	fail()
	tk, _ := b.Allow(ctx)
	b.Record(tk, Success) // resets the count
	fail()
	fail()
	if b.State() != Closed {
		t.Fatalf("open after 2 consecutive failures")
	}
	fail()
	if b.State() != Open {
		t.Fatalf("state %s after 3 consecutive failures", b.State())
	}
	if _, err := b.Allow(ctx); !errors.Is(err, ErrOpen) {
		t.Fatalf("allow while open: %v", err)
	}
	if r := b.Remaining(); r != time.Minute {
		t.Fatalf("remaining %v right after opening, want 1m", r)
	}
	clk.Add(59 * time.Second)
	if b.State() != Open || b.Remaining() != time.Second {
		t.Fatalf("state %s, remaining %v one second before the cooldown ends", b.State(), b.Remaining())
	}
	clk.Add(time.Second)
	if b.State() != HalfOpen || b.Remaining() != 0 {
		t.Fatalf("state %s, remaining %v after the cooldown", b.State(), b.Remaining())
	}
	// One probe; the others wait for its outcome.
	probe, err := b.Allow(ctx)
	if err != nil || !probe.Probe() {
		t.Fatalf("probe: %v %v", probe, err)
	}
	waiting := make(chan error, 2)
	for range 2 {
		go func() {
			tk, err := b.Allow(ctx)
			if err == nil && tk.Probe() {
				err = errors.New("a second probe")
			}
			waiting <- err
		}()
	}
	select {
	case err := <-waiting:
		t.Fatalf("a request passed while the probe was in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.Record(probe, Failure)
	for range 2 {
		if err := <-waiting; !errors.Is(err, ErrOpen) {
			t.Fatalf("after a failed probe: %v, want ErrOpen", err)
		}
	}
	if b.State() != Open {
		t.Fatalf("state %s after a failed probe", b.State())
	}
	// A probe without a verdict (its caller gave up) lets another probe go.
	clk.Add(time.Minute)
	probe, _ = b.Allow(ctx)
	b.Record(probe, None)
	if b.State() != HalfOpen {
		t.Fatalf("state %s after an abandoned probe", b.State())
	}
	probe, err = b.Allow(ctx)
	if err != nil || !probe.Probe() {
		t.Fatalf("second probe: %v %v", probe, err)
	}
	// A waiter whose context ends gives up.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Allow(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("allow with a canceled context: %v", err)
	}
	b.Record(probe, Success)
	if b.State() != Closed {
		t.Fatalf("state %s after a successful probe", b.State())
	}
	// The failure count starts afresh.
	fail()
	fail()
	if b.State() != Closed {
		t.Fatal("the failure count survived closing")
	}
	// Requests in flight together that fail together count once.
	tk, _ = b.Allow(ctx)
	b.Record(tk, Success)
	var inFlight []Ticket
	for range 10 {
		tk, err := b.Allow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		inFlight = append(inFlight, tk)
	}
	for _, tk := range inFlight {
		b.Record(tk, Failure)
	}
	if b.State() != Closed {
		t.Fatal("10 requests failing together opened the breaker")
	}
	fail() // sent after the counted failure: counts (2)
	if b.State() != Closed {
		t.Fatal("open after 2 counted failures")
	}
	fail() // 3
	if b.State() != Open {
		t.Fatalf("state %s after 3 counted failures", b.State())
	}
	want := "[closed>open open>half-open half-open>open open>half-open half-open>closed closed>open]"
	if fmt.Sprint(changes) != want {
		t.Errorf("transitions %v, want %s", changes, want)
	}
}

// TestWaitHoldsUntilTheCooldown: Wait sends nothing while the breaker is
// open and returns the probe once the cooldown has passed, on the real
// clock.
func TestWaitHoldsUntilTheCooldown(t *testing.T) {
	const cooldown = 150 * time.Millisecond
	b := New(Options{Threshold: 1, Cooldown: cooldown})
	ctx := context.Background()
	tk, _ := b.Wait(ctx)
	b.Record(tk, Failure)
	if b.State() != Open {
		t.Fatalf("state %s after a failure with threshold 1", b.State())
	}
	start := time.Now()
	tk, err := b.Wait(ctx)
	if err != nil || !tk.Probe() {
		t.Fatalf("Wait: %v %v, want the probe", tk, err)
	}
	if waited := time.Since(start); waited < cooldown-10*time.Millisecond {
		t.Fatalf("Wait returned after %v, before the cooldown of %v", waited, cooldown)
	}
	// A failed probe opens it again; Wait gives up with its context.
	b.Record(tk, Failure)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := b.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with a context shorter than the cooldown: %v", err)
	}
}

func TestHTTPOutcome(t *testing.T) {
	resp := func(status int) error {
		return fmt.Errorf("op: %w", &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err: errors.New("x")})
	}
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{resp(404), Success}, // the endpoint answered
		{resp(403), Success},
		{resp(400), Success},
		{resp(429), Failure},
		{resp(500), Failure},
		{resp(503), Failure},
		{errors.New("dial tcp: connection refused"), Failure},
		{fmt.Errorf("op: %w", context.DeadlineExceeded), Failure},
	} {
		if got := HTTPOutcome(tc.err); got != tc.want {
			t.Errorf("HTTPOutcome(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
