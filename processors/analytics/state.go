package analytics

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/state"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// Table key prefixes: one group table holds every kind of entity, the kind
// told by the prefix of its key.
const (
	OrderPrefix    = "o/" // o/<order id>: *Order
	LinePrefix     = "l/" // l/<line id>: *Line
	DailyPrefix    = "d/" // d/<YYYY-MM-DD>: *Daily
	ProductPrefix  = "p/" // p/<product id>: *ProductSales
	CustomerPrefix = "c/" // c/<customer id>: *Customer
	StatusPrefix   = "s/" // s/<status>: *Status
	WindowPrefix   = "w/" // w/<window start, Unix seconds>: *Window
)

// WindowSeconds is the length of the tumbling windows.
const WindowSeconds = 300

// DayLayout is the layout of a daily key's date.
const DayLayout = "2006-01-02"

// OrderKey is the table key of an order.
func OrderKey(id int64) string { return OrderPrefix + strconv.FormatInt(id, 10) }

// LineKey is the table key of an order line.
func LineKey(id int64) string { return LinePrefix + strconv.FormatInt(id, 10) }

// DailyKey is the table key of the UTC day of a created_at in Unix
// microseconds.
func DailyKey(createdAtUs int64) string { return DailyPrefix + Day(createdAtUs) }

// ProductKey is the table key of a product's sales.
func ProductKey(id int64) string { return ProductPrefix + strconv.FormatInt(id, 10) }

// CustomerKey is the table key of a customer's figures.
func CustomerKey(id int64) string { return CustomerPrefix + strconv.FormatInt(id, 10) }

// StatusKey is the table key of an order status's count.
func StatusKey(status string) string { return StatusPrefix + status }

// WindowKey is the table key of the window holding a created_at in Unix
// microseconds.
func WindowKey(createdAtUs int64) string {
	return WindowPrefix + strconv.FormatInt(WindowStart(createdAtUs), 10)
}

// Day is the UTC day ("2025-01-15") of a time in Unix microseconds.
func Day(us int64) string { return time.UnixMicro(us).UTC().Format(DayLayout) }

// WindowStart is the start, in Unix seconds, of the window holding a time in
// Unix microseconds (floored, also before 1970).
func WindowStart(us int64) int64 {
	sec := us / 1_000_000
	if us < 0 && us%1_000_000 != 0 {
		sec--
	}
	w := sec / WindowSeconds * WindowSeconds
	if sec < 0 && sec%WindowSeconds != 0 {
		w -= WindowSeconds
	}
	return w
}

// Order is the state of one order: its row as of the latest change absorbed
// and the quantity of its live lines. While Live, the order contributes to
// its day, customer, status and window; a line may arrive before its order,
// which then holds ItemsQty only. A deleted order keeps Applied (and
// ItemsQty, which its remaining lines still change) as a tombstone.
type Order struct {
	Applied    delivery.Applied
	Live       bool
	Deleted    bool
	CustomerID int64
	TotalCents int64
	Status     string
	CreatedAt  int64 // Unix µs UTC
	ItemsQty   int64 // Σ quantity of the order's live lines
	Marks      delivery.Marks
	Outbox     delivery.Outbox
}

// Line is the state of one order line: its current contribution.
type Line struct {
	Applied    delivery.Applied
	Live       bool
	OrderID    int64 // 0: NULL
	ProductID  int64 // 0: NULL
	Quantity   int64
	PriceCents int64
	Outbox     delivery.Outbox
}

// Daily is the sales of one UTC day of created_at.
type Daily struct {
	TotalCents int64
	OrderCount int64
	Marks      delivery.Marks
}

// ProductSales is one product's sales over the live lines.
type ProductSales struct {
	QuantitySold int64
	RevenueCents int64 // Σ quantity × line price
	LiveLines    int64
	Marks        delivery.Marks
}

// Customer is one customer's figures over their live orders.
type Customer struct {
	OrderCount      int64
	TotalSpentCents int64
	Marks           delivery.Marks
}

// Status is the number of live orders in one status.
type Status struct {
	Count int64
	Marks delivery.Marks
}

