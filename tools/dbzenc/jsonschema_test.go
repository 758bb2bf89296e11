package dbzenc

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// TestJSONSchemaSchemas checks the schema texts for what JsonSchemaData
// writes: objects titled with the Connect names, connect.index on every
// property, optional fields as oneOf null with the index outside, Decimal
// as number with connect.type bytes and the scale in connect.parameters,
// MicroTimestamp as integer with its title; and the records: framed with
// the registered ids, plain JSON without the schema wrapper.
func TestJSONSchemaSchemas(t *testing.T) {
	subjects := map[string]string{}
	ids := map[string]int32{}
	reg := func(subject, schema string) (int32, error) {
		subjects[subject] = schema
		if _, ok := ids[schema]; !ok {
			ids[schema] = int32(len(ids) + 1)
		}
		return ids[schema], nil
	}
	opts := EncodeOptions{Format: FormatJSONSchema, Register: reg}
	p := &debezium.Product{ID: 7, Name: "n", PriceCents: 129999, StockQuantity: 3, CreatedAt: 1736931600123456}
	topic, key, value, err := Encode(opts, debezium.TableProducts, debezium.OpCreate, 7, nil, p, Source{LSN: 10, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	kid, kp, ok := confluent.Split(key)
	vid, vp, ok2 := confluent.Split(value)
	if !ok || !ok2 || string(kp) != `{"id":7}` || !strings.HasPrefix(string(vp), `{"before":`) {
		t.Fatalf("key % x, value %s", key, value)
	}
	if ids[subjects[topic+"-key"]] != kid || ids[subjects[topic+"-value"]] != vid {
		t.Fatalf("ids %d %d, subjects %v", kid, vid, subjects)
	}
	if !strings.Contains(string(vp), `"price":"AfvP"`) { // 129999 = 0x01FBCF
		t.Fatalf("price is not base64 (decimal.format BASE64): %s", vp)
	}
	var env map[string]any
	if err := json.Unmarshal([]byte(subjects[topic+"-value"]), &env); err != nil {
		t.Fatal(err)
	}
	if env["type"] != "object" || env["title"] != "dbserver1.public.products.Envelope" {
		t.Fatalf("envelope %v", env)
	}
	props := env["properties"].(map[string]any)
	before := props["before"].(map[string]any)
	if before["connect.index"] != 0.0 {
		t.Fatalf("before %v", before)
	}
	oneOf := before["oneOf"].([]any)
	if oneOf[0].(map[string]any)["type"] != "null" {
		t.Fatalf("before oneOf %v", oneOf)
	}
	row := oneOf[1].(map[string]any)
	if row["title"] != "dbserver1.public.products.Value" {
		t.Fatalf("row %v", row)
	}
	cols := row["properties"].(map[string]any)
	price := cols["price"].(map[string]any)
	if price["type"] != "number" || price["connect.type"] != "bytes" || price["title"] != "org.apache.kafka.connect.data.Decimal" ||
		price["connect.parameters"].(map[string]any)["scale"] != "2" {
		t.Fatalf("price %v", price)
	}
	created := cols["created_at"].(map[string]any)
	inner := created["oneOf"].([]any)[1].(map[string]any)
	if inner["type"] != "integer" || inner["title"] != "io.debezium.time.MicroTimestamp" || inner["connect.type"] != "int64" || created["connect.index"] == nil || inner["connect.index"] != nil {
		t.Fatalf("created_at %v", created)
	}
	src := props["source"].(map[string]any)
	if src["title"] != "io.debezium.connector.postgresql.Source" || src["connect.index"] != 2.0 {
		t.Fatalf("source %v", src)
	}

	// NUMERIC decimals: the same schema, a number value.
	opts.Decimal = DecimalNumeric
	_, _, value, err = Encode(opts, debezium.TableProducts, debezium.OpCreate, 7, nil, p, Source{LSN: 10, TsMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	vid2, vp, _ := confluent.Split(value)
	if vid2 != vid || !strings.Contains(string(vp), `"price":1299.99`) {
		t.Fatalf("numeric: id %d (want %d), %s", vid2, vid, vp)
	}
	// Flat: the columns and __ fields at the top.
	opts.Format, opts.FlatSequence = FormatJSONSchemaFlat, true
	s, err := ValueSchema(opts, debezium.TableProducts, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"__source_lsn":{"oneOf":[{"type":"null"},{"type":"integer","connect.type":"int64"}]`, `"__source_sequence":`, `"__deleted":`, `"title":"dbserver1.public.products.Value"`} {
		if !strings.Contains(s, want) {
			t.Errorf("flat schema lacks %s: %s", want, s)
		}
	}
	if _, _, _, err := Encode(EncodeOptions{Format: FormatJSONSchema}, debezium.TableProducts, debezium.OpCreate, 7, nil, p, Source{}); err == nil {
		t.Error("no Register: no error")
	}
}
