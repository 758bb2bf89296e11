package debezium_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// memRegistry is a schema registry in a map: the same schema text under a
// subject gets the same id, as a Schema Registry answers.
type memRegistry struct {
	mu     sync.Mutex
	ids    map[string]int32 // schema text -> id
	texts  map[int32]string
	parsed map[int32]*debezium.AvroSchema
}

func newMemRegistry() *memRegistry {
	return &memRegistry{ids: map[string]int32{}, texts: map[int32]string{}, parsed: map[int32]*debezium.AvroSchema{}}
}

func (r *memRegistry) Register(subject, schema string) (int32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.HasSuffix(subject, "-key") && !strings.HasSuffix(subject, "-value") {
		return 0, fmt.Errorf("subject %q is not <topic>-key or <topic>-value", subject)
	}
	if id, ok := r.ids[schema]; ok {
		return id, nil
	}
	id := int32(len(r.ids) + 1)
	r.ids[schema], r.texts[id] = id, schema
	return id, nil
}

// schema returns the parsed schema of id, parsing it once.
func (r *memRegistry) schema(t testing.TB, id int32) *debezium.AvroSchema {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.parsed[id]; ok {
		return s
	}
	text, ok := r.texts[id]
	if !ok {
		t.Fatalf("schema id %d not registered", id)
	}
	s, err := debezium.ParseAvroSchema(text)
	if err != nil {
		t.Fatalf("ParseAvroSchema(%s): %v", text, err)
	}
	r.parsed[id] = s
	return s
}

// decodeFramed decodes a framed Avro record as a consumer would: split
// the framing, look the schemas up, DecodeAvro.
func (r *memRegistry) decodeFramed(t testing.TB, d *debezium.Decoder, topic string, key, value []byte) (debezium.Message, error) {
	t.Helper()
	var ks, vs *debezium.AvroSchema
	if id, payload, ok := confluent.Split(key); ok {
		ks, key = r.schema(t, id), payload
	}
	if len(value) > 0 {
		id, payload, ok := confluent.Split(value)
		if !ok {
			t.Fatalf("value is not framed: % x", value[:min(len(value), 8)])
		}
		vs, value = r.schema(t, id), payload
	}
	return d.DecodeAvro(topic, key, ks, value, vs)
}

// avroChange is one change rendered in every shape by the equivalence test.
type avroChange struct {
	name          string
	table         string
	op            debezium.Op
	id            int64
	before, after any
	src           dbzenc.Source
}

