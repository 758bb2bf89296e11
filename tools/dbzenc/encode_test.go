package dbzenc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// jsonEqual compares two JSON documents semantically (member order aside).
func jsonEqual(t *testing.T, got, want []byte) {
	t.Helper()
	parse := func(b []byte) any {
		var v any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("invalid JSON %.80q: %v", b, err)
		}
		return v
	}
	if g, w := parse(got), parse(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

// The encoder reproduces the shared samples exactly (as JSON values).
func TestEncodeMatchesSamples(t *testing.T) {
	for _, file := range []struct {
		name   string
		format Format
	}{{"envelope.jsonl", FormatEnvelope}, {"flat.jsonl", FormatFlat}} {
		for i, r := range loadSamples(t, file.name) {
			t.Run(fmt.Sprintf("%s/%d", file.name, i), func(t *testing.T) {
				c := sampleChanges[i]
				opts := EncodeOptions{Format: file.format}
				if c.op == 0 {
					topic, key := EncodeTombstone(opts, c.table, c.id)
					if topic != r.Topic {
						t.Fatalf("topic %q, want %q", topic, r.Topic)
					}
					jsonEqual(t, key, r.Key)
					if string(r.Value) != "null" {
						t.Fatalf("sample %d is not a tombstone", i)
					}
					return
				}
				topic, key, value, err := Encode(opts, c.table, c.op, c.id, c.before, c.after, sampleSource(c, file.format == FormatEnvelope))
				if err != nil {
					t.Fatal(err)
				}
				if topic != r.Topic {
					t.Fatalf("topic %q, want %q", topic, r.Topic)
				}
				jsonEqual(t, key, r.Key)
				jsonEqual(t, value, r.Value)
			})
		}
	}
}

var (
	allFormats  = []Format{FormatEnvelope, FormatEnvelopeNoSchema, FormatFlat, FormatFlatNoSchema}
	allDecimals = []DecimalMode{DecimalPrecise, DecimalString, DecimalDouble, DecimalNumeric}
	allTimes    = []TimeMode{TimeMicro, TimeMilli, TimeNano, TimeZoned}
)

// allShapes is every combination of format, decimal and time mode, the
// flattened formats with and without __source_sequence.
func allShapes() []EncodeOptions {
	var out []EncodeOptions
	for _, f := range allFormats {
		for _, d := range allDecimals {
			for _, tm := range allTimes {
				out = append(out, EncodeOptions{Format: f, Decimal: d, Time: tm})
				if f.Flat() {
					out = append(out, EncodeOptions{Format: f, Decimal: d, Time: tm, FlatSequence: true})
				}
			}
		}
	}
	return out
}

const jan15 = 1736931600000000 // 2025-01-15T09:00:00Z in µs

// roundTripRows are rows exercising the edges: escapes and Unicode, NULLs
// (empty description, zero times, zero foreign keys), negative, zero and
// large money (above 1e7, where Java prints doubles in E notation), times
// with microseconds. (Schemaless integer times are classified by magnitude,
// so instants near the epoch are tested with a schema below.)
func roundTripRows(table string) (before, after []any) {
	switch table {
	case debezium.TableProducts:
		return []any{
				&debezium.Product{ID: 7, Name: "Ünïcode \"quoted\"\n\t\\ 😀", Description: "", PriceCents: 0, StockQuantity: 0, CreatedAt: jan15 + 123456, UpdatedAt: 0},
				&debezium.Product{ID: 7, Name: "old", Description: "d", PriceCents: -1, StockQuantity: -3, CreatedAt: jan15 - 1500, UpdatedAt: jan15},
			}, []any{
				&debezium.Product{ID: 7, Name: "New name", Description: "A description with <html> & \u2028", PriceCents: 9999999999, StockQuantity: 167, CreatedAt: jan15 + 123456, UpdatedAt: jan15 + 987001},
				&debezium.Product{ID: 7, Name: "x", Description: "y", PriceCents: 189057, StockQuantity: 1 << 31, CreatedAt: jan15 - 1, UpdatedAt: jan15 + 999},
			}
	case debezium.TableOrders:
		return []any{
				&debezium.Order{ID: 8, CustomerID: 5, TotalCents: 0, Status: "pending", CreatedAt: jan15, UpdatedAt: jan15},
			}, []any{
				&debezium.Order{ID: 8, CustomerID: 5, TotalCents: 1234567801, Status: "shipped", CreatedAt: jan15, UpdatedAt: jan15 + 1},
				&debezium.Order{ID: 8, CustomerID: 0, TotalCents: 10, Status: "", CreatedAt: 0, UpdatedAt: 0},
			}
	default:
		return []any{
				&debezium.OrderItem{ID: 9, OrderID: 0, ProductID: 3, Quantity: 2, PriceCents: 5, CreatedAt: jan15},
			}, []any{
				&debezium.OrderItem{ID: 9, OrderID: 4, ProductID: 0, Quantity: 3, PriceCents: 100000, CreatedAt: jan15 + 999999},
				&debezium.OrderItem{ID: 9, OrderID: 4, ProductID: 3, Quantity: -2, PriceCents: -99, CreatedAt: 0},
			}
	}
}

// floorMs floors µs to the millisecond, as TimeMilli keeps them.
func floorMs(us int64) int64 { return floorDiv(us, 1000) * 1000 }

// truncToMillis returns a copy of row with its times as TimeMilli keeps
// them.
func truncToMillis(row any) any {
	switch r := row.(type) {
	case *debezium.Product:
		c := *r
		c.CreatedAt, c.UpdatedAt = floorMs(c.CreatedAt), floorMs(c.UpdatedAt)
		return &c
	case *debezium.Order:
		c := *r
		c.CreatedAt, c.UpdatedAt = floorMs(c.CreatedAt), floorMs(c.UpdatedAt)
		return &c
	case *debezium.OrderItem:
		c := *r
		c.CreatedAt = floorMs(c.CreatedAt)
		return &c
	}
	return row
}

// wantPosition is the position a consumer must read from a change encoded
// with opts: source.sequence (or __source_sequence) gives the commit LSN
// of the previous transaction and the change's LSN; without it only the
// LSN and the commit time; a read without a last commit is a snapshot row.
func wantPosition(opts EncodeOptions, op debezium.Op, src Source) debezium.Position {
	pos := debezium.Position{LSN: src.LSN, TsMs: src.TsMs}
	if src.LSN != 0 && (!opts.Format.Flat() || opts.FlatSequence) {
		pos.Sequenced, pos.Commit = true, src.LastCommitLSN
	}
	pos.Snapshot = op == debezium.OpRead && pos.Commit == 0
	return pos
}

// rowsOf returns the message's row images of its table (untyped nil when
// absent).
func rowsOf(m debezium.Message) (before, after any) {
	pick := func(p any, isNil bool) any {
		if isNil {
			return nil
		}
		return p
	}
	switch m.Table {
	case debezium.TableProducts:
		return pick(m.BeforeProduct, m.BeforeProduct == nil), pick(m.AfterProduct, m.AfterProduct == nil)
	case debezium.TableOrders:
		return pick(m.BeforeOrder, m.BeforeOrder == nil), pick(m.AfterOrder, m.AfterOrder == nil)
	case debezium.TableOrderItems:
		return pick(m.BeforeItem, m.BeforeItem == nil), pick(m.AfterItem, m.AfterItem == nil)
	}
	return nil, nil
}

// TestEncodeDecodeRoundTrip encodes edge rows in every shape and decodes
// them with the product decoder.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	n := 0
	for _, opts := range allShapes() {
		for _, table := range []string{debezium.TableProducts, debezium.TableOrders, debezium.TableOrderItems} {
			befores, afters := roundTripRows(table)
			for _, op := range []debezium.Op{debezium.OpRead, debezium.OpCreate, debezium.OpUpdate, debezium.OpDelete} {
				for k := range afters {
					before, after := befores[k%len(befores)], afters[k]
					switch op {
					case debezium.OpRead, debezium.OpCreate:
						before = nil
					case debezium.OpDelete:
						after = nil
					}
					src := Source{LSN: uint64(1000 + k), TsMs: 1736931600000 + int64(k), TxID: 5}
					switch k {
					case 0:
						src.LastCommitLSN = 2000 // committed after a transaction that wrote later
					case 1:
						src.LSN = 0 // no LSN: position by ts only
					}
					name := fmt.Sprintf("%s/%s/%s/%d", opts.Shape(), table, op, k)
					topic, key, value, err := Encode(opts, table, op, 7, before, after, src)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !json.Valid(key) || !json.Valid(value) {
						t.Fatalf("%s: invalid JSON\n%s\n%s", name, key, value)
					}
					if topic != "dbserver1.public."+table {
						t.Fatalf("%s: topic %q", name, topic)
					}
					got, err := d.Decode(topic, key, value)
					if err != nil {
						t.Fatalf("%s: decode: %v\n%s", name, err, value)
					}
					wantBefore, wantAfter := before, after
					if opts.Format.Flat() && op != debezium.OpDelete {
						wantBefore = nil // the flattened form has no before image
					}
					if opts.Time == TimeMilli {
						if wantBefore != nil {
							wantBefore = truncToMillis(wantBefore)
						}
						if wantAfter != nil {
							wantAfter = truncToMillis(wantAfter)
						}
					}
					gotBefore, gotAfter := rowsOf(got)
					if got.Kind != debezium.KindChange || got.Table != table || got.Op != op || got.ID != 7 || got.Unchanged != 0 {
						t.Fatalf("%s: decoded kind %d table %s op %s id %d unchanged %b\nvalue: %s", name, got.Kind, got.Table, got.Op, got.ID, got.Unchanged, value)
					}
					if !reflect.DeepEqual(gotBefore, wantBefore) || !reflect.DeepEqual(gotAfter, wantAfter) {
						t.Fatalf("%s:\n before %+v\n want   %+v\n after  %+v\n want   %+v\nvalue: %s", name, gotBefore, wantBefore, gotAfter, wantAfter, value)
					}
					if want := wantPosition(opts, op, src); got.Pos != want {
						t.Fatalf("%s: position %+v, want %+v\nvalue: %s", name, got.Pos, want, value)
					}
					n++
				}
			}
		}
	}
	if n < 6*4*4*3*4 {
		t.Fatalf("only %d round trips", n)
	}
}

