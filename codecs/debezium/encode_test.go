package debezium

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
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

// sampleSource is the source block of a sample line: the sample generator
// printed sequence ["lsn-8","lsn"] and an envelope ts_ms 3 ms after commit.
func sampleSource(c sampleChange, withLSN bool) Source {
	src := Source{TsMs: c.tsMs, TxID: c.txID, EventTsMs: c.tsMs + 3}
	if withLSN {
		src.LSN, src.LastCommitLSN = c.lsn, c.lsn-8
	}
	return src
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
	allDecimals = []DecimalMode{DecimalPrecise, DecimalString, DecimalDouble}
	allTimes    = []TimeMode{TimeMicro, TimeMilli, TimeNano, TimeZoned}
)

// roundTripRows are rows exercising the edges: escapes and Unicode, NULLs
// (empty description, zero times, zero foreign keys), negative, zero and
// large money (above 1e7, where Java prints doubles in E notation), times
// with microseconds. (Schemaless integer times are classified by magnitude,
// so instants near the epoch are tested with a schema below.)
func roundTripRows(table string) (before, after []any) {
	switch table {
	case TableProducts:
		return []any{
				&Product{ID: 7, Name: "Ünïcode \"quoted\"\n\t\\ 😀", Description: "", PriceCents: 0, StockQuantity: 0, CreatedAt: jan15 + 123456, UpdatedAt: 0},
				&Product{ID: 7, Name: "old", Description: "d", PriceCents: -1, StockQuantity: -3, CreatedAt: jan15 - 1500, UpdatedAt: jan15},
			}, []any{
				&Product{ID: 7, Name: "New name", Description: "A description with <html> & \u2028", PriceCents: 9999999999, StockQuantity: 167, CreatedAt: jan15 + 123456, UpdatedAt: jan15 + 987001},
				&Product{ID: 7, Name: "x", Description: "y", PriceCents: 189057, StockQuantity: 1 << 31, CreatedAt: jan15 - 1, UpdatedAt: jan15 + 999},
			}
	case TableOrders:
		return []any{
				&Order{ID: 8, CustomerID: 5, TotalCents: 0, Status: "pending", CreatedAt: jan15, UpdatedAt: jan15},
			}, []any{
				&Order{ID: 8, CustomerID: 5, TotalCents: 1234567801, Status: "shipped", CreatedAt: jan15, UpdatedAt: jan15 + 1},
				&Order{ID: 8, CustomerID: 0, TotalCents: 10, Status: "", CreatedAt: 0, UpdatedAt: 0},
			}
	default:
		return []any{
				&OrderItem{ID: 9, OrderID: 0, ProductID: 3, Quantity: 2, PriceCents: 5, CreatedAt: jan15},
			}, []any{
				&OrderItem{ID: 9, OrderID: 4, ProductID: 0, Quantity: 3, PriceCents: 100000, CreatedAt: jan15 + 999999},
				&OrderItem{ID: 9, OrderID: 4, ProductID: 3, Quantity: -2, PriceCents: -99, CreatedAt: 0},
			}
	}
}

