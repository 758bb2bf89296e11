package state

import (
	"fmt"
	"reflect"
	"sync/atomic"
)

// Value is a table value that encodes itself.
type Value interface {
	// MarshalState writes the value's fields in its kind's current layout.
	MarshalState(w *Writer)
	// UnmarshalState reads fields written in layout version (1 up to the
	// kind's Version).
	UnmarshalState(r *Reader, version int) error
}

// Kind is one kind of value a group table holds.
type Kind struct {
	// Tag names the kind in the header byte: 1 to 15.
	Tag byte
	// Name names the kind in errors and metrics.
	Name string
	// Version is the layout the binary writes, 1 to 16. Values written in
	// an earlier layout are still read (UnmarshalState gets the version);
	// values written in a later one, by a newer binary, are refused.
	Version int
	// New returns an empty value of the kind, as a pointer.
	New func() Value
}

// Limits of the header byte.
const (
	MaxTag     = 15
	MaxVersion = 16
)

// header is a value's first byte: the tag in the low four bits, the
// version minus one in the high four. The values written before versions
// existed start with their kind's tag alone, which reads as version 1.
func header(tag byte, version int) byte { return byte(version-1)<<4 | tag }

// Table is the goka.Codec of a group table holding values of the given
// kinds. Decode returns the pointer its kind's New returns.
type Table struct {
	name   string
	byTag  [MaxTag + 1]*Kind
	byType map[reflect.Type]*Kind
	// sizes are the encoded sizes last seen per tag: Encode starts its
	// buffer there instead of growing it value by value.
	sizes [MaxTag + 1]atomic.Int32
}

// NewTable returns the codec of a table named name (for errors) holding the
// kinds. It panics when two kinds share a tag or a type, or a tag or
// version is out of range: the table is a constant of the program.
func NewTable(name string, kinds ...Kind) *Table {
	t := &Table{name: name, byType: make(map[reflect.Type]*Kind, len(kinds))}
	for i := range kinds {
		k := &kinds[i]
		if k.Tag == 0 || k.Tag > MaxTag || k.Version < 1 || k.Version > MaxVersion || k.New == nil {
			panic(fmt.Sprintf("state: table %s: kind %q has tag %d, version %d", name, k.Name, k.Tag, k.Version))
		}
		typ := reflect.TypeOf(k.New())
		if t.byTag[k.Tag] != nil || t.byType[typ] != nil {
			panic(fmt.Sprintf("state: table %s: kind %q repeats a tag or a type", name, k.Name))
		}
		t.byTag[k.Tag], t.byType[typ] = k, k
	}
	return t
}

// Encode implements goka.Codec: the header, then the value's fields.
func (t *Table) Encode(v any) ([]byte, error) {
	k, ok := t.byType[reflect.TypeOf(v)]
	if !ok {
		return nil, fmt.Errorf("%s table codec: cannot encode %T", t.name, v)
	}
	w := NewWriter(make([]byte, 0, max(64, int(t.sizes[k.Tag].Load()))))
	w.Byte(header(k.Tag, k.Version))
	v.(Value).MarshalState(w)
	b := w.Bytes()
	t.sizes[k.Tag].Store(int32(min(len(b)+len(b)/8, 1<<16)))
	return b, nil
}

// Decode implements goka.Codec.
func (t *Table) Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s table codec: empty value", t.name)
	}
	tag, version := data[0]&0x0f, int(data[0]>>4)+1
	k := t.byTag[tag]
	if k == nil {
		return nil, fmt.Errorf("%s table codec: unknown kind %d", t.name, tag)
	}
	if version > k.Version {
		return nil, fmt.Errorf("%s table codec: %s value in layout version %d, but this binary knows versions up to %d (written by a newer binary?)",
			t.name, k.Name, version, k.Version)
	}
	v := k.New()
	r := NewReader(data[1:])
	if err := v.UnmarshalState(r, version); err != nil {
		return nil, fmt.Errorf("%s table codec: %s value (version %d): %w", t.name, k.Name, version, err)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%s table codec: %s value (version %d): %w", t.name, k.Name, version, err)
	}
	return v, nil
}
