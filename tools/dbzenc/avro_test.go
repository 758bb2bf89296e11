package dbzenc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// testRegistry is a registry in a map, recording the subjects asked for.
type testRegistry struct {
	ids      map[string]int32
	texts    map[int32]string
	subjects map[string]bool
}

func newTestRegistry() *testRegistry {
	return &testRegistry{ids: map[string]int32{}, texts: map[int32]string{}, subjects: map[string]bool{}}
}

func (r *testRegistry) register(subject, schema string) (int32, error) {
	r.subjects[subject] = true
	if id, ok := r.ids[schema]; ok {
		return id, nil
	}
	id := int32(1000 + len(r.ids)) // ids above 255: the framing's byte order shows
	r.ids[schema], r.texts[id] = id, schema
	return id, nil
}

// unframe checks the Confluent framing and returns the schema and datum.
func (r *testRegistry) unframe(t *testing.T, b []byte) (avro.Schema, []byte) {
	t.Helper()
	if len(b) < 5 || b[0] != 0 {
		t.Fatalf("not framed: % x", b)
	}
	id := int32(binary.BigEndian.Uint32(b[1:5]))
	text, ok := r.texts[id]
	if !ok {
		t.Fatalf("schema id %d not registered", id)
	}
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("schema does not parse: %v\n%s", err, text)
	}
	return s, b[5:]
}

// TestAvroEncodeWithHamba checks the Avro output against an independent
// Avro implementation (github.com/hamba/avro): every schema parses, every
// datum decodes to the values rendered, and re-encoding the decoded datum
// gives the same bytes (so none is left over or misplaced).
func TestAvroEncodeWithHamba(t *testing.T) {
	reg := newTestRegistry()
	p := &debezium.Product{ID: 7, Name: "Laptop ü", Description: "", PriceCents: -129999, StockQuantity: 50, CreatedAt: 1736931600123456}
	for _, format := range []Format{FormatAvro, FormatAvroFlat} {
		for _, dec := range []DecimalMode{DecimalPrecise, DecimalString, DecimalDouble, DecimalNumeric} {
			for _, tm := range []TimeMode{TimeMicro, TimeMilli, TimeNano, TimeZoned} {
				opts := EncodeOptions{Format: format, Decimal: dec, Time: tm, FlatSequence: true, Register: reg.register}
				src := Source{LSN: 300, LastCommitLSN: 200, TsMs: 1736931600999, TxID: 5, Unavailable: []string{"name"}}
				topic, key, value, err := Encode(opts, debezium.TableProducts, debezium.OpUpdate, 7, nil, p, src)
				if err != nil {
					t.Fatal(err)
				}
				if topic != "dbserver1.public.products" {
					t.Fatalf("topic %q", topic)
				}
				// A fresh codec configuration per record: hamba caches codecs by
				// a fingerprint that names, not defines, a referenced record
				// (after's Value), which differs between decimal modes.
				api := avro.Config{}.Freeze()
				ks, kd := reg.unframe(t, key)
				var k map[string]any
				if err := api.Unmarshal(ks, kd, &k); err != nil || k["id"] != 7 {
					t.Fatalf("%s key: %v %v", opts.Shape(), k, err)
				}
				vs, vd := reg.unframe(t, value)
				var v map[string]any
				if err := api.Unmarshal(vs, vd, &v); err != nil {
					t.Fatalf("%s value: %v", opts.Shape(), err)
				}
				again, err := api.Marshal(vs, v)
				if err != nil || !bytes.Equal(again, vd) {
					t.Errorf("%s: hamba re-encodes % x\n our datum % x (%v)", opts.Shape(), again, vd, err)
				}
				row := v
				if format == FormatAvro {
					after, _ := v["after"].(map[string]any)
					row, _ = after["dbserver1.public.products.Value"].(map[string]any)
					source, _ := v["source"].(map[string]any)
					if v["op"] != "u" || source["sequence"] != `["200","300"]` || source["lsn"] != int64(300) || source["table"] != "products" ||
						source["snapshot"] != "false" || source["txId"] != int64(5) || v["ts_ms"] != int64(1736931600999) {
						t.Errorf("%s envelope: %v", opts.Shape(), v)
					}
				} else if v["__op"] != "u" || v["__source_sequence"] != `["200","300"]` || v["__source_lsn"] != int64(300) ||
					v["__source_table"] != "products" || v["__deleted"] != "false" || v["__source_ts_ms"] != int64(1736931600999) {
					t.Errorf("%s flat: %v", opts.Shape(), v)
				}
				if row["id"] != 7 || row["name"] != DefaultUnavailablePlaceholder || row["description"] != nil || row["stock_quantity"] != 50 || row["updated_at"] != nil {
					t.Errorf("%s row: %v", opts.Shape(), row)
				}
				switch dec {
				case DecimalString:
					if row["price"] != "-1299.99" {
						t.Errorf("%s price %v", opts.Shape(), row["price"])
					}
				case DecimalDouble:
					if row["price"] != -1299.99 {
						t.Errorf("%s price %v", opts.Shape(), row["price"])
					}
				default:
					if r, ok := row["price"].(*big.Rat); !ok || r.Cmp(big.NewRat(-129999, 100)) != 0 {
						t.Errorf("%s price %v", opts.Shape(), row["price"])
					}
				}
				var want any
				switch tm {
				case TimeMicro:
					want = int64(1736931600123456)
				case TimeMilli:
					want = int64(1736931600123)
				case TimeNano:
					want = int64(1736931600123456000)
				case TimeZoned:
					want = time.UnixMicro(1736931600123456).UTC().Format("2006-01-02T15:04:05.999999Z07:00")
				}
				if row["created_at"] != want {
					t.Errorf("%s created_at %v (%T), want %v", opts.Shape(), row["created_at"], row["created_at"], want)
				}
			}
		}
	}
	for _, s := range []string{"dbserver1.public.products-key", "dbserver1.public.products-value"} {
		if !reg.subjects[s] {
			t.Errorf("subject %s not registered (have %v)", s, reg.subjects)
		}
	}
	if len(reg.subjects) != 2 {
		t.Errorf("subjects %v", reg.subjects)
	}
}

