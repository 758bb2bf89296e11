package debezium_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

// jsonSchemaOf parses the registered schema of id as a registry client
// would (ParseRegistrySchema with schemaType JSON).
func (r *memRegistry) jsonSchemaOf(t testing.TB, id int32) *debezium.JSONSchema {
	t.Helper()
	r.mu.Lock()
	text, ok := r.texts[id]
	r.mu.Unlock()
	if !ok {
		t.Fatalf("schema id %d not registered", id)
	}
	s, err := debezium.ParseRegistrySchema("JSON", text)
	if err != nil {
		t.Fatalf("ParseRegistrySchema(JSON, %s): %v", text, err)
	}
	if s.Kind() != "JSON" || s.JSON == nil || s.Avro != nil {
		t.Fatalf("ParseRegistrySchema(JSON) gave %+v", s)
	}
	return s.JSON
}

// decodeJSONSchemaFramed decodes a JsonSchemaConverter record as a consumer
// would: split the framing, look the schemas up, DecodeJSONSchema.
func (r *memRegistry) decodeJSONSchemaFramed(t testing.TB, d *debezium.Decoder, topic string, key, value []byte) (debezium.Message, error) {
	t.Helper()
	var ks, vs *debezium.JSONSchema
	if id, payload, ok := confluent.Split(key); ok {
		ks, key = r.jsonSchemaOf(t, id), payload
	}
	if len(value) > 0 {
		id, payload, ok := confluent.Split(value)
		if !ok {
			t.Fatalf("value is not framed: % x", value[:min(len(value), 8)])
		}
		vs, value = r.jsonSchemaOf(t, id), payload
	}
	return d.DecodeJSONSchema(topic, key, ks, value, vs)
}

// TestDecodeJSONSchemaEquivalence renders the same changes with dbzenc as
// JSON with the JsonConverter schema wrapper and as framed JSON with a
// registered JSON Schema (the JsonSchemaConverter), envelope and
// flattened, every decimal mode (precise = BASE64, numeric) and time mode,
// with and without __source_sequence, and requires identical Messages.
// The decoder's default scale is 5: a decimal whose scale is not taken
// from the JSON Schema's connect.parameters decodes differently.
func TestDecodeJSONSchemaEquivalence(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 5})
	shapes := []struct {
		json, js dbzenc.Format
		seq      bool
	}{
		{dbzenc.FormatEnvelope, dbzenc.FormatJSONSchema, false},
		{dbzenc.FormatFlat, dbzenc.FormatJSONSchemaFlat, false},
		{dbzenc.FormatFlat, dbzenc.FormatJSONSchemaFlat, true},
	}
	n := 0
	for _, sh := range shapes {
		for _, dec := range []dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble, dbzenc.DecimalNumeric} {
			for _, tm := range []dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeMilli, dbzenc.TimeNano, dbzenc.TimeZoned} {
				jopts := dbzenc.EncodeOptions{Format: sh.json, Decimal: dec, Time: tm, FlatSequence: sh.seq}
				sopts := jopts
				sopts.Format, sopts.Register = sh.js, reg.Register
				for _, c := range equivalenceChanges() {
					name := sopts.Shape() + "/" + c.name
					jt, jk, jv, err := dbzenc.Encode(jopts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						t.Fatalf("%s: json encode: %v", name, err)
					}
					st, sk, sv, err := dbzenc.Encode(sopts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						t.Fatalf("%s: json schema encode: %v", name, err)
					}
					if st != jt {
						t.Fatalf("%s: topic %s, want %s", name, st, jt)
					}
					want, werr := d.Decode(jt, jk, jv)
					got, gerr := reg.decodeJSONSchemaFramed(t, d, st, sk, sv)
					if werr != nil || gerr != nil {
						t.Fatalf("%s: json err %v, json schema err %v", name, werr, gerr)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\njsonschema %s\njson       %s", name, dump(got), dump(want))
					}
					n++
				}
				for _, table := range []string{debezium.TableProducts, debezium.TableOrders, debezium.TableOrderItems} {
					jt, jk := dbzenc.EncodeTombstone(jopts, table, 42)
					st, sk, err := dbzenc.EncodeKey(sopts, table, 42)
					if err != nil {
						t.Fatal(err)
					}
					want, _ := d.Decode(jt, jk, nil)
					got, err := reg.decodeJSONSchemaFramed(t, d, st, sk, nil)
					if err != nil || !reflect.DeepEqual(got, want) || got.Kind != debezium.KindTombstone || got.ID != 42 {
						t.Errorf("%s tombstone %s: json schema %s (%v), json %s", sopts.Shape(), table, dump(got), err, dump(want))
					}
				}
				jt, jv, err := dbzenc.EncodeTruncate(jopts, debezium.TableOrders, dbzenc.Source{LSN: 99, TsMs: 5})
				if err != nil {
					t.Fatal(err)
				}
				st, sv, err := dbzenc.EncodeTruncate(sopts, debezium.TableOrders, dbzenc.Source{LSN: 99, TsMs: 5})
				if err != nil {
					t.Fatal(err)
				}
				want, werr := d.Decode(jt, nil, jv)
				got, gerr := reg.decodeJSONSchemaFramed(t, d, st, nil, sv)
				if werr != nil || gerr != nil || !reflect.DeepEqual(got, want) || got.Kind != debezium.KindTruncate {
					t.Errorf("%s truncate: json schema %s (%v), json %s (%v)", sopts.Shape(), dump(got), gerr, dump(want), werr)
				}
			}
		}
	}
	if n < 700 {
		t.Fatalf("only %d changes compared", n)
	}
	t.Logf("%d changes, %d registered schemas", n, len(reg.ids))
}

