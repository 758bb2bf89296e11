// Package cdc is the edge between Debezium topics and a service's group
// graph: it decodes each record once, counts it, sends what cannot be
// understood to the dead-letter topic with its reason, skips tombstones,
// logs truncates, and hands every change to the service's callback.
//
// Records in the Confluent wire format (io.confluent.connect.avro.
// AvroConverter or io.confluent.connect.json.JsonSchemaConverter: magic
// byte 0, a schema id, then Avro or plain JSON) are told from JSON by their
// first byte; their schemas come from a schema registry (Schemas) and they
// are decoded by debezium.DecodeAvro or DecodeJSONSchema by the schema's
// kind. A schema id the
// registry does not know sends the record to the dead-letter topic; a
// registry that does not answer makes the record wait (see Schemas).
package cdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/deadletter"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/telemetry"
)

// Handler receives one decoded change. An error sends the original record to
// the dead-letter topic with the error as its reason.
type Handler func(ctx goka.Context, m *debezium.Message) error

// Outcomes counted per record.
const (
	OutcomeProcessed  = "processed"
	OutcomeTombstone  = "tombstone"
	OutcomeTruncate   = "truncate"
	OutcomeDeadLetter = "dead_letter"
)

// Metrics counts what the input edge saw: the product's own cdc_* series and,
// beside them, the Python services' consumer_* series (package telemetry).
type Metrics struct {
	Messages   *prometheus.CounterVec // topic, op, outcome
	SourceLag  *prometheus.GaugeVec   // topic: seconds between commit and processing of the latest change
	DeadLetter *prometheus.CounterVec // topic

	Processed *prometheus.CounterVec   // consumer_messages_processed_total: topic
	Failed    *prometheus.CounterVec   // consumer_messages_failed_total: topic, error_type
	Duration  *prometheus.HistogramVec // consumer_processing_duration_seconds: topic
	Latency   *prometheus.HistogramVec // consumer_processing_latency_seconds: topic
	Errors    *prometheus.CounterVec   // consumer_errors_total: error_type

	SchemaRetries *prometheus.CounterVec // topic: schema lookups retried after a transient failure
	SchemaWaiting prometheus.Gauge       // records waiting for the schema registry now
}

// NewMetrics creates and registers the input metrics for a service; with a
// nil reg they count unregistered.
func NewMetrics(reg prometheus.Registerer, service string) *Metrics {
	labels := prometheus.Labels{"service": service}
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdc_messages_total", Help: "CDC records by topic, op and outcome.", ConstLabels: labels,
		}, []string{"topic", "op", "outcome"}),
		SourceLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cdc_source_lag_seconds", Help: "Seconds between a change's commit (source.ts_ms) and its processing, latest per topic.", ConstLabels: labels,
		}, []string{"topic"}),
		DeadLetter: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cdc_dead_letters_total", Help: "Records sent to the dead-letter topic, by source topic.", ConstLabels: labels,
		}, []string{"topic"}),
		Processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_messages_processed_total", Help: "Input CDC records handled without failing (changes, tombstones, truncates).", ConstLabels: labels,
		}, []string{"topic"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "consumer_messages_failed_total", Help: "Input CDC records that failed for good and went to the dead-letter topic, by error_type.", ConstLabels: labels,
		}, []string{"topic", "error_type"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consumer_processing_duration_seconds", Help: "Time to handle one input CDC record (decode and callback).", ConstLabels: labels,
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"topic"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "consumer_processing_latency_seconds", Help: "Time from a change's source commit (source.ts_ms) to its processing.", ConstLabels: labels,
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"topic"}),
	}
	m.SchemaRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cdc_schema_lookup_retries_total", Help: "Schema registry lookups of Confluent-framed records retried after a transient failure (the record waited).", ConstLabels: labels,
	}, []string{"topic"})
	m.SchemaWaiting = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cdc_records_waiting_for_schema", Help: "Records whose partition waits for the schema registry now.", ConstLabels: labels,
	})
	if reg != nil {
		reg.MustRegister(m.Messages, m.SourceLag, m.DeadLetter, m.Processed, m.Failed, m.Duration, m.Latency, m.SchemaRetries, m.SchemaWaiting)
	}
	m.Errors = telemetry.Errors(reg, service)
	return m
}