func equivalenceChanges() []avroChange {
	p1 := &debezium.Product{ID: 7, Name: "Laptop \"Pro\" 15\u00e9 😀", Description: "A long description\nwith lines", PriceCents: 129999, StockQuantity: 50, CreatedAt: 1736931600123456, UpdatedAt: 1736931600987001}
	p2 := &debezium.Product{ID: 7, Name: "Laptop", PriceCents: -5, StockQuantity: 0, CreatedAt: 1736931600123000} // NULL description and updated_at
	p3 := &debezium.Product{ID: 7, Name: "Big", Description: "d", PriceCents: 9999999999, StockQuantity: 1 << 30}
	o1 := &debezium.Order{ID: 8, CustomerID: 5, TotalCents: 1234567801, Status: "pending", CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000}
	o2 := &debezium.Order{ID: 8, CustomerID: 5, TotalCents: 0, Status: "shipped", CreatedAt: 1736931600000000, UpdatedAt: 1736931600000001}
	i1 := &debezium.OrderItem{ID: 9, OrderID: 4, ProductID: 3, Quantity: 2, PriceCents: 1, CreatedAt: 1736931600999999}
	i2 := &debezium.OrderItem{ID: 9, Quantity: 3, PriceCents: 12345} // NULL order_id, product_id, created_at
	snap := dbzenc.Source{LSN: 24023128, TsMs: 1736931600000, Snapshot: true}
	seq := dbzenc.Source{LSN: 24023500, LastCommitLSN: 24023400, TsMs: 1736931601000, TxID: 771, EventTsMs: 1736931601500}
	firstTx := dbzenc.Source{LSN: 24023129, TsMs: 1736931600001}
	noLSN := dbzenc.Source{TsMs: 1736931602000}
	toast := seq
	toast.Unavailable = []string{"description"}
	toastName := seq
	toastName.Unavailable = []string{"name", "description"}
	toastStatus := seq
	toastStatus.Unavailable = []string{"status"}
	return []avroChange{
		{"products/r/snapshot", debezium.TableProducts, debezium.OpRead, 7, nil, p1, snap},
		{"products/c/first-tx", debezium.TableProducts, debezium.OpCreate, 7, nil, p1, firstTx},
		{"products/c/nulls", debezium.TableProducts, debezium.OpCreate, 7, nil, p2, seq},
		{"products/u/full", debezium.TableProducts, debezium.OpUpdate, 7, p1, p3, seq},
		{"products/u/toast-full", debezium.TableProducts, debezium.OpUpdate, 7, p1, p3, toast},
		{"products/u/toast-default", debezium.TableProducts, debezium.OpUpdate, 7, nil, p3, toastName},
		{"products/u/no-lsn", debezium.TableProducts, debezium.OpUpdate, 7, nil, p2, noLSN},
		{"products/d", debezium.TableProducts, debezium.OpDelete, 7, p1, nil, seq},
		{"products/d/key-only", debezium.TableProducts, debezium.OpDelete, 7, &debezium.Product{ID: 7}, nil, seq},
		{"orders/c", debezium.TableOrders, debezium.OpCreate, 8, nil, o1, seq},
		{"orders/u/toast-status", debezium.TableOrders, debezium.OpUpdate, 8, nil, o2, toastStatus},
		{"orders/u/toast-status-full", debezium.TableOrders, debezium.OpUpdate, 8, o1, o2, toastStatus},
		{"orders/d", debezium.TableOrders, debezium.OpDelete, 8, o2, nil, noLSN},
		{"order_items/r", debezium.TableOrderItems, debezium.OpRead, 9, nil, i1, snap},
		{"order_items/u/nulls", debezium.TableOrderItems, debezium.OpUpdate, 9, i1, i2, seq},
		{"order_items/d", debezium.TableOrderItems, debezium.OpDelete, 9, i2, nil, firstTx},
	}
}

// TestDecodeAvroEquivalence renders the same changes with dbzenc as JSON
// (with the schema wrapper) and as Avro through the registry, in the
// envelope and the flattened shape, every decimal and timestamp mode, with
// and without __source_sequence, and checks that DecodeAvro gives exactly
// the Message Decode gives. Tombstones and truncates too.
func TestDecodeAvroEquivalence(t *testing.T) {
	reg := newMemRegistry()
	// An odd default scale: a decoder that loses a schema's scale differs.
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 5})
	shapes := []struct {
		json, avro dbzenc.Format
		seq        bool
	}{
		{dbzenc.FormatEnvelope, dbzenc.FormatAvro, false},
		{dbzenc.FormatFlat, dbzenc.FormatAvroFlat, false},
		{dbzenc.FormatFlat, dbzenc.FormatAvroFlat, true},
	}
	n := 0
	for _, sh := range shapes {
		for _, dec := range []dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble} {
			for _, tm := range []dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeMilli, dbzenc.TimeNano, dbzenc.TimeZoned} {
				jopts := dbzenc.EncodeOptions{Format: sh.json, Decimal: dec, Time: tm, FlatSequence: sh.seq}
				aopts := jopts
				aopts.Format, aopts.Register = sh.avro, reg.Register
				for _, c := range equivalenceChanges() {
					name := aopts.Shape() + "/" + c.name
					jt, jk, jv, err := dbzenc.Encode(jopts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						t.Fatalf("%s: json encode: %v", name, err)
					}
					at, ak, av, err := dbzenc.Encode(aopts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						t.Fatalf("%s: avro encode: %v", name, err)
					}
					want, werr := d.Decode(jt, jk, jv)
					got, gerr := reg.decodeFramed(t, d, at, ak, av)
					if werr != nil || gerr != nil {
						t.Fatalf("%s: json err %v, avro err %v", name, werr, gerr)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\navro %s\njson %s", name, dump(got), dump(want))
					}
					n++
				}
				// Tombstone: the key with no value.
				for _, table := range []string{debezium.TableProducts, debezium.TableOrders, debezium.TableOrderItems} {
					jt, jk := dbzenc.EncodeTombstone(jopts, table, 42)
					at, ak, err := dbzenc.EncodeKey(aopts, table, 42)
					if err != nil {
						t.Fatal(err)
					}
					want, _ := d.Decode(jt, jk, nil)
					got, err := reg.decodeFramed(t, d, at, ak, nil)
					if err != nil || !reflect.DeepEqual(got, want) || got.Kind != debezium.KindTombstone || got.ID != 42 {
						t.Errorf("%s tombstone %s: avro %s (%v), json %s", aopts.Shape(), table, dump(got), err, dump(want))
					}
				}
				// Truncate: the envelope with op t, no key.
				jt, jv, err := dbzenc.EncodeTruncate(jopts, debezium.TableOrders, dbzenc.Source{LSN: 99, TsMs: 5})
				if err != nil {
					t.Fatal(err)
				}
				at, av, err := dbzenc.EncodeTruncate(aopts, debezium.TableOrders, dbzenc.Source{LSN: 99, TsMs: 5})
				if err != nil {
					t.Fatal(err)
				}
				want, werr := d.Decode(jt, nil, jv)
				got, gerr := reg.decodeFramed(t, d, at, nil, av)
				if werr != nil || gerr != nil || !reflect.DeepEqual(got, want) || got.Kind != debezium.KindTruncate {
					t.Errorf("%s truncate: avro %s (%v), json %s (%v)", aopts.Shape(), dump(got), gerr, dump(want), werr)
				}
			}
		}
	}
	if n < 400 {
		t.Fatalf("only %d changes compared", n)
	}
	t.Logf("%d changes, %d registered schemas", n, len(reg.ids))
}

