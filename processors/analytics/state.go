package analytics

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/state"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// Table key prefixes: one group table holds the orders and the order
// lines, the kind told by the prefix of its key.
const (
	OrderPrefix = "o/" // o/<order id>: *Order
	LinePrefix  = "l/" // l/<line id>: *Line
)

// WindowSeconds is the length of the tumbling windows.
const WindowSeconds = 300

// DayLayout is the layout of a daily key's date.
const DayLayout = "2006-01-02"

// OrderKey is the table key of an order.
func OrderKey(id int64) string { return OrderPrefix + strconv.FormatInt(id, 10) }

// LineKey is the table key of an order line.
func LineKey(id int64) string { return LinePrefix + strconv.FormatInt(id, 10) }

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
// and the quantity of its live lines. While Live, the order counts in its
// day, customer, status and window (Figures); a line may arrive before its
// order, which then holds ItemsQty only. A deleted order keeps Applied,
// CreatedAt and ItemsQty (which its remaining lines still change) as a
// tombstone. LeftWindows are the windows it counted in before its
// created_at moved: with CreatedAt they keep every window it emptied known
// (Figures), also to a view that folds the table from scratch.

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
	// LeftWindows are window starts (WindowStart) the order counted in
	// and left, the newest last; at most MaxLeftWindows.
	LeftWindows []int64
}

// MaxLeftWindows bounds Order.LeftWindows: an order whose created_at moved
// more often forgets the oldest windows it left.
const MaxLeftWindows = 8

// Line is the state of one order line: its current row and the outbox of
// the item changes it sent its orders.
type Line struct {
	Applied    delivery.Applied
	Live       bool
	OrderID    int64 // 0: NULL
	ProductID  int64 // 0: NULL
	Quantity   int64
	PriceCents int64
	Outbox     delivery.Outbox
}

// MarshalState implements the state encoding (layout 2).
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
	w.Uvarint(uint64(len(o.LeftWindows)))
	for _, ws := range o.LeftWindows {
		w.Varint(ws)
	}
}

// UnmarshalState implements the state encoding. Layout 1 ended with the
// outbox of the deltas an order sent its aggregates, which no longer
// exist: it is read and dropped.
func (o *Order) UnmarshalState(r *state.Reader, version int) error {
	o.Applied.UnmarshalState(r)
	o.Live = r.Bool()
	o.Deleted = r.Bool()
	o.CustomerID = r.Varint()
	o.TotalCents = r.Varint()
	o.Status = r.String()
	o.CreatedAt = r.Varint()
	o.ItemsQty = r.Varint()
	o.Marks.UnmarshalState(r)
	if version == 1 {
		var sent delivery.Outbox
		sent.UnmarshalState(r)
		return r.Err()
	}
	n := r.Len()
	for i := 0; i < n && r.Err() == nil; i++ {
		o.LeftWindows = append(o.LeftWindows, r.Varint())
	}
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

// TableCodec is the goka.Codec of the group table: the value of each
// kind (kinds.go) under its keys.
type TableCodec struct{}

// Encode implements goka.Codec.
func (TableCodec) Encode(v any) ([]byte, error) { return tableKinds.Encode(v) }

// Decode implements goka.Codec. A value of a retired kind decodes to a
// Retired.
func (TableCodec) Decode(data []byte) (any, error) {
	if len(data) > 0 {
		if name, ok := retiredTags[data[0]&0x0f]; ok {
			return Retired{Kind: name}, nil
		}
	}
	return tableKinds.Decode(data)
}

// Retired is the value of a key of the first release's aggregates (tags 3
// to 7, see kinds): its content is not read, it counts in nothing, and it
// is deleted when a delta reaches it.
type Retired struct {
	Kind string // "daily", "product", "customer", "status" or "window"
}

var retiredTags = map[byte]string{3: "daily", 4: "product", 5: "customer", 6: "status", 7: "window"}

// Events travel on the group's loopback topic, keyed by the entity they
// change.
const (
	evOrder byte = 1 // an order row change, keyed by order
	evLine  byte = 2 // an order line change, keyed by line
	evDelta byte = 3 // a change of an order's items, keyed by the order
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
