// Package cdc is the edge between Debezium topics and a service's group
// graph: it decodes each record once, counts it, sends what cannot be
// understood to the dead-letter topic with its reason, skips tombstones,
// logs truncates, and hands every change to the service's callback.
package cdc

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

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
	if reg != nil {
		reg.MustRegister(m.Messages, m.SourceLag, m.DeadLetter, m.Processed, m.Failed, m.Duration, m.Latency)
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
	switch {
	case errors.As(err, &wt):
		return telemetry.ErrorWrongTable
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

// InputConfig configures NewInput.
type InputConfig struct {
	Service  string            // the service name, in dead letters' headers
	DLQTopic goka.Stream       // the service's dead-letter topic
	Decoder  *debezium.Decoder // required
	Metrics  *Metrics          // nil: counted, but not registered
	Log      *slog.Logger      // required
	Now      func() time.Time  // for the lag metric; time.Now when nil
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
	m, err := in.cfg.Decoder.Decode(topic, []byte(ctx.Key()), value)
	if err != nil {
		in.deadLetter(ctx, value, fmt.Errorf("decode: %w", err))
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
