// Package cdc is the edge between Debezium topics and a service's group
// graph: it decodes each record once, counts it, sends what cannot be
// understood to the dead-letter topic with its reason, skips tombstones,
// logs truncates, and hands every change to the service's callback.
package cdc

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/debezium"
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

// Metrics counts what the input edge saw.
type Metrics struct {
	Messages   *prometheus.CounterVec // topic, op, outcome
	SourceLag  *prometheus.GaugeVec   // topic: seconds between commit and processing of the latest change
	DeadLetter *prometheus.CounterVec // topic
}

// NewMetrics creates and registers the input metrics for a service.
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
	}
	if reg != nil {
		reg.MustRegister(m.Messages, m.SourceLag, m.DeadLetter)
	}
	return m
}

// Input builds the input edges of one service.
type Input struct {
	Service  string
	DLQTopic goka.Stream
	Decoder  *debezium.Decoder
	Metrics  *Metrics
	Log      *slog.Logger
	Now      func() time.Time // for the lag metric; time.Now when nil
}

// Edge returns a Goka input edge for a CDC topic that calls h with each
// decoded change.
func (in *Input) Edge(topic goka.Stream, h Handler) goka.Edge {
	return goka.Input(topic, new(codec.Bytes), func(ctx goka.Context, msg interface{}) {
		in.handle(ctx, msg, h)
	})
}

// DeadLetterEdge returns the output edge of the dead-letter topic; a group
// graph using Edge must include it.
func (in *Input) DeadLetterEdge() goka.Edge {
	return goka.Output(in.DLQTopic, new(codec.Bytes))
}

func (in *Input) handle(ctx goka.Context, msg interface{}, h Handler) {
	value, _ := msg.([]byte)
	topic := string(ctx.Topic())
	m, err := in.Decoder.Decode(topic, []byte(ctx.Key()), value)
	if err != nil {
		in.DeadLetter(ctx, value, fmt.Errorf("decode: %w", err))
		return
	}
	switch m.Kind {
	case debezium.KindTombstone:
		in.count(topic, "", OutcomeTombstone)
		return
	case debezium.KindTruncate:
		in.count(topic, m.Op.String(), OutcomeTruncate)
		in.Log.Warn("truncate seen; state is kept (rows are removed only by their own delete events)",
			"topic", topic, "partition", ctx.Partition(), "offset", ctx.Offset())
		return
	}
	if err := h(ctx, &m); err != nil {
		in.DeadLetter(ctx, value, err)
		return
	}
	in.count(topic, m.Op.String(), OutcomeProcessed)
	if m.Pos.TsMs > 0 && in.Metrics != nil {
		now := time.Now
		if in.Now != nil {
			now = in.Now
		}
		lag := now().Sub(time.UnixMilli(m.Pos.TsMs)).Seconds()
		in.Metrics.SourceLag.WithLabelValues(topic).Set(lag)
	}
}

func (in *Input) count(topic, op, outcome string) {
	if in.Metrics != nil {
		in.Metrics.Messages.WithLabelValues(topic, op, outcome).Inc()
	}
}

// DeadLetter sends the record being processed to the dead-letter topic with
// the headers of the contract: error, source_topic, source_partition,
// source_offset, service.
func (in *Input) DeadLetter(ctx goka.Context, value []byte, reason error) {
	topic := string(ctx.Topic())
	headers := goka.Headers{
		"error":            []byte(reason.Error()),
		"source_topic":     []byte(topic),
		"source_partition": []byte(strconv.FormatInt(int64(ctx.Partition()), 10)),
		"source_offset":    []byte(strconv.FormatInt(ctx.Offset(), 10)),
		"service":          []byte(in.Service),
		// Not in the contract: lets the S3 archive key a dead letter by its
		// source record, so reprocessing after a crash overwrites it.
		"source_timestamp": []byte(strconv.FormatInt(ctx.Timestamp().UnixMilli(), 10)),
	}
	ctx.Emit(in.DLQTopic, ctx.Key(), value, goka.WithCtxEmitHeaders(headers))
	in.count(topic, "", OutcomeDeadLetter)
	if in.Metrics != nil {
		in.Metrics.DeadLetter.WithLabelValues(topic).Inc()
	}
	in.Log.Error("record sent to dead-letter topic", "dlq", string(in.DLQTopic), "topic", topic,
		"partition", ctx.Partition(), "offset", ctx.Offset(), "error", reason)
}
