package state

import "github.com/cdcflow/cdcflow/codecs/debezium"

// The source rows as the processors carry them on their loopback topics.
// The encoded bytes of a row also fingerprint it (see delivery.Fingerprint),
// so a row must always encode to the same bytes.

// Product writes a products row.
func (w *Writer) Product(p *debezium.Product) {
	w.Varint(p.ID)
	w.String(p.Name)
	w.String(p.Description)
	w.Varint(p.PriceCents)
	w.Varint(p.StockQuantity)
	w.Varint(p.CreatedAt)
	w.Varint(p.UpdatedAt)
}

// Product reads a products row.
func (r *Reader) Product() debezium.Product {
	return debezium.Product{ID: r.Varint(), Name: r.String(), Description: r.String(),
		PriceCents: r.Varint(), StockQuantity: r.Varint(), CreatedAt: r.Varint(), UpdatedAt: r.Varint()}
}

// Order writes an orders row.
func (w *Writer) Order(o *debezium.Order) {
	w.Varint(o.ID)
	w.Varint(o.CustomerID)
	w.Varint(o.TotalCents)
	w.String(o.Status)
	w.Varint(o.CreatedAt)
	w.Varint(o.UpdatedAt)
}

// Order reads an orders row.
func (r *Reader) Order() debezium.Order {
	return debezium.Order{ID: r.Varint(), CustomerID: r.Varint(), TotalCents: r.Varint(),
		Status: r.String(), CreatedAt: r.Varint(), UpdatedAt: r.Varint()}
}

// OrderItem writes an order_items row.
func (w *Writer) OrderItem(it *debezium.OrderItem) {
	w.Varint(it.ID)
	w.Varint(it.OrderID)
	w.Varint(it.ProductID)
	w.Varint(it.Quantity)
	w.Varint(it.PriceCents)
	w.Varint(it.CreatedAt)
}

// OrderItem reads an order_items row.
func (r *Reader) OrderItem() debezium.OrderItem {
	return debezium.OrderItem{ID: r.Varint(), OrderID: r.Varint(), ProductID: r.Varint(),
		Quantity: r.Varint(), PriceCents: r.Varint(), CreatedAt: r.Varint()}
}

// OrderImages writes an orders change's before and after images, each
// marked present or absent.
func (w *Writer) OrderImages(before, after *debezium.Order) {
	for _, o := range []*debezium.Order{before, after} {
		w.Bool(o != nil)
		if o != nil {
			w.Order(o)
		}
	}
}

// OrderImages reads what Writer.OrderImages wrote.
func (r *Reader) OrderImages() (before, after debezium.Order, hasBefore, hasAfter bool) {
	if hasBefore = r.Bool(); hasBefore {
		before = r.Order()
	}
	if hasAfter = r.Bool(); hasAfter {
		after = r.Order()
	}
	return before, after, hasBefore, hasAfter
}

// OrderItemImages writes an order_items change's before and after images,
// each marked present or absent.
func (w *Writer) OrderItemImages(before, after *debezium.OrderItem) {
	for _, it := range []*debezium.OrderItem{before, after} {
		w.Bool(it != nil)
		if it != nil {
			w.OrderItem(it)
		}
	}
}

// OrderItemImages reads what Writer.OrderItemImages wrote.
func (r *Reader) OrderItemImages() (before, after debezium.OrderItem, hasBefore, hasAfter bool) {
	if hasBefore = r.Bool(); hasBefore {
		before = r.OrderItem()
	}
	if hasAfter = r.Bool(); hasAfter {
		after = r.OrderItem()
	}
	return before, after, hasBefore, hasAfter
}

// ProductChange writes the row a products change states
// (Message.ProductRow) and the text columns it left unchanged.
func (w *Writer) ProductChange(m *debezium.Message) {
	w.Product(m.ProductRow())
	w.Uvarint(uint64(m.Unchanged))
}

// ProductChange reads what Writer.ProductChange wrote.
func (r *Reader) ProductChange() (debezium.Product, debezium.ColumnSet) {
	p := r.Product()
	return p, debezium.ColumnSet(r.Uvarint())
}
