package dynamo

import (
	"context"
	"sync"
	"time"
)

// breakerState is a circuit breaker's state.
type breakerState int

const (
	stateClosed breakerState = iota
	stateHalfOpen
	stateOpen
)

func (s breakerState) String() string {
	switch s {
	case stateClosed:
		return "closed"
	case stateHalfOpen:
		return "half-open"
	default:
		return "open"
	}
}

// gauge is the state's metric value: 0 closed, 1 half-open, 2 open.
func (s breakerState) gauge() int { return int(s) }

// outcome is what a request tells the breaker about DynamoDB.
type outcome int

const (
	outcomeSuccess outcome = iota // DynamoDB answered
	outcomeFailure                // a retryable failure: DynamoDB unwell or unreachable
	outcomeNone                   // no verdict (the caller gave up)
)

// ticket is a permission to send one request.
type ticket struct {
	probe bool
	epoch uint64 // the breaker's epoch when the request was allowed
}

// breaker is a circuit breaker: closed, it lets every request through and
// opens after threshold consecutive failures; open, it rejects requests
// until cooldown has passed; then, half-open, it lets exactly one probe
// through, holding the other requests until the probe's outcome closes it
// (success) or opens it again (failure).
//
// Requests in flight together that fail together count as one failure: a
// failure counts only when no other failure was counted since its request
// was sent. One event that breaks all pooled connections at once (a server
// closing them, a network blip) thus counts once, however high the
// concurrency, while a dead endpoint, whose every retry fails, opens the
// breaker after threshold rounds of retries.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	onChange  func(from, to breakerState) // called with mu held

	mu        sync.Mutex
	state     breakerState
	failures  int
	epoch     uint64 // advanced by every counted failure and state change
	openedAt  time.Time
	probing   bool
	probeDone chan struct{} // closed when the probe in flight reports
}

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time, onChange func(from, to breakerState)) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown, now: now, onChange: onChange}
}

func (b *breaker) set(to breakerState) {
	from := b.state
	if from == to {
		return
	}
	b.state = to
	b.epoch++
	if to == stateOpen {
		b.openedAt = b.now()
	}
	if to == stateClosed {
		b.failures = 0
	}
	if b.onChange != nil {
		b.onChange(from, to)
	}
}

// advance moves an open breaker whose cooldown has passed to half-open.
func (b *breaker) advance() {
	if b.state == stateOpen && b.now().Sub(b.openedAt) >= b.cooldown {
		b.set(stateHalfOpen)
	}
}

// current is the state now.
func (b *breaker) current() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance()
	return b.state
}

// allow asks to send a request. It fails with ErrBreakerOpen while open and
// waits while half-open with a probe in flight.
func (b *breaker) allow(ctx context.Context) (ticket, error) {
	for {
		b.mu.Lock()
		b.advance()
		switch {
		case b.state == stateClosed:
			t := ticket{epoch: b.epoch}
			b.mu.Unlock()
			return t, nil
		case b.state == stateOpen:
			b.mu.Unlock()
			return ticket{}, ErrBreakerOpen
		case !b.probing:
			b.probing = true
			b.probeDone = make(chan struct{})
			b.mu.Unlock()
			return ticket{probe: true}, nil
		}
		done := b.probeDone
		b.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ticket{}, context.Cause(ctx)
		}
	}
}

// record reports the outcome of a request sent with t.
func (b *breaker) record(t ticket, o outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe {
		b.probing = false
		close(b.probeDone)
		switch o {
		case outcomeSuccess:
			b.set(stateClosed)
		case outcomeFailure:
			b.set(stateOpen)
		}
		return
	}
	if b.state != stateClosed {
		return // a request sent before the breaker opened: no say any more
	}
	switch o {
	case outcomeSuccess:
		b.failures = 0
	case outcomeFailure:
		if t.epoch != b.epoch {
			return // a failure of the same moment was counted already
		}
		b.failures++
		b.epoch++
		if b.failures >= b.threshold {
			b.set(stateOpen)
		}
	}
}