// truncToMillis returns a copy of row with its times as TimeMilli keeps
// them (floored to the millisecond).
func truncToMillis(row any) any {
	ms := func(us int64) int64 { return floorDiv(us, 1000) * 1000 }
	switch r := row.(type) {
	case *Product:
		c := *r
		c.CreatedAt, c.UpdatedAt = ms(c.CreatedAt), ms(c.UpdatedAt)
		return &c
	case *Order:
		c := *r
		c.CreatedAt, c.UpdatedAt = ms(c.CreatedAt), ms(c.UpdatedAt)
		return &c
	case *OrderItem:
		c := *r
		c.CreatedAt = ms(c.CreatedAt)
		return &c
	}
	return row
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	n := 0
	for _, format := range allFormats {
		for _, dec := range allDecimals {
			for _, tm := range allTimes {
				opts := EncodeOptions{Format: format, Decimal: dec, Time: tm}
				for _, table := range []string{TableProducts, TableOrders, TableOrderItems} {
					befores, afters := roundTripRows(table)
					for _, op := range []Op{OpRead, OpCreate, OpUpdate, OpDelete} {
						for k := range afters {
							before, after := befores[k%len(befores)], afters[k]
							switch op {
							case OpRead, OpCreate:
								before = nil
							case OpDelete:
								after = nil
							}
							src := Source{LSN: uint64(1000 + k), TsMs: 1736931600000 + int64(k), TxID: 5}
							if k == 1 {
								src.LSN = 0 // no LSN: position by ts only
							}
							name := fmt.Sprintf("%v/%v/%v/%s/%s/%d", format, dec, tm, table, op, k)
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
							if format.flat() && op != OpDelete {
								wantBefore = nil // the flattened form has no before image
							}
							if tm == TimeMilli {
								if wantBefore != nil {
									wantBefore = truncToMillis(wantBefore)
								}
								if wantAfter != nil {
									wantAfter = truncToMillis(wantAfter)
								}
							}
							pos := Position{LSN: src.LSN, TsMs: src.TsMs}
							if !format.flat() && src.LSN != 0 { // the envelope's source.sequence
								pos.Sequenced, pos.Commit = true, src.LastCommitLSN
							}
							pos.Snapshot = op == OpRead && pos.Commit == 0
							want := Message{Kind: KindChange, Table: table, Op: op, ID: 7, Pos: pos}
							setRows(&want, wantBefore, wantAfter)
							if !reflect.DeepEqual(got, want) {
								t.Fatalf("%s:\n got: %s\nwant: %s\nvalue: %s", name, dumpMessage(got), dumpMessage(want), value)
							}
							n++
						}
					}
				}
			}
		}
	}
	if n < 4*3*4*3*4 {
		t.Fatalf("only %d round trips", n)
	}
}

// With a schema the unit is known, so instants near and before the epoch
// survive too.
func TestEncodeDecodeEpochTimesWithSchema(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	for _, format := range []Format{FormatEnvelope, FormatFlat} {
		for _, tm := range allTimes {
			for _, us := range []int64{1, -1, 999, -1500, -86400000001, 1 << 50} {
				row := &OrderItem{ID: 1, Quantity: 1, CreatedAt: us}
				topic, key, value, err := Encode(EncodeOptions{Format: format, Time: tm}, TableOrderItems, OpCreate, 1, nil, row, Source{})
				if err != nil {
					t.Fatal(err)
				}
				m := decodeOK(t, d, topic, key, value)
				want := us
				if tm == TimeMilli {
					want = floorDiv(us, 1000) * 1000
				}
				if m.AfterItem.CreatedAt != want {
					t.Errorf("%v/%v %d: got %d, want %d", format, tm, us, m.AfterItem.CreatedAt, want)
				}
			}
		}
	}
}

func TestEncodeTruncateAndTombstoneRoundTrip(t *testing.T) {
	d := NewDecoder(DecoderOptions{})
	for _, format := range allFormats {
		opts := EncodeOptions{Format: format}
		topic, value, err := EncodeTruncate(opts, TableOrders, Source{LSN: 50, TsMs: 60})
		if err != nil {
			t.Fatal(err)
		}
		m := decodeOK(t, d, topic, nil, value)
		assertMessage(t, m, Message{Kind: KindTruncate, Table: TableOrders, Op: OpTruncate, Pos: Position{Sequenced: true, LSN: 50, TsMs: 60}})

		topic, key := EncodeTombstone(opts, TableOrderItems, 122)
		assertMessage(t, decodeOK(t, d, topic, key, nil), Message{Kind: KindTombstone, Table: TableOrderItems, ID: 122})
		if format.withSchema() != bytes.Contains(key, []byte(`"schema"`)) {
			t.Fatalf("%v: key %s", format, key)
		}
	}
}