// dump renders a Message with its rows for failure messages.
func dump(m debezium.Message) string {
	s := fmt.Sprintf("%+v", m)
	for _, r := range []any{m.BeforeProduct, m.AfterProduct, m.BeforeOrder, m.AfterOrder, m.BeforeItem, m.AfterItem} {
		if !reflect.ValueOf(r).IsNil() {
			s += fmt.Sprintf(" %+v", r)
		}
	}
	return s
}

// TestDecodeAvroPositions checks the commit positions of Avro records
// directly (the equivalence test proves them equal to JSON's).
func TestDecodeAvroPositions(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	p := &debezium.Product{ID: 1, Name: "n", PriceCents: 100, StockQuantity: 3}
	for _, tc := range []struct {
		opts dbzenc.EncodeOptions
		op   debezium.Op
		src  dbzenc.Source
		want debezium.Position
	}{
		{dbzenc.EncodeOptions{Format: dbzenc.FormatAvro}, debezium.OpRead, dbzenc.Source{LSN: 10, TsMs: 1}, debezium.Position{Snapshot: true, Sequenced: true, LSN: 10, TsMs: 1}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatAvro}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{Sequenced: true, Commit: 20, LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatAvro}, debezium.OpUpdate, dbzenc.Source{TsMs: 3}, debezium.Position{TsMs: 3}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatAvroFlat}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatAvroFlat, FlatSequence: true}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{Sequenced: true, Commit: 20, LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatAvroFlat, FlatSequence: true}, debezium.OpRead, dbzenc.Source{LSN: 10, TsMs: 1}, debezium.Position{Snapshot: true, Sequenced: true, LSN: 10, TsMs: 1}},
	} {
		tc.opts.Register = reg.Register
		topic, key, value, err := dbzenc.Encode(tc.opts, debezium.TableProducts, tc.op, 1, nil, p, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		m, err := reg.decodeFramed(t, d, topic, key, value)
		if err != nil {
			t.Fatal(err)
		}
		if m.Pos != tc.want {
			t.Errorf("%s %s %+v: position %+v, want %+v", tc.opts.Shape(), tc.op, tc.src, m.Pos, tc.want)
		}
	}
}