// TestDecodeJSONSchemaPositions checks commit positions directly.
func TestDecodeJSONSchemaPositions(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	p := &debezium.Product{ID: 1, Name: "n", PriceCents: 100, StockQuantity: 3}
	for _, tc := range []struct {
		opts dbzenc.EncodeOptions
		op   debezium.Op
		src  dbzenc.Source
		want debezium.Position
	}{
		{dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchema}, debezium.OpRead, dbzenc.Source{LSN: 10, TsMs: 1}, debezium.Position{Snapshot: true, Sequenced: true, LSN: 10, TsMs: 1}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchema}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{Sequenced: true, Commit: 20, LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchema}, debezium.OpUpdate, dbzenc.Source{TsMs: 3}, debezium.Position{TsMs: 3}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchemaFlat}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchemaFlat, FlatSequence: true}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{Sequenced: true, Commit: 20, LSN: 30, TsMs: 2}},
	} {
		tc.opts.Register = reg.Register
		topic, key, value, err := dbzenc.Encode(tc.opts, debezium.TableProducts, tc.op, 1, nil, p, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		m, err := reg.decodeJSONSchemaFramed(t, d, topic, key, value)
		if err != nil {
			t.Fatal(err)
		}
		if m.Pos != tc.want {
			t.Errorf("%s %s %+v: position %+v, want %+v", tc.opts.Shape(), tc.op, tc.src, m.Pos, tc.want)
		}
	}
}

// TestDecodeJSONSchemaScale: the scale of a base64 decimal comes from the
// JSON Schema's connect.parameters; without it, from DefaultScale; a
// numeric decimal is exact whatever the scale. Hand-written schemas as
// JsonSchemaData writes them (oneOf null for optional columns).
func TestDecodeJSONSchemaScale(t *testing.T) {
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	schema := func(params string) *debezium.JSONSchema {
		text := `{"type":"object","title":"dbserver1.public.products.Value","properties":{` +
			`"id":{"type":"integer","default":0,"connect.type":"int32","connect.index":0},` +
			`"name":{"type":"string","connect.index":1},` +
			`"description":{"oneOf":[{"type":"null"},{"type":"string"}],"connect.index":2},` +
			`"price":{"type":"number","title":"org.apache.kafka.connect.data.Decimal","connect.version":1` + params + `,"connect.type":"bytes","connect.index":3},` +
			`"stock_quantity":{"type":"integer","connect.type":"int32","connect.index":4},` +
			`"__op":{"oneOf":[{"type":"null"},{"type":"string"}],"connect.index":5}}}`
		s, err := debezium.ParseJSONSchema(text)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// 0x01E240 = 123456
	for _, tc := range []struct {
		params, price string
		want          int64
	}{
		{`,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"}`, `"AeJA"`, 123456},
		{`,"connect.parameters":{"scale":"3","connect.decimal.precision":"10"}`, `"AeJA"`, 12346},
		{`,"connect.parameters":{"scale":"1"}`, `"AeJA"`, 1234560},
		{``, `"AeJA"`, 123456}, // DefaultScale 2
		{`,"connect.parameters":{"scale":"3"}`, `1234.56`, 123456},
	} {
		value := `{"id":1,"name":"n","description":null,"price":` + tc.price + `,"stock_quantity":3,"__op":"c"}`
		m, err := d.DecodeJSONSchema("dbserver1.public.products", []byte(`{"id":1}`), nil, []byte(value), schema(tc.params))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.params, tc.price, err)
		}
		if m.AfterProduct == nil || m.AfterProduct.PriceCents != tc.want {
			t.Errorf("%s %s: %s, want %d cents", tc.params, tc.price, dump(m), tc.want)
		}
	}
	if _, err := debezium.ParseJSONSchema(`{"type":"object","properties":{"price":{"type":"number","title":"org.apache.kafka.connect.data.Decimal","connect.parameters":{"scale":"x"}}}}`); err == nil || !strings.Contains(err.Error(), "invalid decimal scale") {
		t.Errorf("bad scale: %v", err)
	}
}

