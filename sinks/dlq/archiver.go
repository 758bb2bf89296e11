package dlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/breaker"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultWorkers      = 4
	DefaultMaxPending   = 1000
	DefaultRetryBase    = 200 * time.Millisecond
	DefaultRetryMax     = 30 * time.Second
	DefaultPutTimeout   = 30 * time.Second
	DefaultDrainTimeout = 10 * time.Second
	// DefaultBreakerThreshold failed puts in a row open the circuit
	// breaker (puts failing together count once).
	DefaultBreakerThreshold = 5
	// DefaultBreakerCooldown is how long the breaker stays open before one
	// probe put may go.
	DefaultBreakerCooldown = 5 * time.Second
)

// PutObjectAPI is the part of the S3 client the archiver uses; *s3.Client
// satisfies it.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Options configures an Archiver. Zero fields take the defaults above.
type Options struct {
	Client  PutObjectAPI // required
	Bucket  string       // DLQ_S3_BUCKET, required
	Service string       // the service name, used when a dead letter has no service header; required
	Group   goka.Group   // the archiver's own group, e.g. <KAFKA_GROUP_ID>-dlq-s3; required
	Topic   goka.Stream  // DLQ_TOPIC; required

	// Workers is the number of concurrent puts.
	Workers int
	// MaxPending bounds the records handed over and not yet taken by a
	// writer; when it is reached the callback waits (back-pressure).
	MaxPending int
	// RetryBase and RetryMax bound the backoff between attempts of a put:
	// the n-th wait is uniformly random in [0, min(RetryMax, RetryBase·2^(n-1))].
	RetryBase, RetryMax time.Duration
	// PutTimeout bounds one PutObject attempt.
	PutTimeout time.Duration
	// DrainTimeout bounds how long records handed over are still written
	// after Run's context or the partition's processing ends.
	DrainTimeout time.Duration
	// BreakerThreshold and BreakerCooldown configure the circuit breaker
	// shared by the workers: that many failed puts in a row open it, and it
	// lets one probe put through after the cooldown; the workers wait
	// (sending nothing) meanwhile.
	BreakerThreshold int
	BreakerCooldown  time.Duration

	Registerer prometheus.Registerer // nil registers nothing
	Log        *slog.Logger          // default slog.Default()
}

// metrics counts the archiver's work.
type metrics struct {
	archived    prometheus.Counter
	putFailures prometheus.Counter
	retries     prometheus.Counter
	breaker     prometheus.Gauge
	released    prometheus.Counter
	pending     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, service string) (*metrics, error) {
	labels := prometheus.Labels{"service": service}
	m := &metrics{
		archived: prometheus.NewCounter(prometheus.CounterOpts{Name: "dlq_s3_archived_total", ConstLabels: labels,
			Help: "Dead letters written to S3 (and then committed)."}),
		putFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "dlq_s3_put_failures_total", ConstLabels: labels,
			Help: "Failed PutObject attempts for dead letters (each retried)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "dlq_s3_retries_total", ConstLabels: labels,
			Help: "PutObject attempts for dead letters sent again after a failed attempt of the same object."}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dlq_s3_breaker_state", ConstLabels: labels,
			Help: "Circuit breaker state of the dead-letter archive's S3 puts: 0 closed, 1 half-open, 2 open."}),
		released: prometheus.NewCounter(prometheus.CounterOpts{Name: "dlq_s3_released_uncommitted_total", ConstLabels: labels,
			Help: "Dead letters left uncommitted because the archiver or their partition stopped first; archived on the next start."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dlq_s3_pending", ConstLabels: labels,
			Help: "Dead letters consumed and not yet written to S3."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.archived, m.putFailures, m.retries, m.breaker, m.released, m.pending} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// job is a dead letter handed from the callback to a writer.
type job struct {
	obj    object
	commit func(error) // the deferred commit of the record
	// drain ends DrainTimeout after the partition's processing ended.
	drain   context.Context
	release context.CancelFunc
}

// Archiver writes a service's dead letters to S3.
type Archiver struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	br      *breaker.Breaker

	queue   chan *job
	stopped chan struct{} // closed when Run no longer takes records
	stopMu  sync.RWMutex  // senders hold it for reading; Run takes it to close
	closed  bool          // guarded by stopMu
	running atomic.Bool

	statusMu    sync.Mutex
	lastErr     error // of the latest failed attempt; nil after a success
	failingFrom time.Time
}

