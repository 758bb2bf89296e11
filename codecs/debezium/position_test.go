package debezium

import (
	"strings"
	"testing"
)

// envelopeWith returns a schemaless products envelope whose source block
// holds the given members.
func envelopeWith(op, source, before, after string) []byte {
	return []byte(`{"before":` + before + `,"after":` + after + `,"source":{"version":"2.7.3.Final","connector":"postgresql","name":"dbserver1","ts_ms":1736931700000,` +
		source + `,"schema":"public","table":"products","txId":730,"xmin":null},"op":"` + op + `","ts_ms":1736931700020,"transaction":null}`)
}

const productRow = `{"id":1,"name":"Laptop","description":"fast","price":"AYag","stock_quantity":100,"created_at":1736931600000000,"updated_at":null}`

func TestPositionFromSequence(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	cases := []struct {
		name  string
		value []byte
		want  Position
	}{
		{"envelope", envelopeWith("u", `"sequence":"[\"22230528\",\"22230944\"]","lsn":22230944`, "null", productRow),
			Position{Sequenced: true, Commit: 22230528, LSN: 22230944, TsMs: 1736931700000}},
		{"snapshot row", envelopeWith("r", `"snapshot":"true","sequence":"[null,\"22228992\"]","lsn":22228992`, "null", productRow),
			Position{Snapshot: true, Sequenced: true, LSN: 22228992, TsMs: 1736931700000}},
		{"first streamed transaction", envelopeWith("c", `"sequence":"[null,\"22230944\"]","lsn":22230944`, "null", productRow),
			Position{Sequenced: true, LSN: 22230944, TsMs: 1736931700000}},
		{"no sequence", envelopeWith("u", `"sequence":null,"lsn":22230944`, "null", productRow),
			Position{LSN: 22230944, TsMs: 1736931700000}},
		{"flattened __source_sequence", []byte(`{"id":1,"name":"Laptop","price":"12.34","stock_quantity":5,"__op":"u","__source_ts_ms":1736931700000,"__source_table":"products","__source_lsn":22230944,"__source_sequence":"[\"22230528\",\"22230944\"]","__deleted":"false"}`),
			Position{Sequenced: true, Commit: 22230528, LSN: 22230944, TsMs: 1736931700000}},
		{"flattened __sequence", []byte(`{"id":1,"name":"Laptop","price":"12.34","stock_quantity":5,"__op":"u","__source_ts_ms":1736931700000,"__sequence":"[\"7\",\"9\"]","__deleted":"false"}`),
			Position{Sequenced: true, Commit: 7, LSN: 9, TsMs: 1736931700000}},
		{"flattened snapshot without sequence", []byte(`{"id":1,"name":"Laptop","price":"12.34","stock_quantity":5,"__op":"r","__source_ts_ms":1736931700000,"__deleted":"false"}`),
			Position{Snapshot: true, TsMs: 1736931700000}},
	}
	for _, c := range cases {
		m, err := d.Decode("dbserver1.public.products", []byte(`{"id":1}`), c.value)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if m.Pos != c.want {
			t.Errorf("%s: position %+v, want %+v", c.name, m.Pos, c.want)
		}
	}
	for _, bad := range []string{`"[\"1\"]"`, `"[1,2]"`, `"[\"x\",\"2\"]"`, `12`, `"[\"1\",\"2\"] x"`} {
		_, err := d.Decode("dbserver1.public.products", []byte(`{"id":1}`), envelopeWith("u", `"sequence":`+bad+`,"lsn":2`, "null", productRow))
		if err == nil || !strings.Contains(err.Error(), "source.sequence") {
			t.Errorf("sequence %s: error %v, want one naming source.sequence", bad, err)
		}
	}
}

// TestCompareIsCommitOrder orders positions as the PostgreSQL run
// delivered them: a line written before a restock but committed after it.
func TestCompareIsCommitOrder(t *testing.T) {
	snapshot := Position{Snapshot: true, Sequenced: true, LSN: 22228992, TsMs: 1}
	restock := Position{Sequenced: true, Commit: 22230528, LSN: 22230944, TsMs: 1736931700000}
	line := Position{Sequenced: true, Commit: 22231144, LSN: 22230696, TsMs: 1736931700001}
	firstStreamed := Position{Sequenced: true, LSN: 1, TsMs: 5}
	inOrder := []Position{snapshot, firstStreamed, restock, line}
	for i, p := range inOrder {
		for j, q := range inOrder {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := p.Compare(q); got != want {
				t.Errorf("Compare(%v, %v) = %d, want %d", p, q, got, want)
			}
		}
	}
	// Without a sequence the commit time decides, then the LSN, and a
	// shared millisecond is ambiguous.
	a, b := Position{LSN: 900, TsMs: 10}, Position{LSN: 100, TsMs: 11}
	if a.Compare(b) != -1 || a.Ambiguous(b) {
		t.Errorf("Compare(%v, %v) = %d (ambiguous %v), want -1, not ambiguous", a, b, a.Compare(b), a.Ambiguous(b))
	}
	c := Position{LSN: 100, TsMs: 10}
	if a.Compare(c) != 1 || !a.Ambiguous(c) {
		t.Errorf("Compare(%v, %v) = %d (ambiguous %v), want 1, ambiguous", a, c, a.Compare(c), a.Ambiguous(c))
	}
	if restock.Ambiguous(line) {
		t.Errorf("sequenced positions reported ambiguous")
	}
}

