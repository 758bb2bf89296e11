// Package telemetry is what the services' metrics share across packages:
// Shared, which registers a collector once per registry and hands every
// later caller the one registered, and consumer_errors_total, the Python
// services' count of every failure, which the input edge (processors/cdc)
// and the sinks (sinks/dynamo, sinks/s3put) all add to.
//
// The Python services' metric family (consumer_*) is exported beside the
// product's own names, with the same names, labels and meaning, so that
// their dashboards and alert rules keep working: each package defines the
// members it measures (processors/cdc the input side, sinks/dynamo and
// sinks/s3put the writes, internal/kafka consumer_lag).
package telemetry

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Shared registers c on reg and returns it; when a collector with the same
// descriptors is registered already (another part of the service, or
// another service of the same process, measuring the same thing), it
// returns that one instead, so both count into one series. With a nil reg
// c is returned unregistered: it counts, and nothing exports it. Any other
// registration error (a name reused with other labels or help) is a bug and
// panics, as MustRegister does.
func Shared[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err)
}

// Error types of consumer_errors_total (and of consumer_messages_failed_total
// for the input ones): a small fixed set.
const (
	ErrorDecode     = "decode"      // the value is not JSON (or not a JSON object)
	ErrorSchema     = "schema"      // JSON, but a field is missing or has the wrong type or form
	ErrorWrongTable = "wrong_table" // a row of another table than the topic's
	ErrorInvalid    = "invalid"     // decoded, but the service rejects the change (e.g. no row image)
	ErrorDynamoDB   = "dynamodb"    // a failed DynamoDB request or rejected item
	ErrorS3         = "s3"          // a failed S3 put attempt
	// ErrorSchemaRegistry is a schema registry request that failed for a
	// transient reason (no answer, 5xx, 429, auth): the record waits.
	ErrorSchemaRegistry = "schema_registry"
)

// Errors is consumer_errors_total of service: every failure, by error_type
// (failed input records and sink errors alike). Every caller with the same
// reg and service gets the same counter.
func Errors(reg prometheus.Registerer, service string) *prometheus.CounterVec {
	return Shared(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "consumer_errors_total",
		Help:        "Every failure, by error_type: failed input records (decode, schema, wrong_table, invalid) and sink errors (dynamodb, s3), schema registry requests that failed (schema_registry).",
		ConstLabels: prometheus.Labels{"service": service},
	}, []string{"error_type"}))
}
