// Package mirror copies a Goka group table to DynamoDB. It is a Goka group
// of its own reading the table's changelog, so its progress is committed in
// Kafka and its partitions are balanced across instances like any processor.
//
// Per key it writes the newest state it knows: the changelog message, or the
// service's view of the table when that is newer (by the state's revision).
// After a restart the replayed changelog therefore never moves an item back
// to an older state. Writes are coalesced per key and batched; a message's
// offset is committed only after DynamoDB has its key's state (Goka's
// DeferCommit with ordered commits), so a crash loses nothing. DynamoDB being
// slow or down only makes the mirror fall behind: the group tables go on.
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/dynamo"
)

// Writer makes items durable in DynamoDB.
type Writer interface {
	Write(ctx context.Context, items []dynamo.Item) error
	Healthy() bool
}

// Config configures a mirror.
type Config struct {
	Group  goka.Group // the mirror's own group, e.g. inventory-service-group-dynamodb
	Table  goka.Table // the group table to mirror
	Codec  goka.Codec // the table's codec
	Writer Writer
	// Item maps a table entry to its DynamoDB item; false when the entry is
	// not mirrored (for example an order line in the inventory table).
	Item func(key string, value interface{}) (dynamo.Item, bool)
	// Mirrored, when set, says which keys can be mirrored at all; the
	// changelog messages of other keys are committed without being decoded.
	Mirrored func(key string) bool
	// Latest returns the current value of key in the service's view of the
	// table, or nil when unknown.
	Latest func(key string) (interface{}, error)
	// CDCTime returns the commit time (Unix ms) of the newest change behind
	// a table value, for the lag and latency metrics; optional.
	CDCTime func(value interface{}) int64

	FlushInterval time.Duration // default 100ms
	MaxPending    int           // messages awaiting a write before callbacks block; default 20000
	Registerer    prometheus.Registerer
	Log           *slog.Logger
}

// Mirror is a running table-to-DynamoDB copy.
type Mirror struct {
	cfg Config

	mu      sync.Mutex
	cond    *sync.Cond
	full    chan struct{} // signalled when MaxPending messages wait: flush now
	items   map[string]dynamo.Item
	unknown map[string]struct{} // changed keys whose message is not mirrored; the view may have more
	cdcMs   map[string]int64
	commits []func(error)
	srcMs   []int64 // per pending commit, the source time of its change (0: unknown)
	closed  bool

	lastOK  time.Time
	lastErr error
	writing time.Time // when the flush in progress started writing; zero when none

	lag       prometheus.Gauge
	latency   prometheus.Histogram
	lastWrite prometheus.Gauge
	pending   prometheus.Gauge
	written   prometheus.Counter
	rejected  prometheus.Counter
}

// New creates a mirror; register its Graph with a Goka processor and call Run.
func New(cfg Config) *Mirror {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 100 * time.Millisecond
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 20000
	}
	labels := prometheus.Labels{"table": string(cfg.Table)}
	m := &Mirror{
		cfg: cfg, items: map[string]dynamo.Item{}, unknown: map[string]struct{}{}, cdcMs: map[string]int64{}, lastOK: time.Now(),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mirror_lag_seconds", ConstLabels: labels,
			Help: "Seconds between the commit of the newest change written to DynamoDB and its write."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mirror_source_to_sink_seconds", ConstLabels: labels,
			Help:    "Per table change: seconds from the commit of its source change to the DynamoDB write that made it visible.",
			Buckets: LatencyBuckets}),
		lastWrite: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mirror_last_write_timestamp_seconds", ConstLabels: labels,
			Help: "Unix time at which the last successful DynamoDB write of the mirror completed."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mirror_pending_keys", ConstLabels: labels,
			Help: "Keys changed in the table and not yet written to DynamoDB."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_items_written_total", ConstLabels: labels,
			Help: "Coalesced items written to DynamoDB."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "mirror_rejected_writes_total", ConstLabels: labels,
			Help: "Writes in which DynamoDB rejected items as invalid (logged with their keys)."}),
	}
	m.cond = sync.NewCond(&m.mu)
	m.full = make(chan struct{}, 1)
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.lag, m.latency, m.lastWrite, m.pending, m.written, m.rejected)
	}
	return m
}

