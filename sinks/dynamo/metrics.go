package dynamo

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/telemetry"
)

const (
	kindPut    = "put"
	kindDelete = "delete"
)

// metrics are one Writer's collectors, labelled sink=<Name>, table=<Table>,
// and beside them the Python services' consumer_dynamodb_* series, labelled
// service=<Name>, table=<Table> (package telemetry).
type metrics struct {
	items       *prometheus.CounterVec // by kind
	coalesced   prometheus.Counter
	requests    prometheus.Counter
	retries     prometheus.Counter
	unprocessed prometheus.Counter
	breaker     prometheus.Gauge
	latency     prometheus.Histogram
	errors      *prometheus.CounterVec // by class

	pyWrites   prometheus.Counter     // consumer_dynamodb_writes_total: items written
	pyErrors   *prometheus.CounterVec // consumer_dynamodb_errors_total: by error_type (the class)
	pyDuration prometheus.Observer    // consumer_dynamodb_write_duration_seconds: per request
	allErrors  prometheus.Counter     // consumer_errors_total{error_type="dynamodb"}
}

// written counts items DynamoDB accepted.
func (m *metrics) written(puts, dels int) {
	m.items.WithLabelValues(kindPut).Add(float64(puts))
	m.items.WithLabelValues(kindDelete).Add(float64(dels))
	m.pyWrites.Add(float64(puts + dels))
}

// failed counts a failed request or rejected item of class.
func (m *metrics) failed(class string) {
	m.errors.WithLabelValues(class).Inc()
	m.pyErrors.WithLabelValues(class).Inc()
	m.allErrors.Inc()
}

// sent counts a BatchWriteItem request that took seconds.
func (m *metrics) sent(seconds float64) {
	m.latency.Observe(seconds)
	m.pyDuration.Observe(seconds)
	m.requests.Inc()
}

func newMetrics(name, table string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"sink": name, "table": table}
	const ns, sub = "dynamodb", "writer"
	m := &metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "items_written_total",
			Help: "Items written to DynamoDB, by kind (put, delete).", ConstLabels: labels}, []string{"kind"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "items_coalesced_total",
			Help: "Items not written because a newer state of the same key was in the same Write.", ConstLabels: labels}),
		requests: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "BatchWriteItem requests sent.", ConstLabels: labels}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "BatchWriteItem requests retried after an error or unprocessed items.", ConstLabels: labels}),
		unprocessed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "unprocessed_items_total",
			Help: "Items DynamoDB returned as unprocessed, to be retried.", ConstLabels: labels}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ConstLabels: labels}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help: "BatchWriteItem request latency.", ConstLabels: labels,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total",
			Help: "Failed requests and rejected items, by class.", ConstLabels: labels}, []string{"class"}),
	}
	for _, k := range []string{kindPut, kindDelete} {
		m.items.WithLabelValues(k)
	}
	for _, c := range errorClasses {
		m.errors.WithLabelValues(c)
	}
	if err := m.registerOwn(reg, name, table); err != nil {
		return nil, err
	}
	py := prometheus.Labels{"service": name, "table": table}
	m.pyWrites = telemetry.Shared(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "consumer_dynamodb_writes_total",
		Help: "Items written to DynamoDB (puts and deletes).", ConstLabels: py}))
	m.pyErrors = telemetry.Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: "consumer_dynamodb_errors_total",
		Help: "Failed DynamoDB requests and rejected items, by error_type.", ConstLabels: py}, []string{"error_type"}))
	m.pyDuration = telemetry.Shared(reg, prometheus.NewHistogram(prometheus.HistogramOpts{Name: "consumer_dynamodb_write_duration_seconds",
		Help: "Duration of one DynamoDB write request (BatchWriteItem of up to 25 items).", ConstLabels: py,
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}))
	for _, c := range errorClasses {
		m.pyErrors.WithLabelValues(c)
	}
	m.allErrors = telemetry.Errors(reg, name).WithLabelValues(telemetry.ErrorDynamoDB)
	return m, nil
}

// registerOwn registers the Writer's own collectors on reg (none when nil);
// a second Writer with the same Name and Table is an error.
func (m *metrics) registerOwn(reg prometheus.Registerer, name, table string) error {
	if reg == nil {
		return nil
	}
	cs := []prometheus.Collector{m.items, m.coalesced, m.requests, m.retries, m.unprocessed, m.breaker, m.latency, m.errors}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return errors.New("a writer with sink=" + name + " table=" + table + " is already registered")
			}
			return err
		}
	}
	return nil
}
