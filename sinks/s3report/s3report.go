// Package s3report writes the analytics reports to S3 (contract §3): every
// flush interval, and once more on shutdown, the five reports under
// analytics/<report>/<YYYYmmdd_HHMMSS>.json, and every 5-minute window whose
// content changed under analytics/windows/date=YYYY-MM-DD/<HHMM>.json.
//
// Only the leader writes: the instance that owns partition 0 of the
// analytics group (SetLeader, wired to Goka's rebalance callback), so with
// several instances each report is written once per interval. Periodic
// reports are stamped with the interval boundary, not the moment of
// writing, so two instances that both believe they lead during a rebalance
// write the same keys.
//
// Objects are written by an s3put.Putter (package sinks/s3put): a failed
// write is retried with exponential backoff and full jitter until it
// succeeds or the next flush is due, and a circuit breaker stops the
// flusher from sending while S3 keeps failing (open, it lets one probe
// through per cooldown). Nothing is lost by giving up when the next flush
// is due, because every flush carries the full current state, and windows
// not written keep being retried.
package s3report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/breaker"
	"github.com/cdcflow/cdcflow/sinks/s3put"
	"github.com/cdcflow/cdcflow/views/analytics"
)

// Key layout of the contract.
const (
	KeyPrefix    = "analytics"
	StampLayout  = "20060102_150405"
	WindowLayout = "1504" // HHMM of the window start
)

// DefaultShutdownTimeout is the ShutdownTimeout New applies when it is
// zero.
const DefaultShutdownTimeout = 20 * time.Second

// Options configures a Flusher. Zero fields take DefaultShutdownTimeout or
// the defaults of package s3put (DefaultRetryBase, DefaultRetryMax,
// DefaultBreakerThreshold, DefaultBreakerCooldown).
type Options struct {
	Client s3put.API // required; *s3.Client satisfies it
	Bucket string    // S3_BUCKET, required
	// Reports are the figures, required (the analytics view's Fold).
	Reports analytics.Source
	Ready   func() bool // optional: flush only while true (e.g. view.Recovered)
	Leader  bool        // initial leadership, until SetLeader says otherwise
	// Interval is FLUSH_INTERVAL (internal/config owns its default);
	// periodic flushes happen at the multiples of it (UTC), the same
	// instants on every instance. Required: positive.
	Interval time.Duration
	// RetryBase and RetryMax bound the backoff between retries of a put: the
	// n-th wait is uniformly random in [0, min(RetryMax, RetryBase·2^(n-1))].
	RetryBase, RetryMax time.Duration
	// ShutdownTimeout bounds the final flush.
	ShutdownTimeout time.Duration
	// BreakerThreshold and BreakerCooldown configure the circuit breaker:
	// that many failed puts in a row open it, and it lets one probe put
	// through after the cooldown; puts wait (sending nothing) meanwhile.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	Registerer       prometheus.Registerer // nil registers nothing
	Service          string                // the service label of the consumer_s3_* metrics (package s3put)
	Log              *slog.Logger          // default slog.Default()
	// Now and After are the clock of the schedule (tests replace them);
	// default time.Now and time.After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Metrics counts the flusher's work.
type Metrics struct {
	Flushes     *prometheus.CounterVec // result: ok, failed, skipped
	Objects     *prometheus.CounterVec // kind: report, window
	PutFailures prometheus.Counter
	Retries     prometheus.Counter // puts sent again after a failed attempt
	Breaker     prometheus.Gauge   // 0 closed, 1 half-open, 2 open
	Leader      prometheus.Gauge
	LastSuccess prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_s3_flushes_total",
			Help: "Report flushes by result (skipped: not the leader or the view not ready)."}, []string{"result"}),
		Objects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_s3_objects_written_total",
			Help: "Objects written to S3, by kind."}, []string{"kind"}),
		PutFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "analytics_s3_put_failures_total",
			Help: "Failed PutObject attempts (each retried)."}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "analytics_s3_retries_total",
			Help: "PutObject attempts sent again after a failed attempt of the same object."}),
		Breaker: prometheus.NewGauge(prometheus.GaugeOpts{Name: "analytics_s3_breaker_state",
			Help: "S3 circuit breaker state: 0 closed, 1 half-open, 2 open."}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "analytics_s3_leader",
			Help: "1 while this instance owns partition 0 of the group and writes the reports."}),
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{Name: "analytics_s3_last_success_timestamp_seconds",
			Help: "Unix time of the last flush that wrote everything."}),
	}
	if reg != nil {
		reg.MustRegister(m.Flushes, m.Objects, m.PutFailures, m.Retries, m.Breaker, m.Leader, m.LastSuccess)
	}
	return m
}

