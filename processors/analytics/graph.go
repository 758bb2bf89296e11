// Package analytics keeps the shop's sales figures in a Goka group table,
// from the orders and order_items change streams: daily sales, product
// sales, customer metrics, the order status distribution and 5-minute
// windows of order creation time, always over the current state of all
// orders and lines.
//
// The graph: the two CDC inputs re-key each change by its entity onto the
// group's loopback topic. An order's state turns each of its changes into
// deltas for its day, customer, status and window (the old contribution
// withdrawn, the new one added); an order line's state turns each of its
// changes into deltas for its product and its order's item count, and an
// order passes a change of its item count on to its window. Aggregates
// only add up the deltas they receive.
//
//	orders ──decode──▶ loop o/<id> ─▶ Order ─delta─▶ loop d/<day>, c/<customer>, s/<status>, w/<window>
//	order_items ─decode─▶ loop l/<id> ─▶ Line ─delta─▶ loop p/<product> ─▶ ProductSales
//	                                         └─items─▶ loop o/<order> ─▶ Order ─items─▶ loop w/<window>
//	(undecodable records ─▶ dead-letter topic)
//
// Exactly-once effects come from package delivery: Applied rejects the
// connector's redeliveries at the order and line, Outbox/Replay re-emits a
// reprocessed message's deltas identically, and Marks at every receiver of
// deltas drops the copies.
package analytics

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

// How many callbacks' emits an entity remembers for replay after a crash.
// An order emits on its own changes and on every change of its lines.
const (
	orderOutboxKeep = 8
	lineOutboxKeep  = 4
)

// Config configures the analytics group graph.
type Config struct {
	Group       goka.Group
	OrdersTopic goka.Stream
	ItemsTopic  goka.Stream
	Input       *cdc.Input
	Metrics     *Metrics // nil: counted, but not registered
	Log         *slog.Logger
}

// Table is the group table of a group.
func Table(group goka.Group) goka.Table { return goka.GroupTable(group) }

// Define returns the group graph.
func Define(cfg Config) *goka.GroupGraph {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	p := &processor{cfg: cfg}
	return cfg.Input.DefineGroup(cfg.Group,
		cfg.Input.Edge(cfg.OrdersTopic, p.rekeyOrder),
		cfg.Input.Edge(cfg.ItemsTopic, p.rekeyLine),
		goka.Loop(new(codec.Bytes), p.onLoop),
		goka.Persist(TableCodec{}),
	)
}

// Metrics counts the analytics' decisions.
type Metrics struct {
	Duplicates *prometheus.CounterVec // kind: order, line, delta
	Deltas     *prometheus.CounterVec // kind: daily, product, customer, status, window, order
}

// NewMetrics creates and registers the analytics metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_duplicates_total",
			Help: "Changes and deltas recognised as already applied."}, []string{"kind"}),
		Deltas: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_deltas_emitted_total",
			Help: "Deltas sent on the loopback topic, by receiving entity."}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.Duplicates, m.Deltas)
	}
	return m
}

type processor struct{ cfg Config }

func (p *processor) rekeyOrder(ctx goka.Context, m *debezium.Message) error {
	if m.Table != debezium.TableOrders {
		return &cdc.WrongTableError{Topic: "orders", Table: m.Table}
	}
	if m.Op != debezium.OpDelete && m.AfterOrder == nil {
		return fmt.Errorf("order %d: op %s without a row image", m.ID, m.Op)
	}
	ctx.Loopback(OrderKey(m.ID), orderEvent(m))
	return nil
}

func (p *processor) rekeyLine(ctx goka.Context, m *debezium.Message) error {
	if m.Table != debezium.TableOrderItems {
		return &cdc.WrongTableError{Topic: "order_items", Table: m.Table}
	}
	if m.Op != debezium.OpDelete && m.AfterItem == nil {
		return fmt.Errorf("order line %d: op %s without a row image", m.ID, m.Op)
	}
	ctx.Loopback(LineKey(m.ID), lineEvent(m))
	return nil
}

func (p *processor) onLoop(ctx goka.Context, msg interface{}) {
	b, _ := msg.([]byte)
	ev, err := decodeEvent(b)
	if err != nil {
		ctx.Fail(fmt.Errorf("key %q: %w", ctx.Key(), err))
		return
	}
	k, _, ok := kindOf(ctx.Key())
	switch {
	case ok && k.prefix == OrderPrefix && (ev.kind == evOrder || ev.kind == evDelta):
		p.onOrder(ctx, ev)
	case ok && k.prefix == LinePrefix && ev.kind == evLine:
		p.onLine(ctx, ev)
	case ok && k.aggregate && ev.kind == evDelta:
		p.onAggregate(ctx, k, ev)
	default:
		ctx.Fail(fmt.Errorf("key %q: loop event of kind %d has no receiver", ctx.Key(), ev.kind))
	}
}

// onOrder applies an order's change, or a change of its lines' quantity,
// and passes the differences on to its aggregates.
func (p *processor) onOrder(ctx goka.Context, ev event) {
	out := delivery.Update(ctx, newOrder, orderOutboxKeep, func(o *Order, em *delivery.Emitter) bool {
		var ds deltas
		switch ev.kind {
		case evOrder:
			d, ok := applyOrder(o, ev)
			if !ok {
				return false
			}
			ds = d
		case evDelta:
			if !o.Marks.Admit(ev.origin) {
				return false
			}
			ds = applyOrderItems(o, ev.delta)
		}
		p.emit(em, ds)
		return true
	})
	if out == delivery.Duplicate {
		if ev.kind == evDelta {
			p.cfg.Metrics.Duplicates.WithLabelValues("delta").Inc()
		} else {
			p.cfg.Metrics.Duplicates.WithLabelValues("order").Inc()
		}
	}
}

// onLine applies an order line's change and passes the differences on to
// its product and its order.
func (p *processor) onLine(ctx goka.Context, ev event) {
	out := delivery.Update(ctx, newLine, lineOutboxKeep, func(l *Line, em *delivery.Emitter) bool {
		ds, ok := applyLine(l, ev)
		if ok {
			p.emit(em, ds)
		}
		return ok
	})
	if out == delivery.Duplicate {
		p.cfg.Metrics.Duplicates.WithLabelValues("line").Inc()
	}
}

// onAggregate adds a delta to an aggregate of kind k.
func (p *processor) onAggregate(ctx goka.Context, k *kind, ev event) {
	fresh := func() aggregate { return k.state.New().(aggregate) }
	out := delivery.Update(ctx, fresh, 0, func(a aggregate, _ *delivery.Emitter) bool {
		if !a.marks().Admit(ev.origin) {
			return false
		}
		a.add(ev.delta)
		return true
	})
	if out == delivery.Duplicate {
		p.cfg.Metrics.Duplicates.WithLabelValues("delta").Inc()
	}
}

// emit sends deltas on the loopback, each tagged with its origin.
func (p *processor) emit(em *delivery.Emitter, out deltas) {
	for _, d := range out {
		em.Loopback(d.key, deltaEvent(em.Origin(), d.delta))
		name := "unknown"
		if k, _, ok := kindOf(d.key); ok {
			name = k.state.Name
		}
		p.cfg.Metrics.Deltas.WithLabelValues(name).Inc()
	}
}

func newOrder() *Order { return new(Order) }
func newLine() *Line   { return new(Line) }