// New returns an archiver. Register its Graph with a Goka processor and run
// Run alongside it.
func New(opts Options) (*Archiver, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("dlq: no S3 client")
	case opts.Bucket == "":
		return nil, errors.New("dlq: no bucket (DLQ_S3_BUCKET)")
	case opts.Service == "":
		return nil, errors.New("dlq: no service name")
	case opts.Group == "":
		return nil, errors.New("dlq: no Goka group")
	case opts.Topic == "":
		return nil, errors.New("dlq: no dead-letter topic (DLQ_TOPIC)")
	case opts.Workers < 0, opts.MaxPending < 0, opts.RetryBase < 0, opts.RetryMax < 0, opts.PutTimeout < 0, opts.DrainTimeout < 0,
		opts.BreakerThreshold < 0, opts.BreakerCooldown < 0:
		return nil, errors.New("dlq: negative worker count, limit or duration")
	}
	if opts.Workers == 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxPending == 0 {
		opts.MaxPending = DefaultMaxPending
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.PutTimeout == 0 {
		opts.PutTimeout = DefaultPutTimeout
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.BreakerThreshold == 0 {
		opts.BreakerThreshold = DefaultBreakerThreshold
	}
	if opts.BreakerCooldown == 0 {
		opts.BreakerCooldown = DefaultBreakerCooldown
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	m, err := newMetrics(opts.Registerer, opts.Service)
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	log = log.With("sink", "dlq-s3", "bucket", opts.Bucket, "topic", string(opts.Topic))
	br := breaker.New(breaker.Options{Threshold: opts.BreakerThreshold, Cooldown: opts.BreakerCooldown,
		OnChange: func(from, to breaker.State) {
			m.breaker.Set(to.Gauge())
			if to == breaker.Closed {
				log.Info("dead-letter S3 circuit breaker closed", "from", from.String())
			} else {
				log.Warn("dead-letter S3 circuit breaker "+to.String(), "from", from.String(), "cooldown", opts.BreakerCooldown)
			}
		}})
	return &Archiver{
		opts:    opts,
		log:     log,
		metrics: m,
		br:      br,
		queue:   make(chan *job, opts.MaxPending),
		stopped: make(chan struct{}),
	}, nil
}

// Graph is the archiver's group graph: one input, the dead-letter topic.
func (a *Archiver) Graph() *goka.GroupGraph {
	return goka.DefineGroup(a.opts.Group, goka.Input(a.opts.Topic, new(codec.Bytes), a.consume))
}

// consume hands one dead letter to the writers; its offset is committed once
// the object is written.
func (a *Archiver) consume(ctx goka.Context, msg interface{}) {
	value, _ := msg.([]byte)
	obj, err := buildObject(Record{
		Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(),
		Timestamp: ctx.Timestamp(), Key: []byte(ctx.Key()), Value: value, Headers: ctx.Headers(),
	}, a.opts.Service)
	if err != nil {
		ctx.Fail(fmt.Errorf("dlq: %w", err)) // does not return
	}
	j := &job{obj: obj, commit: ctx.DeferCommit()}
	j.drain, j.release = drainContext(ctx.Context(), a.opts.DrainTimeout)
	a.metrics.pending.Inc()

	a.stopMu.RLock()
	defer a.stopMu.RUnlock()
	if a.closed {
		a.releaseUncommitted(j, "archiver stopped")
		return
	}
	select {
	case a.queue <- j:
	case <-a.stopped:
		a.releaseUncommitted(j, "archiver stopped")
	case <-ctx.Context().Done():
		a.releaseUncommitted(j, "partition stopped")
	}
}

// Run writes the dead letters handed over by the processor until ctx ends.
// Then it goes on writing those already handed over for up to DrainTimeout
// and releases the rest uncommitted. Run may be called once.
func (a *Archiver) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("dlq: Run called twice")
	}
	drain, release := drainContext(ctx, a.opts.DrainTimeout)
	defer release()

	var wg sync.WaitGroup
	for range a.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.work(ctx, drain)
		}()
	}
	wg.Wait()

	// Nothing is taken any more: release whatever is still queued, and
	// make later callbacks release theirs at once.
	close(a.stopped)
	a.stopMu.Lock()
	a.closed = true
	a.stopMu.Unlock()
	left := 0
	for {
		select {
		case j := <-a.queue:
			a.releaseUncommitted(j, "archiver stopped")
			left++
			continue
		default:
		}
		break
	}
	if left > 0 {
		a.log.Warn("dead letters left uncommitted at shutdown; they are archived on the next start", "count", left)
	}
	return nil
}