// inputErrorTypes are the error_type values of failed input records.
var inputErrorTypes = []string{telemetry.ErrorDecode, telemetry.ErrorSchema, telemetry.ErrorWrongTable, telemetry.ErrorInvalid}

// WrongTableError is a handler's error for a row of another table than the
// one its topic carries; it is counted as error_type wrong_table.
type WrongTableError struct {
	Topic string // what the topic carries: "products", "orders", "order_items"
	Table string // the row's table
}

func (e *WrongTableError) Error() string {
	return fmt.Sprintf("%s topic carries a %q row", e.Topic, e.Table)
}

// errorType is the error_type of a record sent to the dead-letter topic.
func errorType(err error) string {
	var de *debezium.DecodeError
	var wt *WrongTableError
	var pe interface{ Permanent() bool }
	switch {
	case errors.As(err, &wt):
		return telemetry.ErrorWrongTable
	case errors.As(err, &pe) && pe.Permanent(): // the record's schema id is unknown or unusable
		return telemetry.ErrorSchema
	case errors.As(err, &de) && de.Field == "topic": // no table in the message, and the topic names none
		return telemetry.ErrorWrongTable
	case errors.As(err, &de) && de.Field == "": // not JSON, not an object
		return telemetry.ErrorDecode
	case errors.As(err, &de):
		return telemetry.ErrorSchema
	default:
		return telemetry.ErrorInvalid
	}
}

// Schemas finds the schema of a Confluent-framed record by its schema
// registry id (internal/registry's client): an Avro writer schema
// (AvroConverter), a JSON Schema (JsonSchemaConverter) or a compiled .proto
// (ProtobufConverter).
//
// An error with a method Permanent() bool that returns true says the id can
// never be resolved (unknown to the registry, or an unusable schema): the
// record goes to the dead-letter topic with the error as its reason. Every
// other error is transient: the record waits, and the lookup is retried
// with backoff inside the callback (its partition stalls, nothing is
// lost) until it succeeds or the partition stops; a record still waiting
// then is released uncommitted (ErrStopped) and read again by whoever
// owns the partition next.
type Schemas interface {
	Schema(ctx context.Context, id int32) (*debezium.RegistrySchema, error)
}

// ErrStopped is wrapped by the error with which a record that was still
// waiting for the schema registry when its partition stopped is released
// uncommitted. Goka reports it as a processing error; the processor's Run
// then returns an error matching it (errors.Is), which at shutdown is no
// failure: the record is read again on the next start.
var ErrStopped = errors.New("stopped while the record waited for the schema registry")

// NoRegistryError is the reason of a Confluent-framed record read without a
// schema registry configured.
type NoRegistryError struct{ ID int32 }

func (e *NoRegistryError) Error() string {
	return fmt.Sprintf("Confluent-framed record (schema id %d) but SCHEMA_REGISTRY_URL is not set", e.ID)
}

// Permanent is true: without a registry the record can never be read.
func (e *NoRegistryError) Permanent() bool { return true }

// InputConfig configures NewInput.
type InputConfig struct {
	Service  string            // the service name, in dead letters' headers
	DLQTopic goka.Stream       // the service's dead-letter topic
	Decoder  *debezium.Decoder // required
	Metrics  *Metrics          // nil: counted, but not registered
	Log      *slog.Logger      // required
	Now      func() time.Time  // for the lag metric; time.Now when nil
	// Schemas resolves the schema ids of Confluent-framed records; nil
	// (no SCHEMA_REGISTRY_URL): such records go to the dead-letter topic.
	Schemas Schemas
	// Backoff is the wait before the n-th retry of a transiently failed
	// schema lookup (internal/app passes sinks/retry's full jitter); a
	// steady second when nil.
	Backoff func(n int) time.Duration
}

