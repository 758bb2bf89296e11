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

// protoSchemaOf parses the registered schema of id as a registry client
// would (ParseRegistrySchema with schemaType PROTOBUF).
func (r *memRegistry) protoSchemaOf(t testing.TB, id int32) *debezium.ProtobufSchema {
	t.Helper()
	r.mu.Lock()
	text, ok := r.texts[id]
	r.mu.Unlock()
	if !ok {
		t.Fatalf("schema id %d not registered", id)
	}
	s, err := debezium.ParseRegistrySchema("PROTOBUF", text)
	if err != nil {
		t.Fatalf("ParseRegistrySchema(PROTOBUF, %s): %v", text, err)
	}
	if s.Kind() != "PROTOBUF" || s.Protobuf == nil || s.Avro != nil || s.JSON != nil {
		t.Fatalf("ParseRegistrySchema(PROTOBUF) gave %+v", s)
	}
	return s.Protobuf
}

// decodeProtoFramed decodes a ProtobufConverter record as a consumer
// would: split the framing and the message indexes, look the schemas up,
// select the message, DecodeProtobuf.
func (r *memRegistry) decodeProtoFramed(t testing.TB, d *debezium.Decoder, topic string, key, value []byte) (debezium.Message, error) {
	t.Helper()
	var ks, vs *debezium.ProtobufSchema
	if id, payload, ok := confluent.Split(key); ok {
		idx, msg, err := confluent.SplitProtobuf(payload)
		if err != nil {
			t.Fatalf("key indexes: %v", err)
		}
		if ks, err = r.protoSchemaOf(t, id).Select(idx); err != nil {
			t.Fatal(err)
		}
		key = msg
	}
	if len(value) > 0 {
		id, payload, ok := confluent.Split(value)
		if !ok {
			t.Fatalf("value is not framed: % x", value[:min(len(value), 8)])
		}
		idx, msg, err := confluent.SplitProtobuf(payload)
		if err != nil {
			t.Fatalf("value indexes: %v", err)
		}
		if vs, err = r.protoSchemaOf(t, id).Select(idx); err != nil {
			t.Fatal(err)
		}
		value = msg
	}
	return d.DecodeProtobuf(topic, key, ks, value, vs)
}

// TestDecodeProtobufEquivalence renders the same changes with dbzenc as
// JSON with the JsonConverter schema wrapper and as framed Protobuf with a
// registered .proto (the ProtobufConverter), envelope and flattened, the
// decimal modes (precise = confluent.type.Decimal, string, double) and
// time modes, with and without __source_sequence, and requires identical
// Messages: ops, positions, NULL columns, TOAST placeholders, tombstones,
// truncates. The decoder's default scale is 5: a decimal whose scale is
// not taken from the Decimal message decodes differently.
func TestDecodeProtobufEquivalence(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 5})
	shapes := []struct {
		json, pb dbzenc.Format
		seq      bool
	}{
		{dbzenc.FormatEnvelope, dbzenc.FormatProtobuf, false},
		{dbzenc.FormatFlat, dbzenc.FormatProtobufFlat, false},
		{dbzenc.FormatFlat, dbzenc.FormatProtobufFlat, true},
	}
	n := 0
	for _, sh := range shapes {
		for _, dec := range []dbzenc.DecimalMode{dbzenc.DecimalPrecise, dbzenc.DecimalString, dbzenc.DecimalDouble} {
			for _, tm := range []dbzenc.TimeMode{dbzenc.TimeMicro, dbzenc.TimeMilli, dbzenc.TimeNano, dbzenc.TimeZoned} {
				jopts := dbzenc.EncodeOptions{Format: sh.json, Decimal: dec, Time: tm, FlatSequence: sh.seq}
				popts := jopts
				popts.Format, popts.Register = sh.pb, reg.Register
				for _, c := range equivalenceChanges() {
					name := popts.Shape() + "/" + c.name
					jt, jk, jv, err := dbzenc.Encode(jopts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						t.Fatalf("%s: json encode: %v", name, err)
					}
					pt, pk, pv, err := dbzenc.Encode(popts, c.table, c.op, c.id, c.before, c.after, c.src)
					if err != nil {
						t.Fatalf("%s: protobuf encode: %v", name, err)
					}
					if pt != jt {
						t.Fatalf("%s: topic %s, want %s", name, pt, jt)
					}
					want, werr := d.Decode(jt, jk, jv)
					got, gerr := reg.decodeProtoFramed(t, d, pt, pk, pv)
					if werr != nil || gerr != nil {
						t.Fatalf("%s: json err %v, protobuf err %v", name, werr, gerr)
					}
					if !reflect.DeepEqual(got, want) {
						t.Errorf("%s:\nprotobuf %s\njson     %s", name, dump(got), dump(want))
					}
					n++
				}
				for _, table := range []string{debezium.TableProducts, debezium.TableOrders, debezium.TableOrderItems} {
					jt, jk := dbzenc.EncodeTombstone(jopts, table, 42)
					pt, pk, err := dbzenc.EncodeKey(popts, table, 42)
					if err != nil {
						t.Fatal(err)
					}
					want, _ := d.Decode(jt, jk, nil)
					got, err := reg.decodeProtoFramed(t, d, pt, pk, nil)
					if err != nil || !reflect.DeepEqual(got, want) || got.Kind != debezium.KindTombstone || got.ID != 42 {
						t.Errorf("%s tombstone %s: protobuf %s (%v), json %s", popts.Shape(), table, dump(got), err, dump(want))
					}
				}
				jt, jv, err := dbzenc.EncodeTruncate(jopts, debezium.TableOrders, dbzenc.Source{LSN: 99, TsMs: 5})
				if err != nil {
					t.Fatal(err)
				}
				pt, pv, err := dbzenc.EncodeTruncate(popts, debezium.TableOrders, dbzenc.Source{LSN: 99, TsMs: 5})
				if err != nil {
					t.Fatal(err)
				}
				want, werr := d.Decode(jt, nil, jv)
				got, gerr := reg.decodeProtoFramed(t, d, pt, nil, pv)
				if werr != nil || gerr != nil || !reflect.DeepEqual(got, want) || got.Kind != debezium.KindTruncate {
					t.Errorf("%s truncate: protobuf %s (%v), json %s (%v)", popts.Shape(), dump(got), gerr, dump(want), werr)
				}
			}
		}
	}
	if n < 500 {
		t.Fatalf("only %d changes compared", n)
	}
	t.Logf("%d changes, %d registered schemas", n, len(reg.ids))
}