// LatencyBuckets are the buckets of mirror_source_to_sink_seconds: fine
// below a second, where the latency target lies.
var LatencyBuckets = []float64{.005, .01, .02, .03, .05, .075, .1, .15, .2, .25, .3, .4, .5, .6, .75, .9, 1, 1.5, 2, 3, 5, 10, 30, 60, 300}

// Graph is the mirror's group graph: one input, the table's changelog,
// read as bytes so that only mirrored keys are decoded.
func (m *Mirror) Graph() *goka.GroupGraph {
	return goka.DefineGroup(m.cfg.Group, goka.Input(goka.Stream(m.cfg.Table), new(codec.Bytes), m.onUpdate))
}

func (m *Mirror) onUpdate(ctx goka.Context, raw interface{}) {
	key := ctx.Key()
	if m.cfg.Mirrored != nil && !m.cfg.Mirrored(key) {
		return
	}
	var msg interface{}
	if b, _ := raw.([]byte); b != nil {
		v, err := m.cfg.Codec.Decode(b)
		if err != nil {
			ctx.Fail(fmt.Errorf("mirror %s: decode %q: %w", m.cfg.Table, key, err))
			return
		}
		msg = v
	}
	item, ok := m.cfg.Item(key, msg)
	if !ok && m.cfg.Latest == nil {
		return
	}
	var src int64
	if m.cfg.CDCTime != nil && msg != nil {
		src = m.cfg.CDCTime(msg)
	}
	done := ctx.DeferCommit()
	m.mu.Lock()
	for len(m.commits) >= m.cfg.MaxPending && !m.closed {
		select {
		case m.full <- struct{}{}:
		default:
		}
		m.cond.Wait()
	}
	if m.closed {
		m.mu.Unlock()
		done(errors.New("mirror stopped"))
		return
	}
	if ok {
		if old, exists := m.items[key]; !exists || item.Rev >= old.Rev {
			m.items[key] = item
			m.cdcMs[key] = src
		}
	} else if _, exists := m.items[key]; !exists {
		m.unknown[key] = struct{}{}
	}
	m.commits = append(m.commits, done)
	m.srcMs = append(m.srcMs, src)
	m.mu.Unlock()
}

// refresh replaces pending items by the view's state of their key where
// that is newer (by revision), once per key and flush: after a restart the
// replayed changelog must not move an item back to an older state.
func (m *Mirror) refresh(items map[string]dynamo.Item, unknown map[string]struct{}, cdcMs map[string]int64) {
	if m.cfg.Latest == nil {
		return
	}
	check := func(key string) {
		cur, err := m.cfg.Latest(key)
		if err != nil || cur == nil {
			return
		}
		newer, ok := m.cfg.Item(key, cur)
		if old, exists := items[key]; ok && (!exists || newer.Rev > old.Rev) {
			items[key] = newer
			if m.cfg.CDCTime != nil {
				cdcMs[key] = m.cfg.CDCTime(cur)
			}
		}
	}
	for key := range items {
		check(key)
	}
	for key := range unknown {
		check(key)
	}
}

// Run writes the coalesced changes until ctx is done, then makes one last
// attempt (bounded by drain) to write what is pending.
//
// A flush starts FlushInterval after the previous one ended, not on a fixed
// tick: when DynamoDB is slow, the changes that arrive meanwhile coalesce
// into the next write instead of following in a train of small ones.
func (m *Mirror) Run(ctx context.Context, drain time.Duration) error {
	t := time.NewTimer(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), drain)
			err := m.flush(dctx)
			cancel()
			m.mu.Lock()
			m.closed = true
			rest := m.commits
			m.commits, m.srcMs = nil, nil
			m.cond.Broadcast()
			m.mu.Unlock()
			for _, c := range rest {
				c(errors.New("mirror stopped before writing"))
			}
			if err != nil {
				return fmt.Errorf("mirror %s: final flush: %w", m.cfg.Table, err)
			}
			return nil
		case <-t.C:
			m.flushLogged(ctx)
			t.Reset(m.cfg.FlushInterval)
		case <-m.full:
			// MaxPending messages wait and their callbacks block: write
			// them now rather than at the timer (Stop and Reset leave no
			// stale tick since Go 1.23).
			t.Stop()
			m.flushLogged(ctx)
			t.Reset(m.cfg.FlushInterval)
		}
	}
}