// With a schema the unit is known, so instants near and before the epoch
// survive too.
func TestEncodeDecodeEpochTimesWithSchema(t *testing.T) {
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, format := range []Format{FormatEnvelope, FormatFlat} {
		for _, tm := range allTimes {
			for _, us := range []int64{1, -1, 999, -1500, -86400000001, 1 << 50} {
				row := &debezium.OrderItem{ID: 1, Quantity: 1, CreatedAt: us}
				topic, key, value, err := Encode(EncodeOptions{Format: format, Time: tm}, debezium.TableOrderItems, debezium.OpCreate, 1, nil, row, Source{})
				if err != nil {
					t.Fatal(err)
				}
				m, err := d.Decode(topic, key, value)
				if err != nil {
					t.Fatalf("%v/%v %d: %v", format, tm, us, err)
				}
				want := us
				if tm == TimeMilli {
					want = floorMs(us)
				}
				if m.AfterItem.CreatedAt != want {
					t.Errorf("%v/%v %d: got %d, want %d", format, tm, us, m.AfterItem.CreatedAt, want)
				}
			}
		}
	}
}

func TestEncodeTruncateAndTombstoneRoundTrip(t *testing.T) {
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, format := range allFormats {
		opts := EncodeOptions{Format: format}
		src := Source{LSN: 50, TsMs: 60}
		topic, value, err := EncodeTruncate(opts, debezium.TableOrders, src)
		if err != nil {
			t.Fatal(err)
		}
		m, err := d.Decode(topic, nil, value)
		if err != nil {
			t.Fatalf("%v truncate: %v", format, err)
		}
		// A truncate is always an envelope, so it carries source.sequence.
		if m.Kind != debezium.KindTruncate || m.Table != debezium.TableOrders || m.Op != debezium.OpTruncate ||
			m.Pos != wantPosition(EncodeOptions{}, debezium.OpTruncate, src) {
			t.Fatalf("%v truncate decoded as %+v", format, m)
		}

		topic, key := EncodeTombstone(opts, debezium.TableOrderItems, 122)
		m, err = d.Decode(topic, key, nil)
		if err != nil || m.Kind != debezium.KindTombstone || m.Table != debezium.TableOrderItems || m.ID != 122 {
			t.Fatalf("%v tombstone decoded as %+v (%v)", format, m, err)
		}
		if format.WithSchema() != bytes.Contains(key, []byte(`"schema"`)) {
			t.Fatalf("%v: key %s", format, key)
		}
	}
}