// TestAvroSchemas checks the schema texts for what AvroData writes: names,
// namespaces, connect.name, the decimal's properties, optional unions.
func TestAvroSchemas(t *testing.T) {
	opts := EncodeOptions{Format: FormatAvro}
	env, err := ValueSchema(opts, debezium.TableOrderItems, true)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(env), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["name"] != "Envelope" || doc["namespace"] != "dbserver1.public.order_items" || doc["connect.name"] != "dbserver1.public.order_items.Envelope" {
		t.Errorf("envelope names: %v %v %v", doc["name"], doc["namespace"], doc["connect.name"])
	}
	for _, want := range []string{
		`"logicalType":"decimal"`, `"precision":10`, `"scale":2`, `"connect.parameters":{"scale":"2","connect.decimal.precision":"10"}`,
		`"connect.name":"io.debezium.time.MicroTimestamp"`, `"name":"order_id","type":["null","int"],"default":null`,
		`"name":"snapshot","type":[{"type":"string"`, `"connect.name":"io.debezium.connector.postgresql.Source"`,
		`"name":"after","type":["null","dbserver1.public.order_items.Value"]`,
	} {
		if !strings.Contains(env, want) {
			t.Errorf("envelope schema lacks %s", want)
		}
	}
	flat, _ := ValueSchema(EncodeOptions{Format: FormatAvroFlat, Decimal: DecimalDouble, FlatSequence: true}, debezium.TableOrders, false)
	for _, want := range []string{`"name":"total_amount","type":["null","double"]`, `"__source_sequence"`, `"__deleted"`, `"connect.name":"dbserver1.public.orders.Value"`} {
		if !strings.Contains(flat, want) {
			t.Errorf("flat schema lacks %s: %s", want, flat)
		}
	}
	if strings.Contains(flat, "__source_lsn") {
		t.Errorf("flat schema without LSN has __source_lsn")
	}
	key, _ := KeySchema(opts, debezium.TableOrders)
	if _, err := avro.Parse(key); err != nil || !strings.Contains(key, `"connect.name":"dbserver1.public.orders.Key"`) {
		t.Errorf("key schema %s: %v", key, err)
	}
	if _, err := ValueSchema(opts, "nope", false); err == nil {
		t.Error("unknown table accepted")
	}
}

// TestAvroEncodeErrors: the Avro formats need Register, and its error
// reaches the caller.
func TestAvroEncodeErrors(t *testing.T) {
	row := &debezium.Order{ID: 1, CustomerID: 2, TotalCents: 3, Status: "s"}
	if _, _, _, err := Encode(EncodeOptions{Format: FormatAvro}, debezium.TableOrders, debezium.OpCreate, 1, nil, row, Source{}); err == nil {
		t.Error("no Register: no error")
	}
	boom := errors.New("registry down")
	opts := EncodeOptions{Format: FormatAvroFlat, Register: func(string, string) (int32, error) { return 0, boom }}
	if _, _, _, err := Encode(opts, debezium.TableOrders, debezium.OpCreate, 1, nil, row, Source{}); !errors.Is(err, boom) {
		t.Errorf("err %v, want the registry's", err)
	}
	if _, _, err := EncodeKey(opts, debezium.TableOrders, 1); !errors.Is(err, boom) {
		t.Errorf("key err %v", err)
	}
	if _, k := EncodeTombstone(opts, debezium.TableOrders, 1); k != nil {
		t.Errorf("tombstone key % x despite the registry's error", k)
	}
	if _, _, err := EncodeTruncate(opts, debezium.TableOrders, Source{}); !errors.Is(err, boom) {
		t.Errorf("truncate err %v", err)
	}
}