// Input builds the input edges of one service's group graph: each CDC
// topic's records are decoded once, counted, and handed to the service's
// callback; what cannot be understood goes to the dead-letter topic.
type Input struct {
	cfg InputConfig
}

// NewInput returns the input of a service.
func NewInput(cfg InputConfig) *Input {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil, cfg.Service)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return time.Second }
	}
	return &Input{cfg: cfg}
}

// Edge returns a Goka input edge for a CDC topic that calls h with each
// decoded change.
func (in *Input) Edge(topic goka.Stream, h Handler) goka.Edge {
	m, t := in.cfg.Metrics, string(topic)
	m.Processed.WithLabelValues(t)
	for _, et := range inputErrorTypes {
		m.Failed.WithLabelValues(t, et)
		m.Errors.WithLabelValues(et)
	}
	m.Latency.WithLabelValues(t)
	duration := m.Duration.WithLabelValues(t)
	return goka.Input(topic, new(codec.Bytes), func(ctx goka.Context, msg interface{}) {
		start := time.Now()
		in.handle(ctx, msg, h)
		duration.Observe(time.Since(start).Seconds())
	})
}

// DefineGroup is goka.DefineGroup for a graph whose inputs include Edges:
// it adds the output edge of the dead-letter topic they send to.
func (in *Input) DefineGroup(group goka.Group, edges ...goka.Edge) *goka.GroupGraph {
	edges = append(edges, goka.Output(in.cfg.DLQTopic, new(codec.Bytes)))
	return goka.DefineGroup(group, edges...)
}

func (in *Input) handle(ctx goka.Context, msg interface{}, h Handler) {
	value, _ := msg.([]byte)
	topic := string(ctx.Topic())
	var m debezium.Message
	var err error
	if len(value) > 0 && value[0] == confluent.Magic { // never the first byte of JSON
		var stopped bool
		if m, stopped, err = in.decodeFramed(ctx, topic, value); stopped {
			return
		}
	} else {
		m, err = in.cfg.Decoder.Decode(topic, []byte(ctx.Key()), value)
		if err != nil {
			err = fmt.Errorf("decode: %w", err)
		}
	}
	if err != nil {
		in.deadLetter(ctx, value, err)
		return
	}
	switch m.Kind {
	case debezium.KindTombstone:
		in.count(topic, "", OutcomeTombstone)
		return
	case debezium.KindTruncate:
		in.count(topic, m.Op.String(), OutcomeTruncate)
		in.cfg.Log.Warn("truncate seen; state is kept (rows are removed only by their own delete events)",
			"topic", topic, "partition", ctx.Partition(), "offset", ctx.Offset())
		return
	}
	if err := h(ctx, &m); err != nil {
		in.deadLetter(ctx, value, err)
		return
	}
	in.count(topic, m.Op.String(), OutcomeProcessed)
	if m.Pos.TsMs > 0 {
		lag := in.cfg.Now().Sub(time.UnixMilli(m.Pos.TsMs)).Seconds()
		in.cfg.Metrics.SourceLag.WithLabelValues(topic).Set(lag)
		in.cfg.Metrics.Latency.WithLabelValues(topic).Observe(lag)
	}
}

// count counts a record by its outcome; all but dead letters are processed.
func (in *Input) count(topic, op, outcome string) {
	in.cfg.Metrics.Messages.WithLabelValues(topic, op, outcome).Inc()
	if outcome != OutcomeDeadLetter {
		in.cfg.Metrics.Processed.WithLabelValues(topic).Inc()
	}
}