// work takes jobs until ctx ends, then those still queued until drain ends.
func (a *Archiver) work(ctx, drain context.Context) {
	for {
		select {
		case j := <-a.queue:
			a.archive(drain, j)
			continue
		case <-ctx.Done():
		}
		break
	}
	for drain.Err() == nil {
		select {
		case j := <-a.queue:
			a.archive(drain, j)
		default:
			return
		}
	}
}

// archive writes one dead letter, retrying until it is written or a drain
// window (the archiver's or the partition's) ends, and then commits or
// releases it.
func (a *Archiver) archive(drain context.Context, j *job) {
	ctx, cancel := context.WithCancel(j.drain)
	stop := context.AfterFunc(drain, cancel)
	defer func() {
		stop()
		cancel()
	}()
	if err := a.put(ctx, j.obj); err != nil {
		a.releaseUncommitted(j, err.Error())
		return
	}
	a.metrics.archived.Inc()
	a.metrics.pending.Dec()
	j.release()
	j.commit(nil)
}

// releaseUncommitted gives a record back to Goka without committing it.
func (a *Archiver) releaseUncommitted(j *job, why string) {
	a.metrics.released.Inc()
	a.metrics.pending.Dec()
	j.release()
	a.log.Warn("dead letter not archived before stopping; left uncommitted for the next start",
		"key", j.obj.key, "reason", why)
	j.commit(fmt.Errorf("%w: s3://%s/%s: %s", ErrStopped, a.opts.Bucket, j.obj.key, why))
}

// put writes one object, retrying with exponential backoff and full jitter
// until it succeeds or ctx ends. While the circuit breaker is open it waits
// for the breaker's probe instead of sending.
func (a *Archiver) put(ctx context.Context, obj object) error {
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dlq: put s3://%s/%s: not written after %d attempts: %w", a.opts.Bucket, obj.key, attempt-1, err)
		}
		t, err := a.br.Wait(ctx)
		if err != nil {
			return fmt.Errorf("dlq: put s3://%s/%s: not written after %d attempts (circuit breaker %s): %w",
				a.opts.Bucket, obj.key, attempt-1, a.br.State(), err)
		}
		if attempt > 1 {
			a.metrics.retries.Inc()
		}
		actx, cancel := context.WithTimeout(ctx, a.opts.PutTimeout)
		_, err = a.opts.Client.PutObject(actx, &s3.PutObjectInput{
			Bucket:      aws.String(a.opts.Bucket),
			Key:         aws.String(obj.key),
			Body:        bytes.NewReader(obj.body),
			ContentType: aws.String("application/json"),
		}, noSDKRetries)
		cancel()
		if err == nil {
			a.br.Record(t, breaker.Success)
			a.setStatus(nil)
			a.log.Debug("dead letter archived", "key", obj.key)
			return nil
		}
		a.metrics.putFailures.Inc()
		a.setStatus(err)
		if ctx.Err() != nil {
			a.br.Record(t, breaker.None)
			return fmt.Errorf("dlq: put s3://%s/%s (attempt %d): %w", a.opts.Bucket, obj.key, attempt, err)
		}
		a.br.Record(t, breaker.HTTPOutcome(err))
		wait := a.backoff(attempt)
		a.log.Warn("S3 put of a dead letter failed; retrying", "key", obj.key, "attempt", attempt, "backoff", wait, "error", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
	}
}

// noSDKRetries turns the SDK's own retries off for one call: the archiver
// retries by itself, so that its breaker and metrics see every attempt and
// the SDK's retry quota does not hide failures.
func noSDKRetries(o *s3.Options) {
	o.Retryer = aws.NopRetryer{}
	o.RetryMaxAttempts = 0
}

// backoff is the full-jitter wait after the n-th failed attempt (n ≥ 1).
func (a *Archiver) backoff(n int) time.Duration {
	d := a.opts.RetryMax
	if n < 32 {
		if e := a.opts.RetryBase << (n - 1); e > 0 && e < d {
			d = e
		}
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func (a *Archiver) setStatus(err error) {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	if err != nil && a.lastErr == nil {
		a.failingFrom = time.Now()
	}
	a.lastErr = err
}

// Health reports whether dead letters reach S3 (for httpapi.Server.Degraded):
// false while the latest put failed or the circuit breaker is not closed.
func (a *Archiver) Health() (bool, string) {
	st := a.br.State()
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	if a.lastErr != nil {
		return false, fmt.Sprintf("dead-letter puts to s3://%s failing since %s (circuit breaker %s): %v",
			a.opts.Bucket, a.failingFrom.UTC().Format(time.RFC3339), st, a.lastErr)
	}
	if st != breaker.Closed {
		return false, "dead-letter S3 circuit breaker " + st.String()
	}
	return true, "ok"
}
