package analytics

import (
	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// Delta is a change of figures sent to one entity. Each kind of receiver
// reads the fields it keeps:
//
//	Order (o/):         Items = change of ItemsQty
//	Daily (d/):         Orders, Cents = order count, total
//	Customer (c/):      Orders, Cents = order count, total spent
//	Status (s/):        Orders = count
//	Window (w/):        Orders, Cents, Items = orders, revenue, items sold
//	ProductSales (p/):  Items, Cents, Lines = quantity sold, revenue, live lines
type Delta struct {
	Orders int64
	Cents  int64
	Items  int64
	Lines  int64
}

func (d Delta) isZero() bool { return d == Delta{} }

func (d Delta) plus(e Delta) Delta {
	return Delta{d.Orders + e.Orders, d.Cents + e.Cents, d.Items + e.Items, d.Lines + e.Lines}
}

// keyedDelta is a delta addressed to a table key.
type keyedDelta struct {
	key   string
	delta Delta
}

// deltas collects a callback's deltas, merged per key in first-seen order
// (so a reprocessed message emits the same messages in the same order).
type deltas []keyedDelta

func (ds *deltas) add(key string, d Delta) {
	for i := range *ds {
		if (*ds)[i].key == key {
			(*ds)[i].delta = (*ds)[i].delta.plus(d)
			return
		}
	}
	*ds = append(*ds, keyedDelta{key, d})
}

// nonZero drops the deltas that cancelled out.
func (ds deltas) nonZero() deltas {
	out := ds[:0]
	for _, d := range ds {
		if !d.delta.isZero() {
			out = append(out, d)
		}
	}
	return out
}

// orderContribution is what a live order adds to the aggregates.
type orderContribution struct {
	live       bool
	customerID int64
	totalCents int64
	status     string
	createdAt  int64
	items      int64 // the order's ItemsQty, counted in its window
}

func contributionOf(o *debezium.Order, items int64) orderContribution {
	return orderContribution{true, o.CustomerID, o.TotalCents, o.Status, o.CreatedAt, items}
}

// into adds the contribution, times sign (+1 or -1), to ds.
func (c orderContribution) into(ds *deltas, sign int64) {
	if !c.live {
		return
	}
	ds.add(DailyKey(c.createdAt), Delta{Orders: sign, Cents: sign * c.totalCents})
	ds.add(CustomerKey(c.customerID), Delta{Orders: sign, Cents: sign * c.totalCents})
	ds.add(StatusKey(c.status), Delta{Orders: sign})
	ds.add(WindowKey(c.createdAt), Delta{Orders: sign, Cents: sign * c.totalCents, Items: sign * c.items})
}

// lineContribution is what a live order line adds to its product and order.
type lineContribution struct {
	live       bool
	orderID    int64
	productID  int64
	quantity   int64
	priceCents int64
}

func lineContributionOf(it *debezium.OrderItem) lineContribution {
	return lineContribution{true, it.OrderID, it.ProductID, it.Quantity, it.PriceCents}
}

// into adds the contribution, times sign (+1 or -1), to ds. A NULL product
// or order (0) receives nothing.
func (c lineContribution) into(ds *deltas, sign int64) {
	if !c.live {
		return
	}
	if c.productID != 0 {
		ds.add(ProductKey(c.productID), Delta{Items: sign * c.quantity, Cents: sign * c.quantity * c.priceCents, Lines: sign})
	}
	if c.orderID != 0 {
		ds.add(OrderKey(c.orderID), Delta{Items: sign * c.quantity})
	}
}

// applyOrder absorbs an order row change and returns the deltas it sends to
// the order's aggregates: the old contribution withdrawn, the new one added.
// ok is false for a duplicate, which changes nothing.
//
// The order's previous contribution is its state. An order never seen
// before contributed nothing yet, whatever its before image says: unlike
// the inventory, where a product version already counts earlier lines,
// nothing here counted the old row (say its insert was lost to retention),
// so its first change counts like an insert. Snapshot reads count like
// inserts. A delete keeps the order as a tombstone
// so that a redelivered older change is rejected.
func applyOrder(o *Order, ev event) (out deltas, ok bool) {
	seen := !o.Applied.Pos.IsZero()
	if !o.Applied.Admit(ev.pos, ev.fp) {
		return nil, false
	}
	var old orderContribution
	if seen {
		old = orderContribution{o.Live, o.CustomerID, o.TotalCents, o.Status, o.CreatedAt, o.ItemsQty}
	}
	var cur orderContribution
	if ev.op != debezium.OpDelete && ev.hasAfter {
		// An unchanged TOASTed status (never, for a VARCHAR(50), but the
		// placeholder is legal in any text column) keeps the order's.
		ev.afterOrder.Status = ev.unchanged.Keep(debezium.OrderStatus, o.Status, ev.afterOrder.Status)
		cur = contributionOf(&ev.afterOrder, o.ItemsQty)
	}
	o.Live, o.Deleted = cur.live, ev.op == debezium.OpDelete
	o.CustomerID, o.TotalCents, o.Status, o.CreatedAt = cur.customerID, cur.totalCents, cur.status, cur.createdAt
	old.into(&out, -1)
	cur.into(&out, +1)
	return out.nonZero(), true
}

// applyOrderItems applies a change of the quantity of an order's live lines
// and returns the window delta it causes: the items of a live order count
// in its window.
func applyOrderItems(o *Order, d Delta) (out deltas) {
	o.ItemsQty += d.Items
	if o.Live && d.Items != 0 {
		out.add(WindowKey(o.CreatedAt), Delta{Items: d.Items})
	}
	return out
}

// applyLine absorbs an order line change and returns the deltas it sends to
// its product and its order. ok is false for a duplicate, which changes
// nothing.
//
// The line's previous contribution is its state; a line never seen before
// contributed nothing yet (see applyOrder). Snapshot reads count like
// inserts. A deleted line keeps Applied as a tombstone.
func applyLine(l *Line, ev event) (out deltas, ok bool) {
	seen := !l.Applied.Pos.IsZero()
	if !l.Applied.Admit(ev.pos, ev.fp) {
		return nil, false
	}
	var old lineContribution
	if seen {
		old = lineContribution{l.Live, l.OrderID, l.ProductID, l.Quantity, l.PriceCents}
	}
	var cur lineContribution
	if ev.op != debezium.OpDelete && ev.hasAfter {
		cur = lineContributionOf(&ev.afterLine)
	}
	l.Live, l.OrderID, l.ProductID, l.Quantity, l.PriceCents = cur.live, cur.orderID, cur.productID, cur.quantity, cur.priceCents
	old.into(&out, -1)
	cur.into(&out, +1)
	return out.nonZero(), true
}

func (d *Daily) add(x Delta) { d.OrderCount += x.Orders; d.TotalCents += x.Cents }

func (p *ProductSales) add(x Delta) {
	p.QuantitySold += x.Items
	p.RevenueCents += x.Cents
	p.LiveLines += x.Lines
}

func (c *Customer) add(x Delta) { c.OrderCount += x.Orders; c.TotalSpentCents += x.Cents }

func (s *Status) add(x Delta) { s.Count += x.Orders }

func (w *Window) add(x Delta) {
	w.Orders += x.Orders
	w.RevenueCents += x.Cents
	w.ItemsSold += x.Items
}