// Window is one 5-minute tumbling window of order creation time.
type Window struct {
	Orders       int64
	RevenueCents int64
	ItemsSold    int64 // Σ quantity of the live lines of the window's live orders
	Marks        delivery.Marks
}

// IsZero reports whether the day has no live order.
func (d *Daily) IsZero() bool { return d.TotalCents == 0 && d.OrderCount == 0 }

// IsZero reports whether the product has no live line.
func (p *ProductSales) IsZero() bool {
	return p.QuantitySold == 0 && p.RevenueCents == 0 && p.LiveLines == 0
}

// IsZero reports whether the customer has no live order.
func (c *Customer) IsZero() bool { return c.OrderCount == 0 && c.TotalSpentCents == 0 }

// IsZero reports whether the window has no live order and no item.
func (w *Window) IsZero() bool { return w.Orders == 0 && w.RevenueCents == 0 && w.ItemsSold == 0 }

// MarshalState implements the state encoding.
func (o *Order) MarshalState(w *state.Writer) {
	o.Applied.MarshalState(w)
	w.Bool(o.Live)
	w.Bool(o.Deleted)
	w.Varint(o.CustomerID)
	w.Varint(o.TotalCents)
	w.String(o.Status)
	w.Varint(o.CreatedAt)
	w.Varint(o.ItemsQty)
	o.Marks.MarshalState(w)
	o.Outbox.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (o *Order) UnmarshalState(r *state.Reader, _ int) error {
	o.Applied.UnmarshalState(r)
	o.Live = r.Bool()
	o.Deleted = r.Bool()
	o.CustomerID = r.Varint()
	o.TotalCents = r.Varint()
	o.Status = r.String()
	o.CreatedAt = r.Varint()
	o.ItemsQty = r.Varint()
	o.Marks.UnmarshalState(r)
	o.Outbox.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (l *Line) MarshalState(w *state.Writer) {
	l.Applied.MarshalState(w)
	w.Bool(l.Live)
	w.Varint(l.OrderID)
	w.Varint(l.ProductID)
	w.Varint(l.Quantity)
	w.Varint(l.PriceCents)
	l.Outbox.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (l *Line) UnmarshalState(r *state.Reader, _ int) error {
	l.Applied.UnmarshalState(r)
	l.Live = r.Bool()
	l.OrderID = r.Varint()
	l.ProductID = r.Varint()
	l.Quantity = r.Varint()
	l.PriceCents = r.Varint()
	l.Outbox.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (d *Daily) MarshalState(w *state.Writer) {
	w.Varint(d.TotalCents)
	w.Varint(d.OrderCount)
	d.Marks.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (d *Daily) UnmarshalState(r *state.Reader, _ int) error {
	d.TotalCents = r.Varint()
	d.OrderCount = r.Varint()
	d.Marks.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (p *ProductSales) MarshalState(w *state.Writer) {
	w.Varint(p.QuantitySold)
	w.Varint(p.RevenueCents)
	w.Varint(p.LiveLines)
	p.Marks.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (p *ProductSales) UnmarshalState(r *state.Reader, _ int) error {
	p.QuantitySold = r.Varint()
	p.RevenueCents = r.Varint()
	p.LiveLines = r.Varint()
	p.Marks.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (c *Customer) MarshalState(w *state.Writer) {
	w.Varint(c.OrderCount)
	w.Varint(c.TotalSpentCents)
	c.Marks.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (c *Customer) UnmarshalState(r *state.Reader, _ int) error {
	c.OrderCount = r.Varint()
	c.TotalSpentCents = r.Varint()
	c.Marks.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (s *Status) MarshalState(w *state.Writer) {
	w.Varint(s.Count)
	s.Marks.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (s *Status) UnmarshalState(r *state.Reader, _ int) error {
	s.Count = r.Varint()
	s.Marks.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (w *Window) MarshalState(wr *state.Writer) {
	wr.Varint(w.Orders)
	wr.Varint(w.RevenueCents)
	wr.Varint(w.ItemsSold)
	w.Marks.MarshalState(wr)
}

// UnmarshalState implements the state encoding.
func (w *Window) UnmarshalState(r *state.Reader, _ int) error {
	w.Orders = r.Varint()
	w.RevenueCents = r.Varint()
	w.ItemsSold = r.Varint()
	w.Marks.UnmarshalState(r)
	return r.Err()
}

// TableCodec is the goka.Codec of the group table: the value of each
// kind (kinds.go) under its keys.
type TableCodec struct{}

// Encode implements goka.Codec.
func (TableCodec) Encode(v any) ([]byte, error) { return tableKinds.Encode(v) }

// Decode implements goka.Codec.
func (TableCodec) Decode(data []byte) (any, error) { return tableKinds.Decode(data) }

// Events travel on the group's loopback topic, keyed by the entity they
// change.
const (
	evOrder byte = 1 // an order row change, keyed by order
	evLine  byte = 2 // an order line change, keyed by line
	evDelta byte = 3 // a change of figures, keyed by the receiving entity
)

// event is the decoded form of a loopback message.
type event struct {
	kind byte
	op   debezium.Op
	pos  debezium.Position
	// evOrder / evLine: the row images Debezium sent (before may be absent)
	hasBefore, hasAfter     bool
	beforeOrder, afterOrder debezium.Order
	beforeLine, afterLine   debezium.OrderItem
	unchanged               debezium.ColumnSet // evOrder: text columns left unchanged
	// evDelta
	origin delivery.Origin
	delta  Delta
	// fp identifies the change among those sharing its timestamp.
	fp uint64
}

func orderEvent(m *debezium.Message) []byte {
	w := state.NewWriter(make([]byte, 0, 96))
	w.Byte(evOrder)
	w.Byte(byte(m.Op))
	delivery.MarshalPosition(w, m.Pos)
	w.OrderImages(m.BeforeOrder, m.AfterOrder)
	w.Uvarint(uint64(m.Unchanged))
	return w.Bytes()
}

func lineEvent(m *debezium.Message) []byte {
	w := state.NewWriter(make([]byte, 0, 96))
	w.Byte(evLine)
	w.Byte(byte(m.Op))
	delivery.MarshalPosition(w, m.Pos)
	w.OrderItemImages(m.BeforeItem, m.AfterItem)
	return w.Bytes()
}

func deltaEvent(o delivery.Origin, d Delta) []byte {
	w := state.NewWriter(make([]byte, 0, 32))
	w.Byte(evDelta)
	delivery.MarshalOrigin(w, o)
	w.Varint(d.Orders)
	w.Varint(d.Cents)
	w.Varint(d.Items)
	w.Varint(d.Lines)
	return w.Bytes()
}

func decodeEvent(b []byte) (event, error) {
	r := state.NewReader(b)
	ev := event{kind: r.Byte()}
	switch ev.kind {
	case evOrder:
		ev.op = debezium.Op(r.Byte())
		ev.pos = delivery.UnmarshalPosition(r)
		start := len(b) - r.Remaining()
		ev.beforeOrder, ev.afterOrder, ev.hasBefore, ev.hasAfter = r.OrderImages()
		ev.unchanged = debezium.ColumnSet(r.Uvarint())
		ev.fp = delivery.Fingerprint(ev.op, b[start:len(b)-r.Remaining()])
	case evLine:
		ev.op = debezium.Op(r.Byte())
		ev.pos = delivery.UnmarshalPosition(r)
		start := len(b) - r.Remaining()
		ev.beforeLine, ev.afterLine, ev.hasBefore, ev.hasAfter = r.OrderItemImages()
		ev.fp = delivery.Fingerprint(ev.op, b[start:len(b)-r.Remaining()])
	case evDelta:
		ev.origin = delivery.UnmarshalOrigin(r)
		ev.delta = Delta{Orders: r.Varint(), Cents: r.Varint(), Items: r.Varint(), Lines: r.Varint()}
	default:
		return event{}, fmt.Errorf("analytics: unknown loop event kind %d", ev.kind)
	}
	if err := r.Done(); err != nil {
		return event{}, fmt.Errorf("analytics: loop event: %w", err)
	}
	return ev, nil
}
