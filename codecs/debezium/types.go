// Package debezium is the one place that understands Debezium change events:
// the envelope (with or without the JsonConverter schema wrapper), the
// ExtractNewRecordState flattening, tombstones, JSON keys, DECIMAL and
// TIMESTAMP encodings. It decodes every shape into one typed Message and
// encodes typed rows back into genuine Debezium messages for simulators and
// tests.
package debezium

import "fmt"

// Op is a Debezium operation code.
type Op byte

// The Debezium operations.
const (
	OpRead     Op = 'r' // snapshot read
	OpCreate   Op = 'c'
	OpUpdate   Op = 'u'
	OpDelete   Op = 'd'
	OpTruncate Op = 't'
)

// String returns the one-letter Debezium code.
func (o Op) String() string { return string(rune(o)) }

// Kind says what a Kafka record on a CDC topic is.
type Kind uint8

// The kinds of CDC records.
const (
	KindChange    Kind = iota + 1 // a row change (r, c, u, d)
	KindTombstone                 // a key with a null value after a delete
	KindTruncate                  // op "t": the table was truncated
)

// Table names of the shop's source tables.
const (
	TableProducts   = "products"
	TableOrders     = "orders"
	TableOrderItems = "order_items"
)

// Position is the commit position of a change. LSN is source.lsn (or
// __lsn/__source_lsn), unique per change; 0 when the message carries none.
// TsMs is source.ts_ms (__source_ts_ms), shared by all changes of a
// transaction.
type Position struct {
	LSN  uint64
	TsMs int64
}

// Compare orders two positions: by LSN when both have one, else by TsMs.
// It returns -1, 0 or +1.
func (p Position) Compare(q Position) int {
	if p.LSN != 0 && q.LSN != 0 {
		switch {
		case p.LSN < q.LSN:
			return -1
		case p.LSN > q.LSN:
			return 1
		}
		return 0
	}
	switch {
	case p.TsMs < q.TsMs:
		return -1
	case p.TsMs > q.TsMs:
		return 1
	}
	return 0
}

// String renders the position for logs.
func (p Position) String() string {
	if p.LSN != 0 {
		return fmt.Sprintf("lsn=%d ts=%d", p.LSN, p.TsMs)
	}
	return fmt.Sprintf("ts=%d", p.TsMs)
}

// Product is a row of public.products. Money is integer cents; times are
// Unix microseconds UTC (0 when NULL).
type Product struct {
	ID            int64
	Name          string
	Description   string // "" when NULL
	PriceCents    int64
	StockQuantity int64
	CreatedAt     int64
	UpdatedAt     int64
}

// Order is a row of public.orders.
type Order struct {
	ID         int64
	CustomerID int64
	TotalCents int64
	Status     string
	CreatedAt  int64
	UpdatedAt  int64
}

// OrderItem is a row of public.order_items. OrderID and ProductID are 0
// when NULL (SERIAL ids start at 1).
type OrderItem struct {
	ID         int64
	OrderID    int64
	ProductID  int64
	Quantity   int64
	PriceCents int64
	CreatedAt  int64
}

// Message is one decoded CDC record. For KindChange exactly the row images
// Debezium sent are set: After for r/c/u, Before for d (and for u when the
// table has REPLICA IDENTITY FULL). Only the pointer matching Table is used.
type Message struct {
	Kind  Kind
	Table string // products, orders, order_items (from the source block, else the topic)
	Op    Op
	ID    int64 // entity id: from the key, else from the row
	Pos   Position

	BeforeProduct, AfterProduct *Product
	BeforeOrder, AfterOrder     *Order
	BeforeItem, AfterItem       *OrderItem
}

// DecodeError says what is wrong with a message, precisely enough to be
// useful in a dead-letter entry.
type DecodeError struct {
	Field    string // JSON path of the offending field, e.g. "payload.after.price"
	Expected string // what was expected, e.g. "base64 decimal bytes"
	Got      string // a short excerpt of what was found
	Reason   string // free text when Expected/Got do not fit
}

// Error renders the field and what is wrong with it.
func (e *DecodeError) Error() string {
	switch {
	case e.Reason != "" && e.Field != "":
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	case e.Reason != "":
		return e.Reason
	default:
		return fmt.Sprintf("%s: expected %s, got %s", e.Field, e.Expected, e.Got)
	}
}

// ProductRow is the image of a products change that states the product:
// the after image of r/c/u, the before image of a delete, or the id alone
// when Debezium sent neither (a delete under REPLICA IDENTITY DEFAULT).
func (m *Message) ProductRow() *Product {
	row := m.AfterProduct
	if m.Op == OpDelete {
		row = m.BeforeProduct
	}
	if row == nil {
		row = &Product{ID: m.ID}
	}
	return row
}
