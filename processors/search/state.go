package search

import (
	"fmt"
	"strconv"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/codecs/state"
	"github.com/cdcflow/cdcflow/processors/delivery"
)

// Key is the table key of a product's search document: the product id as a
// plain decimal string ("123"). The group table holds one kind of entity, so
// no prefix is needed.
func Key(id int64) string { return strconv.FormatInt(id, 10) }

// ParseKey returns the product id of a table key; false for a key that is
// not a positive decimal id.
func ParseKey(key string) (int64, bool) {
	id, err := strconv.ParseInt(key, 10, 64)
	if err != nil || id <= 0 || Key(id) != key {
		return 0, false
	}
	return id, true
}

// Doc is the search document of one product: the latest row version of the
// product as of its commit position. A deleted product keeps a tombstone
// (Deleted, Applied) so that a redelivered older version is rejected.
// Tokens are not stored: they are derived from Name and Description (see
// Tokens).
type Doc struct {
	Rev     uint64 // incremented on every applied change; orders the mirror's writes
	Applied delivery.Applied
	Live    bool // a version was seen and the product is not deleted
	Deleted bool

	Name        string
	Description string
	PriceCents  int64
	Stock       int64 // stock_quantity of the latest version
	CDCTsMs     int64 // source time (commit, ms) of the latest change applied
}

// Box implements delivery.Entity: a Doc emits nothing.
func (d *Doc) Box() *delivery.Outbox { return nil }

// MarshalState implements the state encoding.
func (d *Doc) MarshalState(w *state.Writer) {
	w.Uvarint(d.Rev)
	d.Applied.MarshalState(w)
	w.Bool(d.Live)
	w.Bool(d.Deleted)
	w.String(d.Name)
	w.String(d.Description)
	w.Varint(d.PriceCents)
	w.Varint(d.Stock)
	w.Varint(d.CDCTsMs)
}

// UnmarshalState implements the state encoding.
func (d *Doc) UnmarshalState(r *state.Reader, _ int) error {
	d.Rev = r.Uvarint()
	if err := d.Applied.UnmarshalState(r); err != nil {
		return err
	}
	d.Live = r.Bool()
	d.Deleted = r.Bool()
	d.Name = r.String()
	d.Description = r.String()
	d.PriceCents = r.Varint()
	d.Stock = r.Varint()
	d.CDCTsMs = r.Varint()
	return r.Err()
}

// DocCodec is the goka.Codec of the group table: *Doc under every key.
type DocCodec struct{}

// tableKinds are the kinds of the group table: one. Values of the first
// release start with the tag alone (layout version 1).
var tableKinds = state.NewTable("search",
	state.Kind{Tag: 1, Name: "doc", Version: 1, New: func() state.Value { return new(Doc) }},
)

// Encode implements goka.Codec.
func (DocCodec) Encode(v any) ([]byte, error) { return tableKinds.Encode(v) }

// Decode implements goka.Codec. It returns *Doc.
func (DocCodec) Decode(data []byte) (any, error) { return tableKinds.Decode(data) }

// DecodeDoc decodes a table value.
func DecodeDoc(data []byte) (*Doc, error) {
	v, err := DocCodec{}.Decode(data)
	if err != nil {
		return nil, err
	}
	return v.(*Doc), nil
}

// Loop events: a product row change re-keyed by product id.
const evVersion byte = 1

// event is the decoded form of a loopback message.
type event struct {
	op  debezium.Op
	pos debezium.Position
	row debezium.Product
	// unchanged lists the text columns the change left as they were.
	unchanged debezium.ColumnSet
	fp        uint64 // identifies the change among those sharing its timestamp
}

// changeEvent encodes a decoded product change for the loopback topic: the
// operation, commit position and the row image that matters (after for
// r/c/u, before for d).
func changeEvent(m *debezium.Message) []byte {
	w := state.NewWriter(make([]byte, 0, 128))
	w.Byte(evVersion)
	w.Byte(byte(m.Op))
	delivery.MarshalPosition(w, m.Pos)
	w.ProductChange(m)
	return w.Bytes()
}

func decodeEvent(b []byte) (event, error) {
	r := state.NewReader(b)
	if v := r.Byte(); r.Err() == nil && v != evVersion {
		return event{}, fmt.Errorf("search: loop event has version %d, want %d", v, evVersion)
	}
	ev := event{op: debezium.Op(r.Byte()), pos: delivery.UnmarshalPosition(r)}
	start := len(b) - r.Remaining()
	ev.row, ev.unchanged = r.ProductChange()
	if err := r.Done(); err != nil {
		return event{}, fmt.Errorf("search: loop event: %w", err)
	}
	switch ev.op {
	case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate, debezium.OpDelete:
	default:
		return event{}, fmt.Errorf("search: loop event has op %q", ev.op.String())
	}
	ev.fp = delivery.Fingerprint(ev.op, b[start:])
	return ev, nil
}
