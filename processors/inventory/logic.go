package inventory

import "github.com/cdcflow/cdcflow/codecs/debezium"

// stockDelta is an order line's effect on one product's stock.
type stockDelta struct {
	productID int64
	amount    int64
}

// contribution is what an order line takes from a product's stock.
type contribution struct {
	live      bool
	productID int64
	quantity  int64
}

// applyItem absorbs an order-line change and returns the stock deltas it
// causes. ok is false for a duplicate, which changes nothing.
//
// The line's previous contribution is its state; for a line never seen
// before, the change's before image (REPLICA IDENTITY FULL) stands in. A
// snapshot read (op r) records the line without a delta: the snapshot's
// product rows already count it.
func applyItem(it *Item, ev event) (deltas []stockDelta, ok bool) {
	seen := !it.Applied.Pos.IsZero()
	if !it.Applied.Admit(ev.pos, ev.fp) {
		return nil, false
	}
	var old contribution
	switch {
	case seen:
		old = contribution{it.Live, it.ProductID, it.Quantity}
	case ev.hasBefore:
		old = contribution{true, ev.before.ProductID, ev.before.Quantity}
	}
	var cur contribution
	if ev.op != debezium.OpDelete && ev.hasAfter {
		cur = contribution{true, ev.after.ProductID, ev.after.Quantity}
	}
	it.Live, it.ProductID, it.Quantity = cur.live, cur.productID, cur.quantity
	if ev.op == debezium.OpRead {
		return nil, true
	}
	add := func(productID, amount int64) {
		if productID == 0 || amount == 0 {
			return
		}
		for i := range deltas {
			if deltas[i].productID == productID {
				deltas[i].amount += amount
				return
			}
		}
		deltas = append(deltas, stockDelta{productID, amount})
	}
	if old.live {
		add(old.productID, old.quantity)
	}
	if cur.live {
		add(cur.productID, -cur.quantity)
	}
	out := deltas[:0]
	for _, d := range deltas {
		if d.amount != 0 {
			out = append(out, d)
		}
	}
	return out, true
}

// versionOutcome says what applying a product row change found.
type versionOutcome struct {
	applied bool // false for a duplicate or a change older than the state
	// overflow: folded deltas reached past this version's position, i.e.
	// the products topic ran further behind order_items than PendingLimit
	// covers.
	overflow bool
	// unresolved: the change left a TOASTed column unchanged and no
	// previous version says what it holds.
	unresolved bool
	// ambiguous counts the pending deltas whose order against this version
	// only a shared commit millisecond decided (no source.sequence).
	ambiguous int
}

// applyProductChange absorbs a product row change.
func applyProductChange(p *Product, ev event) (out versionOutcome) {
	if !p.Applied.Admit(ev.pos, ev.fp) {
		return out
	}
	out.applied = true
	p.Rev++
	p.CDCTsMs = ev.pos.TsMs
	if p.Folded != 0 && p.FoldedMax.Compare(ev.pos) > 0 {
		out.overflow = true
	}
	p.Folded, p.FoldedMax = 0, debezium.Position{}
	if ev.op == debezium.OpDelete {
		*p = Product{Rev: p.Rev, Applied: p.Applied, Deleted: true, Marks: p.Marks, CDCTsMs: p.CDCTsMs, Outbox: p.Outbox}
		return out
	}
	out.unresolved = ev.unchanged != 0 && !p.Live
	p.Live, p.Deleted = true, false
	p.Name = ev.unchanged.Keep(debezium.ProductName, p.Name, ev.product.Name)
	p.Description = ev.unchanged.Keep(debezium.ProductDescription, p.Description, ev.product.Description)
	p.PriceCents, p.BaseStock = ev.product.PriceCents, ev.product.StockQuantity
	// Deltas committed at or before the version are counted in it.
	kept := p.Pending[:0]
	for _, d := range p.Pending {
		if d.Pos.Ambiguous(ev.pos) {
			out.ambiguous++
		}
		if d.Pos.Compare(ev.pos) > 0 {
			kept = append(kept, d)
		}
	}
	p.Pending = kept
	// The state reflects the version and the deltas committed after it.
	for _, d := range p.Pending {
		p.CDCTsMs = max(p.CDCTsMs, d.Pos.TsMs)
	}
	return out
}

// applyDelta applies an order line's delta committed at pos. It reports
// whether the stock changed, how many pending deltas were folded, and
// whether only a shared commit millisecond ordered the delta against the
// product's version (no source.sequence).
func applyDelta(p *Product, pos debezium.Position, amount int64, limit int) (changed bool, folded int, ambiguous bool) {
	if p.Deleted {
		return false, 0, false // the product is gone; later lines cannot change it
	}
	if p.Live {
		ambiguous = pos.Ambiguous(p.Applied.Pos)
		if pos.Compare(p.Applied.Pos) <= 0 {
			return false, 0, ambiguous // committed before the version: already counted
		}
	}
	p.Rev++
	if pos.TsMs > p.CDCTsMs {
		p.CDCTsMs = pos.TsMs
	}
	// Insert in position order; equal positions keep arrival order.
	i := len(p.Pending)
	for i > 0 && p.Pending[i-1].Pos.Compare(pos) > 0 {
		i--
	}
	p.Pending = append(p.Pending, Pending{})
	copy(p.Pending[i+1:], p.Pending[i:])
	p.Pending[i] = Pending{Pos: pos, Amount: amount}
	if limit > 0 && len(p.Pending) > limit {
		folded = len(p.Pending) - limit
		for _, d := range p.Pending[:folded] {
			p.Folded += d.Amount
			if d.Pos.Compare(p.FoldedMax) > 0 {
				p.FoldedMax = d.Pos
			}
		}
		p.Pending = append(p.Pending[:0], p.Pending[folded:]...)
	}
	return true, folded, ambiguous
}

// crossing decides the low-stock alert: fire when the available stock is
// below threshold and the product has not alerted since it was last at or
// above it.
func crossing(p *Product, threshold int64) (fire bool) {
	if !p.Live {
		p.Alerted = false
		return false
	}
	below := p.Available() < threshold
	fire = below && !p.Alerted
	p.Alerted = below
	return fire
}
