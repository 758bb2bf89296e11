// Package s3put is how the S3 sinks (the analytics reports, the dead-letter
// archive) write an object: a Putter puts it, retrying with exponential
// backoff and full jitter (package sinks/retry) until it succeeds or the
// caller's context ends, behind a circuit breaker (package sinks/breaker)
// that stops it from sending while S3 keeps failing: open, the breaker lets
// one probe put through per cooldown and the other puts wait, sending
// nothing.
//
// The Putter retries by itself: every call switches the SDK's own retries
// off (NoSDKRetries), so that the breaker and the metrics see every attempt
// and the SDK's retry quota does not hide failures.
package s3put

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/breaker"
	"github.com/cdcflow/cdcflow/sinks/retry"
	"github.com/cdcflow/cdcflow/telemetry"
)

// Defaults applied by New to zero (or negative) Options fields.
const (
	DefaultRetryBase = 200 * time.Millisecond
	DefaultRetryMax  = 30 * time.Second
	// DefaultBreakerThreshold failed puts in a row open the circuit
	// breaker (puts failing together count once).
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long the breaker stays open before one
	// probe put may go.
	DefaultBreakerCooldown = 5 * time.Second
	// DefaultContentType is the Content-Type of the objects.
	DefaultContentType = "application/json"
	// DefaultName is how log lines name the endpoint.
	DefaultName = "S3"
)

// API is the part of the S3 client a Putter uses; *s3.Client satisfies it.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// NoSDKRetries turns the SDK's own retries off for one call (pass it as a
// PutObject option): the caller retries by itself, so that its breaker and
// metrics see every attempt and the SDK's retry quota does not hide
// failures.
func NoSDKRetries(o *s3.Options) {
	o.Retryer = aws.NopRetryer{}
	o.RetryMaxAttempts = 0
}

// Metrics are the collectors a Putter updates; nil ones are not updated.
// The caller creates and registers them under its own names.
type Metrics struct {
	PutFailures prometheus.Counter // failed PutObject attempts (each retried)
	Retries     prometheus.Counter // attempts sent again after a failed attempt of the same object
	Breaker     prometheus.Gauge   // breaker state: 0 closed, 1 half-open, 2 open
}

// Options configures New. Zero fields take the defaults above.
type Options struct {
	Client API    // required
	Bucket string // required
	// ContentType is the Content-Type of every object.
	ContentType string
	// RetryBase and RetryMax bound the backoff between attempts of a put:
	// the n-th wait is uniformly random in [0, min(RetryMax, RetryBase·2^(n-1))].
	RetryBase, RetryMax time.Duration
	// AttemptTimeout bounds one PutObject attempt; 0 leaves it to the
	// caller's context.
	AttemptTimeout time.Duration
	// BreakerThreshold and BreakerCooldown configure the circuit breaker
	// shared by all puts of the Putter: that many failed puts in a row open
	// it, and it lets one probe put through after the cooldown.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// Name is how log lines name the endpoint: "<Name> circuit breaker
	// open", "<Name> put failed; retrying".
	Name    string
	Metrics Metrics
	Log     *slog.Logger // default slog.Default()
	// Service and Registerer are for the Python services' consumer_s3_*
	// metrics (package telemetry), labelled service=<Service>,
	// bucket=<Bucket> and shared by every Putter of the service and bucket;
	// a nil Registerer counts them unregistered.
	Service    string
	Registerer prometheus.Registerer
}

// pyMetrics are the consumer_s3_* series a Putter adds to.
type pyMetrics struct {
	writes    prometheus.Counter     // consumer_s3_writes_total: objects written
	errors    *prometheus.CounterVec // consumer_s3_errors_total: failed attempts by error_type (retry.Classify)
	duration  prometheus.Observer    // consumer_s3_write_duration_seconds: per attempt
	allErrors prometheus.Counter     // consumer_errors_total{error_type="s3"}
}

func newPyMetrics(reg prometheus.Registerer, service, bucket string) pyMetrics {
	labels := prometheus.Labels{"service": service, "bucket": bucket}
	m := pyMetrics{
		writes: telemetry.Shared(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "consumer_s3_writes_total",
			Help: "Objects written to S3.", ConstLabels: labels})),
		errors: telemetry.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "consumer_s3_errors_total",
			Help: "Failed S3 PutObject attempts (each retried), by error_type.", ConstLabels: labels}, []string{"error_type"})),
		duration: telemetry.Shared(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "consumer_s3_write_duration_seconds",
			Help: "Duration of one S3 PutObject attempt.", ConstLabels: labels,
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})),
		allErrors: telemetry.Errors(reg, service).WithLabelValues(telemetry.ErrorS3),
	}
	for _, c := range retry.Classes {
		m.errors.WithLabelValues(c)
	}
	return m
}

