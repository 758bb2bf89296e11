// Package search keeps one search document per product in a Goka group
// table, from the products change stream: the latest name, description,
// price (integer cents) and stock of every live product, and a tombstone for
// every deleted one. The inverted index is not stored: views/search derives
// it from the table (Tokenize, Tokens), and sinks/mirror copies the table to
// the product-search-index DynamoDB table.
//
// The graph: the CDC input re-keys each change by the product id onto the
// group's loopback topic, where the product's document applies it exactly
// once (connector redelivery is recognised by commit position).
//
//	products ──decode──▶ loop <id> ──▶ Doc (group table)
//	(undecodable records ─▶ dead-letter topic)
package search

import (
	"fmt"
	"log/slog"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// Config configures the search-indexer group graph.
type Config struct {
	Group         goka.Group  // KAFKA_GROUP_ID
	ProductsTopic goka.Stream // the products topic of KAFKA_TOPICS
	Input         *cdc.Input
	Metrics       *Metrics // nil: counted, but not registered
	Log           *slog.Logger
}

// Table is the group table of a group; its values are *Doc (DocCodec).
func Table(group goka.Group) goka.Table { return goka.GroupTable(group) }

// Define returns the group graph.
func Define(cfg Config) *goka.GroupGraph {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	p := &processor{cfg: cfg}
	return cfg.Input.DefineGroup(cfg.Group,
		cfg.Input.Edge(cfg.ProductsTopic, p.rekey),
		goka.Loop(new(codec.Bytes), p.onLoop),
		goka.Persist(DocCodec{}),
	)
}

// Metrics counts the indexer's decisions.
type Metrics struct {
	Applied    *prometheus.CounterVec // op: r, c, u, d
	Duplicates prometheus.Counter
	Unresolved prometheus.Counter
}

// NewMetrics creates and registers the search-indexer metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "search_changes_applied_total",
			Help: "Product changes applied to search documents, by op."}, []string{"op"}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "search_duplicates_total",
			Help: "Product changes recognised as already applied (connector redelivery) or older than the document."}),
		Unresolved: prometheus.NewCounter(prometheus.CounterOpts{Name: "search_unchanged_toast_unresolved_total",
			Help: "Product changes that left a TOASTed column unchanged (unavailable-value placeholder) with no earlier version to take it from."}),
	}
	if reg != nil {
		reg.MustRegister(m.Applied, m.Duplicates, m.Unresolved)
	}
	return m
}

type processor struct{ cfg Config }

func (p *processor) rekey(ctx goka.Context, m *debezium.Message) error {
	if m.Table != debezium.TableProducts {
		return &cdc.WrongTableError{Topic: "products", Table: m.Table}
	}
	if m.ID <= 0 {
		return fmt.Errorf("product change without a positive id (got %d)", m.ID)
	}
	ctx.Loopback(Key(m.ID), changeEvent(m))
	return nil
}

func (p *processor) onLoop(ctx goka.Context, msg interface{}) {
	b, _ := msg.([]byte)
	ev, err := decodeEvent(b)
	if err != nil {
		ctx.Fail(fmt.Errorf("key %q: %w", ctx.Key(), err))
		return
	}
	m := p.cfg.Metrics
	out := delivery.Update(ctx, newDoc, 0, func(d *Doc, _ *delivery.Emitter) bool {
		applied, unresolved := applyChange(d, ev)
		if applied && unresolved {
			p.cfg.Log.Warn("a product change left a TOASTed column unchanged, but no earlier version of the product is known; it is indexed empty",
				"key", ctx.Key(), "position", ev.pos.String())
			m.Unresolved.Inc()
		}
		return applied
	})
	switch out {
	case delivery.Changed:
		m.Applied.WithLabelValues(ev.op.String()).Inc()
	case delivery.Duplicate:
		m.Duplicates.Inc()
		p.cfg.Log.Debug("duplicate or stale product change ignored", "key", ctx.Key(), "position", ev.pos.String(), "op", ev.op.String())
	}
}

func newDoc() *Doc { return new(Doc) }
