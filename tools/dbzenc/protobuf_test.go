package dbzenc

import (
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// TestProtobufFraming: the Protobuf formats need Register, register the
// key and value schemas under the TopicNameStrategy subjects, and frame
// both with magic 0, the schema id and the message-index path [0] (one
// zero byte); the value schema imports the Confluent decimal and meta
// files in precise mode and not in string mode; proto3 optional marks the
// nullable columns.
func TestProtobufFraming(t *testing.T) {
	p := &debezium.Product{ID: 7, Name: "n", PriceCents: 1234, StockQuantity: 3}
	if _, _, _, err := Encode(EncodeOptions{Format: FormatProtobuf}, debezium.TableProducts, debezium.OpCreate, 7, nil, p, Source{}); err == nil {
		t.Fatal("no Register: no error")
	}
	schemas := map[string]string{}
	reg := func(subject, schema string) (int32, error) {
		schemas[subject] = schema
		return int32(len(schemas)), nil
	}
	for _, f := range []Format{FormatProtobuf, FormatProtobufFlat} {
		clear(schemas)
		topic, key, value, err := Encode(EncodeOptions{Format: f, Register: reg}, debezium.TableProducts, debezium.OpCreate, 7, nil, p, Source{LSN: 5, TsMs: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !f.Protobuf() || f.String() == "" || strings.HasPrefix(f.String(), "Format(") {
			t.Fatalf("format %d: %s", f, f)
		}
		if string(key[:6]) != "\x00\x00\x00\x00\x01\x00" || string(key[6:]) != "\x08\x07" {
			t.Errorf("%s key % x", f, key)
		}
		if value[0] != 0 || value[4] != 2 || value[5] != 0 {
			t.Errorf("%s value framing % x", f, value[:6])
		}
		vs := schemas[topic+"-value"]
		for _, want := range []string{`syntax = "proto3";`, "package dbserver1.public.products;", `import "confluent/type/decimal.proto";`,
			"confluent.type.Decimal price = 4", `{ key: "scale", value: "2" }`, "optional string description = 3;"} {
			if !strings.Contains(vs, want) {
				t.Errorf("%s value schema lacks %q:\n%s", f, want, vs)
			}
		}
		if f.Flat() != strings.Contains(vs, "__deleted") {
			t.Errorf("%s flat %v, schema:\n%s", f, f.Flat(), vs)
		}
		if !strings.Contains(schemas[topic+"-key"], "message Key {\n  int32 id = 1;\n}") {
			t.Errorf("key schema:\n%s", schemas[topic+"-key"])
		}
	}
	clear(schemas)
	topic, _, _, err := Encode(EncodeOptions{Format: FormatProtobuf, Decimal: DecimalString, Register: reg}, debezium.TableProducts, debezium.OpCreate, 7, nil, p, Source{})
	if err != nil {
		t.Fatal(err)
	}
	if vs := schemas[topic+"-value"]; strings.Contains(vs, "import") || !strings.Contains(vs, "string price = 4;") {
		t.Errorf("string mode schema:\n%s", vs)
	}
}
