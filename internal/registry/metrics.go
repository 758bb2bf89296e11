package registry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/telemetry"
)

// metrics are one client's collectors, labelled service=<Service>, and its
// share of consumer_errors_total (error_type schema_registry: requests that
// failed for a transient reason).
type metrics struct {
	requests  prometheus.Counter
	lookups   *prometheus.CounterVec // by source: cache, registry, shared
	errors    *prometheus.CounterVec // by class
	cached    prometheus.Gauge
	breaker   prometheus.Gauge
	latency   prometheus.Histogram
	allErrors prometheus.Counter
}

func newMetrics(service string, reg prometheus.Registerer) (*metrics, error) {
	labels := prometheus.Labels{"service": service}
	const ns = "schema_registry"
	m := &metrics{
		requests: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "requests_total",
			Help: "HTTP requests sent to the schema registry (GET /schemas/ids/{id}).", ConstLabels: labels}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "lookups_total",
			Help: "Schema lookups by id, by source: cache, registry (a request), shared (waited for another lookup's request).", ConstLabels: labels}, []string{"source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "errors_total",
			Help: "Failed schema registry requests and unusable schemas, by class (not_found and invalid_schema are permanent; the others make records wait).", ConstLabels: labels}, []string{"class"}),
		cached: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "cached_schemas",
			Help: "Schemas in the client's cache.", ConstLabels: labels}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "breaker_state",
			Help: "Circuit breaker state: 0 closed, 1 half-open, 2 open.", ConstLabels: labels}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "request_duration_seconds",
			Help: "Schema registry request latency.", ConstLabels: labels,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
	}
	for _, s := range []string{"cache", "registry", "shared"} {
		m.lookups.WithLabelValues(s)
	}
	for _, c := range classes {
		m.errors.WithLabelValues(c)
	}
	if reg != nil {
		cs := []prometheus.Collector{m.requests, m.lookups, m.errors, m.cached, m.breaker, m.latency}
		for i, c := range cs {
			if err := reg.Register(c); err != nil {
				for _, done := range cs[:i] {
					reg.Unregister(done)
				}
				var are prometheus.AlreadyRegisteredError
				if errors.As(err, &are) {
					return nil, errors.New("a schema registry client with service=" + service + " is already registered")
				}
				return nil, err
			}
		}
	}
	m.allErrors = telemetry.Errors(reg, service).WithLabelValues(telemetry.ErrorSchemaRegistry)
	return m, nil
}