// TestDecodeProtobufPositions checks commit positions directly.
func TestDecodeProtobufPositions(t *testing.T) {
	reg := newMemRegistry()
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	p := &debezium.Product{ID: 1, Name: "n", PriceCents: 100, StockQuantity: 3}
	for _, tc := range []struct {
		opts dbzenc.EncodeOptions
		op   debezium.Op
		src  dbzenc.Source
		want debezium.Position
	}{
		{dbzenc.EncodeOptions{Format: dbzenc.FormatProtobuf}, debezium.OpRead, dbzenc.Source{LSN: 10, TsMs: 1}, debezium.Position{Snapshot: true, Sequenced: true, LSN: 10, TsMs: 1}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatProtobuf}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{Sequenced: true, Commit: 20, LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatProtobuf}, debezium.OpUpdate, dbzenc.Source{TsMs: 3}, debezium.Position{TsMs: 3}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatProtobufFlat}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{LSN: 30, TsMs: 2}},
		{dbzenc.EncodeOptions{Format: dbzenc.FormatProtobufFlat, FlatSequence: true}, debezium.OpUpdate, dbzenc.Source{LSN: 30, LastCommitLSN: 20, TsMs: 2}, debezium.Position{Sequenced: true, Commit: 20, LSN: 30, TsMs: 2}},
	} {
		tc.opts.Register = reg.Register
		topic, key, value, err := dbzenc.Encode(tc.opts, debezium.TableProducts, tc.op, 1, nil, p, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		m, err := reg.decodeProtoFramed(t, d, topic, key, value)
		if err != nil {
			t.Fatal(err)
		}
		if m.Pos != tc.want || m.ID != 1 {
			t.Errorf("%s %s %+v: id %d position %+v, want %+v", tc.opts.Shape(), tc.op, tc.src, m.ID, m.Pos, tc.want)
		}
	}
}

// protoProducts is a hand-written schema as the ProtobufConverter
// registers it for a flattened products record, with the Confluent
// imports and a nested message before the one the indexes select.
const protoProducts = `syntax = "proto3";
package dbserver1.public.products;

import "confluent/meta.proto";
import "confluent/type/decimal.proto";
import "google/protobuf/wrappers.proto";
import "google/protobuf/timestamp.proto";

message Other { string x = 1; }

message Value {
  int32 id = 1;
  string name = 2;
  google.protobuf.StringValue description = 3;
  confluent.type.Decimal price = 4 [(confluent.field_meta) = { params: [{ key: "precision", value: "10" }, { key: "scale", value: "2" }] }];
  int32 stock_quantity = 5;
  google.protobuf.Timestamp created_at = 6;
  optional int64 updated_at = 7;
  string __op = 8;
}
`

