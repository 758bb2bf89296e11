package dynamo

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	kindPut    = "put"
	kindDelete = "delete"
)

// metrics are one Writer's collectors, labelled sink=<Name>, table=<Table>.
type metrics struct {
	items       *prometheus.CounterVec // by kind
	coalesced   prometheus.Counter
	requests    prometheus.Counter
	retries     prometheus.Counter
	unprocessed prometheus.Counter
	breaker     prometheus.Gauge
	latency     prometheus.Histogram
	errors      *prometheus.CounterVec // by class
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
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.items, m.coalesced, m.requests, m.retries, m.unprocessed, m.breaker, m.latency, m.errors}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("a writer with sink=" + name + " table=" + table + " is already registered")
			}
			return nil, err
		}
	}
	return m, nil
}
