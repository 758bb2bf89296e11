// Package inventory keeps the available stock of every product in a Goka
// group table, from the products and order_items change streams.
//
// The graph: the two CDC inputs re-key each change by its entity onto the
// group's loopback topic; an order line's state turns each of its changes
// into stock deltas (loopback, keyed by product); a product's state applies
// its versions and those deltas in commit order and emits low-stock alerts.
//
//	products ──decode──▶ loop p/<id> ───────────────┐
//	order_items ─decode─▶ loop i/<id> ─▶ Item ─delta─▶ loop p/<id> ─▶ Product ─▶ low-stock alerts
//	(undecodable records ─▶ dead-letter topic)
package inventory

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/cdc"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// How many callbacks' emits an entity remembers for replay after a crash.
const (
	itemOutboxKeep    = 4
	productOutboxKeep = 2
)

// Config configures the inventory group graph.
type Config struct {
	Group         goka.Group
	ProductsTopic goka.Stream
	ItemsTopic    goka.Stream
	LowStockTopic goka.Stream
	Threshold     int64 // LOW_STOCK_THRESHOLD
	PendingLimit  int   // deltas kept individually per product, see Product
	Input         *cdc.Input
	Metrics       *Metrics // nil: counted, but not registered
	Log           *slog.Logger
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
		cfg.Input.Edge(cfg.ProductsTopic, p.rekeyProduct),
		cfg.Input.Edge(cfg.ItemsTopic, p.rekeyItem),
		goka.Loop(new(codec.Bytes), p.onLoop),
		goka.Persist(TableCodec{}),
		goka.Output(cfg.LowStockTopic, new(codec.Bytes)),
	)
}

// Metrics counts the inventory's decisions.
type Metrics struct {
	Duplicates *prometheus.CounterVec // kind: product, item, delta
	Folded     prometheus.Counter
	Overflow   prometheus.Counter
	Alerts     prometheus.Counter
	Unresolved prometheus.Counter
	Ambiguous  prometheus.Counter
}

// NewMetrics creates and registers the inventory metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "inventory_duplicates_total",
			Help: "Changes and deltas recognised as already applied."}, []string{"kind"}),
		Folded: prometheus.NewCounter(prometheus.CounterOpts{Name: "inventory_pending_folded_total",
			Help: "Deltas folded because a product had more than PENDING_LIMIT pending."}),
		Overflow: prometheus.NewCounter(prometheus.CounterOpts{Name: "inventory_reorder_overflow_total",
			Help: "Product versions older than folded deltas: the products topic ran further behind than PENDING_LIMIT covers."}),
		Alerts: prometheus.NewCounter(prometheus.CounterOpts{Name: "inventory_low_stock_alerts_total",
			Help: "Low-stock alerts emitted."}),
		Unresolved: prometheus.NewCounter(prometheus.CounterOpts{Name: "inventory_unchanged_toast_unresolved_total",
			Help: "Product changes that left a TOASTed column unchanged (unavailable-value placeholder) with no earlier version to take it from."}),
		Ambiguous: prometheus.NewCounter(prometheus.CounterOpts{Name: "inventory_ambiguous_order_total",
			Help: "Order-line deltas ordered against a product version only by a shared commit millisecond: the records carry no source.sequence, so two transactions committed in that millisecond may be ordered wrongly."}),
	}
	if reg != nil {
		reg.MustRegister(m.Duplicates, m.Folded, m.Overflow, m.Alerts, m.Unresolved, m.Ambiguous)
	}
	return m
}

type processor struct{ cfg Config }

func (p *processor) rekeyProduct(ctx goka.Context, m *debezium.Message) error {
	if m.Table != debezium.TableProducts {
		return &cdc.WrongTableError{Topic: "products", Table: m.Table}
	}
	ctx.Loopback(ProductKey(m.ID), productEvent(m))
	return nil
}

func (p *processor) rekeyItem(ctx goka.Context, m *debezium.Message) error {
	if m.Table != debezium.TableOrderItems {
		return &cdc.WrongTableError{Topic: "order_items", Table: m.Table}
	}
	ctx.Loopback(ItemKey(m.ID), itemEvent(m))
	return nil
}