// flushLogged flushes and logs a failure (the changes stay pending).
func (m *Mirror) flushLogged(ctx context.Context) {
	if err := m.flush(ctx); err != nil && ctx.Err() == nil {
		m.cfg.Log.Warn("dynamodb mirror write failed; will retry", "table", m.cfg.Table, "error", err)
	}
}

// flush writes everything pending, retrying until it succeeds or ctx ends.
func (m *Mirror) flush(ctx context.Context) error {
	m.mu.Lock()
	if len(m.commits) == 0 && len(m.items) == 0 {
		m.mu.Unlock()
		return nil
	}
	pending, unknown, cdcMs := m.items, m.unknown, m.cdcMs
	commits, srcMs := m.commits, m.srcMs
	m.items, m.unknown, m.cdcMs, m.commits, m.srcMs = map[string]dynamo.Item{}, map[string]struct{}{}, map[string]int64{}, nil, nil
	m.cond.Broadcast()
	m.mu.Unlock()

	m.refresh(pending, unknown, cdcMs)
	items := make([]dynamo.Item, 0, len(pending))
	var newest int64
	for k, it := range pending {
		items = append(items, it)
		if ms := cdcMs[k]; ms > newest {
			newest = ms
		}
	}
	m.pending.Set(float64(len(items)))

	m.mu.Lock()
	m.writing = time.Now()
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.writing = time.Time{}
		m.mu.Unlock()
	}()
	backoff := 100 * time.Millisecond
	for {
		err := m.cfg.Writer.Write(ctx, items)
		if err == nil {
			break
		}
		if errors.Is(err, dynamo.ErrInvalidItem) {
			// The writer wrote everything else; retrying cannot make
			// DynamoDB accept these. Say so loudly and go on.
			m.rejected.Inc()
			m.cfg.Log.Error("dynamodb rejected items; they are not mirrored until their next change",
				"table", m.cfg.Table, "error", err)
			break
		}
		m.mu.Lock()
		m.lastErr = err
		m.mu.Unlock()
		if ctx.Err() != nil {
			// Put them back for the final attempt or the next run.
			m.mu.Lock()
			for _, it := range items {
				if old, ok := m.items[it.Key]; !ok || it.Rev > old.Rev {
					m.items[it.Key] = it
				}
			}
			m.commits = append(commits, m.commits...)
			m.srcMs = append(srcMs, m.srcMs...)
			m.mu.Unlock()
			return err
		}
		m.cfg.Log.Warn("dynamodb mirror write failed; retrying", "table", m.cfg.Table, "items", len(items), "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		if backoff < 5*time.Second {
			backoff *= 2
		}
	}
	now := time.Now()
	for _, c := range commits {
		c(nil)
	}
	for _, ms := range srcMs {
		if ms > 0 {
			m.latency.Observe(max(0, now.Sub(time.UnixMilli(ms)).Seconds()))
		}
	}
	m.lastWrite.Set(float64(now.UnixNano()) / 1e9)
	m.written.Add(float64(len(items)))
	m.mu.Lock()
	m.lastOK, m.lastErr = time.Now(), nil
	m.mu.Unlock()
	m.pending.Set(0)
	if newest > 0 {
		m.lag.Set(time.Since(time.UnixMilli(newest)).Seconds())
	}
	return nil
}

// StuckAfter is how long a write may take before Health reports the mirror
// degraded: a DynamoDB that accepts connections but does not answer
// produces no error until requests time out.
const StuckAfter = 5 * time.Second

// Health reports whether the mirror keeps up; detail says why not.
func (m *Mirror) Health() (ok bool, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cfg.Writer.Healthy() {
		return false, "dynamodb circuit breaker open"
	}
	if !m.writing.IsZero() && time.Since(m.writing) > StuckAfter {
		return false, fmt.Sprintf("dynamodb write in progress for %s", time.Since(m.writing).Round(time.Second))
	}
	if m.lastErr != nil {
		return false, "dynamodb writes failing: " + m.lastErr.Error()
	}
	return true, "ok"
}