// TestDecodeAvroJSONKey: a nil key schema reads the key as JSON (a
// deployment with the AvroConverter for values only).
func TestDecodeAvroJSONKey(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	topic, _, value, err := dbzenc.Encode(dbzenc.EncodeOptions{Format: dbzenc.FormatAvro, Register: reg.Register}, debezium.TableOrders, debezium.OpDelete, 8,
		&debezium.Order{ID: 8, CustomerID: 1, TotalCents: 5, Status: "x"}, nil, dbzenc.Source{LSN: 5, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	id, payload, _ := confluent.Split(value)
	m, err := d.DecodeAvro(topic, []byte(`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false},"payload":{"id":1234}}`), nil, payload, reg.schema(t, id))
	if err != nil || m.ID != 1234 || m.BeforeOrder == nil || m.BeforeOrder.ID != 8 {
		t.Fatalf("m %s, err %v", dump(m), err)
	}
	m, err = d.DecodeAvro(topic, []byte(`{"id":77}`), nil, nil, nil)
	if err != nil || m.Kind != debezium.KindTombstone || m.ID != 77 || m.Table != debezium.TableOrders {
		t.Fatalf("tombstone %s, err %v", dump(m), err)
	}
}

// TestDecodeAvroErrors: every failure is a *DecodeError naming the Avro
// field path.
func TestDecodeAvroErrors(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	opts := dbzenc.EncodeOptions{Format: dbzenc.FormatAvro, Register: reg.Register}
	topic, key, value, err := dbzenc.Encode(opts, debezium.TableProducts, debezium.OpCreate, 1, nil,
		&debezium.Product{ID: 1, Name: "n", PriceCents: 100, StockQuantity: 3, CreatedAt: 5}, dbzenc.Source{LSN: 10, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	kid, kp, _ := confluent.Split(key)
	vid, vp, _ := confluent.Split(value)
	ks, vs := reg.schema(t, kid), reg.schema(t, vid)
	if _, err := d.DecodeAvro(topic, kp, ks, vp, vs); err != nil {
		t.Fatal(err)
	}
	check := func(name string, value []byte, vs *debezium.AvroSchema, wantField, wantText string) {
		t.Helper()
		_, err := d.DecodeAvro(topic, kp, ks, value, vs)
		var de *debezium.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("%s: err %v (%T), want *DecodeError", name, err, err)
		}
		if de.Field != wantField || !strings.Contains(de.Error(), wantText) {
			t.Errorf("%s: %q (field %q), want field %q containing %q", name, de.Error(), de.Field, wantField, wantText)
		}
	}
	// Every truncation of a valid record is an error, never a panic.
	for i := 1; i < len(vp); i++ {
		if _, err := d.DecodeAvro(topic, kp, ks, vp[:i], vs); err == nil {
			t.Errorf("truncated to %d of %d bytes: no error", i, len(vp))
		}
	}
	check("trailing", append(append([]byte(nil), vp...), 0), vs, "", "unexpected data after the Avro record")
	check("no schema", vp, nil, "", "without a writer schema")

	// A schema whose price is a long: wrong type for a decimal.
	bad, err := debezium.ParseAvroSchema(strings.Replace(reg.texts[vid], `{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`, `"long"`, 1))
	if err != nil {
		t.Fatal(err)
	}
	// before null, after: id 1, name "n", description null, price bytes
	// 0x64, stock_quantity 3, created_at 5, updated_at null; then source...
	head := []byte{0, 2, 2, 2, 'n', 0, 2, 0x64, 2, 6, 2, 10, 0}
	if string(vp[:len(head)]) != string(head) {
		t.Fatalf("encoding changed: % x", vp[:len(head)])
	}
	rest := vp[len(head):]
	withRow := func(row ...byte) []byte {
		return append(append([]byte{0, 2}, row...), rest...)
	}
	check("price long", withRow(2, 2, 'n', 0, 0xc8, 0x01, 2, 6, 2, 10, 0), bad, "after.price", "expected decimal")
	// stock_quantity is optional in the schema (as Debezium prints it),
	// NOT NULL for the decoder.
	check("null stock", withRow(2, 2, 'n', 0, 2, 0x64, 0, 2, 10, 0), vs, "after.stock_quantity", "required (NOT NULL) column is null")
	check("bad union branch", withRow(2, 2, 'n', 4), vs, "after", "Avro data ends early") // found by the first pass, which skips the row
	check("empty decimal", withRow(2, 2, 'n', 0, 0, 2, 6, 2, 10, 0), vs, "after.price", "expected decimal bytes")
	check("negative length", withRow(2, 1, 'n'), vs, "after", "Avro data ends early")
	// A decimal beyond int64 cents.
	check("overflow", withRow(2, 2, 'n', 0, 20, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 6, 2, 10, 0), vs, "after.price", "does not fit in int64 cents")
}

// TestDecodeAvroHandBuilt decodes hand-built Avro bytes for the corner cases
// the encoder does not produce: the snapshot as an enum, a VariableScaleDecimal
// price, a decimal whose scale is only in connect.parameters, fixed decimals,
// timestamp-millis without connect.name, __deleted as a boolean, a bare long
// key, a value schema that is a union with null, and the placeholder.
func TestDecodeAvroHandBuilt(t *testing.T) {
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	parse := func(text string) *debezium.AvroSchema {
		t.Helper()
		s, err := debezium.ParseAvroSchema(text)
		if err != nil {
			t.Fatalf("%v in %s", err, text)
		}
		return s
	}
	row := func(price string) string {
		return `{"type":"record","name":"Value","namespace":"x.public.products","fields":[` +
			`{"name":"id","type":"int"},{"name":"name","type":"string"},{"name":"extra","type":{"type":"array","items":"string"}},` +
			`{"name":"price","type":` + price + `},{"name":"stock_quantity","type":"long"},` +
			`{"name":"created_at","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}]}`
	}
	envelope := func(price string) string {
		return `{"type":"record","name":"Envelope","namespace":"x.public.products","fields":[` +
			`{"name":"before","type":["null",` + row(price) + `],"default":null},` +
			`{"name":"after","type":["null","x.public.products.Value"],"default":null},` +
			`{"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.postgresql","fields":[` +
			`{"name":"ts_ms","type":"long"},{"name":"snapshot","type":["null",{"type":"enum","name":"SnapshotEnum","symbols":["true","last","false"]}]},` +
			`{"name":"sequence","type":["null","string"]},{"name":"table","type":"string"},{"name":"lsn","type":["null","long"]}]}},` +
			`{"name":"op","type":"string"},{"name":"ts_ms","type":["null","long"]}]}`
	}
	// after image: id 7, name "ab", extra ["q"], <price>, stock 3, created_at 1000 ms.
	afterImg := func(price []byte) []byte {
		b := []byte{2 /* after: branch 1 */, 14, 4, 'a', 'b', 2, 2, 'q', 0}
		b = append(b, price...)
		return append(b, 6, 2, 0xd0, 0x0f)
	}
	source := func(snapshotBranch bool) []byte {
		b := []byte{2 /* ts_ms 1 */}
		if snapshotBranch {
			b = append(b, 2, 0) // enum "true"
		} else {
			b = append(b, 0)
		}
		seq := `[null,"100"]`
		b = append(b, 2, byte(2*len(seq)))
		b = append(b, seq...)
		b = append(b, 16, 'p', 'r', 'o', 'd', 'u', 'c', 't', 's', 2, 0xc8, 0x01)
		return b
	}
	value := func(price []byte, op byte) []byte {
		b := []byte{0 /* before null */}
		b = append(b, afterImg(price)...)
		b = append(b, source(op == 'r')...)
		return append(b, 2, op, 0)
	}
	cases := []struct {
		name  string
		price string
		bytes []byte
		cents int64
	}{
		{"variable-scale", `{"type":"record","name":"VariableScaleDecimal","namespace":"io.debezium.data","fields":[{"name":"scale","type":"int"},{"name":"value","type":"bytes"}],"connect.name":"io.debezium.data.VariableScaleDecimal"}`,
			[]byte{6 /* scale 3 */, 4, 0x30, 0x39 /* 12345 */}, 1235},
		{"connect-parameters-scale", `{"type":"bytes","connect.parameters":{"scale":"3"},"connect.name":"org.apache.kafka.connect.data.Decimal"}`,
			[]byte{4, 0x30, 0x39}, 1235},
		{"logical-scale-4", `{"type":"bytes","logicalType":"decimal","precision":10,"scale":4}`,
			[]byte{4, 0xcf, 0xc7 /* -12345 */}, -123},
		{"fixed", `{"type":"fixed","name":"F","size":3,"logicalType":"decimal","precision":6,"scale":2}`,
			[]byte{0xff, 0xff, 0xfe}, -2},
		{"no-scale-default", `"bytes"`, []byte{2, 0x7f}, 127},
		{"string", `"string"`, []byte{10, '1', '2', '.', '3', '4'}, 1234},
		{"float", `"float"`, []byte{0xa4, 0x70, 0x45, 0x41 /* 12.34f */}, 1234},
	}
	for _, c := range cases {
		s := parse(envelope(c.price))
		m, err := d.DecodeAvro("x.public.products", []byte{2, 14}, parse(`"long"`), value(c.bytes, 'u'), s)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := debezium.Product{ID: 7, Name: "ab", PriceCents: c.cents, StockQuantity: 3, CreatedAt: 1_000_000}
		if m.AfterProduct == nil || *m.AfterProduct != want || m.ID != 7 || m.Op != debezium.OpUpdate ||
			m.Pos != (debezium.Position{Sequenced: true, LSN: 100, TsMs: 1}) {
			t.Errorf("%s: %s", c.name, dump(m))
		}
	}
	// Snapshot as an enum, op r: a snapshot row.
	m, err := d.DecodeAvro("x.public.products", nil, nil, value([]byte{4, 0x04, 0xd2}, 'r'), parse(envelope(`{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`)))
	if err != nil || !m.Pos.Snapshot || m.AfterProduct.PriceCents != 1234 || m.ID != 7 {
		t.Errorf("snapshot enum: %s %v", dump(m), err)
	}

	// Flattened record: __deleted a boolean, a TOAST placeholder, the value
	// schema a union with null (null: a tombstone).
	flat := parse(`["null",{"type":"record","name":"Value","namespace":"x.public.orders","fields":[` +
		`{"name":"id","type":"int"},{"name":"customer_id","type":"int"},{"name":"total_amount","type":"string"},{"name":"status","type":["null","string"]},` +
		`{"name":"__op","type":"string"},{"name":"__table","type":"string"},{"name":"__source_ts_ms","type":"long"},{"name":"__lsn","type":"long"},{"name":"__deleted","type":"boolean"}]}]`)
	ph := debezium.DefaultUnavailablePlaceholder
	flatValue := func(deleted byte) []byte {
		b := []byte{2, 16, 10, 8, '1', '.', '0', '5', 2, byte(2 * len(ph))}
		b = append(b, ph...)
		b = append(b, 2, 'u', 12, 'o', 'r', 'd', 'e', 'r', 's', 4, 6, deleted)
		return b
	}
	m, err = d.DecodeAvro("x.public.orders", nil, nil, flatValue(0), flat)
	if err != nil || m.Op != debezium.OpUpdate || m.AfterOrder == nil || m.AfterOrder.TotalCents != 105 || m.AfterOrder.Status != "" ||
		m.Unchanged != debezium.OrderStatus || m.ID != 8 || m.Pos != (debezium.Position{LSN: 3, TsMs: 2}) {
		t.Errorf("flat: %s %v", dump(m), err)
	}
	m, err = d.DecodeAvro("x.public.orders", nil, nil, flatValue(1), flat)
	if err != nil || m.Op != debezium.OpDelete || m.BeforeOrder == nil || m.BeforeOrder.TotalCents != 105 {
		t.Errorf("flat deleted: %s %v", dump(m), err)
	}
	m, err = d.DecodeAvro("x.public.orders", []byte(`{"id":3}`), nil, []byte{0}, flat)
	if err != nil || m.Kind != debezium.KindTombstone || m.ID != 3 {
		t.Errorf("null union value: %s %v", dump(m), err)
	}
}
