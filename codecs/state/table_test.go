package state

import (
	"strings"
	"testing"
)

// counter is a kind whose layout 2 added Unit after Count.
type counter struct {
	Count int64
	Unit  string // layout 2; "items" for values written in layout 1
}

func (c *counter) MarshalState(w *Writer) { w.Varint(c.Count); w.String(c.Unit) }

func (c *counter) UnmarshalState(r *Reader, version int) error {
	c.Count = r.Varint()
	c.Unit = "items"
	if version >= 2 {
		c.Unit = r.String()
	}
	return r.Err()
}

type flag struct{ On bool }

func (f *flag) MarshalState(w *Writer)                { w.Bool(f.On) }
func (f *flag) UnmarshalState(r *Reader, _ int) error { f.On = r.Bool(); return r.Err() }

func testTable() *Table {
	return NewTable("test",
		Kind{Tag: 1, Name: "counter", Version: 2, New: func() Value { return new(counter) }},
		Kind{Tag: 15, Name: "flag", Version: 1, New: func() Value { return new(flag) }},
	)
}

func TestTableRoundTripsAndWritesTheHeader(t *testing.T) {
	tab := testTable()
	b, err := tab.Encode(&counter{Count: -3, Unit: "g"})
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0x11 { // version 2 (stored as 1) in the high nibble, tag 1
		t.Errorf("header %#x, want 0x11", b[0])
	}
	v, err := tab.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if c := v.(*counter); c.Count != -3 || c.Unit != "g" {
		t.Errorf("decoded %+v", c)
	}
	b, _ = tab.Encode(&flag{On: true})
	if b[0] != 0x0f {
		t.Errorf("flag header %#x, want 0x0f", b[0])
	}
}

// A value written in layout 1, before Unit existed (and before headers
// carried versions: its first byte is the bare tag), still decodes.
func TestTableReadsAnOlderLayout(t *testing.T) {
	w := NewWriter(nil)
	w.Byte(1)
	w.Varint(42)
	v, err := testTable().Decode(w.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if c := v.(*counter); c.Count != 42 || c.Unit != "items" {
		t.Errorf("decoded %+v, want 42 items", c)
	}
}

func TestTableRefuses(t *testing.T) {
	tab := testTable()
	good, _ := tab.Encode(&flag{On: true})
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":         {nil, "empty value"},
		"unknown kind":  {[]byte{0x02, 0}, "unknown kind 2"},
		"newer layout":  {[]byte{0x1f, 1}, "flag value in layout version 2, but this binary knows versions up to 1"},
		"newer counter": {[]byte{0x21, 2}, "counter value in layout version 3"},
		"trailing":      {append(good, 9), "trailing"},
		"short":         {[]byte{0x11, 4}, "truncated"},
	} {
		if _, err := tab.Decode(tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Decode(%x) = %v, want an error with %q", name, tc.data, err, tc.want)
		}
	}
	if _, err := tab.Encode(struct{}{}); err == nil {
		t.Error("encoded a value of no kind")
	}
	if _, err := tab.Encode(counter{}); err == nil {
		t.Error("encoded a non-pointer value")
	}
}

func TestNewTablePanicsOnBadKinds(t *testing.T) {
	mk := func(kinds ...Kind) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		NewTable("bad", kinds...)
		return false
	}
	c := func() Value { return new(counter) }
	f := func() Value { return new(flag) }
	for name, kinds := range map[string][]Kind{
		"tag 0":         {{Tag: 0, Version: 1, New: c}},
		"tag 16":        {{Tag: 16, Version: 1, New: c}},
		"version 0":     {{Tag: 1, Version: 0, New: c}},
		"version 17":    {{Tag: 1, Version: 17, New: c}},
		"no New":        {{Tag: 1, Version: 1}},
		"repeated tag":  {{Tag: 1, Version: 1, New: c}, {Tag: 1, Version: 1, New: f}},
		"repeated type": {{Tag: 1, Version: 1, New: c}, {Tag: 2, Version: 1, New: c}},
	} {
		if !mk(kinds...) {
			t.Errorf("%s: no panic", name)
		}
	}
}
