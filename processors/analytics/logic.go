package analytics

import (
	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// Delta is a change of figures sent from an order line to its order: Items
// is the change of the quantity of the order's live lines. (Orders, Cents
// and Lines are the fields of the first release's deltas to aggregate
// entities, which are decoded and ignored.)
type Delta struct {
	Orders int64
	Cents  int64
	Items  int64
	Lines  int64
}

// applyOrder absorbs an order row change. ok is false for a duplicate,
// which changes nothing.
//
// An order never seen before counts from its first change, whatever its
// before image says: nothing counted the old row (say its insert was lost
// to retention). Snapshot reads count like inserts. A delete keeps the
// order as a tombstone, so that a redelivered older change is rejected,
// with its created_at, so that its emptied window stays known (Figures).
func applyOrder(o *Order, ev event) (ok bool) {
	if !o.Applied.Admit(ev.pos, ev.fp) {
		return false
	}
	o.Deleted = ev.op == debezium.OpDelete
	o.Live = !o.Deleted && ev.hasAfter
	if !o.Live {
		o.CustomerID, o.TotalCents, o.Status = 0, 0, ""
		return true
	}
	a := &ev.afterOrder
	if o.CreatedAt != 0 && WindowStart(o.CreatedAt) != WindowStart(a.CreatedAt) {
		o.leaveWindow(WindowStart(o.CreatedAt))
	}
	// An unchanged TOASTed status (never, for a VARCHAR(50), but the
	// placeholder is legal in any text column) keeps the order's.
	o.Status = ev.unchanged.Keep(debezium.OrderStatus, o.Status, a.Status)
	o.CustomerID, o.TotalCents, o.CreatedAt = a.CustomerID, a.TotalCents, a.CreatedAt
	return true
}

// leaveWindow records that the order left window w.
func (o *Order) leaveWindow(w int64) {
	for i, x := range o.LeftWindows {
		if x == w {
			o.LeftWindows = append(o.LeftWindows[:i], o.LeftWindows[i+1:]...)
			break
		}
	}
	o.LeftWindows = append(o.LeftWindows, w)
	if n := len(o.LeftWindows); n > MaxLeftWindows {
		o.LeftWindows = o.LeftWindows[n-MaxLeftWindows:]
	}
}

// applyOrderItems applies a change of the quantity of an order's live
// lines.
func applyOrderItems(o *Order, d Delta) { o.ItemsQty += d.Items }

// applyLine absorbs an order line change and returns the change of its
// order's items (a move between orders is two). ok is false for a
// duplicate, which changes nothing.
//
// A line never seen before counts from its first change (see applyOrder).
// Snapshot reads count like inserts. A deleted line keeps Applied as a
// tombstone.
func applyLine(l *Line, ev event) (out []orderItems, ok bool) {
	seen := !l.Applied.Pos.IsZero()
	if !l.Applied.Admit(ev.pos, ev.fp) {
		return nil, false
	}
	if seen && l.Live && l.OrderID != 0 {
		out = addItems(out, l.OrderID, -l.Quantity)
	}
	*l = Line{Applied: l.Applied, Outbox: l.Outbox}
	if ev.op != debezium.OpDelete && ev.hasAfter {
		a := &ev.afterLine
		l.Live, l.OrderID, l.ProductID, l.Quantity, l.PriceCents = true, a.OrderID, a.ProductID, a.Quantity, a.PriceCents
	}
	if l.Live && l.OrderID != 0 {
		out = addItems(out, l.OrderID, l.Quantity)
	}
	return out, true
}

// orderItems is a change of an order's items (a NULL order, 0, receives
// none).
type orderItems struct {
	order int64
	items int64
}

// addItems adds a change to out, merged per order in first-seen order (so
// a reprocessed message emits the same messages in the same order), and
// drops the changes that cancel out.
func addItems(out []orderItems, order, items int64) []orderItems {
	for i := range out {
		if out[i].order == order {
			out[i].items += items
			if out[i].items == 0 {
				return append(out[:i], out[i+1:]...)
			}
			return out
		}
	}
	if items == 0 {
		return out
	}
	return append(out, orderItems{order, items})
}