// Flusher writes the analytics reports to S3.
type Flusher struct {
	opts    Options
	log     *slog.Logger
	metrics *Metrics
	s3      *s3put.Putter

	leader atomic.Bool
	epoch  atomic.Uint64 // incremented each time leadership is gained

	flushMu   sync.Mutex       // serialises flushes; guards hashEpoch and written
	hashEpoch uint64           // the epoch the hashes belong to
	written   map[int64]uint64 // window start → hash of the content last written

	statusMu sync.Mutex // guards the outcome of the last flush
	lastErr  error      // of the last flush; nil after a success
	lastOK   time.Time
	flushed  bool
	lastKeys []string // objects the last successful flush wrote

	keys []string // objects written by the flush under way; guarded by flushMu
}

// FlushStatus is what the last flush did, for operators and the dashboard.
type FlushStatus struct {
	Bucket  string   `json:"bucket"`
	Leader  bool     `json:"leader"`            // this instance writes the reports
	LastOK  string   `json:"last_ok,omitempty"` // RFC 3339 time of the last flush that wrote everything
	Objects []string `json:"objects"`           // the keys that flush wrote
	Error   string   `json:"error,omitempty"`   // of the latest flush, when it failed
}

// Status reports the last flush.
func (f *Flusher) Status() FlushStatus {
	f.statusMu.Lock()
	defer f.statusMu.Unlock()
	st := FlushStatus{Bucket: f.opts.Bucket, Leader: f.IsLeader(), Objects: slices.Clone(f.lastKeys)}
	if st.Objects == nil {
		st.Objects = []string{}
	}
	if !f.lastOK.IsZero() {
		st.LastOK = f.lastOK.UTC().Format(time.RFC3339)
	}
	if f.lastErr != nil {
		st.Error = f.lastErr.Error()
	}
	return st
}

// New returns a flusher; it writes nothing until Run.
func New(opts Options) (*Flusher, error) {
	switch {
	case opts.Client == nil:
		return nil, errors.New("s3report: no S3 client")
	case opts.Bucket == "":
		return nil, errors.New("s3report: no bucket (S3_BUCKET)")
	case opts.Reports == nil:
		return nil, errors.New("s3report: no reports source (the analytics view's fold)")
	case opts.Interval <= 0:
		return nil, fmt.Errorf("s3report: flush interval %s is not positive (FLUSH_INTERVAL)", opts.Interval)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", "s3report", "bucket", opts.Bucket)
	m := newMetrics(opts.Registerer)
	putter, err := s3put.New(s3put.Options{Client: opts.Client, Bucket: opts.Bucket,
		RetryBase: opts.RetryBase, RetryMax: opts.RetryMax,
		BreakerThreshold: opts.BreakerThreshold, BreakerCooldown: opts.BreakerCooldown,
		Name:    "S3",
		Metrics: s3put.Metrics{PutFailures: m.PutFailures, Retries: m.Retries, Breaker: m.Breaker},
		Log:     log, Service: opts.Service, Registerer: opts.Registerer})
	if err != nil {
		return nil, fmt.Errorf("s3report: %w", err)
	}
	f := &Flusher{opts: opts, log: log, metrics: m, s3: putter, written: map[int64]uint64{}}
	f.SetLeader(opts.Leader)
	return f, nil
}

// SetLeader tells the flusher whether this instance owns partition 0 of the
// analytics group. On gaining leadership it forgets which windows it wrote,
// since another leader may have written them since, and rewrites all of them
// at its next flush.
func (f *Flusher) SetLeader(leader bool) {
	if was := f.leader.Swap(leader); leader && !was {
		f.epoch.Add(1)
	}
	if leader {
		f.metrics.Leader.Set(1)
	} else {
		f.metrics.Leader.Set(0)
	}
}

// IsLeader reports whether this instance writes the reports.
func (f *Flusher) IsLeader() bool { return f.leader.Load() }

// RebalanceCallback returns a Goka rebalance callback that makes this
// instance the leader while it is assigned partition 0. Pass it to the
// analytics processor with goka.WithRebalanceCallback.
func (f *Flusher) RebalanceCallback() goka.RebalanceCallback {
	return func(a goka.Assignment) {
		_, owns := a[0]
		f.SetLeader(owns)
	}
}

// Health reports whether the last flush wrote everything and the circuit
// breaker is closed (for httpapi.Server.Degraded).
func (f *Flusher) Health() (bool, string) {
	st := f.s3.Status()
	f.statusMu.Lock()
	defer f.statusMu.Unlock()
	switch {
	case st.Breaker != breaker.Closed && st.LastErr != nil:
		return false, "S3 circuit breaker " + st.Breaker.String() + "; last S3 error: " + st.LastErr.Error()
	case st.Breaker != breaker.Closed:
		return false, "S3 circuit breaker " + st.Breaker.String()
	case f.lastErr != nil:
		return false, "last S3 flush failed: " + f.lastErr.Error()
	case !f.flushed:
		return true, "no S3 flush yet"
	}
	return true, "last S3 flush at " + f.lastOK.UTC().Format(time.RFC3339)
}

// Run flushes at every multiple of the interval until ctx ends, then once
// more (bounded by ShutdownTimeout). It returns the final flush's error.
func (f *Flusher) Run(ctx context.Context) error {
	for {
		now := f.opts.Now()
		next := now.Truncate(f.opts.Interval).Add(f.opts.Interval)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), f.opts.ShutdownTimeout)
			defer cancel()
			if err := f.flushIfLeader(fctx, f.opts.Now(), "shutdown"); err != nil {
				return fmt.Errorf("s3report: final flush: %w", err)
			}
			return nil
		case <-f.opts.After(next.Sub(now)):
			// Retries stop when the next flush is due: it carries everything.
			fctx, cancel := context.WithTimeout(ctx, f.opts.Interval)
			if err := f.flushIfLeader(fctx, next, "periodic"); err != nil && ctx.Err() == nil {
				f.log.Error("S3 flush failed; the next flush writes the full state", "error", err)
			}
			cancel()
		}
	}
}

