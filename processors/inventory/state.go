package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/state"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// Table keys: one group table holds both kinds of entity, each under its
// key prefix followed by the row id in decimal.
const (
	productPrefix = "p/"
	itemPrefix    = "i/"
)

// ProductKey is the table key of a product's stock.
func ProductKey(id int64) string { return productPrefix + strconv.FormatInt(id, 10) }

// ItemKey is the table key of an order line.
func ItemKey(id int64) string { return itemPrefix + strconv.FormatInt(id, 10) }

// ParseProductKey returns the product id of a table key that holds a
// *Product, and false for any other key.
func ParseProductKey(key string) (id int64, ok bool) {
	rest, found := strings.CutPrefix(key, productPrefix)
	if !found {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || ProductKey(id) != key {
		return 0, false
	}
	return id, true
}

// IsProductKey reports whether a table key holds a *Product.
func IsProductKey(key string) bool {
	_, ok := ParseProductKey(key)
	return ok
}

// productID is the decimal id of a product key.
func productID(key string) string { return strings.TrimPrefix(key, productPrefix) }

// TableCodec is the goka.Codec of the group table: *Product under product
// keys, *Item under item keys.
type TableCodec struct{}

// tableKinds are the kinds of the group table. Their tags are those of the
// first release, whose values start with the tag alone (layout version 1).
var tableKinds = state.NewTable("inventory",
	state.Kind{Tag: 1, Name: "product", Version: 1, New: func() state.Value { return new(Product) }},
	state.Kind{Tag: 2, Name: "item", Version: 1, New: func() state.Value { return new(Item) }},
)

// Encode implements goka.Codec.
func (TableCodec) Encode(v any) ([]byte, error) { return tableKinds.Encode(v) }

// Decode implements goka.Codec.
func (TableCodec) Decode(data []byte) (any, error) { return tableKinds.Decode(data) }

// Product is the stock state of one product: the latest product version
// (which fixes the stock as of its commit position) plus the order-line
// deltas committed after it.
//
// Pending keeps deltas committed after the version individually, because a
// product version committed before them may still arrive when the products
// topic is read behind order_items; a newer version discards the deltas it
// already counts. At most PendingLimit are kept: past that the oldest are
// folded into Folded, which is exact as long as no version older than them
// arrives later (FoldedMax remembers how far folding went, to detect it).
type Product struct {
	Rev     uint64 // incremented on every change; orders the mirror's writes
	Applied delivery.Applied
	Live    bool // a version was seen and the product is not deleted
	Deleted bool

	Name        string
	Description string
	PriceCents  int64
	BaseStock   int64 // stock_quantity of the version at Applied.Pos

	Folded    int64
	FoldedMax debezium.Position
	Pending   []Pending

	Marks   delivery.Marks
	Alerted bool  // below threshold and alerted; re-armed at or above it
	CDCTsMs int64 // source time of the latest change applied
	Outbox  delivery.Outbox
}

// Box implements delivery.Entity.
func (p *Product) Box() *delivery.Outbox { return &p.Outbox }

// Pending is an order-line delta committed after the product's version.
type Pending struct {
	Pos    debezium.Position
	Amount int64
}

// Available is the product's available stock.
func (p *Product) Available() int64 {
	n := p.BaseStock + p.Folded
	for _, d := range p.Pending {
		n += d.Amount
	}
	return n
}

// NewestTsMs is the source time of the newest change reflected in the
// state: the version's or a pending order line's, whichever committed last.
// It measures how far behind the source a write of this state is.
func (p *Product) NewestTsMs() int64 {
	n := max(p.CDCTsMs, p.FoldedMax.TsMs)
	for _, d := range p.Pending {
		n = max(n, d.Pos.TsMs)
	}
	return n
}

// Item is the state of one order line: its current contribution to stock.
type Item struct {
	Applied   delivery.Applied
	Live      bool
	ProductID int64
	Quantity  int64
	Outbox    delivery.Outbox
}

// Box implements delivery.Entity.
func (it *Item) Box() *delivery.Outbox { return &it.Outbox }

// MarshalState implements the state encoding.
func (p *Product) MarshalState(w *state.Writer) {
	w.Uvarint(p.Rev)
	p.Applied.MarshalState(w)
	w.Bool(p.Live)
	w.Bool(p.Deleted)
	w.String(p.Name)
	w.String(p.Description)
	w.Varint(p.PriceCents)
	w.Varint(p.BaseStock)
	w.Varint(p.Folded)
	delivery.MarshalPosition(w, p.FoldedMax)
	w.Uvarint(uint64(len(p.Pending)))
	for _, d := range p.Pending {
		delivery.MarshalPosition(w, d.Pos)
		w.Varint(d.Amount)
	}
	p.Marks.MarshalState(w)
	w.Bool(p.Alerted)
	w.Varint(p.CDCTsMs)
	p.Outbox.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (p *Product) UnmarshalState(r *state.Reader, _ int) error {
	p.Rev = r.Uvarint()
	p.Applied.UnmarshalState(r)
	p.Live = r.Bool()
	p.Deleted = r.Bool()
	p.Name = r.String()
	p.Description = r.String()
	p.PriceCents = r.Varint()
	p.BaseStock = r.Varint()
	p.Folded = r.Varint()
	p.FoldedMax = delivery.UnmarshalPosition(r)
	n := r.Len()
	p.Pending = make([]Pending, 0, n)
	for i := 0; i < n && r.Err() == nil; i++ {
		p.Pending = append(p.Pending, Pending{Pos: delivery.UnmarshalPosition(r), Amount: r.Varint()})
	}
	p.Marks.UnmarshalState(r)
	p.Alerted = r.Bool()
	p.CDCTsMs = r.Varint()
	p.Outbox.UnmarshalState(r)
	return r.Err()
}

// MarshalState implements the state encoding.
func (it *Item) MarshalState(w *state.Writer) {
	it.Applied.MarshalState(w)
	w.Bool(it.Live)
	w.Varint(it.ProductID)
	w.Varint(it.Quantity)
	it.Outbox.MarshalState(w)
}

// UnmarshalState implements the state encoding.
func (it *Item) UnmarshalState(r *state.Reader, _ int) error {
	it.Applied.UnmarshalState(r)
	it.Live = r.Bool()
	it.ProductID = r.Varint()
	it.Quantity = r.Varint()
	it.Outbox.UnmarshalState(r)
	return r.Err()
}

// Events travel on the group's loopback topic, keyed by the entity they
// change.
const (
	evProduct byte = 1 // a product row change, keyed by product
	evItem    byte = 2 // an order line change, keyed by line
	evDelta   byte = 3 // a stock delta, keyed by product
)

// event is the decoded form of a loopback message.
type event struct {
	kind byte
	op   debezium.Op
	pos  debezium.Position
	// evProduct
	product   debezium.Product
	unchanged debezium.ColumnSet // text columns the change left as they were
	// evItem: the row images Debezium sent (before may be absent)
	hasBefore, hasAfter bool
	before, after       debezium.OrderItem
	// evDelta
	origin delivery.Origin
	amount int64
	// fp identifies the change among those sharing its timestamp.
	fp uint64
}

func productEvent(m *debezium.Message) []byte {
	w := state.NewWriter(make([]byte, 0, 128))
	w.Byte(evProduct)
	w.Byte(byte(m.Op))
	delivery.MarshalPosition(w, m.Pos)
	w.ProductChange(m)
	return w.Bytes()
}

func itemEvent(m *debezium.Message) []byte {
	w := state.NewWriter(make([]byte, 0, 96))
	w.Byte(evItem)
	w.Byte(byte(m.Op))
	delivery.MarshalPosition(w, m.Pos)
	w.OrderItemImages(m.BeforeItem, m.AfterItem)
	return w.Bytes()
}

func deltaEvent(o delivery.Origin, pos debezium.Position, amount int64) []byte {
	w := state.NewWriter(make([]byte, 0, 32))
	w.Byte(evDelta)
	delivery.MarshalOrigin(w, o)
	delivery.MarshalPosition(w, pos)
	w.Varint(amount)
	return w.Bytes()
}

func decodeEvent(b []byte) (event, error) {
	r := state.NewReader(b)
	ev := event{kind: r.Byte()}
	switch ev.kind {
	case evProduct:
		ev.op = debezium.Op(r.Byte())
		ev.pos = delivery.UnmarshalPosition(r)
		start := len(b) - r.Remaining()
		ev.product, ev.unchanged = r.ProductChange()
		ev.fp = delivery.Fingerprint(ev.op, b[start:len(b)-r.Remaining()])
	case evItem:
		ev.op = debezium.Op(r.Byte())
		ev.pos = delivery.UnmarshalPosition(r)
		start := len(b) - r.Remaining()
		ev.before, ev.after, ev.hasBefore, ev.hasAfter = r.OrderItemImages()
		ev.fp = delivery.Fingerprint(ev.op, b[start:len(b)-r.Remaining()])
	case evDelta:
		ev.origin = delivery.UnmarshalOrigin(r)
		ev.pos = delivery.UnmarshalPosition(r)
		ev.amount = r.Varint()
	default:
		return event{}, fmt.Errorf("inventory: unknown loop event kind %d", ev.kind)
	}
	if err := r.Done(); err != nil {
		return event{}, fmt.Errorf("inventory: loop event: %w", err)
	}
	return ev, nil
}