// deadLetter sends the record being processed to the dead-letter topic with
// the headers of the contract (package codecs/deadletter).
func (in *Input) deadLetter(ctx goka.Context, value []byte, reason error) {
	topic := string(ctx.Topic())
	headers := deadletter.For(ctx, in.cfg.Service, reason).Goka()
	ctx.Emit(in.cfg.DLQTopic, ctx.Key(), value, goka.WithCtxEmitHeaders(headers))
	in.count(topic, "", OutcomeDeadLetter)
	in.cfg.Metrics.DeadLetter.WithLabelValues(topic).Inc()
	et := errorType(reason)
	in.cfg.Metrics.Failed.WithLabelValues(topic, et).Inc()
	in.cfg.Metrics.Errors.WithLabelValues(et).Inc()
	in.cfg.Log.Error("record sent to dead-letter topic", "dlq", string(in.cfg.DLQTopic), "topic", topic,
		"partition", ctx.Partition(), "offset", ctx.Offset(), "error", reason)
}

// decodeFramed decodes a record whose value starts with the Confluent magic
// byte: it looks up the value's schema (and the key's, when the key is
// framed too) and decodes the payloads by the schema's kind: Avro, plain
// JSON read with its JSON Schema, or Protobuf (the message indexes after the
// schema id select the message of the schema). A value too short to be
// framed is read as JSON (and fails as such). stopped reports that the
// partition stopped while the record waited for the registry: the record
// has been released uncommitted and must not be handled further.
func (in *Input) decodeFramed(ctx goka.Context, topic string, value []byte) (m debezium.Message, stopped bool, err error) {
	key := []byte(ctx.Key())
	id, payload, ok := confluent.Split(value)
	if !ok {
		m, err = in.cfg.Decoder.Decode(topic, key, value)
		if err != nil {
			err = fmt.Errorf("decode: %w", err)
		}
		return m, false, err
	}
	if in.cfg.Schemas == nil {
		return m, false, &NoRegistryError{ID: id}
	}
	valueSchema, stopped, err := in.schema(ctx, topic, id)
	if stopped || err != nil {
		return m, stopped, err
	}
	var keySchema *debezium.RegistrySchema
	if kid, kp, framed := confluent.Split(key); framed {
		if keySchema, stopped, err = in.schema(ctx, topic, kid); stopped {
			return m, true, nil
		}
		if err != nil {
			return m, false, fmt.Errorf("key: %w", err)
		}
		key = kp
	}
	if valueSchema == nil {
		valueSchema = &debezium.RegistrySchema{}
	}
	if valueSchema.JSON != nil { // JsonSchemaConverter: plain JSON after the framing
		if keySchema != nil && (keySchema.Avro != nil || keySchema.Protobuf != nil) {
			return m, false, fmt.Errorf("schema id %d: a %s key with a JSON Schema value is not supported", id, keySchema.Kind())
		}
		var ks *debezium.JSONSchema
		if keySchema != nil {
			ks = keySchema.JSON
		}
		m, err = in.cfg.Decoder.DecodeJSONSchema(topic, key, ks, payload, valueSchema.JSON)
		if err != nil {
			return m, false, fmt.Errorf("decode json schema (schema id %d): %w", id, err)
		}
		return m, false, nil
	}
	if valueSchema.Protobuf != nil { // ProtobufConverter: message indexes, then the message
		return in.decodeProtobuf(topic, id, key, keySchema, payload, valueSchema.Protobuf)
	}
	if keySchema != nil && keySchema.Protobuf != nil {
		return m, false, fmt.Errorf("schema id %d: a Protobuf key with an Avro value is not supported", id)
	}
	var ks *debezium.AvroSchema
	if keySchema != nil {
		ks = keySchema.Avro // nil for a JSON Schema key: its payload is JSON
	}
	m, err = in.cfg.Decoder.DecodeAvro(topic, key, ks, payload, valueSchema.Avro)
	if err != nil {
		return m, false, fmt.Errorf("decode avro (schema id %d): %w", id, err)
	}
	return m, false, nil
}