func TestEncodeOptions(t *testing.T) {
	opts := EncodeOptions{Format: FormatFlatNoSchema, Prefix: "shop", DB: "db2"}
	topic, key, value, err := Encode(opts, TableOrders, OpCreate, 3, nil, &Order{ID: 3, CustomerID: 1, Status: "s"}, Source{LSN: 9, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if topic != "shop.public.orders" {
		t.Fatalf("topic %q", topic)
	}
	jsonEqual(t, key, []byte(`{"id":3}`))
	jsonEqual(t, value, []byte(`{"id":3,"customer_id":1,"total_amount":"AA==","status":"s","created_at":null,"updated_at":null,`+
		`"__op":"c","__source_ts_ms":1,"__source_db":"db2","__source_table":"orders","__source_lsn":9,"__deleted":"false"}`))

	_, _, value, err = Encode(EncodeOptions{Prefix: "shop", DB: "db2"}, TableOrders, OpRead, 3, nil, &Order{ID: 3}, Source{})
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
	row := &Product{ID: 1, Name: "n", PriceCents: 1234, StockQuantity: 1, CreatedAt: jan15 + 120000}
	for _, c := range []struct {
		opts       EncodeOptions
		schemaPart string
		valuePart  string
	}{
		{EncodeOptions{}, `"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"`, `"price":"BNI="`},
		{EncodeOptions{Decimal: DecimalString}, `{"type":"string","optional":false,"field":"price"}`, `"price":"12.34"`},
		{EncodeOptions{Decimal: DecimalDouble}, `{"type":"double","optional":false,"field":"price"}`, `"price":12.34`},
		{EncodeOptions{Time: TimeMilli}, `"name":"io.debezium.time.Timestamp"`, `"created_at":1736931600120`},
		{EncodeOptions{Time: TimeNano}, `"name":"io.debezium.time.NanoTimestamp"`, `"created_at":1736931600120000000`},
		{EncodeOptions{Time: TimeZoned}, `{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1,"field":"created_at"}`, `"created_at":"2025-01-15T09:00:00.12Z"`},
	} {
		_, _, value, err := Encode(c.opts, TableProducts, OpCreate, 1, nil, row, Source{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(value, []byte(c.schemaPart)) || !bytes.Contains(value, []byte(c.valuePart)) {
			t.Errorf("%+v: want %s and %s in %s", c.opts, c.schemaPart, c.valuePart, value)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	p := &Product{ID: 1}
	for _, c := range []struct {
		name          string
		opts          EncodeOptions
		table         string
		op            Op
		before, after any
		want          string
	}{
		{"unknown table", EncodeOptions{}, "customers", OpCreate, nil, p, "unknown table"},
		{"wrong row type", EncodeOptions{}, TableOrders, OpCreate, nil, p, "not the orders row type"},
		{"wrong before type", EncodeOptions{}, TableProducts, OpUpdate, &Order{}, p, "before is *debezium.Order"},
		{"missing after", EncodeOptions{}, TableProducts, OpCreate, p, nil, "after row is required"},
		{"typed nil after", EncodeOptions{}, TableProducts, OpUpdate, p, (*Product)(nil), "after row is required"},
		{"missing before", EncodeOptions{}, TableProducts, OpDelete, nil, p, "before row is required"},
		{"truncate op", EncodeOptions{}, TableProducts, OpTruncate, nil, p, "EncodeTruncate"},
		{"bad op", EncodeOptions{}, TableProducts, Op('x'), nil, p, "not r, c, u or d"},
		{"bad format", EncodeOptions{Format: 9}, TableProducts, OpCreate, nil, p, "unknown format"},
		{"bad decimal", EncodeOptions{Decimal: 9}, TableProducts, OpCreate, nil, p, "unknown decimal mode"},
		{"bad time", EncodeOptions{Time: 9}, TableProducts, OpCreate, nil, p, "unknown time mode"},
		{"nano overflow", EncodeOptions{Time: TimeNano}, TableProducts, OpCreate, nil, &Product{ID: 1, CreatedAt: 1 << 62}, "overflows"},
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
		if got, e := base64DecimalToCents([]byte(want), 2); e != numOK || got != v {
			t.Errorf("decode %s: %d (%d), want %d", want, got, e, v)
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