// TestDecodeProtobufScaleAndTypes: the scale of a confluent.type.Decimal is
// the one its message carries (not DefaultScale), negative values are two's
// complement, wrappers and google.protobuf.Timestamp are read, message
// indexes select the message, and malformed data is a *DecodeError.
func TestDecodeProtobufScaleAndTypes(t *testing.T) {
	s, err := debezium.ParseProtobufSchema(protoProducts)
	if err != nil {
		t.Fatal(err)
	}
	if s.MessageName() != "dbserver1.public.products.Other" {
		t.Fatalf("default message %s", s.MessageName())
	}
	vs, err := s.Select([]int{1})
	if err != nil || vs.MessageName() != "dbserver1.public.products.Value" {
		t.Fatalf("select [1]: %v %v", vs, err)
	}
	if _, err := s.Select([]int{2}); err == nil {
		t.Fatal("select [2]: no error")
	}
	d := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	dec := func(value []byte, scale int) []byte {
		m := []byte{0x0a, byte(len(value))}
		m = append(m, value...)
		if scale != 0 {
			m = append(m, 0x18, byte(scale))
		}
		return m
	}
	build := func(price []byte, extra ...byte) []byte {
		v := []byte{0x08, 0x07, 0x12, 0x01, 'n'}                            // id 7, name "n"
		v = append(v, 0x1a, 0x05, 0x0a, 0x03, 'a', 'b', 'c')                // description StringValue "abc"
		v = append(v, 0x22, byte(len(price)))                               // price
		v = append(v, price...)                                             //
		v = append(v, 0x28, 0x03)                                           // stock 3
		v = append(v, 0x32, 0x07, 0x08, 0xe8, 0x07, 0x10, 0xc0, 0x84, 0x3d) // created_at 1000 s + 1000000 ns
		v = append(v, 0x42, 0x01, 'c')                                      // __op "c"
		return append(v, extra...)
	}
	for _, tc := range []struct {
		price []byte
		want  int64
	}{
		{dec([]byte{0x01, 0xe2, 0x40}, 2), 123456},
		{dec([]byte{0x01, 0xe2, 0x40}, 3), 12346}, // 123.456 rounds? see below
		{dec([]byte{0x01, 0xe2, 0x40}, 1), 1234560},
		{dec([]byte{0xfe, 0x1d, 0xc0}, 2), -123456},
		{dec([]byte{0x30, 0x39}, 0), 1234500},
	} {
		m, err := d.DecodeProtobuf("dbserver1.public.products", []byte(`{"id":7}`), nil, build(tc.price), vs)
		if tc.want == 12346 {
			// 123.456 has three decimals: not a whole number of cents,
			// refused exactly as the JSON decoder refuses it.
			if err == nil {
				m2, _ := d.Decode("dbserver1.public.products", []byte(`{"id":7}`), []byte(`{"id":7,"name":"n","price":"123.456","stock_quantity":3,"__op":"c"}`))
				if m.AfterProduct.PriceCents != m2.AfterProduct.PriceCents {
					t.Errorf("scale 3: %d, json %d", m.AfterProduct.PriceCents, m2.AfterProduct.PriceCents)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("price % x: %v", tc.price, err)
		}
		p := m.AfterProduct
		if p == nil || p.PriceCents != tc.want || p.ID != 7 || p.Description != "abc" || p.StockQuantity != 3 || p.CreatedAt != 1000001000 || p.UpdatedAt != 0 {
			t.Errorf("price % x: %+v, want %d cents", tc.price, p, tc.want)
		}
	}
	// Truncated data, a wrong wire type, a wrong table.
	good := build(dec([]byte{0x01, 0xe2, 0x40}, 2))
	for _, bad := range [][]byte{good[:len(good)-2], append([]byte{0x0d, 1, 2, 3, 4}, good...), {0xff}} {
		_, err := d.DecodeProtobuf("dbserver1.public.products", nil, nil, bad, vs)
		var de *debezium.DecodeError
		if !errors.As(err, &de) {
			t.Errorf("% x: %v, want a *DecodeError", bad, err)
		}
	}
	if _, err := debezium.ParseProtobufSchema(`syntax = "proto3"; import "other/x.proto"; message M {}`); err == nil || !strings.Contains(err.Error(), "unusable Protobuf schema") {
		t.Errorf("unknown import: %v", err)
	}
}
