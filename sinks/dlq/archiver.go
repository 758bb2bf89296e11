package dlq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/breaker"
	"github.com/cdcflow/cdcflow/sinks/s3put"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultWorkers      = 4
	DefaultMaxPending   = 1000
	DefaultPutTimeout   = 30 * time.Second
	DefaultDrainTimeout = 10 * time.Second
)

// Options configures an Archiver. Zero fields take the defaults above or
// those of package s3put (DefaultRetryBase, DefaultRetryMax,
// DefaultBreakerThreshold, DefaultBreakerCooldown).
type Options struct {
	Client  s3put.API   // required; *s3.Client satisfies it
	Bucket  string      // DLQ_S3_BUCKET, required
	Service string      // the service name, used when a dead letter has no service header; required
	Group   goka.Group  // the archiver's own group, e.g. <KAFKA_GROUP_ID>-dlq-s3; required
	Topic   goka.Stream // DLQ_TOPIC; required

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
	s3      *s3put.Putter

	queue   chan *job
	stopped chan struct{} // closed when Run no longer takes records
	stopMu  sync.RWMutex  // senders hold it for reading; Run takes it to close
	closed  bool          // guarded by stopMu
	running atomic.Bool
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
	if opts.PutTimeout == 0 {
		opts.PutTimeout = DefaultPutTimeout
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
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
	putter, err := s3put.New(s3put.Options{Client: opts.Client, Bucket: opts.Bucket,
		RetryBase: opts.RetryBase, RetryMax: opts.RetryMax, AttemptTimeout: opts.PutTimeout,
		BreakerThreshold: opts.BreakerThreshold, BreakerCooldown: opts.BreakerCooldown,
		Name:    "dead-letter S3",
		Metrics: s3put.Metrics{PutFailures: m.putFailures, Retries: m.retries, Breaker: m.breaker},
		Log:     log, Service: opts.Service, Registerer: opts.Registerer})
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	return &Archiver{
		opts:    opts,
		log:     log,
		metrics: m,
		s3:      putter,
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
	if err := a.s3.Put(ctx, j.obj.key, j.obj.body); err != nil {
		a.releaseUncommitted(j, "dlq: "+err.Error())
		return
	}
	a.log.Debug("dead letter archived", "key", j.obj.key)
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

// Health reports whether dead letters reach S3 (for httpapi.Server.Degraded):
// false while the latest put failed or the circuit breaker is not closed.
func (a *Archiver) Health() (bool, string) {
	st := a.s3.Status()
	if st.LastErr != nil {
		return false, fmt.Sprintf("dead-letter puts to s3://%s failing since %s (circuit breaker %s): %v",
			a.opts.Bucket, st.FailingSince.UTC().Format(time.RFC3339), st.Breaker, st.LastErr)
	}
	if st.Breaker != breaker.Closed {
		return false, "dead-letter S3 circuit breaker " + st.Breaker.String()
	}
	return true, "ok"
}