// TestParseRegistrySchemaKinds: the schema types a registry returns.
func TestParseRegistrySchemaKinds(t *testing.T) {
	avro := `{"type":"record","name":"Key","fields":[{"name":"id","type":"int"}]}`
	for _, typ := range []string{"", "AVRO"} {
		s, err := debezium.ParseRegistrySchema(typ, avro)
		if err != nil || s.Avro == nil || s.JSON != nil || s.Kind() != "AVRO" {
			t.Errorf("%q: %+v %v", typ, s, err)
		}
	}
	if _, err := debezium.ParseRegistrySchema("PROTOBUF", `syntax = "proto3";`); err == nil || !strings.Contains(err.Error(), "no message type") {
		t.Errorf("PROTOBUF without a message: %v", err)
	}
	if s, err := debezium.ParseRegistrySchema("PROTOBUF", `syntax = "proto3"; message Key { int32 id = 1; }`); err != nil || s.Protobuf == nil || s.Kind() != "PROTOBUF" {
		t.Errorf("PROTOBUF: %+v %v", s, err)
	}
	for _, bad := range []string{`nope`, `{"type":"object"} {}`, `{"$ref":"#/definitions/x"}`, `{"type":"string"}`} {
		if _, err := debezium.ParseRegistrySchema("JSON", bad); err == nil {
			t.Errorf("JSON %s: no error", bad)
		}
	}
}

// TestDecodeJSONSchemaErrors: what cannot be understood is a DecodeError
// naming the field, without the payload. prefix of the wrapper.
func TestDecodeJSONSchemaErrors(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	opts := dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchema, Register: reg.Register}
	topic, key, value, err := dbzenc.Encode(opts, debezium.TableProducts, debezium.OpCreate, 1, nil, &debezium.Product{ID: 1, Name: "n", PriceCents: 100}, dbzenc.Source{LSN: 5, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	id, payload, _ := confluent.Split(value)
	_, kp, _ := confluent.Split(key)
	vs := reg.jsonSchemaOf(t, id)
	bad := strings.Replace(string(payload), `"stock_quantity":0`, `"stock_quantity":"x"`, 1)
	_, err = d.DecodeJSONSchema(topic, kp, nil, []byte(bad), vs)
	var de *debezium.DecodeError
	if !errors.As(err, &de) || de.Field != "after.stock_quantity" {
		t.Errorf("wrong type: %v", err)
	}
	if _, err := d.DecodeJSONSchema(topic, kp, nil, []byte(`[1]`), vs); err == nil {
		t.Error("array value: no error")
	}
	if _, err := d.DecodeJSONSchema(topic, kp, nil, []byte(`{"op":"c"`), vs); err == nil {
		t.Error("truncated value: no error")
	}
	if _, err := d.DecodeJSONSchema(topic, kp, nil, payload, nil); err == nil {
		t.Error("no schema: no error")
	}
	if m, err := d.DecodeJSONSchema(topic, kp, nil, []byte(" null "), vs); err != nil || m.Kind != debezium.KindTombstone || m.ID != 1 {
		t.Errorf("null value: %s %v", dump(m), err)
	}
}
