// Package debezium is the one place that understands Debezium change events:
// the envelope (with or without the JsonConverter schema wrapper), the
// ExtractNewRecordState flattening, tombstones, JSON keys, DECIMAL and
// TIMESTAMP encodings, in JSON (Decode) and in Avro from Confluent's
// AvroConverter (DecodeAvro, avro.go). It decodes every shape into one
// typed Message; it does not encode (tools/dbzenc, written independently,
// renders Debezium messages for simulators and tests).
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

// Position is where a change stands in the database's commit order.
//
// Logical decoding delivers transactions in commit order, but source.lsn is
// the WAL position where a change was written: concurrent transactions
// interleave, so a transaction that commits later can carry lower LSNs than
// one committed before it. The commit position is therefore source.sequence,
// ["<lastCommitLsn>","<lsn>"] (Debezium's PostgresOffsetContext moves
// lastCommitLsn to a transaction's commit LSN when it streams the COMMIT, so
// every change of the next transaction carries it): compared as a pair, it is
// the commit order, and within a transaction the write order.
//
// Without a sequence (flattened records whose add.fields lacks it, other
// connectors' shapes) the best order available is the transaction's commit
// time TsMs, then the LSN; two transactions committed in the same
// millisecond are then ambiguous (see Ambiguous).
type Position struct {
	// Snapshot marks a row of the initial snapshot (op r without a last
	// commit LSN): it precedes every streamed change.
	Snapshot bool
	// Sequenced says Commit and LSN come from source.sequence.
	Sequenced bool
	// Commit is the first element of source.sequence, the commit LSN of
	// the transaction streamed before this change's; 0 when null.
	Commit uint64
	// LSN is source.lsn (or the sequence's second element, __lsn,
	// __source_lsn): where the change was written; 0 when the message
	// carries none.
	LSN uint64
	// TsMs is source.ts_ms (__source_ts_ms): the transaction's commit time,
	// shared by all its changes.
	TsMs int64
}

// IsZero reports whether p is the zero Position (no change absorbed yet).
func (p Position) IsZero() bool { return p == Position{} }

// Compare orders two positions in commit order and returns -1, 0 or +1.
// Snapshot rows come first. When both carry source.sequence, the pair
// (Commit, LSN) decides. Otherwise the commit time decides, then the LSN
// when both have one. 0 means the same change, or two changes whose order
// the messages do not tell (changes of one transaction without LSNs).
func (p Position) Compare(q Position) int {
	if p.Snapshot != q.Snapshot {
		if p.Snapshot {
			return -1
		}
		return 1
	}
	if p.Sequenced && q.Sequenced {
		if c := cmpUint(p.Commit, q.Commit); c != 0 {
			return c
		}
		return cmpUint(p.LSN, q.LSN)
	}
	switch {
	case p.TsMs < q.TsMs:
		return -1
	case p.TsMs > q.TsMs:
		return 1
	}
	if p.LSN != 0 && q.LSN != 0 {
		return cmpUint(p.LSN, q.LSN)
	}
	return 0
}

// Ambiguous reports whether Compare could only guess the order of p and q:
// neither is a snapshot row, they lack a sequence and share a commit
// millisecond, so they may belong to two transactions committed in the same
// millisecond, whose order the LSNs do not tell.
func (p Position) Ambiguous(q Position) bool {
	return !(p.Sequenced && q.Sequenced) && !p.Snapshot && !q.Snapshot && p.TsMs == q.TsMs
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// String renders the position for logs.
func (p Position) String() string {
	var b []byte
	if p.Snapshot {
		b = append(b, "snapshot "...)
	}
	if p.Sequenced {
		b = fmt.Appendf(b, "seq=[%d,%d] ", p.Commit, p.LSN)
	} else if p.LSN != 0 {
		b = fmt.Appendf(b, "lsn=%d ", p.LSN)
	}
	return string(fmt.Appendf(b, "ts=%d", p.TsMs))
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

	// Unchanged lists the text columns of the after image that carried the
	// unavailable-value placeholder (an update that left a TOASTed value
	// alone) and that the before image could not fill in (REPLICA IDENTITY
	// DEFAULT sends none): their fields are empty and mean "the previous
	// value stands".
	Unchanged ColumnSet

	BeforeProduct, AfterProduct *Product
	BeforeOrder, AfterOrder     *Order
	BeforeItem, AfterItem       *OrderItem
}

// ColumnSet is a set of columns of one table.
type ColumnSet uint16

// The text columns, the ones that can carry the unavailable-value
// placeholder.
const (
	ProductName        ColumnSet = 1 << pName
	ProductDescription ColumnSet = 1 << pDescription
	OrderStatus        ColumnSet = 1 << oStatus
)

// Has reports whether s holds every column of c.
func (s ColumnSet) Has(c ColumnSet) bool { return s&c == c }

// Keep resolves one text column of an after image whose Unchanged set is s:
// prev, the value the entity had before, when the change left column c
// unchanged; cur, the change's value, otherwise.
func (s ColumnSet) Keep(c ColumnSet, prev, cur string) string {
	if s.Has(c) {
		return prev
	}
	return cur
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
