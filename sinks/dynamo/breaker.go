package dynamo

import (
	"context"
	"errors"
	"time"

	cb "github.com/cdcflow/cdcflow/sinks/breaker"
)

// The Writer's circuit breaker is package breaker's (shared with the S3
// sinks); this file adapts it to the Writer's names and to ErrBreakerOpen.

// breakerState is a circuit breaker's state.
type breakerState int

const (
	stateClosed   = breakerState(cb.Closed)
	stateHalfOpen = breakerState(cb.HalfOpen)
	stateOpen     = breakerState(cb.Open)
)

func (s breakerState) String() string { return cb.State(s).String() }

// gauge is the state's metric value: 0 closed, 1 half-open, 2 open.
func (s breakerState) gauge() int { return int(s) }

// outcome is what a request tells the breaker about DynamoDB.
type outcome = cb.Outcome

const (
	outcomeSuccess = cb.Success // DynamoDB answered
	outcomeFailure = cb.Failure // a retryable failure: DynamoDB unwell or unreachable
	outcomeNone    = cb.None    // no verdict (the caller gave up)
)

// ticket is a permission to send one request.
type ticket struct {
	probe bool
	t     cb.Ticket
}

// breaker is a circuit breaker (see package breaker): closed, it lets every
// request through and opens after threshold consecutive failures (requests
// failing together count once); open, it rejects requests until cooldown
// has passed; then, half-open, it lets exactly one probe through.
type breaker struct{ b *cb.Breaker }

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time, onChange func(from, to breakerState)) *breaker {
	opts := cb.Options{Threshold: threshold, Cooldown: cooldown, Now: now}
	if onChange != nil {
		opts.OnChange = func(from, to cb.State) { onChange(breakerState(from), breakerState(to)) }
	}
	return &breaker{b: cb.New(opts)}
}

// current is the state now.
func (b *breaker) current() breakerState { return breakerState(b.b.State()) }

// allow asks to send a request. It fails with ErrBreakerOpen while open and
// waits while half-open with a probe in flight.
func (b *breaker) allow(ctx context.Context) (ticket, error) {
	t, err := b.b.Allow(ctx)
	if errors.Is(err, cb.ErrOpen) {
		return ticket{}, ErrBreakerOpen
	}
	if err != nil {
		return ticket{}, err
	}
	return ticket{probe: t.Probe(), t: t}, nil
}

// record reports the outcome of a request sent with t.
func (b *breaker) record(t ticket, o outcome) { b.b.Record(t.t, o) }
