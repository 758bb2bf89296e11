// Package breaker is the circuit breaker of the sinks (DynamoDB, S3): it
// stops a sink from sending while its endpoint keeps failing, and lets one
// probe through now and then to find out when the endpoint is back.
//
// Closed, a Breaker lets every request through and opens after Threshold
// consecutive failures; open, it rejects requests (ErrOpen) until Cooldown
// has passed; then, half-open, it lets exactly one probe through, holding
// the other requests until the probe's outcome closes it (success) or opens
// it again (failure).
//
// Requests in flight together that fail together count as one failure: a
// failure counts only when no other failure was counted since its request
// was sent. One event that breaks all pooled connections at once (a server
// closing them, a network blip) thus counts once, however high the
// concurrency, while a dead endpoint, whose every retry fails, opens the
// breaker after Threshold rounds of retries.
package breaker

import (
	"context"
	"errors"
	"sync"
	"time"
)

// State is a circuit breaker's state.
type State int

// The states, in the order of their gauge values.
const (
	Closed   State = iota // requests pass
	HalfOpen              // one probe passes, the others wait for its outcome
	Open                  // requests are rejected until the cooldown has passed
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	default:
		return "open"
	}
}

// Gauge is the state's metric value: 0 closed, 1 half-open, 2 open.
func (s State) Gauge() float64 { return float64(s) }

// Outcome is what a request tells the breaker about its endpoint.
type Outcome int

const (
	Success Outcome = iota // the endpoint answered (whatever it thought of the request)
	Failure                // a retryable failure: the endpoint is unwell or unreachable
	None                   // no verdict (the caller gave up)
)

// ErrOpen is returned by Allow while the breaker is open, and to the
// requests held behind a probe that failed.
var ErrOpen = errors.New("circuit breaker open")

// Ticket is a permission to send one request; pass it back to Record.
type Ticket struct {
	probe bool
	epoch uint64 // the breaker's epoch when the request was allowed
}

// Probe reports whether the ticket is the half-open breaker's probe.
func (t Ticket) Probe() bool { return t.probe }

// Options configures New.
type Options struct {
	// Threshold is the number of consecutive counted failures that opens
	// the breaker; at least 1.
	Threshold int
	// Cooldown is how long the breaker stays open before it lets one probe
	// through.
	Cooldown time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnChange, when set, is called on every state change, with the
	// breaker's lock held: it must not call the breaker.
	OnChange func(from, to State)
}

// Breaker is a circuit breaker; it is safe for concurrent use.
type Breaker struct {
	threshold int
	cooldown  time.Duration
	onChange  func(from, to State)

	mu        sync.Mutex
	now       func() time.Time
	state     State
	failures  int
	epoch     uint64 // advanced by every counted failure and state change
	openedAt  time.Time
	probing   bool
	probeDone chan struct{} // closed when the probe in flight reports
}

// New returns a closed breaker.
func New(opts Options) *Breaker {
	if opts.Threshold < 1 {
		opts.Threshold = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Breaker{threshold: opts.Threshold, cooldown: opts.Cooldown, now: opts.Now, onChange: opts.OnChange}
}

// SetClock replaces the breaker's clock; tests use it to step over the
// cooldown.
func (b *Breaker) SetClock(now func() time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = now
}

func (b *Breaker) set(to State) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	b.epoch++
	if to == Open {
		b.openedAt = b.now()
	}
	if to == Closed {
		b.failures = 0
	}
	if b.onChange != nil {
		b.onChange(from, to)
	}
}

// advance moves an open breaker whose cooldown has passed to half-open.
func (b *Breaker) advance() {
	if b.state == Open && b.now().Sub(b.openedAt) >= b.cooldown {
		b.set(HalfOpen)
	}
}

// State is the state now.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	return b.state
}

// Remaining is how long an open breaker still rejects requests before it
// lets a probe through; 0 when it is not open.
func (b *Breaker) Remaining() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	if b.state != Open {
		return 0
	}
	return max(0, b.cooldown-b.now().Sub(b.openedAt))
}

// Allow asks to send a request. It fails with ErrOpen while open and waits
// while half-open with a probe in flight (failing with ErrOpen if the probe
// fails, or with ctx's cause when ctx ends first).
func (b *Breaker) Allow(ctx context.Context) (Ticket, error) {
	for {
		b.mu.Lock()
		b.advance()
		switch {
		case b.state == Closed:
			t := Ticket{epoch: b.epoch}
			b.mu.Unlock()
			return t, nil
		case b.state == Open:
			b.mu.Unlock()
			return Ticket{}, ErrOpen
		case !b.probing:
			b.probing = true
			b.probeDone = make(chan struct{})
			b.mu.Unlock()
			return Ticket{probe: true}, nil
		}
		done := b.probeDone
		b.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return Ticket{}, context.Cause(ctx)
		}
	}
}

// Wait is Allow for callers that would rather wait than be rejected: while
// the breaker is open it sleeps until the cooldown has passed and asks
// again, sending nothing meanwhile. It returns only with a ticket or with
// ctx's cause.
func (b *Breaker) Wait(ctx context.Context) (Ticket, error) {
	for {
		t, err := b.Allow(ctx)
		if !errors.Is(err, ErrOpen) {
			return t, err
		}
		// At least a millisecond, so that a clock that does not move (in
		// tests) cannot make this spin.
		d := max(b.Remaining(), time.Millisecond)
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return Ticket{}, context.Cause(ctx)
		}
	}
}

// Record reports the outcome of a request sent with t.
func (b *Breaker) Record(t Ticket, o Outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe {
		b.probing = false
		close(b.probeDone)
		switch o {
		case Success:
			b.set(Closed)
		case Failure:
			b.set(Open)
		}
		return
	}
	if b.state != Closed {
		return // a request sent before the breaker opened: no say any more
	}
	switch o {
	case Success:
		b.failures = 0
	case Failure:
		if t.epoch != b.epoch {
			return // a failure of the same moment was counted already
		}
		b.failures++
		b.epoch++
		if b.failures >= b.threshold {
			b.set(Open)
		}
	}
}

// HTTPOutcome tells the breaker's verdict on a failed request to an HTTP
// API such as S3's (err non-nil; the caller has excluded its own context
// ending): an answer with a status below 500, other than 429 (too many
// requests), means the endpoint is up, whatever it thought of the request;
// 5xx, 429 and no answer at all (refused, reset, timed out) are failures.
func HTTPOutcome(err error) Outcome {
	var re interface{ HTTPStatusCode() int } // *awshttp.ResponseError, *smithyhttp.ResponseError
	if errors.As(err, &re) {
		if s := re.HTTPStatusCode(); s > 0 && s < 500 && s != 429 {
			return Success
		}
	}
	return Failure
}