func (f *Flusher) flushIfLeader(ctx context.Context, at time.Time, why string) error {
	if !f.IsLeader() {
		f.metrics.Flushes.WithLabelValues("skipped").Inc()
		f.log.Debug("not the leader (partition 0 is elsewhere); not flushing", "flush", why)
		return nil
	}
	if f.opts.Ready != nil && !f.opts.Ready() {
		f.metrics.Flushes.WithLabelValues("skipped").Inc()
		f.log.Info("analytics view not recovered yet; not flushing", "flush", why)
		return nil
	}
	return f.Flush(ctx, at)
}

// Flush writes the five reports stamped with at, and the windows whose
// content changed since this flusher last wrote them (all of them after a
// start or on gaining leadership). It writes whether or not this instance
// leads; Run checks that. Puts are retried until they succeed or ctx ends.
func (f *Flusher) Flush(ctx context.Context, at time.Time) error {
	f.flushMu.Lock()
	f.keys = f.keys[:0]
	err := f.flush(ctx, at)
	keys := slices.Clone(f.keys)
	f.flushMu.Unlock()

	f.statusMu.Lock()
	defer f.statusMu.Unlock()
	f.flushed, f.lastErr = true, err
	if err != nil {
		f.metrics.Flushes.WithLabelValues("failed").Inc()
		return err
	}
	f.lastOK, f.lastKeys = f.opts.Now(), keys
	f.metrics.Flushes.WithLabelValues("ok").Inc()
	f.metrics.LastSuccess.Set(float64(f.lastOK.Unix()))
	return nil
}

func (f *Flusher) flush(ctx context.Context, at time.Time) error {
	snap, err := f.opts.Reports.Snapshot()
	if err != nil {
		return fmt.Errorf("s3report: %w", err)
	}
	generated := f.opts.Now()
	stamp := at.UTC().Format(StampLayout)
	var errs []error
	for _, name := range analytics.ReportNames() {
		rep, err := snap.Report(name, generated)
		if err != nil {
			return fmt.Errorf("s3report: %w", err)
		}
		key := fmt.Sprintf("%s/%s/%s.json", KeyPrefix, name, stamp)
		if err := f.putJSON(ctx, key, rep, "report"); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
		}
	}

	if e := f.epoch.Load(); e != f.hashEpoch {
		clear(f.written)
		f.hashEpoch = e
	}
	for _, w := range snap.Windows {
		body, err := json.Marshal(w.Document())
		if err != nil {
			return fmt.Errorf("s3report: window %d: %w", w.Start, err)
		}
		h := fnv.New64a()
		h.Write(body)
		sum := h.Sum64()
		if prev, ok := f.written[w.Start]; ok && prev == sum {
			continue
		}
		start := time.Unix(w.Start, 0).UTC()
		key := fmt.Sprintf("%s/windows/date=%s/%s.json", KeyPrefix, w.Day(), start.Format(WindowLayout))
		if err := f.put(ctx, key, body, "window"); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				return errors.Join(errs...)
			}
			continue
		}
		f.written[w.Start] = sum
	}
	return errors.Join(errs...)
}

func (f *Flusher) putJSON(ctx context.Context, key string, v any, kind string) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("s3report: encode %s: %w", key, err)
	}
	return f.put(ctx, key, body, kind)
}

// put writes one object through the Putter (retrying until it succeeds or
// ctx ends) and counts it by kind.
func (f *Flusher) put(ctx context.Context, key string, body []byte, kind string) error {
	if err := f.s3.Put(ctx, key, body); err != nil {
		return fmt.Errorf("s3report: %w", err)
	}
	f.keys = append(f.keys, key)
	f.metrics.Objects.WithLabelValues(kind).Inc()
	return nil
}
