// Package analytics keeps the shop's orders and order lines in a Goka
// group table, from the orders and order_items change streams, and
// defines the sales figures over them (Figures): daily sales, product
// sales, customer metrics, the order status distribution and 5-minute
// windows of order creation time, always over the current state of all
// orders and lines.
//
// The graph: the two CDC inputs re-key each change by its entity onto the
// group's loopback topic; an order absorbs its changes, a line its
// changes and passes the change of its quantity on to its order (whose
// window counts its items). That is one table write per order change and
// two per line change.
//
//	orders ──decode──▶ loop o/<id> ─▶ Order
//	order_items ─decode─▶ loop l/<id> ─▶ Line ─items─▶ loop o/<order> ─▶ Order
//	(undecodable records ─▶ dead-letter topic)
//
// No entity holds an aggregate: the figures are a function of the orders
// and lines, which a view folds per partition as the changelog brings them
// and sums when read (views/analytics). Nothing that every order touches
// (a day, a status, a window) is a key, so no partition is hot.
//
// Exactly-once effects come from package delivery: Applied rejects the
// connector's redeliveries at the order and line, Outbox/Replay re-emits a
// reprocessed line change's item change identically, and Marks at the
// order drops the copies.
package analytics

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// How many callbacks' emits a line remembers for replay after a crash.
const lineOutboxKeep = 4

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
	Deltas     *prometheus.CounterVec // kind: order
	Retired    prometheus.Counter
}

// NewMetrics creates and registers the analytics metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_duplicates_total",
			Help: "Changes and deltas recognised as already applied."}, []string{"kind"}),
		Deltas: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "analytics_deltas_emitted_total",
			Help: "Deltas sent on the loopback topic, by receiving entity."}, []string{"kind"}),
		Retired: prometheus.NewCounter(prometheus.CounterOpts{Name: "analytics_retired_deltas_total",
			Help: "Deltas of the first release to an aggregate key, which no longer exists: the key is deleted."}),
	}
	if reg != nil {
		reg.MustRegister(m.Duplicates, m.Deltas, m.Retired)
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
	key := ctx.Key()
	switch {
	case strings.HasPrefix(key, OrderPrefix) && (ev.kind == evOrder || ev.kind == evDelta):
		p.onOrder(ctx, ev)
	case strings.HasPrefix(key, LinePrefix) && ev.kind == evLine:
		p.onLine(ctx, ev)
	case isRetiredKey(key) && ev.kind == evDelta:
		// Sent by the first release to an aggregate it kept as a key; the
		// figures are folded from the orders and lines now, which hold
		// the change already. Its stale value goes.
		ctx.Delete()
		p.cfg.Metrics.Retired.Inc()
	default:
		ctx.Fail(fmt.Errorf("key %q: loop event of kind %d has no receiver", key, ev.kind))
	}
}

// onOrder applies an order's change, or a change of its lines' quantity.
func (p *processor) onOrder(ctx goka.Context, ev event) {
	out := delivery.Update(ctx, newOrder, 0, func(o *Order, _ *delivery.Emitter) bool {
		if ev.kind == evOrder {
			return applyOrder(o, ev)
		}
		if !o.Marks.Admit(ev.origin) {
			return false
		}
		applyOrderItems(o, ev.delta)
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

// onLine applies an order line's change and passes the change of its
// quantity on to its order.
func (p *processor) onLine(ctx goka.Context, ev event) {
	out := delivery.Update(ctx, newLine, lineOutboxKeep, func(l *Line, em *delivery.Emitter) bool {
		items, ok := applyLine(l, ev)
		for _, c := range items {
			em.Loopback(OrderKey(c.order), deltaEvent(em.Origin(), Delta{Items: c.items}))
			p.cfg.Metrics.Deltas.WithLabelValues("order").Inc()
		}
		return ok
	})
	if out == delivery.Duplicate {
		p.cfg.Metrics.Duplicates.WithLabelValues("line").Inc()
	}
}

func newOrder() *Order { return new(Order) }
func newLine() *Line   { return new(Line) }