func TestEncodeOptions(t *testing.T) {
	opts := EncodeOptions{Format: FormatFlatNoSchema, Prefix: "shop", DB: "db2"}
	topic, key, value, err := Encode(opts, debezium.TableOrders, debezium.OpCreate, 3, nil, &debezium.Order{ID: 3, CustomerID: 1, Status: "s"}, Source{LSN: 9, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if topic != "shop.public.orders" {
		t.Fatalf("topic %q", topic)
	}
	jsonEqual(t, key, []byte(`{"id":3}`))
	jsonEqual(t, value, []byte(`{"id":3,"customer_id":1,"total_amount":"AA==","status":"s","created_at":null,"updated_at":null,`+
		`"__op":"c","__source_ts_ms":1,"__source_db":"db2","__source_table":"orders","__source_lsn":9,"__deleted":"false"}`))

	_, _, value, err = Encode(EncodeOptions{Prefix: "shop", DB: "db2"}, debezium.TableOrders, debezium.OpRead, 3, nil, &debezium.Order{ID: 3}, Source{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"shop.public.orders.Envelope"`, `"name":"shop"`, `"db":"db2"`, `"snapshot":"true"`, `"lsn":null`, `"sequence":null`, `"txId":null`} {
		if !bytes.Contains(value, []byte(want)) {
			t.Errorf("value lacks %s: %s", want, value)
		}
	}
}

func TestEncodeSchemaModes(t *testing.T) {
	row := &debezium.Product{ID: 1, Name: "n", PriceCents: 1234, StockQuantity: 1, CreatedAt: jan15 + 120000}
	preciseSchema := `"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"`
	for _, c := range []struct {
		opts       EncodeOptions
		schemaPart string
		valuePart  string
	}{
		{EncodeOptions{}, preciseSchema, `"price":"BNI="`},
		{EncodeOptions{Decimal: DecimalNumeric}, preciseSchema, `"price":12.34`},
		{EncodeOptions{Decimal: DecimalString}, `{"type":"string","optional":false,"field":"price"}`, `"price":"12.34"`},
		{EncodeOptions{Decimal: DecimalDouble}, `{"type":"double","optional":false,"field":"price"}`, `"price":12.34`},
		{EncodeOptions{Time: TimeMilli}, `"name":"io.debezium.time.Timestamp"`, `"created_at":1736931600120`},
		{EncodeOptions{Time: TimeNano}, `"name":"io.debezium.time.NanoTimestamp"`, `"created_at":1736931600120000000`},
		{EncodeOptions{Time: TimeZoned}, `{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1,"field":"created_at"}`, `"created_at":"2025-01-15T09:00:00.12Z"`},
	} {
		_, _, value, err := Encode(c.opts, debezium.TableProducts, debezium.OpCreate, 1, nil, row, Source{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(value, []byte(c.schemaPart)) || !bytes.Contains(value, []byte(c.valuePart)) {
			t.Errorf("%+v: want %s and %s in %s", c.opts, c.schemaPart, c.valuePart, value)
		}
	}
}

// schemaOf returns the "schema" member of a wrapped message.
func schemaOf(t *testing.T, value []byte) json.RawMessage {
	t.Helper()
	var w struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(value, &w); err != nil || w.Schema == nil {
		t.Fatalf("no schema in %s (%v)", value, err)
	}
	return w.Schema
}

// decimal.format=NUMERIC keeps precise mode's schema and writes the
// BigDecimal as a JSON number with its scale's digits.
func TestDecimalNumeric(t *testing.T) {
	for _, format := range []Format{FormatEnvelope, FormatFlat} {
		for cents, want := range map[int64]string{2490: "24.90", 0: "0.00", -500: "-5.00", 5: "0.05", -5: "-0.05", 9999999999: "99999999.99"} {
			row := &debezium.OrderItem{ID: 1, OrderID: 2, ProductID: 3, Quantity: 1, PriceCents: cents}
			_, _, numeric, err := Encode(EncodeOptions{Format: format, Decimal: DecimalNumeric}, debezium.TableOrderItems, debezium.OpCreate, 1, nil, row, Source{})
			if err != nil {
				t.Fatal(err)
			}
			_, _, precise, err := Encode(EncodeOptions{Format: format}, debezium.TableOrderItems, debezium.OpCreate, 1, nil, row, Source{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(schemaOf(t, numeric), schemaOf(t, precise)) {
				t.Fatalf("%v: numeric schema differs from precise\n%s\n%s", format, schemaOf(t, numeric), schemaOf(t, precise))
			}
			if !bytes.Contains(numeric, []byte(`"price":`+want+`,`)) {
				t.Errorf("%v %d cents: want price %s in %s", format, cents, want, numeric)
			}
		}
	}
}

// add.fields=…,source.sequence: the flattened record carries the envelope's
// source.sequence string as __source_sequence.
func TestFlatSequence(t *testing.T) {
	row := &debezium.Product{ID: 1, Name: "Mug", PriceCents: 990, StockQuantity: 3}
	src := Source{LSN: 22230696, LastCommitLSN: 22231144, TsMs: 1736931700001, TxID: 731}
	_, _, env, err := Encode(EncodeOptions{Format: FormatEnvelopeNoSchema}, debezium.TableProducts, debezium.OpUpdate, 1, row, row, src)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Source struct {
			Sequence string `json:"sequence"`
		} `json:"source"`
	}
	if err := json.Unmarshal(env, &e); err != nil || e.Source.Sequence != `["22231144","22230696"]` {
		t.Fatalf("envelope source.sequence %q (%v)", e.Source.Sequence, err)
	}
	for _, format := range []Format{FormatFlat, FormatFlatNoSchema} {
		opts := EncodeOptions{Format: format, FlatSequence: true}
		_, _, value, err := Encode(opts, debezium.TableProducts, debezium.OpUpdate, 1, row, row, src)
		if err != nil {
			t.Fatal(err)
		}
		payload := value
		if format.WithSchema() {
			if !bytes.Contains(schemaOf(t, value), []byte(`{"type":"string","optional":true,"field":"__source_sequence"}`)) {
				t.Fatalf("%v: schema lacks __source_sequence: %s", format, value)
			}
			var w struct {
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(value, &w); err != nil {
				t.Fatal(err)
			}
			payload = w.Payload
		}
		var f map[string]any
		if err := json.Unmarshal(payload, &f); err != nil {
			t.Fatal(err)
		}
		if f["__source_sequence"] != e.Source.Sequence {
			t.Fatalf("%v: __source_sequence %v, want %q", format, f["__source_sequence"], e.Source.Sequence)
		}
		// Without an LSN the sequence is null, as in the envelope.
		_, _, value, err = Encode(opts, debezium.TableProducts, debezium.OpUpdate, 1, row, row, Source{TsMs: 5})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(value, []byte(`"__source_sequence":null`)) || bytes.Contains(value, []byte(`__source_lsn`)) {
			t.Fatalf("%v without LSN: %s", format, value)
		}
	}
	// The first streamed transaction has no last commit.
	_, _, value, err := Encode(EncodeOptions{Format: FormatFlatNoSchema, FlatSequence: true}, debezium.TableProducts, debezium.OpCreate, 1, nil, row, Source{LSN: 9, TsMs: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(value, []byte(`"__source_sequence":"[null,\"9\"]"`)) {
		t.Fatalf("first streamed transaction: %s", value)
	}
}

// An update that left a TOASTed description alone renders the placeholder
// in the after image; the before image (REPLICA IDENTITY FULL) has the
// value.
func TestUnavailableColumns(t *testing.T) {
	long := strings.Repeat("A long description. ", 120)
	before := &debezium.Product{ID: 1, Name: "Lamp", Description: long, PriceCents: 4990, StockQuantity: 20}
	after := *before
	after.StockQuantity = 19
	src := Source{LSN: 100, TsMs: 1736931700000, Unavailable: []string{"description"}}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, opts := range []EncodeOptions{{Format: FormatEnvelope}, {Format: FormatEnvelopeNoSchema}, {Format: FormatFlat}, {Format: FormatFlatNoSchema, FlatSequence: true}} {
		topic, key, value, err := Encode(opts, debezium.TableProducts, debezium.OpUpdate, 1, before, &after, src)
		if err != nil {
			t.Fatal(err)
		}
		placeholders := bytes.Count(value, []byte(`"description":"__debezium_unavailable_value"`))
		longs := bytes.Count(value, []byte(`"description":"`+long+`"`))
		wantLongs := 1 // the before image
		if opts.Format.Flat() {
			wantLongs = 0
		}
		if placeholders != 1 || longs != wantLongs {
			t.Fatalf("%s: %d placeholders and %d long descriptions, want 1 and %d", opts.Shape(), placeholders, longs, wantLongs)
		}
		m, err := d.Decode(topic, key, value)
		if err != nil {
			t.Fatalf("%s: %v", opts.Shape(), err)
		}
		if opts.Format.Flat() {
			// No before image (as under REPLICA IDENTITY DEFAULT): the
			// decoder reports the column unchanged.
			if !m.Unchanged.Has(debezium.ProductDescription) || m.AfterProduct.Description != "" || m.AfterProduct.StockQuantity != 19 {
				t.Fatalf("%s: unchanged %b, after %+v", opts.Shape(), m.Unchanged, m.AfterProduct)
			}
		} else if m.Unchanged != 0 || m.AfterProduct.Description != long {
			t.Fatalf("%s: unchanged %b, description %.20q; want the before image's", opts.Shape(), m.Unchanged, m.AfterProduct.Description)
		}
	}
	// A configured placeholder; the name column too.
	_, _, value, err := Encode(EncodeOptions{Format: FormatFlatNoSchema, UnavailablePlaceholder: "<toast>"}, debezium.TableProducts, debezium.OpUpdate, 1, before, &after,
		Source{TsMs: 1, Unavailable: []string{"name", "description"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(value, []byte(`"name":"<toast>","description":"<toast>"`)) {
		t.Fatalf("configured placeholder: %s", value)
	}
	for _, c := range []struct {
		name  string
		op    debezium.Op
		cols  []string
		table string
		want  string
	}{
		{"on an insert", debezium.OpCreate, []string{"description"}, debezium.TableProducts, "not an update"},
		{"on a delete", debezium.OpDelete, []string{"description"}, debezium.TableProducts, "not an update"},
		{"unknown column", debezium.OpUpdate, []string{"colour"}, debezium.TableProducts, "not a column"},
		{"money column", debezium.OpUpdate, []string{"price"}, debezium.TableProducts, "not a text column"},
	} {
		a := any(&after)
		if c.op == debezium.OpDelete {
			a = nil
		}
		b := any(before)
		if c.op == debezium.OpCreate {
			b = nil
		}
		if _, _, _, err := Encode(EncodeOptions{}, c.table, c.op, 1, b, a, Source{Unavailable: c.cols}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	if _, _, err := EncodeTruncate(EncodeOptions{}, debezium.TableProducts, Source{Unavailable: []string{"name"}}); err == nil {
		t.Error("EncodeTruncate accepted unavailable columns")
	}
}

func TestEncodeErrors(t *testing.T) {
	p := &debezium.Product{ID: 1}
	for _, c := range []struct {
		name          string
		opts          EncodeOptions
		table         string
		op            debezium.Op
		before, after any
		want          string
	}{
		{"unknown table", EncodeOptions{}, "customers", debezium.OpCreate, nil, p, "unknown table"},
		{"wrong row type", EncodeOptions{}, debezium.TableOrders, debezium.OpCreate, nil, p, "not the orders row type"},
		{"wrong before type", EncodeOptions{}, debezium.TableProducts, debezium.OpUpdate, &debezium.Order{}, p, "before is *debezium.Order"},
		{"missing after", EncodeOptions{}, debezium.TableProducts, debezium.OpCreate, p, nil, "after row is required"},
		{"typed nil after", EncodeOptions{}, debezium.TableProducts, debezium.OpUpdate, p, (*debezium.Product)(nil), "after row is required"},
		{"missing before", EncodeOptions{}, debezium.TableProducts, debezium.OpDelete, nil, p, "before row is required"},
		{"truncate op", EncodeOptions{}, debezium.TableProducts, debezium.OpTruncate, nil, p, "EncodeTruncate"},
		{"bad op", EncodeOptions{}, debezium.TableProducts, debezium.Op('x'), nil, p, "not r, c, u or d"},
		{"bad format", EncodeOptions{Format: 99}, debezium.TableProducts, debezium.OpCreate, nil, p, "unknown format"},
		{"bad decimal", EncodeOptions{Decimal: 9}, debezium.TableProducts, debezium.OpCreate, nil, p, "unknown decimal mode"},
		{"bad time", EncodeOptions{Time: 9}, debezium.TableProducts, debezium.OpCreate, nil, p, "unknown time mode"},
		{"nano overflow", EncodeOptions{Time: TimeNano}, debezium.TableProducts, debezium.OpCreate, nil, &debezium.Product{ID: 1, CreatedAt: 1 << 62}, "overflows"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, _, err := Encode(c.opts, c.table, c.op, 1, c.before, c.after, Source{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if _, _, err := EncodeTruncate(EncodeOptions{}, "nope", Source{}); err == nil {
		t.Fatal("EncodeTruncate accepted an unknown table")
	}
}

func TestAppendCentsJavaDouble(t *testing.T) {
	for cents, want := range map[int64]string{
		0: "0.0", 1: "0.01", 10: "0.1", 100: "1.0", 1230: "12.3", 1234: "12.34", -5: "-0.05",
		999999999: "9999999.99", 1000000000: "1.0E7", 1234567800: "1.2345678E7", 1234567801: "1.234567801E7",
		-9999999999: "-9.999999999E7",
	} {
		if got := string(appendCentsJavaDouble(nil, cents)); got != want {
			t.Errorf("%d: %s, want %s", cents, got, want)
		}
	}
}

// Kafka Connect's Decimal is BigInteger.toByteArray: the minimal two's
// complement (literals from Java semantics, checked with Python).
func TestAppendBase64TwosComplement(t *testing.T) {
	for v, want := range map[int64]string{
		0: "AA==", 127: "fw==", 128: "AIA=", -1: "/w==", -128: "gA==", -129: "/38=",
		189057: "AuKB", 9999999999: "AlQL4/8=", -1234: "+y4=",
		-9223372036854775808: "gAAAAAAAAAA=", 9223372036854775807: "f/////////8=",
	} {
		if got := string(appendBase64TwosComplement(nil, v)); got != want {
			t.Errorf("%d: %s, want %s", v, got, want)
		}
		// Read the literal back as a big-endian two's complement integer.
		raw, err := base64.StdEncoding.DecodeString(want)
		if err != nil {
			t.Fatal(err)
		}
		n := new(big.Int).SetBytes(raw)
		if raw[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(raw))))
		}
		if !n.IsInt64() || n.Int64() != v {
			t.Errorf("literal %s is %v, not %d", want, n, v)
		}
	}
}

func TestAppendCentsPlain(t *testing.T) {
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", -5: "-0.05", 123400: "1234.00", -9223372036854775808: "-92233720368547758.08"} {
		if got := string(appendCentsPlain(nil, cents)); got != want {
			t.Errorf("%d: %s, want %s", cents, got, want)
		}
	}
}
