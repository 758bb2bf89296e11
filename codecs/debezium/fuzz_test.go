package debezium_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// fuzzSamples returns the (topic, key, value) of every line of a sample
// file in testdata.
func fuzzSamples(f *testing.F, name string) [][3][]byte {
	f.Helper()
	file, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	defer file.Close()
	var out [][3][]byte
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Topic string          `json:"topic"`
			Key   json.RawMessage `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		out = append(out, [3][]byte{[]byte(r.Topic), r.Key, r.Value})
	}
	if err := sc.Err(); err != nil {
		f.Fatal(err)
	}
	return out
}

// FuzzDecode checks that Decode never panics, that its errors are
// *DecodeErrors with short excerpts, and that a successful change carries
// the row its op requires (after for r/c/u, before for d) of its table.
// The corpus is the shared samples plus every shape the independent encoder
// (tools/dbzenc) produces.
func FuzzDecode(f *testing.F) {
	for _, file := range []string{"envelope.jsonl", "flat.jsonl"} {
		for _, r := range fuzzSamples(f, file) {
			f.Add(string(r[0]), r[1], r[2])
		}
	}
	rows := map[string][2]any{
		debezium.TableProducts: {
			&debezium.Product{ID: 7, Name: "Ünïcode \"quoted\"\n\t\\ 😀", CreatedAt: 1736931600123456},
			&debezium.Product{ID: 7, Name: "New name", Description: "A description", PriceCents: 9999999999, StockQuantity: 167, CreatedAt: 1736931600123456, UpdatedAt: 1736931600987001},
		},
		debezium.TableOrders: {
			&debezium.Order{ID: 8, CustomerID: 5, Status: "pending", CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000},
			&debezium.Order{ID: 8, CustomerID: 5, TotalCents: 1234567801, Status: "shipped", CreatedAt: 1736931600000000, UpdatedAt: 1736931600000001},
		},
		debezium.TableOrderItems: {
			&debezium.OrderItem{ID: 9, ProductID: 3, Quantity: 2, PriceCents: 5, CreatedAt: 1736931600000000},
			&debezium.OrderItem{ID: 9, OrderID: 4, Quantity: 3, PriceCents: -99, CreatedAt: 1736931600999999},
		},
	}
	for _, format := range []dbzenc.Format{dbzenc.FormatEnvelope, dbzenc.FormatEnvelopeNoSchema, dbzenc.FormatFlat, dbzenc.FormatFlatNoSchema} {
		for _, dec := range []dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble, dbzenc.DecimalNumeric} {
			for _, tm := range []dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeMilli, dbzenc.TimeNano, dbzenc.TimeZoned} {
				opts := dbzenc.EncodeOptions{Format: format, Decimal: dec, Time: tm, FlatSequence: tm == dbzenc.TimeMicro}
				for table, r := range rows {
					for _, op := range []debezium.Op{debezium.OpCreate, debezium.OpUpdate, debezium.OpDelete} {
						before, after := r[0], r[1]
						switch op {
						case debezium.OpCreate:
							before = nil
						case debezium.OpDelete:
							after = nil
						}
						src := dbzenc.Source{LSN: 3, LastCommitLSN: 9, TsMs: 4}
						if op == debezium.OpUpdate && table != debezium.TableOrderItems {
							src.Unavailable = []string{map[string]string{debezium.TableProducts: "description", debezium.TableOrders: "status"}[table]}
						}
						topic, key, value, err := dbzenc.Encode(opts, table, op, 7, before, after, src)
						if err != nil {
							f.Fatal(err)
						}
						f.Add(topic, key, value)
					}
				}
				topic, value, err := dbzenc.EncodeTruncate(opts, debezium.TableOrders, dbzenc.Source{LSN: 1})
				if err != nil {
					f.Fatal(err)
				}
				f.Add(topic, []byte(nil), value)
			}
		}
	}
	f.Add("x.orders", []byte(`{"id":1}`), []byte(`{"id":1,"customer_id":2,"total_amount":{"scale":3,"value":"MDk="},"status":"s","created_at":"2025-01-15 09:00:00+01"}`))
	f.Add("x.products", []byte(nil), []byte(`{"before":{"id":6},"op":"d"}`))

	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	f.Fuzz(func(t *testing.T, topic string, key, value []byte) {
		m, err := d.Decode(topic, key, value)
		checkDecoded(t, m, err)
	})
}

// checkDecoded checks the outcome of a decode of arbitrary input: an error
// is a *DecodeError with a short excerpt; a message is a tombstone, a
// truncate with op t, or a change carrying the row its op requires (after
// for r/c/u, before for d) of its table.
func checkDecoded(t *testing.T, m debezium.Message, err error) {
	t.Helper()
	if err != nil {
		var de *debezium.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("error %v is %T, not *DecodeError", err, err)
		}
		if len(de.Got) > 40 {
			t.Fatalf("Got excerpt of %d bytes", len(de.Got))
		}
		_ = de.Error()
		return
	}
	switch m.Kind {
	case debezium.KindTombstone:
		return
	case debezium.KindChange, debezium.KindTruncate:
	default:
		t.Fatalf("kind %d", m.Kind)
	}
	var before, after bool
	switch m.Table {
	case debezium.TableProducts:
		before, after = m.BeforeProduct != nil, m.AfterProduct != nil
	case debezium.TableOrders:
		before, after = m.BeforeOrder != nil, m.AfterOrder != nil
	case debezium.TableOrderItems:
		before, after = m.BeforeItem != nil, m.AfterItem != nil
	default:
		t.Fatalf("table %q", m.Table)
	}
	if m.Kind == debezium.KindTruncate {
		if m.Op != debezium.OpTruncate {
			t.Fatalf("truncate with op %q", m.Op)
		}
		return
	}
	switch m.Op {
	case debezium.OpRead, debezium.OpCreate, debezium.OpUpdate:
		if !after {
			t.Fatalf("op %s without after row: %+v", m.Op, m)
		}
	case debezium.OpDelete:
		if !before {
			t.Fatalf("delete without before row: %+v", m)
		}
	default:
		t.Fatalf("change with op %q", m.Op)
	}
}