// Status is what a Putter knows of S3's health.
type Status struct {
	Breaker breaker.State // the circuit breaker's state now
	// LastErr is the error of the latest attempt of any put; nil before the
	// first attempt and after a successful one.
	LastErr error
	// FailingSince is when the current run of failed attempts began; zero
	// while LastErr is nil.
	FailingSince time.Time
}

// Putter writes objects to one bucket; it is safe for concurrent use.
type Putter struct {
	opts Options
	log  *slog.Logger
	br   *breaker.Breaker
	py   pyMetrics

	mu           sync.Mutex // guards lastErr and failingSince
	lastErr      error
	failingSince time.Time
}

// New returns a Putter for opts.Bucket.
func New(opts Options) (*Putter, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("s3put: no S3 client")
	case opts.Bucket == "":
		return nil, errors.New("s3put: no bucket")
	}
	if opts.ContentType == "" {
		opts.ContentType = DefaultContentType
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.AttemptTimeout < 0 {
		opts.AttemptTimeout = 0
	}
	if opts.BreakerThreshold <= 0 {
		opts.BreakerThreshold = DefaultBreakerThreshold
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = DefaultBreakerCooldown
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	p := &Putter{opts: opts, log: log, py: newPyMetrics(opts.Registerer, opts.Service, opts.Bucket)}
	p.br = breaker.New(breaker.Options{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown,
		OnChange: breaker.Report(opts.Name, opts.Metrics.Breaker, log, opts.BreakerCooldown)})
	return p, nil
}

// Status is the breaker's state and the outcome of the latest attempt.
func (p *Putter) Status() Status {
	st := p.br.State()
	p.mu.Lock()
	defer p.mu.Unlock()
	return Status{Breaker: st, LastErr: p.lastErr, FailingSince: p.failingSince}
}

// Put writes body under key, retrying with exponential backoff and full
// jitter until it succeeds or ctx ends. While the circuit breaker is open
// it waits for the breaker's probe instead of sending. Its error, when ctx
// ends first, names the object and the number of attempts and wraps both
// ctx's cause and the latest attempt's error.
func (p *Putter) Put(ctx context.Context, key string, body []byte) error {
	var last error // of the latest attempt
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return p.gaveUp(ctx, key, attempt-1, last)
		}
		t, err := p.br.Wait(ctx)
		if err != nil { // ctx ended while the breaker held the put back
			return p.gaveUp(ctx, key, attempt-1, last)
		}
		if attempt > 1 {
			inc(p.opts.Metrics.Retries)
		}
		start := time.Now()
		err = p.send(ctx, key, body)
		p.py.duration.Observe(time.Since(start).Seconds())
		p.setStatus(err)
		if err == nil {
			p.br.Record(t, breaker.Success)
			p.py.writes.Inc()
			return nil
		}
		last = err
		inc(p.opts.Metrics.PutFailures)
		if ctx.Err() != nil { // no verdict on S3: the caller gave up
			p.br.Record(t, breaker.None)
			return fmt.Errorf("put s3://%s/%s (attempt %d): %w", p.opts.Bucket, key, attempt, err)
		}
		class, _ := retry.Classify(err)
		p.py.errors.WithLabelValues(class).Inc()
		p.py.allErrors.Inc()
		p.br.Record(t, breaker.HTTPOutcome(err))
		wait := retry.FullJitter(attempt, p.opts.RetryBase, p.opts.RetryMax)
		p.log.Warn(p.opts.Name+" put failed; retrying", "key", key, "attempt", attempt, "backoff", wait, "error", err)
		if retry.Sleep(ctx, wait) != nil {
			return p.gaveUp(ctx, key, attempt, last)
		}
	}
}

// send makes one PutObject attempt.
func (p *Putter) send(ctx context.Context, key string, body []byte) error {
	if p.opts.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.opts.AttemptTimeout)
		defer cancel()
	}
	_, err := p.opts.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(p.opts.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String(p.opts.ContentType),
	}, NoSDKRetries)
	return err
}

// gaveUp is Put's error when ctx ends before the object is written.
func (p *Putter) gaveUp(ctx context.Context, key string, attempts int, last error) error {
	cause := context.Cause(ctx)
	if last == nil {
		return fmt.Errorf("put s3://%s/%s: not written after %d attempts (circuit breaker %s): %w",
			p.opts.Bucket, key, attempts, p.br.State(), cause)
	}
	return fmt.Errorf("put s3://%s/%s: not written after %d attempts (circuit breaker %s): %w; last attempt: %w",
		p.opts.Bucket, key, attempts, p.br.State(), cause, last)
}

func (p *Putter) setStatus(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err == nil:
		p.failingSince = time.Time{}
	case p.lastErr == nil:
		p.failingSince = time.Now()
	}
	p.lastErr = err
}

func inc(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}