func (p *processor) onLoop(ctx goka.Context, msg interface{}) {
	b, _ := msg.([]byte)
	ev, err := decodeEvent(b)
	if err != nil {
		ctx.Fail(fmt.Errorf("key %q: %w", ctx.Key(), err))
		return
	}
	switch ev.kind {
	case evItem:
		p.onItem(ctx, ev)
	default:
		p.onProduct(ctx, ev)
	}
}

// onItem turns an order line's change into stock deltas for its products.
func (p *processor) onItem(ctx goka.Context, ev event) {
	out := delivery.Update(ctx, newItem, itemOutboxKeep, func(it *Item, em *delivery.Emitter) bool {
		deltas, ok := applyItem(it, ev)
		for _, d := range deltas {
			em.Loopback(ProductKey(d.productID), deltaEvent(em.Origin(), ev.pos, d.amount))
		}
		return ok
	})
	if out == delivery.Duplicate {
		p.cfg.Metrics.Duplicates.WithLabelValues("item").Inc()
	}
}

// onProduct applies a product version or a stock delta to a product and
// alerts when its stock falls below the threshold.
func (p *processor) onProduct(ctx goka.Context, ev event) {
	m := p.cfg.Metrics
	out := delivery.Update(ctx, newProduct, productOutboxKeep, func(pr *Product, em *delivery.Emitter) bool {
		switch ev.kind {
		case evProduct:
			res := applyProductChange(pr, ev)
			if !res.applied {
				return false
			}
			if res.overflow {
				p.cfg.Log.Warn("products topic ran further behind order_items than PENDING_LIMIT covers; stock may be off",
					"key", ctx.Key(), "version", ev.pos.String(), "pending_limit", p.cfg.PendingLimit)
				m.Overflow.Inc()
			}
			if res.unresolved {
				p.cfg.Log.Warn("a product change left a TOASTed column unchanged, but no earlier version of the product is known; it is stored empty",
					"key", ctx.Key(), "version", ev.pos.String())
				m.Unresolved.Inc()
			}
			m.Ambiguous.Add(float64(res.ambiguous))
		case evDelta:
			if !pr.Marks.Admit(ev.origin) {
				return false
			}
			_, folded, ambiguous := applyDelta(pr, ev.pos, ev.amount, p.cfg.PendingLimit)
			m.Folded.Add(float64(folded))
			if ambiguous {
				m.Ambiguous.Inc()
			}
		}
		if crossing(pr, p.cfg.Threshold) {
			em.Emit(p.cfg.LowStockTopic, productID(ctx.Key()), p.alert(ctx.Key(), pr, ev.pos))
		}
		return true
	})
	if out == delivery.Duplicate {
		kind := "product"
		if ev.kind == evDelta {
			kind = "delta"
		}
		m.Duplicates.WithLabelValues(kind).Inc()
	}
}

func newItem() *Item       { return new(Item) }
func newProduct() *Product { return new(Product) }

func (p *processor) alert(key string, pr *Product, pos debezium.Position) []byte {
	id := productID(key)
	n := pr.Available()
	p.cfg.Log.Warn(fmt.Sprintf("LOW STOCK ALERT: product_id=%s has only %d items remaining", id, n),
		"product_id", id, "stock_quantity", n, "threshold", p.cfg.Threshold)
	p.cfg.Metrics.Alerts.Inc()
	b, _ := json.Marshal(Alert{
		ProductID: json.Number(id), Name: pr.Name, StockQuantity: n, Threshold: p.cfg.Threshold,
		Ts: time.UnixMilli(pos.TsMs).UTC().Format(time.RFC3339Nano),
	})
	return b
}

// Alert is the value of a low-stock event.
type Alert struct {
	ProductID     json.Number `json:"product_id"`
	Name          string      `json:"name"`
	StockQuantity int64       `json:"stock_quantity"`
	Threshold     int64       `json:"threshold"`
	Ts            string      `json:"ts"` // commit time of the change that crossed the threshold
}