// schema looks id up, waiting while the registry fails transiently (the
// callback, and so the partition, waits; retried with backoff). It returns
// a permanent error as it is; when the partition stops first, it releases
// the record uncommitted and reports stopped.
func (in *Input) schema(ctx goka.Context, topic string, id int32) (s *debezium.RegistrySchema, stopped bool, err error) {
	cctx := ctx.Context()
	var waitingSince time.Time
	var lastLog time.Time
	defer func() {
		if !waitingSince.IsZero() {
			in.cfg.Metrics.SchemaWaiting.Dec()
			if !stopped {
				in.cfg.Log.Info("schema registry lookup succeeded after waiting", "topic", topic, "partition", ctx.Partition(),
					"offset", ctx.Offset(), "schema_id", id, "waited", time.Since(waitingSince).Round(time.Millisecond))
			}
		}
	}()
	for n := 1; ; n++ {
		s, err := in.cfg.Schemas.Schema(cctx, id)
		if err == nil {
			return s, false, nil
		}
		var pe interface{ Permanent() bool }
		if errors.As(err, &pe) && pe.Permanent() {
			return nil, false, err
		}
		if cctx.Err() == nil {
			if waitingSince.IsZero() {
				waitingSince = time.Now()
				in.cfg.Metrics.SchemaWaiting.Inc()
			}
			if time.Since(lastLog) >= 30*time.Second {
				lastLog = time.Now()
				in.cfg.Log.Warn("record waits for the schema registry (retrying; nothing is skipped)", "topic", topic,
					"partition", ctx.Partition(), "offset", ctx.Offset(), "schema_id", id, "attempt", n, "error", err)
			}
			in.cfg.Metrics.SchemaRetries.WithLabelValues(topic).Inc()
			t := time.NewTimer(in.cfg.Backoff(n))
			select {
			case <-t.C:
				continue
			case <-cctx.Done():
				t.Stop()
			}
		}
		// The partition stops (shutdown, rebalance): leave the record
		// uncommitted for the next owner of the partition.
		in.cfg.Log.Warn("partition stopped while a record waited for the schema registry; left uncommitted",
			"topic", topic, "partition", ctx.Partition(), "offset", ctx.Offset(), "schema_id", id, "error", err)
		ctx.DeferCommit()(fmt.Errorf("%w: %s/%d offset %d, schema id %d: %v", ErrStopped, topic, ctx.Partition(), ctx.Offset(), id, err))
		return nil, true, nil
	}
}

// decodeProtobuf decodes a ProtobufConverter record: the value's message
// indexes select its message in the schema; a framed key is Protobuf too
// (its own indexes), an unframed key is read as JSON. An empty value after
// the framing is a tombstone.
func (in *Input) decodeProtobuf(topic string, id int32, key []byte, keySchema *debezium.RegistrySchema, payload []byte, vs *debezium.ProtobufSchema) (m debezium.Message, stopped bool, err error) {
	var ks *debezium.ProtobufSchema
	if keySchema != nil {
		if keySchema.Protobuf == nil {
			return m, false, fmt.Errorf("schema id %d: a %s key with a Protobuf value is not supported", id, keySchema.Kind())
		}
		kidx, kmsg, kerr := confluent.SplitProtobuf(key)
		if kerr != nil {
			return m, false, fmt.Errorf("key: %w", kerr)
		}
		if ks, err = keySchema.Protobuf.Select(kidx); err != nil {
			return m, false, fmt.Errorf("key: %w", err)
		}
		key = kmsg
	}
	var msg []byte
	if len(payload) > 0 {
		idx, rest, ierr := confluent.SplitProtobuf(payload)
		if ierr != nil {
			return m, false, fmt.Errorf("decode protobuf (schema id %d): %w", id, ierr)
		}
		if vs, err = vs.Select(idx); err != nil {
			return m, false, fmt.Errorf("decode protobuf (schema id %d): %w", id, err)
		}
		msg = rest
	}
	m, err = in.cfg.Decoder.DecodeProtobuf(topic, key, ks, msg, vs)
	if err != nil {
		return m, false, fmt.Errorf("decode protobuf (schema id %d): %w", id, err)
	}
	return m, false, nil
}