func TestUnavailablePlaceholder(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	toasted := `{"id":1,"name":"Laptop","description":"__debezium_unavailable_value","price":"AYag","stock_quantity":90,"created_at":1736931600000000,"updated_at":null}`
	// REPLICA IDENTITY DEFAULT: no before image, the column stays unchanged.
	m, err := d.Decode("dbserver1.public.products", []byte(`{"id":1}`), envelopeWith("u", `"sequence":null,"lsn":5`, "null", toasted))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Unchanged.Has(ProductDescription) || m.Unchanged.Has(ProductName) || m.AfterProduct.Description != "" {
		t.Fatalf("default identity: unchanged %b, description %q; want description unchanged and empty", m.Unchanged, m.AfterProduct.Description)
	}
	if got := m.Unchanged.Keep(ProductDescription, "long text", m.AfterProduct.Description); got != "long text" {
		t.Fatalf("Keep = %q, want the previous value", got)
	}
	// REPLICA IDENTITY FULL: the before image says what it is.
	m, err = d.Decode("dbserver1.public.products", []byte(`{"id":1}`), envelopeWith("u", `"sequence":null,"lsn":5`, productRow, toasted))
	if err != nil {
		t.Fatal(err)
	}
	if m.Unchanged != 0 || m.AfterProduct.Description != "fast" || m.AfterProduct.StockQuantity != 90 {
		t.Fatalf("full identity: unchanged %b, after %+v; want the description from the before image", m.Unchanged, m.AfterProduct)
	}
	// A placeholder in a required column counts as present.
	m, err = d.Decode("dbserver1.public.products", []byte(`{"id":1}`), envelopeWith("u", `"sequence":null,"lsn":5`, "null",
		strings.Replace(toasted, `"Laptop"`, `"__debezium_unavailable_value"`, 1)))
	if err != nil || !m.Unchanged.Has(ProductName|ProductDescription) {
		t.Fatalf("placeholder name: %v, unchanged %b", err, m.Unchanged)
	}
	// A configured placeholder replaces the default one.
	d2 := NewDecoder(DecoderOptions{DefaultScale: 2, UnavailablePlaceholder: "<toast>"})
	m, err = d2.Decode("dbserver1.public.products", []byte(`{"id":1}`), envelopeWith("u", `"lsn":5`, "null", strings.Replace(toasted, "__debezium_unavailable_value", "<toast>", 1)))
	if err != nil || !m.Unchanged.Has(ProductDescription) {
		t.Fatalf("configured placeholder: %v, unchanged %b", err, m.Unchanged)
	}
}

// TestNumericDecimalFormat: with the JsonConverter's decimal.format=NUMERIC
// a Decimal field is a plain JSON number, with or without the schema.
func TestNumericDecimalFormat(t *testing.T) {
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	schema := `{"type":"struct","fields":[` +
		`{"type":"int32","optional":false,"default":0,"field":"id"},{"type":"string","optional":false,"field":"name"},` +
		`{"type":"string","optional":true,"field":"description"},` +
		`{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},` +
		`{"type":"int32","optional":true,"field":"stock_quantity"},{"type":"string","optional":true,"field":"__op"},{"type":"string","optional":true,"field":"__deleted"}],` +
		`"optional":false,"name":"dbserver1.public.products.Value"}`
	for _, price := range []string{"24.90", "24.9", "2.49E+1", "0.00", "-5.00"} {
		want := map[string]int64{"24.90": 2490, "24.9": 2490, "2.49E+1": 2490, "0.00": 0, "-5.00": -500}[price]
		for _, value := range []string{
			`{"schema":` + schema + `,"payload":{"id":1,"name":"Mug","description":null,"price":` + price + `,"stock_quantity":3,"__op":"c","__deleted":"false"}}`,
			`{"id":1,"name":"Mug","description":null,"price":` + price + `,"stock_quantity":3,"__op":"c","__deleted":"false"}`,
		} {
			m, err := d.Decode("dbserver1.public.products", []byte(`{"id":1}`), []byte(value))
			if err != nil {
				t.Errorf("price %s: %v", price, err)
				continue
			}
			if m.AfterProduct.PriceCents != want {
				t.Errorf("price %s: %d cents, want %d", price, m.AfterProduct.PriceCents, want)
			}
		}
	}
}
